"""A model of DynamoDB writes: counts write units per call and per partition key, and computes how long
they take on AWS from the documented limits instead of sleeping (figures.py has each figure's source).

    write units of an item    ceil(item bytes / 1 KiB), at least 1 (an item's size: attribute names +
                              values, as DynamoDB's item-size rules count them)
    one partition-key value   at most 1,000 write units/s (it lives on one partition)
    the table                 at most the configured rate, and at most 40,000 WRU/s (on-demand default)
    calls                     `latency` seconds each, `threads` in flight at once
    read units of an item     ceil(item bytes / 4 KiB), at least 1, also for an absent item; half that
                              for an eventually consistent read (the Load's pre-read for a revert is a
                              strongly consistent BatchGetItem of every key it is about to write)

ModelledDynamoDB counts the writes of a boto3-shaped client (put_item, update_item, batch_write_item);
`modelled_client(model)` is a real boto3 DynamoDB client (validation, serialization, signing: the CPU a
Load spends per request on Lambda) whose HTTP layer is replaced by the model: nothing leaves the
process, every call is answered at once with no old item (the bench's keys are unique, so that is what
ALL_OLD returns on AWS too). `modelled_wire(model)` is the same for the sender a Load's writes go
through in the functions (adapters/dynamodb_wire.DynamoDBWire: its JSON, its signing, its answer
parsing are real; its urllib3 pool is the model, which decodes the body back - CPU it counts as its
own). `WriteTally.time_for(...)` says how long the writes take under the limits.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from benchmarks.scale import figures

WRITE_UNIT_BYTES = int(figures.WRITE_UNIT_BYTES.value)
READ_UNIT_BYTES = int(figures.READ_UNIT_BYTES.value)
PARTITION_UNITS_PER_S = figures.PARTITION_WRITE_UNITS_PER_S.value
TABLE_UNITS_PER_S = figures.TABLE_WRITE_UNITS_PER_S.value


def write_units(item_bytes: int) -> int:
    """Write units one standard write of an item of `item_bytes` consumes: 1 per KiB, rounded up."""
    return max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))


def attribute_value_bytes(value: dict) -> int:
    """Size of one typed attribute value (DynamoDB Developer Guide, 'Item sizes and formats'): strings
    and binaries their UTF-8/byte length; numbers ~1 byte per 2 significant digits + 1; booleans and
    null 1; lists and maps 3 bytes + their elements (+ 1 byte each, + the names for a map)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "B":
        return len(inner)
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_value_bytes(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + attribute_value_bytes(element)
                       for name, element in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_value_bytes({kind[0]: element}) for element in inner)
    raise ValueError(f"unknown attribute type {kind}")


def item_bytes(item: dict) -> int:
    return sum(len(name.encode("utf-8")) + attribute_value_bytes(value) for name, value in item.items())


_SET_CLAUSE = re.compile(r"(#?\w+)\s*=\s*(?:if_not_exists\(\s*#?\w+\s*,\s*)?(:\w+)")


def updated_bytes(expression: str, names: dict, values: dict) -> int:
    """Bytes of the attributes an UpdateItem's SET clauses write (`#n = :v`, `#n = if_not_exists(#n, :v)`)."""
    total = 0
    for name, value in _SET_CLAUSE.findall(expression.removeprefix("SET ")):
        total += len(names.get(name, name).encode("utf-8")) + attribute_value_bytes(values[value])
    return total


def read_units(item_bytes: int | None, consistent: bool) -> float:
    """Read units one read of an item consumes: 1 per 4 KiB, rounded up, at least 1 (an absent item
    too); half for an eventually consistent read."""
    units = max(1, math.ceil((item_bytes or 0) / READ_UNIT_BYTES))
    return units if consistent else units / 2


@dataclass
class ReadTally:
    """Reads seen: calls, keys asked for, read units (the Load's pre-read of what a window replaces)."""

    calls: int = 0
    keys: int = 0
    units: float = 0.0

    def merge(self, other: ReadTally) -> None:
        self.calls += other.calls
        self.keys += other.keys
        self.units += other.units

    def state(self) -> dict:
        return {"calls": self.calls, "keys": self.keys, "units": self.units}

    @classmethod
    def from_state(cls, state: dict | None) -> ReadTally:
        return cls(**state) if state else cls()


