"""Minting tokens on the local stack through the same logic and adapters used against AWS."""

from __future__ import annotations

import boto3

from ingest.adapters.control_tables import TokensTable
from ingest.adapters.usage_plans import UsagePlanKeys, usage_plan_name
from ingest.logic.tokens import mint_token
from local_stack.deployer import STACK_NAME


def local_usage_plan_keys() -> UsagePlanKeys:
    """The local stack's per-token usage plan, in moto (the process's AWS_ENDPOINT_URL)."""
    return UsagePlanKeys(boto3.client("apigateway"), usage_plan_name(STACK_NAME))


def mint_local_token(tokens_table: str, account_id: str, label: str = "") -> str:
    return mint_token(TokensTable(boto3.resource("dynamodb").Table(tokens_table)), local_usage_plan_keys(),
                      account_id, label)
