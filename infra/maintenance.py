"""Dataset maintenance: the Clear Data workflow that removes every record of a dataset."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.events import grant_job_events
from infra.functions import python_function
from infra.partitioned_jobs import PartitionedJobFunctions, partitioned_job_state_machine
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

        self.state_machine = partitioned_job_state_machine(
            self, "Clear", PartitionedJobFunctions(plan_fn, partition_fn, finish_fn, failed_fn),
            job_selector={name: sfn.JsonPath.string_at(f"$.{name}") for name in ("account_id", "job_id", "dataset_id")},
            max_concurrency=CLEAR_MAX_CONCURRENCY,
        )

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
