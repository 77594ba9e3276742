"""RecordStore against a fake DynamoDB client: item layout, batching, throttling retries, counting."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest

from ingest.adapters import record_store
from ingest.adapters.record_store import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    BATCH_WRITE_LIMIT,
    MAX_WRITE_ATTEMPTS,
    SHARD_COUNT,
    RecordStore,
    StoreWriteError,
    key_hash,
    partition,
    shard_of,
)

TABLE = "records"


class FakeDynamoDB:
    """Just enough of the low-level client: batch_write_item, get_item and a COUNT query.

    `throttle` lists, per batch_write_item call, how many of the requested items come back
    unprocessed (the last ones of the request). Calls beyond the list process everything.
    """

    def __init__(self, throttle: list[int] | None = None, page_size: int = 1000):
        self.items: dict[tuple[str, str], dict] = {}
        self.throttle = list(throttle or [])
        self.batch_calls: list[list[dict]] = []
        self.page_size = page_size
        self.query_calls = 0
        self._lock = threading.Lock()

    def batch_write_item(self, RequestItems):
        (table, requests), = RequestItems.items()
        assert table == TABLE
        assert len(requests) <= BATCH_WRITE_LIMIT
        self.batch_calls.append(list(requests))
        unprocessed = self.throttle.pop(0) if self.throttle else 0
        done = requests[:len(requests) - unprocessed]
        for request in done:
            item = request["PutRequest"]["Item"]
            self.items[(item["pk"]["S"], item["sk"]["S"])] = item
        left = requests[len(done):]
        return {"UnprocessedItems": {table: left} if left else {}}

    def get_item(self, TableName, Key):
        assert TableName == TABLE
        item = self.items.get((Key["pk"]["S"], Key["sk"]["S"]))
        return {"Item": item} if item else {}

    def query(self, TableName, KeyConditionExpression, ExpressionAttributeValues, Select, ExclusiveStartKey=None):
        assert (TableName, KeyConditionExpression, Select) == (TABLE, "pk = :pk", "COUNT")
        with self._lock:
            self.query_calls += 1
        pk = ExpressionAttributeValues[":pk"]["S"]
        keys = sorted(sk for (p, sk) in self.items if p == pk)
        start = 0 if ExclusiveStartKey is None else keys.index(ExclusiveStartKey["sk"]["S"]) + 1
        page = keys[start:start + self.page_size]
        result = {"Count": len(page)}
        if start + self.page_size < len(keys):
            result["LastEvaluatedKey"] = {"pk": {"S": pk}, "sk": {"S": page[-1]}}
        return result


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def store(client, sleeps=None) -> RecordStore:
    return RecordStore(client, TABLE, sleep=sleeps if sleeps is not None else Sleeps())


def records(count: int, prefix: str = "k"):
    return [(f"{prefix}{i}", f'{{"n":{i}}}') for i in range(count)]


# -- layout ---------------------------------------------------------------------------------------

def test_item_layout_and_round_trip():
    client = FakeDynamoDB()
    rs = store(client)
    assert rs.put_records("acme", "ds1", "customer_record", [("cust-1", '{"a":1}')], job_id="job-9") == 1
    ((pk, sk), item), = client.items.items()
    assert pk == f"acme#ds1#customer_record#{shard_of('cust-1'):02d}"
    assert sk == "cust-1"
    assert item["data"] == {"S": '{"a":1}'}
    assert item["job_id"] == {"S": "job-9"}
    assert rs.get("acme", "ds1", "customer_record", "cust-1") == '{"a":1}'


def test_get_is_scoped_to_account_dataset_and_type():
    client = FakeDynamoDB()
    rs = store(client)
    rs.put_records("acme", "ds1", "customer_record", [("k", "{}")], job_id="j")
    assert rs.get("acme", "ds1", "customer_record", "missing") is None
    assert rs.get("other", "ds1", "customer_record", "k") is None
    assert rs.get("acme", "ds2", "customer_record", "k") is None
    assert rs.get("acme", "ds1", "purchase_event", "k") is None


def test_sharding_is_stable_and_spread():
    assert partition("a", "d", "t", 3) == "a#d#t#03"
    assert shard_of("same key") == shard_of("same key") == key_hash("same key") % SHARD_COUNT
    shards = {shard_of(f"key-{i}") for i in range(500)}
    assert shards == set(range(SHARD_COUNT))


# -- batching -------------------------------------------------------------------------------------

def test_put_records_batches_by_25():
    client = FakeDynamoDB()
    assert store(client).put_records("acme", "ds1", "t", records(60), job_id="j") == 60
    assert [len(call) for call in client.batch_calls] == [25, 25, 10]
    assert len(client.items) == 60


def test_put_records_with_nothing_makes_no_calls():
    client = FakeDynamoDB()
    assert store(client).put_records("acme", "ds1", "t", [], job_id="j") == 0
    assert client.batch_calls == []


def test_put_records_overwrites_existing_key():
    client = FakeDynamoDB()
    rs = store(client)
    rs.put_records("acme", "ds1", "t", [("k", '{"v":1}')], job_id="j1")
    rs.put_records("acme", "ds1", "t", [("k", '{"v":2}')], job_id="j2")
    assert rs.get("acme", "ds1", "t", "k") == '{"v":2}'
    assert len(client.items) == 1


# -- throttling -----------------------------------------------------------------------------------

def test_unprocessed_items_are_retried_until_written():
    client = FakeDynamoDB(throttle=[10, 4, 1])
    sleeps = Sleeps()
    assert store(client, sleeps).put_records("acme", "ds1", "t", records(25), job_id="j") == 25
    assert len(client.items) == 25, "no record is dropped"
    assert [len(call) for call in client.batch_calls] == [25, 10, 4, 1]
    # Each retry sends exactly what the previous call left unprocessed.
    assert client.batch_calls[1] == client.batch_calls[0][15:]
    assert client.batch_calls[2] == client.batch_calls[1][6:]
    assert len(sleeps) == 3


def test_backoff_sleeps_are_jittered_within_an_exponential_cap(monkeypatch):
    bounds = []

    def fake_uniform(low, high):
        bounds.append((low, high))
        return high

    monkeypatch.setattr(record_store.random, "uniform", fake_uniform)
    client = FakeDynamoDB(throttle=[1] * (MAX_WRITE_ATTEMPTS - 1))
    sleeps = Sleeps()
    store(client, sleeps).put_records("acme", "ds1", "t", records(3), job_id="j")
    expected = [min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** attempt)
                for attempt in range(MAX_WRITE_ATTEMPTS - 1)]
    assert bounds == [(0, high) for high in expected]
    assert sleeps == expected
    assert max(sleeps) == BACKOFF_CAP_SECONDS
    assert len(client.items) == 3


def test_real_jitter_stays_within_bounds():
    client = FakeDynamoDB(throttle=[1, 1, 1, 1])
    sleeps = Sleeps()
    store(client, sleeps).put_records("acme", "ds1", "t", records(2), job_id="j")
    assert len(sleeps) == 4
    for attempt, slept in enumerate(sleeps):
        assert 0 <= slept <= BACKOFF_BASE_SECONDS * 2 ** attempt


def test_persistent_throttling_raises_after_max_attempts():
    client = FakeDynamoDB(throttle=[2] * 100)
    sleeps = Sleeps()
    with pytest.raises(StoreWriteError, match="2 records not written after retries"):
        store(client, sleeps).put_records("acme", "ds1", "t", records(5), job_id="j")
    assert len(client.batch_calls) == MAX_WRITE_ATTEMPTS
    assert len(sleeps) >= MAX_WRITE_ATTEMPTS - 1, "every retry waits first"


def test_throttling_in_a_later_batch_does_not_lose_earlier_records():
    client = FakeDynamoDB(throttle=[0, 5])
    store(client).put_records("acme", "ds1", "t", records(40), job_id="j")
    assert len(client.items) == 40
    assert [len(call) for call in client.batch_calls] == [25, 15, 5]


# -- count ----------------------------------------------------------------------------------------

def test_count_sums_every_shard_and_follows_pages():
    client = FakeDynamoDB(page_size=3)
    rs = store(client)
    rs.put_records("acme", "ds1", "customer_record", records(200), job_id="j")
    rs.put_records("acme", "ds1", "purchase_event", records(7), job_id="j")
    rs.put_records("acme", "ds2", "customer_record", records(5), job_id="j")
    assert rs.count("acme", "ds1", "customer_record") == 200
    assert rs.count("acme", "ds1", "purchase_event") == 7
    assert rs.count("acme", "ds2", "customer_record") == 5
    assert rs.count("other", "ds1", "customer_record") == 0


def test_count_of_empty_dataset_queries_each_shard_once():
    client = FakeDynamoDB()
    assert store(client).count("acme", "ds1", "t") == 0
    assert client.query_calls == SHARD_COUNT


# -- the item as DynamoDB's wire JSON ----------------------------------------------------------------

class _Captured:
    def __init__(self):
        self.bodies: list[bytes] = []

    def stream(self, **_):
        yield b'{"UnprocessedItems":{}}'


def _capturing_client():
    """A real botocore DynamoDB client whose HTTP layer is replaced: it keeps each request body (the
    wire JSON botocore serialized) and answers that everything was written. Nothing leaves the process."""
    import boto3
    from botocore.awsrequest import AWSResponse

    captured = _Captured()
    client = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                   region_name="ap-southeast-2").client("dynamodb", endpoint_url="http://127.0.0.1:9")

    def send(request, **_):
        captured.bodies.append(request.body)
        return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"}, captured)

    client.meta.events.register("before-send.dynamodb.BatchWriteItem", send)
    return client, captured


WIRE_RECORDS = [
    ("customer_id:a", '{"link": {"customer_id": "a"}}'),
    ('quote"and\\slash', '{"q": "say \\"hi\\"", "path": "C:\\\\x", "tab":\t1}'),
    ("email:zoë@example.com", '{"name": "Zoë 😀", "esc": "\\u00e9\\n", "ctl": "\\u0001"}'),
    ("k" * 300, '{"big": ' + '"' + "x" * 5000 + '"}'),
]


def test_wire_items_are_the_items_put_records_sends():
    client, captured = _capturing_client()
    RecordStore(client, TABLE).put_records("acct-1", "ds-1", "customer_record", WIRE_RECORDS, job_id="job-1")
    sent = [request["PutRequest"]["Item"] for request in json.loads(captured.bodies[0])["RequestItems"][TABLE]]
    item = record_store.wire_items("acct-1", "ds-1", "customer_record", "job-1")
    built = [json.loads(item(key, text.encode())) for key, text in WIRE_RECORDS]
    assert built == sent
    assert built[1]["data"]["S"] == WIRE_RECORDS[1][1]  # the record as sent, whatever it holds


def test_shard_of_is_the_key_hash_modulo_the_shard_count():
    for key in ["a", "customer_id:a", "email:zoë@example.com", "x" * 1000] + [f"p-{i}" for i in range(500)]:
        assert shard_of(key) == key_hash(key) % SHARD_COUNT
    # The layout of data already stored: an 8-byte BLAKE2b of the key, read big-endian.
    assert key_hash("customer_id:a") == int.from_bytes(hashlib.blake2b(b"customer_id:a", digest_size=8).digest(), "big")


def test_each_load_partition_spreads_its_writes_over_every_shard_of_a_dataset():
    """Partitions and shards come from different bits of the key's hash: one Load (one partition)
    writes into all the dataset's shards, not one DynamoDB partition key."""
    from ingest.adapters.record_store import NEW_DATASET_SHARDS, partition_of, shard_of

    keys = [f"customer_id:c{i}" for i in range(20_000)]
    for partitions, shards in ((64, NEW_DATASET_SHARDS), (64, 16), (16, 16), (4, 64)):
        in_partition_zero = [key for key in keys if partition_of(key, partitions) == 0]
        assert {shard_of(key, shards) for key in in_partition_zero} == set(range(shards)), (partitions, shards)
