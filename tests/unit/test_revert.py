"""Undo a load (logic/revert.py) on the in-memory fakes: what loads keep, and the revert job's steps."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from ingest import clock
from ingest.clock import parse_iso
from ingest.errors import ConflictError, NotFoundError
from ingest.logic import revert
from ingest.logic.clear import clear_partition
from ingest.logic.load import loading
from ingest.logic.load.loading import load_partition
from ingest.logic.uploads import upload_view
from tests.unit.load_world import ACCOUNT, CREATED_AT, DATASET, World, customer

WITHIN = parse_iso(CREATED_AT) + timedelta(days=1)


class Starter:
    def __init__(self):
        self.started: list[tuple[str, dict]] = []

    def start(self, name: str, payload: dict) -> str:
        self.started.append((name, payload))
        return f"arn:aws:states:local:execution:revert:{name}"

    def execution_arn(self, name: str) -> str:
        return f"arn:aws:states:local:execution:revert:{name}"


def run_revert(world: World, upload_id: str, now=WITHIN) -> dict:
    """POST /v1/uploads/{id}/revert, then the workflow's steps as Step Functions would run them."""
    starter = Starter()
    view = revert.request_revert(world.jobs, starter, ACCOUNT, upload_id, now)
    [(_, payload)] = starter.started
    planned = revert.plan(world.ctx, payload)
    job = {name: planned[name] for name in ("account_id", "job_id", "dataset_id", "upload_id", "record_type",
                                            "shards")}
    results = [revert.revert_partition(world.ctx, job, item) for item in planned["partitions"]]
    revert.finish(world.ctx, {**planned, "results": results})
    return world.jobs.get(ACCOUNT, view.id) or {}


A = [customer(1, "k1", v="A1"), customer(2, "k2", v="A2"), customer(3, "k3", v="A3")]
B = [customer(1, "k1", v="B1"), customer(2, "k4", v="B4"), customer(3, "k2", v="B2"), customer(4, "k5", v="B5"),
     customer(5, "k1", v="B1-last")]


def shown(item: dict):
    """The upload's view (the fields World's job items leave out filled in)."""
    return upload_view({"filename": "f.ndjson", "updated_at": CREATED_AT, "destination": {
        "destination_type": "dataset_load", "dataset_id": DATASET, "record_type": "customer_record"}, **item}, None, 0)


def values(world: World) -> dict[str, str | None]:
    return {key: (world.stored(key) or {}).get("v") for key in ("k1", "k2", "k3", "k4", "k5")}


def test_a_revert_puts_back_what_the_load_replaced_and_removes_what_it_created():
    world = World(window=2, partitions=2)
    world.upload(A)
    job_b = world.split(B)
    world.load(job_b)
    world.finalize(job_b)
    assert world.dataset["record_counts"] == {"customer_record": 5}
    revert_job = run_revert(world, job_b.upload_id)
    assert revert_job["status"] == "Completed"
    assert revert_job["stats"] == {"restored": 2, "removed": 2, "kept": 0}
    assert values(world) == {"k1": "A1", "k2": "A2", "k3": "A3", "k4": None, "k5": None}
    assert world.dataset["record_counts"] == {"customer_record": 3}
    assert world.holder() is None  # the hold is released
    upload = world.jobs.get(ACCOUNT, job_b.upload_id) or {}
    assert upload["reverted_by"] == revert_job["job_id"]
    view = shown(upload)
    assert view.reverted_by == revert_job["job_id"] and view.revertible_until is None


def test_keys_a_later_load_or_a_clear_changed_are_kept():
    world = World(window=2, partitions=2)
    world.upload(A)
    job_b = world.split(B)
    world.load(job_b)
    world.finalize(job_b)
    world.upload([customer(1, "k2", v="C2"), customer(2, "k4", v="C4")])  # C, after B
    revert_job = run_revert(world, job_b.upload_id)
    assert revert_job["stats"] == {"restored": 1, "removed": 1, "kept": 2}
    assert values(world) == {"k1": "A1", "k2": "C2", "k3": "A3", "k4": "C4", "k5": None}
    assert world.dataset["record_counts"] == {"customer_record": 4}
    assert world.records.count(ACCOUNT, DATASET, "customer_record", 64) == 4


