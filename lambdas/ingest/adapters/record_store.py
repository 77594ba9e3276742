"""The dataset store: one DynamoDB item per (account, dataset, record type, record key).

Items are written in DynamoDB's typed JSON by hand with the record kept as one JSON string:
boto3's TypeSerializer costs more per record than parsing and validating it (shared/NOTES.md).
The partition key carries a hash-derived shard so one large dataset spreads over its shard count of
partitions instead of one hot partition: the dataset's `shards` (new datasets: 64, the load workflow's
`new_dataset_shards`), LEGACY_SHARDS for datasets created before the count was recorded and for
audience member sets. Every read and write of a dataset's records takes that count.
`wire_items` builds the same item as DynamoDB's wire JSON, for a loader that sends it without boto3's
serializer.

The load workflow writes with a RecordWriter (one per Load): one UpdateItem per record with
ReturnValues=ALL_OLD, from a thread pool, paced by a TokenBucket that slows down on throttling;
docs/load_workflow.md says why per record and how the old items are counted. Load's upserts go in as
they come out of the work file (write_upserts takes anything with key, record, line and key_hash, a
frame), with no RecordWrite per record: the hot path (docs/decision_log.md, its fourth pass).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

import msgspec
import orjson
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from ingest.adapters.aws_errors import THROTTLING_CODES, error_code, translated
from ingest.errors import ServiceBusyError

BATCH_WRITE_LIMIT = 25  # items per BatchWriteItem call (DynamoDB limit)
BATCH_GET_LIMIT = 100  # keys per BatchGetItem call (DynamoDB limit)
LEGACY_SHARDS = 16  # datasets without a `shards` attribute, and audience member sets
SHARD_COUNT = LEGACY_SHARDS  # the name older callers use
NEW_DATASET_SHARDS = 64  # datasets created from now on, unless configured otherwise (new_dataset_shards)
MAX_WRITE_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 5.0


class StoreWriteError(ServiceBusyError):
    """Writes still unprocessed (throttled) after every retry: the store is busy, not broken."""


class StoreReadError(ServiceBusyError):
    """Reads still unprocessed (throttled) after every retry."""


_KEY_HASHER = hashlib.blake2b(digest_size=8)  # never updated: copied per key, cheaper than a new one
# A fresh BLAKE2b-64 hasher: key_hash(key) is int.from_bytes(digest) after update(key as UTF-8). For
# callers that inline key_hash on the hot path (logic/load/split.py line_router).
new_key_hasher = _KEY_HASHER.copy


def key_hash(key: str) -> int:
    hasher = _KEY_HASHER.copy()
    hasher.update(key.encode("utf-8"))
    return int.from_bytes(hasher.digest(), "big")


def shard_of(key: str, shards: int = LEGACY_SHARDS) -> int:
    """key_hash(key) % shards (from the hash's last byte when shards divides 256, as 16 and 64 do)."""
    hasher = _KEY_HASHER.copy()
    hasher.update(key.encode("utf-8"))
    digest = hasher.digest()
    return digest[-1] % shards if not 256 % shards else int.from_bytes(digest, "big") % shards


def partition_of(key: str, partitions: int) -> int:
    """The load partition of a record key (logic/load/split.py routes by it). It skips the hash's
    last byte, which the shard is read from: with the same low bits, every record of a partition
    would land in one shard, and a Load would write into one DynamoDB partition key (~1,000 WCU/s)
    whatever the dataset's shard count."""
    return (key_hash(key) >> 8) % partitions


def dataset_shards(dataset: Mapping | None) -> int:
    """The records-table shard count of a dataset item (absent: created before counts were recorded)."""
    return int((dataset or {}).get("shards") or LEGACY_SHARDS)


def partition(account_id: str, dataset_id: str, record_type: str, shard: int) -> str:
    return f"{account_id}#{dataset_id}#{record_type}#{shard:02d}"


@translated
class RecordStore:
    """`load_writes`: what a Load's RecordWriter sends its UpdateItem calls through, if not
    `dynamodb_client` - anything with a boto3-shaped update_item: the deployed functions pass a
    DynamoDBWire (adapters/dynamodb_wire.py, a fraction of boto3's CPU per call); tests that patch
    botocore in-process (moto's mock_aws) leave it out."""

    def __init__(self, dynamodb_client, table_name: str, sleep=time.sleep, clock=time.monotonic,
                 load_writes=None):
        self._ddb = dynamodb_client
        self._load_writes = load_writes if load_writes is not None else dynamodb_client
        self._table = table_name
        self._sleep = sleep
        self._clock = clock

    def writer(self, account_id: str, dataset_id: str, record_type: str, shards: int, job_id: str, attempt: str,
               threads: int, rate_per_second: float) -> RecordWriter:
        """A RecordWriter for one Load: its own thread pool and token bucket (close it, or use `with`)."""
        return RecordWriter(self._load_writes, self._table, RecordTarget(account_id, dataset_id, record_type, shards),
                            Stamp(job_id, attempt), threads,
                            TokenBucket(rate_per_second, clock=self._clock, sleep=self._sleep), sleep=self._sleep)

    def put_records(
        self, account_id: str, dataset_id: str, record_type: str,
        records: Iterable[tuple[str, str] | tuple[str, str, dict[str, str]]], job_id: str,
        shards: int = LEGACY_SHARDS,
    ) -> int:
        """Upsert (key, record_json) pairs; keys must be unique within the call. Returns items written.

        A pair may carry a third element, a dict of further string attributes stored in the same item
        (a profile's `applied` marker), so they are written atomically with the record.
        """
        batch: list[dict] = []
        written = 0
        for key, record_json, *extra in records:
            item = record_item(partition(account_id, dataset_id, record_type, shard_of(key, shards)), key, record_json,
                               job_id)
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

    def delete_all(self, account_id: str, dataset_id: str, record_type: str, shards: int = LEGACY_SHARDS) -> int:
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
            return sum(pool.map(clear_shard, range(shards)))

    def get(self, account_id: str, dataset_id: str, record_type: str, key: str,
            shards: int = LEGACY_SHARDS) -> str | None:
        response = self._ddb.get_item(
            TableName=self._table,
            Key={
                "pk": {"S": partition(account_id, dataset_id, record_type, shard_of(key, shards))},
                "sk": {"S": key},
            },
        )
        item = response.get("Item")
        return item["data"]["S"] if item else None

    def get_many(self, account_id: str, dataset_id: str, record_type: str,
                 keys: list[str], shards: int = LEGACY_SHARDS) -> dict[str, dict[str, str]]:
        """The stored items of these keys (unique), as {key: {string attribute: value}}; absent keys are left out.

        BatchGetItem, 100 keys a call, strongly consistent (a retried Load must see its own writes);
        UnprocessedKeys are retried with the same jittered backoff as writes.
        """
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request = {self._table: {"ConsistentRead": True, "Keys": [
                {"pk": {"S": partition(account_id, dataset_id, record_type, shard_of(key, shards))}, "sk": {"S": key}}
                for key in keys[start:start + BATCH_GET_LIMIT]
            ]}}
            for attempt in range(MAX_WRITE_ATTEMPTS):
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["sk"]["S"]] = item_attributes(item)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == MAX_WRITE_ATTEMPTS - 1:
                    raise StoreReadError("the dataset store kept throttling reads; records not read after retries")
                self._sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))  # noqa: S311 (jitter, not a secret)
        return found

    def put_back(self, account_id: str, dataset_id: str, record_type: str, shards: int, upload_id: str,
                 entries: Sequence[tuple[str, Mapping[str, str] | None]], threads: int = 16) -> list[str]:
        """A revert's writes: for each (key, item) - the item an upload replaced, or None where it created
        the key - put the item back (PutItem) or delete the record (DeleteItem), each only while the record
        still carries the upload's stamp (`job_id = upload_id`). Returns per entry, in order, "restored",
        "removed" or "kept" (the condition failed: a later load or a clear changed the record since).
        Throttled calls are retried with jittered backoff (StoreWriteError after MAX_WRITE_ATTEMPTS)."""
        pks = [{"S": partition(account_id, dataset_id, record_type, shard)} for shard in range(shards)]
        condition = {"ConditionExpression": "#j = :upload", "ExpressionAttributeNames": {"#j": "job_id"},
                     "ExpressionAttributeValues": {":upload": {"S": upload_id}}}

        def one(entry: tuple[str, Mapping[str, str] | None]) -> str:
            key, item = entry
            address = {"pk": pks[shard_of(key, shards)], "sk": {"S": key}}
            for attempt in range(MAX_WRITE_ATTEMPTS):
                try:
                    if item is None:
                        self._ddb.delete_item(TableName=self._table, Key=address, **condition)
                        return "removed"
                    self._ddb.put_item(TableName=self._table,
                                       Item={**address, **typed_item(item)},
                                       **condition)
                    return "restored"
                except ClientError as exc:
                    code = error_code(exc)
                    if code == "ConditionalCheckFailedException":
                        return "kept"
                    if code not in THROTTLING_CODES and code not in RETRYABLE_CODES:
                        raise
                self._sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))  # noqa: S311 (jitter, not a secret)
            raise StoreWriteError("the dataset store kept throttling a revert's writes")

        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(one, entries))

    def count(self, account_id: str, dataset_id: str, record_type: str, shards: int = LEGACY_SHARDS) -> int:
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
            return sum(pool.map(count_shard, range(shards)))


