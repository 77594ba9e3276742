"""API: the REST API, its routes, gateway error responses and the API function."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.auth import Auth
from infra.functions import python_function
from infra.storage import RESULTS_PREFIX, UPLOADS_PREFIX, Storage

STAGE = "prod"
UPLOAD_URL_TTL_SECONDS = 3600

# Every route: (path, methods). All go to the one API function behind the token authorizer.
ROUTES: list[tuple[str, tuple[str, ...]]] = [
    ("/v1/datasets", ("GET", "POST")),
    ("/v1/datasets/{dataset_id}", ("GET", "PATCH")),
    ("/v1/datasets/{dataset_id}/clear", ("POST",)),
    ("/v1/datasets/{dataset_id}/records/{record_type}/{key}", ("GET",)),
    ("/v1/record-types", ("GET",)),
    ("/v1/uploads", ("GET", "POST")),
    ("/v1/uploads/{upload_id}", ("GET",)),
    ("/v1/jobs", ("GET",)),
    ("/v1/jobs/{job_id}", ("GET",)),
    ("/v1/tokens", ("GET", "POST")),
    ("/v1/tokens/{token_id}", ("DELETE",)),
]

# API Gateway's own answers, as JSON {"message": ...} like ours.
GATEWAY_RESPONSES = {
    apigw.ResponseType.UNAUTHORIZED: ("401", "missing, unknown or revoked Auth-Api-Token"),
    apigw.ResponseType.ACCESS_DENIED: ("403", "this token may not access this resource"),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("404", "no such route: check the method and the path"),
    apigw.ResponseType.REQUEST_TOO_LARGE: ("413", "request body too large: upload files through a presigned URL"),
    apigw.ResponseType.THROTTLED: ("429", "too many requests: slow down and retry"),
}


class Api(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, auth: Auth,
                 clear_workflow: sfn.IStateMachine) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "ApiFunction",
            handler="ingest.handlers.api.handler",
            description="Bulk-ingest REST API: datasets, uploads, records, tokens",
            environment={
                "UPLOADS_BUCKET": storage.bucket.bucket_name,
                "JOBS_TABLE": storage.jobs_table.table_name,
                "DATASETS_TABLE": storage.datasets_table.table_name,
                "RECORDS_TABLE": storage.records_table.table_name,
                "UPLOAD_URL_TTL_SECONDS": str(UPLOAD_URL_TTL_SECONDS),
                "CLEAR_STATE_MACHINE_ARN": clear_workflow.state_machine_arn,
                # Same name and value as the authorizer's: local handlers share one process env.
                "TOKENS_TABLE": auth.tokens_table.table_name,
            },
            timeout=Duration.seconds(29),
            memory_size=512,
        )
        storage.jobs_table.grant(
            self.function, "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"
        )
        storage.datasets_table.grant(
            self.function, "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"
        )
        # Token routes: list through the by-account index; mint and revoke are transactions of
        # Put/Update on token and counter items (DynamoDB authorizes each part as PutItem/UpdateItem).
        # No GetItem, Scan or DeleteItem: the API never reads a token by its hash nor deletes one.
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:PutItem", "dynamodb:UpdateItem"], resources=[auth.tokens_table.table_arn]))
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=[auth.tokens_by_account_index_arn]))
        clear_workflow.grant_start_execution(self.function)
        storage.records_table.grant(self.function, "dynamodb:GetItem")
        # Presigned URLs carry this role's permission: PUT of uploads, GET of error logs.
        storage.bucket.grant_put(self.function, f"{UPLOADS_PREFIX}*")
        storage.bucket.grant_read(self.function, f"{RESULTS_PREFIX}*")

        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name="bulk-ingest",
            description="Bulk ingestion: presigned uploads, load jobs, datasets",
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=50,
                throttling_burst_limit=100,
            ),
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.CUSTOM, authorizer=auth.authorizer
            ),
            cloud_watch_role=False,
        )
        integration = apigw.LambdaIntegration(self.function, proxy=True)
        for path, methods in ROUTES:
            resource = self.rest_api.root.resource_for_path(path)
            for method in methods:
                resource.add_method(method, integration)
        for response_type, (status, message) in GATEWAY_RESPONSES.items():
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                status_code=status,
                templates={"application/json": json.dumps({"message": message})},
            )
