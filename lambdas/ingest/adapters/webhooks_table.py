"""The webhooks table: per account, its webhooks, a counter of them and their deliveries.

Partition `account_id`, sort key `item_key`:
- `webhook#<webhook id>`: url, event types, the sealed (KMS-encrypted) secret;
- `count`: how many webhooks the account has, changed in the same transaction as a webhook;
- `delivery#<webhook id>#<delivery id>`: one event for one webhook, its status and attempt log;
  delivery ids sort by time, so a query on the prefix reads a webhook's deliveries newest first.
Everything of an account is in its partition: no call can reach another account's items.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from ingest.adapters import counters
from ingest.adapters.aws_errors import condition_failed, translated
from ingest.adapters.control_tables import plain

COUNT_KEY = "count"
COUNT_ATTRIBUTE = "webhooks"
WEBHOOK_PREFIX = "webhook#"
DELIVERY_PREFIX = "delivery#"


def delivery_key(webhook_id: str, delivery_id: str) -> str:
    return f"{DELIVERY_PREFIX}{webhook_id}#{delivery_id}"


def _item(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored item as the logic sees it: plain numbers, without the table's own sort key."""
    return {key: value for key, value in plain(stored).items() if key != "item_key"}



@translated
class WebhooksTable:
    def __init__(self, table):
        self._table = table

    # -- webhooks ------------------------------------------------------------------------------------
    def add_within_limit(self, item: dict[str, Any], limit: int) -> bool:
        """Store the webhook and count it, atomically, only while the account has fewer than `limit`;
        False when the counter is at the limit or does not exist yet (start_count)."""
        key = {"account_id": item["account_id"], "item_key": COUNT_KEY}
        return counters.transact(self._table, [
            counters.count_up(self._table, key, COUNT_ATTRIBUTE, limit),
            {"Put": {"TableName": self._table.name,
                     "Item": {**item, "item_key": WEBHOOK_PREFIX + item["webhook_id"]},
                     "ConditionExpression": "attribute_not_exists(item_key)"}},
        ])

    def start_count(self, account_id: str, existing: int) -> bool:
        return counters.start(self._table, {"account_id": account_id, "item_key": COUNT_KEY,
                                            COUNT_ATTRIBUTE: existing}, "item_key")

    def remove(self, account_id: str, webhook_id: str) -> bool:
        """Delete the webhook and uncount it, atomically; False if the account has no such webhook."""
        return counters.transact(self._table, [
            {"Delete": {"TableName": self._table.name,
                        "Key": {"account_id": account_id, "item_key": WEBHOOK_PREFIX + webhook_id},
                        "ConditionExpression": "attribute_exists(item_key)"}},
            counters.count_down(self._table, {"account_id": account_id, "item_key": COUNT_KEY}, COUNT_ATTRIBUTE),
        ])

    def get_webhook(self, account_id: str, webhook_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"account_id": account_id, "item_key": WEBHOOK_PREFIX + webhook_id},
                                    ConsistentRead=True).get("Item")
        return _item(item) if item else None

    def list_webhooks(self, account_id: str) -> list[dict[str, Any]]:
        """The account's webhooks, oldest first (ids sort by creation); at most 5, so one page."""
        page = self._table.query(
            KeyConditionExpression=Key("account_id").eq(account_id) & Key("item_key").begins_with(WEBHOOK_PREFIX))
        return [_item(item) for item in page.get("Items", [])]

    # -- deliveries ----------------------------------------------------------------------------------
    def add_delivery(self, item: dict[str, Any]) -> bool:
        """Store a new delivery; False if it exists (the same event handed over twice)."""
        try:
            self._table.put_item(
                Item={**item, "item_key": delivery_key(item["webhook_id"], item["delivery_id"])},
                ConditionExpression="attribute_not_exists(item_key)")
            return True
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise

    def get_delivery(self, account_id: str, webhook_id: str, delivery_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"account_id": account_id, "item_key": delivery_key(webhook_id, delivery_id)},
                                    ConsistentRead=True).get("Item")
        return _item(item) if item else None

    def claim_attempt(self, account_id: str, webhook_id: str, delivery_id: str, attempt: int,
                      at: str) -> dict[str, Any] | None:
        """Mark attempt number `attempt` begun, only if it is the next one of a pending delivery: of two
        copies of one message (SQS delivers at least once) only one claims it. The delivery, or None."""
        try:
            answer = self._table.update_item(
                Key={"account_id": account_id, "item_key": delivery_key(webhook_id, delivery_id)},
                UpdateExpression="SET attempts = :attempt, last_attempt_at = :at REMOVE next_attempt_at",
                ConditionExpression="delivery_status = :pending AND attempts = :previous",
                ExpressionAttributeValues={":attempt": attempt, ":previous": attempt - 1, ":at": at,
                                           ":pending": "pending"},
                ReturnValues="ALL_NEW")
            return _item(answer["Attributes"])
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise

    def record_attempt(self, account_id: str, webhook_id: str, delivery_id: str, entry: dict[str, Any],
                       status: str, next_attempt_at: str | None) -> None:
        """Append the attempt to the delivery's log and set its outcome."""
        values: dict[str, Any] = {":entry": [entry], ":status": status, ":code": entry["response_code"],
                                  ":error": entry["error"]}
        update = ("SET attempt_log = list_append(if_not_exists(attempt_log, :none), :entry), "
                  "delivery_status = :status, last_response_code = :code, last_error = :error")
        values[":none"] = []
        if next_attempt_at is not None:
            update += ", next_attempt_at = :next"
            values[":next"] = next_attempt_at
        self._table.update_item(Key={"account_id": account_id, "item_key": delivery_key(webhook_id, delivery_id)},
                                UpdateExpression=update, ExpressionAttributeValues=values)

    def list_deliveries(self, account_id: str, webhook_id: str, limit: int) -> list[dict[str, Any]]:
        page = self._table.query(
            KeyConditionExpression=Key("account_id").eq(account_id)
            & Key("item_key").begins_with(delivery_key(webhook_id, "")),
            ScanIndexForward=False, Limit=limit)
        return [_item(item) for item in page.get("Items", [])]
