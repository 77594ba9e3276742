"""The service stack: composes one construct per concern, tags them and accepts cdk-nag findings of api/auth."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.api import DEFAULT_AUDIENCE_STATUS_REQUESTS_PER_MINUTE, DEFAULT_AUDIENCE_UPLOADS_PER_HOUR, Api
from infra.audiences import Audiences
from infra.auth import Auth
from infra.imports import (DEFAULT_PROFILE_STATUS_REQUESTS_PER_MINUTE, DEFAULT_PROFILE_UPLOADS_PER_HOUR,
                           Imports)
from infra import nag
from infra.maintenance import DatasetMaintenance
from infra.storage import Storage
from infra.workflow import Workflow

DEFAULT_CHUNK_TARGET_BYTES = 32 * 1024 * 1024
DEFAULT_UPLOAD_RETENTION_DAYS = 30
# Per-token API throttling (the usage plan): a steady rate and a burst.
DEFAULT_RATE_LIMIT_PER_SECOND = 25
DEFAULT_RATE_LIMIT_BURST = 50


class BulkIngestStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        chunk_target_bytes = int(self.node.try_get_context("chunk_target_bytes") or DEFAULT_CHUNK_TARGET_BYTES)
        # How long uploaded originals (and error logs) are kept, so a user can re-run a job.
        retention_days = int(self.node.try_get_context("upload_retention_days") or DEFAULT_UPLOAD_RETENTION_DAYS)
        rate_limit_per_second = int(self.node.try_get_context("rate_limit_per_second") or DEFAULT_RATE_LIMIT_PER_SECOND)
        rate_limit_burst = int(self.node.try_get_context("rate_limit_burst") or DEFAULT_RATE_LIMIT_BURST)
        storage = Storage(self, "Storage", upload_retention_days=retention_days)
        auth = Auth(self, "Auth")
        # Per-import-key quotas of the Localytics-compatible endpoints (Localytics documents 10 and 60).
        imports = Imports(
            self, "Imports", auth=auth,
            profile_uploads_per_hour=int(self.node.try_get_context("profile_uploads_per_hour")
                                         or DEFAULT_PROFILE_UPLOADS_PER_HOUR),
            profile_status_requests_per_minute=int(self.node.try_get_context("profile_status_requests_per_minute")
                                                   or DEFAULT_PROFILE_STATUS_REQUESTS_PER_MINUTE),
        )
        workflow = Workflow(self, "Workflow", storage=storage, chunk_target_bytes=chunk_target_bytes)
        maintenance = DatasetMaintenance(self, "Maintenance", storage=storage)
        api = Api(self, "Api", storage=storage, auth=auth, imports=imports, clear_workflow=maintenance.state_machine,
                  rate_limit_per_second=rate_limit_per_second, rate_limit_burst=rate_limit_burst,
                  audience_uploads_per_hour=int(self.node.try_get_context("audience_uploads_per_hour")
                                                or DEFAULT_AUDIENCE_UPLOADS_PER_HOUR),
                  audience_status_requests_per_minute=int(
                      self.node.try_get_context("audience_status_requests_per_minute")
                      or DEFAULT_AUDIENCE_STATUS_REQUESTS_PER_MINUTE))
        # The AwsSolutions checks run over the whole app (app.py); the findings we accept in the API's
        # and the authorizer's resources, with why, are in infra/nag.py.
        nag.acknowledge_api_findings(api, storage.bucket)
        audiences = Audiences(self, "Audiences", storage=storage)
        audiences.grant_api(api.function)
        audiences.grant_load_steps(workflow.inspect_fn, workflow.budget_fn, workflow.finalize_fn,
                                   workflow.mark_failed_fn, others=[workflow.split_fn, workflow.load_fn])
        Tags.of(self).add("service", "bulk-ingest")

        CfnOutput(self, "ApiUrl", value=api.rest_api.url)
        CfnOutput(self, "UploadsBucketName", value=storage.bucket.bucket_name)
        CfnOutput(self, "TokensTableName", value=auth.tokens_table.table_name)
        CfnOutput(self, "AccountsTableName", value=auth.accounts_table.table_name)
        # For `python -m cli.admin mint-import-key --stack ...`: the keys, and the datasets they map to.
        CfnOutput(self, "ImportsTableName", value=imports.imports_table.table_name)
        CfnOutput(self, "DatasetsTableName", value=storage.datasets_table.table_name)
        CfnOutput(self, "StateMachineArn", value=workflow.state_machine.state_machine_arn)
        CfnOutput(self, "ClearStateMachineArn", value=maintenance.state_machine.state_machine_arn)
        CfnOutput(self, "AudiencesTableName", value=audiences.table.table_name)
