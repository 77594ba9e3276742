"""Localytics Audience Imports, mapped onto audience lists (logic/audiences.py) and the normal upload job.

POST   /v1/imports/audiences/list/                        create: app_id, audience_name, identifier_type, file
GET    /v1/imports/audiences/list/status/{activity_id}    the job, in Localytics' words
PUT    /v1/imports/audiences/list/{audience_list_id}      replace the members: identifier_type, file
PUT    /v1/imports/audiences/list/{audience_list_id}/name?name=...   rename
DELETE /v1/imports/audiences/list/{audience_list_id}
GET    /v1/imports/audiences/list/app/{app_id}            the app's audience lists

The caller is an import key (HTTP Basic, logic/import_keys.py via the Basic authorizer): it acts for
its account, and only on audiences of the apps it may use (403 otherwise). A create or replace is an
upload job of destination_type audience_list created by uploads.request_upload; the file is written
to the job's object key, which starts the same workflow a presigned PUT would.

The file is a CSV of customer ids, one per row, with or without a `customer_id` header row (one is
added when missing, so line numbers in the error log count it).
"""

from __future__ import annotations

from typing import Any

from ingest.errors import BadRequestError, ForbiddenError, NotFoundError
from ingest.logic import audiences, localytics, quotas, uploads
from ingest.logic.multipart import Form

IDENTIFIER_TYPES = ("customer_id",)
UPLOAD_FILENAME = "localytics-audience.csv"
CSV_HEADER = b"customer_id"


def uploads_quota(per_hour: int) -> quotas.Quota:
    """Creates and replaces per key; counted apart from profile uploads (config: AUDIENCE_UPLOADS_PER_HOUR)."""
    return quotas.Quota("audience-uploads", per_hour, 3600, "audience import uploads")


def status_requests_quota(per_minute: int) -> quotas.Quota:
    """Status requests per key (config: AUDIENCE_STATUS_REQUESTS_PER_MINUTE)."""
    return quotas.Quota("audience-status", per_minute, 60, "audience import status requests")


def _text(form: Form, name: str) -> str:
    if name in form.repeated:
        raise BadRequestError(f"{name} can be sent once")
    value = form.fields.get(name, "").strip()
    if not value:
        raise BadRequestError(f"{name} is required: a non-empty text field")
    return value


def _members_file(form: Form) -> bytes:
    """The file as the audience_member CSV our pipeline reads."""
    identifier_type = _text(form, "identifier_type")
    if identifier_type not in IDENTIFIER_TYPES:
        raise BadRequestError(f"identifier_type {identifier_type!r} is not supported: one of {', '.join(IDENTIFIER_TYPES)}")
    part = form.files.get("file")
    if part is None or "file" in form.repeated:
        raise BadRequestError("file is required: one file part named \"file\"")
    data = part.data.lstrip(b"\xef\xbb\xbf")  # a BOM would make the header unrecognisable
    if not data.strip():
        raise BadRequestError("file is empty")
    first_line = data.split(b"\n", 1)[0].strip().strip(b'"')
    return data if first_line == CSV_HEADER else CSV_HEADER + b"\n" + data


def _check_app(caller: localytics.Caller, app_id: str | None) -> None:
    if app_id not in caller.app_ids:
        raise ForbiddenError(f"this API key has no access to app {app_id}" if app_id
                             else "this API key has no access to audiences outside its apps")


def _audience_of(caller: localytics.Caller, store, audience_list_id: str) -> dict[str, Any]:
    audience = store.get(caller.account_id, audience_list_id)
    if audience is None:
        raise NotFoundError(f"audience list {audience_list_id} not found")
    _check_app(caller, audience.get("app_id"))
    return audience


