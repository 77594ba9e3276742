"""MarkFailed: a job that cannot finish ends Failed, with a reason its user can act on.

Every state's Catch leads here (FailedState: the job as far as the workflow knew it, and the error).
The job is never left Processing: it becomes Failed with the reason, keeps the error log of the lines
already rejected, counts in the dataset what its finished partitions created (their load/<p>.json,
once per upload, as Finalize would), abandons an audience load's member set, releases the dataset's
load hold and deletes the work files. A job already Completed or Failed keeps its outcome.

The failure reasons (and the Clear Data and Revert workflows', through CLEAR_REMEDY and REVERT_REMEDY)
are worded here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ingest.clock import iso_now
from ingest.logic import audiences
from ingest.logic.load import error_log, hold, rows
from ingest.logic.load.context import LoadContext
from ingest.logic.load.finalize import (
    changes_records,
    counted_type,
    expected_partitions,
    finished_partitions,
    job_fields,
)
from ingest.logic.load.layout import WorkKeys
from ingest.models.workflow import FailedState, JobOutcome, JobStats, PartitionResult


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
REVERT_REMEDY = Remedy(
    again="request the revert again",
    smaller="request the revert again: records already put back stay put back (that run counts them as kept)",
)
# The error names AWS gives, exactly (infra/retries.py retries the same; a test holds the two equal).
# Lambda's transient service errors: the function did not run, or its answer was lost.
LAMBDA_SERVICE_ERRORS = frozenset({
    "Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException",
    "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
})
LAMBDA_TIMEOUT = "Sandbox.Timedout"  # the function reached its configured timeout
# Errors that refuse the file itself: reprocessing it as it is would fail the same way.
FILE_REFUSALS = frozenset({"FileRejectedError"})
LAMBDA_UNKNOWN = "Lambda.Unknown"  # the function died without an answer: out of memory, a runtime crash


def failure_reason(error: Mapping[str, Any], remedy: Remedy = UPLOAD_REMEDY) -> str:
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
        # A Distributed Map (Scan, Split or Load) gave up on some of its iterations.
        return (f"a step failed on some ranges or partitions of the file, also after retries; {remedy.again}, "
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


def _unfinished(ctx: LoadContext, work: WorkKeys, results: list[PartitionResult]) -> list[int]:
    """The partitions of the load manifest that have no result (their Load failed, or never ran)."""
    if not ctx.objects.exists(work.load_manifest):
        return []
    return sorted(set(expected_partitions(ctx, work)) - {result.partition for result in results})


def mark_failed(ctx: LoadContext, state: FailedState) -> JobOutcome:
    account_id, upload_id = state.ids
    work = WorkKeys(account_id, upload_id)
    settled = ctx.jobs.get(account_id, upload_id) or {}
    if settled.get("status") in hold.FINAL_STATUSES:  # ended already (Finalize did its work, or PlanLoad's budget)
        hold.release(ctx, account_id, upload_id)
        ctx.objects.delete_prefix(work.prefix)
        return JobOutcome(upload_id=upload_id, status=settled["status"],
                          stats=JobStats.model_validate(settled["stats"]) if settled.get("stats") else None,
                          failure_reason=settled.get("failure_reason"))
    reason = failure_reason(state.error.model_dump())
    now = iso_now()
    fields: dict[str, Any] = {"status": "Failed", "failure_reason": reason, "updated_at": now, "finished_at": now}
    job = state.job
    stats = None
    if job is not None and job.split is not None:
        results = finished_partitions(ctx, work)
        # the lines rejected so far, in line order
        log_key, rejected = error_log.merge(ctx.objects, work, settled.get("line_map_key"))
        unfinished = _unfinished(ctx, work, results)
        # The lines of partitions whose Load did not finish: the unprocessed rows (docs/load_workflow.md).
        fields.update(rows.publish(ctx.objects, work, settled, job, unfinished))
        loaded = sum(result.loaded for result in results)
        counts = changes_records(job)
        stats = JobStats(total=job.split.total, loaded=loaded, rejected=rejected,
                         created=sum(result.created for result in results) if counts else None,
                         replaced=sum(result.replaced for result in results) if counts else None,
                         not_loaded=max(0, job.split.total - rejected - loaded))
        fields["stats"] = stats.state()
        if log_key:
            fields["error_log_key"] = log_key
        if counts:
            load = {"upload_id": upload_id, "finished_at": now, "status": "Failed", **stats.state()}
            if unfinished:
                # A Load that failed for good may have written part of its partition, and nothing counted
                # those writes: the one case where the count costs what the dataset holds, not the upload.
                count = ctx.records.count(account_id, job.dataset_id, counted_type(job), job.shards)
                ctx.datasets.record_load(account_id, job.dataset_id, counted_type(job), count, load)
            else:
                # Every partition finished (the job failed after them): count what they created, once.
                ctx.datasets.add_load(account_id, job.dataset_id, counted_type(job), stats.created or 0, load)
    elif settled and state.error.Error not in FILE_REFUSALS:
        # Failed before its lines were checked (not because of the file): every line is unprocessed.
        fields.update(rows.whole_upload_unprocessed(settled))
    ctx.jobs.update(account_id, upload_id, **fields)
    if job is not None and not job.dry_run and audiences.is_audience_load(job_fields(job)):
        audiences.abandon_load(ctx.audiences, ctx.records, job_fields(job))  # the old list stays
    hold.release(ctx, account_id, upload_id)
    ctx.objects.delete_prefix(work.prefix)
    return JobOutcome(upload_id=upload_id, status="Failed", stats=stats, failure_reason=reason)
