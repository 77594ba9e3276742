"""Undo a load: what loads keep for it (the revert journal) and the revert job that uses it.

What a load keeps. A Load keeps, for each key it writes, the item the key held before the upload -
or "created" (null) when there was none - in S3 objects under its partition, streamed, never held whole:

    revert/<account>/<upload>/<partition>/<batch>-<attempt>[-found-<n>].ndjson   {"key": k, "item": {...} | null}

A batch is a window's keys, or an optimistic window's first keys (its probe) and then the rest; each
is journalled in one of two modes (logic/load/loading.py UpsertLoad; profile changes always read):
  read first  the batch's keys are read (strongly consistent BatchGetItem) and each is kept as read,
              in <batch>-<attempt>.ndjson, before the writes; keys carrying this upload's stamp
              (`job_id`) are skipped: an earlier window or a failed attempt kept them first.
  optimistic  every key of the batch is kept as null in <batch>-<attempt>.ndjson, unread, before the
              writes. Each write goes through only on a key with no item or one of this upload's; a
              key another writer holds refuses it and hands back that item, which is kept in
              <batch>-<attempt>-found-<n>.ndjson before it is replaced (conditional on it still
              being there).

The rule a revert applies, per key: **the first non-null entry, else null** (the key was created).
A non-null entry is only ever an item of another writer, kept before this upload replaced it, and the
load hold (logic/load/hold.py) keeps other writers off the dataset while the upload runs, so every
non-null entry of a key is the same item: the one before the upload. A null is either a read that found
no item or an optimistic placeholder, and either way the key was created unless a non-null entry says
otherwise. It holds across attempts and modes: a retried Load (a new attempt, either mode) keeps a key
again only while the key still holds the other writer's item, i.e. the same item; a key the failed
attempt already wrote carries this upload's stamp and is not kept again (its earlier entries stand). A
write whose answer was lost is retried and refused as "this write again" (an OwnWrite), which journals
nothing. Journals written before the optimistic mode (read first only) hold at most one entry kind per
key, so the rule reads them as the old "first entry" did.

Cost follows the upload's records, not the dataset's. The prefix expires after `revert_retention_days`
(an S3 lifecycle rule); the upload shows until when it can be reverted (`revertible_until`:
created_at + those days, never later than the lifecycle removes the journal).

The revert job. POST /v1/uploads/{id}/revert checks the upload (404 unknown, 409 not Completed, a
dry run, an audience list, already reverted, past its window), marks it `reverted_by` with a
conditional write (two requests cannot both revert it) and starts the Revert workflow:
PlanRevert (takes the dataset's load hold, so a revert waits for a running load and loads wait for
it; lists the journal's partitions) -> RevertPartitions (a Map; each item puts back its partition's
keys) -> FinishRevert (the dataset's count less the removed records, once; the job Completed; the hold
released). Each key is put back with a conditional write on `job_id = <upload>`: a key a later load
rewrote, or a clear removed, fails the condition and is `kept` as it is, also while a load races.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from ingest import ids, record_types
from ingest.adapters.record_store import dataset_shards
from ingest.adapters.workflow import ExecutionAlreadyStartedError
from ingest.clock import iso, iso_now, parse_iso
from ingest.errors import ConflictError, FileRejectedError, NotFoundError
from ingest.logic import audiences
from ingest.logic.load import hold
from ingest.models.uploads import RevertJobView

REVERT_PREFIX = "revert/"
DEFAULT_RETENTION_DAYS = 7
PUT_BACK_BATCH = 1000  # journal entries put back per call (memory: one batch, plus the partition's keys)
RESTORED, REMOVED, KEPT = "restored", "removed", "kept"


# -- what loads keep --------------------------------------------------------------------------------
def journal_prefix(account_id: str, upload_id: str) -> str:
    return f"{REVERT_PREFIX}{account_id}/{upload_id}/"


def partition_prefix(account_id: str, upload_id: str, partition: int) -> str:
    return f"{journal_prefix(account_id, upload_id)}{partition:05d}/"


class Journal:
    """One Load's revert journal: per batch of keys, in order, either `keep(keys, stored)` (read first)
    or `keep_unread(keys)` (optimistic) before its writes, then `keep_found(items)` before replacing
    what the optimistic writes found."""

    def __init__(self, objects, account_id: str, upload_id: str, partition: int, attempt: str):
        self._objects, self._upload_id = objects, upload_id
        self._prefix = partition_prefix(account_id, upload_id, partition)
        self._attempt = attempt
        self._batch = -1
        self._found = 0

    def _next_batch(self) -> str:
        self._batch, self._found = self._batch + 1, 0
        return f"{self._prefix}{self._batch:06d}-{self._attempt}"

    def _write(self, name: str, entries: Sequence[tuple[str, Mapping[str, str] | None]]) -> int:
        if entries:
            with self._objects.writer(f"{name}.ndjson") as out:
                for key, item in entries:
                    out.write(orjson.dumps({"key": key, "item": item}) + b"\n")
        return len(entries)

    def keep(self, keys: Sequence[str], stored: dict[str, dict[str, str]]) -> int:
        """Read first: keep each key's stored item (or null: the load creates it), except keys this
        upload already wrote (an earlier window, or a failed attempt, kept them first). Returns the
        entries kept."""
        return self._write(self._next_batch(), [(key, stored.get(key)) for key in keys
                                                 if (stored.get(key) or {}).get("job_id") != self._upload_id])

    def keep_unread(self, keys: Sequence[str]) -> int:
        """Optimistic: keep every key as null (created, unless keep_found says otherwise)."""
        return self._write(self._next_batch(), [(key, None) for key in keys])

    def keep_found(self, items: Sequence[tuple[str, Mapping[str, str]]]) -> int:
        """Keep the items of other writers that this batch's optimistic writes found (and left as they
        are), before they are replaced."""
        self._found += 1
        return self._write(f"{self._prefix}{self._batch:06d}-{self._attempt}-found-{self._found}", items)


def revertible_until(created_at: str, retention_days: int) -> str:
    """The end of an upload's revert window: its journal was written after created_at, and S3's
    lifecycle keeps an object at least `retention_days` after it was written."""
    return iso(parse_iso(created_at) + timedelta(days=retention_days))


def shown_revertible_until(job: dict[str, Any], now: datetime) -> str | None:
    """What the upload view shows: the window's end while a revert may still be asked for."""
    until = job.get("revertible_until")
    if not until or job.get("reverted_by") or job.get("status") != "Completed" or parse_iso(until) < now:
        return None
    return until