def test_after_a_clear_every_key_is_kept_and_nothing_comes_back():
    world = World(window=2, partitions=2)
    world.upload(A)
    outcome = world.upload(B)
    upload_id = outcome.upload_id
    clear_partition(world.records, {"account_id": ACCOUNT, "dataset_id": DATASET},
                    {"record_type": "customer_record", "shards": 64})
    world.datasets.items[ACCOUNT, DATASET]["record_counts"] = {}
    revert_job = run_revert(world, upload_id)
    assert revert_job["stats"] == {"restored": 0, "removed": 0, "kept": 4}
    assert values(world) == dict.fromkeys(("k1", "k2", "k3", "k4", "k5"))
    assert world.dataset["record_counts"] == {"customer_record": 0}


@pytest.mark.parametrize("fail_after", [0, 1, 2, 3, 4])
def test_a_load_retried_after_dying_mid_window_still_reverts_to_the_values_before_it(fail_after):
    world = World(window=3, partitions=1)
    world.upload(A)
    job_b = world.split(B)
    [task] = world.tasks(job_b)
    world.records.fail_after_writes = fail_after
    with pytest.raises(RuntimeError, match="injected"):
        load_partition(world.ctx, job_b, task, "attempt-1")
    world.records.fail_after_writes = None
    result = load_partition(world.ctx, job_b, task, "attempt-2")
    assert (result.created, result.replaced) == (2, 2)  # k4, k5; k1, k2: exact whatever attempt 1 wrote
    world.finalize(job_b)
    revert_job = run_revert(world, job_b.upload_id)
    assert revert_job["stats"] == {"restored": 2, "removed": 2, "kept": 0}
    assert values(world) == {"k1": "A1", "k2": "A2", "k3": "A3", "k4": None, "k5": None}
    assert world.dataset["record_counts"] == {"customer_record": 3}


def test_what_a_load_keeps_grows_with_the_upload_not_the_dataset():
    world = World(window=50, partitions=2)
    world.upload([customer(number, f"old-{number}", v="x") for number in range(1, 201)])
    outcome = world.upload([customer(1, "old-1", v="y"), customer(2, "new-1", v="y")])
    kept = [orjson.loads(line) for key in world.objects.list_keys(revert.journal_prefix(ACCOUNT, outcome.upload_id))
            for line in world.objects.read(key).splitlines()]
    assert {entry["key"] for entry in kept} == {"new-1", "old-1"}
    assert len(kept) <= 3  # each key as created, and the one found (another writer's) as it was
    put_back = dict(entry for partition in range(2)
                    for entry in revert.journal_entries(world.objects, ACCOUNT, outcome.upload_id, partition))
    assert {key: item and orjson.loads(item["data"])["v"] for key, item in put_back.items()} == {
        "new-1": None, "old-1": "x"}


def test_profile_changes_revert_to_the_profiles_before_the_upload():
    world = World(window=2, partitions=2)

    def change(number: int, customer_id: str, attr: str, by: int):
        from tests.unit.load_world import Line

        return Line(number, customer_id, orjson.dumps(
            {"customer_id": customer_id, "changes": [{"op": "increment", "attr": attr, "value": by}]}))

    world.upload([change(1, "c1", "n", 1)], record_type="profile_changes")
    outcome = world.upload([change(1, "c1", "n", 10), change(2, "c2", "n", 5), change(3, "c1", "n", 100)],
                           record_type="profile_changes")

    def profile(key: str):
        data = world.records.get(ACCOUNT, DATASET, "profile", key, 64)
        return orjson.loads(data) if data else None

    assert profile("c1") == {"n": 111}
    revert_job = run_revert(world, outcome.upload_id)
    assert revert_job["record_type"] == "profile"
    assert revert_job["stats"] == {"restored": 1, "removed": 1, "kept": 0}
    assert profile("c1") == {"n": 1} and profile("c2") is None
    assert world.dataset["record_counts"] == {"profile": 1}


