"""Localytics Audience Imports, mapped onto audience lists (logic/audiences.py) and the normal upload job.

POST   /v1/imports/audiences/list/                        create: app_id, audience_name, identifier_type, file
GET    /v1/imports/audiences/list/status/{activity_id}    the job, in Localytics' words
PUT    /v1/imports/audiences/list/{audience_list_id}      replace the members: identifier_type, file
                                                          (app_id and audience_list_id as documented: checked if sent)
PUT    /v1/imports/audiences/list/{audience_list_id}/name?name=...   rename
DELETE /v1/imports/audiences/list/{audience_list_id}
GET    /v1/imports/audiences/list/app/{app_id}            the app's audience lists, a bare JSON array

The caller is an import key (HTTP Basic, logic/import_keys.py via the Basic authorizer): it acts for
its account, and only on audiences of the apps it may use (403 otherwise). A create or replace is an
upload job of destination_type audience_list created by uploads.request_upload; the file is written
to the job's object key, which starts the same workflow a presigned PUT would.

The file is JSON lines, one {"customer_id": ...} per line, as Localytics documents it. A CSV of
customer ids, one per row, with or without a `customer_id` header row, is taken too (a header row is
added when missing, so line numbers in the error log count it): the file's first character decides.

The answers follow the Import APIs page's examples: ids are our audience ids (text); the status's
statistics are strings, as its one complete example gives them; times are UTC without a zone
designator (localytics.localytics_time).
"""

from __future__ import annotations

from typing import Any, cast

from ingest.errors import BadRequestError, ForbiddenError, NotFoundError
from ingest.logic import audiences, localytics, quotas, uploads
from ingest.models.audiences import AudienceRename, AudienceView
from ingest.models.callers import ImportCaller
from ingest.models.imports import (
    AudienceImportForm,
    AudienceImportStarted,
    AudienceImportStatus,
    AudienceListEntries,
    AudienceListEntry,
    AudienceListRename,
    AudienceReplaceForm,
    ImportTarget,
)
from ingest.models.uploads import AudienceLoad, AudienceLoadTarget, UploadView

# The job's object name says its format to the load workflow (logic/formats.py format_of).
JSON_LINES_FILENAME = "localytics-audience.ndjson"
CSV_FILENAME = "localytics-audience.csv"
CSV_HEADER = b"customer_id"
# The statistics exist once the job has ended; until then the status says null, as Localytics' "Pending" example.
FINISHED = ("Completed", "Failed")


def uploads_quota(per_hour: int) -> quotas.Quota:
    """Creates and replaces per key; counted apart from profile uploads (config: AUDIENCE_UPLOADS_PER_HOUR)."""
    return quotas.Quota("audience-uploads", per_hour, 3600, "audience import uploads")


def status_requests_quota(per_minute: int) -> quotas.Quota:
    """Status requests per key (config: AUDIENCE_STATUS_REQUESTS_PER_MINUTE)."""
    return quotas.Quota("audience-status", per_minute, 60, "audience import status requests")


def members_file(data: bytes) -> tuple[str, bytes]:
    """(object name, bytes): the members as an audience_member file our load workflow reads, JSON lines or CSV."""
    if data.lstrip().startswith(b"{"):  # {"customer_id": "abc"} per line, the documented format
        return JSON_LINES_FILENAME, data
    first_line = data.split(b"\n", 1)[0].strip().strip(b'"')
    return CSV_FILENAME, data if first_line == CSV_HEADER else CSV_HEADER + b"\n" + data


def _check_app(caller: ImportCaller, app_id: str | None) -> None:
    if app_id not in caller.app_ids:
        raise ForbiddenError(f"this API key has no access to app {app_id}" if app_id
                             else "this API key has no access to audiences outside its apps")


def _audience_of(caller: ImportCaller, store, audience_list_id: str) -> dict[str, Any]:
    audience = store.get(caller.account_id, audience_list_id)
    if audience is None:
        raise NotFoundError(f"audience list {audience_list_id} not found")
    _check_app(caller, audience.get("app_id"))
    return audience


def _start(caller: ImportCaller, app_id: str, destination: AudienceLoad, data: bytes, *, jobs, datasets, objects,
           store, url_ttl_seconds: int) -> AudienceImportStarted:
    """The upload job, marked as this key's import into the app (a replace's destination names only
    the audience, so the app is passed in: the status route checks it), its file written at once."""
    filename, content = members_file(data)
    created = uploads.create_upload(jobs, datasets, objects, store, caller.account_id, uploads.NewUpload(
        filename=filename, destination=destination, content=content,
        marks=uploads.Marks(import_key=caller.key_id, import_target=ImportTarget(app_id=app_id)),
    ), url_ttl_seconds)
    target = cast(AudienceLoadTarget, created.view.destination)  # an audience upload loads an audience list
    return AudienceImportStarted(activity_id=created.view.id, audience_list_id=target.audience_id)


def _check_echoed(caller: ImportCaller, form: AudienceReplaceForm, audience: dict[str, Any],
                  audience_list_id: str) -> None:
    if form.audience_list_id is not None and form.audience_list_id != audience_list_id:
        raise BadRequestError(f"audience_list_id {form.audience_list_id!r} does not match the list in the path "
                              f"({audience_list_id})")
    if form.app_id is not None:
        _check_app(caller, form.app_id)
        if form.app_id != audience.get("app_id"):
            raise BadRequestError(f"app_id {form.app_id!r} is not the app of audience list {audience_list_id} "
                                  f"({audience.get('app_id')})")


