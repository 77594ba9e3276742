"""Profile changes (Localytics Profile Imports): op semantics, one line all or nothing, file order per
customer, and exactly-once application when a Load is retried, on in-memory fakes."""

from __future__ import annotations

import json

import orjson
import pytest

from ingest import record_types
from ingest.errors import NotFoundError
from ingest.logic import clear
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.load.finalize import finalize
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.loading import load_partition
from ingest.logic.profiles import _Misfit, apply_changes
from ingest.models.workflow import JobOutcome, LoadJob, PartitionTask
from tests.support.load_runner import manifest, run_to_finalize
from tests.unit import routes
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore, FakeProfileRecordStore

ACCOUNT = "acme"
DATASET = "ds-1"

# The Localytics Profile Imports example: assign, set-add, set-remove, increment and delete on three customers.
LOCALYTICS_EXAMPLE = [
    {"customer_id": "abc", "changes": [{"op": "assign", "attr": "example1", "value": "value1"},
                                       {"op": "assign", "attr": "example4", "value": "temporary"}]},
    {"customer_id": "123", "changes": [{"op": "set-add", "attr": "example2", "value": ["value2", "value3"]}]},
    {"customer_id": "123", "changes": [{"op": "set-remove", "attr": "example2", "value": ["value2"]}]},
    {"customer_id": "zxc", "changes": [{"op": "increment", "attr": "example3", "value": 5}]},
    {"customer_id": "abc", "changes": [{"op": "delete", "attr": "example4"}]},
]
LOCALYTICS_RESULT = {
    "abc": {"example1": "value1"},
    "123": {"example2": ["value3"]},
    "zxc": {"example3": 5},
}


def lines(*records: dict) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def change(customer: str, *changes: dict) -> dict:
    return {"customer_id": customer, "changes": list(changes)}


def op(name: str, attr: str, *value) -> dict:
    return {"op": name, "attr": attr, **({"value": value[0]} if value else {})}


class World:
    """The load workflow's steps on fakes; each upload() is a new job loading a file of profile changes."""

    def __init__(self, range_bytes: int = 1 << 20, partitions: int = 1, window: int = 20_000):
        self.objects = FakeObjectStore(read_size=64)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.records = FakeProfileRecordStore()
        self.datasets.add(ACCOUNT, DATASET)
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets, records=self.records,
                               settings=LoadSettings(range_bytes=range_bytes, partitions=partitions,
                                                     load_window_records=window, load_threads=2))
        self.uploads = 0

    def _create(self, data: bytes, options: dict | None) -> str:
        self.uploads += 1
        upload_id = f"01J00000000000000000UPLD{self.uploads:02d}"
        key = f"uploads/{ACCOUNT}/{upload_id}/changes.ndjson"
        self.objects.put(key, data)
        self.jobs.create({
            "account_id": ACCOUNT, "job_id": upload_id, "job_type": "upload", "status": "Pending",
            "filename": "changes.ndjson", "dataset_id": DATASET, "record_type": "profile_changes",
            "object_key": key, "options": options or {}, "stats": {"total": 0, "loaded": 0, "rejected": 0},
        })
        return upload_id

    def to_finalize(self, data: bytes, options: dict | None = None) -> LoadJob:
        """A new upload through every step before Finalize."""
        self.job = run_to_finalize(self.ctx, ACCOUNT, self._create(data, options)).job
        return self.job

    def to_load(self, data: bytes) -> tuple[LoadJob, PartitionTask]:
        """A new upload through PlanLoad, into one partition (World's default), not loaded yet."""
        upload_id = self._create(data, None)
        job = run_to_finalize(self.ctx, ACCOUNT, upload_id, load=False).job
        [task] = manifest(self.ctx, WorkKeys(ACCOUNT, upload_id).load_manifest, PartitionTask)
        self.job = job
        return job, task

    def upload(self, data: bytes, options: dict | None = None) -> JobOutcome:
        return finalize(self.ctx, self.to_finalize(data, options))

    def error_log(self) -> list[dict]:
        work = WorkKeys(ACCOUNT, self.job.upload_id)
        return [json.loads(line) for line in self.objects.read(work.error_log).splitlines()]

    @property
    def shards(self) -> int:
        return self.datasets.get(ACCOUNT, DATASET)["shards"]

    def profile(self, customer: str):
        raw = self.records.get(ACCOUNT, DATASET, "profile", customer, self.shards)
        return None if raw is None else json.loads(raw)