def test_an_upload_that_cannot_be_reverted_is_refused_with_why():
    world = World()
    outcome = world.upload(A)
    upload_id = outcome.upload_id
    with pytest.raises(NotFoundError):
        revert.request_revert(world.jobs, Starter(), "other-account", upload_id, WITHIN)
    until = world.jobs.get(ACCOUNT, upload_id)["revertible_until"]
    assert until == "2026-12-07T00:00:00Z"  # created_at + 7 days, the default
    with pytest.raises(ConflictError, match=f"could be reverted until {until}"):
        revert.request_revert(world.jobs, Starter(), ACCOUNT, upload_id, parse_iso(until) + timedelta(seconds=1))
    restore = clock.use(lambda: WITHIN)
    try:
        assert shown(world.jobs.get(ACCOUNT, upload_id)).revertible_until == until
    finally:
        restore()
    restore = clock.use(lambda: parse_iso(until) + timedelta(seconds=1))
    try:
        assert shown(world.jobs.get(ACCOUNT, upload_id)).revertible_until is None  # past the window
    finally:
        restore()
    run_revert(world, upload_id)
    with pytest.raises(ConflictError, match="already reverted by job"):
        revert.request_revert(world.jobs, Starter(), ACCOUNT, upload_id, WITHIN)
    running = world.split(A)
    with pytest.raises(ConflictError, match="is Processing; only a Completed upload"):
        revert.request_revert(world.jobs, Starter(), ACCOUNT, running.upload_id, WITHIN)
    world.load(running)
    world.finalize(running)
    dry = world.upload(A, dry_run=True)
    assert world.jobs.get(ACCOUNT, dry.upload_id).get("revertible_until") is None
    with pytest.raises(ConflictError, match="was a dry run"):
        revert.request_revert(world.jobs, Starter(), ACCOUNT, dry.upload_id, WITHIN)


def test_a_failed_revert_releases_the_hold_and_lets_the_upload_be_reverted_again():
    world = World(window=2, partitions=2)
    world.upload(A)
    outcome = world.upload(B)
    starter = Starter()
    view = revert.request_revert(world.jobs, starter, ACCOUNT, outcome.upload_id, WITHIN)
    planned = revert.plan(world.ctx, starter.started[0][1])
    assert world.holder() == view.id
    revert.fail(world.ctx, planned, "a processing step ran out of time")
    assert world.holder() is None
    assert "reverted_by" not in world.jobs.get(ACCOUNT, outcome.upload_id)
    assert run_revert(world, outcome.upload_id)["stats"] == {"restored": 2, "removed": 2, "kept": 0}


# -- the revert rule and how a Load keeps windows (optimistic or read first) ------------------------
def put_journal(world: World, upload_id: str, name: str, entries: list[tuple[str, dict | None]]) -> None:
    world.objects.put(f"{revert.partition_prefix(ACCOUNT, upload_id, 0)}{name}.ndjson",
                      b"".join(orjson.dumps({"key": key, "item": item}) + b"\n" for key, item in entries))


