"""The audiences table and membership reads (logic/audiences.py says what an audience is).

One item per audience, key (account_id, audience_id). Beside them, one counter item per account,
{account_id, audience_id: "#count", audiences: n}, changed only in the same transaction as an
audience, bounds the account's audiences. Audience ids are ULIDs, which never start with '#', so the
counter can never be taken for an audience (and listing skips it).

Members live in the records table (adapters/record_store.py layout), one member set per load.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ingest.adapters import counters, load_hold
from ingest.adapters.aws_errors import cancelled_by_condition, condition_failed, translated
from ingest.adapters.control_tables import plain
from ingest.adapters.record_store import partition, shard_of

COUNTER_SORT_KEY = "#count"
COUNT_ATTRIBUTE = "audiences"


def _failed_condition(exc: ClientError) -> bool:
    return condition_failed(exc) or cancelled_by_condition(exc)


@translated
class AudienceStore:
    def __init__(self, table):
        self._table = table

    def _counter_key(self, account_id: str) -> dict[str, str]:
        return {"account_id": account_id, "audience_id": COUNTER_SORT_KEY}

    # -- the per-account limit ---------------------------------------------------------------
    def add_within_limit(self, item: dict[str, Any], limit: int) -> bool:
        """Store the audience and count it, atomically, only while the account has fewer than `limit`.

        False when the counter is at the limit or does not exist yet (see start_count).
        """
        return counters.transact(self._table, [
            counters.count_up(self._table, self._counter_key(item["account_id"]), COUNT_ATTRIBUTE, limit),
            {"Put": {"TableName": self._table.name, "Item": item,
                     "ConditionExpression": "attribute_not_exists(audience_id)"}},
        ])

    def start_count(self, account_id: str, existing: int) -> bool:
        """Create the account's counter at `existing` unless it exists; True if this call created it."""
        return counters.start(self._table, {**self._counter_key(account_id), COUNT_ATTRIBUTE: existing},
                              "audience_id")

    def remove(self, account_id: str, audience_id: str) -> bool:
        """Delete the audience item and uncount it, atomically; False if it was not there (or the
        counter does not exist yet)."""
        return counters.transact(self._table, [
            {"Delete": {
                "TableName": self._table.name,
                "Key": {"account_id": account_id, "audience_id": audience_id},
                "ConditionExpression": "attribute_exists(audience_id)",
            }},
            counters.count_down(self._table, self._counter_key(account_id), COUNT_ATTRIBUTE),
        ])

    # -- reads -------------------------------------------------------------------------------
    def get(self, account_id: str, audience_id: str) -> dict[str, Any] | None:
        """Strongly consistent: a reader that saw a replace's new version never sees the old one again."""
        if audience_id == COUNTER_SORT_KEY:
            return None
        item = self._table.get_item(Key={"account_id": account_id, "audience_id": audience_id},
                                    ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def list_for_account(self, account_id: str) -> list[dict[str, Any]]:
        """Every audience of the account (at most the limit, so no paging for callers)."""
        query: dict[str, Any] = {"KeyConditionExpression": Key("account_id").eq(account_id)}
        items: list[dict[str, Any]] = []
        while True:
            page = self._table.query(**query)
            items.extend(plain(item) for item in page.get("Items", []) if item["audience_id"] != COUNTER_SORT_KEY)
            if not page.get("LastEvaluatedKey"):
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- changes -----------------------------------------------------------------------------
    def rename(self, account_id: str, audience_id: str, name: str, at: str) -> dict[str, Any] | None:
        """The renamed audience, or None if it does not exist."""
        if audience_id == COUNTER_SORT_KEY:
            return None  # the account's counter item is no audience (it exists, so the condition would pass)
        try:
            item = self._table.update_item(
                Key={"account_id": account_id, "audience_id": audience_id},
                UpdateExpression="SET #name = :name, updated_at = :at",
                ConditionExpression=Attr("audience_id").exists(),
                ExpressionAttributeNames={"#name": "name"},
                ExpressionAttributeValues={":name": name, ":at": at},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if _failed_condition(exc):
                return None
            raise
        return plain(item)

    def hold_for_load(self, account_id: str, audience_id: str, job_id: str, at: str,
                      stale_holder: str | None = None) -> bool:
        """Make job_id the one load replacing the audience's members; False while another holds it.
        Same contract as DatasetsTable.hold_for_load (the load workflow's per-dataset load hold, logic/load/hold.py)."""
        return load_hold.hold(self._table, {"account_id": account_id, "audience_id": audience_id}, job_id, at,
                              stale_holder)

    def release_load(self, account_id: str, audience_id: str, job_id: str) -> None:
        load_hold.release(self._table, {"account_id": account_id, "audience_id": audience_id}, job_id)

    def flip(self, account_id: str, audience_id: str, load_id: str, previous_load: str,
             record_count: int, at: str) -> bool:
        """Make load_id's member set the audience's members, in one conditional write: version + 1,
        its record_count, and the previous set noted in retired_loads for deletion. Only the load
        holding the audience can flip, and only from the set it read as current. False otherwise."""
        expression = "SET members_load = :load, record_count = :count, updated_at = :at, version = version + :one"
        values: dict[str, Any] = {":load": load_id, ":count": record_count, ":at": at, ":one": 1,
                                  ":previous": previous_load}
        if previous_load:
            expression += " ADD retired_loads :retired"
            values[":retired"] = {previous_load}
        try:
            self._table.update_item(
                Key={"account_id": account_id, "audience_id": audience_id},
                UpdateExpression=expression,
                ConditionExpression="loading_job = :load AND members_load = :previous",
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise

    def forget_retired(self, account_id: str, audience_id: str, load_id: str) -> None:
        """The retired member set load_id has been deleted; best effort (the audience may be gone)."""
        try:
            self._table.update_item(
                Key={"account_id": account_id, "audience_id": audience_id},
                UpdateExpression="DELETE retired_loads :done",
                ConditionExpression=Attr("audience_id").exists(),
                ExpressionAttributeValues={":done": {load_id}},
            )
        except ClientError as exc:
            if not _failed_condition(exc):
                raise


@translated
class AudienceMembers:
    """Membership reads on the records table: one strongly consistent GetItem per question, so a
    member set that a flip has made current is read whole (never a replica that lags behind)."""

    def __init__(self, dynamodb_client, records_table: str):
        self._ddb = dynamodb_client
        self._table = records_table

    def contains(self, account_id: str, member_set: str, record_type: str, customer_id: str) -> bool:
        response = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": partition(account_id, member_set, record_type, shard_of(customer_id))},
                 "sk": {"S": customer_id}},
            ProjectionExpression="sk",
            ConsistentRead=True,
        )
        return "Item" in response
