"""API Gateway entry point for every /v1 route: parse, call one logic function, shape the response."""

from __future__ import annotations

import re
from urllib.parse import quote
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from ingest import record_types
from ingest.adapters import aws
from ingest.adapters.audience_store import AudienceMembers, AudienceStore
from ingest.adapters.control_tables import AccountsTable, DatasetsTable, JobsTable, TokensTable
from ingest.adapters.object_store import ObjectStore
from ingest.adapters.record_store import RecordStore
from ingest.adapters.usage_plans import UsagePlanKeys
from ingest.config import ApiSettings
from ingest.errors import BadRequestError, ConflictError, IngestError, NotFoundError, UnauthorizedError
from ingest.errors import ForbiddenError, QuotaExceededError
from ingest.handlers import compat_api
from ingest.handlers.http import json_body, json_response
from ingest.handlers.observability import logger, metrics, traced
from ingest.adapters.workflow import WorkflowStarter
from ingest.logic import accounts, audiences, clear, datasets, jobs as job_listing, tokens, uploads

settings = ApiSettings.from_env()
jobs = JobsTable(aws.table(settings.jobs_table))
dataset_table = DatasetsTable(aws.table(settings.datasets_table))
objects = ObjectStore(aws.client("s3"), settings.uploads_bucket)
records = RecordStore(aws.client("dynamodb"), settings.records_table)
clear_starter = WorkflowStarter(aws.client("stepfunctions"), settings.clear_state_machine_arn)
token_table = TokensTable(aws.table(settings.tokens_table))
token_keys = UsagePlanKeys(aws.client("apigateway"), settings.usage_plan_name)
account_table = AccountsTable(aws.table(settings.accounts_table))
rate_limit = accounts.RateLimit(settings.rate_limit_per_second, settings.rate_limit_burst)
audience_store = AudienceStore(aws.table(settings.audiences_table))
audience_members = AudienceMembers(aws.client("dynamodb"), settings.records_table)

app = APIGatewayRestResolver()
# The compatible APIs (Localytics Profile Imports, analytics file uploads, import keys): handlers/compat_api.py.
app.include_router(compat_api.router)

# Domain errors -> HTTP statuses, in one place.
STATUS_FOR_ERROR: dict[type[IngestError], int] = {
    BadRequestError: 400,
    UnauthorizedError: 401,
    NotFoundError: 404,
    ConflictError: 409,
    ForbiddenError: 403,
    QuotaExceededError: 429,
}


def _json(status: int, body: Any) -> Response:
    return json_response(status, body)


@app.exception_handler(IngestError)
def _domain_error(error: IngestError) -> Response:
    return _json(STATUS_FOR_ERROR.get(type(error), 400), {"message": str(error)})


@app.exception_handler(QuotaExceededError)
def _quota_exceeded(error: QuotaExceededError) -> Response:
    # As _domain_error, plus when the quota's window ends.
    return json_response(STATUS_FOR_ERROR[QuotaExceededError], {"message": str(error)},
                         headers={"Retry-After": str(error.retry_after_seconds)})


def _account() -> str:
    # Set by our Lambda authorizer; API Gateway never forwards a caller-supplied value here.
    return app.current_event.raw_event["requestContext"]["authorizer"]["account_id"]


def _body() -> Any:
    return json_body(app.current_event.body)


def _routable(event: dict) -> dict:
    """Route on API Gateway's resource template, not the raw path.

    API Gateway has already matched the route and decoded each path parameter; a record key can
    hold characters (quotes, braces, '/') that the resolver's path patterns cannot match, so the
    path handed to the resolver carries each parameter percent-encoded and routes read the
    decoded values from pathParameters.
    """
    resource, parameters = event.get("resource"), event.get("pathParameters") or {}
    if not resource or not parameters:
        return event
    path = re.sub(r"\{([^}+]+)\}", lambda m: quote(parameters.get(m.group(1), ""), safe=""), resource)
    return {**event, "path": path}


def _param(name: str) -> str:
    return app.current_event.path_parameters[name]


def _query() -> dict[str, str]:
    return dict(app.current_event.query_string_parameters or {})


@app.post("/v1/datasets")
def create_dataset() -> Response:
    return _json(201, datasets.create_dataset(dataset_table, _account(), _body()))


@app.get("/v1/datasets")
def list_datasets() -> Response:
    query = _query()
    return _json(200, datasets.list_datasets(dataset_table, _account(), query.get("limit"), query.get("next_token")))


@app.get("/v1/datasets/<dataset_id>")
def get_dataset(dataset_id: str) -> Response:
    return _json(200, datasets.dataset_view(datasets.get_dataset(dataset_table, _account(), dataset_id)))


