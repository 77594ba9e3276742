"""The load workflow's steps: Inspect -> Split -> Load (per chunk) -> Finalize, and MarkFailed.

Each step takes and returns small JSON-able state so Step Functions can pass it along;
bulk data moves through S3 work files, never through the state machine.

Work files of one upload live under work/<account>/<upload>/:
  chunks/NNNN.ndjson   lines routed by record key, each framed as "<line number>\t<raw line>"
  manifest.json        the JSON array the Distributed Map reads
  errors/split.ndjson, errors/NNNN.ndjson   rejected lines, each file sorted by line number
The merged error log goes to results/<account>/<upload>/errors.ndjson.
"""

from __future__ import annotations

import heapq
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, cast

import orjson

from ingest import record_types
from ingest.adapters.record_store import key_hash
from ingest.clock import iso_now
from ingest.errors import DatasetBusyError, FileRejectedError, StepFailedError
from ingest.logic import audiences, formats, profiles
from ingest.logic import lines as line_reader

FINAL_STATUSES = ("Completed", "Failed")
MAX_OBJECT_BYTES = 5 * 1024**3  # 5 GB: the largest object a single presigned PUT can create
GZIP_SIZE_FACTOR = 4  # rough expansion of gzip-compressed NDJSON, used only to size chunks
# DynamoDB items are limited to 400 KB; leave room for the keys and attributes.
MAX_STORED_RECORD_BYTES = 380 * 1024
ERROR_RAW_LIMIT = 64 * 1024  # longest raw line echoed in the error log


@dataclass(frozen=True)
class WorkKeys:
    account_id: str
    upload_id: str

    @property
    def prefix(self) -> str:
        return f"work/{self.account_id}/{self.upload_id}/"

    def chunk(self, index: int) -> str:
        return f"{self.prefix}chunks/{index:04d}.ndjson"

    @property
    def manifest(self) -> str:
        return f"{self.prefix}manifest.json"

    @property
    def errors_prefix(self) -> str:
        return f"{self.prefix}errors/"

    def errors(self, name: str) -> str:
        return f"{self.errors_prefix}{name}.ndjson"

    @property
    def error_log(self) -> str:
        return f"results/{self.account_id}/{self.upload_id}/errors.ndjson"


def error_line(line_number: int, error: str, raw: bytes) -> bytes:
    text = raw[:ERROR_RAW_LIMIT].decode("utf-8", errors="replace")
    return orjson.dumps({"line": line_number, "error": error, "raw": text}) + b"\n"


@dataclass(frozen=True)
class ValidLine:
    """A line that passed its record type's schema, on its way to the load kind's strategy."""

    number: int
    key: str
    stored: bytes  # the record as stored: the line as sent (CSV: the record built from its cells)
    raw: bytes  # the line as sent, for the error log


class UpsertLoad:
    """Load kind "upsert" (the default): the last line per key wins; one idempotent upsert per key."""

    def __init__(self, records, job: dict[str, Any]):
        self._records = records
        self._job = job
        self._latest: dict[str, bytes] = {}
        self._loaded = 0

    def add(self, line: ValidLine) -> None:
        self._latest[line.key] = line.stored
        self._loaded += 1

    def finish(self, write: bool) -> tuple[int, list[tuple[ValidLine, str]]]:
        """(lines loaded, [(line, reason) rejected]); writes only with `write`."""
        job = self._job
        if write:
            self._records.put_records(
                job["account_id"], job["dataset_id"], job["record_type"],
                ((key, value.decode("utf-8")) for key, value in self._latest.items()),
                job_id=job["upload_id"],
            )
        return self._loaded, []


class Loader(Protocol):
    """A load kind's strategy: fed each valid line in file order, then finished."""

    def add(self, line: ValidLine) -> None: ...

    def finish(self, write: bool) -> tuple[int, list[tuple[ValidLine, str]]]: ...


# A record type's "load" kind -> its strategy: made with (record store, job), fed each valid line in
# file order with add(), then finish(write) -> (loaded, rejected lines with their reasons).
LOADERS: dict[str, Callable[[Any, dict[str, Any]], Loader]] = {
    record_types.UPSERT: UpsertLoad,
    "profile_changes": profiles.ProfileChangesLoad,
    audiences.AUDIENCE_MEMBERS_LOAD: audiences.AudienceMembersLoad,
}