@dataclass(frozen=True)
class WriteLimits:
    """What bounds a set of writes: the rate the writer paces itself to, the table's and a partition's
    limits, and the calls' latency over the writer's threads."""

    rate_per_s: float  # the writer's own pace (LoadSettings: write rate per Load, or per job)
    threads: int = 1
    latency_s: float = figures.PUT_ITEM_LATENCY_S.value
    table_units_per_s: float = TABLE_UNITS_PER_S
    partition_units_per_s: float = PARTITION_UNITS_PER_S


@dataclass
class WriteTally:
    """Writes seen: calls, items, write units, and write units per partition-key value."""

    calls: int = 0
    items: int = 0
    units: int = 0
    item_bytes: int = 0
    units_by_partition: Counter = field(default_factory=Counter)

    def add(self, pk: str, size: int) -> None:
        units = write_units(size)
        self.items += 1
        self.units += units
        self.item_bytes += size
        self.units_by_partition[pk] += units

    def merge(self, other: WriteTally) -> None:
        self.calls += other.calls
        self.items += other.items
        self.units += other.units
        self.item_bytes += other.item_bytes
        self.units_by_partition.update(other.units_by_partition)

    def bounds(self, limits: WriteLimits) -> dict[str, float]:
        """Seconds each limit needs for these writes on its own; the writes take the largest."""
        busiest = max(self.units_by_partition.values(), default=0)
        return {
            "paced rate": self.units / limits.rate_per_s if limits.rate_per_s else 0.0,
            "table limit": self.units / limits.table_units_per_s,
            "hottest partition key": busiest / limits.partition_units_per_s,
            "call latency": self.calls * limits.latency_s / max(1, limits.threads),
        }

    def time_for(self, limits: WriteLimits) -> float:
        return max(self.bounds(limits).values())

    def state(self) -> dict:
        return {"calls": self.calls, "items": self.items, "units": self.units, "item_bytes": self.item_bytes,
                "units_by_partition": dict(self.units_by_partition)}

    @classmethod
    def from_state(cls, state: dict) -> WriteTally:
        return cls(state["calls"], state["items"], state["units"], state["item_bytes"],
                   Counter(state["units_by_partition"]))


class ModelledDynamoDB:
    """A boto3-shaped DynamoDB client for the records table: counts what it is asked to write and to
    read, stores nothing, answers at once (no old item: the bench's keys are unique). Safe from several
    threads."""

    def __init__(self) -> None:
        self.tally = WriteTally()
        self.reads = ReadTally()
        self._lock = threading.Lock()
        self.other_calls: Counter = Counter()
        self.cpu_s = 0.0  # CPU spent in the model itself (the bench subtracts it from the step's)

    def put_item(self, *, TableName: str, Item: dict, **_: object) -> dict:
        started = time.thread_time()
        size = item_bytes(Item)
        with self._lock:
            self.tally.calls += 1
            self.tally.add(Item["pk"]["S"], size)
            self.cpu_s += time.thread_time() - started
        return {}

    def update_item(self, *, TableName: str, Key: dict, UpdateExpression: str = "",
                    ExpressionAttributeNames: dict | None = None, ExpressionAttributeValues: dict | None = None,
                    **_: object) -> dict:
        """Billed on the item's size after the update (the larger of before and after; nothing is before
        here): the key plus every attribute the SET clauses write."""
        started = time.thread_time()
        size = item_bytes(Key) + updated_bytes(UpdateExpression, ExpressionAttributeNames or {},
                                               ExpressionAttributeValues or {})
        with self._lock:
            self.tally.calls += 1
            self.tally.add(Key["pk"]["S"], size)
            self.cpu_s += time.thread_time() - started
        return {}

    def batch_write_item(self, *, RequestItems: dict, **_: object) -> dict:
        with self._lock:
            self.tally.calls += 1
            for requests in RequestItems.values():
                for request in requests:
                    item = request.get("PutRequest", {}).get("Item")
                    if item is not None:
                        self.tally.add(item["pk"]["S"], item_bytes(item))
        return {"UnprocessedItems": {}}

    def batch_get_item(self, *, RequestItems: dict, **_: object) -> dict:
        """Every key asked for is read (and billed) whether or not its item exists; none does here."""
        started = time.thread_time()
        with self._lock:
            self.reads.calls += 1
            for request in RequestItems.values():
                consistent = bool(request.get("ConsistentRead", False))
                self.reads.keys += len(request["Keys"])
                self.reads.units += sum(read_units(None, consistent) for _ in request["Keys"])
            self.cpu_s += time.thread_time() - started
        return {"Responses": {}, "UnprocessedKeys": {}}

    def __getattr__(self, name: str):
        """Other calls: counted, answered empty (the bench's load finds no old records)."""
        if name.startswith("_"):
            raise AttributeError(name)

        def call(**_: object) -> dict:
            with self._lock:
                self.other_calls[name] += 1
            return {"Items": [], "Count": 0, "Responses": {}, "UnprocessedKeys": {}}
        return call


