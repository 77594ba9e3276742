"""Upload jobs: request a presigned URL, then follow the job (Lexer File Upload API shape)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

from ingest import ids, record_types
from ingest.clock import iso_in, iso_now
from ingest.errors import BadRequestError, ConflictError, NotFoundError
from ingest.logic import audiences, formats
from ingest.logic.datasets import get_dataset
from ingest.logic.pipeline import MAX_OBJECT_BYTES
from ingest.logic.requests import require_object, required_string

FILENAME_RULE = re.compile(r"^[A-Za-z0-9_-]+\.(json|ndjson|jsonl|csv)(\.gz)?$")
FILENAME_RULE_TEXT = (
    "filename may contain only letters, digits, '-' and '_', followed by one of "
    ".json, .ndjson, .jsonl or .csv, optionally followed by .gz "
    "(for example customer_record-2024-08-29-1.json)"
)
DESTINATION_TYPES = ("dataset_load", audiences.AUDIENCE_LIST)
STATUSES = ("Pending", "Processing", "Completed", "Failed")
UPLOAD_PREFIX = "uploads/"
MAX_FILENAME_LENGTH = 200


def object_key(account_id: str, upload_id: str, filename: str) -> str:
    return f"{UPLOAD_PREFIX}{account_id}/{upload_id}/{filename}"


def parse_object_key(key: str) -> tuple[str, str] | None:
    """(account_id, upload_id) from an S3 event's URL-encoded object key, or None if not an upload."""
    parts = unquote_plus(key).split("/")
    if len(parts) != 4 or parts[0] + "/" != UPLOAD_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _destination(body: dict[str, Any], datasets, account_id: str) -> dict[str, str]:
    destination = require_object(body.get("destination"), "destination")
    destination_type = required_string(destination, "destination_type", path="destination.")
    if destination_type not in DESTINATION_TYPES:
        raise BadRequestError(f"destination.destination_type must be one of: {', '.join(DESTINATION_TYPES)}")
    if destination_type == audiences.AUDIENCE_LIST:  # its record type is implicitly audience_member
        return audiences.parse_destination(destination)
    dataset_id = required_string(destination, "dataset_id", max_length=64, path="destination.")
    named = required_string(destination, "record_type", max_length=64, path="destination.")
    record_type = record_types.canonical(named)  # an old name (purchase_event) is an alias: the job keeps the new one
    if record_type is None:
        raise BadRequestError(
            f"destination.record_type {named!r} is unknown; known types: {', '.join(record_types.catalogue())}"
        )
    if record_type == audiences.MEMBER_TYPE:
        raise BadRequestError(f"record type {record_type} loads audience lists: "
                              f"use destination_type {audiences.AUDIENCE_LIST} with audience_name or audience_id")
    get_dataset(datasets, account_id, dataset_id)
    return {"destination_type": destination_type, "dataset_id": dataset_id, "record_type": record_type}


def _check_format(filename: str, record_type_name: str) -> None:
    refusal = formats.format_refusal(record_types.get(record_type_name), formats.format_of(filename))
    if refusal:
        raise BadRequestError(refusal)


def _options(body: dict[str, Any]) -> dict[str, Any]:
    """Job options: dry_run (validate only, write nothing) and max_rejected_percent (error budget)."""
    raw = body.get("options")
    if raw is None:
        return {"dry_run": False, "max_rejected_percent": 100}
    options = require_object(raw, "options")
    unknown = sorted(set(options) - {"dry_run", "max_rejected_percent"})
    if unknown:
        raise BadRequestError(f"unknown options: {', '.join(unknown)}; known: dry_run, max_rejected_percent")
    dry_run = options.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadRequestError("options.dry_run must be true or false")
    budget = options.get("max_rejected_percent", 100)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget <= 100:
        raise BadRequestError("options.max_rejected_percent must be a number from 0 to 100")
    # DynamoDB numbers stop at 1E-130 and 38 digits: a budget finer than a millionth of a percent is rounded.
    budget = round(float(budget), 6)
    return {"dry_run": dry_run, "max_rejected_percent": int(budget) if budget.is_integer() else Decimal(str(budget))}


