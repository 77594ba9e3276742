"""Auth: the token table (SHA-256 hashes only, plus an index by account), the accounts table (per-account
settings such as the IP allow-list) and the API Gateway Lambda authorizer."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.functions import python_function
from infra.tables import table
from ingest.config import AuthSettings

TOKEN_HEADER = "Auth-Api-Token"  # noqa: S105 (a header name, not a secret)
# Short, so a revoked token stops working quickly; long enough to spare the table on bursts.
AUTHORIZER_CACHE_TTL = Duration.seconds(60)
# An account's tokens, for listing and revoking by id (lambdas/ingest/adapters/control_tables.py
# TOKENS_BY_ACCOUNT_INDEX names it too; a template test holds the two equal). It projects only
# what a listing shows and revoked_at; the table's key (the hash) is always projected, never shown.
TOKENS_BY_ACCOUNT_INDEX = "by_account"
# api_key_id (the token's API Gateway key, not a secret) is projected so revoking can delete the key.
TOKENS_INDEX_ATTRIBUTES = ["label", "created_at", "last_used_at", "revoked_at", "api_key_id"]
# The authorizer's decision depends on the token and on where the request comes from (the account's
# IP allow-list), so API Gateway must cache it per (token, source IP), not per token.
SOURCE_IP_CONTEXT = "identity.sourceIp"


class Auth(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.tokens_table = table(self, "TokensTable", "token_hash")
        self.tokens_table.add_global_secondary_index(
            index_name=TOKENS_BY_ACCOUNT_INDEX,
            partition_key=dynamodb.Attribute(name="account_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="token_id", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=TOKENS_INDEX_ATTRIBUTES,
        )
        self.tokens_by_account_index_arn = f"{self.tokens_table.table_arn}/index/{TOKENS_BY_ACCOUNT_INDEX}"
        # One item per account that has settings (today: its IP allow-list); no item = no restriction.
        self.accounts_table = table(self, "AccountsTable", "account_id")
        self.function = python_function(
            self,
            "AuthorizerFunction",
            handler="ingest.handlers.authorizer.handler",
            description="Auth-Api-Token -> account id (by SHA-256 hash), checked against the account's IP allow-list",
            settings=AuthSettings(tokens_table=self.tokens_table.table_name,
                                  accounts_table=self.accounts_table.table_name),
            timeout=Duration.seconds(10),
            memory_size=256,
        )
        # Read a token by its hash, and record its last use (UpdateItem of last_used_at); nothing else.
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[self.tokens_table.table_arn]))
        # Read the caller's account settings (the IP allow-list); nothing else.
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem"], resources=[self.accounts_table.table_arn]))
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "TokenAuthorizer",
            handler=self.function,
            identity_sources=[
                apigw.IdentitySource.header(TOKEN_HEADER), apigw.IdentitySource.context(SOURCE_IP_CONTEXT)
            ],
            results_cache_ttl=AUTHORIZER_CACHE_TTL,
        )
