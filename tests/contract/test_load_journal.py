"""How a Load keeps what it replaces for a revert (logic/load/loading.py, logic/revert.py), on moto's
records table through RecordStore and a real boto3 client: the DynamoDB calls a Load makes, and what a
revert then puts back."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest

from ingest.adapters.record_store import Foreign, OwnWrite, RecordStore, partition, shard_of
from ingest.logic.load.loading import load_partition
from tests.unit.load_world import ACCOUNT, DATASET, World, customer
from tests.unit.test_revert import run_revert


class CountingClient:
    """The boto3 client, counting each operation it is asked for."""

    def __init__(self, client):
        self._client, self.calls = client, Counter()

    def __getattr__(self, name: str):
        self.calls[name] += 1
        return getattr(self._client, name)


@pytest.fixture
def world(aws, new_table):
    world = World(window=3, partitions=1)
    client = CountingClient(aws.client("dynamodb"))
    world.records = RecordStore(client, new_table("RecordsTable").name, sleep=lambda _: None)
    world.ctx = replace(world.ctx, records=world.records)
    world.client = client
    return world


def values(world: World, *keys: str) -> dict[str, str | None]:
    return {key: (world.stored(key) or {}).get("v") for key in keys}


def test_a_load_into_an_empty_dataset_makes_no_read_and_its_revert_removes_what_it_wrote(world):
    outcome = world.upload([customer(number, f"k{number}", v="A") for number in range(1, 8)])
    assert world.client.calls["batch_get_item"] == 0
    assert world.client.calls["update_item"] == 7  # one conditional write a record, nothing refused
    assert world.dataset["record_counts"] == {"customer_record": 7}
    revert_job = run_revert(world, outcome.upload_id)
    assert revert_job["stats"] == {"restored": 0, "removed": 7, "kept": 0}
    assert set(values(world, "k1", "k7").values()) == {None}


def test_a_load_over_another_uploads_keys_then_a_revert_gives_them_back_exactly(world):
    world.upload([customer(1, "k1", v="A1"), customer(2, "k2", v="A2"), customer(3, "k3", v="A3")])
    before = {key: world.records.get_many(ACCOUNT, DATASET, "customer_record", [key], 64)[key] for key in ("k1", "k2")}
    world.client.calls.clear()
    # Window 1 (optimistic): k1 and k2 refuse the write and hand back A's items, kept, then replaced.
    job = world.split([customer(1, "k1", v="B1"), customer(2, "k4", v="B4"), customer(3, "k2", v="B2"),
                       customer(4, "k5", v="B5")])
    [result] = world.load(job)
    assert (result.created, result.replaced) == (2, 2)
    assert world.client.calls["update_item"] == 3 + 2 + 1  # window 1: 3 tries, 2 replaced; window 2: k5
    assert world.client.calls["batch_get_item"] == 1  # window 2 reads first: 2 of 3 keys were found
    world.finalize(job)
    assert values(world, "k1", "k2", "k4", "k5") == {"k1": "B1", "k2": "B2", "k4": "B4", "k5": "B5"}
    revert_job = run_revert(world, job.upload_id)
    assert revert_job["stats"] == {"restored": 2, "removed": 2, "kept": 0}
    after = world.records.get_many(ACCOUNT, DATASET, "customer_record", ["k1", "k2", "k3", "k4", "k5"], 64)
    assert {key: after[key] for key in ("k1", "k2")} == before  # every attribute as it was
    raw = world.client.get_item(TableName=world.records._table, Key={  # and typed as it was: line a number
        "pk": {"S": partition(ACCOUNT, DATASET, "customer_record", shard_of("k1", 64))}, "sk": {"S": "k1"}})["Item"]
    assert raw["line"] == {"N": before["k1"]["line"]} and raw["data"] == {"S": before["k1"]["data"]}
    assert set(after) == {"k1", "k2", "k3"}
    assert world.dataset["record_counts"] == {"customer_record": 3}


def test_a_retried_load_counts_exactly_and_still_reverts_to_what_was_there(world):
    world.upload([customer(1, "k1", v="A1"), customer(2, "k2", v="A2")])
    job = world.split([customer(1, "k1", v="B1"), customer(2, "k3", v="B3"), customer(3, "k2", v="B2")])
    [task] = world.tasks(job)
    # Attempt 1 dies after its optimistic writes, having kept k1 and k2 but replaced only k1.
    writer_factory = world.records.writer

    def dying_writer(*args, **kwargs):
        writer = writer_factory(*args, **kwargs)
        write_upserts = writer.write_upserts

        def write_then_die(records, only_over=None):
            if only_over is not None and any(over is not None for over in only_over):
                write_upserts(records[:1], only_over[:1])
                raise RuntimeError("injected: the Load died")
            return write_upserts(records, only_over)
        writer.write_upserts = write_then_die
        return writer

    world.records.writer = dying_writer
    with pytest.raises(RuntimeError, match="injected"):
        load_partition(world.ctx, job, task, "attempt-1")
    del world.records.writer
    result = load_partition(world.ctx, job, task, "attempt-2")
    assert (result.created, result.replaced) == (1, 2)
    world.finalize(job)
    assert world.dataset["record_counts"] == {"customer_record": 3}
    revert_job = run_revert(world, job.upload_id)
    assert revert_job["stats"] == {"restored": 2, "removed": 1, "kept": 0}
    assert values(world, "k1", "k2", "k3") == {"k1": "A1", "k2": "A2", "k3": None}


def test_conditional_upserts_hand_back_what_another_writer_holds_and_replace_it_only_while_it_is_there(world):
    store = world.records
    with store.writer(ACCOUNT, DATASET, "customer_record", 64, "U0", "a0", 2, 1000) as earlier:
        earlier.write_upserts(frames("held", "moved"))
    with store.writer(ACCOUNT, DATASET, "customer_record", 64, "U1", "a1", 2, 1000) as writer:
        found = writer.write_upserts(frames("held", "new", "moved"), only_over=[None, None, None])
        assert [type(answer) for answer in found] == [Foreign, type(None), Foreign]
        assert found[0]["job_id"] == "U0"
        # "moved" changes before U1 replaces it: the write over the item kept is refused.
        with store.writer(ACCOUNT, DATASET, "customer_record", 64, "U9", "a9", 1, 1000) as other:
            other.write_upserts(frames("moved"))
        replaced = writer.write_upserts(frames("held", "moved"), only_over=[found[0], found[2]])
        assert replaced[0]["job_id"] == "U0" and not isinstance(replaced[0], Foreign)
        assert isinstance(replaced[1], Foreign) and replaced[1]["job_id"] == "U9"
        # The same write again (its answer lost) is this upload's own, not another writer's.
        again = writer.write_upserts(frames("held"), only_over=[None])
        assert isinstance(again[0], OwnWrite) and not isinstance(again[0], Foreign)


def frames(*keys: str):
    from ingest.adapters.record_store import key_hash
    from ingest.logic.load.frames import Frame

    return [Frame(line=1, key=key, record=json.dumps({"v": key}).encode(), raw=b"", key_hash=key_hash(key))
            for key in keys]
