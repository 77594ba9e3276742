"""Load (logic/load/loading.py) on the fakes: the last line per key wins across ranges and windows,
windows bound what is held and written at once, and created/replaced are exact under retries, over
earlier loads and after a clear."""

from __future__ import annotations

import orjson
import pytest

from ingest.adapters.record_store import OwnWrite, Stamp
from ingest.logic import clear
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.loading import counted, load_partition, windows
from tests.unit.fakes import FakeRecordWriter
from tests.unit.load_world import ACCOUNT, DATASET, World, customer, rejected


def keys_file(keys: str, start: int = 1, **fields) -> list:
    """One line per character of `keys`, numbered from `start`; each line's record names its line."""
    return [customer(start + offset, key, line=start + offset, **fields) for offset, key in enumerate(keys)]


def test_the_last_line_per_key_wins_across_ranges_and_windows():
    world = World(window=3, partitions=2, lines_per_range=2)
    lines = keys_file("abacbbdca")  # a: 1,3,9  b: 2,5,6  c: 4,8  d: 7
    job = world.split(lines)
    results = world.load(job)
    assert {key: world.stored(key)["line"] for key in "abcd"} == {"a": 9, "b": 6, "c": 8, "d": 7}
    assert sum(result.loaded for result in results) == 9  # every line counts as loaded
    assert sum(result.created for result in results) == 4
    assert sum(result.replaced for result in results) == 0
    item = world.records.items[ACCOUNT, DATASET, "customer_record", "a"]
    assert (item["job_id"], item["attempt"], item["created_by"]) == (job.upload_id, "attempt-1", job.upload_id)


def test_a_window_holds_and_writes_at_most_the_window_and_each_key_once(monkeypatch):
    world = World(window=4, partitions=1, lines_per_range=3)
    batches: list[list[str]] = []
    original = FakeRecordWriter.write

    def recording(self, records):
        batches.append([record.key for record in records])
        return original(self, records)

    monkeypatch.setattr(FakeRecordWriter, "write", recording)
    world.load(world.split(keys_file("aabbbcdeefa")))
    # windows of 4 frames: a a b b | b c d e | e f a -> the last per key of each, in turn
    assert batches == [["a", "b"], ["b", "c", "d", "e"], ["e", "f", "a"]]
    assert world.stored("a")["line"] == 11 and world.stored("b")["line"] == 5


def test_ranges_without_a_file_for_the_partition_are_skipped_and_results_are_written():
    world = World(window=10, partitions=8, lines_per_range=1)
    job = world.split(keys_file("abc"))
    results = world.load(job)
    assert len(results) <= 3 and sum(result.loaded for result in results) == 3
    work = WorkKeys(ACCOUNT, job.upload_id)
    for result in results:
        assert orjson.loads(world.objects.read(work.load_result(result.partition))) == result.state()
    assert world.job_item(job)["progress"]["records_loaded"] == 3
    assert world.job_item(job)["progress"]["chunks_done"] == len(results)


def test_a_dry_run_writes_nothing_and_counts_every_line():
    world = World()
    job = world.split(keys_file("abca"), dry_run=True)
    results = world.load(job)
    assert world.records.items == {} and world.records.writers == []
    assert sum(result.loaded for result in results) == 4
    assert sum(result.created + result.replaced for result in results) == 0


def test_writes_use_the_datasets_shard_count_the_threads_and_the_rate_per_load():
    world = World(shards=64)
    job = world.split(keys_file("abcdefgh"))
    world.load(job)
    writer = world.records.writers[0]
    assert writer["target"].shards == 64 == job.shards
    assert writer["threads"] == world.settings.load_threads
    assert writer["rate_per_second"] == world.settings.write_rate_per_load == 100
    assert world.records.get(ACCOUNT, DATASET, "customer_record", "a", 64) is not None
    # A reader with another dataset's count would look in the wrong partitions (the fake, as the table).
    assert sum(world.records.get(ACCOUNT, DATASET, "customer_record", key, 16) is not None for key in "abcdefgh") < 8


@pytest.mark.parametrize("stamp_prior, expected", [
    (None, (1, 0)),
    ({"job_id": "U0", "attempt": "x", "created_by": "U0"}, (0, 1)),
    ({"job_id": "U1", "attempt": "a1", "created_by": "U1"}, (1, 0)),
    ({"job_id": "U1", "attempt": "a1", "created_by": "U0"}, (0, 1)),
    ({"job_id": "U1", "attempt": "a2", "created_by": "U1"}, (0, 0)),
    ({"data": "{}", "job_id": "U0"}, (0, 1)),  # a record written before items carried attempts
    # This write itself, applied by an earlier try whose answer was lost: judged by what it replaced.
    (OwnWrite(job_id="U1", attempt="a2", previous_attempt="-", created_by="U1"), (1, 0)),
    (OwnWrite(job_id="U1", attempt="a2", previous_attempt="x", created_by="U0"), (0, 1)),
    (OwnWrite(job_id="U1", attempt="a2", previous_attempt="a1", created_by="U1"), (1, 0)),
    (OwnWrite(job_id="U1", attempt="a2", previous_attempt="a2", created_by="U1"), (0, 0)),
])
def test_counting_rules_from_the_replaced_item(stamp_prior, expected):
    assert counted(stamp_prior, Stamp("U1", "a2")) == expected


