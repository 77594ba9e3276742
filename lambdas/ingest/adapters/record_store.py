"""The dataset store: one DynamoDB item per (account, dataset, record type, record key).

Items are written in DynamoDB's typed JSON by hand with the record kept as one JSON string:
boto3's TypeSerializer costs more per record than parsing and validating it (shared/NOTES.md).
The partition key carries a hash-derived shard so one large dataset spreads over SHARD_COUNT
partitions instead of one hot partition. `wire_items` builds the same item as DynamoDB's wire JSON,
for a loader that sends it without boto3's serializer.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import msgspec
import orjson

from ingest.adapters.aws_errors import translated
from ingest.errors import ServiceBusyError

BATCH_WRITE_LIMIT = 25  # items per BatchWriteItem call (DynamoDB limit)
BATCH_GET_LIMIT = 100  # keys per BatchGetItem call (DynamoDB limit)
SHARD_COUNT = 16
MAX_WRITE_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 5.0


class StoreWriteError(ServiceBusyError):
    """Writes still unprocessed (throttled) after every retry: the store is busy, not broken."""


class StoreReadError(ServiceBusyError):
    """Reads still unprocessed (throttled) after every retry."""


_KEY_HASHER = hashlib.blake2b(digest_size=8)  # never updated: copied per key, cheaper than a new one


def key_hash(key: str) -> int:
    hasher = _KEY_HASHER.copy()
    hasher.update(key.encode("utf-8"))
    return int.from_bytes(hasher.digest(), "big")


def shard_of(key: str) -> int:
    """key_hash(key) % SHARD_COUNT, from the hash's last byte (SHARD_COUNT divides 256)."""
    hasher = _KEY_HASHER.copy()
    hasher.update(key.encode("utf-8"))
    return hasher.digest()[-1] % SHARD_COUNT


if 256 % SHARD_COUNT:
    raise ValueError("shard_of reads the shard from the hash's last byte: SHARD_COUNT must divide 256")


def partition(account_id: str, dataset_id: str, record_type: str, shard: int) -> str:
    return f"{account_id}#{dataset_id}#{record_type}#{shard:02d}"


