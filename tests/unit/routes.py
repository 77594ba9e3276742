"""The routes' path through logic, for unit tests that speak in raw requests and JSON answers.

Each helper does what its route does (handlers/http.py route): reads the raw body, query or form
into the route's request model (the edge, where a bad field is a BadRequestError naming it), makes
the route's one logic call, and returns the view as the JSON the route answers. The tests written
before the models existed keep their requests and assertions this way.
"""

from __future__ import annotations

from typing import Any

from ingest.logic import (
    analytics,
    audiences,
    clear,
    datasets,
    import_keys,
    localytics,
    localytics_audiences,
    tokens,
    uploads,
)
from ingest.logic import jobs as job_listing
from ingest.logic.multipart_uploads import DEFAULT_MAX_UPLOAD_BYTES
from ingest.models.accounts import NewToken
from ingest.models.analytics import FileUploadRequest
from ingest.models.audiences import AudienceRename, AudiencesQuery, MemberAddress
from ingest.models.base import parse
from ingest.models.callers import ImportCaller
from ingest.models.datasets import RecordAddress
from ingest.models.imports import (
    AudienceImportForm,
    AudienceListRename,
    AudienceReplaceForm,
    ImportTarget,
    NewImportKey,
    ProfileImportForm,
)
from ingest.models.uploads import UploadRequest, UploadsQuery, UploadView


def Caller(account_id: str, key_id: str, org_id: str, app_ids: tuple[str, ...] = ()) -> ImportCaller:
    return ImportCaller(account_id=account_id, key_id=key_id, org_id=org_id, app_ids=app_ids)


