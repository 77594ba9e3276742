"""The service stack: composes one construct per concern and nothing else."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.api import Api
from infra.auth import Auth
from infra.maintenance import DatasetMaintenance
from infra.storage import Storage
from infra.workflow import Workflow

DEFAULT_CHUNK_TARGET_BYTES = 32 * 1024 * 1024
DEFAULT_UPLOAD_RETENTION_DAYS = 30


class BulkIngestStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        chunk_target_bytes = int(self.node.try_get_context("chunk_target_bytes") or DEFAULT_CHUNK_TARGET_BYTES)
        # How long uploaded originals (and error logs) are kept, so a user can re-run a job.
        retention_days = int(self.node.try_get_context("upload_retention_days") or DEFAULT_UPLOAD_RETENTION_DAYS)
        storage = Storage(self, "Storage", upload_retention_days=retention_days)
        auth = Auth(self, "Auth")
        workflow = Workflow(self, "Workflow", storage=storage, chunk_target_bytes=chunk_target_bytes)
        maintenance = DatasetMaintenance(self, "Maintenance", storage=storage)
        api = Api(self, "Api", storage=storage, auth=auth, clear_workflow=maintenance.state_machine)
        Tags.of(self).add("service", "bulk-ingest")

        CfnOutput(self, "ApiUrl", value=api.rest_api.url)
        CfnOutput(self, "UploadsBucketName", value=storage.bucket.bucket_name)
        CfnOutput(self, "TokensTableName", value=auth.tokens_table.table_name)
        CfnOutput(self, "StateMachineArn", value=workflow.state_machine.state_machine_arn)
        CfnOutput(self, "ClearStateMachineArn", value=maintenance.state_machine.state_machine_arn)
