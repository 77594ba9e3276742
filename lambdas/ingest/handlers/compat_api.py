"""Routes of the compatible APIs, served by the API function (handlers/api.py includes this router):

- Localytics Profile Imports, /v1/imports/profiles/... (HTTP Basic auth: handlers/import_authorizer.py);
- Localytics Audience Imports, /v1/imports/audiences/list/... (the same Basic auth);
- the analytics file-upload API, /analytics/files/... (Auth-Api-Token, like every /v1 route);
- the import keys of the first, /v1/import-keys (Auth-Api-Token).

A separate module so that each family reads as one page; domain errors map to statuses in
handlers/api.py's one table. Every route makes one call into logic/ and shapes its answer.
"""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from ingest.adapters import aws
from ingest.adapters.audience_store import AudienceStore
from ingest.adapters.control_tables import DatasetsTable, JobsTable
from ingest.adapters.import_keys_table import ImportKeysTable
from ingest.adapters.object_store import ObjectStore
from ingest.adapters.quota_counters import QuotaCounters
from ingest.adapters.record_store import RecordStore
from ingest.config import ApiSettings
from ingest.handlers.http import json_body, json_response
from ingest.handlers.observability import logger
from ingest.logic import analytics, import_keys, localytics, localytics_audiences, multipart

settings = ApiSettings.from_env()
jobs = JobsTable(aws.table(settings.jobs_table))
dataset_table = DatasetsTable(aws.table(settings.datasets_table))
objects = ObjectStore(aws.client("s3"), settings.uploads_bucket)
imports_table = ImportKeysTable(aws.table(settings.imports_table))
quota_counters = QuotaCounters(aws.table(settings.quotas_table))
import_limits = localytics.import_quotas(settings.profile_uploads_per_hour, settings.profile_status_requests_per_minute)
audience_store = AudienceStore(aws.table(settings.audiences_table))
records = RecordStore(aws.client("dynamodb"), settings.records_table)
audience_uploads_quota = localytics_audiences.uploads_quota(settings.audience_uploads_per_hour)
audience_status_quota = localytics_audiences.status_requests_quota(settings.audience_status_requests_per_minute)

router = Router()


def _json(status: int, body: Any) -> Response:
    return json_response(status, body)


def _authorizer() -> dict[str, Any]:
    # Set by our Lambda authorizers; API Gateway never forwards a caller-supplied value here.
    return router.current_event.raw_event["requestContext"]["authorizer"]


def _account() -> str:
    return _authorizer()["account_id"]


def _import_caller() -> localytics.Caller:
    context = _authorizer()
    return localytics.Caller(account_id=context["account_id"], key_id=context["key_id"], org_id=context["org_id"],
                             app_ids=tuple(app for app in (context.get("app_ids") or "").split(",") if app))


def _json_body(optional: bool = False) -> Any:
    return json_body(router.current_event.body, optional=optional)


def _form() -> multipart.Form:
    event = router.current_event
    raw = event.raw_event.get("body") or ""
    # multipart/form-data is a binary media type of the REST API, so it arrives base64-encoded.
    body = base64.b64decode(raw) if event.raw_event.get("isBase64Encoded") else raw.encode("utf-8")
    return multipart.parse_form(event.headers.get("content-type") or event.headers.get("Content-Type"), body)


# -- Localytics Profile Imports ----------------------------------------------------------------
@router.post("/v1/imports/profiles/upload")
def upload_profiles() -> Response:
    caller = _import_caller()
    answer = localytics.request_profile_import(
        caller, _form(), jobs=jobs, datasets=dataset_table, objects=objects, targets=imports_table,
        counters=quota_counters, limits=import_limits, url_ttl_seconds=settings.upload_url_ttl_seconds)
    logger.info("profile import started", extra={"upload_id": answer["activity_id"], "key_id": caller.key_id})
    return _json(202, answer)


@router.get("/v1/imports/profiles/status/<activity_id>")
def profile_import_status(activity_id: str) -> Response:
    return _json(200, localytics.profile_import_status(
        _import_caller(), router.current_event.path_parameters["activity_id"], jobs=jobs, objects=objects,
        counters=quota_counters, limits=import_limits, url_ttl_seconds=settings.upload_url_ttl_seconds))


# -- Localytics Audience Imports ---------------------------------------------------------------
def _path(name: str) -> str:
    return router.current_event.path_parameters[name]