class Pipeline:
    def __init__(self, objects, jobs, datasets, records, chunk_target_bytes: int, max_chunks: int,
                 audiences=None):
        self._objects = objects
        self._jobs = jobs
        self._datasets = datasets
        self._audiences = audiences  # audience lists: their items take the place of datasets
        self._records = records
        self._chunk_target_bytes = chunk_target_bytes
        self._max_chunks = max_chunks

    # -- Inspect -------------------------------------------------------------------------
    def inspect(self, execution_input: dict[str, Any]) -> dict[str, Any]:
        account_id, upload_id = execution_input["account_id"], execution_input["upload_id"]
        job = self._jobs.get(account_id, upload_id)
        if job is None:
            raise FileRejectedError(f"upload {upload_id} has no job record; request a new upload URL")
        key = job["object_key"]
        size = self._objects.size_of(key)
        if size is None:
            raise FileRejectedError("the uploaded file is no longer in storage; upload it again with a new URL")
        if size > MAX_OBJECT_BYTES:
            raise FileRejectedError(f"the file is {size} bytes, over the 5 GB limit; split it into smaller files")
        if size == 0:
            raise FileRejectedError("the uploaded file is empty (0 bytes)")
        gzipped = line_reader.is_gzip(self._objects.first_bytes(key, 2))
        dataset = self._load_target(job).get(account_id, job["dataset_id"])
        if dataset is None:
            raise FileRejectedError(f"dataset {job['dataset_id']} no longer exists")
        if dataset.get("clearing_job"):
            raise FileRejectedError(_being_cleared(job["dataset_id"]))
        fmt = formats.format_of(job["filename"])
        formats.check_start(self._first_lines(key, gzipped), fmt, record_types.get(job["record_type"]))
        if not (job.get("options") or {}).get("dry_run"):
            # Last check before Processing: a busy dataset makes this step fail with DatasetBusyError,
            # which the state machine retries, so the job waits (Pending, queued_behind) for its turn.
            self._hold_dataset(account_id, upload_id, job["dataset_id"], self._load_target(job))
            # Before any record can be written, so a clear never misses a type.
            if not audiences.is_audience_load(job):  # audiences are never cleared, only replaced
                self._datasets.note_record_type(account_id, job["dataset_id"], job["record_type"])
        self._jobs.update(account_id, upload_id, status="Processing", size=size, gzip=gzipped,
                          queued_behind=None, updated_at=iso_now())
        options = job.get("options") or {}
        expected_bytes = size * (GZIP_SIZE_FACTOR if gzipped else 1)
        chunk_count = max(1, min(self._max_chunks, math.ceil(expected_bytes / self._chunk_target_bytes)))
        return {
            "job": {
                "account_id": account_id,
                "upload_id": upload_id,
                "object_key": key,
                "dataset_id": job["dataset_id"],
                "record_type": job["record_type"],
                "gzip": gzipped,
                "size": size,
                "chunk_count": chunk_count,
                "format": fmt,
                "dry_run": bool(options.get("dry_run", False)),
                "max_rejected_percent": options.get("max_rejected_percent", 100),
            }
        }

    def _hold_dataset(self, account_id: str, upload_id: str, dataset_id: str, target) -> None:
        """Become the one load writing into the dataset (target: its table, see _load_target), or raise
        DatasetBusyError naming the holder."""
        stale = None
        for _ in range(3):
            if target.hold_for_load(account_id, dataset_id, upload_id, iso_now(), stale_holder=stale):
                return
            dataset = target.get(account_id, dataset_id)
            if dataset is None:
                raise FileRejectedError(f"dataset {dataset_id} no longer exists")
            if dataset.get("clearing_job"):
                raise FileRejectedError(_being_cleared(dataset_id))
            holder = dataset.get("loading_job")
            if holder is None:
                continue  # released in the meantime
            holding_job = self._jobs.get(account_id, holder)
            if holding_job is None or holding_job.get("status") in FINAL_STATUSES:
                stale = holder  # its job ended without letting go (a workflow stopped from outside)
                continue
            self._jobs.update(account_id, upload_id, queued_behind=holder, updated_at=iso_now())
            raise DatasetBusyError(f"dataset {dataset_id} is busy loading upload {holder}")
        raise DatasetBusyError(f"dataset {dataset_id} is busy with another load")

    def _release_dataset(self, job: dict[str, Any]) -> None:
        """Let the next load into the dataset start; a no-op unless this upload holds it."""
        dataset_id, described = job.get("dataset_id"), job
        if dataset_id is None:  # failed before Inspect described the job: the job record knows
            described = self._jobs.get(job["account_id"], job["upload_id"]) or {}
            dataset_id = described.get("dataset_id")
        if dataset_id:
            self._load_target(described).release_load(job["account_id"], dataset_id, job["upload_id"])

    def _load_target(self, job: dict[str, Any]):
        """The item a load holds: its audience for an audience list's members, else its dataset."""
        return self._audiences if audiences.is_audience_load(job) else self._datasets

    def _first_lines(self, key: str, gzipped: bool) -> list[bytes]:
        """The first non-blank line, read without streaming the whole object."""
        stream: Iterable[bytes] = self._objects.stream(key)
        if gzipped:
            stream = line_reader.gunzip(stream)
        for line in line_reader.numbered_lines(stream):
            return [] if line.too_long else [line.raw]
        return []

    # -- Split ---------------------------------------------------------------------------
    def split(self, state: dict[str, Any]) -> dict[str, Any]:
        job = state["job"]
        work = WorkKeys(job["account_id"], job["upload_id"])
        record_type = record_types.get(job["record_type"])
        chunk_count = job["chunk_count"]
        fmt = job.get("format", formats.NDJSON)
        stream: Iterable[bytes] = self._objects.stream(job["object_key"])
        if job["gzip"]:
            stream = line_reader.gunzip(stream)
        total = rejected = 0
        # Chunks go through /tmp (Split has 10 GiB of it); rejected lines stream straight to S3.
        with tempfile.TemporaryDirectory() as scratch, self._objects.writer(work.errors("split")) as errors:
            sinks: dict[int, Any] = {}
            try:
                for record in formats.records_of(stream, fmt, record_type):
                    total += 1
                    if record.problem:
                        rejected += 1
                        errors.write(error_line(record.number, record.problem, record.raw))
                        continue
                    index = self._route(cast(bytes, record.json), record_type, chunk_count)  # no problem: JSON
                    sink = sinks.get(index)
                    if sink is None:
                        sink = sinks[index] = open(os.path.join(scratch, f"{index:04d}"), "wb")  # noqa: SIM115 (closed below)
                    sink.write(_frame(record, fmt))
            finally:
                for sink in sinks.values():
                    sink.close()
            if not rejected:
                errors.discard()  # no split error file: the merge looks for error files that exist
            manifest = []
            for index in sorted(sinks):
                self._objects.put_file(work.chunk(index), os.path.join(scratch, f"{index:04d}"))
                manifest.append({"index": index, "key": work.chunk(index)})
        self._objects.put(work.manifest, orjson.dumps(manifest), content_type="application/json")
        self._jobs.update(job["account_id"], job["upload_id"], updated_at=iso_now(),
                          stats={"total": total, "loaded": 0, "rejected": rejected})
        return {"job": {**job, "manifest_key": work.manifest, "chunks": len(manifest),
                        "split": {"total": total, "rejected": rejected}}}

    @staticmethod
    def _route(record_json: bytes, record_type, chunk_count: int) -> int:
        """All lines of one record key go to one chunk, so the last line for a key wins in order."""
        try:
            key = record_type.route_key(orjson.loads(record_json))
        except orjson.JSONDecodeError:
            key = None
        if key is None:
            return len(record_json) % chunk_count  # rejected in Load; any chunk will do
        return key_hash(key) % chunk_count

    # -- Load ----------------------------------------------------------------------------
    def load_chunk(self, job: dict[str, Any], chunk: dict[str, Any], validate_only: bool = False) -> dict[str, int]:
        """Validate one chunk and apply its lines as the record type's load kind says. Safe to retry:
        upserts are idempotent, profile changes skip what this upload already applied.

        validate_only (the error-budget pass) and dry runs write no records, only the error file.
        """
        work = WorkKeys(job["account_id"], job["upload_id"])
        record_type = cast(record_types.RecordType, record_types.get(job["record_type"]))  # known: Inspect checked it
        loader = LOADERS[record_type.load](self._records, job)
        errors: list[tuple[int, bytes]] = []
        total = 0
        csv_frames = job.get("format") == formats.CSV
        for number, payload in _framed_lines(self._objects.stream(chunk["key"])):
            total += 1
            if csv_frames:
                record_json, _, raw_json = payload.partition(b"\t")
                raw = orjson.loads(raw_json).encode("utf-8")
            else:
                record_json = raw = payload
            problem, key, stored = check_line(record_type, record_json)
            if problem:
                errors.append((number, error_line(number, problem, raw)))
                continue
            loader.add(ValidLine(number, cast(str, key), cast(bytes, stored), raw))  # accepted: both set
        loaded, refused = loader.finish(write=not job.get("dry_run") and not validate_only)
        if refused:  # the merge needs each error file in line order
            errors.extend((line.number, error_line(line.number, reason, line.raw)) for line, reason in refused)
            errors.sort(key=lambda error: error[0])
        if errors:
            self._objects.put(work.errors(f"{chunk['index']:04d}"), b"".join(line for _, line in errors))
        return {"index": chunk["index"], "total": total, "loaded": loaded, "rejected": len(errors)}

    # -- Finalize ------------------------------------------------------------------------
    def finalize(self, state: dict[str, Any]) -> dict[str, Any]:
        job = state["job"]
        settled = self._jobs.get(job["account_id"], job["upload_id"]) or {}
        if settled.get("status") == "Completed":
            # A retry after Finalize did its work: the work files are gone, so merging again would
            # publish an empty error log. The first run's outcome stands.
            self._release_dataset(job)
            return {"upload_id": job["upload_id"], "status": "Completed", "stats": settled.get("stats")}
        work = WorkKeys(job["account_id"], job["upload_id"])
        stats = _summed_stats(job, state.get("chunk_results") or [])
        error_log_key = self._merge_error_logs(work) if stats["rejected"] else None
        finished = iso_now()
        if not job.get("dry_run"):
            if audiences.is_audience_load(job):  # the audience's list becomes this file's members, whole
                audiences.complete_load(self._audiences, self._records, job)
            else:
                self._refresh_record_count(job, {"upload_id": job["upload_id"], "finished_at": finished, **stats})
        fields: dict[str, Any] = {"status": "Completed", "stats": stats,
                                  "updated_at": finished, "finished_at": finished}
        if error_log_key:
            fields["error_log_key"] = error_log_key
        self._jobs.update(job["account_id"], job["upload_id"], **fields)
        self._release_dataset(job)
        self._objects.delete_prefix(work.prefix)
        return {"upload_id": job["upload_id"], "status": "Completed", "stats": stats}

    # -- CheckErrorBudget --------------------------------------------------------------------
    def check_error_budget(self, state: dict[str, Any]) -> dict[str, Any]:
        """After a validate-only pass: fail the job, loading nothing, if too many lines were rejected."""
        job = state["job"]
        stats = _summed_stats(job, state.get("chunk_results") or [])
        allowed = job["max_rejected_percent"]
        if not stats["total"] or stats["rejected"] * 100 <= allowed * stats["total"]:
            return {"job": job, "within_budget": True}
        work = WorkKeys(job["account_id"], job["upload_id"])
        error_log_key = self._merge_error_logs(work)
        percent = stats["rejected"] * 100 / stats["total"]
        finished = iso_now()
        self._jobs.update(
            job["account_id"], job["upload_id"],
            status="Failed",
            failure_reason=(
                f"error budget exceeded: {stats['rejected']} of {stats['total']} lines rejected ({percent:.1f}%), "
                f"over the {allowed}% allowed by max_rejected_percent; nothing was loaded"
            ),
            stats={"total": stats["total"], "loaded": 0, "rejected": stats["rejected"],
                   "not_loaded": stats["total"] - stats["rejected"]},
            error_log_key=error_log_key, updated_at=finished, finished_at=finished,
        )
        self._release_dataset(job)
        self._objects.delete_prefix(work.prefix)
        return {"job": job, "within_budget": False}

    def _merge_error_logs(self, work: WorkKeys) -> str:
        return self._merge_counting_error_logs(work)[0]

    def _merge_counting_error_logs(self, work: WorkKeys) -> tuple[str, int]:
        """Merge the per-chunk error files into the job's error log, in line order; (key, lines).

        Streamed straight into S3 part by part (ObjectStore.writer), never through /tmp: an error
        line is ~1.7x its raw line, so a mostly rejected upload of a few hundred MB would fill the
        512 MiB of ephemeral storage of Finalize, CheckErrorBudget and MarkFailed.
        """
        keys = self._objects.list_keys(work.errors_prefix)
        streams = [_json_lines(self._objects.stream(key)) for key in keys]
        count = 0
        with self._objects.writer(work.error_log) as merged:
            for _, line in heapq.merge(*streams, key=lambda item: item[0]):
                merged.write(line)
                count += 1
        return work.error_log, count

    def _refresh_record_count(self, job: dict[str, Any], load: dict[str, Any]) -> None:
        # Count what the store holds: a profile_changes upload changes `profile` records.
        record_type = record_types.get(job["record_type"])
        stored_type = record_type.stored_type if record_type else job["record_type"]
        count = self._records.count(job["account_id"], job["dataset_id"], stored_type)
        self._datasets.record_load(job["account_id"], job["dataset_id"], stored_type, count, load)

    # -- MarkFailed ----------------------------------------------------------------------
    def mark_failed(self, state: dict[str, Any]) -> dict[str, Any]:
        job = state.get("job") or state
        account_id, upload_id = job["account_id"], job["upload_id"]
        reason = failure_reason(state.get("error") or {})
        fields: dict[str, Any] = {"status": "Failed", "failure_reason": reason,
                                  "updated_at": iso_now(), "finished_at": iso_now()}
        split = job.get("split")
        if split:
            # Nothing of a failed job counts as loaded; lines already rejected keep their error log.
            work = WorkKeys(account_id, upload_id)
            rejected = 0
            if self._objects.list_keys(work.errors_prefix):
                fields["error_log_key"], rejected = self._merge_counting_error_logs(work)
            fields["stats"] = {"total": split["total"], "loaded": 0, "rejected": rejected,
                               "not_loaded": split["total"] - rejected}
        self._jobs.update(account_id, upload_id, **fields)
        if job.get("dataset_id") and audiences.is_audience_load(job) and not job.get("dry_run"):
            # The old list stays; what this load wrote goes.
            audiences.abandon_load(self._audiences, self._records, job)
        elif job.get("dataset_id") and job.get("record_type") and not job.get("dry_run"):
            # Chunks loaded before the failure stay; keep the dataset's count true to the store.
            self._refresh_record_count(job, {"upload_id": upload_id, "finished_at": iso_now(), "status": "Failed"})
        self._release_dataset(job)
        self._objects.delete_prefix(WorkKeys(account_id, upload_id).prefix)
        return {"upload_id": upload_id, "status": "Failed", "failure_reason": reason}


