"""The service stack: composes one construct per concern from the deployment's settings (infra/config.py,
read once by app.py), tags them, acknowledges the API's cdk-nag findings and names its outputs. Each
construct wires its own functions from what it is given; nothing here reaches into one to patch it."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra import nag
from infra.api import Api
from infra.audiences import Audiences
from infra.auth import Auth
from infra.config import DeploymentConfig
from infra.console import Console
from infra.imports import Imports
from infra.maintenance import DatasetMaintenance
from infra.multipart import MultipartSweeper
from infra.revert import RevertWorkflow
from infra.storage import Storage
from infra.webhooks import Webhooks
from infra.workflow import Workflow


class BulkIngestStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage = Storage(self, "Storage", upload_retention_days=config.upload_retention_days,
                          revert_retention_days=config.revert_retention_days,
                          multipart_abort_days=config.multipart_abort_days)
        auth = Auth(self, "Auth")
        imports = Imports(self, "Imports", auth=auth)
        audiences = Audiences(self, "Audiences", storage=storage)
        workflow = Workflow(self, "Workflow", storage=storage, audiences=audiences, plan=config.load_plan,
                            revert_retention_days=config.revert_retention_days)
        maintenance = DatasetMaintenance(self, "Maintenance", storage=storage)
        webhooks = Webhooks(self, "Webhooks", backoff=config.webhook_backoff)
        reverts = RevertWorkflow(self, "Reverts", storage=storage)
        api = Api(self, "Api", storage=storage, auth=auth, imports=imports, audiences=audiences,
                  clear_workflow=maintenance.state_machine, revert_workflow=reverts.state_machine,
                  limits=config.api_limits, webhooks=webhooks)
        # The AwsSolutions checks run over the whole app (app.py); the findings we accept in the API's
        # and the authorizer's resources, with why, are in infra/nag.py.
        nag.acknowledge_api_findings(api, storage.bucket)
        MultipartSweeper(self, "MultipartSweeper", storage=storage, abort_after_days=config.multipart_abort_days)
        console = Console(self, "Console", rest_api=api.rest_api, bucket=storage.bucket,
                          upload_origins=config.browser_upload_origins)
        Tags.of(self).add("service", "bulk-ingest")

        CfnOutput(self, "ApiUrl", value=api.rest_api.url)
        CfnOutput(self, "ConsoleUrl", value=api.rest_api.url_for_path(console.path))
        CfnOutput(self, "UploadsBucketName", value=storage.bucket.bucket_name)
        CfnOutput(self, "TokensTableName", value=auth.tokens_table.table_name)
        CfnOutput(self, "AccountsTableName", value=auth.accounts_table.table_name)
        # For `python -m cli.admin mint-import-key --stack ...`: the keys, and the datasets they map to.
        CfnOutput(self, "ImportsTableName", value=imports.imports_table.table_name)
        CfnOutput(self, "DatasetsTableName", value=storage.datasets_table.table_name)
        CfnOutput(self, "StateMachineArn", value=workflow.state_machine.state_machine_arn)
        CfnOutput(self, "ClearStateMachineArn", value=maintenance.state_machine.state_machine_arn)
        CfnOutput(self, "RevertStateMachineArn", value=reverts.state_machine.state_machine_arn)
        CfnOutput(self, "AudiencesTableName", value=audiences.table.table_name)