# -- the load workflow's writes ----------------------------------------------------------------------

@dataclass(frozen=True)
class RecordTarget:
    """Where a Load writes: one record type of one dataset, spread over the dataset's shards."""

    account_id: str
    dataset_id: str
    record_type: str
    shards: int


@dataclass(frozen=True)
class Stamp:
    """Who writes: the upload (job_id) and the Load invocation (attempt: Lambda's request id)."""

    job_id: str
    attempt: str


NO_EXTRA: Mapping[str, str] = MappingProxyType({})


# Not frozen (a frozen dataclass costs ~4x as much to build, and Load builds one per record); nothing
# changes one once built.
@dataclass(slots=True)
class RecordWrite:
    """One record to write: its key, the record as stored, its line in the file, further string
    attributes written in the same item (a profile's `applied` marker), and key_hash(key) when the
    caller has it (Split computed it: the shard is read from it instead of hashing again)."""

    key: str
    data: str
    line: int
    extra: Mapping[str, str] = NO_EXTRA
    key_hash: int | None = None


class Upsert(Protocol):
    """A record to write with no further attributes, its key hash known (logic/load/frames.Frame is one):
    RecordWriter.write_upserts takes these as they are, with no RecordWrite built per record."""

    @property
    def key(self) -> str: ...
    @property
    def record(self) -> bytes: ...  # the record JSON as stored (UTF-8)
    @property
    def line(self) -> int: ...
    @property
    def key_hash(self) -> int: ...