# -- asking for a revert ----------------------------------------------------------------------------
def refusal(upload: dict[str, Any], now: datetime) -> str | None:
    """Why this upload cannot be reverted now (409), or None."""
    upload_id, status = upload["job_id"], upload.get("status")
    if audiences.is_audience_load(upload):
        return (f"upload {upload_id} loaded an audience list, which each list upload replaces whole: "
                "upload the list you want instead of reverting")
    if status != "Completed":
        return f"upload {upload_id} is {status}; only a Completed upload can be reverted"
    if (upload.get("options") or {}).get("dry_run"):
        return f"upload {upload_id} was a dry run: it wrote nothing to revert"
    if upload.get("reverted_by"):
        return f"upload {upload_id} was already reverted by job {upload['reverted_by']}"
    until = upload.get("revertible_until")
    if not until:
        return f"upload {upload_id} kept nothing to revert (it finished before loads kept what they replaced)"
    if parse_iso(until) < now:
        return (f"upload {upload_id} could be reverted until {until}; "
                "what it replaced is no longer kept")
    return None


def stored_type(record_type: str) -> str:
    known = record_types.get(record_type)
    return known.stored_type if known else record_type


def request_revert(jobs, starter, account_id: str, upload_id: str, now: datetime) -> RevertJobView:
    upload = jobs.get(account_id, upload_id)
    if upload is None or upload.get("job_type", "upload") != "upload":
        raise NotFoundError(f"upload {upload_id} not found")
    refused = refusal(upload, now)
    if refused:
        raise ConflictError(refused)
    job_id, at = ids.new_id(), iso(now)
    if not jobs.claim_revert(account_id, upload_id, job_id):  # another request got there first
        raise ConflictError(refusal(jobs.get(account_id, upload_id) or upload, now)
                            or f"upload {upload_id} is being reverted")
    job = {
        "account_id": account_id,
        "job_id": job_id,
        "job_type": "revert",
        "status": "Pending",
        "dataset_id": upload["dataset_id"],
        "upload_id": upload_id,
        "record_type": stored_type(upload["record_type"]),
        "stats": {RESTORED: 0, REMOVED: 0, KEPT: 0},
        "created_at": at,
        "updated_at": at,
    }
    jobs.create(job)
    payload = {name: job[name] for name in ("account_id", "job_id", "dataset_id", "upload_id", "record_type")}
    try:
        job["execution_arn"] = starter.start(job_id, payload)
    except ExecutionAlreadyStartedError:  # cannot happen with a fresh id; keep the job consistent anyway
        job["execution_arn"] = starter.execution_arn(job_id)
    jobs.update(account_id, job_id, execution_arn=job["execution_arn"])
    return revert_view(job)