def _being_cleared(dataset_id: str) -> str:
    return f"dataset {dataset_id} was being cleared when the file arrived; upload it again when the clear job ends"


def _summed_stats(job: dict[str, Any], chunk_stats: list[dict[str, int] | None]) -> dict[str, int]:
    loads = [item for item in chunk_stats if isinstance(item, dict)]
    failed = len(chunk_stats) - len(loads)
    if failed:
        raise StepFailedError(
            f"the Load step failed on {failed} of {len(chunk_stats)} chunks after retries; "
            "upload the file again to retry"
        )
    split = job.get("split", {"total": 0, "rejected": 0})
    loaded = sum(item["loaded"] for item in loads)
    rejected = split["rejected"] + sum(item["rejected"] for item in loads)
    total = split["rejected"] + sum(item["total"] for item in loads)
    if total != split["total"]:
        raise RuntimeError(f"chunk totals {total} do not match the {split['total']} lines split")
    return {"total": total, "loaded": loaded, "rejected": rejected}


def _frame(record: formats.SourceRecord, fmt: str) -> bytes:
    """A work-file line: '<line number>\t<record JSON>', plus '\t<original text as a JSON string>' for CSV."""
    framed = b"%d\t" % record.number + cast(bytes, record.json)  # only accepted records are framed
    if fmt == formats.CSV:
        framed += b"\t" + orjson.dumps(record.raw.decode("utf-8", errors="replace"))
    return framed + b"\n"


