"""Per-account counters changed in the same DynamoDB transaction as the item they count.

TokensTable (at most 5 active tokens) and AudienceStore (at most 500 audiences) keep one counter item
per account beside their items; these build the transaction parts both use.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ingest.adapters.aws_errors import cancelled_by_condition, condition_failed, translate


def transact(table, items: list[dict[str, Any]]) -> bool:
    """Run a write transaction; False if DynamoDB cancelled it because a condition failed (a
    cancellation for another reason, throttling say, is that reason's domain error)."""
    try:
        table.meta.client.transact_write_items(TransactItems=items)
        return True
    except ClientError as exc:
        if cancelled_by_condition(exc):
            return False
        raise translate(exc) from exc


def count_up(table, counter_key: dict[str, str], attribute: str, limit: int) -> dict[str, Any]:
    """The transaction part that adds one, only while the counter is below limit (and exists)."""
    return {"Update": {
        "TableName": table.name,
        "Key": counter_key,
        "UpdateExpression": f"SET {attribute} = {attribute} + :one",
        "ConditionExpression": f"{attribute} < :limit",
        "ExpressionAttributeValues": {":one": 1, ":limit": limit},
    }}


def count_down(table, counter_key: dict[str, str], attribute: str) -> dict[str, Any]:
    """The transaction part that takes one away, only while the counter is above zero (and exists)."""
    return {"Update": {
        "TableName": table.name,
        "Key": counter_key,
        "UpdateExpression": f"SET {attribute} = {attribute} - :one",
        "ConditionExpression": f"{attribute} > :zero",
        "ExpressionAttributeValues": {":one": 1, ":zero": 0},
    }}


def start(table, counter_item: dict[str, Any], key_attribute: str) -> bool:
    """Create the counter item unless it exists; True if this call created it."""
    try:
        table.put_item(Item=counter_item, ConditionExpression=f"attribute_not_exists({key_attribute})")
        return True
    except ClientError as exc:
        if condition_failed(exc):
            return False
        raise
