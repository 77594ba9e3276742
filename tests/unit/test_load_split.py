"""Inspect, Scan, PlanSplit, Decompress, Split and PlanLoad (logic/load) on in-memory fakes.

The main property: whatever the range size, the records Split writes (their line numbers, keys,
stored JSON, routing) and the lines it rejects (numbers, messages) are exactly what a one-pass read of
the whole file (formats.records_of, the reader the old pipeline and `validate` use) gives. Files of a
few hundred bytes are cut in ranges of 1 byte and up, so every boundary case (a range starting on a
newline, inside a CRLF, inside a quoted CSV field, in a run of blank lines) comes up.
"""

from __future__ import annotations

import gzip
import itertools
import json

import orjson
import pytest

from ingest import record_types
from ingest.adapters.record_store import key_hash, partition_of
from ingest.errors import DatasetBusyError, FileRejectedError
from ingest.logic import formats
from ingest.logic.lines import MAX_LINE_BYTES
from ingest.logic.load import decompress, frames, inspect, record_limits, scan, split
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.load.layout import WorkKeys
from ingest.models.workflow import ExecutionInput, LoadJob, PartitionTask, RangeTask, SplitResult
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore, FakeRecordStore

ACCOUNT = "acme"
UPLOAD = "01J0000000000000000000UPLD"
DATASET = "ds-1"
WORK = WorkKeys(ACCOUNT, UPLOAD)


class World:
    """The split half of the load workflow wired to fakes, with one upload job and its dataset."""

    def __init__(self, data: bytes, filename: str = "file.ndjson", record_type: str = "customer_record",
                 range_bytes: int = 64, partitions: int = 4, options: dict | None = None, read_size: int = 7):
        self.objects = FakeObjectStore(read_size=read_size)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.datasets.add(ACCOUNT, DATASET)
        self.key = f"uploads/{ACCOUNT}/{UPLOAD}/{filename}"
        self.objects.put(self.key, data)
        job = {"account_id": ACCOUNT, "job_id": UPLOAD, "job_type": "upload", "status": "Pending",
               "filename": filename, "dataset_id": DATASET, "record_type": record_type, "object_key": self.key,
               "stats": {"total": 0, "loaded": 0, "rejected": 0}}
        if options is not None:
            job["options"] = options
        self.jobs.create(job)
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets,
                               records=FakeRecordStore(),
                               settings=LoadSettings(range_bytes=range_bytes, partitions=partitions))

    @property
    def item(self) -> dict:
        return self.jobs.get(ACCOUNT, UPLOAD)

    def inspect(self) -> LoadJob:
        return inspect.inspect(self.ctx, ExecutionInput(account_id=ACCOUNT, upload_id=UPLOAD))

    def manifest(self, key: str) -> list[RangeTask]:
        return [RangeTask.model_validate(task) for task in json.loads(self.objects.read(key))]

    def plan(self) -> LoadJob:
        """Inspect, then Scan + PlanSplit (plain) or Decompress (gzip), as the state machine runs them."""
        job = self.inspect()
        if job.gzip:
            return decompress.decompress_all(self.ctx, job)
        for task in self.manifest(WORK.scan_manifest):
            scan.scan_range(self.ctx, job, task)
        return scan.plan_split(self.ctx, job)

    def split(self) -> LoadJob:
        job = self.plan()
        for task in self.manifest(WORK.split_manifest):
            split.split_range(self.ctx, job, task)
        return job

    def frames_by_partition(self, job: LoadJob) -> dict[int, list[frames.Frame]]:
        """What Load reads: parts/<p>/<i> for i in range order."""
        found: dict[int, list[frames.Frame]] = {}
        for partition in range(job.partitions):
            for index in range(job.ranges or 0):
                key = WORK.part(partition, index)
                if self.objects.exists(key):
                    found.setdefault(partition, []).extend(frames.decode_stream(self.objects.stream(key)))
        return found

    def split_errors(self) -> list[dict]:
        return [json.loads(line) for key in self.objects.list_keys(WORK.errors_prefix)
                for line in self.objects.read(key).splitlines()]

    def outcome(self) -> tuple[list[tuple], list[tuple]]:
        """(valid records as (line, key, stored, raw), rejected lines as (line, error, raw)), in line order."""
        job = self.split()
        by_partition = self.frames_by_partition(job)
        for partition, found in by_partition.items():
            assert [frame.line for frame in found] == sorted(frame.line for frame in found), "not in line order"
            assert all(partition_of(frame.key, job.partitions) == partition for frame in found)
        valid = sorted((frame.line, frame.key, frame.record, frame.raw)
                       for found in by_partition.values() for frame in found)
        rejected = [(error["line"], error["error"], error["raw"]) for error in self.split_errors()]
        return valid, sorted(rejected)


