"""Routes of the compatible APIs, served by the API function (handlers/api.py includes this router):

- Localytics Profile Imports, /v1/imports/profiles/... (HTTP Basic auth: handlers/import_authorizer.py);
- Localytics Audience Imports, /v1/imports/audiences/list/... (the same Basic auth);
- the analytics file-upload API, /analytics/files/... (Auth-Api-Token, like every /v1 route);
- the import keys of the first, /v1/import-keys (Auth-Api-Token).

A separate module so that each family reads as one page; contracts, request reading and the error
table are handlers/http.py's, adapters handlers/wiring.py's. Every route makes one call into logic/.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from ingest.handlers import wiring
from ingest.handlers.http import route
from ingest.handlers.observability import logger
from ingest.logic import analytics, import_keys, localytics, localytics_audiences
from ingest.models.analytics import FileUploadRequest, FileUploadStarted, FileUploadView
from ingest.models.callers import ImportCaller, TokenCaller
from ingest.models.imports import (
    AudienceImportForm,
    AudienceImportStarted,
    AudienceImportStatus,
    AudienceListEntries,
    AudienceListEntry,
    AudienceListRename,
    AudienceReplaceForm,
    ImportKeyList,
    NewImportKey,
    NewImportKeyView,
    ProfileImportForm,
    ProfileImportStarted,
    ProfileImportStatus,
)

router = Router()


# -- Localytics Profile Imports ----------------------------------------------------------------
@route(router, "POST", "/v1/imports/profiles/upload", status=202, answer=ProfileImportStarted,
       form=ProfileImportForm, caller=ImportCaller, idempotent=True)
def upload_profiles(caller: ImportCaller, form: ProfileImportForm) -> ProfileImportStarted:
    adapters = wiring.api()
    started = localytics.request_profile_import(
        caller, form, jobs=adapters.jobs, datasets=adapters.datasets, objects=adapters.objects,
        targets=adapters.imports, counters=adapters.quota_counters, limits=adapters.profile_quotas,
        url_ttl_seconds=adapters.url_ttl_seconds)
    logger.info("profile import started", extra={"upload_id": started.activity_id, "key_id": caller.key_id})
    return started


@route(router, "GET", "/v1/imports/profiles/status/{activity_id}", answer=ProfileImportStatus, caller=ImportCaller)
def profile_import_status(caller: ImportCaller, activity_id: str) -> ProfileImportStatus:
    adapters = wiring.api()
    return localytics.profile_import_status(
        caller, activity_id, jobs=adapters.jobs, objects=adapters.objects, counters=adapters.quota_counters,
        limits=adapters.profile_quotas, url_ttl_seconds=adapters.url_ttl_seconds)


# -- Localytics Audience Imports ---------------------------------------------------------------
# "/v1/imports/audiences/list/" as Localytics documents it: the resolver ignores a trailing slash.
@route(router, "POST", "/v1/imports/audiences/list", status=202, answer=AudienceImportStarted,
       form=AudienceImportForm, caller=ImportCaller, idempotent=True)
def create_audience_import(caller: ImportCaller, form: AudienceImportForm) -> AudienceImportStarted:
    adapters = wiring.api()
    started = localytics_audiences.create_audience_import(
        caller, form, jobs=adapters.jobs, datasets=adapters.datasets, objects=adapters.objects,
        store=adapters.audiences, counters=adapters.quota_counters, upload_quota=adapters.audience_uploads_quota,
        url_ttl_seconds=adapters.url_ttl_seconds)
    logger.info("audience import started", extra={"upload_id": started.activity_id, "key_id": caller.key_id,
                                                  "audience_id": started.audience_list_id})
    return started


@route(router, "GET", "/v1/imports/audiences/list/status/{activity_id}", answer=AudienceImportStatus,
       caller=ImportCaller)
def audience_import_status(caller: ImportCaller, activity_id: str) -> AudienceImportStatus:
    adapters = wiring.api()
    return localytics_audiences.audience_import_status(
        caller, activity_id, jobs=adapters.jobs, objects=adapters.objects, counters=adapters.quota_counters,
        status_quota=adapters.audience_status_quota, url_ttl_seconds=adapters.url_ttl_seconds)


@route(router, "PUT", "/v1/imports/audiences/list/{audience_list_id}", status=202, answer=AudienceImportStarted,
       form=AudienceReplaceForm, caller=ImportCaller, idempotent=True)
def replace_audience_import(caller: ImportCaller, audience_list_id: str,
                            form: AudienceReplaceForm) -> AudienceImportStarted:
    adapters = wiring.api()
    started = localytics_audiences.replace_audience_import(
        caller, audience_list_id, form, jobs=adapters.jobs, datasets=adapters.datasets, objects=adapters.objects,
        store=adapters.audiences, counters=adapters.quota_counters, upload_quota=adapters.audience_uploads_quota,
        url_ttl_seconds=adapters.url_ttl_seconds)
    logger.info("audience replace started", extra={"upload_id": started.activity_id, "key_id": caller.key_id,
                                                   "audience_id": started.audience_list_id})
    return started


@route(router, "PUT", "/v1/imports/audiences/list/{audience_list_id}/name", answer=AudienceListEntry,
       query=AudienceListRename, caller=ImportCaller)
def rename_audience_list(caller: ImportCaller, audience_list_id: str, query: AudienceListRename) -> AudienceListEntry:
    return localytics_audiences.rename_audience_list(caller, wiring.api().audiences, audience_list_id, query)


# 200 with the deleted list: the page's one success code for these routes.
@route(router, "DELETE", "/v1/imports/audiences/list/{audience_list_id}", answer=AudienceListEntry,
       caller=ImportCaller)
def delete_audience_list(caller: ImportCaller, audience_list_id: str) -> AudienceListEntry:
    adapters = wiring.api()
    deleted = localytics_audiences.delete_audience_list(caller, adapters.audiences, adapters.records, audience_list_id)
    logger.info("audience list deleted", extra={"audience_id": audience_list_id})
    return deleted


# A bare JSON array, as Localytics answers.
@route(router, "GET", "/v1/imports/audiences/list/app/{app_id}", answer=AudienceListEntries, caller=ImportCaller)
def app_audience_lists(caller: ImportCaller, app_id: str) -> AudienceListEntries:
    return localytics_audiences.app_audience_lists(caller, wiring.api().audiences, app_id)


# -- import keys (Auth-Api-Token) ---------------------------------------------------------------
@route(router, "POST", "/v1/import-keys", status=201, answer=NewImportKeyView, body=NewImportKey, optional_body=True,
       idempotent=True)
def create_import_key(caller: TokenCaller, body: NewImportKey) -> NewImportKeyView:
    adapters = wiring.api()
    # The answer holds the secret: shown in this response only, never logged.
    view = import_keys.create_import_key(adapters.imports, adapters.datasets, caller.account_id, body)
    logger.info("import key created", extra={"key_id": view.key})
    return view


@route(router, "GET", "/v1/import-keys", answer=ImportKeyList)
def list_import_keys(caller: TokenCaller) -> ImportKeyList:
    return import_keys.list_import_keys(wiring.api().imports, caller.account_id)


@route(router, "DELETE", "/v1/import-keys/{key_id}", status=204)
def revoke_import_key(caller: TokenCaller, key_id: str) -> None:
    import_keys.revoke_import_key(wiring.api().imports, caller.account_id, key_id)
    logger.info("import key revoked", extra={"key_id": key_id})


# -- analytics file uploads (Auth-Api-Token) ---------------------------------------------------
@route(router, "POST", "/analytics/files/upload", answer=FileUploadStarted, body=FileUploadRequest, idempotent=True)
def request_file_upload(caller: TokenCaller, body: FileUploadRequest) -> FileUploadStarted:
    adapters = wiring.api()
    started = analytics.request_file_upload(adapters.jobs, adapters.datasets, adapters.objects, adapters.imports,
                                            caller.account_id, body, adapters.url_ttl_seconds)
    logger.info("analytics file upload requested",
                extra={"upload_id": started.id, "dataset_type": started.dataset_type})
    return started


@route(router, "GET", "/analytics/files/{file_id}", answer=FileUploadView)
def get_file_upload(caller: TokenCaller, file_id: str) -> FileUploadView:
    adapters = wiring.api()
    return analytics.get_file_upload(adapters.jobs, adapters.objects, caller.account_id, file_id,
                                     adapters.url_ttl_seconds)
