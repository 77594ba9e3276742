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


@pytest.mark.parametrize("fail_after", [0, 1, 2, 3])
def test_a_load_retried_after_dying_mid_window_still_reverts_to_the_values_before_it(fail_after):
    world = World(window=3, partitions=1)
    world.upload(A)
    job_b = world.split(B)
    [task] = world.tasks(job_b)
    world.records.fail_after_writes = fail_after
    with pytest.raises(RuntimeError, match="injected"):
        load_partition(world.ctx, job_b, task, "attempt-1")
    world.records.fail_after_writes = None
    load_partition(world.ctx, job_b, task, "attempt-2")
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
    assert sorted(entry["key"] for entry in kept) == ["new-1", "old-1"]
    assert {entry["key"]: entry["item"] and orjson.loads(entry["item"]["data"])["v"] for entry in kept} == {
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
