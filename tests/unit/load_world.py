"""A load workflow's Load and Finalize on the in-memory fakes, with the work files Split would leave.

World.split(lines) writes, as Split would, each valid line's frame to parts/<p>/<i> (p = partition_of(key,
the job's partitions), i = the range the line falls in, `lines_per_range` lines a range), the split errors
of rejected lines, the load manifest and the job's split totals; load() runs load_partition on every
partition of the manifest, finalize() and mark_failed() the last steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson

from ingest.adapters.record_store import partition_of
from ingest.logic.load import error_log, frames, hold
from ingest.logic.load.context import LoadContext, LoadSettings
from ingest.logic.load.failure import mark_failed
from ingest.logic.load.finalize import finalize
from ingest.logic.load.layout import WorkKeys
from ingest.logic.load.loading import load_partition
from ingest.models.workflow import (
    FailedState,
    JobOutcome,
    LoadJob,
    PartitionResult,
    PartitionTask,
    SplitTotals,
    StepError,
)
from tests.unit.fakes import (
    FakeAudienceStore,
    FakeDatasetsTable,
    FakeJobsTable,
    FakeMemberStore,
    FakeObjectStore,
    FakeProfileRecordStore,
)

ACCOUNT = "acme"
DATASET = "01JDATASET0000000000000000"
CREATED_AT = "2026-11-30T00:00:00Z"  # every upload's; revertible_until counts from it


class FakeStore(FakeProfileRecordStore, FakeMemberStore):
    """One records table: upserts, profiles (get_many) and member sets (delete_all, contains)."""


@dataclass(frozen=True)
class Line:
    """A line of the upload: valid (key and record) or rejected by Split (error)."""

    number: int
    key: str | None
    record: bytes
    error: str | None = None


def customer(number: int, key: str, **fields: Any) -> Line:
    return Line(number, key, orjson.dumps({"link": {"customer_id": key}, **fields}))


def rejected(number: int, raw: bytes = b"{not json") -> Line:
    return Line(number, None, raw, error="not JSON")


class World:
    def __init__(self, window: int = 3, partitions: int = 4, lines_per_range: int = 2, shards: int = 64):
        self.objects = FakeObjectStore(read_size=16)
        self.jobs = FakeJobsTable()
        self.datasets = FakeDatasetsTable(new_dataset_shards=shards)
        self.records = FakeStore()
        self.audiences = FakeAudienceStore()
        self.settings = LoadSettings(partitions=partitions, load_window_records=window, load_threads=4,
                                     load_write_rate_per_second=3200, load_max_concurrency=32)
        self.ctx = LoadContext(objects=self.objects, jobs=self.jobs, datasets=self.datasets, records=self.records,
                               audiences=self.audiences, settings=self.settings)
        self.lines_per_range = lines_per_range
        self.datasets.add(ACCOUNT, DATASET)
        self.uploads = 0

    @property
    def dataset(self) -> dict[str, Any]:
        return self.datasets.get(ACCOUNT, DATASET) or {}

    def split(self, lines: list[Line], record_type: str = "customer_record", dataset_id: str = DATASET,
              dry_run: bool = False, csv: bool = False) -> LoadJob:
        """A new upload whose Split has run: its job item (Processing, holding the dataset) and work files."""
        self.uploads += 1
        upload_id = f"01JUPLOAD{self.uploads:017d}"
        target = self.audiences if record_type == "audience_member" else self.datasets
        self.jobs.create({"account_id": ACCOUNT, "job_id": upload_id, "job_type": "upload", "status": "Processing",
                          "filename": "f.csv" if csv else "f.ndjson", "dataset_id": dataset_id,
                          "record_type": record_type, "options": {"dry_run": dry_run},
                          "progress": {"phase": "Loading"}, "created_at": CREATED_AT})
        if not dry_run:
            assert target.hold_for_load(ACCOUNT, dataset_id, upload_id, "2026-11-30T00:00:00Z")
        work = WorkKeys(ACCOUNT, upload_id)
        ranges = max(1, -(-max((line.number for line in lines), default=1) // self.lines_per_range))
        parts: dict[tuple[int, int], bytes] = {}
        split_errors: dict[int, bytes] = {}
        for line in sorted(lines, key=lambda line: line.number):
            index = (line.number - 1) // self.lines_per_range
            if line.error is not None:
                split_errors[index] = split_errors.get(index, b"") + error_log.error_line(line.number, line.error,
                                                                                           line.record)
                continue
            assert line.key is not None
            partition = partition_of(line.key, self.settings.partitions)
            raw = line.record.replace(b"{", b"") if csv else None  # a stand-in for the row as sent
            parts[partition, index] = parts.get((partition, index), b"") + frames.encode(
                line.number, line.key, line.record, raw)
        for (partition, index), data in parts.items():
            self.objects.put(work.part(partition, index), data)
        for index, data in split_errors.items():
            self.objects.put(work.errors(f"split-{index:05d}"), data)
        partitions = sorted({partition for partition, _ in parts})
        self.objects.put(work.load_manifest, orjson.dumps([PartitionTask(partition=p, ranges=ranges).state()
                                                           for p in partitions]))
        total = len(lines)
        return LoadJob(account_id=ACCOUNT, upload_id=upload_id, object_key=f"uploads/{ACCOUNT}/{upload_id}/f.ndjson",
                       dataset_id=dataset_id, record_type=record_type, format="csv" if csv else "ndjson",
                       gzip=False, size=100, dry_run=dry_run, range_bytes=64, partitions=self.settings.partitions,
                       shards=int((target.get(ACCOUNT, dataset_id) or {}).get("shards") or 16),
                       ranges=ranges, split=SplitTotals(total=total, rejected=sum(1 for line in lines if line.error)))

    def tasks(self, job: LoadJob) -> list[PartitionTask]:
        return [PartitionTask.model_validate(task)
                for task in orjson.loads(self.objects.read(WorkKeys(ACCOUNT, job.upload_id).load_manifest))]

    def load(self, job: LoadJob, attempt: str = "attempt-1") -> list[PartitionResult]:
        return [load_partition(self.ctx, job, task, attempt) for task in self.tasks(job)]

    def finalize(self, job: LoadJob) -> JobOutcome:
        return finalize(self.ctx, job)

    def mark_failed(self, job: LoadJob | None, error: str = "States.ExceedToleratedFailureThreshold",
                    upload_id: str | None = None) -> JobOutcome:
        if job is None:
            return mark_failed(self.ctx, FailedState(account_id=ACCOUNT, upload_id=upload_id,
                                                     error=StepError(Error=error, Cause="x")))
        return mark_failed(self.ctx, FailedState(job=job, error=StepError(Error=error, Cause="x")))

    def upload(self, lines: list[Line], **options: Any) -> JobOutcome:
        job = self.split(lines, **options)
        self.load(job)
        return self.finalize(job)

    def stored(self, key: str, record_type: str = "customer_record") -> dict[str, Any] | None:
        shards = int(self.dataset.get("shards") or 16)
        data = self.records.get(ACCOUNT, DATASET, record_type, key, shards)
        return orjson.loads(data) if data is not None else None

    def job_item(self, job: LoadJob) -> dict[str, Any]:
        return self.jobs.get(ACCOUNT, job.upload_id) or {}

    def error_log(self, job: LoadJob) -> list[dict[str, Any]]:
        key = self.job_item(job).get("error_log_key")
        return [orjson.loads(line) for line in self.objects.read(key).splitlines()] if key else []

    def work_files(self, job: LoadJob) -> list[str]:
        return self.objects.list_keys(WorkKeys(ACCOUNT, job.upload_id).prefix)

    def holder(self) -> str | None:
        return self.dataset.get("loading_job")


__all__ = ["ACCOUNT", "CREATED_AT", "DATASET", "Line", "World", "customer", "hold", "rejected", "replace"]
