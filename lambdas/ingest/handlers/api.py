"""API Gateway entry point for every /v1 route: parse, call one logic function, shape the response."""

from __future__ import annotations

import json
import re
from urllib.parse import quote
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from ingest import record_types
from ingest.adapters import aws
from ingest.adapters.control_tables import DatasetsTable, JobsTable, TokensTable
from ingest.adapters.object_store import ObjectStore
from ingest.adapters.record_store import RecordStore
from ingest.config import ApiSettings
from ingest.errors import BadRequestError, ConflictError, IngestError, NotFoundError, UnauthorizedError
from ingest.handlers.observability import logger, metrics, tracer
from ingest.adapters.workflow import WorkflowStarter
from ingest.logic import clear, datasets, jobs as job_listing, tokens, uploads

settings = ApiSettings.from_env()
jobs = JobsTable(aws.table(settings.jobs_table))
dataset_table = DatasetsTable(aws.table(settings.datasets_table))
objects = ObjectStore(aws.client("s3"), settings.uploads_bucket)
records = RecordStore(aws.client("dynamodb"), settings.records_table)
clear_starter = WorkflowStarter(aws.client("stepfunctions"), settings.clear_state_machine_arn)
token_table = TokensTable(aws.table(settings.tokens_table))

app = APIGatewayRestResolver()

# Domain errors -> HTTP statuses, in one place.
STATUS_FOR_ERROR: dict[type[IngestError], int] = {
    BadRequestError: 400,
    UnauthorizedError: 401,
    NotFoundError: 404,
    ConflictError: 409,
}


def _json(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.exception_handler(IngestError)
def _domain_error(error: IngestError) -> Response:
    return _json(STATUS_FOR_ERROR.get(type(error), 400), {"message": str(error)})


def _account() -> str:
    # Set by our Lambda authorizer; API Gateway never forwards a caller-supplied value here.
    return app.current_event.raw_event["requestContext"]["authorizer"]["account_id"]


def _body() -> Any:
    raw = app.current_event.body
    if raw is None or not raw.strip():
        raise BadRequestError("request body is required: send a JSON object")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from exc


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
    view = uploads.request_upload(jobs, dataset_table, objects, _account(), _body(), settings.upload_url_ttl_seconds)
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=1)
    logger.info("upload requested", extra={"upload_id": view["id"], "record_type": view["destination"]["record_type"]})
    return _json(200, view)


@app.get("/v1/uploads")
def list_uploads() -> Response:
    return _json(200, job_listing.list_uploads(jobs, objects, _account(), _query(), settings.upload_url_ttl_seconds))


@app.get("/v1/uploads/<upload_id>")
def get_upload(upload_id: str) -> Response:
    return _json(200, uploads.get_upload(jobs, objects, _account(), upload_id, settings.upload_url_ttl_seconds))


def _optional_body() -> Any:
    raw = app.current_event.body
    return {} if raw is None or not raw.strip() else _body()


@app.get("/v1/tokens")
def list_tokens() -> Response:
    return _json(200, tokens.list_tokens(token_table, _account()))


@app.post("/v1/tokens")
def create_token() -> Response:
    # The view holds the new token itself: shown in this response only, never logged.
    view = tokens.create_token_from_request(token_table, _account(), _optional_body())
    logger.info("token created", extra={"token_id": view["id"]})
    return _json(201, view)


@app.delete("/v1/tokens/<token_id>")
def revoke_token(token_id: str) -> Response:
    tokens.revoke_token(token_table, _account(), _param("token_id"))
    logger.info("token revoked", extra={"token_id": _param("token_id")})
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: Any) -> dict:
    return app.resolve(_routable(event), context)