# -- the Revert workflow's steps --------------------------------------------------------------------
def plan(ctx, event: dict[str, Any]) -> dict[str, Any]:
    """Take the dataset's load hold (DatasetBusyError while a load or another revert holds it: the
    state machine retries, the job waits Pending with `queued_behind`), then list the partitions."""
    account_id, job_id, dataset_id = event["account_id"], event["job_id"], event["dataset_id"]
    hold.take(ctx, account_id, job_id, dataset_id, ctx.datasets)
    ctx.jobs.update(account_id, job_id, status="Processing", updated_at=iso_now())
    dataset = ctx.datasets.get(account_id, dataset_id)
    if dataset is None:
        raise FileRejectedError(f"dataset {dataset_id} no longer exists")
    prefix = journal_prefix(account_id, event["upload_id"])
    partitions = sorted({int(key[len(prefix):].split("/", 1)[0]) for key in ctx.objects.list_keys(prefix)})
    return {**event, "shards": dataset_shards(dataset),
            "partitions": [{"partition": partition} for partition in partitions]}


def journal_entries(objects, account_id: str, upload_id: str, partition: int) -> Iterator[tuple[str, Any]]:
    """The partition's keys, each once, with what a revert puts back: the key's first non-null entry
    (the item before the upload), else null (the upload created it). Items come as they are read,
    created keys at the end; held meanwhile: the partition's keys, twice at most (two sets)."""
    restored: set[str] = set()
    created: set[str] = set()
    for key in sorted(objects.list_keys(partition_prefix(account_id, upload_id, partition))):
        for line in _lines(objects.stream(key)):
            entry = orjson.loads(line)
            if entry["key"] in restored:
                continue
            if entry["item"] is None:
                created.add(entry["key"])
            else:
                restored.add(entry["key"])
                yield entry["key"], entry["item"]
    yield from ((key, None) for key in sorted(created - restored))


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The lines of a streamed object, holding one chunk and one line at a time."""
    rest = b""
    for chunk in chunks:
        *complete, rest = (rest + chunk).split(b"\n")
        yield from (line for line in complete if line)
    if rest:
        yield rest


def revert_partition(ctx, job: dict[str, Any], partition: dict[str, Any]) -> dict[str, Any]:
    """Put back one partition's keys; returns its counts."""
    counts = {RESTORED: 0, REMOVED: 0, KEPT: 0}
    batch: list[tuple[str, Any]] = []

    def put_back() -> None:
        for outcome in ctx.records.put_back(job["account_id"], job["dataset_id"], job["record_type"], job["shards"],
                                            job["upload_id"], batch):
            counts[outcome] += 1
        batch.clear()

    for entry in journal_entries(ctx.objects, job["account_id"], job["upload_id"], partition["partition"]):
        batch.append(entry)
        if len(batch) >= PUT_BACK_BATCH:
            put_back()
    if batch:
        put_back()
    return {"partition": partition["partition"], **counts}


def finish(ctx, state: dict[str, Any]) -> dict[str, Any]:
    account_id, job_id = state["account_id"], state["job_id"]
    settled = ctx.jobs.get(account_id, job_id) or {}
    stats = {name: sum(result[name] for result in state.get("results", [])) for name in (RESTORED, REMOVED, KEPT)}
    if settled.get("status") != "Completed":
        # Once per revert job (a retried Finish does not subtract twice).
        ctx.datasets.remove_records(account_id, state["dataset_id"], state["record_type"], stats[REMOVED], job_id)
        now = iso_now()
        ctx.jobs.update(account_id, job_id, status="Completed", stats=stats, updated_at=now, finished_at=now)
    else:
        stats = settled["stats"]
    ctx.datasets.release_load(account_id, state["dataset_id"], job_id)
    return {"job_id": job_id, "status": "Completed", **stats}


def fail(ctx, state: dict[str, Any], reason: str) -> dict[str, Any]:
    """The job Failed; the hold released; the upload may be reverted again (keys this attempt put back
    are then `kept`: their stamp is no longer the upload's)."""
    account_id, job_id = state["account_id"], state["job_id"]
    now = iso_now()
    ctx.jobs.update(account_id, job_id, status="Failed", failure_reason=reason, updated_at=now, finished_at=now)
    ctx.datasets.release_load(account_id, state["dataset_id"], job_id)
    ctx.jobs.release_revert(account_id, state["upload_id"], job_id)
    return {"job_id": job_id, "status": "Failed", "failure_reason": reason}


def revert_view(job: dict[str, Any]) -> RevertJobView:
    stats = job.get("stats") or {}
    return RevertJobView(
        id=job["job_id"],
        status=job["status"],
        dataset_id=job["dataset_id"],
        upload_id=job["upload_id"],
        created_at=job["created_at"],
        updated_at=job["updated_at"],
        stats={name: stats.get(name, 0) for name in (RESTORED, REMOVED, KEPT)},
        execution_arn=job.get("execution_arn"),
        finished_at=job.get("finished_at") or None,
        queued_behind=job.get("queued_behind") if job["status"] == "Pending" and job.get("queued_behind") else None,
        failure_reason=(job.get("failure_reason") or "the job failed for an unknown reason")
        if job["status"] == "Failed" else None,
    )