class _Answer:
    def __init__(self, content: bytes):
        self._content = content

    def stream(self, **_: object):
        yield self._content


def _operations(model: ModelledDynamoDB) -> dict:
    """The model's answer per operation name, for both ways a Load's requests reach it (boto3, the wire);
    any other operation is the model's method of that name."""
    return {"PutItem": model.put_item, "UpdateItem": model.update_item, "BatchWriteItem": model.batch_write_item,
            "BatchGetItem": model.batch_get_item}


def modelled_client(model: ModelledDynamoDB, region: str = "us-east-1"):
    """A real boto3 DynamoDB client whose requests the model counts and answers (no network: the
    endpoint is a closed local port, should the answer ever be bypassed)."""
    import boto3
    from botocore.awsrequest import AWSResponse

    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=region)
    client = session.client("dynamodb", endpoint_url="http://127.0.0.1:9")
    operations = _operations(model)

    def observe(params: dict, event_name: str = "", **_: object) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        operations.get(operation, getattr(model, operation))(**params)

    def answer(request, event_name: str = "", **_: object):
        body = b'{"UnprocessedItems":{}}' if event_name.endswith("BatchWriteItem") else b"{}"
        headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "bench"}
        return AWSResponse(request.url, 200, headers, _Answer(body))

    client.meta.events.register("provide-client-params.dynamodb.*", observe)
    client.meta.events.register("before-send.dynamodb.*", answer)
    return client


class WireAnswer:
    """What the wire sender reads of a urllib3 response (benchmarks/load_writer.py answers with it too)."""

    status = 200

    def __init__(self, data: bytes):
        self.data = data
        self.headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "bench"}


class _ModelledHttp:
    """A urllib3 pool's urlopen for DynamoDBWire, answered by the model: the request's body is decoded
    and handed to the model's operation (that decoding is the model's CPU, not the Load's)."""

    def __init__(self, model: ModelledDynamoDB):
        self._model = model
        self._operations = _operations(model)

    def urlopen(self, method: str, url: str, body: bytes = b"", headers: dict | None = None, **_: object):
        import orjson

        started = time.thread_time()
        operation = (headers or {})["X-Amz-Target"].rsplit(".", 1)[-1]
        params = orjson.loads(body)
        with self._model._lock:
            self._model.cpu_s += time.thread_time() - started
        self._operations.get(operation, getattr(self._model, operation))(**params)
        return WireAnswer(b'{"UnprocessedItems":{}}' if operation == "BatchWriteItem" else b"{}")


def modelled_wire(model: ModelledDynamoDB, region: str = "us-east-1"):
    """The functions' DynamoDB sender (adapters/dynamodb_wire.py) whose HTTP layer is the model."""
    from botocore.credentials import Credentials

    from ingest.adapters.dynamodb_wire import DynamoDBWire

    return DynamoDBWire("http://127.0.0.1:9", region, Credentials("bench", "bench"), http=_ModelledHttp(model))
