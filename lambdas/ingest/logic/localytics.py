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

from ingest.errors import ForbiddenError, NotFoundError
from ingest.logic import quotas, target_datasets, uploads
from ingest.models.callers import ImportCaller
from ingest.models.imports import ImportTarget, ProfileImportForm, ProfileImportStarted, ProfileImportStatus
from ingest.models.uploads import UploadView

Caller = ImportCaller  # the import key a request came with, as the Basic authorizer passed it on
RECORD_TYPE = "profile_changes"
# The name of the job's object: a profile import is NDJSON whatever the client called its file.
UPLOAD_FILENAME = "localytics-profiles.ndjson"
# Our job statuses in Localytics' words.
STATUS_NAMES = {"Pending": "Pending", "Processing": "Running", "Completed": "Completed", "Failed": "Failed"}


def localytics_time(timestamp: str) -> str:
    """Our RFC 3339 UTC time ("2017-04-25T08:00:00Z") as Localytics writes its times: "2017-04-25T08:00:00",
    UTC with no zone designator, as in every example of its Import APIs page."""
    return timestamp[:-1] if timestamp.endswith("Z") else timestamp


@dataclass(frozen=True)
class ImportQuotas:
    uploads: quotas.Quota
    status_requests: quotas.Quota


def import_quotas(uploads_per_hour: int, status_requests_per_minute: int) -> ImportQuotas:
    return ImportQuotas(
        uploads=quotas.Quota("profile-uploads", uploads_per_hour, 3600, "profile import uploads"),
        status_requests=quotas.Quota("profile-status", status_requests_per_minute, 60,
                                     "profile import status requests"),
    )


def check_target(caller: ImportCaller, target: ImportTarget) -> None:
    """ForbiddenError unless the key may reach this org or app. The org id is the key's label for
    the account's org; other accounts' data is out of reach whatever their org ids are."""
    if target.org_id is not None and target.org_id != caller.org_id:
        raise ForbiddenError(f"this API key has no access to org {target.org_id}")
    if target.app_id is not None and target.app_id not in caller.app_ids:
        raise ForbiddenError(f"this API key has no access to app {target.app_id}")


def request_profile_import(caller: ImportCaller, form: ProfileImportForm, *, jobs, datasets, objects, targets, counters,
                           limits: ImportQuotas, url_ttl_seconds: int) -> ProfileImportStarted:
    """Start an import: 403 org/app not the key's, 429 over the upload quota (a bad form is the model's 400)."""
    target = form.target
    check_target(caller, target)
    quotas.consume(counters, caller.key_id, limits.uploads)
    family, name = ((target_datasets.LOCALYTICS_APP, target.app_id) if target.app_id is not None
                    else (target_datasets.LOCALYTICS_ORG, caller.org_id))
    dataset_id = target_datasets.ensure_dataset(targets, datasets, caller.account_id, family, name)
    created = uploads.create_upload(jobs, datasets, objects, None, caller.account_id, uploads.NewUpload(
        filename=UPLOAD_FILENAME,
        destination=uploads.DatasetLoad(dataset_id=dataset_id, record_type=RECORD_TYPE),
        marks=uploads.Marks(import_key=caller.key_id, import_target=target),
        content=form.file,
    ), url_ttl_seconds)
    return ProfileImportStarted(activity_id=created.view.id)


def status_view(upload: UploadView, target: ImportTarget) -> ProfileImportStatus:
    """An upload's view as a Localytics profile import status. The page's table names the scope
    field `target` (its example says "scopet"); error_log is the URL of the rejected lines whenever
    there are some, else null; the counts are numbers, as in the page's example."""
    stats = upload.stats
    return ProfileImportStatus(
        activity_id=upload.id,
        status=STATUS_NAMES[upload.status],
        error_log=upload.error_log_url,
        target=target,
        upload_statistics={"successful_imports": stats.loaded, "parsed_imports": stats.total,
                           "failed_imports": stats.rejected, "total_number_of_imports": stats.total},
        failure_reason=upload.failure_reason if upload.status == "Failed" else None,
    )


def profile_import_status(caller: ImportCaller, activity_id: str, *, jobs, objects, counters, limits: ImportQuotas,
                          url_ttl_seconds: int) -> ProfileImportStatus:
    """404 for an id that is not one of the account's profile imports; 403 for another org's or app's import."""
    quotas.consume(counters, caller.key_id, limits.status_requests)
    job = jobs.get(caller.account_id, activity_id)
    # An audience import carries an import_target too: only profile changes are profile imports.
    if (job is None or job.get("job_type") != "upload" or not job.get("import_target")
            or job.get("record_type") != RECORD_TYPE):
        raise NotFoundError(f"activity {activity_id} not found")
    target = ImportTarget.model_validate(job["import_target"])
    check_target(caller, target)
    return status_view(uploads.upload_view(job, objects, url_ttl_seconds), target)


__all__ = ["Caller"]