# Errors worth a few more tries of one write beyond the SDK's own (throttling is retried without end).
RETRYABLE_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "TransactionConflictException"})
RETRYABLE_EXCEPTIONS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)
MAX_ERROR_ATTEMPTS = 5
# created_by is set once, by the upload that created the record: a retried Load (a new attempt) can
# then tell a key its failed attempt created from one it replaced (docs/load_workflow.md).
# previous_attempt keeps the attempt that wrote the item before this write, and the condition refuses
# to apply one write (attempt, line) twice: a write whose answer was lost (a connection reset, a read
# timeout, after the table applied it) is retried, by us or the SDK, and the refusal hands back the
# item as that first try left it, which still says what the write replaced (OwnWrite).
# previous_attempt is set first: moto applies SET actions in order on the live item (DynamoDB
# evaluates every operand on the item as it was).
UPDATE_EXPRESSION = "SET #p = if_not_exists(#a, :none), #d = :d, #j = :j, #a = :a, #l = :l, #c = if_not_exists(#c, :j)"
UPDATE_NAMES = {"#d": "data", "#j": "job_id", "#a": "attempt", "#l": "line", "#c": "created_by",
                "#p": "previous_attempt"}
NOT_THIS_WRITE_AGAIN = "NOT (#a = :a AND #l = :l)"
NO_ATTEMPT = "-"  # previous_attempt of a new record, or of one written before items carried attempts
# Load's optimistic upserts (logic/load/loading.py, docs/load_workflow.md "What a Load keeps"): the
# write goes through only on a key with no item or one this upload wrote, and never twice. A key another
# writer holds fails it, and the refusal hands back that item (ReturnValuesOnConditionCheckFailure):
# the Load keeps it for a revert, then replaces it while it is still the item kept (held_by).
NEW_OR_OWN = "(attribute_not_exists(sk) OR #j = :j) AND " + NOT_THIS_WRITE_AGAIN


