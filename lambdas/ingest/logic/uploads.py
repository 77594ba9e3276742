"""Upload jobs: the one path that creates them, and their views (Lexer File Upload API shape).

Every route that starts an upload - Lexer's POST /v1/uploads, the Localytics profile and audience
imports, the analytics POST /analytics/files/upload - describes it as a NewUpload and calls
create_upload: the same checks, one write of the job (its marks included), and then either a
presigned PUT URL for the caller or the file's bytes written at once (the S3 trigger starts the
workflow either way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

from ingest import clock, ids, record_types
from ingest.clock import iso_in, iso_now
from ingest.errors import BadRequestError, ConflictError, NotFoundError
from ingest.logic import audiences, formats, revert
from ingest.logic.datasets import get_dataset
from ingest.logic.multipart_uploads import DEFAULT_MAX_UPLOAD_BYTES, PartPlan, multipart_fields, plan_parts
from ingest.models.analytics import AnalyticsFile
from ingest.models.imports import ImportTarget
from ingest.models.uploads import (
    FILENAME_RULE,
    FILENAME_RULE_TEXT,
    MAX_FILENAME_LENGTH,
    AudienceLoad,
    DatasetLoad,
    MultipartView,
    NewUploadView,
    ProgressView,
    RetryRequest,
    UploadOptions,
    UploadRequest,
    UploadView,
)

__all__ = ["FILENAME_RULE", "FILENAME_RULE_TEXT", "MAX_FILENAME_LENGTH"]  # the rule lives in models/uploads.py
UPLOAD_PREFIX = "uploads/"


def object_key(account_id: str, upload_id: str, filename: str) -> str:
    return f"{UPLOAD_PREFIX}{account_id}/{upload_id}/{filename}"


def parse_object_key(key: str) -> tuple[str, str] | None:
    """(account_id, upload_id) from an S3 event's URL-encoded object key, or None if not an upload."""
    parts = unquote_plus(key).split("/")
    if len(parts) != 4 or parts[0] + "/" != UPLOAD_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


@dataclass(frozen=True)
class Marks:
    """What a compatible API notes on the job, so its status route finds its own jobs."""

    import_key: str | None = None  # the Localytics import key that started it
    import_target: ImportTarget | None = None  # {"org_id"} or {"app_id"} it imports into
    analytics_file: tuple[str, AnalyticsFile] | None = None  # (datasetType, file) of an analytics upload

    def item_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.import_key is not None:
            fields["import_key"] = self.import_key
        if self.import_target is not None:
            fields["import_target"] = self.import_target.body()
        if self.analytics_file is not None:
            dataset_type, file = self.analytics_file
            fields["analytics_file"] = {"dataset_type": dataset_type, "name": file.name, "type": file.type}
        return fields


@dataclass(frozen=True)
class Lineage:
    """A retry's link to the upload it retries (logic/retries.py)."""

    parent_id: str
    copy_from: str | None = None  # the file is this object (the parent's unprocessed rows), copied: no URL
    line_map_key: str | None = None  # the source's lines -> the original upload's (logic/load/rows.py)

    def item_fields(self) -> dict[str, Any]:
        return {"parent_id": self.parent_id, **({"line_map_key": self.line_map_key} if self.line_map_key else {})}


@dataclass(frozen=True)
class NewUpload:
    """An upload to create. content=None: the caller PUTs the file through a presigned URL (of `size`
    bytes when given); bytes: the file is here already and is written at once, with no URL."""

    filename: str
    destination: DatasetLoad | AudienceLoad
    options: UploadOptions = field(default_factory=UploadOptions)
    size: int | None = None
    marks: Marks = field(default_factory=Marks)
    content: bytes | None = None
    lineage: Lineage | None = None
    parts: PartPlan | None = None  # a multipart upload: the client sends these parts, then completes

    @classmethod
    def of(cls, request: UploadRequest, max_upload_bytes: int) -> NewUpload:
        return cls(filename=request.filename, destination=request.destination, options=request.options,
                   size=request.size, parts=part_plan(request, max_upload_bytes))


