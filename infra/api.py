"""API: the REST API, its routes, gateway error responses and the API function."""

from __future__ import annotations

import json
import math

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import nag
from infra.audiences import Audiences
from infra.auth import Auth
from infra.config import ApiLimits
from infra.events import grant_job_events
from infra.functions import python_function
from infra.imports import Imports
from infra.storage import RESULTS_PREFIX, UPLOADS_PREFIX, Storage
from infra.tables import table
from ingest.config import ApiSettings

STAGE = "prod"

# Every route: (path, methods). All go to the one API function behind the token authorizer.
ROUTES: list[tuple[str, tuple[str, ...]]] = [
    ("/v1/datasets", ("GET", "POST")),
    ("/v1/datasets/{dataset_id}", ("GET", "PATCH")),
    ("/v1/datasets/{dataset_id}/clear", ("POST",)),
    ("/v1/datasets/{dataset_id}/records/{record_type}/{key}", ("GET",)),
    ("/v1/record-types", ("GET",)),
    ("/v1/uploads", ("GET", "POST")),
    ("/v1/uploads/{upload_id}", ("GET", "DELETE")),
    # Multipart uploads (lambdas/ingest/logic/multipart_uploads.py).
    ("/v1/uploads/{upload_id}/parts", ("GET", "POST")),
    ("/v1/uploads/{upload_id}/complete", ("POST",)),
    ("/v1/jobs", ("GET",)),
    ("/v1/jobs/{job_id}", ("GET",)),
    ("/v1/tokens", ("GET", "POST")),
    ("/v1/tokens/{token_id}", ("DELETE",)),
    ("/v1/account", ("GET",)),
    ("/v1/account/ip-allowlist", ("PUT",)),
    ("/v1/import-keys", ("GET", "POST")),
    ("/v1/import-keys/{key_id}", ("DELETE",)),
    # The analytics file-upload API (handlers/compat_api.py), with the same tokens.
    ("/analytics/files/upload", ("POST",)),
    ("/analytics/files/{file_id}", ("GET",)),
    ("/v1/audiences", ("GET",)),
    ("/v1/audiences/{audience_id}", ("GET", "PATCH", "DELETE")),
    ("/v1/audiences/{audience_id}/members/{customer_id}", ("GET",)),
]
# Localytics Profile Imports (handlers/compat_api.py): same API function, HTTP Basic auth with an
# import key (infra/imports.py), and no usage-plan key: those are per token, these have quotas per key.
IMPORT_ROUTES: list[tuple[str, tuple[str, ...]]] = [
    ("/v1/imports/profiles/upload", ("POST",)),
    ("/v1/imports/profiles/status/{activity_id}", ("GET",)),
    # Localytics Audience Imports. One resource serves "/list" and "/list/": API Gateway (REST) routes a
    # path with a trailing slash to the resource without it (a PathPart cannot be empty), and so do the
    # local gateway and the Powertools resolver.
    ("/v1/imports/audiences/list", ("POST",)),
    ("/v1/imports/audiences/list/status/{activity_id}", ("GET",)),
    ("/v1/imports/audiences/list/{audience_list_id}", ("PUT", "DELETE")),
    ("/v1/imports/audiences/list/{audience_list_id}/name", ("PUT",)),
    ("/v1/imports/audiences/list/app/{app_id}", ("GET",)),
]
# Request bodies API Gateway hands the function base64-encoded (isBase64Encoded), bytes intact.
BINARY_MEDIA_TYPES = ["multipart/form-data"]