class TokenBucket:
    """Paces one Load's writes, shared by its threads: `rate` tokens a second, at most `burst` saved.

    take() reserves a token and sleeps off any deficit, so waiting threads queue in order. Throttling
    halves the rate (not below min_rate); each write that goes through adds back 1/1000 of the target
    rate, so a Load slowed by a hot partition returns to its pace within about a thousand writes.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, burst: float | None = None):
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.target = self.rate = float(rate)
        self.min_rate = max(1.0, rate / 64)
        self._burst = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = 1.0
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self.rate) - 1
            self._last = now
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)

    def throttled(self) -> None:
        with self._lock:
            self.rate = max(self.min_rate, self.rate / 2)

    def succeeded(self) -> None:
        if self.rate < self.target:
            with self._lock:
                self.rate = min(self.target, self.rate + self.target / 1000)


class Foreign(dict):
    """A conditional upsert's answer when the key holds another writer's item (or none, where the write
    expected one): that item, left as it is (RecordWriter.write_upserts `only_over`)."""


def held_by(item: Mapping[str, str]) -> tuple[str, dict]:
    """The condition that a key still holds `item` (a Foreign answer), and its values: the same writer
    (job_id) and the same attempt of it (or none). A dataset's records change only under its load hold
    (logic/load/hold.py), so this refuses only what should not happen; it keeps "kept before replaced"
    true if it does."""
    job = "#j = :held_j" if "job_id" in item else "attribute_not_exists(#j)"
    attempt = "#a = :held_a" if "attempt" in item else "attribute_not_exists(#a)"
    values = {f":held_{name[0]}": {"S": item[name]} for name in ("job_id", "attempt") if name in item}
    return f"{job} AND {attempt}", values


class OwnWrite(dict):
    """A write's answer when an earlier try of the same write landed and its answer was lost: the item
    as that try left it. Its previous_attempt and created_by say what the write replaced
    (logic/load/loading.py `counted`)."""


class RecordWriter:
    """One Load's writes into the records table: one UpdateItem per record with ReturnValues=ALL_OLD,
    overlapping on `threads` threads and paced by a TokenBucket.

    write(records) -> for each record, in order, the item it replaced as {attribute: string value}
    (pk and sk left out), or None for a new record; an OwnWrite when a retry finds the write already
    applied by an earlier try whose answer was lost. Throttled writes slow the bucket down and are
    retried without end (the Load's timeout bounds them): a busy table makes a load slower, never
    failed. Other transient errors get MAX_ERROR_ATTEMPTS tries; anything else is raised.

    The request is built per record from pieces made once per writer (each shard's partition key,
    the stamp's values, the expression), so the client's own serializing is the only per-record cost
    beyond the call (docs/decision_log.md has the figures).
    """

    def __init__(self, ddb, table: str, target: RecordTarget, stamp: Stamp, threads: int, bucket: TokenBucket,
                 sleep: Callable[[float], None] = time.sleep):
        self._ddb, self._table, self._bucket, self._sleep = ddb, table, bucket, sleep
        self.target = target
        self._pks = [{"S": partition(target.account_id, target.dataset_id, target.record_type, shard)}
                     for shard in range(target.shards)]
        self._shards = target.shards
        # Shared by every request of this writer (botocore reads parameters, never changes them).
        self._job_value, self._attempt_value = {"S": stamp.job_id}, {"S": stamp.attempt}
        self._none_value = {"S": NO_ATTEMPT}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="record-writer")

    def write(self, records: Sequence[RecordWrite]) -> list[dict[str, str] | None]:
        return list(self._pool.map(self._write_one, records))

    def write_upserts(self, records: Sequence[Upsert],
                      only_over: Sequence[Mapping[str, str] | None] | None = None) -> list[dict[str, str] | None]:
        """write() for records with no further attributes whose key hash is known (Load's upserts).

        only_over (one per record): the write goes through only over that item - None: only over no item
        or one of this upload's (NEW_OR_OWN); an item: only while the key still holds it (held_by). A
        write refused because the key holds another writer's item leaves it as it is and answers
        Foreign(that item), or Foreign({}) when the key has no item (any more)."""
        requests = self.upsert_requests(records)
        if only_over is not None:
            for request, item in zip(requests, only_over, strict=True):
                if item is None:
                    request["ConditionExpression"] = NEW_OR_OWN
                else:
                    request["ConditionExpression"], held = held_by(item)
                    request["ExpressionAttributeValues"].update(held)
        # A refused write's item (_send answers it as an OwnWrite) is another writer's unless it carries
        # this upload's job_id (the request's own :j).
        return [Foreign(answer) if isinstance(answer, OwnWrite)
                and answer.get("job_id") != request["ExpressionAttributeValues"][":j"]["S"] else answer
                for request, answer in zip(requests, self._pool.map(self._send, requests), strict=True)]

    def upsert_requests(self, records: Iterable[Upsert]) -> list[dict]:
        """The UpdateItem parameters of each record (what write_upserts sends)."""
        request = self._parameters
        return [request(record.key, record.record.decode(), record.line, record.key_hash) for record in records]

    def _request(self, record: RecordWrite) -> dict:
        request = self._parameters(record.key, record.data, record.line, record.key_hash)
        if record.extra:
            names, values = dict(UPDATE_NAMES), request["ExpressionAttributeValues"]
            expression = UPDATE_EXPRESSION
            for index, (name, value) in enumerate(record.extra.items()):
                names[f"#x{index}"] = name
                values[f":x{index}"] = {"S": value}
                expression += f", #x{index} = :x{index}"
            request["ExpressionAttributeNames"], request["UpdateExpression"] = names, expression
        return request

    def _parameters(self, key: str, data: str, line: int, key_hash: int | None) -> dict:
        """One record's UpdateItem parameters. Dict literals, nothing merged: this runs once per record
        (docs/decision_log.md, the hot path's fourth pass)."""
        shards = self._shards  # key_hash % shards is shard_of(key, shards), whatever the count
        return {"TableName": self._table,
                "Key": {"pk": self._pks[shard_of(key, shards) if key_hash is None else key_hash % shards],
                        "sk": {"S": key}},
                "UpdateExpression": UPDATE_EXPRESSION, "ConditionExpression": NOT_THIS_WRITE_AGAIN,
                "ExpressionAttributeNames": UPDATE_NAMES,
                "ExpressionAttributeValues": {":d": {"S": data}, ":l": {"N": str(line)}, ":j": self._job_value,
                                              ":a": self._attempt_value, ":none": self._none_value},
                "ReturnValues": "ALL_OLD", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}

    def _write_one(self, record: RecordWrite) -> dict[str, str] | None:
        return self._send(self._request(record))

    def _send(self, request: dict) -> dict[str, str] | None:
        errors = 0
        while True:
            self._bucket.take()
            try:
                response = self._ddb.update_item(**request)
            except ClientError as exc:
                code = error_code(exc)
                if code == "ConditionalCheckFailedException":  # this write, applied by an earlier try
                    return OwnWrite(item_attributes(exc.response.get("Item") or {}))
                if code in THROTTLING_CODES:
                    self._bucket.throttled()
                    continue
                if code not in RETRYABLE_CODES or errors + 1 >= MAX_ERROR_ATTEMPTS:
                    raise
            except RETRYABLE_EXCEPTIONS:
                if errors + 1 >= MAX_ERROR_ATTEMPTS:
                    raise
            else:
                self._bucket.succeeded()
                old = response.get("Attributes")
                return item_attributes(old) if old else None
            errors += 1
            self._sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**errors)))  # noqa: S311 (jitter, not a secret)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# The attributes of a record's item stored as numbers (`line`, see UPDATE_EXPRESSION); every other one
# is a string. What a load keeps for a revert holds each as text, and put_back types it back from here.
NUMBER_ATTRIBUTES = frozenset({"line"})


def item_attributes(item: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """An item's attributes but its keys, as {name: text}: what the writer answers and a revert keeps
    (numbers as their text; put_back writes NUMBER_ATTRIBUTES back as numbers)."""
    return {name: value["S"] if "S" in value else value["N"] for name, value in item.items()
            if name not in ("pk", "sk") and ("S" in value or "N" in value)}


def typed_item(attributes: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """item_attributes' inverse (but the keys): each attribute typed as the item stores it."""
    return {name: {"N" if name in NUMBER_ATTRIBUTES else "S": value} for name, value in attributes.items()}


# -- one record's item ------------------------------------------------------------------------------

def record_item(pk: str, key: str, record_json: str, job_id: str) -> dict:
    """The item of one record, in the typed form boto3 takes (`wire_items` builds the same as wire JSON)."""
    return {"pk": {"S": pk}, "sk": {"S": key}, "data": {"S": record_json}, "job_id": {"S": job_id}}


def wire_items(account_id: str, dataset_id: str, record_type: str, job_id: str,
               shards: int = LEGACY_SHARDS) -> Callable[[str, bytes], bytes]:
    """item(key, record_json) -> the item `put_records` writes for one record of this job, as
    DynamoDB's wire JSON (bytes): what goes in a PutItem's "Item" or a BatchWriteItem's "PutRequest".
    record_json is the record as stored (a checked line: valid UTF-8).

    Built by joining pieces made once per job (each shard's partition key, the job attribute): per
    record, the key's shard and two JSON strings. This runs once per line on the hot path.
    """
    if 256 % shards:
        raise ValueError("wire_items reads the shard from the hash's last byte: shards must divide 256")
    heads = [b'{"pk":{"S":' + orjson.dumps(partition(account_id, dataset_id, record_type, shard)) + b'},"sk":{"S":'
             for shard in range(shards)]
    tail = b'},"job_id":{"S":' + orjson.dumps(job_id) + b"}}"
    new_hasher, key_string, record_string, join = _KEY_HASHER.copy, _SHORT_JSON_STRING, orjson.dumps, b"".join

    def item(key: str, record_json: bytes) -> bytes:
        hasher = new_hasher()  # shard_of(key), inline
        hasher.update(key.encode())
        return join((heads[hasher.digest()[-1] % shards], key_string(key), b'},"data":{"S":',
                     record_string(record_json.decode()), tail))

    return item


# A str as a JSON string: msgspec writes a short one (a key) in half the time orjson.dumps takes, and
# orjson.dumps a ~450-byte line in 0.7x msgspec's time (docs/decision_log.md, 2026-11-30, hot path).
_SHORT_JSON_STRING = msgspec.json.Encoder().encode