# -- exact counts under retries ------------------------------------------------------------------
BEFORE = keys_file("pqrs")  # an earlier upload's records
UPLOAD = keys_file("apbqacrbxy", start=1)  # a, b repeat; p, q, r existed; a, b, c, x, y are new


def clean_counts() -> tuple[int, int]:
    world = World(window=3, partitions=2)
    world.upload(BEFORE)
    outcome = world.upload(UPLOAD)
    return outcome.stats.created, outcome.stats.replaced


@pytest.mark.parametrize("fail_after", [0, 1, 2, 3, 4, 5, 6])
def test_a_load_that_died_mid_partition_and_was_retried_counts_exactly(fail_after):
    assert clean_counts() == (5, 3)
    world = World(window=3, partitions=1)
    world.upload(BEFORE)
    job = world.split(UPLOAD)
    [task] = world.tasks(job)
    world.records.fail_after_writes = fail_after
    with pytest.raises(RuntimeError, match="injected"):
        load_partition(world.ctx, job, task, "attempt-1")
    world.records.fail_after_writes = None
    result = load_partition(world.ctx, job, task, "attempt-2")
    assert (result.created, result.replaced, result.loaded) == (5, 3, 10)
    outcome = world.finalize(job)
    assert (outcome.stats.created, outcome.stats.replaced) == (5, 3)
    assert world.dataset["record_counts"] == {"customer_record": 4 + 5}
    assert world.records.count(ACCOUNT, DATASET, "customer_record", 64) == 9
    assert world.stored("a")["line"] == 5 and world.stored("b")["line"] == 8


def test_a_retry_after_the_whole_partition_was_written_counts_the_same():
    world = World(window=2, partitions=1)
    world.upload(BEFORE)
    job = world.split(UPLOAD)
    [task] = world.tasks(job)
    first = load_partition(world.ctx, job, task, "attempt-1")
    second = load_partition(world.ctx, job, task, "attempt-2")
    assert (first.created, first.replaced) == (second.created, second.replaced) == (5, 3)


def test_two_loads_of_overlapping_keys_count_what_each_changed():
    world = World()
    first = world.upload(keys_file("abc"))
    second = world.upload(keys_file("bcd"))
    assert (first.stats.created, first.stats.replaced) == (3, 0)
    assert (second.stats.created, second.stats.replaced) == (1, 2)
    assert world.dataset["record_counts"] == {"customer_record": 4}


def test_a_clear_between_loads_starts_the_count_again():
    world = World()
    world.upload(keys_file("ab"))
    assert world.holder() is None  # Finalize let go of the dataset, so a clear may start
    view = clear.request_clear(world.jobs, world.datasets, _Starter(), ACCOUNT, DATASET)
    planned = clear.plan(world.jobs, world.datasets, {"account_id": ACCOUNT, "job_id": view.id, "dataset_id": DATASET})
    results = [clear.clear_partition(world.records, planned, partition) for partition in planned["partitions"]]
    clear.finish(world.jobs, world.datasets, {**planned, "results": results})
    assert results == [{"record_type": "customer_record", "removed": 2}]
    assert world.dataset["record_counts"] == {}
    outcome = world.upload(keys_file("bc"))
    assert (outcome.stats.created, outcome.stats.replaced) == (2, 0)
    assert world.dataset["record_counts"] == {"customer_record": 2}


def test_a_clear_is_refused_while_a_load_holds_the_dataset():
    world = World()
    job = world.split(keys_file("ab"))
    world.load(job)
    from ingest.errors import ConflictError

    with pytest.raises(ConflictError, match=f"dataset {DATASET} is busy loading upload"):
        clear.request_clear(world.jobs, world.datasets, _Starter(), ACCOUNT, DATASET)
    world.finalize(job)
    assert clear.request_clear(world.jobs, world.datasets, _Starter(), ACCOUNT, DATASET).status == "Pending"


class _Starter:
    def start(self, name: str, execution_input: dict) -> str:
        return f"arn:aws:states:local:execution:clear:{name}"

    def execution_arn(self, name: str) -> str:
        return f"arn:aws:states:local:execution:clear:{name}"


# -- profile changes and audience members ----------------------------------------------------------
def change(number: int, customer_id: str, *changes: dict):
    from tests.unit.load_world import Line

    return Line(number, customer_id, orjson.dumps({"customer_id": customer_id, "changes": list(changes)}))


def increment(attr: str, by: int) -> dict:
    return {"op": "increment", "attr": attr, "value": by}


