"""The quotas table: fixed-window counters, {counter, uses, expires_at (TTL)}."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ingest.adapters.aws_errors import condition_failed, translated


@translated
class QuotaCounters:
    def __init__(self, table):
        self._table = table

    def increment_below(self, counter: str, limit: int, expires_at: int) -> int | None:
        """Add one use to the counter if it holds fewer than `limit`; the new count, or None if full."""
        try:
            item = self._table.update_item(
                Key={"counter": counter},
                UpdateExpression="SET uses = if_not_exists(uses, :zero) + :one, expires_at = :expires",
                ConditionExpression="attribute_not_exists(uses) OR uses < :limit",
                ExpressionAttributeValues={":zero": 0, ":one": 1, ":limit": limit, ":expires": expires_at},
                ReturnValues="UPDATED_NEW",
            )["Attributes"]
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return int(item["uses"])
