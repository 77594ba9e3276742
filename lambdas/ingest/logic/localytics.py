"""Localytics Profile Imports, mapped onto an ordinary upload job and the normal workflow.

POST /v1/imports/profiles/upload takes a multipart form (org_id or app_id, format=json, file). The
file becomes a `profile_changes` upload into the org's or app's dataset: the job is created by
uploads.request_upload and the file is written to the job's object key, so the S3 trigger starts
the same workflow a presigned PUT would. GET /v1/imports/profiles/status/{activity_id} shows that
job in Localytics' words. The caller comes from the Basic authorizer (logic/import_keys.py): an
account, the org id its key carries (a label such as "60"; the account name by default) and its apps.
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


def localytics_time(timestamp: str) -> str:
    """Our RFC 3339 UTC time ("2017-04-25T08:00:00Z") as Localytics writes its times: "2017-04-25T08:00:00",
    UTC with no zone designator, as in every example of its Import APIs page."""
    return timestamp[:-1] if timestamp.endswith("Z") else timestamp


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
    target = {name: value}
    check_target(caller, target)
    return target


def check_target(caller: Caller, target: dict[str, str]) -> None:
    """ForbiddenError unless the key may reach this org or app. The org id is the key's label for
    the account's org; other accounts' data is out of reach whatever their org ids are."""
    if "org_id" in target and target["org_id"] != caller.org_id:
        raise ForbiddenError(f"this API key has no access to org {target['org_id']}")
    if "app_id" in target and target["app_id"] not in caller.app_ids:
        raise ForbiddenError(f"this API key has no access to app {target['app_id']}")


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
                    else (target_datasets.LOCALYTICS_ORG, caller.org_id))
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
    """An upload's view (uploads.upload_view) as a Localytics profile import status. The page's table
    names the scope field `target` (its example says "scopet"); error_log is the URL of the rejected
    lines whenever there are some, else null; the counts are numbers, as in the page's example."""
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
    """404 for an id that is not one of the account's profile imports; 403 for another org's or app's import."""
    quotas.consume(counters, caller.key_id, limits.status_requests)
    job = jobs.get(caller.account_id, activity_id)
    # An audience import carries an import_target too: only profile changes are profile imports.
    if (job is None or job.get("job_type") != "upload" or not job.get("import_target")
            or job.get("record_type") != RECORD_TYPE):
        raise NotFoundError(f"activity {activity_id} not found")
    target = job["import_target"]
    check_target(caller, target)
    return status_view(uploads.upload_view(job, objects, url_ttl_seconds), target)