PROFILE_FILE = [
    change(1, "c1", increment("n", 1)),
    change(2, "c2", {"op": "assign", "attr": "s", "value": "text"}),
    change(3, "c1", increment("n", 2)),
    change(4, "c2", increment("s", 1)),  # does not fit: s holds a string
    change(5, "c1", increment("n", 4)),
    change(6, "c3", increment("n", 1)),
    change(7, "c1", increment("n", 8)),
]


def profile(world: World, customer_id: str):
    data = world.records.get(ACCOUNT, DATASET, "profile", customer_id, world.dataset["shards"])
    return orjson.loads(data) if data else None


def test_profile_changes_apply_in_order_across_windows_and_refusals_are_logged_in_line_order():
    world = World(window=2, partitions=1)
    job = world.split(PROFILE_FILE, record_type="profile_changes")
    [result] = world.load(job)
    assert (profile(world, "c1"), profile(world, "c2"), profile(world, "c3")) == ({"n": 15}, {"s": "text"}, {"n": 1})
    assert (result.loaded, result.rejected, result.created, result.replaced) == (6, 1, 3, 0)
    outcome = world.finalize(job)
    assert world.dataset["record_counts"] == {"profile": 3}  # counted as what it is stored as
    assert (outcome.stats.total, outcome.stats.loaded, outcome.stats.rejected) == (7, 6, 1)
    [error] = world.error_log(job)
    assert error["line"] == 4 and "increment needs a number" in error["error"]
    assert orjson.loads(error["raw"]) == {"customer_id": "c2", "changes": [increment("s", 1)]}


@pytest.mark.parametrize("fail_after", [0, 1, 2, 3])
def test_a_retried_profile_load_applies_each_change_once_and_counts_exactly(fail_after):
    world = World(window=2, partitions=1)
    world.upload([change(1, "c3", increment("n", 100))], record_type="profile_changes")
    job = world.split(PROFILE_FILE, record_type="profile_changes")
    [task] = world.tasks(job)
    world.records.fail_after_writes = fail_after
    with pytest.raises(RuntimeError, match="injected"):
        load_partition(world.ctx, job, task, "attempt-1")
    world.records.fail_after_writes = None
    result = load_partition(world.ctx, job, task, "attempt-2")
    assert profile(world, "c1") == {"n": 15} and profile(world, "c3") == {"n": 101}
    assert (result.loaded, result.rejected, result.created, result.replaced) == (6, 1, 2, 1)
    world.finalize(job)
    assert world.dataset["record_counts"] == {"profile": 3}
    assert [error["line"] for error in world.error_log(job)] == [4]


def test_a_profile_dry_run_reports_the_same_refusals_and_writes_nothing():
    world = World(window=2, partitions=1)
    job = world.split(PROFILE_FILE, record_type="profile_changes", dry_run=True)
    [result] = world.load(job)
    assert (result.loaded, result.rejected) == (6, 1) and world.records.items == {}


def test_audience_members_go_to_the_loads_member_set_and_finalize_makes_it_the_list():
    world = World(window=2)
    audience = {"account_id": ACCOUNT, "audience_id": "AUD1", "name": "vips", "version": 0, "record_count": 0,
                "members_load": "", "created_at": "t", "updated_at": "t"}
    world.audiences.start_count(ACCOUNT, 0)
    assert world.audiences.add_within_limit(audience, 10)
    job = world.split([customer(1, "m1"), customer(2, "m2"), customer(3, "m1"), rejected(4)],
                      record_type="audience_member", dataset_id="AUD1")
    results = world.load(job)
    assert sum(result.loaded for result in results) == 3
    assert sum(result.created + result.replaced for result in results) == 0
    outcome = world.finalize(job)
    held = world.audiences.get(ACCOUNT, "AUD1")
    assert (held["members_load"], held["version"], held["record_count"]) == (job.upload_id, 1, 2)
    assert outcome.stats.created is None and outcome.stats.rejected == 1
    assert world.records.contains(ACCOUNT, f"audience-AUD1-{job.upload_id}", "audience_member", "m2")


def test_csv_refusals_carry_the_row_as_sent():
    world = World(window=2, partitions=1)
    job = world.split(PROFILE_FILE, record_type="profile_changes", csv=True)
    world.load(job)
    world.finalize(job)
    [error] = world.error_log(job)
    assert error["raw"] == PROFILE_FILE[3].record.replace(b"{", b"").decode()


def test_records_read_back_through_the_api_logic_with_the_datasets_shard_count():
    from tests.unit import routes

    for shards in (64, 16):
        world = World(shards=shards)
        world.upload(keys_file("abc"))
        assert world.dataset["shards"] == shards
        stored = routes.get_record(world.datasets, world.records, ACCOUNT, DATASET, "customer_record", "b")
        assert orjson.loads(stored)["line"] == 2


def test_windows_cut_frames_in_lists_of_the_window_size_whatever_the_input():
    assert list(windows(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(windows(list(range(6)), 3)) == [[0, 1, 2], [3, 4, 5]]  # a list, read once
    assert list(windows(iter([]), 3)) == []