def one_pass(data: bytes, fmt: str, record_type: str = "customer_record") -> tuple[list[tuple], list[tuple]]:
    """What a single read of the whole file gives: the old pipeline's Split and `validate`."""
    kind = record_types.get(record_type)
    valid, rejected = [], []
    for record in formats.records_of([data], fmt, kind):
        problem = record.problem
        if problem is None:
            problem, key, stored = record_limits.check_line(kind, record.json)
        if problem is None:
            valid.append((record.number, key, stored, record.raw))
        else:
            rejected.append((record.number, problem, record.raw[:64 * 1024].decode("utf-8", errors="replace")))
    return sorted(valid), sorted(rejected)


def customer(cid, **fields) -> bytes:
    return orjson.dumps({"link": {"customer_id": cid}, **fields})


NDJSON_FILE = (
    b"\xef\xbb\xbf" + customer("c1", first_name="Ann") + b"\r\n"
    + b"\n"
    + b"   \n"
    + customer("c2") + b"\n"
    + b'{"link": \n'  # invalid JSON
    + b"\r\n"
    + customer("c1", first_name="Bea") + b"\r\n"
    + b'{"first_name": "no key"}\n'
    + b"[1, 2]\n"
    + customer("c3", first_name="x" * 40) + b"\n"
    + b"\n\n"
    + customer("c2", last_name="Last") + b"\n"
    + customer("c4")  # no newline at the end
)

CSV_FILE = (
    "\ufefflink.customer_id,link.email,first_name,last_name,custom_fields\r\n"
    'c1,,"Smith, Jr.","O""Brien",\r\n'
    ',C2@Example.com,"two\nlines\n\nand a blank one",,"{""tier"": ""gold""}"\r\n'
    "\r\n"
    ",,nobody,,\r\n"
    'c3,,x,y,z,extra\r\n'
    '"c1",,"quoted ""key"" again\r\nover CRLF",,\r\n'
    "\n\n"
    'c5,,"a,b,c",d,\n'
    "c4,,last,row,"
).encode("utf-8")


def test_the_test_files_hold_what_the_cases_need():
    valid, rejected = one_pass(NDJSON_FILE, formats.NDJSON)
    assert [line for line, *_ in valid] == [1, 4, 7, 10, 13, 14]
    assert [(line, error.split(":")[0]) for line, error, _ in rejected] == [(5, "invalid JSON"), (8, "link"),
                                                                            (9, "expected a JSON object, got an array")]
    valid, rejected = one_pass(CSV_FILE, formats.CSV)
    assert [line for line, *_ in valid] == [2, 3, 10, 14, 15]
    assert [line for line, *_ in rejected] == [8, 9]


@pytest.mark.parametrize("range_bytes", [*range(1, 40), 57, 64, 100, 181, 250, len(NDJSON_FILE), 10_000])
def test_ndjson_records_and_rejections_match_one_pass_for_any_range_size(range_bytes):
    world = World(NDJSON_FILE, range_bytes=range_bytes)
    assert world.outcome() == one_pass(NDJSON_FILE, formats.NDJSON)


@pytest.mark.parametrize("range_bytes", [*range(1, 40), 57, 64, 100, 181, 250, len(CSV_FILE), 10_000])
def test_csv_records_and_rejections_match_one_pass_for_any_range_size(range_bytes):
    world = World(CSV_FILE, filename="customers.csv", range_bytes=range_bytes)
    assert world.outcome() == one_pass(CSV_FILE, formats.CSV)


@pytest.mark.parametrize("read_size", [1, 2, 3, 5, 1000])
def test_how_the_object_streams_in_pieces_changes_nothing(read_size):
    for data, filename, fmt in ((NDJSON_FILE, "f.ndjson", formats.NDJSON), (CSV_FILE, "f.csv", formats.CSV)):
        world = World(data, filename=filename, range_bytes=23, read_size=read_size)
        assert world.outcome() == one_pass(data, fmt)


