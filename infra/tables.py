"""One way to declare a DynamoDB table: on demand, encrypted, point-in-time recovery, string keys."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct


def table(scope: Construct, construct_id: str, partition_key: str, sort_key: str | None = None, *,
          removal_policy: RemovalPolicy = RemovalPolicy.RETAIN, **options) -> dynamodb.Table:
    """A table with string keys; options go to dynamodb.Table (e.g. time_to_live_attribute)."""
    if sort_key is not None:
        options["sort_key"] = dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING)
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=removal_policy,
        **options,
    )