def counts(outcome: JobOutcome) -> tuple[int, int, int]:
    return outcome.stats.total, outcome.stats.loaded, outcome.stats.rejected


# -- ops -------------------------------------------------------------------------------------------

def test_assign_sets_any_value_and_an_array_becomes_a_set():
    after = apply_changes({"a": 1}, [op("assign", "a", "x"), op("assign", "tags", ["b", "a", "b"])])
    assert after == {"a": "x", "tags": frozenset({"a", "b"})}


def test_set_add_adds_each_value_once_and_creates_the_set():
    after = apply_changes({}, [op("set-add", "s", [1, "one"]), op("set-add", "s", ["one", 2])])
    assert after == {"s": frozenset({1, 2, "one"})}


def test_set_remove_removes_values_and_leaves_an_absent_attribute_absent():
    after = apply_changes({"s": frozenset({"a", "b"})}, [op("set-remove", "s", ["a", "zz"]),
                                                         op("set-remove", "t", ["a"])])
    assert after == {"s": frozenset({"b"})}


def test_increment_starts_at_zero_keeps_ints_and_allows_floats():
    after = apply_changes({"n": 2}, [op("increment", "n", 3), op("increment", "m", -1), op("increment", "f", 0.5)])
    assert after == {"n": 5, "m": -1, "f": 0.5}
    assert isinstance(after["n"], int)


def test_delete_removes_the_attribute_and_ignores_an_absent_one():
    assert apply_changes({"a": 1, "b": 2}, [op("delete", "a"), op("delete", "zz")]) == {"b": 2}


@pytest.mark.parametrize("held, change_, message", [
    ("ten", op("increment", "points", 1), 'changes[1]: increment needs a number, "points" holds a string'),
    (True, op("increment", "points", 1), 'changes[1]: increment needs a number, "points" holds a boolean'),
    (frozenset({1}), op("increment", "points", 1), 'changes[1]: increment needs a number, "points" holds a set'),
    (7, op("set-add", "points", [1]), 'changes[1]: set-add needs a set, "points" holds a number'),
    ("x", op("set-remove", "points", ["x"]), 'changes[1]: set-remove needs a set, "points" holds a string'),
    (2**64 - 1, op("increment", "points", 1),
     'changes[1]: increment would take "points" outside the 64-bit integer range'),
])
def test_a_change_that_does_not_fit_the_value_held_is_refused_and_nothing_changes(held, change_, message):
    profile = {"points": held, "name": "Ann"}
    with pytest.raises(_Misfit) as refused:
        apply_changes(profile, [op("assign", "name", "Bob"), change_])
    assert str(refused.value) == message
    assert profile == {"points": held, "name": "Ann"}  # the caller's profile is untouched


# -- schema (the same check_line the CLI's validate runs) ---------------------------------------------

@pytest.mark.parametrize("record, problem", [
    (change("c"), "changes: must have at least 1 item(s)"),
    (change("", op("delete", "a")), "customer_id: must be at least 1 characters long"),
    (change("c", op("increment", "a", "1")), "changes[0].value: must be of type number"),
    (change("c", op("increment", "a")), "changes[0].value: is required"),
    (change("c", op("set-add", "a", "x")), "changes[0].value: must be of type array"),
    (change("c", op("delete", "a", 1)), "changes[0].value: is not allowed here"),
    (change("c", op("rename", "a")),
     'changes[0].op: must be one of "assign", "set-add", "set-remove", "increment", "delete"'),
    (change("c", op("assign", "a", {"x": 1})),
     "changes[0].value: must be of type string or number or boolean or array"),
    ({"changes": [op("delete", "a")]}, "customer_id: is required"),
])
def test_schema_errors_name_the_change_and_the_rule(record, problem):
    assert record_types.get("profile_changes").problem_with(record) == problem


# -- loading through the load workflow ------------------------------------------------------------------

def test_localytics_example_gives_the_documented_profiles():
    world = World()
    result = world.upload(lines(*LOCALYTICS_EXAMPLE))
    assert result.stats.state() == {"total": 5, "loaded": 5, "rejected": 0, "created": 3, "replaced": 0}
    assert {customer: world.profile(customer) for customer in LOCALYTICS_RESULT} == LOCALYTICS_RESULT
    assert world.datasets.get(ACCOUNT, DATASET)["record_counts"] == {"profile": 3}
    assert world.records.count(ACCOUNT, DATASET, "profile_changes", world.shards) == 0  # not stored as such
    assert world.records.count(ACCOUNT, DATASET, "profile", world.shards) == 3


