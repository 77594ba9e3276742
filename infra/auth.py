"""Auth: the token table (SHA-256 hashes only) and the API Gateway Lambda authorizer."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.functions import python_function

TOKEN_HEADER = "Auth-Api-Token"
# Short, so a revoked token stops working quickly; long enough to spare the table on bursts.
AUTHORIZER_CACHE_TTL = Duration.seconds(60)


class Auth(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.tokens_table = dynamodb.Table(
            self,
            "TokensTable",
            partition_key=dynamodb.Attribute(name="token_hash", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.function = python_function(
            self,
            "AuthorizerFunction",
            handler="ingest.handlers.authorizer.handler",
            description="Auth-Api-Token -> account id (by SHA-256 hash)",
            environment={"TOKENS_TABLE": self.tokens_table.table_name},
            timeout=Duration.seconds(10),
            memory_size=256,
        )
        self.tokens_table.grant_read_data(self.function)
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "TokenAuthorizer",
            handler=self.function,
            identity_sources=[apigw.IdentitySource.header(TOKEN_HEADER)],
            results_cache_ttl=AUTHORIZER_CACHE_TTL,
        )