def part_plan(request: UploadRequest | RetryRequest, max_upload_bytes: int) -> PartPlan | None:
    """The parts of a request's multipart upload (None for a single PUT): POST /v1/uploads and a retry."""
    if request.multipart and request.size is not None:  # check_sent_as requires the size for multipart
        return plan_parts(request.size, request.part_size, max_upload_bytes)
    return None


@dataclass(frozen=True)
class CreatedUpload:
    view: UploadView
    url: str | None  # None when the content was written
    expires_at: str | None

    def with_url(self) -> NewUploadView:
        """The view Lexer's API answers: the upload and where to PUT its file."""
        return NewUploadView(**dict(self.view), url=self.url, expires_at=self.expires_at)


def _stored_options(options: UploadOptions) -> dict[str, Any]:
    # DynamoDB takes no floats: a fractional budget is held as a Decimal (an integral one as an int).
    budget = options.max_rejected_percent
    return {"dry_run": options.dry_run,
            "max_rejected_percent": int(budget) if float(budget).is_integer() else Decimal(str(budget))}


def _check_format(filename: str, record_type_name: str) -> None:
    refusal = formats.format_refusal(record_types.get(record_type_name), formats.format_of(filename))
    if refusal:
        raise BadRequestError(refusal)


def create_upload(jobs, datasets, objects, audience_store, account_id: str, upload: NewUpload,
                  url_ttl_seconds: int) -> CreatedUpload:
    """Create the upload's job (Pending), then hand out its URL or write its content.

    404 no such dataset (or audience to replace), 400 a format the record type does not take or a dry
    run that would create an audience, 409 the dataset is being cleared or the account has its 500
    audiences.
    """
    target = upload.destination
    now = iso_now()  # one moment for the request: the job and an audience it creates share it
    if isinstance(target, DatasetLoad):
        get_dataset(datasets, account_id, target.dataset_id)
    _check_format(upload.filename, target.record_type)
    if isinstance(target, AudienceLoad):
        # Last, so a refused request creates no audience; the audience takes the dataset's place.
        destination = audiences.prepare_upload(audience_store, account_id, target, upload.options.dry_run, now)
        dataset_id = destination["audience_id"]
    else:
        destination = {"destination_type": target.destination_type, "dataset_id": target.dataset_id,
                       "record_type": target.record_type}
        dataset = datasets.get(account_id, target.dataset_id)
        if dataset and dataset.get("clearing_job"):
            raise ConflictError(f"dataset {target.dataset_id} is being cleared (job {dataset['clearing_job']}); "
                                "request the upload again when that job has finished")
        dataset_id = target.dataset_id
    upload_id = ids.new_id()
    lineage = upload.lineage
    key = object_key(account_id, upload_id, upload.filename)
    # S3's upload first: if the job's write then fails, the lifecycle rule aborts the orphan.
    multipart = ({} if upload.parts is None
                 else multipart_fields(objects.start_multipart(key), key, upload.parts))
    job = {
        "account_id": account_id,
        "job_id": upload_id,
        "job_type": "upload",
        "status": "Pending",
        "filename": upload.filename,
        "destination": destination,
        "dataset_id": dataset_id,
        "record_type": target.record_type,
        "object_key": key,
        "options": _stored_options(upload.options),
        **({"declared_size": upload.size} if upload.size is not None else {}),
        **upload.marks.item_fields(),
        **(lineage.item_fields() if lineage else {}),
        **multipart,
        "stats": {"total": 0, "loaded": 0, "rejected": 0},
        "created_at": now,
        "updated_at": now,
    }
    jobs.create(job)
    view = upload_view(job, objects, url_ttl_seconds)
    if lineage and lineage.copy_from:
        # A server-side copy to the upload's own key: the S3 trigger starts the workflow, as for a PUT.
        try:
            objects.copy(lineage.copy_from, key)
        except Exception:
            now = iso_now()
            jobs.update(account_id, upload_id, status="Failed", updated_at=now, finished_at=now,
                        failure_reason="the rows to retry could not be copied; request the retry again")
            raise
        return CreatedUpload(view, None, None)
    if upload.content is not None:
        # Writing the object is what a presigned PUT would do: the S3 trigger starts the workflow.
        objects.put(key, upload.content)
        return CreatedUpload(view, None, None)
    if upload.parts is not None:
        return CreatedUpload(view, None, None)  # part URLs come from POST /v1/uploads/{id}/parts
    return CreatedUpload(view, objects.presigned_put(key, url_ttl_seconds, content_length=upload.size),
                         iso_in(url_ttl_seconds))


