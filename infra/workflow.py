"""Workflow: the load state machine, its task functions, and the S3 -> workflow trigger.

It receives what its functions use (storage, the audiences table, the chunk size) and grants it all
here, with the audiences' own grants made by Audiences.grant_load_steps.

Inspect -> Split -> Load (Distributed Map over chunks) -> Finalize; every state's Catch goes to
MarkFailed so a job never stays in Processing.
"""

from __future__ import annotations

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
from infra.events import grant_job_events
from infra.functions import python_function
from infra.retries import lambda_task
from infra.storage import RESULTS_PREFIX, UPLOADS_PREFIX, WORK_PREFIX, Storage
from ingest.config import TriggerSettings, WorkflowSettings

LOAD_MAX_CONCURRENCY = 8
# Loads into one dataset run one at a time: Inspect raises DatasetBusyError while another upload holds
# the dataset, and is retried - 1 s, growing 1.5x to at most 20 s between tries, with full jitter so
# queued uploads do not wake together - for about two hours before the job fails saying why.
DATASET_BUSY_ERROR = "DatasetBusyError"
DATASET_BUSY_RETRY = {"interval_seconds": 1, "backoff_rate": 1.5, "max_delay_seconds": 20, "max_attempts": 400}


class Workflow(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, audiences: Audiences,
                 chunk_target_bytes: int) -> None:
        super().__init__(scope, construct_id)
        bucket = storage.bucket
        # Every step runs the same handler module, so every step gets the same settings.
        self._build_steps(WorkflowSettings(
            uploads_bucket=bucket.bucket_name,
            jobs_table=storage.jobs_table.table_name,
            datasets_table=storage.datasets_table.table_name,
            records_table=storage.records_table.table_name,
            audiences_table=audiences.table.table_name,
            chunk_target_bytes=chunk_target_bytes,
        ))
        self._grant(storage)
        audiences.grant_load_steps(self.inspect_fn, self.budget_fn, self.finalize_fn, self.mark_failed_fn)
        # The steps that write a job's status publish its change (job events).
        grant_job_events(self.inspect_fn, self.budget_fn, self.finalize_fn, self.mark_failed_fn)
        self.state_machine = self._build_state_machine(bucket)
        self.trigger_fn = self._build_trigger(storage)
        self._acknowledge_nag_findings(bucket)

    def _build_steps(self, settings: WorkflowSettings) -> None:
        self.inspect_fn = self._step("Inspect", "inspect", settings, Duration.minutes(1), 512)
        self.split_fn = self._step("Split", "split", settings, Duration.minutes(15), 1769, ephemeral=10240)
        self.load_fn = self._step("Load", "load", settings, Duration.minutes(15), 1769)
        self.budget_fn = self._step("CheckErrorBudget", "check_error_budget", settings, Duration.minutes(15), 1024)
        self.finalize_fn = self._step("Finalize", "finalize", settings, Duration.minutes(15), 1024)
        self.mark_failed_fn = self._step("MarkFailed", "mark_failed", settings, Duration.minutes(5), 512)

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
        nag.acknowledge_bucket_grants(self.inspect_fn, bucket, read=[UPLOADS_PREFIX])
        nag.acknowledge_bucket_grants(self.split_fn, bucket, read=[UPLOADS_PREFIX], put=[WORK_PREFIX])
        nag.acknowledge_bucket_grants(self.load_fn, bucket, read=[WORK_PREFIX], put=[WORK_PREFIX])
        for fn in (self.finalize_fn, self.budget_fn, self.mark_failed_fn):
            nag.acknowledge_bucket_grants(fn, bucket, read=[WORK_PREFIX], delete=[WORK_PREFIX], put=[RESULTS_PREFIX])
        steps = (self.inspect_fn, self.split_fn, self.load_fn, self.budget_fn, self.finalize_fn, self.mark_failed_fn)
        nag.acknowledge_state_machine(self.state_machine, steps)
        nag.acknowledge(
            self.state_machine.role, "IAM5",
            "The Distributed Maps read their manifest through an S3 ItemReader, whose key is chosen per "
            "execution (work/<account>/<upload>/manifest.json); CDK grants GetObject on the bucket's objects.",
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

    def _step(self, name: str, entry: str, settings: WorkflowSettings, timeout: Duration, memory: int,
              ephemeral: int = 512) -> lambda_.Function:
        return python_function(
            self,
            f"{name}Function",
            handler=f"ingest.handlers.workflow.{entry}",
            description=f"Load workflow: {name} step",
            settings=settings,
            timeout=timeout,
            memory_size=memory,
            ephemeral_storage_mib=ephemeral,
        )

    def _grant(self, storage: Storage) -> None:
        bucket, jobs = storage.bucket, storage.jobs_table
        datasets, records = storage.datasets_table, storage.records_table
        job_rw = ("dynamodb:GetItem", "dynamodb:UpdateItem")
        # Inspect: read the upload's size and first bytes; move the job to Processing.
        bucket.grant_read(self.inspect_fn, f"{UPLOADS_PREFIX}*")
        jobs.grant(self.inspect_fn, *job_rw)
        # Split: stream the upload, write chunks, manifest and split errors.
        bucket.grant_read(self.split_fn, f"{UPLOADS_PREFIX}*")
        bucket.grant_put(self.split_fn, f"{WORK_PREFIX}*")
        jobs.grant(self.split_fn, *job_rw)
        # Load: read its chunk, write its error file, upsert records.
        bucket.grant_read(self.load_fn, f"{WORK_PREFIX}*")
        bucket.grant_put(self.load_fn, f"{WORK_PREFIX}*")
        records.grant(self.load_fn, "dynamodb:BatchWriteItem")
        # profile_changes: Load reads the current profiles before applying the changes to them.
        records.grant(self.load_fn, "dynamodb:BatchGetItem")
        # Inspect refuses loads into a dataset being cleared and notes the record type for Clear Data.
        datasets.grant(self.inspect_fn, "dynamodb:GetItem", "dynamodb:UpdateItem")
        # Finalize and MarkFailed: merge error logs into results/ (MarkFailed too: a job that fails after
        # Split keeps the lines already rejected), count records, settle the job, clean up.
        for fn in (self.finalize_fn, self.mark_failed_fn):
            bucket.grant_read(fn, f"{WORK_PREFIX}*")
            bucket.grant_delete(fn, f"{WORK_PREFIX}*")
            bucket.grant_put(fn, f"{RESULTS_PREFIX}*")
            jobs.grant(fn, *job_rw)
            datasets.grant(fn, "dynamodb:UpdateItem")
            records.grant(fn, "dynamodb:Query")
        # CheckErrorBudget: when over budget, merge the error log and settle the job as Failed.
        bucket.grant_read(self.budget_fn, f"{WORK_PREFIX}*")
        bucket.grant_delete(self.budget_fn, f"{WORK_PREFIX}*")
        bucket.grant_put(self.budget_fn, f"{RESULTS_PREFIX}*")
        jobs.grant(self.budget_fn, *job_rw)
        # Inspect holds the dataset for this load (a conditional UpdateItem); the steps that end a
        # job release it: Finalize, MarkFailed (granted above) and an exceeded error budget.
        datasets.grant(self.budget_fn, "dynamodb:UpdateItem")

    def _task(self, state_name: str, fn: lambda_.IFunction, *, timeout_retry: bool) -> tasks.LambdaInvoke:
        """A step: Lambda's service errors and StepFailedError retried (infra/retries.py); a timed-out
        step once more only with timeout_retry."""
        return lambda_task(self, state_name, fn, timeout=timeout_retry)

    def _chunk_map(self, bucket: s3.IBucket, name: str, task_name: str, validate_only: bool) -> sfn.DistributedMap:
        chunk_map = sfn.DistributedMap(
            self,
            name,
            item_reader=sfn.S3JsonItemReader(bucket=bucket, key=sfn.JsonPath.string_at("$.job.manifest_key")),
            item_selector={
                "job": sfn.JsonPath.object_at("$.job"),
                "chunk": sfn.JsonPath.object_at("$$.Map.Item.Value"),
                "validate_only": validate_only,
            },
            max_concurrency=LOAD_MAX_CONCURRENCY,
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path="$.chunk_results",
        )
        # Idempotent (upserts; profile changes skip what this upload applied): a timed-out chunk, as
        # when its writes were throttled, is worth one more try.
        chunk_map.item_processor(self._task(task_name, self.load_fn, timeout_retry=True))
        return chunk_map

    def _definition(self, bucket: s3.IBucket) -> sfn.IChainable:
        failed = sfn.Fail(self, "JobFailed", cause="see the job's failure_reason", error="JobFailed")
        mark_failed = lambda_task(self, "MarkFailed", self.mark_failed_fn, step_failed=False, settles_failure=True)
        mark_failed.next(failed)

        # Inspect: a minute's work on one object's first bytes; a timeout is worth one cheap retry.
        inspect = self._task("Inspect", self.inspect_fn, timeout_retry=True)
        inspect.add_retry(
            errors=[DATASET_BUSY_ERROR],
            interval=Duration.seconds(DATASET_BUSY_RETRY["interval_seconds"]),
            backoff_rate=DATASET_BUSY_RETRY["backoff_rate"],
            max_delay=Duration.seconds(DATASET_BUSY_RETRY["max_delay_seconds"]),
            jitter_strategy=sfn.JitterType.FULL,
            max_attempts=DATASET_BUSY_RETRY["max_attempts"],
        )
        # Split: a timeout means the file takes over 15 minutes to split, and would again (another 15
        # minutes at 1,769 MB): not retried.
        split = self._task("Split", self.split_fn, timeout_retry=False)
        load = self._chunk_map(bucket, "Load", "LoadChunk", validate_only=False)
        # With an error budget, a validate-only pass decides before anything is written.
        validate = self._chunk_map(bucket, "Validate", "ValidateChunk", validate_only=True)
        # CheckErrorBudget: a timeout is a huge error log's merge, which would time out again.
        check_budget = self._task("CheckErrorBudget", self.budget_fn, timeout_retry=False)
        budget_exceeded = sfn.Fail(self, "ErrorBudgetExceeded", cause="see the job's failure_reason",
                                   error="ErrorBudgetExceeded")
        # Finalize: idempotent (a retry after it settled the job returns the settled outcome).
        finalize = self._task("Finalize", self.finalize_fn, timeout_retry=True)
        completed = sfn.Succeed(self, "JobCompleted")

        for state in (inspect, split, validate, check_budget, load, finalize):
            state.add_catch(mark_failed, errors=["States.ALL"], result_path="$.error")
        load.next(finalize).next(completed)
        validate.next(check_budget).next(
            sfn.Choice(self, "WithinErrorBudget?")
            .when(sfn.Condition.boolean_equals("$.within_budget", True), load)
            .otherwise(budget_exceeded)
        )
        has_budget = (
            sfn.Choice(self, "HasErrorBudget?")
            .when(sfn.Condition.number_less_than("$.job.max_rejected_percent", 100), validate)
            .otherwise(load)
        )
        return inspect.next(split).next(has_budget)
