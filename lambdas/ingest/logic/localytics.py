"""Localytics Profile Imports, mapped onto an ordinary upload job and the normal workflow.

POST /v1/imports/profiles/upload takes a multipart form (org_id or app_id, format=json, file). The
file becomes a `profile_changes` upload into the org's or app's dataset: the job is created by
uploads.request_upload and the file is written to the job's object key, so the S3 trigger starts
the same workflow a presigned PUT would. GET /v1/imports/profiles/status/{activity_id} shows that
job in Localytics' words. The caller comes from the Basic authorizer (logic/import_keys.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.errors import BadRequestError, ForbiddenError, NotFoundError
from ingest.logic import quotas, target_datasets, uploads
from ingest.logic.multipart import Form

RECORD_TYPE = "profile_changes"
# The name of the job's object: a profile import is NDJSON whatever the client called its file.
UPLOAD_FILENAME = "localytics-profiles.ndjson"
FORMATS = ("json",)
# Our job statuses in Localytics' words.
STATUS_NAMES = {"Pending": "Pending", "Processing": "Running", "Completed": "Completed", "Failed": "Failed"}


@dataclass(frozen=True)
class Caller:
    """The import key a request came with, as the Basic authorizer passed it on."""

    account_id: str
    key_id: str
    org_id: str
    app_ids: tuple[str, ...]


@dataclass(frozen=True)
class ImportQuotas:
    uploads: quotas.Quota
    status_requests: quotas.Quota


def import_quotas(uploads_per_hour: int, status_requests_per_minute: int) -> ImportQuotas:
    return ImportQuotas(
        uploads=quotas.Quota("profile-uploads", uploads_per_hour, 3600, "profile import uploads"),
        status_requests=quotas.Quota("profile-status", status_requests_per_minute, 60, "profile import status requests"),
    )


def target_of(caller: Caller, form: Form) -> dict[str, str]:
    """{"org_id": ...} or {"app_id": ...}: exactly one, and one the key may import into."""
    given = [name for name in ("org_id", "app_id") if name in form.fields or name in form.files]
    if len(given) != 1 or given[0] in form.repeated:
        raise BadRequestError("send exactly one of org_id and app_id (once)")
    name = given[0]
    value = form.fields.get(name, "").strip()
    if not value:
        raise BadRequestError(f"{name} must be a non-empty text field")
    if name == "org_id" and value != caller.org_id:
        raise ForbiddenError(f"this API key has no access to org {value}")
    if name == "app_id" and value not in caller.app_ids:
        raise ForbiddenError(f"this API key has no access to app {value}")
    return {name: value}


def _file_of(form: Form) -> bytes:
    fmt = form.fields.get("format")
    if fmt is None:
        raise BadRequestError(f"format is required: one of {', '.join(FORMATS)}")
    if fmt.strip().lower() not in FORMATS:
        raise BadRequestError(f"format {fmt!r} is not supported: one of {', '.join(FORMATS)} "
                              "(one JSON object per line: {\"customer_id\", \"changes\": [...]})")
    part = form.files.get("file")
    if part is None or "file" in form.repeated:
        raise BadRequestError("file is required: one file part named \"file\"")
    if not part.data.strip():
        raise BadRequestError("file is empty")
    return part.data


def request_profile_import(caller: Caller, form: Form, *, jobs, datasets, objects, targets, counters,
                           limits: ImportQuotas, url_ttl_seconds: int) -> dict[str, Any]:
    """Start an import: 400 bad form, 403 org/app not the key's, 429 over the upload quota."""
    target = target_of(caller, form)
    data = _file_of(form)
    quotas.consume(counters, caller.key_id, limits.uploads)
    family, name = ((target_datasets.LOCALYTICS_APP, target["app_id"]) if "app_id" in target
                    else (target_datasets.LOCALYTICS_ORG, caller.account_id))
    dataset_id = target_datasets.ensure_dataset(targets, datasets, caller.account_id, family, name)
    view = uploads.request_upload(jobs, datasets, objects, caller.account_id, {
        "filename": UPLOAD_FILENAME,
        "destination": {"destination_type": "dataset_load", "dataset_id": dataset_id, "record_type": RECORD_TYPE},
    }, url_ttl_seconds)
    jobs.update(caller.account_id, view["id"], import_target=target, import_key=caller.key_id)
    # Writing the object is what a presigned PUT would do: the S3 trigger starts the workflow.
    objects.put(uploads.object_key(caller.account_id, view["id"], UPLOAD_FILENAME), data)
    return {"activity_id": view["id"]}


def status_view(upload: dict[str, Any], target: dict[str, str]) -> dict[str, Any]:
    """An upload's view (uploads.upload_view) as a Localytics import status."""
    stats = upload["stats"]
    view: dict[str, Any] = {
        "activity_id": upload["id"],
        "status": STATUS_NAMES[upload["status"]],
        "error_log": upload.get("error_log_url"),
        "target": dict(target),
        "upload_statistics": {
            "successful_imports": stats["loaded"],
            "parsed_imports": stats["total"],
            "failed_imports": stats["rejected"],
            "total_number_of_imports": stats["total"],
        },
    }
    if upload["status"] == "Failed":
        view["failure_reason"] = upload["failure_reason"]
    return view


def profile_import_status(caller: Caller, activity_id: str, *, jobs, objects, counters, limits: ImportQuotas,
                          url_ttl_seconds: int) -> dict[str, Any]:
    """404 for an id that is not one of the account's profile imports; 403 for another app's import."""
    quotas.consume(counters, caller.key_id, limits.status_requests)
    job = jobs.get(caller.account_id, activity_id)
    # An audience import carries an import_target too: only profile changes are profile imports.
    if (job is None or job.get("job_type") != "upload" or not job.get("import_target")
            or job.get("record_type") != RECORD_TYPE):
        raise NotFoundError(f"activity {activity_id} not found")
    target = job["import_target"]
    if "app_id" in target and target["app_id"] not in caller.app_ids:
        raise ForbiddenError(f"this API key has no access to app {target['app_id']}")
    return status_view(uploads.upload_view(job, objects, url_ttl_seconds), target)