def _start(caller, app_id: str, destination: dict[str, Any], data: bytes, *, jobs, datasets, objects, store,
           url_ttl_seconds: int) -> dict[str, Any]:
    """The upload job, marked as this key's import into the app (a replace's destination names only
    the audience, so the app is passed in: the status route checks it), then the file written."""
    view = uploads.request_upload(jobs, datasets, objects, caller.account_id,
                                  {"filename": UPLOAD_FILENAME, "destination": destination}, url_ttl_seconds,
                                  audience_store=store)
    jobs.update(caller.account_id, view["id"], import_key=caller.key_id, import_target={"app_id": app_id})
    objects.put(uploads.object_key(caller.account_id, view["id"], UPLOAD_FILENAME), data)
    return {"activity_id": view["id"], "audience_list_id": view["destination"]["audience_id"]}


def create_audience_import(caller: localytics.Caller, form: Form, *, jobs, datasets, objects, store, counters,
                           upload_quota: quotas.Quota, url_ttl_seconds: int) -> dict[str, Any]:
    """400 bad form, 403 an app the key may not use, 409 the account's 500th audience exists, 429 quota."""
    app_id = _text(form, "app_id")
    _check_app(caller, app_id)
    name = _text(form, "audience_name")
    data = _members_file(form)
    quotas.consume(counters, caller.key_id, upload_quota)
    destination = {"destination_type": audiences.AUDIENCE_LIST, "audience_name": name, "app_id": app_id}
    return _start(caller, app_id, destination, data, jobs=jobs, datasets=datasets, objects=objects, store=store,
                  url_ttl_seconds=url_ttl_seconds)


def replace_audience_import(caller: localytics.Caller, audience_list_id: str, form: Form, *, jobs, datasets, objects,
                            store, counters, upload_quota: quotas.Quota, url_ttl_seconds: int) -> dict[str, Any]:
    """400 bad form, 404 not one of the account's audiences, 403 another app's, 429 quota."""
    audience = _audience_of(caller, store, audience_list_id)
    data = _members_file(form)
    quotas.consume(counters, caller.key_id, upload_quota)
    destination = {"destination_type": audiences.AUDIENCE_LIST, "audience_id": audience_list_id}
    return _start(caller, audience["app_id"], destination, data, jobs=jobs, datasets=datasets, objects=objects, store=store,
                  url_ttl_seconds=url_ttl_seconds)


def audience_import_status(caller: localytics.Caller, activity_id: str, *, jobs, objects, counters,
                           status_quota: quotas.Quota, url_ttl_seconds: int) -> dict[str, Any]:
    """404 unless the id is one of the account's audience imports; 403 for another app's; 429 quota."""
    quotas.consume(counters, caller.key_id, status_quota)
    job = jobs.get(caller.account_id, activity_id)
    if job is None or not audiences.is_audience_load(job) or not job.get("import_target"):
        raise NotFoundError(f"activity {activity_id} not found")
    _check_app(caller, job["import_target"].get("app_id"))
    upload = uploads.upload_view(job, objects, url_ttl_seconds)
    return {**localytics.status_view(upload, job["import_target"]), "audience_list_id": job["dataset_id"]}


def rename_audience_list(caller: localytics.Caller, store, audience_list_id: str, name: str | None) -> dict[str, Any]:
    _audience_of(caller, store, audience_list_id)
    return list_view_of(audiences.rename_audience(store, caller.account_id, audience_list_id, {"name": name}))


def list_view_of(view: dict[str, Any]) -> dict[str, Any]:
    return {"audience_list_id": view["id"], "name": view["name"], "app_id": view["app_id"],
            "version": view["version"], "record_count": view["record_count"],
            "created_at": view["created_at"], "updated_at": view["updated_at"]}


def delete_audience_list(caller: localytics.Caller, store, records, audience_list_id: str) -> None:
    _audience_of(caller, store, audience_list_id)
    audiences.delete_audience(store, records, caller.account_id, audience_list_id)


def app_audience_lists(caller: localytics.Caller, store, app_id: str) -> dict[str, Any]:
    _check_app(caller, app_id)
    listed = audiences.list_audiences(store, caller.account_id, app_id)["audiences"]
    return {"audience_lists": [list_view_of(view) for view in listed]}
