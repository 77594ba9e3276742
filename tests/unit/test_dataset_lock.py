"""Loads into one dataset run one at a time: the hold taken by Inspect and released when a job ends."""

from __future__ import annotations

import json

import orjson
import pytest

from ingest.errors import ConflictError, DatasetBusyError, FileRejectedError
from ingest.logic.load import inspect
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.load.failure import failure_reason, mark_failed
from ingest.models.workflow import ExecutionInput, FailedState, JobOutcome, LoadJob, StepError
from tests.support.load_runner import run_upload
from tests.unit import routes
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore, FakeRecordStore
from tests.unit.routes import upload_view

ACCOUNT = "acme"
DATASET = "ds-1"


class Shared:
    """Two or more uploads into one dataset, on one set of fakes."""

    def __init__(self):
        self.objects = FakeObjectStore()
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable()
        self.records = FakeRecordStore()
        self.datasets.add(ACCOUNT, DATASET)

    @property
    def ctx(self) -> LoadContext:
        return LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets, records=self.records,
                           settings=LoadSettings(range_bytes=32, partitions=4, load_threads=2))

    def upload(self, upload_id: str, lines: list[dict], dry_run: bool = False,
               max_rejected_percent: float = 100) -> str:
        key = f"uploads/{ACCOUNT}/{upload_id}/f.ndjson"
        self.objects.put(key, b"".join(orjson.dumps(line) + b"\n" for line in lines))
        self.jobs.create({
            "account_id": ACCOUNT, "job_id": upload_id, "job_type": "upload", "status": "Pending",
            "filename": "f.ndjson", "dataset_id": DATASET, "record_type": "customer_record",
            "destination": {"destination_type": "dataset_load",
                            "dataset_id": DATASET, "record_type": "customer_record"},
            "object_key": key, "options": {"dry_run": dry_run, "max_rejected_percent": max_rejected_percent},
            "stats": {"total": 0, "loaded": 0, "rejected": 0},
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        })
        return upload_id

    def inspect(self, upload_id: str) -> LoadJob:
        return inspect.inspect(self.ctx, ExecutionInput(account_id=ACCOUNT, upload_id=upload_id))

    def finish(self, job: LoadJob) -> JobOutcome:
        """The rest of the workflow (its first state is Inspect again: the holder's retry keeps its hold)."""
        return run_upload(self.ctx, ACCOUNT, job.upload_id)

    def mark_failed(self, upload_id: str, error: str, job: LoadJob | None = None) -> JobOutcome:
        return mark_failed(self.ctx, FailedState(job=job, account_id=ACCOUNT, upload_id=upload_id,
                                                 error=StepError(Error=error, Cause="{}")))

    def holder(self) -> str | None:
        return self.datasets.get(ACCOUNT, DATASET).get("loading_job")


def customers(*ids: str, source: str) -> list[dict]:
    return [{"link": {"customer_id": cid}, "source": source} for cid in ids]


def test_a_second_load_waits_queued_behind_the_first_then_runs_after_it():
    world = Shared()
    first = world.upload("A", customers("k1", "k2", source="A"))
    second = world.upload("B", customers("k2", "k3", source="B"))
    state_a = world.inspect(first)
    assert world.holder() == first

    with pytest.raises(DatasetBusyError, match=f"busy loading upload {first}"):
        world.inspect(second)
    waiting = world.jobs.get(ACCOUNT, second)
    assert waiting["status"] == "Pending"
    assert upload_view(waiting, world.objects, 60)["queued_behind"] == first

    assert world.finish(state_a).status == "Completed"
    assert world.holder() is None, "Finalize lets the next load in"
    state_b = world.inspect(second)
    assert world.holder() == second
    assert "queued_behind" not in upload_view(world.jobs.get(ACCOUNT, second), world.objects, 60)
    assert world.finish(state_b).status == "Completed"
    shards = world.datasets.get(ACCOUNT, DATASET)["shards"]
    stored = {key: json.loads(world.records.get(ACCOUNT, DATASET, "customer_record", f"customer_id:{key}",
                                                shards))["source"]
              for key in ("k1", "k2", "k3")}
    assert stored == {"k1": "A", "k2": "B", "k3": "B"}  # A, then B: a serial order


def test_inspect_retried_by_the_holder_itself_keeps_its_hold():
    world = Shared()
    upload = world.upload("A", customers("k1", source="A"))
    world.inspect(upload)
    world.inspect(upload)  # a retried Inspect (its Lambda failed after taking the hold)
    assert world.holder() == upload


