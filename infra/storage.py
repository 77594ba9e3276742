"""Storage: the uploads bucket (and its access-log bucket) and the DynamoDB tables (jobs, datasets, records)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.tables import table

# Prefixes inside the uploads bucket (lambdas/ingest/logic uses the same layout).
UPLOADS_PREFIX = "uploads/"
WORK_PREFIX = "work/"
RESULTS_PREFIX = "results/"
REVERT_PREFIX = "revert/"  # what loads replaced, kept for a revert (logic/revert.py)
# Server access logs of the uploads bucket: who read or wrote which key, from which address (the
# presigned URLs are bearer credentials, so this is their audit trail). Keys, never object contents.
ACCESS_LOGS_PREFIX = "uploads-bucket/"
ACCESS_LOG_RETENTION_DAYS = 90
S3_ACCESS_LOGS_BY_POLICY_FLAG = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, upload_retention_days: int,
                 revert_retention_days: int,
                 multipart_abort_days: int) -> None:
        super().__init__(scope, construct_id)
        # S3 delivers the logs under a bucket policy, not the log-delivery ACL: ACLs are disabled here.
        self.node.set_context(S3_ACCESS_LOGS_BY_POLICY_FLAG, True)
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,  # the only encryption S3 log delivery supports
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(ACCESS_LOG_RETENTION_DAYS)),
            ],
        )
        # Not logged itself: cdk-nag's S1 accepts a bucket that is another bucket's log target.
        self.bucket = s3.Bucket(
            self,
            "UploadsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=ACCESS_LOGS_PREFIX,
            lifecycle_rules=[
                # Bucket-wide: clients' multipart uploads (CDK context multipart_abort_days; the sweeper of
                # infra/multipart.py aborts them and fails their jobs within the hour before) and the
                # workflow's own writers' leftovers.
                s3.LifecycleRule(id="abort-incomplete-multipart",
                                 abort_incomplete_multipart_upload_after=Duration.days(multipart_abort_days)),
                # Chunks and manifests are deleted by Finalize; this catches any a failed run left.
                s3.LifecycleRule(id="expire-work-files", prefix=WORK_PREFIX, expiration=Duration.days(2)),
                s3.LifecycleRule(id="expire-uploads", prefix=UPLOADS_PREFIX,
                                 expiration=Duration.days(upload_retention_days)),
                s3.LifecycleRule(id="expire-results", prefix=RESULTS_PREFIX,
                                 expiration=Duration.days(upload_retention_days)),
                s3.LifecycleRule(id="expire-revert-journals", prefix=REVERT_PREFIX,
                                 expiration=Duration.days(revert_retention_days)),
            ],
        )
        self.jobs_table = table(self, "JobsTable", "account_id", "job_id")
        self.datasets_table = table(self, "DatasetsTable", "account_id", "dataset_id")
        # pk = account#dataset#record_type#shard, sk = record key (see adapters/record_store.py)
        self.records_table = table(self, "RecordsTable", "pk", "sk")