def test_one_customers_lines_apply_in_file_order_across_ranges_partitions_and_windows():
    world = World(range_bytes=256, partitions=4, window=3)
    file = [change("c1", op("assign", "visits", 0))]
    for i in range(40):
        file.append(change(f"other-{i}", op("increment", "visits", 1)))
        file.append(change("c1", op("increment", "visits", 1), op("assign", "last", i)))
    file.append(change("c1", op("assign", "visits", 100)))
    file.append(change("c1", op("increment", "visits", 1)))
    world.upload(lines(*file))
    assert (world.job.ranges or 0) > 1
    assert world.profile("c1") == {"visits": 101, "last": 39}
    assert all(world.profile(f"other-{i}") == {"visits": 1} for i in range(40))


def test_an_ill_fitting_line_is_rejected_alone_with_its_reason():
    world = World()
    result = world.upload(lines(
        change("c", op("assign", "points", "ten"), op("assign", "tier", "gold")),
        change("c", op("assign", "tier", "silver"), op("increment", "points", 5)),
        change("c", op("set-add", "badges", ["a"])),
    ))
    assert counts(result) == (3, 2, 1)
    assert world.profile("c") == {"points": "ten", "tier": "gold", "badges": ["a"]}
    [error] = world.error_log()
    assert error["line"] == 2
    assert error["error"] == 'changes[1]: increment needs a number, "points" holds a string'


def test_a_second_upload_applies_on_top_of_the_first():
    world = World()
    world.upload(lines(change("c", op("increment", "n", 2), op("set-add", "s", ["x"]))))
    world.upload(lines(change("c", op("increment", "n", 2), op("set-add", "s", ["x", "y"]))))
    assert world.profile("c") == {"n": 4, "s": ["x", "y"]}


def test_a_customer_whose_every_line_is_rejected_gets_no_profile():
    world = World()
    world.upload(lines(change("c", op("set-add", "s", ["x"]), op("increment", "s", 1))))
    assert world.profile("c") is None
    assert world.datasets.get(ACCOUNT, DATASET)["record_counts"] == {"profile": 0}


def test_dry_run_reports_the_same_rejections_and_writes_nothing():
    world = World()
    world.upload(lines(change("c", op("assign", "points", "ten"))))
    result = world.upload(lines(change("c", op("increment", "points", 1)), change("d", op("assign", "a", 1))),
                          options={"dry_run": True})
    assert result.stats.state() == {"total": 2, "loaded": 1, "rejected": 1}  # a dry run counts no records
    assert world.error_log()[0]["error"] == 'changes[0]: increment needs a number, "points" holds a string'
    assert world.profile("d") is None


# -- exactly once ----------------------------------------------------------------------------------

def _counter_file(customers: int, rounds: int) -> bytes:
    file = []
    for round_ in range(rounds):
        for i in range(customers):
            file.append(change(f"c{i:02d}", op("increment", "points", 10), op("set-add", "rounds", [round_])))
    file.append(change("c00", op("increment", "rounds", 1)))  # rejected: rounds is a set
    return lines(*file)


def test_a_load_retried_after_writing_half_its_profiles_applies_each_line_once():
    clean, crashed = World(), World()
    expected = clean.upload(_counter_file(customers=30, rounds=3))

    job, task = crashed.to_load(_counter_file(customers=30, rounds=3))
    crashed.records.fail_after_writes = 15
    with pytest.raises(RuntimeError, match="injected"):
        load_partition(crashed.ctx, job, task, "attempt-1")
    written = [key for key in crashed.records.items if key[2] == "profile"]
    assert len(written) == 15
    load_partition(crashed.ctx, job, task, "attempt-2")  # the retry
    result = finalize(crashed.ctx, job)

    assert result.stats == expected.stats
    assert result.stats.state() == {"total": 91, "loaded": 90, "rejected": 1, "created": 30, "replaced": 0}
    for i in range(30):
        assert crashed.profile(f"c{i:02d}") == {"points": 30, "rounds": [0, 1, 2]}
    assert crashed.error_log() == clean.error_log()
    assert crashed.datasets.get(ACCOUNT, DATASET)["record_counts"] == {"profile": 30}