def request_upload(jobs, datasets, objects, audience_store, account_id: str, request: UploadRequest,
                   url_ttl_seconds: int, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> NewUploadView:
    """POST /v1/uploads: the upload and its presigned PUT URL (a multipart upload: its S3 upload)."""
    return create_upload(jobs, datasets, objects, audience_store, account_id,
                         NewUpload.of(request, max_upload_bytes), url_ttl_seconds).with_url()


def renewed_put_url(jobs, objects, account_id: str, upload_id: str, url_ttl_seconds: int) -> tuple[str, str]:
    """A fresh presigned PUT URL (and its expiry) for an upload already created: the same object key
    and declared size. Idempotency-Key replays hand it out once the first answer's URL has expired."""
    job = jobs.get(account_id, upload_id)
    if job is None or job.get("job_type") != "upload":
        raise NotFoundError(f"upload {upload_id} not found")
    if job.get("multipart"):
        raise ConflictError(f"upload {upload_id} is a multipart upload: it has no single PUT URL")
    return (objects.presigned_put(job["object_key"], url_ttl_seconds, content_length=job.get("declared_size")),
            iso_in(url_ttl_seconds))


def get_upload(jobs, objects, account_id: str, upload_id: str, url_ttl_seconds: int) -> UploadView:
    job = jobs.get(account_id, upload_id)
    if job is None or job.get("job_type") != "upload":
        raise NotFoundError(f"upload {upload_id} not found")
    return upload_view(job, objects, url_ttl_seconds)


def upload_view(job: dict[str, Any], objects, url_ttl_seconds: int) -> UploadView:
    """The upload's public view; with objects=None it holds no URL (the job events' detail)."""
    stats = job.get("stats") or {"total": 0, "loaded": 0, "rejected": 0}
    options = job.get("options") or {"dry_run": False, "max_rejected_percent": 100}
    status = job["status"]
    return UploadView(
        id=job["job_id"],
        status=status,
        filename=job["filename"],
        destination=job["destination"],
        created_at=job["created_at"],
        updated_at=job["updated_at"],
        stats={**{name: stats.get(name, 0) for name in ("total", "loaded", "rejected")},
               **{name: stats.get(name) for name in ("not_loaded", "created", "replaced")}},
        execution_arn=job.get("execution_arn"),
        options={"dry_run": options.get("dry_run", False),
                 "max_rejected_percent": options.get("max_rejected_percent", 100)},
        finished_at=job.get("finished_at") or None,
        error_log_url=(objects.presigned_get(job["error_log_key"], url_ttl_seconds)
                       if objects is not None and stats.get("rejected") and job.get("error_log_key") else None),
        # The file has arrived; another upload is loading into the same dataset, and this one waits.
        queued_behind=job.get("queued_behind") if status == "Pending" and job.get("queued_behind") else None,
        progress=ProgressView.of(job["progress"]) if status == "Processing" and job.get("progress") else None,
        failure_reason=((job.get("failure_reason") or "the job failed for an unknown reason")
                        if status == "Failed" else None),
        **retry_fields(job, objects, url_ttl_seconds),
        revertible_until=revert.shown_revertible_until(job, clock.now()),
        reverted_by=job.get("reverted_by") or None,
        multipart=MultipartView(**job["multipart"]) if job.get("multipart") else None,
    )


def retry_fields(job: dict[str, Any], objects, url_ttl_seconds: int) -> dict[str, Any]:
    """failed_rows_url, unprocessed_rows_url, parent_id and retries (logic/retries.py), when they apply."""
    def url(key_name: str) -> str | None:
        key = job.get(key_name)
        return objects.presigned_get(key, url_ttl_seconds) if objects is not None and key else None

    return {"failed_rows_url": url("failed_rows_key"),
            "unprocessed_rows_url": url("unprocessed_rows_key") if job["status"] == "Failed" else None,
            "parent_id": job.get("parent_id") or None,
            "retries": list(job["retries"]) if job.get("retries") else None}