# API Gateway's own answers, as JSON {"message": ...} like ours.
GATEWAY_RESPONSES = {
    apigw.ResponseType.UNAUTHORIZED: ("401", ("missing, unknown or revoked Auth-Api-Token "
                                             "(on /v1/imports: Basic credentials, import key and secret)")),
    # The authorizer denies only when the request's source IP is outside the account's allow-list.
    apigw.ResponseType.ACCESS_DENIED: ("403", "this request's IP address is not on the account's IP allow-list"),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("404", "no such route: check the method and the path"),
    apigw.ResponseType.REQUEST_TOO_LARGE: ("413", "request body too large: upload files through a presigned URL"),
    apigw.ResponseType.THROTTLED: ("429", "too many requests: slow down and retry"),
}
# The per-token usage plan's name is "<stack name><suffix>"; the API function, the admin CLI and the
# local stack find the plan by it (lambdas/ingest/adapters/usage_plans.py usage_plan_name; a template
# test holds the two equal). Its id cannot be in the API function's environment: the plan refers to
# the stage, the stage to the deployment, the deployment to the methods, the methods to the function.
USAGE_PLAN_NAME_SUFFIX = "-per-token"
# The stage's access log, one JSON line per request: who called which route and how it went. The
# route template (resourcePath), not the path, so record keys stay out; no bodies, headers or token.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "account": "$context.authorizer.principalId",
    "method": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "responseLength": "$context.responseLength",
    "errorType": "$context.error.responseType",
}


def retry_after_seconds(rate_per_second: float) -> int:
    """Seconds after which a throttled token has at least one request again (API Gateway can only
    send a static Retry-After, so it is derived from the configured rate)."""
    return max(1, math.ceil(1 / rate_per_second))