def _audience_upload_deps() -> dict[str, Any]:
    return {"jobs": jobs, "datasets": dataset_table, "objects": objects, "store": audience_store,
            "counters": quota_counters, "upload_quota": audience_uploads_quota,
            "url_ttl_seconds": settings.upload_url_ttl_seconds}


# "/v1/imports/audiences/list/" as Localytics documents it: the resolver ignores a trailing slash.
@router.post("/v1/imports/audiences/list")
def create_audience_import() -> Response:
    caller = _import_caller()
    answer = localytics_audiences.create_audience_import(caller, _form(), **_audience_upload_deps())
    logger.info("audience import started", extra={"upload_id": answer["activity_id"], "key_id": caller.key_id,
                                                  "audience_id": answer["audience_list_id"]})
    return _json(202, answer)


@router.get("/v1/imports/audiences/list/status/<activity_id>")
def audience_import_status(activity_id: str) -> Response:
    return _json(200, localytics_audiences.audience_import_status(
        _import_caller(), _path("activity_id"), jobs=jobs, objects=objects, counters=quota_counters,
        status_quota=audience_status_quota, url_ttl_seconds=settings.upload_url_ttl_seconds))


@router.put("/v1/imports/audiences/list/<audience_list_id>")
def replace_audience_import(audience_list_id: str) -> Response:
    caller = _import_caller()
    answer = localytics_audiences.replace_audience_import(caller, _path("audience_list_id"), _form(),
                                                          **_audience_upload_deps())
    logger.info("audience replace started", extra={"upload_id": answer["activity_id"], "key_id": caller.key_id,
                                                  "audience_id": answer["audience_list_id"]})
    return _json(202, answer)


@router.put("/v1/imports/audiences/list/<audience_list_id>/name")
def rename_audience_list(audience_list_id: str) -> Response:
    name = (router.current_event.query_string_parameters or {}).get("name")
    return _json(200, localytics_audiences.rename_audience_list(_import_caller(), audience_store,
                                                                _path("audience_list_id"), name))


@router.delete("/v1/imports/audiences/list/<audience_list_id>")
def delete_audience_list(audience_list_id: str) -> Response:
    # 200 with the deleted list: the page's one success code for these routes.
    deleted = localytics_audiences.delete_audience_list(_import_caller(), audience_store, records,
                                                        _path("audience_list_id"))
    logger.info("audience list deleted", extra={"audience_id": _path("audience_list_id")})
    return _json(200, deleted)


@router.get("/v1/imports/audiences/list/app/<app_id>")
def app_audience_lists(app_id: str) -> Response:
    # A bare JSON array, as Localytics answers.
    return _json(200, localytics_audiences.app_audience_lists(_import_caller(), audience_store, _path("app_id")))


# -- import keys (Auth-Api-Token) ---------------------------------------------------------------
@router.post("/v1/import-keys")
def create_import_key() -> Response:
    # The answer holds the secret: shown in this response only, never logged.
    view = import_keys.create_import_key_from_request(imports_table, dataset_table, _account(), _json_body(optional=True))
    logger.info("import key created", extra={"key_id": view["key"]})
    return _json(201, view)


@router.get("/v1/import-keys")
def list_import_keys() -> Response:
    return _json(200, import_keys.list_import_keys(imports_table, _account()))


@router.delete("/v1/import-keys/<key_id>")
def revoke_import_key(key_id: str) -> Response:
    import_keys.revoke_import_key(imports_table, _account(), router.current_event.path_parameters["key_id"])
    logger.info("import key revoked", extra={"key_id": router.current_event.path_parameters["key_id"]})
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


# -- analytics file uploads (Auth-Api-Token) ---------------------------------------------------
@router.post("/analytics/files/upload")
def request_file_upload() -> Response:
    view = analytics.request_file_upload(jobs, dataset_table, objects, imports_table, _account(), _json_body(),
                                         settings.upload_url_ttl_seconds)
    logger.info("analytics file upload requested", extra={"upload_id": view["id"], "dataset_type": view["datasetType"]})
    return _json(200, view)


@router.get("/analytics/files/<file_id>")
def get_file_upload(file_id: str) -> Response:
    return _json(200, analytics.get_file_upload(jobs, objects, _account(), router.current_event.path_parameters["file_id"],
                                                settings.upload_url_ttl_seconds))
