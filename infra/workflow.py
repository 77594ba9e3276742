"""Workflow: the load state machine, its task functions, and the S3 -> workflow trigger.

It receives what its functions use (storage, the audiences table, the plan's sizes) and grants it all
here, with the audiences' own grants made by Audiences.grant_load_steps. docs/load_workflow.md
describes the states; lambdas/ingest/models/workflow.py is what they pass.

    Inspect ─┬─ plain ─> Scan (Map over ranges) ─> PlanSplit ───────────────────────────────┐
             └─ gzip ─┬─ over one group ─> InflateMembers (Map over groups) ─> JoinMembers ─┤ (joined)
                      │                                         (not a chain of members) ─┐  │
                      └─ one group ─────> Decompress ⟲ (a chain of bounded invocations) <─┘  │
                                              └──────────────────────────────────────────────┴─> Split
       (Map over ranges) ─> PlanLoad
       ─┬─> Load (Map over partitions) ─> Finalize ─> JobCompleted
        └─> ErrorBudgetExceeded
    every state's Catch ─> MarkFailed ─> JobFailed, so a job never stays in Processing.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import nag
from infra.audiences import Audiences
from infra.config import LOAD_MEMORY_MB, LoadPlan
from infra.events import grant_job_events
from infra.functions import python_function
from infra.retries import lambda_task, wait_for_the_dataset
from infra.storage import RESULTS_PREFIX, REVERT_PREFIX, UPLOADS_PREFIX, WORK_PREFIX, Storage
from ingest.config import TriggerSettings, WorkflowSettings


@dataclass(frozen=True)
class StepLimits:
    """A step function's Lambda limits; docs/capacity.md shows each step's use of them at 5 GB."""

    timeout: Duration
    memory_mib: int
    ephemeral_mib: int = 512


# Every step streams: none holds the file, a range or a partition in memory or /tmp. 1,769 MB is one
# full vCPU, for the steps that parse or inflate. Load's memory is CDK context (`load_memory_mb`, LoadPlan):
# its Lambda cost is its GB-s, and it is sized to keep its pace, not to idle on a vCPU (docs/capacity.md).
STEP_LIMITS = {
    "Inspect": StepLimits(Duration.minutes(1), 512),
    "Scan": StepLimits(Duration.minutes(5), 1024),
    "PlanSplit": StepLimits(Duration.minutes(2), 512),
    "Decompress": StepLimits(Duration.minutes(15), 1769),
    # A group inflates at most 2 GiB of lines (members.MAX_GROUP_PLAIN_BYTES); the first group of a
    # single-member file inflates two groups' worth before it gives up (docs/capacity.md).
    "InflateMembers": StepLimits(Duration.minutes(15), 1769),
    "JoinMembers": StepLimits(Duration.minutes(2), 512),
    "Split": StepLimits(Duration.minutes(15), 1769),
    "PlanLoad": StepLimits(Duration.minutes(5), 512),
    "Load": StepLimits(Duration.minutes(15), LOAD_MEMORY_MB),
    "Finalize": StepLimits(Duration.minutes(15), 1024),
    "MarkFailed": StepLimits(Duration.minutes(5), 512),
}


class Workflow(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, audiences: Audiences,
                 plan: LoadPlan, revert_retention_days: int = 7) -> None:
        super().__init__(scope, construct_id)
        bucket = storage.bucket
        self._plan = plan
        # Every step runs the same handler module, so every step gets the same settings.
        self._build_steps(WorkflowSettings(
            uploads_bucket=bucket.bucket_name,
            jobs_table=storage.jobs_table.table_name,
            datasets_table=storage.datasets_table.table_name,
            records_table=storage.records_table.table_name,
            audiences_table=audiences.table.table_name,
            range_bytes=plan.range_bytes,
            max_ranges=plan.max_ranges,
            load_partitions=plan.load_partitions,
            load_max_concurrency=plan.load_max_concurrency,
            load_write_rate_per_second=plan.load_write_rate_per_second,
            decompress_budget_seconds=plan.decompress_budget_seconds,
            inflate_group_bytes=plan.inflate_group_bytes,
            revert_retention_days=revert_retention_days,
            max_upload_bytes=plan.max_upload_bytes,
        ))
        self._grant(storage)
        audiences.grant_load_steps(self.inspect_fn, self.plan_load_fn, self.finalize_fn, self.mark_failed_fn)
        # The steps that write a job's status publish its change (job events): Processing, Completed,
        # Failed (PlanLoad when over the error budget).
        grant_job_events(self.inspect_fn, self.plan_load_fn, self.finalize_fn, self.mark_failed_fn)
        self.state_machine = self._build_state_machine(bucket)
        self.trigger_fn = self._build_trigger(storage)
        self._acknowledge_nag_findings(bucket)

    def _build_steps(self, settings: WorkflowSettings) -> None:
        self.inspect_fn = self._step("Inspect", "inspect", settings)
        self.scan_fn = self._step("Scan", "scan", settings)
        self.plan_split_fn = self._step("PlanSplit", "plan_split", settings)
        self.decompress_fn = self._step("Decompress", "decompress", settings)
        self.inflate_members_fn = self._step("InflateMembers", "inflate_members", settings)
        self.join_members_fn = self._step("JoinMembers", "join_members", settings)
        self.split_fn = self._step("Split", "split", settings)
        self.plan_load_fn = self._step("PlanLoad", "plan_load", settings)
        self.load_fn = self._step("Load", "load", settings, memory_mib=self._plan.load_memory_mb)
        self.finalize_fn = self._step("Finalize", "finalize", settings)
        self.mark_failed_fn = self._step("MarkFailed", "mark_failed", settings)

    @property
    def step_functions(self) -> tuple[lambda_.Function, ...]:
        return (self.inspect_fn, self.scan_fn, self.plan_split_fn, self.decompress_fn, self.inflate_members_fn,
                self.join_members_fn, self.split_fn, self.plan_load_fn, self.load_fn, self.finalize_fn,
                self.mark_failed_fn)

    def _build_state_machine(self, bucket: s3.IBucket) -> sfn.StateMachine:
        return sfn.StateMachine(
            self,
            "LoadWorkflow",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self._definition(bucket)),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(
                    self, "WorkflowLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
                ),
                level=sfn.LogLevel.ERROR,
                include_execution_data=False,  # execution data can hold record-derived values
            ),
        )

    def _build_trigger(self, storage: Storage) -> lambda_.Function:
        """S3 ObjectCreated under uploads/ -> one execution, named after the upload id."""
        trigger_fn = python_function(
            self,
            "UploadTriggerFunction",
            handler="ingest.handlers.upload_trigger.handler",
            description="S3 ObjectCreated -> one workflow execution per upload",
            settings=TriggerSettings(jobs_table=storage.jobs_table.table_name,
                                     state_machine_arn=self.state_machine.state_machine_arn),
            timeout=Duration.seconds(30),
            memory_size=256,
        )
        storage.jobs_table.grant(trigger_fn, "dynamodb:GetItem", "dynamodb:UpdateItem")
        self.state_machine.grant_start_execution(trigger_fn)
        storage.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(trigger_fn),
            s3.NotificationKeyFilter(prefix=UPLOADS_PREFIX),
        )
        return trigger_fn

    def _acknowledge_nag_findings(self, bucket: s3.IBucket) -> None:
        """The cdk-nag findings we accept here, with why (infra/nag.py): the same prefixes as _grant."""
        nag.acknowledge_bucket_grants(self.inspect_fn, bucket, read=[UPLOADS_PREFIX], put=[WORK_PREFIX])
        nag.acknowledge_bucket_grants(self.scan_fn, bucket, read=[UPLOADS_PREFIX], put=[WORK_PREFIX])
        nag.acknowledge_bucket_grants(self.plan_split_fn, bucket, read=[WORK_PREFIX], put=[WORK_PREFIX])
        nag.acknowledge_bucket_grants(self.decompress_fn, bucket, read=[UPLOADS_PREFIX, WORK_PREFIX],
                                      put=[WORK_PREFIX])
        nag.acknowledge_bucket_grants(self.inflate_members_fn, bucket, read=[UPLOADS_PREFIX], put=[WORK_PREFIX])
        nag.acknowledge_bucket_grants(self.join_members_fn, bucket, read=[WORK_PREFIX], put=[WORK_PREFIX])
        nag.acknowledge_bucket_grants(self.split_fn, bucket, read=[UPLOADS_PREFIX, WORK_PREFIX], put=[WORK_PREFIX])
        nag.acknowledge_bucket_grants(self.load_fn, bucket, read=[WORK_PREFIX], put=[WORK_PREFIX, REVERT_PREFIX])
        for fn in (self.plan_load_fn, self.finalize_fn, self.mark_failed_fn):
            nag.acknowledge_bucket_grants(fn, bucket, read=[WORK_PREFIX, RESULTS_PREFIX], delete=[WORK_PREFIX],
                                          put=[WORK_PREFIX, RESULTS_PREFIX])
        steps = self.step_functions
        nag.acknowledge_state_machine(self.state_machine, steps)
        nag.acknowledge(
            self.state_machine.role, "IAM5",
            "The Distributed Maps read their manifests through an S3 ItemReader, whose key is chosen per "
            "execution (work/<account>/<upload>/*-manifest.json); CDK grants GetObject on the bucket's objects.",
            [f"Resource::arn:<AWS::Partition>:s3:::<{nag.logical_id(bucket)}>/*"],
        )
        # A Distributed Map runs its iterations as child executions named by Step Functions.
        machine_name = f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{nag.logical_id(self.state_machine)}"}}]}}]}}'
        execution_arn = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{machine_name}"
        nag.acknowledge(
            self.state_machine, "IAM5",
            "A Distributed Map starts, describes and stops its child executions, whose names Step Functions "
            "generates; the grant is limited to this state machine's executions.",
            [f"Resource::{execution_arn}:*", f"Resource::{execution_arn}/*:*"],
        )
        # CDK's own function that applies the bucket notification (one per stack, created by it).
        for child in Stack.of(self).node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                nag.acknowledge(
                    child, "IAM4",
                    "CDK's bucket-notification handler runs once at deploy time with the basic execution "
                    "policy (log streams and events only).",
                    [nag.LAMBDA_BASIC_EXECUTION_POLICY],
                )

    def _step(self, name: str, entry: str, settings: WorkflowSettings,
              memory_mib: int | None = None) -> lambda_.Function:
        limits = STEP_LIMITS[name]
        return python_function(
            self,
            f"{name}Function",
            handler=f"ingest.handlers.workflow.{entry}",
            description=f"Load workflow: {name} step",
            settings=settings,
            timeout=limits.timeout,
            memory_size=memory_mib or limits.memory_mib,
            ephemeral_storage_mib=limits.ephemeral_mib,
        )

    def _grant(self, storage: Storage) -> None:
        bucket, jobs = storage.bucket, storage.jobs_table
        datasets, records = storage.datasets_table, storage.records_table
        job_rw = ("dynamodb:GetItem", "dynamodb:UpdateItem")
        # Inspect: the upload's size and first bytes; the dataset's hold and record types; the job to
        # Processing; the scan manifest.
        bucket.grant_read(self.inspect_fn, f"{UPLOADS_PREFIX}*")
        bucket.grant_put(self.inspect_fn, f"{WORK_PREFIX}*")
        jobs.grant(self.inspect_fn, *job_rw)
        datasets.grant(self.inspect_fn, "dynamodb:GetItem", "dynamodb:UpdateItem")
        # Scan: count newlines and quotes of its range of the upload.
        bucket.grant_read(self.scan_fn, f"{UPLOADS_PREFIX}*")
        bucket.grant_put(self.scan_fn, f"{WORK_PREFIX}*")
        # PlanSplit: the scan results into the split manifest; progress.
        bucket.grant_read(self.plan_split_fn, f"{WORK_PREFIX}*")
        bucket.grant_put(self.plan_split_fn, f"{WORK_PREFIX}*")
        jobs.grant(self.plan_split_fn, *job_rw)
        # Decompress: the gzip upload into plain parts (multipart uploads) and the split manifest; a chained
        # invocation reads the previous one's checkpoint, manifest and part CRCs (and a part, for the trailer).
        bucket.grant_read(self.decompress_fn, f"{UPLOADS_PREFIX}*")
        bucket.grant_read(self.decompress_fn, f"{WORK_PREFIX}*")
        bucket.grant_put(self.decompress_fn, f"{WORK_PREFIX}*")
        jobs.grant(self.decompress_fn, *job_rw)
        # InflateMembers: its group of the gzip upload into members/<g> and its result; progress.
        bucket.grant_read(self.inflate_members_fn, f"{UPLOADS_PREFIX}*")
        bucket.grant_put(self.inflate_members_fn, f"{WORK_PREFIX}*")
        jobs.grant(self.inflate_members_fn, *job_rw)
        # JoinMembers: the group results into the split manifest and pieces.json; progress.
        bucket.grant_read(self.join_members_fn, f"{WORK_PREFIX}*")
        bucket.grant_put(self.join_members_fn, f"{WORK_PREFIX}*")
        jobs.grant(self.join_members_fn, *job_rw)
        # Split: its range of the upload (or of a plain part), into partition files and errors; progress.
        bucket.grant_read(self.split_fn, f"{UPLOADS_PREFIX}*")
        bucket.grant_read(self.split_fn, f"{WORK_PREFIX}*")
        bucket.grant_put(self.split_fn, f"{WORK_PREFIX}*")
        jobs.grant(self.split_fn, *job_rw)
        # Load: its partition's files; the window's current items read first (BatchGetItem) and kept
        # under revert/ (logic/revert.py); records written one by one (UpdateItem returning the old item,
        # which keeps created_by and tells new from replaced); profile changes read the current profiles
        # first (BatchGetItem); audience members go to their member set (BatchWriteItem); progress.
        bucket.grant_read(self.load_fn, f"{WORK_PREFIX}*")
        bucket.grant_put(self.load_fn, f"{WORK_PREFIX}*")
        bucket.grant_put(self.load_fn, f"{REVERT_PREFIX}*")  # what each window replaces, kept for a revert
        records.grant(self.load_fn, "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem")
        jobs.grant(self.load_fn, *job_rw)
        # PlanLoad, Finalize and MarkFailed end a job (PlanLoad when over the error budget): merge the
        # error log into results/, settle the job, count records and release the dataset, clean up.
        # MarkFailed recounts a type after a Load failed for good (its partial writes were not counted).
        records.grant(self.mark_failed_fn, "dynamodb:Query")
        for fn in (self.plan_load_fn, self.finalize_fn, self.mark_failed_fn):
            bucket.grant_read(fn, f"{WORK_PREFIX}*")
            bucket.grant_delete(fn, f"{WORK_PREFIX}*")
            bucket.grant_put(fn, f"{WORK_PREFIX}*")
            bucket.grant_put(fn, f"{RESULTS_PREFIX}*")
            jobs.grant(fn, *job_rw)
            datasets.grant(fn, "dynamodb:GetItem", "dynamodb:UpdateItem")
            # Failed and unprocessed rows (logic/load/rows.py): a retry's line map is read from results/.
            bucket.grant_read(fn, f"{RESULTS_PREFIX}*")

    def _task(self, state_name: str, fn: lambda_.IFunction, *, timeout_retry: bool) -> tasks.LambdaInvoke:
        """A step: Lambda's service errors and StepFailedError retried (infra/retries.py); a timed-out
        step once more only with timeout_retry."""
        return lambda_task(self, state_name, fn, timeout=timeout_retry)

    def _map(self, name: str, manifest: str, function: lambda_.IFunction, *, task_name: str,
             max_concurrency: int, timeout_retry: bool) -> sfn.DistributedMap:
        """A Distributed Map over one of the job's manifests (work/<account>/<upload>/<manifest>), each
        iteration given {"job", "task"}; results are written to S3 by the steps, so the Map keeps none."""
        work_map = sfn.DistributedMap(
            self,
            name,
            item_reader=sfn.S3JsonItemReader(bucket=self._bucket, key=sfn.JsonPath.format(
                f"{WORK_PREFIX}{{}}/{{}}/{manifest}",
                sfn.JsonPath.string_at("$.job.account_id"), sfn.JsonPath.string_at("$.job.upload_id"))),
            item_selector={
                "job": sfn.JsonPath.object_at("$.job"),
                "task": sfn.JsonPath.object_at("$$.Map.Item.Value"),
            },
            max_concurrency=max_concurrency,
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path=sfn.JsonPath.DISCARD,
        )
        work_map.item_processor(self._task(task_name, function, timeout_retry=timeout_retry))
        return work_map

    def _definition(self, bucket: s3.IBucket) -> sfn.IChainable:
        self._bucket = bucket
        plan = self._plan
        failed = sfn.Fail(self, "JobFailed", cause="see the job's failure_reason", error="JobFailed")
        mark_failed = lambda_task(self, "MarkFailed", self.mark_failed_fn, step_failed=False, settles_failure=True)
        mark_failed.next(failed)

        # Inspect: a minute's work on one object's first bytes; a timeout is worth one cheap retry.
        inspect = wait_for_the_dataset(self._task("Inspect", self.inspect_fn, timeout_retry=True))
        # Every iteration is idempotent (it rewrites its own work files), so a timed-out one, as when
        # S3 or DynamoDB was slow, is worth one more try. So is a Decompress invocation: it works for a
        # bounded time from its cursor and rewrites the same parts.
        scan = self._map("Scan", "scan-manifest.json", self.scan_fn, task_name="ScanRange",
                         max_concurrency=plan.split_max_concurrency, timeout_retry=True)
        plan_split = self._task("PlanSplit", self.plan_split_fn, timeout_retry=True)
        decompress = self._task("Decompress", self.decompress_fn, timeout_retry=True)
        inflate_members = self._map("InflateMembers", "inflate-manifest.json", self.inflate_members_fn,
                                    task_name="InflateMemberGroup", max_concurrency=plan.split_max_concurrency,
                                    timeout_retry=True)
        join_members = self._task("JoinMembers", self.join_members_fn, timeout_retry=True)
        split = self._map("Split", "split-manifest.json", self.split_fn, task_name="SplitRange",
                          max_concurrency=plan.split_max_concurrency, timeout_retry=True)
        plan_load = self._task("PlanLoad", self.plan_load_fn, timeout_retry=True)
        load = self._map("Load", "load-manifest.json", self.load_fn, task_name="LoadPartition",
                         max_concurrency=plan.load_max_concurrency, timeout_retry=True)
        budget_exceeded = sfn.Fail(self, "ErrorBudgetExceeded", cause="see the job's failure_reason",
                                   error="ErrorBudgetExceeded")
        # Finalize: idempotent (a retry after it settled the job returns the settled outcome).
        finalize = self._task("Finalize", self.finalize_fn, timeout_retry=True)
        completed = sfn.Succeed(self, "JobCompleted")

        for state in (inspect, scan, plan_split, decompress, inflate_members, join_members, split, plan_load, load,
                      finalize):
            state.add_catch(mark_failed, errors=["States.ALL"], result_path="$.error")
        split.next(plan_load).next(
            sfn.Choice(self, "WithinErrorBudget?")
            .when(sfn.Condition.boolean_equals("$.within_budget", True), load.next(finalize).next(completed))
            .otherwise(budget_exceeded)
        )
        scan.next(plan_split).next(split)
        # The chain: an invocation that stopped at its time budget returns its cursor; the next goes on.
        decompress.next(sfn.Choice(self, "Inflated?")
                        .when(sfn.Condition.is_present("$.decompress"), decompress)
                        .otherwise(split))
        # A gzip file over one member group is tried in parallel by member; when its groups do not chain
        # (one member, or a false start), JoinMembers leaves ranges unset and the chain inflates it.
        inflate_members.next(join_members).next(
            sfn.Choice(self, "MembersJoined?")
            .when(sfn.Condition.is_present("$.job.ranges"), split)
            .otherwise(decompress))
        by_member = (sfn.Choice(self, "ByMember?")
                     .when(sfn.Condition.is_present("$.job.member_groups"), inflate_members)
                     .otherwise(decompress))
        return inspect.next(
            sfn.Choice(self, "Gzip?")
            .when(sfn.Condition.boolean_equals("$.job.gzip", True), by_member)
            .otherwise(scan)
        )
