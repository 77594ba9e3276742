"""Imports: what the compatible APIs (Localytics Profile Imports, analytics file uploads) add.

- the imports table: import API keys (SHA-256 of the secret only, plus an index by account) and
  each account's target datasets (a Localytics org or app, an analytics datasetType);
- the quotas table: fixed-window per-key counters that expire through DynamoDB's TTL;
- the Basic-auth REQUEST authorizer of the /v1/imports/... routes.
The routes themselves are in infra/api.py (IMPORT_ROUTES) and run in the API function.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import nag
from infra.auth import SOURCE_IP_CONTEXT, Auth
from infra.functions import python_function
from infra.tables import table
from ingest.config import ImportAuthSettings

BASIC_AUTH_HEADER = "Authorization"
# As the token authorizer's: a revoked key stops working within a minute.
IMPORT_AUTHORIZER_CACHE_TTL = Duration.seconds(60)
# lambdas/ingest/adapters/import_keys_table.py IMPORT_KEYS_BY_ACCOUNT_INDEX names it too.
IMPORT_KEYS_BY_ACCOUNT_INDEX = "by_account"
# What a listing shows; the table key (pk) is always projected, the secret hash never.
IMPORT_KEYS_INDEX_ATTRIBUTES = ["org_id", "app_ids", "label", "created_at", "revoked_at"]
QUOTA_EXPIRY_ATTRIBUTE = "expires_at"


class Imports(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, auth: Auth) -> None:
        super().__init__(scope, construct_id)
        self.imports_table = table(self, "ImportsTable", "pk")
        self.imports_table.add_global_secondary_index(
            index_name=IMPORT_KEYS_BY_ACCOUNT_INDEX,
            partition_key=dynamodb.Attribute(name="account_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="key_id", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=IMPORT_KEYS_INDEX_ATTRIBUTES,
        )
        self.imports_by_account_index_arn = f"{self.imports_table.table_arn}/index/{IMPORT_KEYS_BY_ACCOUNT_INDEX}"
        # Counters live one window (at most an hour) plus a margin: nothing worth keeping.
        self.quotas_table = table(self, "QuotasTable", "counter", removal_policy=RemovalPolicy.DESTROY,
                                   time_to_live_attribute=QUOTA_EXPIRY_ATTRIBUTE)
        self.authorizer_function = python_function(
            self,
            "ImportAuthorizerFunction",
            handler="ingest.handlers.import_authorizer.handler",
            description="Basic key:secret -> account, org and apps (by SHA-256 of the secret), checked against "
                        "the account's IP allow-list",
            settings=ImportAuthSettings(imports_table=self.imports_table.table_name,
                                        accounts_table=auth.accounts_table.table_name),
            timeout=Duration.seconds(10),
            memory_size=256,
        )
        nag.acknowledge_lambda_basics(self.authorizer_function)
        # Read a key by its id, and the caller's account settings (the IP allow-list); nothing else.
        self.authorizer_function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem"], resources=[self.imports_table.table_arn, auth.accounts_table.table_arn]))
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "ImportKeyAuthorizer",
            handler=self.authorizer_function,
            identity_sources=[apigw.IdentitySource.header(BASIC_AUTH_HEADER),
                              apigw.IdentitySource.context(SOURCE_IP_CONTEXT)],
            results_cache_ttl=IMPORT_AUTHORIZER_CACHE_TTL,
        )

    def grant_api(self, function: lambda_.IFunction) -> None:
        """What the compatible routes do: mint (PutItem), read (GetItem: targets), list (Query on the
        index, which projects no secret hash) and revoke (UpdateItem) keys; claim target datasets
        (PutItem); count quota uses (UpdateItem). No Scan, no DeleteItem."""
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            resources=[self.imports_table.table_arn]))
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=[self.imports_by_account_index_arn]))
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:UpdateItem"], resources=[self.quotas_table.table_arn]))