# -- uploads and jobs
def request_upload(jobs, datasets, objects, account_id: str, body: Any, url_ttl_seconds: int,
                   audience_store=None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> dict[str, Any]:
    return uploads.request_upload(jobs, datasets, objects, audience_store, account_id, parse(UploadRequest, body),
                                  url_ttl_seconds, max_upload_bytes).body()


def get_upload(jobs, objects, account_id: str, upload_id: str, url_ttl_seconds: int) -> dict[str, Any]:
    return uploads.get_upload(jobs, objects, account_id, upload_id, url_ttl_seconds).body()


def upload_view(job: dict[str, Any], objects, url_ttl_seconds: int) -> dict[str, Any]:
    return uploads.upload_view(job, objects, url_ttl_seconds).body()


def list_uploads(jobs, objects, account_id: str, query: dict[str, str], url_ttl_seconds: int) -> dict[str, Any]:
    return job_listing.list_uploads(jobs, objects, account_id, parse(UploadsQuery, query, "query"),
                                    url_ttl_seconds).body()


def request_clear(jobs, datasets, starter, account_id: str, dataset_id: str) -> dict[str, Any]:
    return clear.request_clear(jobs, datasets, starter, account_id, dataset_id).body()


def get_record(datasets_table, records, account_id: str, dataset_id: str, record_type: str, key: str) -> str:
    address = RecordAddress(dataset_id=dataset_id, record_type=record_type, key=key)
    return datasets.get_record(datasets_table, records, account_id, address).json_text


# -- tokens
def create_token(tokens_table, usage_plan, account_id: str, label: Any = "") -> dict[str, Any]:
    return tokens.create_token(tokens_table, usage_plan, account_id, label).body()


# -- audiences
def get_audience(store, account_id: str, audience_id: str) -> dict[str, Any]:
    return audiences.get_audience(store, account_id, audience_id).body()


def list_audiences(store, account_id: str, app_id: str | None = None) -> dict[str, Any]:
    return audiences.list_audiences(store, account_id, parse(AudiencesQuery, {"app_id": app_id}, "query")).body()


def rename_audience(store, account_id: str, audience_id: str, body: Any) -> dict[str, Any]:
    return audiences.rename_audience(store, account_id, audience_id, parse(AudienceRename, body)).body()


def membership(store, members, account_id: str, audience_id: str, customer_id: str) -> dict[str, Any]:
    address = MemberAddress(audience_id=audience_id, customer_id=customer_id)
    return audiences.membership(store, members, account_id, address).body()


# -- import keys and the Localytics routes
def create_import_key(keys, datasets, account_id: str, app_ids: Any = None, label: Any = "",
                      org_id: Any = None) -> dict[str, Any]:
    return import_keys.mint_import_key(keys, datasets, account_id, app_ids, label, org_id).body()


def create_import_key_from_request(keys, datasets, account_id: str, body: Any) -> dict[str, Any]:
    return import_keys.create_import_key(keys, datasets, account_id, parse(NewImportKey, body)).body()


def list_import_keys(keys, account_id: str) -> dict[str, Any]:
    return import_keys.list_import_keys(keys, account_id).body()


def request_profile_import(caller: ImportCaller, form, **adapters: Any) -> dict[str, Any]:
    return localytics.request_profile_import(caller, ProfileImportForm.of(form), **adapters).body()


def profile_import_status(caller: ImportCaller, activity_id: str, **adapters: Any) -> dict[str, Any]:
    return localytics.profile_import_status(caller, activity_id, **adapters).body()


def _upload(view: dict[str, Any]) -> UploadView:
    """A view from the fields a test gives; the others (which these views do not show) take plain values."""
    plain = {"filename": "f.ndjson", "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
             "destination": {"destination_type": "dataset_load", "dataset_id": "d", "record_type": "customer_record"},
             "execution_arn": None, "options": {"dry_run": False, "max_rejected_percent": 100},
             "stats": {"total": 0, "loaded": 0, "rejected": 0}}
    if "destination_type" not in view.get("destination", {"destination_type": None}):  # an audience's, by its id
        view = {**view, "destination": {"destination_type": "audience_list", "record_type": "audience_member",
                                         "audience_name": "a", **view["destination"]}}
    return UploadView.model_validate({**plain, **view})


def profile_status_view(upload: dict[str, Any], target: dict[str, str]) -> dict[str, Any]:
    return localytics.status_view(_upload(upload), ImportTarget.model_validate(target)).body()


def create_audience_import(caller: ImportCaller, form, **adapters: Any) -> dict[str, Any]:
    return localytics_audiences.create_audience_import(caller, AudienceImportForm.of(form), **adapters).body()


def replace_audience_import(caller: ImportCaller, audience_list_id: str, form, **adapters: Any) -> dict[str, Any]:
    return localytics_audiences.replace_audience_import(caller, audience_list_id, AudienceReplaceForm.of(form),
                                                        **adapters).body()


def audience_import_status(caller: ImportCaller, activity_id: str, **adapters: Any) -> dict[str, Any]:
    return localytics_audiences.audience_import_status(caller, activity_id, **adapters).body()


def audience_status_view(upload: dict[str, Any], app_id: str) -> dict[str, Any]:
    return localytics_audiences.status_view(_upload(upload), app_id).body()


def rename_audience_list(caller: ImportCaller, store, audience_list_id: str, name: str | None) -> dict[str, Any]:
    query = parse(AudienceListRename, {} if name is None else {"name": name}, "query")
    return localytics_audiences.rename_audience_list(caller, store, audience_list_id, query).body()


def delete_audience_list(caller: ImportCaller, store, records, audience_list_id: str) -> dict[str, Any]:
    return localytics_audiences.delete_audience_list(caller, store, records, audience_list_id).body()


def app_audience_lists(caller: ImportCaller, store, app_id: str) -> list[dict[str, Any]]:
    return localytics_audiences.app_audience_lists(caller, store, app_id).body()


# -- analytics file uploads
def request_file_upload(jobs, datasets, objects, targets, account_id: str, body: Any,
                        url_ttl_seconds: int) -> dict[str, Any]:
    return analytics.request_file_upload(jobs, datasets, objects, targets, account_id,
                                         parse(FileUploadRequest, body), url_ttl_seconds).body()


def get_file_upload(jobs, objects, account_id: str, file_id: str, url_ttl_seconds: int) -> dict[str, Any]:
    return analytics.get_file_upload(jobs, objects, account_id, file_id, url_ttl_seconds).body()


def file_view(upload: dict[str, Any], analytics_file: dict[str, str]) -> dict[str, Any]:
    return analytics.file_view(_upload(upload), analytics_file).body()


def create_token_from_request(tokens_table, usage_plan, account_id: str, body: Any) -> dict[str, Any]:
    return tokens.create_token_from_request(tokens_table, usage_plan, account_id, parse(NewToken, body)).body()


def list_tokens(tokens_table, account_id: str) -> dict[str, Any]:
    return tokens.list_tokens(tokens_table, account_id).body()