def test_a_csv_record_is_numbered_by_its_first_line_and_kept_whole_across_ranges():
    world = World(CSV_FILE, filename="customers.csv", range_bytes=5)
    valid, rejected = world.outcome()
    by_line = {line: (key, orjson.loads(stored), raw) for line, key, stored, raw in valid}
    assert by_line[3][0] == "email:c2@example.com"
    assert by_line[3][1]["first_name"] == "two\nlines\n\nand a blank one"
    assert by_line[10][1] == {"link": {"customer_id": "c1"}, "first_name": 'quoted "key" again\nover CRLF'}
    assert by_line[14][1]["first_name"] == "a,b,c"
    assert rejected == [(8, "link: is required", ",,nobody,,"), (9, "row has 6 fields; the header has 5",
                                                                 "c3,,x,y,z,extra")]


def test_gzip_single_and_multi_member_split_as_the_plain_file():
    for data, filename, fmt in ((NDJSON_FILE, "f.ndjson.gz", formats.NDJSON), (CSV_FILE, "f.csv.gz", formats.CSV)):
        expected = one_pass(data, fmt)
        members = [gzip.compress(data[start:start + 37]) for start in range(0, len(data), 37)]
        for compressed in (gzip.compress(data), b"".join(members)):
            for range_bytes in (1, 9, 40, 10_000):
                world = World(compressed, filename=filename, range_bytes=range_bytes)
                assert world.outcome() == expected, (filename, range_bytes, len(members))


def test_decompress_cuts_parts_at_record_boundaries_and_counts_their_lines():
    world = World(gzip.compress(CSV_FILE), filename="f.csv.gz", range_bytes=30)
    job = world.plan()
    tasks = world.manifest(WORK.split_manifest)
    assert job.ranges == len(tasks) > 3
    parts = [world.objects.read(task.source_key) for task in tasks]
    assert b"".join(parts) == CSV_FILE
    line = 1
    for task, part in zip(tasks, parts, strict=True):
        assert (task.start, task.end, task.first_line, task.starts_in_quotes) == (0, len(part), line, False)
        assert len(part) >= 30 or task is tasks[-1]
        assert part.count(b'"') % 2 == 0  # no part ends inside a quoted field
        line += part.count(b"\n")
    assert [task.holds_header for task in tasks] == [True] + [False] * (len(tasks) - 1)
    progress = world.item["progress"]
    assert progress["phase"] == "Splitting" and progress["chunks_total"] == len(tasks)
    assert progress["bytes_read"] == len(world.objects.read(world.key))  # the compressed bytes


