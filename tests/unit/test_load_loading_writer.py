"""RecordWriter and TokenBucket (adapters/record_store.py): the request each record becomes, pacing,
and what throttling and other errors do, against a stub client and a fake clock (no time passes)."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from ingest.adapters.record_store import (
    MAX_ERROR_ATTEMPTS,
    RecordStore,
    RecordWrite,
    TokenBucket,
    key_hash,
    partition,
    shard_of,
)
from ingest.logic.load import frames


class Clock:
    """A clock that moves only when someone sleeps."""

    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")


class StubClient:
    """update_item answers from `script` (per key: a list of exceptions to raise first), then the old item."""

    def __init__(self, script: dict[str, list[Exception]] | None = None, old: dict[str, dict] | None = None):
        self.script = {key: list(errors) for key, errors in (script or {}).items()}
        self.old = old or {}
        self.requests: list[dict] = []
        self._lock = threading.Lock()

    def update_item(self, **request):
        key = request["Key"]["sk"]["S"]
        with self._lock:
            self.requests.append(request)
            pending = self.script.get(key)
            if pending:
                raise pending.pop(0)
        old = self.old.get(key)
        return {"Attributes": old} if old else {}


def writer(client, clock, shards=64, threads=4, rate=1000.0):
    store = RecordStore(client, "records", sleep=clock.sleep, clock=clock)
    return store.writer("acme", "ds1", "customer_record", shards, "U1", "a1", threads, rate)


def test_each_record_is_one_update_with_all_old_that_keeps_created_by_and_uses_the_datasets_shards():
    client, clock = StubClient(old={"b": {"pk": {"S": "x"}, "sk": {"S": "b"}, "data": {"S": "{}"},
                                          "job_id": {"S": "U0"}, "created_by": {"S": "U0"},
                                          "line": {"N": "3"}}}), Clock()
    with writer(client, clock) as records:
        priors = records.write([RecordWrite("a", '{"n":1}', 7), RecordWrite("b", '{"n":2}', 9, {"applied": "m"})])
    assert priors == [None, {"data": "{}", "job_id": "U0", "created_by": "U0", "line": "3"}]
    first, second = sorted(client.requests, key=lambda request: request["Key"]["sk"]["S"])
    assert first["Key"] == {"pk": {"S": partition("acme", "ds1", "customer_record", shard_of("a", 64))},
                            "sk": {"S": "a"}}
    assert first["ReturnValues"] == "ALL_OLD"
    assert "#c = if_not_exists(#c, :j)" in first["UpdateExpression"]
    assert first["ExpressionAttributeValues"] == {":d": {"S": '{"n":1}'}, ":l": {"N": "7"}, ":j": {"S": "U1"},
                                                  ":a": {"S": "a1"}, ":none": {"S": "-"}}
    # The same write (attempt, line) is never applied twice; a refusal answers the item as it is.
    assert first["ConditionExpression"] == "NOT (#a = :a AND #l = :l)"
    assert first["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert second["ExpressionAttributeNames"]["#x0"] == "applied"
    assert second["ExpressionAttributeValues"][":x0"] == {"S": "m"}


def test_throttling_slows_the_bucket_and_retries_the_record_however_often():
    throttles = [error("ProvisionedThroughputExceededException")] * 12 + [error("ThrottlingException")] * 3
    client, clock = StubClient({"a": throttles}), Clock()
    with writer(client, clock, threads=1, rate=640) as records:
        assert records.write([RecordWrite("a", "{}", 1)]) == [None]
        bucket = records._bucket
    assert len(client.requests) == 16  # 15 throttled, then written
    assert bucket.rate == bucket.min_rate + bucket.target / 1000  # halved down to the floor, then one success
    assert bucket.min_rate == 10


def test_other_transient_errors_get_a_bounded_number_of_tries():
    client, clock = StubClient({"a": [error("InternalServerError")] * 2,
                                "b": [error("ServiceUnavailable")] * 99}), Clock()
    with writer(client, clock, threads=1) as records:
        assert records.write([RecordWrite("a", "{}", 1)]) == [None]
        with pytest.raises(ClientError, match="ServiceUnavailable"):
            records.write([RecordWrite("b", "{}", 2)])
    assert sum(request["Key"]["sk"]["S"] == "b" for request in client.requests) == MAX_ERROR_ATTEMPTS


def test_an_error_that_is_not_transient_is_raised_at_once():
    client, clock = StubClient({"a": [error("ValidationException")]}), Clock()
    with writer(client, clock, threads=1) as records, pytest.raises(ClientError, match="ValidationException"):
        records.write([RecordWrite("a", "{}", 1)])
    assert len(client.requests) == 1


def test_writes_come_back_in_the_order_given_from_several_threads():
    old = {f"k{n}": {"data": {"S": str(n)}} for n in range(0, 200, 3)}
    client, clock = StubClient(old=old), Clock()
    with writer(client, clock, threads=8, rate=10_000) as records:
        priors = records.write([RecordWrite(f"k{n}", "{}", n) for n in range(200)])
    assert priors == [{"data": str(n)} if n % 3 == 0 else None for n in range(200)]


def test_the_token_bucket_paces_to_its_rate_after_its_burst():
    clock = Clock()
    bucket = TokenBucket(100, clock=clock, sleep=clock.sleep, burst=10)
    for _ in range(1010):
        bucket.take()
    # One token to start with, the rest at 100 a second: ~10 s for 1,010 takes.
    assert clock.now == pytest.approx(10.09, abs=0.02)


def test_the_token_bucket_halves_on_throttling_and_climbs_back_slowly():
    bucket = TokenBucket(1000, clock=Clock(), sleep=lambda _: None)
    bucket.throttled()
    bucket.throttled()
    assert bucket.rate == 250
    for _ in range(500):
        bucket.succeeded()
    assert bucket.rate == 750
    for _ in range(1000):
        bucket.succeeded()
    assert bucket.rate == 1000
    for _ in range(20):
        bucket.throttled()
    assert bucket.rate == bucket.min_rate == 1000 / 64


def test_a_key_hash_carried_from_split_gives_the_shard_hashing_the_key_would():
    keys = [f"customer_id:c{number}" for number in range(2000)]
    for shards in (16, 64, 7):  # 7: a count that does not divide 256, read from the whole hash
        carried, hashed = StubClient(), StubClient()
        with writer(carried, Clock(), shards=shards) as records:
            records.write([RecordWrite(key, "{}", 1, key_hash=key_hash(key)) for key in keys])
        with writer(hashed, Clock(), shards=shards) as records:
            records.write([RecordWrite(key, "{}", 1) for key in keys])
        pks = {request["Key"]["sk"]["S"]: request["Key"]["pk"]["S"] for request in carried.requests}
        assert pks == {request["Key"]["sk"]["S"]: request["Key"]["pk"]["S"] for request in hashed.requests}
        assert pks == {key: partition("acme", "ds1", "customer_record", shard_of(key, shards)) for key in keys}
        assert len(set(pks.values())) == shards


def test_load_upserts_send_what_a_record_write_of_the_same_line_sends():
    """write_upserts (Load's upserts, straight from frames) and write (RecordWrite) make the same
    UpdateItem: the record decoded, its line, the shard from the carried hash, the same stamp."""
    keys = ["customer_id:c1", "email:ann@example.com", 'customer_id:"tab\there"', "mobile:ü61400"]
    decoded = [frames.decode(frames.encode(line, key, b'{"n": "%d"}' % line).rstrip(b"\n"))
               for line, key in enumerate(keys, 3)]
    for shards in (64, 7):
        upserted, written = StubClient(old={"email:ann@example.com": {"data": {"S": "{}"}, "job_id": {"S": "U0"}}}), \
            StubClient(old={"email:ann@example.com": {"data": {"S": "{}"}, "job_id": {"S": "U0"}}})
        with writer(upserted, Clock(), shards=shards) as records:
            upsert_priors = records.write_upserts(decoded)
        with writer(written, Clock(), shards=shards) as records:
            write_priors = records.write([RecordWrite(frame.key, frame.record.decode(), frame.line)
                                          for frame in decoded])
        assert upsert_priors == write_priors == [None, {"data": "{}", "job_id": "U0"}, None, None]
        assert upserted.requests and sorted(upserted.requests, key=repr) == sorted(written.requests, key=repr)
        assert {request["Key"]["pk"]["S"] for request in upserted.requests} == {
            partition("acme", "ds1", "customer_record", shard_of(key, shards)) for key in keys}
