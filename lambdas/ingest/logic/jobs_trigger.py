"""Starting an upload's workflow when its object lands in S3."""

from __future__ import annotations

from urllib.parse import unquote_plus

from ingest.adapters.workflow import ExecutionAlreadyStartedError
from ingest.clock import iso_now
from ingest.logic.uploads import parse_object_key
from ingest.models.events import S3Event, TriggerOutcome


def start_upload_job(jobs, starter, event_key: str) -> TriggerOutcome:
    """Start the workflow for one uploaded object, at most once per upload.

    S3 delivers events at least once; the execution name (the upload id) makes a second
    start fail in Step Functions itself, so a duplicate never becomes a second run. While the first
    execution runs, Step Functions answers a start with the same name and input with that execution
    (StartExecution is idempotent then): the job already names it, so that is a duplicate too.
    """
    parsed = parse_object_key(event_key)
    if parsed is None:
        return TriggerOutcome(outcome="ignored: not an upload key")
    account_id, upload_id = parsed
    job = jobs.get(account_id, upload_id)
    if job is None or job.get("object_key") != unquote_plus(event_key):
        return TriggerOutcome(outcome="ignored: no matching upload job", upload_id=upload_id)
    try:
        execution_arn = starter.start(upload_id, {"account_id": account_id, "upload_id": upload_id})
    except ExecutionAlreadyStartedError:
        return TriggerOutcome(outcome="duplicate: already started", upload_id=upload_id)
    if job.get("execution_arn") == execution_arn:
        return TriggerOutcome(outcome="duplicate: already running", upload_id=upload_id, execution_arn=execution_arn)
    jobs.update(account_id, upload_id, execution_arn=execution_arn, updated_at=iso_now())
    return TriggerOutcome(outcome="started", upload_id=upload_id, execution_arn=execution_arn)


def start_upload_jobs(jobs, starter, event: S3Event) -> list[TriggerOutcome]:
    """Every object of one S3 event (S3 sends one per event today; the format allows several)."""
    return [start_upload_job(jobs, starter, record.s3.object.key) for record in event.records]
