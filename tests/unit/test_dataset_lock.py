"""Loads into one dataset run one at a time: the hold taken by Inspect and released when a job ends."""

from __future__ import annotations

import json

import orjson
import pytest

from ingest.errors import ConflictError, DatasetBusyError, FileRejectedError
from ingest.logic import clear
from ingest.logic.pipeline import Pipeline, failure_reason
from tests.unit import routes
from tests.unit.routes import upload_view
from tests.unit.fakes import FakeDatasetsTable, FakeJobsTable, FakeObjectStore, FakeRecordStore

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
        self.pipeline = Pipeline(self.objects, self.jobs, self.datasets, self.records,
                                 chunk_target_bytes=1 << 20, max_chunks=4)

    def upload(self, upload_id: str, lines: list[dict], dry_run: bool = False) -> str:
        key = f"uploads/{ACCOUNT}/{upload_id}/f.ndjson"
        self.objects.put(key, b"".join(orjson.dumps(line) + b"\n" for line in lines))
        self.jobs.create({
            "account_id": ACCOUNT, "job_id": upload_id, "job_type": "upload", "status": "Pending",
            "filename": "f.ndjson", "dataset_id": DATASET, "record_type": "customer_record",
            "destination": {"destination_type": "dataset_load", "dataset_id": DATASET, "record_type": "customer_record"},
            "object_key": key, "options": {"dry_run": dry_run, "max_rejected_percent": 100},
            "stats": {"total": 0, "loaded": 0, "rejected": 0},
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        })
        return upload_id

    def inspect(self, upload_id: str) -> dict:
        return self.pipeline.inspect({"account_id": ACCOUNT, "upload_id": upload_id})

    def finish(self, state: dict) -> dict:
        state = self.pipeline.split(state)
        manifest = json.loads(self.objects.read(state["job"]["manifest_key"]))
        results = [self.pipeline.load_chunk(state["job"], chunk) for chunk in manifest]
        return self.pipeline.finalize({**state, "chunk_results": results})

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

    world.finish(state_a)
    assert world.holder() is None, "Finalize lets the next load in"
    state_b = world.inspect(second)
    assert world.holder() == second
    assert "queued_behind" not in upload_view(world.jobs.get(ACCOUNT, second), world.objects, 60)
    world.finish(state_b)
    stored = {key: json.loads(world.records.get(ACCOUNT, DATASET, "customer_record", f"customer_id:{key}"))["source"]
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
    state = world.inspect(world.upload("DRY", customers("k1", source="dry"), dry_run=True))
    assert state["job"]["dry_run"] and world.holder() == "A"


@pytest.mark.parametrize("ending", ["mark_failed", "error_budget"])
def test_every_way_a_job_ends_lets_the_next_load_in(ending):
    world = Shared()
    upload = world.upload("A", customers("k1", source="A") + [{"no": "link"}])
    state = world.inspect(upload)
    if ending == "mark_failed":
        world.pipeline.mark_failed({**state, "error": {"Error": "StepFailedError", "Cause": "{}"}})
    else:
        state = world.pipeline.split({"job": {**state["job"], "max_rejected_percent": 0}})
        manifest = json.loads(world.objects.read(state["job"]["manifest_key"]))
        results = [world.pipeline.load_chunk(state["job"], c, validate_only=True) for c in manifest]
        assert world.pipeline.check_error_budget({**state, "chunk_results": results})["within_budget"] is False
    assert world.holder() is None
    world.inspect(world.upload("B", customers("k1", source="B")))
    assert world.holder() == "B"


def test_mark_failed_before_inspect_described_the_job_still_releases_the_hold():
    world = Shared()
    upload = world.upload("A", customers("k1", source="A"))
    world.inspect(upload)
    # Inspect took the hold, then failed on every attempt: MarkFailed gets only the execution input.
    world.pipeline.mark_failed({"account_id": ACCOUNT, "upload_id": upload, "error": {"Error": "States.Timeout"}})
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


class _ClearingDatasets(FakeDatasetsTable):
    """The fake with start_clear's conditions: refused while a clear or a load holds the dataset."""

    def start_clear(self, account_id, dataset_id, job_id, at) -> bool:
        item = self.items.get((account_id, dataset_id))
        if item is None or item.get("clearing_job") or item.get("loading_job"):
            return False
        item["clearing_job"] = job_id
        return True


def test_a_clear_is_refused_while_a_load_holds_the_dataset_and_takes_over_a_stale_hold():
    world = Shared()
    world.datasets = _ClearingDatasets()
    world.datasets.add(ACCOUNT, DATASET)
    world.pipeline = Pipeline(world.objects, world.jobs, world.datasets, world.records, 1 << 20, 4)
    world.inspect(world.upload("A", customers("k1", source="A")))
    with pytest.raises(ConflictError, match="upload A is loading into dataset"):
        routes.request_clear(world.jobs, world.datasets, _Starter(), ACCOUNT, DATASET)
    world.jobs.update(ACCOUNT, "A", status="Failed")  # A ended but its hold stayed
    view = routes.request_clear(world.jobs, world.datasets, _Starter(), ACCOUNT, DATASET)
    assert view["status"] == "Pending" and world.holder() is None


def test_giving_up_waiting_says_so():
    reason = failure_reason({"Error": "DatasetBusyError",
                             "Cause": json.dumps({"errorMessage": "dataset ds-1 is busy loading upload A"})})
    assert reason.startswith("gave up waiting for its turn: dataset ds-1 is busy loading upload A")