@translated
class RecordStore:
    def __init__(self, dynamodb_client, table_name: str, sleep=time.sleep):
        self._ddb = dynamodb_client
        self._table = table_name
        self._sleep = sleep

    def put_records(
        self, account_id: str, dataset_id: str, record_type: str,
        records: Iterable[tuple[str, str] | tuple[str, str, dict[str, str]]], job_id: str,
    ) -> int:
        """Upsert (key, record_json) pairs; keys must be unique within the call. Returns items written.

        A pair may carry a third element, a dict of further string attributes stored in the same item
        (a profile's `applied` marker), so they are written atomically with the record.
        """
        batch: list[dict] = []
        written = 0
        for key, record_json, *extra in records:
            item = record_item(partition(account_id, dataset_id, record_type, shard_of(key)), key, record_json, job_id)
            for name, value in (extra[0] if extra else {}).items():
                item[name] = {"S": value}
            batch.append({"PutRequest": {"Item": item}})
            if len(batch) == BATCH_WRITE_LIMIT:
                self._write_batch(batch)
                written += len(batch)
                batch = []
        if batch:
            self._write_batch(batch)
            written += len(batch)
        return written

    def _write_batch(self, requests: list[dict]) -> None:
        pending = {self._table: requests}
        for attempt in range(MAX_WRITE_ATTEMPTS):
            response = self._ddb.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            if attempt == MAX_WRITE_ATTEMPTS - 1:
                break
            # Full jitter backoff: throttled writes are retried, never dropped.
            self._sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))  # noqa: S311 (jitter, not a secret)
        left = sum(len(items) for items in pending.values())
        raise StoreWriteError(f"the dataset store kept throttling writes; {left} records not written after retries")

    def delete_all(self, account_id: str, dataset_id: str, record_type: str) -> int:
        """Delete every record of one type in a dataset (all shards, in parallel); returns how many."""

        def clear_shard(shard: int) -> int:
            pk = partition(account_id, dataset_id, record_type, shard)
            query = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": pk}},
                "ProjectionExpression": "sk",
            }
            deleted = 0
            while True:
                page = self._ddb.query(**query)
                keys = [item["sk"]["S"] for item in page.get("Items", [])]
                for start in range(0, len(keys), BATCH_WRITE_LIMIT):
                    self._write_batch([
                        {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": key}}}}
                        for key in keys[start:start + BATCH_WRITE_LIMIT]
                    ])
                deleted += len(keys)
                if "LastEvaluatedKey" not in page:
                    return deleted
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        with ThreadPoolExecutor(max_workers=4) as pool:
            return sum(pool.map(clear_shard, range(SHARD_COUNT)))

    def get(self, account_id: str, dataset_id: str, record_type: str, key: str) -> str | None:
        response = self._ddb.get_item(
            TableName=self._table,
            Key={
                "pk": {"S": partition(account_id, dataset_id, record_type, shard_of(key))},
                "sk": {"S": key},
            },
        )
        item = response.get("Item")
        return item["data"]["S"] if item else None

    def get_many(self, account_id: str, dataset_id: str, record_type: str,
                 keys: list[str]) -> dict[str, dict[str, str]]:
        """The stored items of these keys (unique), as {key: {string attribute: value}}; absent keys are left out.

        BatchGetItem, 100 keys a call, strongly consistent (a retried Load must see its own writes);
        UnprocessedKeys are retried with the same jittered backoff as writes.
        """
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request = {self._table: {"ConsistentRead": True, "Keys": [
                {"pk": {"S": partition(account_id, dataset_id, record_type, shard_of(key))}, "sk": {"S": key}}
                for key in keys[start:start + BATCH_GET_LIMIT]
            ]}}
            for attempt in range(MAX_WRITE_ATTEMPTS):
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["sk"]["S"]] = {name: value["S"] for name, value in item.items()
                                              if name not in ("pk", "sk") and "S" in value}
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == MAX_WRITE_ATTEMPTS - 1:
                    raise StoreReadError("the dataset store kept throttling reads; records not read after retries")
                self._sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))  # noqa: S311 (jitter, not a secret)
        return found

    def count(self, account_id: str, dataset_id: str, record_type: str) -> int:
        """Distinct records of one type in a dataset: a COUNT query per shard, in parallel."""

        def count_shard(shard: int) -> int:
            total = 0
            query = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": partition(account_id, dataset_id, record_type, shard)}},
                "Select": "COUNT",
            }
            while True:
                page = self._ddb.query(**query)
                total += page["Count"]
                if "LastEvaluatedKey" not in page:
                    return total
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            return sum(pool.map(count_shard, range(SHARD_COUNT)))


# -- one record's item ------------------------------------------------------------------------------

def record_item(pk: str, key: str, record_json: str, job_id: str) -> dict:
    """The item of one record, in the typed form boto3 takes (`wire_items` builds the same as wire JSON)."""
    return {"pk": {"S": pk}, "sk": {"S": key}, "data": {"S": record_json}, "job_id": {"S": job_id}}


def wire_items(account_id: str, dataset_id: str, record_type: str, job_id: str) -> Callable[[str, bytes], bytes]:
    """item(key, record_json) -> the item `put_records` writes for one record of this job, as
    DynamoDB's wire JSON (bytes): what goes in a PutItem's "Item" or a BatchWriteItem's "PutRequest".
    record_json is the record as stored (a checked line: valid UTF-8).

    Built by joining pieces made once per job (each shard's partition key, the job attribute): per
    record, the key's shard and two JSON strings. This runs once per line on the hot path.
    """
    heads = [b'{"pk":{"S":' + orjson.dumps(partition(account_id, dataset_id, record_type, shard)) + b'},"sk":{"S":'
             for shard in range(SHARD_COUNT)]
    tail = b'},"job_id":{"S":' + orjson.dumps(job_id) + b"}}"
    new_hasher, key_string, record_string, join = _KEY_HASHER.copy, _SHORT_JSON_STRING, orjson.dumps, b"".join

    def item(key: str, record_json: bytes) -> bytes:
        hasher = new_hasher()  # shard_of(key), inline
        hasher.update(key.encode())
        return join((heads[hasher.digest()[-1] % SHARD_COUNT], key_string(key), b'},"data":{"S":',
                     record_string(record_json.decode()), tail))

    return item


# A str as a JSON string: msgspec writes a short one (a key) in half the time orjson.dumps takes, and
# orjson.dumps a ~450-byte line in 0.7x msgspec's time (docs/decision_log.md, 2026-11-30, hot path).
_SHORT_JSON_STRING = msgspec.json.Encoder().encode
