"""The analytics file-upload API: POST /analytics/files/upload and GET /analytics/files/{id}.

A thin layer over uploads.request_upload (same rules, same jobs, same workflow): datasetType picks
the record type, and each account has one dataset per datasetType, created on first use
(logic/target_datasets.py). The answers use this API's camelCase names.
"""

from __future__ import annotations

from typing import Any

from ingest.errors import BadRequestError, NotFoundError
from ingest.logic import target_datasets, uploads
from ingest.logic.requests import require_object, required_string

# datasetType -> our record type.
DATASET_TYPES = {
    "transactions": "purchase",
    "customers": "customer_record",
    "products": "product",
    "returns": "return",
}
# file.type -> the file name extensions it allows (each optionally followed by .gz).
FILE_TYPES = {"csv": (".csv",), "json": (".json",), "ndjson": (".ndjson", ".jsonl")}
FINISHED = ("Completed", "Failed")


def _file(body: dict[str, Any]) -> dict[str, str]:
    file = require_object(body.get("file"), "file")
    name = required_string(file, "name", max_length=uploads.MAX_FILENAME_LENGTH, path="file.")
    file_type = required_string(file, "type", max_length=16, path="file.").lower()
    if file_type not in FILE_TYPES:
        raise BadRequestError(f"file.type {file_type!r} is unknown; known types: {', '.join(FILE_TYPES)}")
    if not uploads.FILENAME_RULE.fullmatch(name):
        raise BadRequestError(f"file.name: {uploads.FILENAME_RULE_TEXT}")
    stem = name[:-3] if name.endswith(".gz") else name
    if not stem.endswith(FILE_TYPES[file_type]):
        raise BadRequestError(f"file.type {file_type} does not match file.name {name!r}: a {file_type} file is named "
                              + " or ".join(f"*{ext}[.gz]" for ext in FILE_TYPES[file_type]))
    return {"name": name, "type": file_type}


def request_file_upload(jobs, datasets, objects, targets, account_id: str, body: Any,
                        url_ttl_seconds: int) -> dict[str, Any]:
    body = require_object(body)
    dataset_type = required_string(body, "datasetType", max_length=64)
    if dataset_type not in DATASET_TYPES:
        raise BadRequestError(f"datasetType {dataset_type!r} is unknown; known types: {', '.join(DATASET_TYPES)}")
    file = _file(body)
    dataset_id = target_datasets.ensure_dataset(targets, datasets, account_id, target_datasets.ANALYTICS, dataset_type)
    upload = uploads.request_upload(jobs, datasets, objects, account_id, {
        "filename": file["name"],
        "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id,
                        "record_type": DATASET_TYPES[dataset_type]},
    }, url_ttl_seconds)
    jobs.update(account_id, upload["id"], analytics_file={"dataset_type": dataset_type, **file})
    return {"id": upload["id"], "url": upload["url"], "expiresAt": upload["expires_at"], "status": upload["status"],
            "datasetType": dataset_type, "file": file}


def file_view(upload: dict[str, Any], analytics_file: dict[str, str]) -> dict[str, Any]:
    """An upload's view (uploads.upload_view) in this API's words."""
    view: dict[str, Any] = {
        "id": upload["id"],
        "status": upload["status"],
        "datasetType": analytics_file["dataset_type"],
        "file": {"name": analytics_file["name"], "type": analytics_file["type"]},
        "createdAt": upload["created_at"],
        "updatedAt": upload["updated_at"],
    }
    if upload["status"] in FINISHED:
        stats = upload["stats"]
        view["statistics"] = {"total": stats["total"], "imported": stats["loaded"], "rejected": stats["rejected"]}
    if upload.get("error_log_url"):
        view["errorLogUrl"] = upload["error_log_url"]
    if upload.get("finished_at"):
        view["finishedAt"] = upload["finished_at"]
    if upload["status"] == "Failed":
        view["failureReason"] = upload["failure_reason"]
    return view


def get_file_upload(jobs, objects, account_id: str, file_id: str, url_ttl_seconds: int) -> dict[str, Any]:
    job = jobs.get(account_id, file_id)
    if job is None or job.get("job_type") != "upload" or not job.get("analytics_file"):
        raise NotFoundError(f"file upload {file_id} not found")
    return file_view(uploads.upload_view(job, objects, url_ttl_seconds), job["analytics_file"])