def create_audience_import(caller: ImportCaller, form: AudienceImportForm, *, jobs, datasets, objects, store, counters,
                           upload_quota: quotas.Quota, url_ttl_seconds: int) -> AudienceImportStarted:
    """403 an app the key may not use, 409 the account's 500th audience exists, 429 quota."""
    _check_app(caller, form.app_id)
    quotas.consume(counters, caller.key_id, upload_quota)
    destination = AudienceLoad(audience_name=form.audience_name, app_id=form.app_id)
    return _start(caller, form.app_id, destination, form.file, jobs=jobs, datasets=datasets, objects=objects,
                  store=store, url_ttl_seconds=url_ttl_seconds)


def replace_audience_import(caller: ImportCaller, audience_list_id: str, form: AudienceReplaceForm, *, jobs, datasets,
                            objects, store, counters, upload_quota: quotas.Quota,
                            url_ttl_seconds: int) -> AudienceImportStarted:
    """404 not one of the account's audiences, 403 another app's, 400 echoed fields naming another list, 429 quota."""
    audience = _audience_of(caller, store, audience_list_id)
    _check_echoed(caller, form, audience, audience_list_id)
    quotas.consume(counters, caller.key_id, upload_quota)
    destination = AudienceLoad(audience_id=audience_list_id)
    return _start(caller, audience["app_id"], destination, form.file, jobs=jobs, datasets=datasets, objects=objects,
                  store=store, url_ttl_seconds=url_ttl_seconds)


def audience_import_status(caller: ImportCaller, activity_id: str, *, jobs, objects, counters,
                           status_quota: quotas.Quota, url_ttl_seconds: int) -> AudienceImportStatus:
    """404 unless the id is one of the account's audience imports; 403 for another app's; 429 quota."""
    quotas.consume(counters, caller.key_id, status_quota)
    job = jobs.get(caller.account_id, activity_id)
    if job is None or not audiences.is_audience_load(job) or not job.get("import_target"):
        raise NotFoundError(f"activity {activity_id} not found")
    _check_app(caller, job["import_target"].get("app_id"))
    return status_view(uploads.upload_view(job, objects, url_ttl_seconds), job["import_target"]["app_id"])


def status_view(upload: UploadView, app_id: str) -> AudienceImportStatus:
    """An audience upload's view as Localytics' audience import status: its documented fields
    exactly, then ours (activity_id, audience_list_id, error_log)."""
    audience_id = cast(AudienceLoadTarget, upload.destination).audience_id  # an audience upload's target
    stats = upload.stats
    statistics = None
    if upload.status in FINISHED:
        # Strings, as the page's one complete example writes them ("total_lines": "1").
        statistics = {"total_lines": str(stats.total), "audience_id": audience_id,
                      "audience_list_id": audience_id, "failed_lines": str(stats.rejected),
                      "successful_lines": str(stats.loaded)}
    return AudienceImportStatus(
        status=localytics.STATUS_NAMES[upload.status],
        error_reason=upload.failure_reason if upload.status == "Failed" else None,
        app_uuid=app_id,
        created_at=localytics.localytics_time(upload.created_at),
        updated_at=localytics.localytics_time(upload.updated_at),
        upload_statistics=statistics,
        activity_id=upload.id,
        audience_list_id=audience_id,
        # The URL of the rejected lines (NDJSON, one {"line", "error", "raw"} each) whenever there are some.
        error_log=upload.error_log_url,
    )


def list_view_of(view: AudienceView) -> AudienceListEntry:
    """An audience as an entry of Localytics' list of audience lists."""
    return AudienceListEntry(id=view.id, name=view.name, app_id=view.app_id, version=view.version,
                             record_count=view.record_count, created_at=localytics.localytics_time(view.created_at),
                             updated_at=localytics.localytics_time(view.updated_at))


def rename_audience_list(caller: ImportCaller, store, audience_list_id: str,
                         rename: AudienceListRename) -> AudienceListEntry:
    """The renamed list, as an entry of the app's list."""
    _audience_of(caller, store, audience_list_id)
    return list_view_of(audiences.rename_audience(store, caller.account_id, audience_list_id,
                                                  AudienceRename(name=rename.name)))


def delete_audience_list(caller: ImportCaller, store, records, audience_list_id: str) -> AudienceListEntry:
    """The list as it was before the deletion (the route answers 200 with it, the page's success code)."""
    deleted = list_view_of(audiences.audience_view(_audience_of(caller, store, audience_list_id)))
    audiences.delete_audience(store, records, caller.account_id, audience_list_id)
    return deleted


def app_audience_lists(caller: ImportCaller, store, app_id: str) -> AudienceListEntries:
    """The app's lists, oldest first: a bare JSON array, as the page's example answer."""
    _check_app(caller, app_id)
    listed = audiences.list_audiences(store, caller.account_id, audiences.AudiencesQuery(app_id=app_id)).audiences
    return AudienceListEntries([list_view_of(view) for view in listed])
