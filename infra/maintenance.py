"""Dataset maintenance: the Clear Data workflow that removes every record of a dataset."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import nag
from infra.events import grant_job_events
from infra.functions import python_function
from infra.retries import lambda_task
from infra.storage import Storage
from ingest.config import ClearSettings

CLEAR_MAX_CONCURRENCY = 4


class DatasetMaintenance(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        settings = ClearSettings(
            jobs_table=storage.jobs_table.table_name,
            datasets_table=storage.datasets_table.table_name,
            records_table=storage.records_table.table_name,
        )
        plan_fn = self._function("PlanClear", "plan", settings, Duration.minutes(1))
        partition_fn = self._function("ClearPartition", "clear_partition", settings, Duration.minutes(15))
        finish_fn = self._function("FinishClear", "finish", settings, Duration.minutes(1))
        failed_fn = self._function("ClearFailed", "mark_failed", settings, Duration.minutes(1))
        job_rw = ("dynamodb:GetItem", "dynamodb:UpdateItem")
        for fn in (plan_fn, finish_fn, failed_fn):
            storage.jobs_table.grant(fn, *job_rw)
        grant_job_events(plan_fn, finish_fn, failed_fn)  # each writes the job's status: its change is published
        for fn in (finish_fn, failed_fn):
            storage.datasets_table.grant(fn, "dynamodb:UpdateItem")
        storage.datasets_table.grant(plan_fn, "dynamodb:GetItem")
        storage.records_table.grant(partition_fn, "dynamodb:Query", "dynamodb:BatchWriteItem")

        failed = sfn.Fail(self, "ClearJobFailed", cause="see the job's failure_reason", error="ClearFailed")
        mark_failed = lambda_task(self, "ClearFailed", failed_fn, step_failed=False, settles_failure=True)
        mark_failed.next(failed)
        # Plan and Finish: a few reads and writes in a minute; a timeout is worth one cheap retry.
        plan = lambda_task(self, "PlanClear", plan_fn, step_failed=False, timeout=True)
        partitions = sfn.Map(
            self,
            "ClearPartitions",
            items_path="$.partitions",
            item_selector={
                "job": {
                    "account_id": sfn.JsonPath.string_at("$.account_id"),
                    "job_id": sfn.JsonPath.string_at("$.job_id"),
                    "dataset_id": sfn.JsonPath.string_at("$.dataset_id"),
                },
                "partition": sfn.JsonPath.object_at("$$.Map.Item.Value"),
            },
            max_concurrency=CLEAR_MAX_CONCURRENCY,
            result_path="$.results",
        )
        # A timed-out partition is not retried: the retry would count only what it removed itself, so the
        # job's "removed" would be short. The user clears again instead, and removed records stay removed.
        partitions.item_processor(lambda_task(self, "ClearPartition", partition_fn, step_failed=False))
        finish = lambda_task(self, "FinishClear", finish_fn, step_failed=False, timeout=True)
        for state in (plan, partitions, finish):
            state.add_catch(mark_failed, errors=["States.ALL"], result_path="$.error")

        self.state_machine = sfn.StateMachine(
            self,
            "ClearWorkflow",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(
                plan.next(partitions).next(finish).next(sfn.Succeed(self, "ClearCompleted"))
            ),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(
                    self, "ClearWorkflowLogs", retention=logs.RetentionDays.ONE_MONTH,
                    removal_policy=RemovalPolicy.DESTROY,
                ),
                level=sfn.LogLevel.ERROR,
                include_execution_data=False,
            ),
        )
        nag.acknowledge_state_machine(self.state_machine, (plan_fn, partition_fn, finish_fn, failed_fn))

    def _function(self, name: str, entry: str, settings: ClearSettings, timeout: Duration) -> lambda_.Function:
        return python_function(
            self,
            f"{name}Function",
            handler=f"ingest.handlers.clear.{entry}",
            description=f"Clear Data workflow: {name}",
            settings=settings,
            timeout=timeout,
            memory_size=512,
        )
