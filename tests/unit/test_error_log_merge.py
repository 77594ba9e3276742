"""The steps that merge error logs (Finalize, PlanLoad over the error budget, MarkFailed) stream them into S3.

They have 512 MiB of /tmp and an error line is ~1.7x its raw line, so the merge must not go through
a local file: here it runs with every way of making one refused, against moto's S3 (a child process,
tests/unit/conftest.py) with a small part size, and the error log must arrive as a multipart object,
whole and in line order.
"""

from __future__ import annotations

import builtins
import json
import tempfile

import pytest

from ingest.adapters.object_store import ObjectStore
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.load.failure import mark_failed
from ingest.logic.load.finalize import finalize
from ingest.logic.load.layout import WorkKeys
from ingest.models.workflow import FailedState, PlannedLoad, StepError
from tests.support.load_runner import run_to_finalize
from tests.unit.conftest import PART_BYTES
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeRecordStore

ACCOUNT = "acme"
UPLOAD = "01J0000000000000000000UPLD"
DATASET = "ds-1"
LINES = 3_000  # two of every three rejected: ~2,000 error lines of ~250 bytes, about eight parts


class TemporaryFileRefusedError(AssertionError):
    pass


def refuse(*args, **kwargs):
    raise TemporaryFileRefusedError(f"a step tried to make a local file: {args} {kwargs}")


@pytest.fixture
def no_local_files(monkeypatch):
    """Turns on a guard: from then on, making a temporary file or opening a file to write fails."""

    def turn_on():
        for name in ("NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile", "TemporaryDirectory",
                     "mkstemp", "mkdtemp"):
            monkeypatch.setattr(tempfile, name, refuse)
        real_open = builtins.open

        def read_only_open(file, mode="r", *args, **kwargs):
            if any(flag in mode for flag in "wax+"):
                refuse(file, mode)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", read_only_open)

    return turn_on


def line(number: int) -> bytes:
    if number % 3 == 0:
        return json.dumps({"link": {"customer_id": f"c{number}"}, "first_name": "Ann"}).encode()
    return b'{"link": {"customer_id": "broken ' + b"x" * (150 + number % 5) + b'"'  # invalid JSON, rejected


class Run:
    """A real ObjectStore over moto's S3, fakes for the tables: one upload, ready to be run."""

    def __init__(self, s3, options: dict | None = None):
        self.s3 = s3
        self.objects = ObjectStore(s3, s3.test_bucket, part_bytes=PART_BYTES)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.datasets.add(ACCOUNT, DATASET)
        key = f"uploads/{ACCOUNT}/{UPLOAD}/file.ndjson"
        self.objects.put(key, b"\n".join(line(n) for n in range(1, LINES + 1)) + b"\n")
        self.jobs.create({"account_id": ACCOUNT, "job_id": UPLOAD, "job_type": "upload", "status": "Pending",
                          "filename": "file.ndjson", "dataset_id": DATASET, "record_type": "customer_record",
                          "object_key": key, "options": options or {},
                          "stats": {"total": 0, "loaded": 0, "rejected": 0}})
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets,
                               records=FakeRecordStore(),
                               settings=LoadSettings(range_bytes=64 * 1024, partitions=4, load_threads=2))
        self.work = WorkKeys(ACCOUNT, UPLOAD)

    def to_finalize(self) -> PlannedLoad:
        """Every step before Finalize; each range rejects lines, so there are several error files to merge."""
        planned = run_to_finalize(self.ctx, ACCOUNT, UPLOAD)
        assert (planned.job.ranges or 0) > 1, "the test needs several ranges, so several error files to merge"
        return planned

    def error_log(self) -> tuple[list[int], str]:
        stored = self.s3.get_object(Bucket=self.s3.test_bucket, Key=self.work.error_log)
        return [json.loads(entry)["line"] for entry in stored["Body"].read().splitlines()], stored["ETag"]


REJECTED = [n for n in range(1, LINES + 1) if n % 3]


def assert_merged_in_parts(run: Run) -> None:
    numbers, etag = run.error_log()
    assert numbers == REJECTED, "every rejected line, once, in line order"
    parts = int(etag.strip('"').rpartition("-")[2])  # a multipart object's ETag ends in -<parts>
    assert parts > 2, etag
    assert "Uploads" not in run.s3.list_multipart_uploads(Bucket=run.s3.test_bucket)
    assert run.objects.list_keys(run.work.prefix) == [], "work files deleted"


# The guard is on from Inspect on: no step of the workflow makes a local file, the merging ones included.
def test_finalize_streams_the_error_log_to_s3_in_parts(s3, no_local_files):
    run = Run(s3)
    no_local_files()
    outcome = finalize(run.ctx, run.to_finalize().job)
    assert outcome.stats.state() == {"total": LINES, "loaded": LINES // 3, "rejected": len(REJECTED),
                                     "created": LINES // 3, "replaced": 0}
    assert_merged_in_parts(run)


def test_plan_load_over_the_error_budget_streams_the_error_log_to_s3_in_parts(s3, no_local_files):
    run = Run(s3, options={"max_rejected_percent": 10})
    no_local_files()
    assert run.to_finalize().within_budget is False
    job = run.jobs.get(ACCOUNT, UPLOAD)
    assert job["status"] == "Failed" and job["error_log_key"] == run.work.error_log
    assert_merged_in_parts(run)


def test_mark_failed_streams_the_error_log_to_s3_in_parts(s3, no_local_files):
    run = Run(s3)
    no_local_files()
    error = StepError(Error="States.ExceedToleratedFailureThreshold", Cause="")
    outcome = mark_failed(run.ctx, FailedState(job=run.to_finalize().job, error=error))
    assert outcome.status == "Failed"
    job = run.jobs.get(ACCOUNT, UPLOAD)
    # Every partition had finished: MarkFailed counts what they loaded (logic/load/failure.py).
    assert job["stats"] == {"total": LINES, "loaded": LINES // 3, "rejected": len(REJECTED),
                            "created": LINES // 3, "replaced": 0, "not_loaded": 0}
    assert_merged_in_parts(run)


def test_the_guard_catches_a_temporary_file(no_local_files):
    """The tests above mean something only if the guard fails the way the old merge did."""
    no_local_files()
    with pytest.raises(TemporaryFileRefusedError), tempfile.NamedTemporaryFile("wb", suffix=".ndjson", delete=False):
        pass
    # The path the guard must refuse: the function's local disk, where the old merge wrote.
    with pytest.raises(TemporaryFileRefusedError), open("/tmp/anything.ndjson", "wb"):  # noqa: S108
        pass