def test_dry_runs_neither_wait_nor_hold_the_dataset():
    world = Shared()
    world.inspect(world.upload("A", customers("k1", source="A")))
    job = world.inspect(world.upload("DRY", customers("k1", source="dry"), dry_run=True))
    assert job.dry_run and world.holder() == "A"
    assert world.finish(job).status == "Completed" and world.holder() == "A"


@pytest.mark.parametrize("ending", ["mark_failed", "error_budget"])
def test_every_way_a_job_ends_lets_the_next_load_in(ending):
    world = Shared()
    upload = world.upload("A", [*customers("k1", source="A"), {"no": "link"}], max_rejected_percent=0)
    job = world.inspect(upload)
    assert world.holder() == upload
    if ending == "mark_failed":
        world.mark_failed(upload, "StepFailedError", job)
    else:  # PlanLoad finds 1 of 2 lines rejected, over the 0% allowed
        assert world.finish(job).failure_reason.startswith("error budget exceeded")
    assert world.jobs.get(ACCOUNT, upload)["status"] == "Failed"
    assert world.holder() is None
    world.inspect(world.upload("B", customers("k1", source="B")))
    assert world.holder() == "B"


def test_mark_failed_before_inspect_described_the_job_still_releases_the_hold():
    world = Shared()
    upload = world.upload("A", customers("k1", source="A"))
    world.inspect(upload)
    # Inspect took the hold, then failed on every attempt: MarkFailed gets only the execution input.
    world.mark_failed(upload, "States.Timeout")
    assert world.holder() is None


def test_a_hold_left_by_a_job_that_ended_is_taken_over():
    world = Shared()
    world.inspect(world.upload("A", customers("k1", source="A")))
    world.jobs.update(ACCOUNT, "A", status="Failed")  # ended without releasing (stopped from outside)
    world.inspect(world.upload("B", customers("k1", source="B")))
    assert world.holder() == "B"


def test_a_waiting_upload_is_refused_if_a_clear_takes_the_dataset_first():
    world = Shared()
    world.datasets.items[(ACCOUNT, DATASET)]["clearing_job"] = "CLEAR1"
    with pytest.raises(FileRejectedError, match="being cleared"):
        world.inspect(world.upload("A", customers("k1", source="A")))
    assert world.holder() is None


class _Starter:
    def start(self, name, payload):
        return f"arn:execution:{name}"


def test_a_clear_is_refused_while_a_load_holds_the_dataset_and_takes_over_a_stale_hold():
    world = Shared()  # FakeDatasetsTable.start_clear refuses while a clear or a load holds the dataset
    world.inspect(world.upload("A", customers("k1", source="A")))
    with pytest.raises(ConflictError, match=f"dataset {DATASET} is busy loading upload A; clear it when"):
        routes.request_clear(world.jobs, world.datasets, _Starter(), ACCOUNT, DATASET)
    world.jobs.update(ACCOUNT, "A", status="Failed")  # A ended but its hold stayed
    view = routes.request_clear(world.jobs, world.datasets, _Starter(), ACCOUNT, DATASET)
    assert view["status"] == "Pending" and world.holder() is None


def test_giving_up_waiting_says_so():
    reason = failure_reason({"Error": "DatasetBusyError",
                             "Cause": json.dumps({"errorMessage": "dataset ds-1 is busy loading upload A"})})
    assert reason.startswith("gave up waiting for its turn: dataset ds-1 is busy loading upload A")


def test_while_a_revert_holds_the_dataset_a_clear_and_a_queued_upload_name_the_revert():
    world = Shared()
    world.jobs.create({"account_id": ACCOUNT, "job_id": "R", "job_type": "revert", "status": "Processing",
                       "dataset_id": DATASET, "upload_id": "A"})
    assert world.datasets.hold_for_load(ACCOUNT, DATASET, "R", "2026-11-30T00:00:00Z")
    with pytest.raises(ConflictError, match=rf"dataset {DATASET} is busy reverting upload A \(revert R\); clear it"):
        routes.request_clear(world.jobs, world.datasets, _Starter(), ACCOUNT, DATASET)
    with pytest.raises(DatasetBusyError, match=rf"dataset {DATASET} is busy reverting upload A \(revert R\)$"):
        world.inspect(world.upload("B", customers("k1", source="B")))
