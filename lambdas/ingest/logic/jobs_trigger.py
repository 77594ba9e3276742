"""Starting an upload's workflow when its object lands in S3."""

from __future__ import annotations

from urllib.parse import unquote_plus

from ingest.adapters.workflow import ExecutionAlreadyStartedError
from ingest.clock import iso_now
from ingest.logic.uploads import parse_object_key


def start_upload_job(jobs, starter, event_key: str) -> dict[str, str]:
    """Start the workflow for one uploaded object, at most once per upload.

    S3 delivers events at least once; the execution name (the upload id) makes a second
    start fail in Step Functions itself, so a duplicate never becomes a second run.
    """
    parsed = parse_object_key(event_key)
    if parsed is None:
        return {"outcome": "ignored: not an upload key"}
    account_id, upload_id = parsed
    job = jobs.get(account_id, upload_id)
    if job is None or job.get("object_key") != unquote_plus(event_key):
        return {"outcome": "ignored: no matching upload job", "upload_id": upload_id}
    try:
        execution_arn = starter.start(upload_id, {"account_id": account_id, "upload_id": upload_id})
    except ExecutionAlreadyStartedError:
        return {"outcome": "duplicate: already started", "upload_id": upload_id}
    jobs.update(account_id, upload_id, execution_arn=execution_arn, updated_at=iso_now())
    return {"outcome": "started", "upload_id": upload_id, "execution_arn": execution_arn}
