"""The imports table: import API keys (by key, secret stored only as a SHA-256 hash) and the
per-account target datasets of the compatible APIs (a Localytics org or app, an analytics dataset type).

Items, one partition key `pk`:
  key#<key_id>                      {key_id, account_id, org_id, app_ids, secret_hash, label, created_at, revoked_at?}
  target#<account>#<family>#<name>  {target_of, dataset_id, created_at}
Only key items carry account_id, so the by-account index lists keys and never targets.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ingest.adapters.aws_errors import condition_failed, translated
from ingest.adapters.control_tables import plain

# The index of an account's keys (infra/imports.py IMPORT_KEYS_BY_ACCOUNT_INDEX names it too).
IMPORT_KEYS_BY_ACCOUNT_INDEX = "by_account"
KEY_PREFIX = "key#"
TARGET_PREFIX = "target#"



@translated
class ImportKeysTable:
    def __init__(self, table):
        self._table = table

    # -- keys
    def put_key(self, item: dict[str, Any]) -> None:
        self._table.put_item(Item={"pk": KEY_PREFIX + item["key_id"], **item},
                             ConditionExpression=Attr("pk").not_exists())

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": KEY_PREFIX + key_id}).get("Item")
        return plain(item) if item else None

    def list_for_account(self, account_id: str) -> list[dict[str, Any]]:
        """Every key of the account, revoked ones included (from the index: no secret hashes)."""
        query: dict[str, Any] = {"IndexName": IMPORT_KEYS_BY_ACCOUNT_INDEX,
                                 "KeyConditionExpression": Key("account_id").eq(account_id)}
        items: list[dict[str, Any]] = []
        while True:
            page = self._table.query(**query)
            items.extend(plain(item) for item in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def revoke(self, account_id: str, key_id: str, at: str) -> bool:
        """Mark the account's active key revoked; False if it is not the account's active key."""
        try:
            self._table.update_item(
                Key={"pk": KEY_PREFIX + key_id},
                UpdateExpression="SET revoked_at = :at",
                ConditionExpression="account_id = :account AND attribute_not_exists(revoked_at)",
                ExpressionAttributeValues={":at": at, ":account": account_id},
            )
            return True
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise

    # -- target datasets
    @staticmethod
    def _target_key(account_id: str, family: str, name: str) -> dict[str, str]:
        return {"pk": f"{TARGET_PREFIX}{account_id}#{family}#{name}"}

    def get_target(self, account_id: str, family: str, name: str) -> str | None:
        item = self._table.get_item(Key=self._target_key(account_id, family, name)).get("Item")
        return item["dataset_id"] if item else None

    def claim_target(self, account_id: str, family: str, name: str, dataset_id: str, at: str) -> str:
        """Map (family, name) to dataset_id unless it is mapped already; the dataset id that holds."""
        key = self._target_key(account_id, family, name)
        try:
            self._table.put_item(Item={**key, "target_of": account_id, "dataset_id": dataset_id, "created_at": at},
                                 ConditionExpression=Attr("pk").not_exists())
            return dataset_id
        except ClientError as exc:
            if not condition_failed(exc):
                raise
        return self._table.get_item(Key=key, ConsistentRead=True)["Item"]["dataset_id"]