def test_a_corrupt_or_truncated_gzip_upload_is_refused_by_decompress():
    compressed = gzip.compress(b"".join(customer(f"c{number}") + b"\n" for number in range(2000)), mtime=0)
    corrupt = compressed[:10] + bytes(byte ^ 0x55 for byte in compressed[10:200]) + compressed[200:]
    for data, message in ((compressed[: len(compressed) // 2], "the gzip file is .*truncated"),
                          (corrupt, "the gzip file is (truncated or )?corrupt")):
        world = World(data, filename="f.ndjson.gz", range_bytes=10_000)
        with pytest.raises(FileRejectedError, match=message):
            world.plan()
        assert not world.objects.exists(WORK.split_manifest)
        parts = world.objects.list_keys(f"{WORK.prefix}plain/")
        assert all(world.objects.read(key).endswith(b"\n") for key in parts), "a part cut short was published"


def test_csv_header_after_blank_lines_is_read_by_the_range_that_holds_it():
    data = b"\n\n\r\n" + CSV_FILE.removeprefix("\ufeff".encode())
    for range_bytes in (1, 2, 3, 4, 5, 8):
        world = World(data, filename="customers.csv", range_bytes=range_bytes)
        assert world.outcome() == one_pass(data, formats.CSV), range_bytes
        holders = [task.index for task in world.manifest(WORK.split_manifest) if task.holds_header]
        assert len(holders) == 1 and holders[0] == 4 // range_bytes


def test_too_long_lines_are_rejected_with_their_numbers_whatever_the_ranges():
    long_line = customer("big", first_name="x" * (MAX_LINE_BYTES + 10))
    data = customer("a") + b"\n" + long_line + b"\r\n\n" + customer("b") + b"\n" + long_line
    for range_bytes in (50_000, 300_000, MAX_LINE_BYTES, 10 * MAX_LINE_BYTES):
        world = World(data, range_bytes=range_bytes, read_size=65536)
        valid, rejected = world.outcome()
        assert [line for line, *_ in valid] == [1, 4]
        assert rejected == [(2, f"line is longer than {MAX_LINE_BYTES} bytes", ""),
                            (5, f"line is longer than {MAX_LINE_BYTES} bytes", "")]


# -- routing, last line wins, memory ------------------------------------------------------------------
def test_every_line_of_a_key_goes_to_one_partition_in_file_order_across_ranges():
    lines = [customer(f"k{number % 7}", first_name=f"v{number}") for number in range(200)]
    world = World(b"\n".join(lines) + b"\n", range_bytes=97, partitions=5)
    job = world.split()
    assert job.ranges > 50
    last: dict[str, str] = {}
    for found in world.frames_by_partition(job).values():
        for frame in found:  # what Load does: the last line read for a key wins
            last[frame.key] = orjson.loads(frame.record)["first_name"]
    assert last == {f"customer_id:k{key}": f"v{max(n for n in range(200) if n % 7 == key)}" for key in range(7)}


def test_partition_writers_hold_at_most_one_s3_part_whatever_the_range(monkeypatch):
    monkeypatch.setattr(split, "SPLIT_PART_BYTES", 2048)  # S3's 5 MiB minimum, scaled to the test
    lines = [customer(f"k{number}", first_name="y" * (number % 50)) for number in range(3000)]
    data = b"\n".join(lines) + b"\n"
    world = World(data, range_bytes=len(data), partitions=8, read_size=4096)  # one range: the whole file
    job = world.split()
    writers = [writer for writer in world.objects.writers if "/parts/" in writer.key]
    assert len(writers) == 8 and all(writer.part_bytes == 2048 for writer in writers)
    longest_frame = max(len(line) for line in lines) + 64
    assert max(writer.held_max for writer in writers) < 2048 + longest_frame
    assert sum(len(found) for found in world.frames_by_partition(job).values()) == 3000


def test_a_range_reads_only_its_bytes_and_past_its_end_only_to_finish_its_last_record():
    lines = [customer(f"k{number}") for number in range(40)]
    data = b"\n".join(lines) + b"\n"
    world = World(data, range_bytes=100, read_size=1000)
    job = world.plan()
    world.objects.ranged_reads.clear()
    tasks = world.manifest(WORK.split_manifest)
    split.split_range(world.ctx, job, tasks[3])
    (_, start, end), *more = world.objects.ranged_reads
    assert (start, end) == (299, 400)
    assert [(more_start, more_end) for _, more_start, more_end in more] in ([], [(400, None)])
    result = SplitResult.model_validate_json(world.objects.read(WORK.split_result(3)))
    assert result.bytes < 100 + len(lines[0]) + 1


# -- Inspect -----------------------------------------------------------------------------------------
def test_inspect_describes_the_job_and_writes_the_scan_manifest():
    world = World(CSV_FILE, filename="customers.csv", range_bytes=50, partitions=6,
                  options={"max_rejected_percent": 10})
    del world.datasets.items[(ACCOUNT, DATASET)]["shards"]  # a dataset from before shards were recorded: 16
    job = world.inspect()
    assert job == LoadJob(account_id=ACCOUNT, upload_id=UPLOAD, object_key=world.key, dataset_id=DATASET,
                          record_type="customer_record", format="csv", gzip=False, size=len(CSV_FILE),
                          max_rejected_percent=10, range_bytes=50, partitions=6, shards=16,
                          csv_header="link.customer_id,link.email,first_name,last_name,custom_fields")
    item = world.item
    assert item["status"] == "Processing" and item["size"] == len(CSV_FILE) and item["gzip"] is False
    assert item["progress"] == {"phase": "Inspecting", "bytes_total": len(CSV_FILE)}
    assert world.datasets.get(ACCOUNT, DATASET)["loading_job"] == UPLOAD
    assert "customer_record" in world.datasets.get(ACCOUNT, DATASET)["record_types_seen"]
    tasks = world.manifest(WORK.scan_manifest)
    assert [(task.start, task.end) for task in tasks] == [(start, min(start + 50, len(CSV_FILE)))
                                                         for start in range(0, len(CSV_FILE), 50)]
    assert [task.holds_header for task in tasks] == [True] + [False] * (len(tasks) - 1)
    assert all(task.source_key == world.key for task in tasks)


def test_inspect_takes_the_datasets_shards_and_leaves_gzip_to_decompress():
    world = World(gzip.compress(NDJSON_FILE), filename="f.ndjson.gz")
    world.datasets.items[(ACCOUNT, DATASET)]["shards"] = 64
    job = world.inspect()
    assert job.gzip and job.shards == 64 and job.format == "ndjson" and job.csv_header is None
    assert not world.objects.exists(WORK.scan_manifest)


def test_a_dry_run_takes_no_hold_and_notes_no_type_but_still_splits():
    world = World(NDJSON_FILE, options={"dry_run": True}, range_bytes=30)
    assert world.outcome() == one_pass(NDJSON_FILE, formats.NDJSON)
    dataset = world.datasets.get(ACCOUNT, DATASET)
    assert "loading_job" not in dataset and "record_types_seen" not in dataset


@pytest.mark.parametrize("data, filename, message", [
    (b"", "f.ndjson", "the uploaded file is empty (0 bytes)"),
    (b'[\n{"a": 1}\n]\n', "f.ndjson", "the file holds one JSON array"),
    (b"link.customer_id,first_name\na,b\n", "f.json", "looks like CSV"),
    (b'{"link": {"customer_id": 1}}\n', "f.csv", "holds JSON lines"),
    (b"first_name,last_name\na,b\n", "f.csv", "the CSV header does not match customer_record: missing required"),
    (b"\x00\x01,\x02\n", "f.ndjson", "the file is binary"),
    (b"link.customer_id," + b"x" * MAX_LINE_BYTES + b"\n", "f.csv",
     f"the CSV header row is malformed: line is longer than {MAX_LINE_BYTES} bytes"),
])
def test_inspect_refuses_files_it_can_tell_are_wrong(data, filename, message):
    world = World(data, filename=filename)
    with pytest.raises(FileRejectedError) as refused:
        world.inspect()
    assert message in str(refused.value)
    assert world.item["status"] == "Pending"


# A PNG's first "line" is b"\x89PNG\r": no NUL in it (its first NUL is byte 9). Named .ndjson it used to
# load as hundreds of rejected lines of garbage (docs: binary content ends Failed with a reason).
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x05\x91" + bytes(range(256)) * 8


@pytest.mark.parametrize("data, filename", [
    (PNG_HEAD, "f.ndjson"),
    (PNG_HEAD, "f.csv"),
    (gzip.compress(PNG_HEAD, mtime=0), "f.ndjson.gz"),
    (b'{"link": {"customer_id": "c1"}}\n' * 100 + b"\x00", "f.ndjson"),  # a NUL in the first 8,000 bytes
])
def test_inspect_refuses_a_file_whose_first_bytes_hold_a_nul_as_binary(data, filename):
    world = World(data, filename=filename)
    with pytest.raises(FileRejectedError, match="the file is binary, not text"):
        world.inspect()


def test_a_nul_past_the_first_8000_bytes_is_left_to_its_line():
    line = b'{"link": {"customer_id": "c1"}}\n'
    world = World(line * (8000 // len(line) + 1) + b"\x00\n", filename="f.ndjson")
    world.inspect()


def test_inspect_refuses_missing_objects_jobs_and_datasets_and_waits_for_a_busy_dataset():
    world = World(NDJSON_FILE)
    world.objects.sizes[world.key] = 5 * 1024**3 + 1
    with pytest.raises(FileRejectedError, match="over the 5 GB limit"):
        world.inspect()
    del world.objects.sizes[world.key]
    world.datasets.items[(ACCOUNT, DATASET)]["clearing_job"] = "clear-1"
    with pytest.raises(FileRejectedError, match="was being cleared"):
        world.inspect()
    del world.datasets.items[(ACCOUNT, DATASET)]["clearing_job"]
    world.jobs.create({"account_id": ACCOUNT, "job_id": "other", "status": "Processing"})
    world.datasets.items[(ACCOUNT, DATASET)]["loading_job"] = "other"
    with pytest.raises(DatasetBusyError, match="busy loading upload other"):
        world.inspect()
    assert world.item["queued_behind"] == "other" and world.item["status"] == "Pending"
    del world.datasets.items[(ACCOUNT, DATASET)]
    with pytest.raises(FileRejectedError, match=f"dataset {DATASET} no longer exists"):
        world.inspect()
    world.objects.objects.clear()
    with pytest.raises(FileRejectedError, match="no longer in storage"):
        world.inspect()
    with pytest.raises(FileRejectedError, match="has no job record"):
        inspect.inspect(world.ctx, ExecutionInput(account_id=ACCOUNT, upload_id="nobody"))


# -- Scan, PlanSplit, progress -----------------------------------------------------------------------
def test_plan_split_places_each_range_in_the_files_lines_and_quotes():
    world = World(CSV_FILE, filename="customers.csv", range_bytes=16)
    job = world.plan()
    tasks = world.manifest(WORK.split_manifest)
    assert job.ranges == len(tasks) == -(-len(CSV_FILE) // 16)
    for task in tasks:
        before = CSV_FILE[:task.start]
        assert task.first_line == 1 + before.count(b"\n")
        assert task.starts_in_quotes == bool(before.count(b'"') % 2)
    assert world.item["progress"] == {"phase": "Splitting", "bytes_total": len(CSV_FILE), "chunks_total": len(tasks),
                                      "chunks_done": 0}


def test_split_reports_progress_that_adds_up_to_the_file():
    world = World(NDJSON_FILE, range_bytes=10)
    job = world.split()
    progress = world.item["progress"]
    assert progress["bytes_read"] == len(NDJSON_FILE)
    assert progress["chunks_done"] == progress["chunks_total"] == job.ranges
    assert progress["lines_read"] == 9  # non-blank lines, rejected ones included


# -- PlanLoad ------------------------------------------------------------------------------------------
def test_plan_load_sums_the_ranges_and_lists_the_partitions_with_records():
    world = World(NDJSON_FILE, range_bytes=20, partitions=16)
    job = world.split()
    planned = split.plan_load(world.ctx, job)
    assert planned.within_budget and planned.job.split.total == 9 and planned.job.split.rejected == 3
    tasks = [PartitionTask.model_validate(task) for task in json.loads(world.objects.read(WORK.load_manifest))]
    with_records = {partition_of(f"customer_id:{cid}", 16) for cid in ("c1", "c2", "c3", "c4")}
    assert [task.partition for task in tasks] == sorted(with_records)
    assert all(task.ranges == job.ranges for task in tasks)
    assert world.item["progress"]["phase"] == "Loading"
    assert world.item["progress"]["chunks_total"] == len(tasks)
    assert world.item["stats"] == {"total": 9, "loaded": 0, "rejected": 3}


def test_over_the_error_budget_plan_load_fails_the_job_with_its_error_log():
    world = World(NDJSON_FILE, range_bytes=20, options={"max_rejected_percent": 30})
    planned = split.plan_load(world.ctx, world.split())
    assert not planned.within_budget
    item = world.item
    assert item["status"] == "Failed"
    assert item["failure_reason"] == ("error budget exceeded: 3 of 9 lines rejected (33.3%), over the 30% allowed "
                                      "by max_rejected_percent; nothing was loaded")
    assert item["stats"] == {"total": 9, "loaded": 0, "rejected": 3, "not_loaded": 6}
    log = [json.loads(line) for line in world.objects.read(item["error_log_key"]).splitlines()]
    assert [entry["line"] for entry in log] == [5, 8, 9]
    assert "loading_job" not in world.datasets.get(ACCOUNT, DATASET)
    assert world.objects.list_keys(WORK.prefix) == []


def test_within_the_error_budget_or_at_it_the_load_goes_on():
    for percent in (100, 34, 33.4):
        world = World(NDJSON_FILE, range_bytes=20, options={"max_rejected_percent": percent})
        assert split.plan_load(world.ctx, world.split()).within_budget, percent
    world = World(b"\n\n", options={"max_rejected_percent": 0})
    assert split.plan_load(world.ctx, world.split()).within_budget  # nothing to judge: no lines
    assert json.loads(world.objects.read(WORK.load_manifest)) == []


def test_a_retried_split_rewrites_the_same_files():
    world = World(CSV_FILE, filename="customers.csv", range_bytes=25)
    job = world.split()
    before = {key: world.objects.read(key) for key in world.objects.list_keys(WORK.prefix)}
    for task in world.manifest(WORK.split_manifest):
        split.split_range(world.ctx, job, task)
    assert {key: world.objects.read(key) for key in world.objects.list_keys(WORK.prefix)} == before


def test_ranges_of_every_size_partition_the_file_into_its_records_once():
    """The ranges' records, read with their frames, are the file's, each once (no loss, no duplicate)."""
    data = b"".join(customer(f"c{number}") + b"\n" * (number % 3 + 1) for number in range(30))
    expected = one_pass(data, formats.NDJSON)
    for range_bytes, read_size in itertools.product((1, 2, 7, 31, 32, 33, 500), (1, 4, 64)):
        assert World(data, range_bytes=range_bytes, read_size=read_size).outcome() == expected


CSV_WITH_BAD_LINES = (
    b"link.customer_id,first_name,last_name\n"
    b'c1,"bad \xff byte\nin a quoted field",x\n'  # a line that is not UTF-8 aborts its record
    b"c2,ok,\n"
    b'c3,"unterminated\n'
    b'c4,5" screen,x\n'  # a quote inside an unquoted field: Python's reader takes it as a character
    b"c5,after,it\n"
)


@pytest.mark.parametrize("range_bytes", [*range(1, 30), 45, 80, 1000])
def test_csv_lines_that_break_a_record_are_reported_as_one_pass_reports_them(range_bytes):
    world = World(CSV_WITH_BAD_LINES, filename="customers.csv", range_bytes=range_bytes)
    valid, rejected = world.outcome()
    assert (valid, rejected) == one_pass(CSV_WITH_BAD_LINES, formats.CSV)
    assert rejected[0][:2] == (2, "line is not valid UTF-8 (byte 9)")


def test_a_stray_quote_in_an_unquoted_csv_field_loses_no_record_and_reads_none_twice():
    """The quote flips the parity the ranges after it start from: the range holding it reads on to the
    end of the file (the ranges after it own nothing), and the records are still the one-pass reader's."""
    rows = [b"c%d,name %d,x" % (number, number) for number in range(40)]
    rows[5] = b'c5,24" screen,x'
    data = b"link.customer_id,first_name,last_name\n" + b"\n".join(rows) + b"\n"
    for range_bytes in (7, 50, 333):
        world = World(data, filename="customers.csv", range_bytes=range_bytes)
        valid, rejected = world.outcome()
        assert (valid, rejected) == one_pass(data, formats.CSV)
        assert len(valid) == 40 and rejected == []


# -- Split's per-line work (split.line_router) and the frames it writes ----------------------------------

ROUTED_LINES = [
    customer("c1", first_name="Ann"),
    b'{"link": {"email": "Mixed.Case@Example.com"}, "first_name": "Bo"}',
    b'{"link":\t{"customer_id": "tab\\tin key"},\t"first_name": "Cy"}',  # tabs: whitespace, and in a string
    b'{"link": {"customer_id": 5}}',  # converted by the exact checker
    b'{"link": {"customer_id": ""}}',  # refused
    b'{"link": ',  # not JSON
    b'{"link": {"customer_id": "big"}, "first_name": "' + b"x" * record_limits.MAX_STORED_RECORD_BYTES + b'"}',
]


@pytest.mark.parametrize("line", ROUTED_LINES)
def test_split_routes_each_line_as_check_line_partition_of_and_frames_encode_say(line):
    kind = record_types.get("customer_record")
    problem, key, stored = record_limits.check_line(kind, line)
    for csv_raw in (None, b"c1,\t\"row\"\nas sent"):
        routed = split.line_router(kind, 7)(12, line, csv_raw)
        if problem is not None:
            assert routed == (problem, 0, b"")
            continue
        assert routed == (None, partition_of(key, 7), frames.encode(12, key, stored, csv_raw))
        decoded = frames.decode(routed[2].rstrip(b"\n"))
        assert (decoded.line, decoded.key, decoded.record, decoded.key_hash) == (12, key, line, key_hash(key))
        assert decoded.raw == (line if csv_raw is None else csv_raw)


def test_a_line_with_tabs_between_its_tokens_reaches_load_as_sent():
    """JSON may hold a tab as whitespace: the frame keeps the record last, so Load reads it whole."""
    data = customer("c0") + b'\n{"link":\t{"customer_id": "c1"},\t"first_name": "Ann"}\n' + customer("c2") + b"\n"
    valid, rejected = World(data, range_bytes=16).outcome()
    assert rejected == []
    assert [(line, key, stored) for line, key, stored, _ in valid] == [
        (1, "customer_id:c0", customer("c0")),
        (2, "customer_id:c1", b'{"link":\t{"customer_id": "c1"},\t"first_name": "Ann"}'),
        (3, "customer_id:c2", customer("c2")),
    ]


@pytest.mark.parametrize("data, filename", [
    (b'[{"link": {"customer_id": "c1"}}, {"link": {"customer_id": "c2"}}]\n', "f.ndjson"),  # one line
    (b'\xef\xbb\xbf  [ {"link": {"customer_id": "c1"}}]', "f.json"),  # a BOM, spaces, no final newline
    (b"[\n  {\n    \"link\": {\"customer_id\": \"c1\"}\n  }\n]\n", "f.json"),  # pretty-printed
    (b"[" + b'{"link": {"customer_id": "c1"}, "notes": "' + b"x" * 1_100_000 + b'"}]', "f.json"),  # over a line's limit
    (gzip.compress(b'[{"link": {"customer_id": "c1"}}]\n', mtime=0), "f.ndjson.gz"),
], ids=["one-line", "bom-and-spaces", "pretty", "too-long-to-hold", "gzip"])
def test_inspect_refuses_a_file_that_is_one_json_array(data, filename):
    with pytest.raises(FileRejectedError, match="the file holds one JSON array"):
        World(data, filename=filename).inspect()


def test_a_first_line_that_starts_with_a_bracket_but_holds_no_records_is_left_to_its_line():
    world = World(b'["not", "a record"]\n{"link": {"customer_id": "c1"}}\n')
    world.inspect()  # no failure: the line is rejected on its own when the file is split


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_one_line_json_array_fails_before_its_line_is_read_to_the_end(compress):
    # JSON.stringify of a whole export: one line, as long as the file. Its end is not needed to refuse it.
    plain = b"[" + b",".join(b'{"link": {"customer_id": "c%d"}}' % n for n in range(200_000)) + b"]"
    data = gzip.compress(plain, mtime=0) if compress else plain
    world = World(data, filename="f.json.gz" if compress else "f.json", read_size=64 * 1024)
    streamed = []
    stream = world.objects.stream
    world.objects.stream = lambda key: (streamed.append(len(chunk)) or chunk for chunk in stream(key))
    with pytest.raises(FileRejectedError, match="the file holds one JSON array"):
        world.inspect()
    assert len(data) > 5 * 64 * 1024 and sum(streamed) <= 64 * 1024


@pytest.mark.parametrize("data, filename", [
    (b'{"link": {"customer_id": "c1"}}\r{"link": {"customer_id": "c2"}}\r', "customer_record-mac.ndjson"),
    (b"customer_id,first_name\rc1,Ann\rc2,Bo\r", "customer_record-mac.csv"),
    (gzip.compress(b"customer_id,first_name\rc1,Ann\r", mtime=0), "customer_record-mac.csv.gz"),
], ids=["ndjson", "csv", "csv-gzip"])
def test_inspect_refuses_lines_ended_by_a_carriage_return_alone(data, filename):
    # Classic Mac OS line endings: no LF anywhere, so the whole file would be one line.
    with pytest.raises(FileRejectedError, match=r"lines end in a carriage return alone \(CR.*LF or CRLF"):
        World(data, filename=filename).inspect()


@pytest.mark.parametrize("data", [
    b'{"link": {"customer_id": "c1"}}\r',  # one record, its line ended by CR alone: the CR is dropped
    b'{"link": {"customer_id": "c1"}}\r\n{"link": {"customer_id": "c2"}}\r\n',  # CRLF
    b'{"link": {"customer_id": "c1"}}\n{"link":\r{"customer_id": "c2"}}\n',  # a CR as JSON whitespace
], ids=["one-record", "crlf", "cr-inside-a-record"])
def test_a_carriage_return_with_a_line_feed_in_the_head_is_not_refused(data):
    assert World(data).inspect().format == "ndjson"


def test_inspect_answers_a_first_line_too_long_to_hold_without_reading_it_to_the_end():
    # One record of 8 MiB (a CSV saved with no line break at all looks the same): Inspect does not need
    # its end, and Split rejects the line on its own; reading it through could take Inspect's minute.
    first = b'{"link": {"customer_id": "c1"}, "notes": "' + b"x" * (8 * 1024 * 1024) + b'"}\n'
    world = World(first + b'{"link": {"customer_id": "c2"}}\n', read_size=64 * 1024)
    streamed = []
    stream = world.objects.stream
    world.objects.stream = lambda key: (streamed.append(len(chunk)) or chunk for chunk in stream(key))
    assert world.inspect().format == "ndjson"
    assert sum(streamed) <= MAX_LINE_BYTES + 3 * 64 * 1024 + formats.BINARY_SNIFF_BYTES