class Api(Construct):
    """The REST API and the one function behind every route, ours and the compatible ones."""

    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, auth: Auth, imports: Imports,
                 audiences: Audiences, clear_workflow: sfn.IStateMachine, limits: ApiLimits) -> None:
        super().__init__(scope, construct_id)
        usage_plan_name = Stack.of(self).stack_name + USAGE_PLAN_NAME_SUFFIX
        # Idempotency-Key records (lambdas/ingest/handlers/idempotency.py): Powertools' layout, one item per
        # (account, route, key), kept 24 h; DynamoDB's TTL deletes them after their expiry (the code
        # ignores an expired one before then). Nothing in it is worth keeping: destroyed with the stack.
        self.idempotency_table = table(self, "IdempotencyTable", "id", time_to_live_attribute="expiration",
                                       removal_policy=RemovalPolicy.DESTROY)
        self.function = self._build_function(ApiSettings(
            uploads_bucket=storage.bucket.bucket_name,
            jobs_table=storage.jobs_table.table_name,
            datasets_table=storage.datasets_table.table_name,
            records_table=storage.records_table.table_name,
            clear_state_machine_arn=clear_workflow.state_machine_arn,
            # Same names and values as the authorizer's: local handlers share one process env.
            tokens_table=auth.tokens_table.table_name,
            accounts_table=auth.accounts_table.table_name,
            # A name, not the plan's id (see USAGE_PLAN_NAME_SUFFIX); the numbers are shown by GET /v1/account.
            usage_plan_name=usage_plan_name,
            rate_limit_per_second=limits.rate_limit_per_second,
            rate_limit_burst=limits.rate_limit_burst,
            imports_table=imports.imports_table.table_name,
            quotas_table=imports.quotas_table.table_name,
            profile_uploads_per_hour=limits.profile_uploads_per_hour,
            profile_status_requests_per_minute=limits.profile_status_requests_per_minute,
            audience_uploads_per_hour=limits.audience_uploads_per_hour,
            audience_status_requests_per_minute=limits.audience_status_requests_per_minute,
            audiences_table=audiences.table.table_name,
            idempotency_table=self.idempotency_table.table_name,
            max_upload_bytes=limits.max_upload_bytes,
        ))
        self._grant_function(storage, auth, imports, audiences, clear_workflow)
        self.rest_api = self._build_rest_api(auth)
        self.usage_plan = self.rest_api.add_usage_plan(
            "PerTokenUsagePlan",
            name=usage_plan_name,
            description="Per-token throttling: every API token has its own API key in this plan",
            throttle=apigw.ThrottleSettings(rate_limit=limits.rate_limit_per_second,
                                            burst_limit=limits.rate_limit_burst),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
        )
        self._grant_token_keys()
        self._add_routes(imports)
        self._add_gateway_responses(limits.rate_limit_per_second)

    def _build_function(self, settings: ApiSettings) -> lambda_.Function:
        return python_function(
            self,
            "ApiFunction",
            handler="ingest.handlers.api.handler",
            description="Bulk-ingest REST API: datasets, uploads, records, tokens",
            settings=settings,
            timeout=Duration.seconds(29),
            memory_size=512,
        )

    def _grant_function(self, storage: Storage, auth: Auth, imports: Imports, audiences: Audiences,
                        clear_workflow: sfn.IStateMachine) -> None:
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
        # GET /v1/account and PUT /v1/account/ip-allowlist: one item per account, read and written whole.
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:PutItem"], resources=[auth.accounts_table.table_arn]))
        clear_workflow.grant_start_execution(self.function)
        imports.grant_api(self.function)  # the compatible routes: import keys, target datasets, quotas
        storage.records_table.grant(self.function, "dynamodb:GetItem")
        # Presigned URLs carry this role's permission: PUT of uploads (and of their parts), GET of error logs.
        # grant_put's s3:PutObject covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload, its
        # s3:Abort* AbortMultipartUpload; listing a multipart upload's parts is an action of its own.
        storage.bucket.grant_put(self.function, f"{UPLOADS_PREFIX}*")
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:ListMultipartUploadParts"], resources=[storage.bucket.arn_for_objects(f"{UPLOADS_PREFIX}*")]))
        storage.bucket.grant_read(self.function, f"{RESULTS_PREFIX}*")
        audiences.grant_api(self.function)
        grant_job_events(self.function)  # it creates upload and clear jobs: each creation is published
        # Powertools' idempotency: a conditional put (in progress), get, update (the answer), delete (on error).
        self.idempotency_table.grant(self.function, "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem",
                                     "dynamodb:DeleteItem")

    def _build_rest_api(self, auth: Auth) -> apigw.RestApi:
        return apigw.RestApi(
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
                access_log_destination=apigw.LogGroupLogDestination(logs.LogGroup(
                    self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY)),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.CUSTOM, authorizer=auth.authorizer,
                # The authorizer names the caller's API key (usageIdentifierKey): the usage plan throttles per token.
                api_key_required=True,
            ),
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
            # Access logging needs the account's API Gateway CloudWatch role (AWS::ApiGateway::Account).
            cloud_watch_role=True,
            binary_media_types=BINARY_MEDIA_TYPES,
        )

    def _add_routes(self, imports: Imports) -> None:
        integration = apigw.LambdaIntegration(self.function, proxy=True)
        for path, methods in ROUTES:
            resource = self.rest_api.root.resource_for_path(path)
            for method in methods:
                resource.add_method(method, integration)
        for path, methods in IMPORT_ROUTES:
            resource = self.rest_api.root.resource_for_path(path)
            for method in methods:
                resource.add_method(method, integration, authorizer=imports.authorizer,
                                    authorization_type=apigw.AuthorizationType.CUSTOM, api_key_required=False)

    def _add_gateway_responses(self, rate_limit_per_second: int) -> None:
        for response_type, (status, message) in GATEWAY_RESPONSES.items():
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                status_code=status,
                templates={"application/json": json.dumps({"message": message})},
                response_headers=(
                    {"Retry-After": f"'{retry_after_seconds(rate_limit_per_second)}'"}
                    if response_type.response_type == apigw.ResponseType.THROTTLED.response_type else None
                ),
            )

    def _grant_token_keys(self) -> None:
        """Minting creates the token's API key and adds it to the plan; revoking deletes the key.

        A separate policy, not the role's default one: the function depends on its default policy,
        and this one names the usage plan, which depends (through the stage) on the function.
        """
        stack = Stack.of(self)
        # The stack's partition, not "aws": the same template deploys to aws-cn and aws-us-gov.
        apigateway = f"arn:{stack.partition}:apigateway:{stack.region}::"
        plan_id = self.usage_plan.usage_plan_id
        iam.Policy(self, "TokenApiKeysPolicy", roles=[nag.role_of(self.function)], statements=[
            # Find the plan by name (GET /usageplans lists plans; it grants no other reads).
            iam.PolicyStatement(actions=["apigateway:GET"], resources=[f"{apigateway}/usageplans"]),
            iam.PolicyStatement(actions=["apigateway:POST"], resources=[
                f"{apigateway}/apikeys", f"{apigateway}/usageplans/{plan_id}/keys"]),
            iam.PolicyStatement(actions=["apigateway:DELETE"], resources=[f"{apigateway}/apikeys/*"]),
        ])
