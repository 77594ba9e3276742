"""Retry of an upload: POST /v1/uploads/{upload_id}/retry creates a child upload of the same destination
and options.

Without rows: the child waits for the corrected file at its own presigned URL, as POST /v1/uploads
(a declared size signed into it), or, with "multipart": true, is a multipart upload exactly as
POST /v1/uploads makes one (its parts signed and completed through /parts and /complete): the request's
size, multipart and part_size are POST /v1/uploads' own fields and rules (models/uploads.py).
With rows=unprocessed: the child's file is the parent's unprocessed rows file (logic/load/rows.py wrote
it, with a line map), copied server side to the child's own upload key, so the S3 trigger starts it as
any upload (the API never starts a load itself); the child keeps the line map, so its error log, failed
rows and unprocessed rows name the parent's original line numbers.

The parent lists its retries (`retries`, appended after the child exists), the child names its parent
(`parent_id`). 404 an unknown (or another account's) upload; 409 a parent still Pending or Processing,
rows=unprocessed on a parent with no unprocessed rows, or an audience list (a load replaces the whole
list, so part of one cannot be retried: upload the full file again).
"""

from __future__ import annotations

from ingest.errors import ConflictError, NotFoundError
from ingest.logic import uploads
from ingest.logic.multipart_uploads import DEFAULT_MAX_UPLOAD_BYTES
from ingest.logic.uploads import Lineage, NewUpload, part_plan
from ingest.models.uploads import DATASET_LOAD, UNPROCESSED, DatasetLoad, RetryRequest, RetryView, UploadOptions

RUNNING = ("Pending", "Processing")


def retry_upload(jobs, datasets, objects, account_id: str, upload_id: str, request: RetryRequest,
                 url_ttl_seconds: int, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> RetryView:
    parent = jobs.get(account_id, upload_id)
    if parent is None or parent.get("job_type") != "upload":
        raise NotFoundError(f"upload {upload_id} not found")
    if parent["status"] in RUNNING:
        raise ConflictError(f"upload {upload_id} is {parent['status']}; retry it once it has Completed or Failed")
    destination = parent["destination"]
    if destination.get("destination_type", DATASET_LOAD) != DATASET_LOAD:
        raise ConflictError(f"upload {upload_id} loaded an audience list, which a load replaces whole: "
                            "upload the full file again instead of retrying it")
    lineage = Lineage(parent_id=upload_id)
    if request.rows == UNPROCESSED:
        if parent["status"] != "Failed" or not parent.get("unprocessed_rows_key"):
            raise ConflictError(f"upload {upload_id} has no unprocessed rows (it has none unless it Failed with "
                                "lines neither loaded nor rejected); retry without rows to upload a corrected file")
        if not objects.exists(parent["unprocessed_rows_key"]):
            raise ConflictError(f"the unprocessed rows of upload {upload_id} are no longer stored (they expire with "
                                "the upload); upload the file again")
        lineage = Lineage(parent_id=upload_id, copy_from=parent["unprocessed_rows_key"],
                          line_map_key=parent.get("unprocessed_line_map_key"))
    options = parent.get("options") or {}
    child = NewUpload(
        filename=parent["filename"],
        destination=DatasetLoad(dataset_id=destination["dataset_id"], record_type=destination["record_type"]),
        options=UploadOptions(dry_run=bool(options.get("dry_run", False)),
                              max_rejected_percent=float(options.get("max_rejected_percent", 100))),
        lineage=lineage,
        size=request.size,  # RetryRequest refuses size and multipart with rows=unprocessed
        parts=part_plan(request, max_upload_bytes),
    )
    created = uploads.create_upload(jobs, datasets, objects, None, account_id, child, url_ttl_seconds)
    child_id = created.view.id
    jobs.add_retry(account_id, upload_id, child_id)
    view = uploads.get_upload(jobs, objects, account_id, child_id, url_ttl_seconds)
    return RetryView(**dict(view), url=created.url, expires_at=created.expires_at)