def check_line(record_type, raw: bytes) -> tuple[str | None, str | None, bytes | None]:
    """(problem, key, stored JSON) for one line; problem is None when the line is accepted.
    The stored record is the line as sent: checks convert nothing, and nothing is dumped again."""
    problem, key = record_type.check_line(raw)
    if problem is None and len(raw) <= MAX_STORED_RECORD_BYTES:
        return None, key, raw
    if problem is None:
        problem = f"record is {len(raw)} bytes, over the {MAX_STORED_RECORD_BYTES}-byte limit of the dataset store"
    return problem, None, None


@dataclass(frozen=True)
class Remedy:
    """What a user can do about a failed job, in the words of its kind (an upload, a clear)."""

    again: str  # the job can simply be run again
    smaller: str  # a step ran out of time or memory: the same input would fail the same way


UPLOAD_REMEDY = Remedy(again="upload the file again", smaller="split the file into smaller files and upload those")
CLEAR_REMEDY = Remedy(
    again="request the clear again",
    smaller="request the clear again: records already removed stay removed, so it goes on where this one stopped",
)
# The error names AWS gives, exactly (infra/retries.py retries the same; a test holds the two equal).
# Lambda's transient service errors: the function did not run, or its answer was lost.
LAMBDA_SERVICE_ERRORS = frozenset({
    "Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException",
    "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
})
LAMBDA_TIMEOUT = "Sandbox.Timedout"  # the function reached its configured timeout
LAMBDA_UNKNOWN = "Lambda.Unknown"  # the function died without an answer: out of memory, a runtime crash


