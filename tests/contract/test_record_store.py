"""FakeRecordStore, FakeProfileRecordStore and FakeMemberStore against RecordStore and AudienceMembers
(adapters/record_store.py, adapters/audience_store.py) on moto's records table."""

from __future__ import annotations

import inspect
import json

import pytest
from botocore.exceptions import ConnectionClosedError

from ingest.adapters.audience_store import AudienceMembers
from ingest.adapters.record_store import BATCH_WRITE_LIMIT, RecordStore, Stamp
from tests.contract.signatures import assert_same_methods
from tests.unit.fakes import FakeMemberStore, FakeProfileRecordStore, FakeRecordStore

ADAPTER = "adapter"


@pytest.fixture
def records_table(new_table):
    return new_table("RecordsTable")


def make_store(kind, aws, records_table):
    return RecordStore(aws.client("dynamodb"), records_table.name) if kind == ADAPTER else kind()


@pytest.fixture(params=[FakeRecordStore, FakeProfileRecordStore, FakeMemberStore, ADAPTER],
                ids=["FakeRecordStore", "FakeProfileRecordStore", "FakeMemberStore", "adapter"])
def store(request, aws, records_table):
    return make_store(request.param, aws, records_table)


def record(key: str, **fields) -> tuple[str, str]:
    return key, json.dumps({"link": {"customer_id": key}, **fields})


def test_the_fakes_offer_the_adapters_methods_with_their_parameters():
    assert_same_methods(FakeRecordStore, RecordStore, not_faked={"delete_all"})
    assert_same_methods(FakeProfileRecordStore, RecordStore, not_faked={"delete_all"})
    assert_same_methods(FakeMemberStore, RecordStore, fake_only={"contains"})
    assert (list(inspect.signature(FakeMemberStore.contains).parameters)
            == list(inspect.signature(AudienceMembers.contains).parameters))


def test_records_are_upserted_by_key_and_read_back_in_their_own_dataset_and_type(store):
    assert store.put_records("acme", "ds1", "customer_record", [record("a", n=1), record("b", n=1)], "job-1") == 2
    assert store.put_records("acme", "ds1", "customer_record", [record("a", n=2)], "job-2") == 1
    assert json.loads(store.get("acme", "ds1", "customer_record", "a")) == {"link": {"customer_id": "a"}, "n": 2}
    assert json.loads(store.get("acme", "ds1", "customer_record", "b"))["n"] == 1
    for other in (("other", "ds1", "customer_record"), ("acme", "ds2", "customer_record"), ("acme", "ds1", "purchase")):
        assert store.get(*other, "a") is None
    assert store.get("acme", "ds1", "customer_record", "c") is None


def test_count_is_the_distinct_records_of_one_type_in_one_dataset(store):
    many = [record(f"key-{index:03d}") for index in range(2 * BATCH_WRITE_LIMIT + 3)]  # several batches
    assert store.put_records("acme", "ds1", "customer_record", many, "job-1") == len(many)
    store.put_records("acme", "ds1", "customer_record", many[:5], "job-2")  # upserts, not new records
    store.put_records("acme", "ds1", "purchase", [record("p")], "job-3")
    store.put_records("acme", "ds2", "customer_record", [record("q")], "job-4")
    assert store.count("acme", "ds1", "customer_record") == len(many)
    assert store.count("acme", "ds1", "purchase") == 1
    assert store.count("acme", "ds3", "customer_record") == 0


@pytest.mark.parametrize("kind", [FakeRecordStore, FakeProfileRecordStore, ADAPTER],
                         ids=["FakeRecordStore", "FakeProfileRecordStore", "adapter"])
def test_get_many_answers_the_stored_items_with_their_extra_attributes(kind, aws, records_table):
    store = make_store(kind, aws, records_table)
    key, data = record("a", n=1)
    store.put_records("acme", "ds1", "profile_changes", [(key, data, {"applied": "job-1#7"}), record("b")], "job-1")
    found = store.get_many("acme", "ds1", "profile_changes", ["a", "b", "missing"])
    assert found == {"a": {"data": data, "job_id": "job-1", "applied": "job-1#7"},
                     "b": {"data": record("b")[1], "job_id": "job-1"}}
    assert store.get_many("acme", "ds2", "profile_changes", ["a"]) == {}


