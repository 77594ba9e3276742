"""Undo a load: the Revert workflow (PlanRevert -> RevertPartitions -> FinishRevert), and what it may do.

A load keeps, under revert/<account>/<upload>/, what each of its Load partitions replaced
(logic/revert.py); the bucket's lifecycle rule expires that prefix after `revert_retention_days`
(infra/storage.py). The API function starts this workflow for POST /v1/uploads/{id}/revert.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import nag
from infra.events import grant_job_events
from infra.functions import python_function
from infra.partitioned_jobs import PartitionedJobFunctions, partitioned_job_state_machine
from infra.storage import REVERT_PREFIX, Storage
from ingest.config import RevertSettings

# Partitions put back at once; each runs 16 conditional writes in flight (adapters/record_store.py put_back).
REVERT_MAX_CONCURRENCY = 8


class RevertWorkflow(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        settings = RevertSettings(
            uploads_bucket=storage.bucket.bucket_name,
            jobs_table=storage.jobs_table.table_name,
            datasets_table=storage.datasets_table.table_name,
            records_table=storage.records_table.table_name,
        )
        plan_fn = self._function("PlanRevert", "plan", settings, Duration.minutes(1), 512)
        # A partition's journal: at most a Load partition's keys (~250,000 at 128 MiB of lines), put back
        # 16 at a time: a few minutes of its 15 (docs/capacity.md).
        partition_fn = self._function("RevertPartition", "revert_partition", settings, Duration.minutes(15), 1024)
        finish_fn = self._function("FinishRevert", "finish", settings, Duration.minutes(1), 512)
        failed_fn = self._function("RevertFailed", "mark_failed", settings, Duration.minutes(1), 512)
        self._grant(storage, plan_fn, partition_fn, finish_fn, failed_fn)

        # PlanRevert waits for the dataset's hold as Inspect does: one revert or load writes into a dataset
        # at a time. A partition is not retried on a timeout: its second run would count what the first
        # put back as kept (its stamp is no longer the upload's).
        job_fields = ("account_id", "job_id", "dataset_id", "upload_id", "record_type")
        self.state_machine = partitioned_job_state_machine(
            self, "Revert", PartitionedJobFunctions(plan_fn, partition_fn, finish_fn, failed_fn),
            job_selector={name: sfn.JsonPath.string_at(f"$.{name}") for name in job_fields}
            | {"shards": sfn.JsonPath.number_at("$.shards")},
            max_concurrency=REVERT_MAX_CONCURRENCY, plan_waits_for_the_dataset=True,
        )

    @staticmethod
    def _grant(storage: Storage, plan_fn: lambda_.Function, partition_fn: lambda_.Function,
               finish_fn: lambda_.Function, failed_fn: lambda_.Function) -> None:
        bucket, jobs, datasets = storage.bucket, storage.jobs_table, storage.datasets_table
        # PlanRevert: the hold (read the dataset and its holder's job, take it, or note queued_behind),
        # the job to Processing, the journal's partitions (a listing under revert/).
        jobs.grant(plan_fn, "dynamodb:GetItem", "dynamodb:UpdateItem")
        datasets.grant(plan_fn, "dynamodb:GetItem", "dynamodb:UpdateItem")
        bucket.grant_read(plan_fn, f"{REVERT_PREFIX}*")
        # RevertPartition: its journal; each record put back or removed, conditionally.
        bucket.grant_read(partition_fn, f"{REVERT_PREFIX}*")
        storage.records_table.grant(partition_fn, "dynamodb:PutItem", "dynamodb:DeleteItem")
        # FinishRevert and RevertFailed: the job settled, the count (Finish), the hold released, the
        # upload's reverted_by released (Failed).
        jobs.grant(finish_fn, "dynamodb:GetItem", "dynamodb:UpdateItem")
        jobs.grant(failed_fn, "dynamodb:UpdateItem")
        for fn in (finish_fn, failed_fn):
            datasets.grant(fn, "dynamodb:UpdateItem")
        grant_job_events(plan_fn, finish_fn, failed_fn)  # each writes the job's status: its change is published
        for fn in (plan_fn, partition_fn):
            nag.acknowledge_bucket_grants(fn, bucket, read=[REVERT_PREFIX])

    def _function(self, name: str, entry: str, settings: RevertSettings, timeout: Duration,
                  memory: int) -> lambda_.Function:
        return python_function(
            self,
            f"{name}Function",
            handler=f"ingest.handlers.revert.{entry}",
            description=f"Revert workflow: {name}",
            settings=settings,
            timeout=timeout,
            memory_size=memory,
        )