def failure_reason(error: dict[str, Any], remedy: Remedy = UPLOAD_REMEDY) -> str:
    """A message a user can act on, from a Step Functions Catch result {Error, Cause}.

    Only our own errors' messages are passed on (they are written to be shown); anything else is
    named by its error type, never by its message, which can hold internal details.
    """
    name = error.get("Error", "")
    cause = error.get("Cause") or ""
    try:
        details = orjson.loads(cause) if cause else {}
    except orjson.JSONDecodeError:
        details = {}
    message = details.get("errorMessage") if isinstance(details, dict) else None
    if name in ("FileRejectedError", "StepFailedError") and message:
        return message
    if name == "DatasetBusyError" and message:
        return f"gave up waiting for its turn: {message}; upload the file again when that load has finished"
    if name == "States.ExceedToleratedFailureThreshold":
        return (f"the Load step failed on some chunks, also after retries; {remedy.again}, "
                f"and if it fails the same way, {remedy.smaller}")
    if name in (LAMBDA_TIMEOUT, "States.Timeout"):
        return f"a processing step ran out of time ({name}); {remedy.smaller}"
    if name == LAMBDA_UNKNOWN:
        return f"a processing step stopped without an answer, most likely out of memory ({name}); {remedy.smaller}"
    if name in LAMBDA_SERVICE_ERRORS:
        return (f"AWS Lambda could not run a processing step ({name}), also after retries; nothing was lost: "
                f"{remedy.again} in a few minutes")
    if name == "States.DataLimitExceeded":
        return f"the job outgrew Step Functions' 256 KiB state limit ({name}); {remedy.smaller}"
    if name.startswith(("States.", "Lambda.")):
        return f"the workflow failed ({name}); {remedy.again} to retry"
    return f"processing failed unexpectedly ({name or 'unknown error'}); {remedy.again} to retry"


# Work files hold lines the Split step already bounded, plus a short frame.
_WORK_LINE_LIMIT = line_reader.MAX_LINE_BYTES + 64 * 1024


def _framed_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    for line in line_reader.numbered_lines(chunks, _WORK_LINE_LIMIT, strip_cr=False):
        number, _, raw = line.raw.partition(b"\t")
        yield int(number), raw


def _json_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    for line in line_reader.numbered_lines(chunks, _WORK_LINE_LIMIT):
        yield orjson.loads(line.raw)["line"], line.raw + b"\n"
