"""A whole upload through the load workflow's steps in the state machine's order (tests/support/load_runner),
on in-memory fakes: what a user sees of a file (records stored, counts, error log, job) whatever the
ranges and partitions it is cut into. The steps' own cases are in test_load_split.py, test_load_loading.py
and test_load_finalize.py; these are the user-visible ones the old Pipeline's tests held."""

from __future__ import annotations

import gzip
import json

import orjson
import pytest

from ingest import record_types
from ingest.errors import FileRejectedError
from ingest.logic.lines import MAX_LINE_BYTES
from ingest.logic.load import error_log, inspect
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.load.failure import mark_failed
from ingest.logic.load.finalize import finalize
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.record_limits import MAX_OBJECT_BYTES, MAX_STORED_RECORD_BYTES, check_line
from ingest.models.workflow import ExecutionInput, FailedState, PartitionResult, StepError
from tests.support.load_runner import run_to_finalize, run_upload
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore, FakeRecordStore

ACCOUNT = "acme"
UPLOAD = "01J0000000000000000000UPLD"
DATASET = "ds-1"
WORK = WorkKeys(ACCOUNT, UPLOAD)


class World:
    """The load workflow wired to fakes, with one upload job and its dataset."""

    def __init__(self, data: bytes, record_type: str = "customer_record", range_bytes: int = 64,
                 partitions: int = 4, window: int = 3, options: dict | None = None, read_size: int = 7,
                 filename: str = "file.ndjson"):
        self.objects = FakeObjectStore(read_size=read_size)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.records = FakeRecordStore()
        self.datasets.add(ACCOUNT, DATASET)
        self.key = f"uploads/{ACCOUNT}/{UPLOAD}/{filename}"
        self.objects.put(self.key, data)
        job = {"account_id": ACCOUNT, "job_id": UPLOAD, "job_type": "upload", "status": "Pending",
               "filename": filename, "dataset_id": DATASET, "record_type": record_type, "object_key": self.key,
               "stats": {"total": 0, "loaded": 0, "rejected": 0}}
        if options is not None:
            job["options"] = options
        self.jobs.create(job)
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets, records=self.records,
                               settings=LoadSettings(range_bytes=range_bytes, partitions=partitions,
                                                     load_window_records=window, load_threads=2))

    @property
    def job(self) -> dict:
        return self.jobs.get(ACCOUNT, UPLOAD)

    @property
    def dataset(self) -> dict:
        return self.datasets.get(ACCOUNT, DATASET)

    def inspect(self):
        return inspect.inspect(self.ctx, ExecutionInput(account_id=ACCOUNT, upload_id=UPLOAD))

    def run(self):
        return run_upload(self.ctx, ACCOUNT, UPLOAD)

    def error_log(self) -> list[dict]:
        return [json.loads(line) for line in self.objects.read(WORK.error_log).splitlines()]

    def stored_raw(self, key: str, record_type: str = "customer_record") -> str | None:
        return self.records.get(ACCOUNT, DATASET, record_type, key, self.dataset["shards"])

    def stored(self, key: str, record_type: str = "customer_record"):
        raw = self.stored_raw(key, record_type)
        return None if raw is None else json.loads(raw)

    def count(self, record_type: str = "customer_record") -> int:
        return self.records.count(ACCOUNT, DATASET, record_type, self.dataset["shards"])


def customer(cid, **fields) -> bytes:
    return orjson.dumps({"link": {"customer_id": cid}, **fields})


