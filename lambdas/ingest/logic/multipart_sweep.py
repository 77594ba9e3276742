"""The lifecycle sweep: multipart uploads left incomplete are aborted, and their jobs say so.

The uploads bucket's lifecycle rule aborts an incomplete multipart upload `abort_after_days` after it
started (infra/storage.py), but S3 emits no event when it does, so the job would stay Pending for ever.
The sweep runs every `interval` (hourly: infra/multipart.py) and acts in the interval *before* that
deadline: S3 never acts before it (it rounds the deadline up to the next midnight UTC), so the sweep
finds every upload while S3 still lists it (ListMultipartUploads: only open uploads, never the history),
aborts it (idempotent) and fails its job with the reason. The rule stays as the backstop.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest.clock import iso
from ingest.logic.uploads import UPLOAD_PREFIX, parse_object_key


def lifecycle_reason(days: int) -> str:
    return (f"the multipart upload was not completed within {days} day{'s' if days != 1 else ''}: it was aborted "
            "and its parts deleted (the bucket's lifecycle rule for incomplete uploads); upload the file again")


def sweep(jobs, objects, now: datetime, abort_after_days: int, interval: timedelta) -> int:
    """Abort every upload under uploads/ started more than `abort_after_days` (less one interval) ago,
    and fail its job if it is still Pending. Returns how many jobs it failed. Safe to run again."""
    deadline = now - timedelta(days=abort_after_days) + interval
    failed = 0
    for key, s3_upload_id in objects.open_multipart_uploads(UPLOAD_PREFIX, deadline):
        objects.abort_multipart(key, s3_upload_id)
        owner = parse_object_key(key)
        if owner is None:
            continue
        account_id, upload_id = owner
        job = jobs.get(account_id, upload_id)
        if job is None or (job.get("multipart") or {}).get("upload_id") != s3_upload_id:
            continue  # an orphan (its job's write failed): aborting it is all there is to do
        stamp = iso(now)
        if jobs.close_multipart(account_id, upload_id, pending_only=True, status="Failed",
                                failure_reason=lifecycle_reason(abort_after_days), finished_at=stamp,
                                updated_at=stamp):
            failed += 1
    return failed
