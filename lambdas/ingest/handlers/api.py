"""API Gateway entry point for every /v1 route: typed input, one logic call, a view as the answer.

Each route's contract (what it reads, what it answers) is declared with `route` (handlers/http.py);
its adapters come from the composition root (handlers/wiring.py); domain errors become statuses in
http.py's one table.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from ingest import clock
from ingest.errors import IngestError
from ingest.handlers import compat_api, idempotency, wiring
from ingest.handlers.http import error_response, route
from ingest.handlers.observability import logger, metrics, traced
from ingest.logic import (
    accounts,
    audiences,
    clear,
    datasets,
    jobs,
    multipart_uploads,
    retries,
    revert,
    tokens,
    uploads,
    webhooks,
)
from ingest.models.accounts import AccountView, IpAllowlist, NewToken, NewTokenView, TokenList
from ingest.models.audiences import (
    AudienceList,
    AudienceRename,
    AudiencesQuery,
    AudienceView,
    MemberAddress,
    Membership,
)
from ingest.models.callers import TokenCaller
from ingest.models.datasets import (
    DatasetChanges,
    DatasetPage,
    DatasetView,
    NewDataset,
    PageQuery,
    RecordAddress,
    RecordTypeList,
    StoredRecord,
)
from ingest.models.uploads import (
    ClearJobView,
    CompleteRequest,
    JobPage,
    JobsQuery,
    NewUploadView,
    PartNumbers,
    PartUrls,
    RetryRequest,
    RetryView,
    RevertJobView,
    StoredParts,
    UploadPage,
    UploadRequest,
    UploadsQuery,
    UploadView,
)
from ingest.models.webhooks import DeliveryList, NewWebhook, NewWebhookView, WebhookList

app = APIGatewayRestResolver()
# The compatible APIs (Localytics Profile and Audience Imports, analytics file uploads, import keys).
app.include_router(compat_api.router)


@app.exception_handler(IngestError)
def _domain_error(error: IngestError) -> Response:
    return error_response(error)


def _routable(event: dict) -> dict:
    """Route on API Gateway's resource template, not the raw path.

    API Gateway has already matched the route and decoded each path parameter; a record key can
    hold characters (quotes, braces, '/') that the resolver's path patterns cannot match, so the
    path handed to the resolver carries each parameter percent-encoded and routes read the
    decoded values from pathParameters (handlers/http.py route does).
    """
    resource, parameters = event.get("resource"), event.get("pathParameters") or {}
    if not resource or not parameters:
        return event
    path = re.sub(r"\{([^}+]+)\}", lambda m: quote(parameters.get(m.group(1), ""), safe=""), resource)
    return {**event, "path": path}


# -- datasets and records ------------------------------------------------------------------------
@route(app, "POST", "/v1/datasets", status=201, answer=DatasetView, body=NewDataset, idempotent=True)
def create_dataset(caller: TokenCaller, body: NewDataset) -> DatasetView:
    return datasets.create_dataset(wiring.api().datasets, caller.account_id, body)


@route(app, "GET", "/v1/datasets", answer=DatasetPage, query=PageQuery)
def list_datasets(caller: TokenCaller, query: PageQuery) -> DatasetPage:
    return datasets.list_datasets(wiring.api().datasets, caller.account_id, query)


@route(app, "GET", "/v1/datasets/{dataset_id}", answer=DatasetView)
def get_dataset(caller: TokenCaller, dataset_id: str) -> DatasetView:
    return datasets.show_dataset(wiring.api().datasets, caller.account_id, dataset_id)


@route(app, "PATCH", "/v1/datasets/{dataset_id}", answer=DatasetView, body=DatasetChanges)
def update_dataset(caller: TokenCaller, dataset_id: str, body: DatasetChanges) -> DatasetView:
    return datasets.update_dataset(wiring.api().datasets, caller.account_id, dataset_id, body)


@route(app, "POST", "/v1/datasets/{dataset_id}/clear", status=202, answer=ClearJobView, idempotent=True)
def clear_dataset(caller: TokenCaller, dataset_id: str) -> ClearJobView:
    adapters = wiring.api()
    view = clear.request_clear(adapters.jobs, adapters.datasets, adapters.clear_starter, caller.account_id, dataset_id)
    logger.info("clear requested", extra={"job_id": view.id, "dataset_id": dataset_id})
    return view


@route(app, "GET", "/v1/datasets/{dataset_id}/records/{record_type}/{key}", answer=StoredRecord, address=RecordAddress)
def get_record(caller: TokenCaller, address: RecordAddress) -> StoredRecord:
    adapters = wiring.api()
    return datasets.get_record(adapters.datasets, adapters.records, caller.account_id, address)


@route(app, "GET", "/v1/record-types", answer=RecordTypeList)
def list_record_types() -> RecordTypeList:
    return datasets.record_type_catalogue()


# -- jobs and uploads ----------------------------------------------------------------------------
@route(app, "GET", "/v1/jobs", answer=JobPage, query=JobsQuery)
def list_jobs(caller: TokenCaller, query: JobsQuery) -> JobPage:
    adapters = wiring.api()
    return jobs.list_jobs(adapters.jobs, adapters.objects, caller.account_id, query, adapters.url_ttl_seconds)


@route(app, "GET", "/v1/jobs/{job_id}", answer=(UploadView, ClearJobView, RevertJobView))
def get_job(caller: TokenCaller, job_id: str) -> UploadView | ClearJobView | RevertJobView:
    adapters = wiring.api()
    return jobs.get_job(adapters.jobs, adapters.objects, caller.account_id, job_id, adapters.url_ttl_seconds)


# 201, as Lexer's File Upload API: its own client (examples/file_upload_api/upload.py) fails on anything else.
@route(app, "POST", "/v1/uploads", status=201, answer=NewUploadView, body=UploadRequest, idempotent=True)
def request_upload(caller: TokenCaller, body: UploadRequest) -> NewUploadView:
    adapters = wiring.api()
    view = uploads.request_upload(adapters.jobs, adapters.datasets, adapters.objects, adapters.audiences,
                                  caller.account_id, body, adapters.url_ttl_seconds, adapters.max_upload_bytes)
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=1)
    logger.info("upload requested", extra={"upload_id": view.id, "record_type": view.destination.record_type})
    return view


@route(app, "GET", "/v1/uploads", answer=UploadPage, query=UploadsQuery)
def list_uploads(caller: TokenCaller, query: UploadsQuery) -> UploadPage:
    adapters = wiring.api()
    return jobs.list_uploads(adapters.jobs, adapters.objects, caller.account_id, query, adapters.url_ttl_seconds)


@route(app, "GET", "/v1/uploads/{upload_id}", answer=UploadView)
def get_upload(caller: TokenCaller, upload_id: str) -> UploadView:
    adapters = wiring.api()
    return uploads.get_upload(adapters.jobs, adapters.objects, caller.account_id, upload_id, adapters.url_ttl_seconds)


# 201: a child upload is created either way; rows=unprocessed has no URL (the service loads the rows itself),
# nor has a multipart retry (its parts are signed as for POST /v1/uploads with "multipart": true).
@route(app, "POST", "/v1/uploads/{upload_id}/retry", status=201, answer=RetryView, body=RetryRequest,
       optional_body=True, idempotent=True)
def retry_upload(caller: TokenCaller, upload_id: str, body: RetryRequest) -> RetryView:
    adapters = wiring.api()
    view = retries.retry_upload(adapters.jobs, adapters.datasets, adapters.objects, caller.account_id, upload_id,
                                body, adapters.url_ttl_seconds, adapters.max_upload_bytes)
    logger.info("retry requested", extra={"upload_id": view.id, "parent_id": upload_id, "rows": body.rows,
                                          "multipart": body.multipart})
    return view


@route(app, "POST", "/v1/uploads/{upload_id}/revert", status=202, answer=RevertJobView, idempotent=True)
def revert_upload(caller: TokenCaller, upload_id: str) -> RevertJobView:
    adapters = wiring.api()
    view = revert.request_revert(adapters.jobs, adapters.revert_starter, caller.account_id, upload_id, clock.now())
    logger.info("revert requested", extra={"job_id": view.id, "upload_id": upload_id})
    return view


# -- multipart uploads (logic/multipart_uploads.py) ------------------------------------------------
@route(app, "POST", "/v1/uploads/{upload_id}/parts", answer=PartUrls, body=PartNumbers, idempotent=True)
def sign_parts(caller: TokenCaller, upload_id: str, body: PartNumbers) -> PartUrls:
    adapters = wiring.api()
    return multipart_uploads.sign_parts(adapters.jobs, adapters.objects, caller.account_id, upload_id, body,
                                        adapters.url_ttl_seconds)


@route(app, "GET", "/v1/uploads/{upload_id}/parts", answer=StoredParts)
def list_parts(caller: TokenCaller, upload_id: str) -> StoredParts:
    adapters = wiring.api()
    return multipart_uploads.stored_parts(adapters.jobs, adapters.objects, caller.account_id, upload_id)


@route(app, "POST", "/v1/uploads/{upload_id}/complete", answer=UploadView, body=CompleteRequest, idempotent=True)
def complete_upload(caller: TokenCaller, upload_id: str, body: CompleteRequest) -> UploadView:
    adapters = wiring.api()
    multipart_uploads.complete(adapters.jobs, adapters.objects, caller.account_id, upload_id, body)
    logger.info("multipart upload completed", extra={"upload_id": upload_id, "parts": len(body.parts)})
    return uploads.get_upload(adapters.jobs, adapters.objects, caller.account_id, upload_id, adapters.url_ttl_seconds)


@route(app, "DELETE", "/v1/uploads/{upload_id}", status=204)
def abort_upload(caller: TokenCaller, upload_id: str) -> None:
    adapters = wiring.api()
    multipart_uploads.abort(adapters.jobs, adapters.objects, caller.account_id, upload_id)
    logger.info("multipart upload aborted", extra={"upload_id": upload_id})


# -- tokens and the account ----------------------------------------------------------------------
@route(app, "GET", "/v1/tokens", answer=TokenList)
def list_tokens(caller: TokenCaller) -> TokenList:
    return tokens.list_tokens(wiring.api().tokens, caller.account_id)


@route(app, "POST", "/v1/tokens", status=201, answer=NewTokenView, body=NewToken, optional_body=True,
       idempotent=True)
def create_token(caller: TokenCaller, body: NewToken) -> NewTokenView:
    adapters = wiring.api()
    # The view holds the new token itself: shown in this response only, never logged.
    view = tokens.create_token_from_request(adapters.tokens, adapters.token_keys, caller.account_id, body)
    logger.info("token created", extra={"token_id": view.id})
    return view


@route(app, "DELETE", "/v1/tokens/{token_id}", status=204)
def revoke_token(caller: TokenCaller, token_id: str) -> None:
    adapters = wiring.api()
    tokens.revoke_token(adapters.tokens, adapters.token_keys, caller.account_id, token_id)
    logger.info("token revoked", extra={"token_id": token_id})


@route(app, "GET", "/v1/account", answer=AccountView)
def get_account(caller: TokenCaller) -> AccountView:
    adapters = wiring.api()
    return accounts.account_view(adapters.accounts, caller.account_id, adapters.rate_limit)


@route(app, "PUT", "/v1/account/ip-allowlist", answer=AccountView, body=IpAllowlist)
def set_ip_allowlist(caller: TokenCaller, body: IpAllowlist) -> AccountView:
    adapters = wiring.api()
    view = accounts.replace_ip_allowlist(adapters.accounts, caller.account_id, body, adapters.rate_limit)
    logger.info("ip allow-list set", extra={"entries": len(view.ip_allowlist)})
    return view


# -- audience lists ------------------------------------------------------------------------------
@route(app, "GET", "/v1/audiences", answer=AudienceList, query=AudiencesQuery)
def list_audiences(caller: TokenCaller, query: AudiencesQuery) -> AudienceList:
    return audiences.list_audiences(wiring.api().audiences, caller.account_id, query)


@route(app, "GET", "/v1/audiences/{audience_id}", answer=AudienceView)
def get_audience(caller: TokenCaller, audience_id: str) -> AudienceView:
    return audiences.get_audience(wiring.api().audiences, caller.account_id, audience_id)


@route(app, "PATCH", "/v1/audiences/{audience_id}", answer=AudienceView, body=AudienceRename)
def rename_audience(caller: TokenCaller, audience_id: str, body: AudienceRename) -> AudienceView:
    return audiences.rename_audience(wiring.api().audiences, caller.account_id, audience_id, body)


@route(app, "DELETE", "/v1/audiences/{audience_id}", status=204)
def delete_audience(caller: TokenCaller, audience_id: str) -> None:
    adapters = wiring.api()
    audiences.delete_audience(adapters.audiences, adapters.records, caller.account_id, audience_id)
    logger.info("audience deleted", extra={"audience_id": audience_id})


@route(app, "GET", "/v1/audiences/{audience_id}/members/{customer_id}", answer=Membership, address=MemberAddress)
def audience_membership(caller: TokenCaller, address: MemberAddress) -> Membership:
    # The customer id is record content: it goes into the answer, never into a log line.
    adapters = wiring.api()
    return audiences.membership(adapters.audiences, adapters.audience_members, caller.account_id, address)


# -- webhooks ------------------------------------------------------------------------------------
@route(app, "POST", "/v1/webhooks", status=201, answer=NewWebhookView, body=NewWebhook, idempotent=True)
def create_webhook(caller: TokenCaller, body: NewWebhook) -> NewWebhookView:
    adapters = wiring.api()
    # The view holds the signing secret: shown in this response only, never logged.
    view = webhooks.create_webhook(adapters.webhooks, adapters.webhook_secrets, caller.account_id, body)
    logger.info("webhook created", extra={"webhook_id": view.id, "event_types": view.event_types})
    return view


@route(app, "GET", "/v1/webhooks", answer=WebhookList)
def list_webhooks(caller: TokenCaller) -> WebhookList:
    return webhooks.list_webhooks(wiring.api().webhooks, caller.account_id)


@route(app, "DELETE", "/v1/webhooks/{webhook_id}", status=204)
def delete_webhook(caller: TokenCaller, webhook_id: str) -> None:
    webhooks.delete_webhook(wiring.api().webhooks, caller.account_id, webhook_id)
    logger.info("webhook deleted", extra={"webhook_id": webhook_id})


@route(app, "GET", "/v1/webhooks/{webhook_id}/deliveries", answer=DeliveryList)
def list_webhook_deliveries(caller: TokenCaller, webhook_id: str) -> DeliveryList:
    return webhooks.list_deliveries(wiring.api().webhooks, caller.account_id, webhook_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@traced
@metrics.log_metrics
def handler(event: dict, context: Any) -> dict:
    # An Idempotency-Key's in-progress mark lapses when this invocation would time out, not after 24 h.
    idempotency.CONFIG.register_lambda_context(context)
    return app.resolve(_routable(event), context)