@pytest.mark.parametrize("kind", [FakeMemberStore, ADAPTER], ids=["FakeMemberStore", "adapter"])
def test_delete_all_removes_one_type_of_one_dataset_and_says_how_many(kind, aws, records_table):
    store = make_store(kind, aws, records_table)
    store.put_records("acme", "ds1", "customer_record", [record(f"k{index}") for index in range(30)], "job-1")
    store.put_records("acme", "ds1", "purchase", [record("p")], "job-2")
    assert store.delete_all("acme", "ds1", "customer_record") == 30
    assert store.count("acme", "ds1", "customer_record") == 0
    assert store.get("acme", "ds1", "purchase", "p") is not None
    assert store.delete_all("acme", "ds1", "customer_record") == 0


@pytest.mark.parametrize("kind", [FakeMemberStore, ADAPTER], ids=["FakeMemberStore", "adapter"])
def test_membership_is_a_key_of_the_member_set(kind, aws, records_table):
    store = make_store(kind, aws, records_table)
    members = store if kind is FakeMemberStore else AudienceMembers(aws.client("dynamodb"), records_table.name)
    store.put_records("acme", "load-1", "audience_member", [record("cust-1"), record("cust-2")], "job-1")
    assert members.contains("acme", "load-1", "audience_member", "cust-1")
    assert not members.contains("acme", "load-1", "audience_member", "cust-3")
    assert not members.contains("acme", "load-2", "audience_member", "cust-1")
    assert not members.contains("other", "load-1", "audience_member", "cust-1")


# -- the load workflow's writer ----------------------------------------------------------------------
def test_the_fake_writer_offers_the_writers_methods():
    from ingest.adapters.record_store import RecordWriter
    from tests.unit.fakes import FakeRecordWriter

    # upsert_requests: what write_upserts sends, for the benchmark; the logic calls write_upserts.
    assert_same_methods(FakeRecordWriter, RecordWriter, not_faked={"upsert_requests"})


def writes(*keys: str, line: int = 1, **extra: str):
    from ingest.adapters.record_store import RecordWrite

    return [RecordWrite(key, record(key, line=line)[1], line, extra) for key in keys]


def test_a_writer_answers_what_each_write_replaced_and_keeps_who_created_the_record(store):
    with store.writer("acme", "ds1", "customer_record", 64, "U1", "a1", 4, 1000) as first:
        assert first.write(writes("a", "b")) == [None, None]
    with store.writer("acme", "ds1", "customer_record", 64, "U2", "a7", 4, 1000) as second:
        priors = second.write(writes("b", "c", line=5, applied="marker"))
    assert priors[1] is None
    assert {name: priors[0][name] for name in ("job_id", "attempt", "created_by")} == {
        "job_id": "U1", "attempt": "a1", "created_by": "U1"}
    assert json.loads(priors[0]["data"])["line"] == 1
    assert json.loads(store.get("acme", "ds1", "customer_record", "b", 64))["line"] == 5
    with store.writer("acme", "ds1", "customer_record", 64, "U2", "a8", 1, 1000) as retry:
        [prior] = retry.write(writes("b", line=6))
    # b was created by U1: a later upload's writes, retried or not, never take that over.
    assert (prior["job_id"], prior["attempt"], prior["created_by"], prior["applied"]) == ("U2", "a7", "U1", "marker")


def test_records_written_with_a_shard_count_are_read_with_that_count(store):
    keys = [f"key-{index:02d}" for index in range(20)]
    with store.writer("acme", "ds1", "customer_record", 64, "U1", "a1", 4, 1000) as writer:
        writer.write(writes(*keys))
    assert store.count("acme", "ds1", "customer_record", 64) == 20
    assert store.count("acme", "ds1", "customer_record") < 20  # the 16-shard layout looks elsewhere
    assert all(store.get("acme", "ds1", "customer_record", key, 64) for key in keys)


@pytest.mark.parametrize("kind", [FakeRecordStore, FakeProfileRecordStore, ADAPTER],
                         ids=["FakeRecordStore", "FakeProfileRecordStore", "adapter"])