def ndjson(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


# -- check_line (Split's check of each record, also the CLI's validate) ---------------------------------
def test_check_line_accepts_valid_record_and_returns_its_key():
    problem, key, stored = check_line(record_types.get("customer_record"), b' {"link": {"customer_id": 5}} ')
    assert problem is None
    assert key == "customer_id:5"
    assert orjson.loads(stored) == {"link": {"customer_id": 5}}  # stored as sent: the check converts nothing


def test_check_line_reports_invalid_json():
    problem, key, stored = check_line(record_types.get("customer_record"), b'{"link": ')
    assert problem.startswith("invalid JSON: ")
    assert (key, stored) == (None, None)


def test_check_line_reports_schema_problem():
    problem, key, _ = check_line(record_types.get("purchase"), b'{"link": {"email": "a@b.co"}, "action_at": 1,'
                                 b' "type": "ecommerce", "products": []}')
    assert problem == "purchase_id: is required"
    assert key is None


def test_check_line_reports_non_object():
    problem, _, _ = check_line(record_types.get("purchase"), b"[1, 2, 3]")
    assert problem == "expected a JSON object, got an array"


def test_check_line_rejects_records_too_big_for_the_store():
    big = orjson.dumps({"link": {"customer_id": "c"}, "first_name": "x" * MAX_STORED_RECORD_BYTES})
    problem, key, stored = check_line(record_types.get("customer_record"), big)
    assert problem == (
        f"record is {len(big)} bytes, over the {MAX_STORED_RECORD_BYTES}-byte limit of the dataset store"
    )
    assert (key, stored) == (None, None)


# -- Inspect (what test_load_split.py does not already hold) --------------------------------------------
def test_inspect_marks_a_dry_run_processing_and_describes_it():
    world = World(ndjson(customer("a"), customer("b")), options={"dry_run": True})
    job = world.inspect()
    assert (job.object_key, job.dataset_id, job.record_type) == (world.key, DATASET, "customer_record")
    assert job.gzip is False and job.dry_run is True
    assert job.size == len(world.objects.read(world.key))
    stored = world.job
    assert stored["status"] == "Processing" and stored["size"] == job.size and stored["gzip"] is False


def test_inspect_detects_gzip_by_content_not_by_name():
    world = World(gzip.compress(ndjson(*(customer(f"c{i}") for i in range(200)))))  # named file.ndjson
    job = world.inspect()
    assert job.gzip is True and world.job["gzip"] is True


def test_inspect_names_the_size_of_a_file_over_5_gb_and_accepts_exactly_5_gb():
    world = World(customer("a"), range_bytes=LoadSettings().range_bytes)
    world.objects.sizes[world.key] = MAX_OBJECT_BYTES + 1
    with pytest.raises(FileRejectedError, match="over the 5 GB limit") as info:
        world.inspect()
    assert str(MAX_OBJECT_BYTES + 1) in str(info.value)
    assert world.job["status"] == "Pending"
    world.objects.sizes[world.key] = MAX_OBJECT_BYTES
    assert world.inspect().size == MAX_OBJECT_BYTES
    assert len(json.loads(world.objects.read(WORK.scan_manifest))) == 40  # 5 GiB in ranges of 128 MiB


def test_a_file_needing_more_than_one_wave_of_loads_gets_whole_waves_of_smaller_partitions():
    settings = LoadSettings(partitions=4, partition_bytes=100, max_partitions=50, load_max_concurrency=8)
    assert settings.partitions_for(350) == 4  # never fewer than `partitions`
    assert settings.partitions_for(800) == 8  # one whole wave
    assert settings.partitions_for(900) == 16  # 9 needed: two waves of 8, each Load ~56 bytes, not 8 + 1
    assert settings.partitions_for(4_900) == 50  # 49 needed, 56 rounded: max_partitions still caps it
    for plain_bytes in range(1, 6_000, 37):  # rounding only ever cuts partitions smaller
        assert plain_bytes / settings.partitions_for(plain_bytes) <= 100 or settings.partitions_for(plain_bytes) == 50
    # The default plan: 5 GB of gzip at 10:1 is ~50 GB of lines, 458 partitions of 112 MiB, one Load
    # wave of 64 short of filling 8: it gets 512, and every Load of every wave works.
    assert LoadSettings().partitions_for(50 * 1024**3) == 512


def test_inspect_plans_a_large_plain_file_in_whole_waves_of_loads():
    world = World(customer("a"), range_bytes=LoadSettings().range_bytes)
    world.ctx = LoadContext(objects=world.objects, jobs=world.jobs, datasets=world.datasets, records=world.records,
                            settings=LoadSettings(partition_bytes=16 * 1024**2, load_max_concurrency=64))
    world.objects.sizes[world.key] = MAX_OBJECT_BYTES  # 5 GB: 299 partitions of 16 MiB needed
    assert world.inspect().partitions == 320  # 5 waves of 64


# -- the records stored -----------------------------------------------------------------------------
def test_the_last_line_for_a_key_wins_whatever_the_ranges():
    data = ndjson(
        customer("a", first_name="first"),
        customer("b", first_name="only"),
        customer("a", first_name="second"),
        b'{"link": {"email": "a@example.com"}, "first_name": "by email"}',
        customer("a", first_name="third"),
    )
    for range_bytes in (1, 20, 50, 10_000):
        world = World(data, range_bytes=range_bytes, window=1)
        assert world.run().status == "Completed"
        assert world.stored("customer_id:a")["first_name"] == "third", range_bytes
        assert world.stored("customer_id:b")["first_name"] == "only"
        assert world.stored("email:a@example.com")["first_name"] == "by email"
        assert world.count() == 3
        assert all(item["job_id"] == UPLOAD for item in world.records.items.values())


def test_rejected_lines_are_logged_with_their_physical_line_numbers_and_reasons():
    data = (
        customer("a") + b"\r\n"           # 1
        + b"\r\n"                         # 2 blank
        + b'{"link": {}}\r\n'             # 3 schema
        + b"not json\n"                   # 4
        + b"\n"                           # 5 blank
        + customer("b") + b"\n"           # 6
        + b'["array"]\n'                  # 7
        + b'{"link": {"customer_id": []}}'  # 8, no newline
    )
    world = World(data, read_size=3, range_bytes=16)
    outcome = world.run()
    assert outcome.stats.state() == {"total": 6, "loaded": 2, "rejected": 4, "created": 2, "replaced": 0}
    errors = world.error_log()
    assert [(e["line"], e["raw"]) for e in errors] == [
        (3, '{"link": {}}'),
        (4, "not json"),
        (7, '["array"]'),
        (8, '{"link": {"customer_id": []}}'),
    ]
    assert errors[0]["error"].startswith("link: must hold one identifier: email;")
    assert errors[1]["error"].startswith("invalid JSON: ")
    assert errors[2]["error"] == "expected a JSON object, got an array"
    assert errors[3]["error"] == "link.customer_id: must be a string"
    assert world.stored("customer_id:a") == {"link": {"customer_id": "a"}}
    assert world.stored("customer_id:b") == {"link": {"customer_id": "b"}}


def test_each_record_is_stored_as_the_line_sent():
    # Byte for byte, spacing and escapes included: nothing is parsed into a copy and dumped again.
    line = b'{ "link" : { "customer_id" : 7 } ,  "first_name" : "Ad\\u0061", "n": 1.50 }'
    world = World(line + b"\n", range_bytes=10)
    world.run()
    assert world.stored_raw("customer_id:7") == line.decode()


def test_very_long_raw_lines_are_clipped_in_the_error_log():
    long_invalid = b"{" + b"z" * (error_log.ERROR_RAW_LIMIT + 500)
    world = World(ndjson(long_invalid), read_size=4096, range_bytes=1 << 20)
    world.run()
    (entry,) = world.error_log()
    assert entry["line"] == 1
    assert len(entry["raw"]) == error_log.ERROR_RAW_LIMIT


# -- the job's end ------------------------------------------------------------------------------------
def test_a_whole_upload_stats_error_log_counts_and_cleanup():
    lines = []
    expected_errors = []
    for n in range(1, 61):
        if n % 7 == 0:
            lines.append(b"{broken")
            expected_errors.append(n)
        elif n % 11 == 0:
            lines.append(b'{"link": {"email": "no"}}')  # parses, but has no valid key
            expected_errors.append(n)
        else:
            lines.append(customer(f"c{n % 20}", n=n))
    lines[29] = b'{"too": "' + b"l" * MAX_LINE_BYTES + b'"}'  # line 30
    expected_errors = sorted(set(expected_errors) | {30})
    world = World(ndjson(*lines), range_bytes=400, partitions=5, read_size=64 * 1024)

    outcome = world.run()

    assert world.objects.list_keys(WORK.prefix) == [], "work files are deleted"
    assert outcome.status == "Completed"
    distinct = len({f"c{n % 20}" for n in range(1, 61) if n not in expected_errors})
    assert outcome.stats.state() == {"total": 60, "loaded": 60 - len(expected_errors),
                                     "rejected": len(expected_errors), "created": distinct, "replaced": 0}
    job = world.job
    assert job["status"] == "Completed"
    assert job["stats"] == outcome.stats.state()
    assert job["finished_at"]
    assert job["error_log_key"] == WORK.error_log
    log = world.error_log()
    assert [entry["line"] for entry in log] == expected_errors, "merged across ranges in line order"
    assert next(e for e in log if e["line"] == 30)["error"] == f"line is longer than {MAX_LINE_BYTES} bytes"
    assert world.objects.exists(world.key), "the upload itself is kept"
    assert world.dataset["record_counts"] == {"customer_record": world.count()} == {"customer_record": distinct}
    assert world.dataset["last_load"]["upload_id"] == UPLOAD
    assert world.dataset["last_load"]["rejected"] == len(expected_errors)


def test_rejections_from_several_ranges_are_merged_in_line_order():
    data = ndjson(*(b"{bad" if n % 3 == 0 else customer(f"c{n}") for n in range(1, 31)))
    world = World(data, range_bytes=40)
    planned = run_to_finalize(world.ctx, ACCOUNT, UPLOAD)
    assert len(world.objects.list_keys(WORK.errors_prefix)) > 2, "the test needs several error files"
    assert planned.within_budget
    finalize(world.ctx, planned.job)
    assert [entry["line"] for entry in world.error_log()] == list(range(3, 31, 3))


def test_finalize_refuses_when_the_partitions_totals_do_not_add_up():
    world = World(ndjson(*(customer(f"c{n}") for n in range(10))), partitions=1)
    planned = run_to_finalize(world.ctx, ACCOUNT, UPLOAD)
    result = PartitionResult.model_validate_json(world.objects.read(WORK.load_result(0)))
    world.objects.put(WORK.load_result(0), result.model_copy(update={"loaded": 9}).model_dump_json().encode())
    with pytest.raises(RuntimeError, match="the partitions applied 9 lines of the 10 valid ones"):
        finalize(world.ctx, planned.job)
    assert world.job["status"] == "Processing"  # MarkFailed, next, ends it
    assert world.dataset["record_counts"] == {}


def test_an_upload_without_rejections_has_no_error_log():
    world = World(ndjson(customer("a"), customer("b")))
    outcome = world.run()
    assert (outcome.stats.total, outcome.stats.loaded, outcome.stats.rejected) == (2, 2, 0)
    assert "error_log_key" not in world.job
    assert not world.objects.exists(WORK.error_log)


def test_a_split_without_rejections_writes_no_error_file():
    world = World(ndjson(customer("a")))
    run_to_finalize(world.ctx, ACCOUNT, UPLOAD)
    assert world.objects.list_keys(WORK.errors_prefix) == []


def test_a_dry_run_checks_every_line_but_writes_nothing_to_the_record_store():
    world = World(ndjson(customer("a"), b"bad", customer("b")), options={"dry_run": True})
    outcome = world.run()
    assert outcome.stats.state() == {"total": 3, "loaded": 2, "rejected": 1}
    assert world.records.items == {}
    assert world.records.put_calls == 0 and world.records.writers == []
    assert [entry["line"] for entry in world.error_log()] == [2]
    assert world.dataset["record_counts"] == {}
    assert "last_load" not in world.dataset


def test_a_rejected_file_fails_with_its_reason_and_leaves_nothing_behind():
    world = World(gzip.compress(ndjson(*(customer(f"c{i}") for i in range(50))))[:-10])
    outcome = world.run()
    assert outcome.status == "Failed"
    assert outcome.failure_reason.startswith("the gzip file is truncated")
    job = world.job
    assert job["status"] == "Failed" and job["failure_reason"] == outcome.failure_reason and job["finished_at"]
    assert world.objects.list_keys(WORK.prefix) == []
    assert "loading_job" not in world.dataset
    assert world.dataset["record_counts"] == {}


def test_mark_failed_after_loading_keeps_the_count_true_to_the_records_loaded():
    world = World(ndjson(customer("a"), customer("b")))
    planned = run_to_finalize(world.ctx, ACCOUNT, UPLOAD)
    cause = json.dumps({"errorMessage": "the gzip file is truncated: upload again"})
    outcome = mark_failed(world.ctx, FailedState(job=planned.job,
                                                 error=StepError(Error="FileRejectedError", Cause=cause)))
    assert (outcome.status, outcome.failure_reason) == ("Failed", "the gzip file is truncated: upload again")
    job = world.job
    assert job["status"] == "Failed"
    assert job["failure_reason"] == "the gzip file is truncated: upload again"
    assert job["finished_at"]
    assert world.objects.list_keys(WORK.prefix) == []
    assert world.dataset["record_counts"] == {"customer_record": world.count()} == {"customer_record": 2}
    assert world.dataset["last_load"]["status"] == "Failed"


def test_mark_failed_from_the_execution_input_before_inspect():
    world = World(b"")
    outcome = mark_failed(world.ctx, FailedState(account_id=ACCOUNT, upload_id=UPLOAD,
                                                 error=StepError(Error="Sandbox.Timedout")))
    assert outcome.status == "Failed"
    assert world.job["status"] == "Failed"
    assert world.job["failure_reason"] == (
        "a processing step ran out of time (Sandbox.Timedout); split the file into smaller files and upload those")
    assert "last_load" not in world.dataset


def test_an_empty_file_fails_through_mark_failed_with_inspects_reason():
    world = World(b"")
    outcome = world.run()
    assert (outcome.status, outcome.failure_reason) == ("Failed", "the uploaded file is empty (0 bytes)")
    assert world.job["failure_reason"] == "the uploaded file is empty (0 bytes)"