@app.patch("/v1/datasets/<dataset_id>")
def update_dataset(dataset_id: str) -> Response:
    return _json(200, datasets.update_dataset(dataset_table, _account(), dataset_id, _body()))


@app.post("/v1/datasets/<dataset_id>/clear")
def clear_dataset(dataset_id: str) -> Response:
    view = clear.request_clear(jobs, dataset_table, clear_starter, _account(), dataset_id)
    logger.info("clear requested", extra={"job_id": view["id"], "dataset_id": dataset_id})
    return _json(202, view)


@app.get("/v1/jobs")
def list_jobs() -> Response:
    return _json(200, job_listing.list_jobs(jobs, objects, _account(), _query(), settings.upload_url_ttl_seconds))


@app.get("/v1/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    return _json(200, job_listing.get_job(jobs, objects, _account(), job_id, settings.upload_url_ttl_seconds))


@app.get("/v1/datasets/<dataset_id>/records/<record_type>/<key>")
def get_record(dataset_id: str, record_type: str, key: str) -> Response:
    stored = datasets.get_record(dataset_table, records, _account(), _param("dataset_id"), _param("record_type"),
                                 _param("key"))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=stored)


@app.get("/v1/record-types")
def list_record_types() -> Response:
    return _json(200, {"record_types": [rt.describe() for rt in record_types.catalogue().values()]})


@app.post("/v1/uploads")
def request_upload() -> Response:
    view = uploads.request_upload(jobs, dataset_table, objects, _account(), _body(), settings.upload_url_ttl_seconds,
                                  audience_store=audience_store)
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=1)
    logger.info("upload requested", extra={"upload_id": view["id"], "record_type": view["destination"]["record_type"]})
    # 201, as Lexer's File Upload API: its own client (examples/file_upload_api/upload.py) fails on anything else.
    return _json(201, view)


@app.get("/v1/uploads")
def list_uploads() -> Response:
    return _json(200, job_listing.list_uploads(jobs, objects, _account(), _query(), settings.upload_url_ttl_seconds))


@app.get("/v1/uploads/<upload_id>")
def get_upload(upload_id: str) -> Response:
    return _json(200, uploads.get_upload(jobs, objects, _account(), upload_id, settings.upload_url_ttl_seconds))


def _optional_body() -> Any:
    return json_body(app.current_event.body, optional=True)


@app.get("/v1/tokens")
def list_tokens() -> Response:
    return _json(200, tokens.list_tokens(token_table, _account()))


@app.post("/v1/tokens")
def create_token() -> Response:
    # The view holds the new token itself: shown in this response only, never logged.
    view = tokens.create_token_from_request(token_table, token_keys, _account(), _optional_body())
    logger.info("token created", extra={"token_id": view["id"]})
    return _json(201, view)


@app.delete("/v1/tokens/<token_id>")
def revoke_token(token_id: str) -> Response:
    tokens.revoke_token(token_table, token_keys, _account(), _param("token_id"))
    logger.info("token revoked", extra={"token_id": _param("token_id")})
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


@app.get("/v1/account")
def get_account() -> Response:
    return _json(200, accounts.account_view(account_table, _account(), rate_limit))


@app.put("/v1/account/ip-allowlist")
def set_ip_allowlist() -> Response:
    view = accounts.set_ip_allowlist_from_request(account_table, _account(), _body(), rate_limit)
    logger.info("ip allow-list set", extra={"entries": len(view["ip_allowlist"])})
    return _json(200, view)


@app.get("/v1/audiences")
def list_audiences() -> Response:
    return _json(200, audiences.list_audiences(audience_store, _account(), _query().get("app_id")))


@app.get("/v1/audiences/<audience_id>")
def get_audience(audience_id: str) -> Response:
    return _json(200, audiences.get_audience(audience_store, _account(), _param("audience_id")))


@app.patch("/v1/audiences/<audience_id>")
def rename_audience(audience_id: str) -> Response:
    return _json(200, audiences.rename_audience(audience_store, _account(), _param("audience_id"), _body()))


@app.delete("/v1/audiences/<audience_id>")
def delete_audience(audience_id: str) -> Response:
    audiences.delete_audience(audience_store, records, _account(), _param("audience_id"))
    logger.info("audience deleted", extra={"audience_id": _param("audience_id")})
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


@app.get("/v1/audiences/<audience_id>/members/<customer_id>")
def audience_membership(audience_id: str, customer_id: str) -> Response:
    # The customer id is record content: it goes into the answer, never into a log line.
    return _json(200, audiences.membership(audience_store, audience_members, _account(), _param("audience_id"),
                                           _param("customer_id")))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@traced
@metrics.log_metrics
def handler(event: dict, context: Any) -> dict:
    return app.resolve(_routable(event), context)