def test_get_many_answers_the_writers_stamps(kind, aws, records_table):
    store = make_store(kind, aws, records_table)
    with store.writer("acme", "ds1", "profile", 64, "U1", "a1", 2, 1000) as writer:
        writer.write(writes("a", applied="m"))
    found = store.get_many("acme", "ds1", "profile", ["a", "z"], 64)
    assert set(found) == {"a"}
    assert {name: found["a"][name] for name in ("job_id", "attempt", "created_by", "applied")} == {
        "job_id": "U1", "attempt": "a1", "created_by": "U1", "applied": "m"}


class LosingAnswers:
    """A DynamoDB client whose UpdateItem answers are lost after the table applied the write (as a
    connection reset or a read timeout loses them), for the next `lose` calls."""

    def __init__(self, client, lose: int):
        self._client, self.lose = client, lose

    def update_item(self, **request):
        response = self._client.update_item(**request)
        if self.lose:
            self.lose -= 1
            raise ConnectionClosedError(endpoint_url="http://local-dynamodb")
        return response

    def __getattr__(self, name: str):
        return getattr(self._client, name)


def test_a_write_retried_after_its_answer_was_lost_still_counts_what_it_replaced(aws, records_table):
    from ingest.adapters.record_store import OwnWrite
    from ingest.logic.load.loading import counted

    store = RecordStore(aws.client("dynamodb"), records_table.name)
    with store.writer("acme", "ds1", "customer_record", 64, "U0", "a0", 1, 1000) as earlier:
        earlier.write(writes("b"))  # another upload's record
    client = LosingAnswers(aws.client("dynamodb"), lose=0)
    lossy = RecordStore(client, records_table.name, sleep=lambda _: None)
    stamp = Stamp("U1", "a1")

    def write_losing_the_answer(attempt: str, key: str, line: int):
        client.lose = 1
        with lossy.writer("acme", "ds1", "customer_record", 64, "U1", attempt, 1, 1000) as writer:
            [prior] = writer.write(writes(key, line=line))
        assert client.lose == 0 and isinstance(prior, OwnWrite)  # the retry found the first try's write
        return prior

    new, replaced = write_losing_the_answer("a1", "a", 1), write_losing_the_answer("a1", "b", 2)
    assert (counted(new, stamp), counted(replaced, stamp)) == ((1, 0), (0, 1))
    # A later line of a key this attempt already wrote (and counted) counts nothing, answer lost or not.
    assert counted(write_losing_the_answer("a1", "a", 9), stamp) == (0, 0)
    # A retried Load (a new attempt) counts the key its failed attempt created as created, once.
    assert counted(write_losing_the_answer("a2", "a", 1), Stamp("U1", "a2")) == (1, 0)
    assert json.loads(store.get("acme", "ds1", "customer_record", "a", 64))["line"] == 1
# -- a revert's writes -------------------------------------------------------------------------------
def test_put_back_restores_or_removes_only_records_that_still_carry_the_uploads_stamp(store):
    with store.writer("acme", "ds1", "customer_record", 64, "A", "a1", 4, 1000) as load_a:
        load_a.write(writes("kept-by-later-load", "restored", "cleared"))
    before = store.get_many("acme", "ds1", "customer_record", ["restored"], 64)["restored"]
    with store.writer("acme", "ds1", "customer_record", 64, "B", "b1", 4, 1000) as load_b:
        load_b.write(writes("kept-by-later-load", "restored", "created", "created-then-changed", line=9))
    with store.writer("acme", "ds1", "customer_record", 64, "C", "c1", 4, 1000) as load_c:
        load_c.write(writes("kept-by-later-load", "created-then-changed", line=12))
    outcomes = store.put_back("acme", "ds1", "customer_record", 64, "B", [
        ("kept-by-later-load", {"data": "old", "job_id": "A"}), ("restored", before), ("created", None),
        ("created-then-changed", None), ("never-there", None)])
    assert outcomes == ["kept", "restored", "removed", "kept", "kept"]
    assert store.get_many("acme", "ds1", "customer_record", ["restored"], 64) == {"restored": before}
    assert store.get("acme", "ds1", "customer_record", "created", 64) is None
    assert store.get("acme", "ds1", "customer_record", "created-then-changed", 64) == record(
        "created-then-changed", line=12)[1]
    assert store.get("acme", "ds1", "customer_record", "kept-by-later-load", 64) == record(
        "kept-by-later-load", line=12)[1]
    assert store.count("acme", "ds1", "customer_record", 64) == 4