def _declared_size(body: dict[str, Any]) -> int | None:
    """Optional `size` in bytes: refused over 5 GB now, and signed into the URL so S3 holds the PUT to it."""
    size = body.get("size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise BadRequestError("size must be the file's size in bytes: a positive integer")
    if size > MAX_OBJECT_BYTES:
        raise BadRequestError(
            f"size {size} bytes is over the 5 GB limit of one upload ({MAX_OBJECT_BYTES} bytes); split the file"
        )
    return size


def request_upload(jobs, datasets, objects, account_id: str, body: Any, url_ttl_seconds: int,
                   audience_store=None) -> dict[str, Any]:
    body = require_object(body)
    filename = body.get("filename")
    if not isinstance(filename, str) or len(filename) > MAX_FILENAME_LENGTH or not FILENAME_RULE.fullmatch(filename):
        raise BadRequestError(FILENAME_RULE_TEXT)
    destination = _destination(body, datasets, account_id)
    _check_format(filename, destination["record_type"])
    options = _options(body)
    size = _declared_size(body)
    if destination["destination_type"] == audiences.AUDIENCE_LIST:
        # Last, so a refused request creates no audience; the audience takes the dataset's place.
        destination = audiences.prepare_upload(audience_store, account_id, destination, options)
    dataset = datasets.get(account_id, destination["dataset_id"]) if "dataset_id" in destination else None
    if dataset and dataset.get("clearing_job"):
        raise ConflictError(
            f"dataset {destination['dataset_id']} is being cleared (job {dataset['clearing_job']}); "
            "request the upload again when that job has finished"
        )
    upload_id = ids.new_id()
    now = iso_now()
    key = object_key(account_id, upload_id, filename)
    job = {
        "account_id": account_id,
        "job_id": upload_id,
        "job_type": "upload",
        "status": "Pending",
        "filename": filename,
        "destination": destination,
        "dataset_id": destination.get("dataset_id") or destination["audience_id"],
        "record_type": destination["record_type"],
        "object_key": key,
        "options": options,
        **({"declared_size": size} if size is not None else {}),
        "stats": {"total": 0, "loaded": 0, "rejected": 0},
        "created_at": now,
        "updated_at": now,
    }
    jobs.create(job)
    view = upload_view(job, objects, url_ttl_seconds)
    view["url"] = objects.presigned_put(key, url_ttl_seconds, content_length=size)
    view["expires_at"] = iso_in(url_ttl_seconds)
    return view


def get_upload(jobs, objects, account_id: str, upload_id: str, url_ttl_seconds: int) -> dict[str, Any]:
    job = jobs.get(account_id, upload_id)
    if job is None or job.get("job_type") != "upload":
        raise NotFoundError(f"upload {upload_id} not found")
    return upload_view(job, objects, url_ttl_seconds)


def _options_view(options: dict[str, Any] | None) -> dict[str, Any]:
    """Options as JSON numbers: a fractional budget is held as a Decimal for DynamoDB (see _options)."""
    view = dict(options or {"dry_run": False, "max_rejected_percent": 100})
    if isinstance(view.get("max_rejected_percent"), Decimal):
        view["max_rejected_percent"] = float(view["max_rejected_percent"])
    return view


def upload_view(job: dict[str, Any], objects, url_ttl_seconds: int) -> dict[str, Any]:
    stats = job.get("stats") or {"total": 0, "loaded": 0, "rejected": 0}
    view: dict[str, Any] = {
        "id": job["job_id"],
        "type": "upload",
        "status": job["status"],
        "filename": job["filename"],
        "destination": job["destination"],
        "created_at": job["created_at"],
        "updated_at": job["updated_at"],
        "stats": {name: stats.get(name, 0) for name in ("total", "loaded", "rejected")},
        "execution_arn": job.get("execution_arn"),
        "options": _options_view(job.get("options")),
    }
    if "not_loaded" in stats:
        view["stats"]["not_loaded"] = stats["not_loaded"]
    if job.get("finished_at"):
        view["finished_at"] = job["finished_at"]
    if stats.get("rejected") and job.get("error_log_key"):
        view["error_log_url"] = objects.presigned_get(job["error_log_key"], url_ttl_seconds)
    if job["status"] == "Pending" and job.get("queued_behind"):
        # The file has arrived; another upload is loading into the same dataset, and this one waits.
        view["queued_behind"] = job["queued_behind"]
    if job["status"] == "Failed":
        view["failure_reason"] = job.get("failure_reason") or "the job failed for an unknown reason"
    return view
