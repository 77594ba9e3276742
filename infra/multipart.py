"""The multipart lifecycle sweeper: a scheduled function that fails the jobs of multipart uploads left
incomplete past the bucket's abort rule (S3 emits no event when its lifecycle rule aborts one)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra import nag
from infra.events import grant_job_events
from infra.functions import python_function
from infra.storage import UPLOADS_PREFIX, Storage
from ingest.config import SweeperSettings

# Hourly: the sweep acts within the interval before the rule's deadline (lambdas/ingest/logic/multipart_sweep.py),
# so a job says why within an hour of it; each run lists only the bucket's open multipart uploads.
SWEEP_INTERVAL_SECONDS = 3600


class MultipartSweeper(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, abort_after_days: int) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "SweeperFunction",
            handler="ingest.handlers.multipart_sweeper.handler",
            description="Fails the jobs of multipart uploads the bucket's lifecycle rule aborts",
            settings=SweeperSettings(uploads_bucket=storage.bucket.bucket_name,
                                     jobs_table=storage.jobs_table.table_name,
                                     multipart_abort_days=abort_after_days,
                                     sweep_interval_seconds=SWEEP_INTERVAL_SECONDS),
            timeout=Duration.minutes(5),
            memory_size=256,
        )
        # Exactly its calls: ListMultipartUploads, AbortMultipartUpload, GetItem and UpdateItem of jobs.
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:ListBucketMultipartUploads"], resources=[storage.bucket.bucket_arn]))
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[storage.jobs_table.table_arn]))
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:AbortMultipartUpload"], resources=[storage.bucket.arn_for_objects(f"{UPLOADS_PREFIX}*")]))
        grant_job_events(self.function)  # it fails jobs: each change is published
        nag.acknowledge(
            nag.role_of(self.function), "IAM5",
            "AbortMultipartUpload on the uploads prefix: keys are per account and per upload, so they cannot "
            "be listed in advance.",
            [f"Resource::{nag.arn_of(storage.bucket)}/{UPLOADS_PREFIX}*"])
        events.Rule(self, "SweepSchedule", schedule=events.Schedule.rate(Duration.seconds(SWEEP_INTERVAL_SECONDS)),
                    targets=[targets.LambdaFunction(self.function)])