def test_a_retry_after_everything_was_written_applies_nothing_again_and_repeats_the_errors():
    world = World()
    job, task = world.to_load(lines(
        change("c", op("increment", "n", 1)),
        change("c", op("set-add", "n", [1])),
        change("c", op("increment", "n", 1)),
    ))
    errors_key = WorkKeys(ACCOUNT, job.upload_id).errors("load-00000")
    first = load_partition(world.ctx, job, task, "attempt-1")
    first_errors = world.objects.read(errors_key)
    again = load_partition(world.ctx, job, task, "attempt-2")
    assert again == first
    assert (first.loaded, first.rejected, first.created, first.replaced) == (2, 1, 1, 0)
    assert world.objects.read(errors_key) == first_errors
    assert world.profile("c") == {"n": 2}


# -- reading back and clearing ------------------------------------------------------------------------

def test_profiles_are_readable_and_profile_changes_are_not_stored_as_such():
    world = World()
    world.upload(lines(*LOCALYTICS_EXAMPLE))
    stored = routes.get_record(world.datasets, world.records, ACCOUNT, DATASET, "profile", "123")
    assert json.loads(stored) == {"example2": ["value3"]}
    with pytest.raises(NotFoundError, match="profile_changes records are not stored as such"):
        routes.get_record(world.datasets, world.records, ACCOUNT, DATASET, "profile_changes", "123")


def test_clear_plans_the_profile_partition_for_a_profile_changes_load():
    world = World()
    world.upload(lines(*LOCALYTICS_EXAMPLE))
    world.jobs.create({"account_id": ACCOUNT, "job_id": "clear-1", "job_type": "clear", "status": "Pending"})
    planned = clear.plan(world.jobs, world.datasets,
                         {"account_id": ACCOUNT, "job_id": "clear-1", "dataset_id": DATASET})
    assert planned["partitions"] == [{"record_type": "profile", "shards": world.shards}]  # the dataset's shards


def test_the_catalogue_describes_how_profile_changes_load():
    described = record_types.get("profile_changes").describe()
    assert (described["load"], described["stored_as"], described["formats"]) == (
        "profile_changes", "profile", ["ndjson"])
    assert "profile" in record_types.stored_types() and "profile_changes" not in record_types.stored_types()


# -- the record store's batch read and extra attributes -------------------------------------------------

class _BatchClient:
    """batch_write_item / batch_get_item on a dict; `unprocessed_gets` keys come back unprocessed once each."""

    def __init__(self, unprocessed_gets: int = 0):
        self.items: dict[tuple[str, str], dict] = {}
        self.get_calls: list[int] = []
        self.unprocessed_gets = unprocessed_gets

    def batch_write_item(self, RequestItems):
        for request in RequestItems["records"]:
            item = request["PutRequest"]["Item"]
            self.items[(item["pk"]["S"], item["sk"]["S"])] = item
        return {}

    def batch_get_item(self, RequestItems):
        request = RequestItems["records"]
        assert request["ConsistentRead"] is True
        keys = request["Keys"]
        self.get_calls.append(len(keys))
        held_back, self.unprocessed_gets = keys[:self.unprocessed_gets], max(0, self.unprocessed_gets - len(keys))
        found = [self.items[(k["pk"]["S"], k["sk"]["S"])] for k in keys[len(held_back):]
                 if (k["pk"]["S"], k["sk"]["S"]) in self.items]
        response = {"Responses": {"records": found}}
        if held_back:
            response["UnprocessedKeys"] = {"records": {"ConsistentRead": True, "Keys": held_back}}
        return response


def test_record_store_writes_the_marker_with_the_record_and_reads_many_in_batches_of_100():
    from ingest.adapters.record_store import RecordStore

    client = _BatchClient(unprocessed_gets=30)
    sleeps: list[float] = []
    store = RecordStore(client, "records", sleep=sleeps.append)
    store.put_records(ACCOUNT, DATASET, "profile",
                      [(f"c{i}", f'{{"n": {i}}}', {"applied": '{"job": "j"}'}) for i in range(150)], job_id="j")
    store.put_records(ACCOUNT, DATASET, "profile", [("plain", "{}")], job_id="j")
    found = store.get_many(ACCOUNT, DATASET, "profile", [f"c{i}" for i in range(150)] + ["plain", "absent"])
    # the 30 unprocessed keys asked again, after a backoff
    assert client.get_calls == [100, 30, 52] and len(sleeps) == 1
    assert len(found) == 151 and "absent" not in found
    assert found["c7"] == {"data": '{"n": 7}', "applied": '{"job": "j"}', "job_id": "j"}
    assert found["plain"] == {"data": "{}", "job_id": "j"}