def test_the_revert_rule_is_each_keys_first_item_kept_else_created():
    world = World()
    old_a, old_b = {"data": "{}", "job_id": "earlier-a"}, {"data": "{}", "job_id": "earlier-b"}
    # Read first (the journals loads wrote before the optimistic mode): items and nulls as read.
    put_journal(world, "u", "000000-r1", [("read", old_a), ("read-absent", None)])
    # Optimistic: every key null, unread; a found object for the keys another writer held.
    put_journal(world, "u", "000001-r1", [("found", None), ("new", None), ("retried", None)])
    put_journal(world, "u", "000001-r1-found-1", [("found", old_b)])
    # A retried Load (another attempt, sorting first) keeps a key the failed attempt did not replace again.
    put_journal(world, "u", "000001-a0", [("retried", None)])
    put_journal(world, "u", "000001-a0-found-1", [("retried", old_a)])
    assert dict(revert.journal_entries(world.objects, ACCOUNT, "u", 0)) == {
        "read": old_a, "read-absent": None, "found": old_b, "new": None, "retried": old_a}
    assert len(list(revert.journal_entries(world.objects, ACCOUNT, "u", 0))) == 5  # each key once


@pytest.mark.parametrize(("foreign", "keys", "read"), [(0, 10, False), (2, 10, False), (3, 10, True),
                                                         (10, 10, True), (0, 0, False)])
def test_a_window_reads_its_keys_first_only_past_the_break_even_share_of_keys_found(foreign, keys, read):
    assert loading.FOREIGN_SHARE_BREAK_EVEN == pytest.approx(0.2)  # USD 0.125 per M RRU / 0.625 per M WRU
    assert loading.reads_first(foreign, keys) is read


def test_a_load_into_an_empty_dataset_reads_nothing_and_its_revert_removes_every_key():
    world = World(window=2, partitions=2)
    outcome = world.upload(A)
    assert world.records.get_many_calls == 0
    assert world.dataset["record_counts"] == {"customer_record": 3}
    revert_job = run_revert(world, outcome.upload_id)
    assert revert_job["stats"] == {"restored": 0, "removed": 3, "kept": 0}
    assert values(world) == dict.fromkeys(("k1", "k2", "k3", "k4", "k5"))


def test_windows_read_first_after_one_that_found_many_keys_and_go_back_once_few_exist():
    world = World(window=4, partitions=1)
    world.upload([customer(number, f"old-{number}", v="A") for number in range(1, 9)])
    reads = world.records.get_many_calls
    keys = ([f"old-{number}" for number in range(1, 5)]  # window 1 (optimistic): every key found
            + [f"new-{number}" for number in range(1, 5)]  # window 2 (read first): none found
            + [f"old-{number}" for number in range(5, 9)])  # window 3 (optimistic again): every key found
    lines = [customer(number, key, v="B") for number, key in enumerate(keys, start=1)]
    job = world.split(lines)
    [result] = world.load(job)
    assert world.records.get_many_calls - reads == 1  # window 2 only
    assert (result.created, result.replaced) == (4, 8)
    world.finalize(job)
    revert_job = run_revert(world, job.upload_id)
    assert revert_job["stats"] == {"restored": 8, "removed": 4, "kept": 0}
    assert {key: (world.stored(key) or {}).get("v") for key in ("old-1", "old-8", "new-1")} == {
        "old-1": "A", "old-8": "A", "new-1": None}


def test_an_optimistic_window_reads_the_rest_of_its_keys_first_when_its_first_keys_were_found(monkeypatch):
    monkeypatch.setattr(loading, "PROBE_KEYS", 2)
    world = World(window=6, partitions=1)
    world.upload([customer(number, f"old-{number}", v="A") for number in range(1, 7)])
    reads = world.records.get_many_calls
    job = world.split([customer(number, f"old-{number}", v="B") for number in range(1, 7)])
    [result] = world.load(job)
    assert world.records.get_many_calls - reads == 1  # the window's last 4 keys, after its first 2 were found
    assert (result.created, result.replaced) == (0, 6)
    world.finalize(job)
    assert run_revert(world, job.upload_id)["stats"] == {"restored": 6, "removed": 0, "kept": 0}
    assert {(world.stored(f"old-{number}") or {}).get("v") for number in range(1, 7)} == {"A"}
