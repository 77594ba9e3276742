"""The API function's edges, shared by its route modules (api.py, compat_api.py):

- `route`: declares a route's contract (method, path, status, request models, answer) and reads the
  request into those models before the route function runs, so a route function takes typed input,
  makes one logic call and returns a view; `ROUTES` lists every contract (tests/infra/test_openapi.py
  and test_openapi_models.py hold docs/openapi.yaml to their statuses and their models' schemas);
- `idempotent=True` on a route that creates something: it honours an Idempotency-Key header
  (handlers/idempotency.py);
- STATUS_FOR_ERROR: the one table of domain errors -> HTTP statuses (a test walks ingest.errors'
  hierarchy so no error is left without one), and `error_response`, the answer for each.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import Response, content_types
from pydantic import BaseModel

from ingest.adapters.record_store import StoreReadError, StoreWriteError
from ingest.clock import iso_now
from ingest.errors import (
    AccessDeniedError,
    BadRequestError,
    ConflictError,
    DatasetBusyError,
    FileRejectedError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    IngestError,
    InternalError,
    NotFoundError,
    QuotaExceededError,
    ServiceBusyError,
    StepFailedError,
    UnauthorizedError,
)
from ingest.handlers import idempotency, wiring
from ingest.handlers.observability import logger
from ingest.logic import multipart, uploads
from ingest.models.base import RequestModel, View, parse
from ingest.models.callers import TokenCaller
from ingest.models.datasets import StoredRecord

# Domain errors -> HTTP statuses, in one place. Every IngestError subclass has its own entry
# (tests/unit/test_error_table.py), so none reaches a caller by accident of inheritance.
STATUS_FOR_ERROR: dict[type[IngestError], int] = {
    IngestError: 500,  # only ever raised through a subclass
    BadRequestError: 400,
    FileRejectedError: 400,  # the workflow's; a file refused is the caller's input
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    IdempotencyKeyReusedError: 422,
    DatasetBusyError: 409,  # the workflow's: another load holds the dataset
    QuotaExceededError: 429,  # with Retry-After: the quota's window end
    ServiceBusyError: 503,  # AWS throttled us (adapters/aws_errors.py); with Retry-After
    StoreWriteError: 503,
    StoreReadError: 503,
    InternalError: 500,  # the body is a correlation id only; the details go to the log
    AccessDeniedError: 500,
    StepFailedError: 500,  # the workflow's: a step failed for a reason other than the file
}


def status_for(error: IngestError) -> int:
    return next(STATUS_FOR_ERROR[kind] for kind in type(error).__mro__ if kind in STATUS_FOR_ERROR)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body),
                    headers=headers)


def error_response(error: IngestError) -> Response:
    status = status_for(error)
    if isinstance(error, InternalError):
        # Our fault: what went wrong is for the operator (the log, under this request's correlation id);
        # the caller gets the id to quote and nothing else.
        correlation_id = logger.get_correlation_id() or "unknown"
        logger.error("internal error", extra={"error_type": type(error).__name__, "detail": str(error),
                                              "correlation_id": correlation_id})
        return json_response(status, {"correlation_id": correlation_id})
    headers = None
    if isinstance(error, (QuotaExceededError, ServiceBusyError)):
        headers = {"Retry-After": str(error.retry_after_seconds)}
    return json_response(status, {"message": str(error)}, headers=headers)


def json_body(raw: str | None, optional: bool = False) -> Any:
    """The request's JSON body; {} for an empty optional one. Anything else is a BadRequestError."""
    if raw is None or not raw.strip():
        if optional:
            return {}
        raise BadRequestError("request body is required: send a JSON object")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from exc
    try:
        # json accepts a lone surrogate escape ("\ud800"), which no UTF-8 store (DynamoDB, S3) can hold.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequestError("request body is not valid JSON: a string holds a lone surrogate escape") from exc
    return body


def form_of(event) -> multipart.Form:
    raw = event.raw_event.get("body") or ""
    # multipart/form-data is a binary media type of the REST API, so it arrives base64-encoded.
    body = base64.b64decode(raw) if event.raw_event.get("isBase64Encoded") else raw.encode("utf-8")
    return multipart.parse_form(event.headers.get("content-type") or event.headers.get("Content-Type"), body)


class FormModel(Protocol):
    """A request model read from a multipart form (models/imports.py)."""

    @classmethod
    def of(cls, form: multipart.Form) -> RequestModel: ...


@dataclass(frozen=True)
class Route:
    """One route's contract: what it reads and what it answers (docs/openapi.yaml documents the same)."""

    method: str
    path: str  # API Gateway's resource path, as docs/openapi.yaml writes it: /v1/datasets/{dataset_id}
    status: int
    answer: type[View] | tuple[type[View], ...] | None  # the view(s) of a successful answer; None: no body (204)
    body: type[RequestModel] | None = None
    optional_body: bool = False  # an empty body reads as {}
    query: type[RequestModel] | None = None
    form: type[FormModel] | None = None  # a multipart form, built by the model's `of`
    address: type[RequestModel] | None = None  # several path parameters read as one model
    caller: type[BaseModel] = TokenCaller
    idempotent: bool = False  # honours Idempotency-Key (handlers/idempotency.py); for routes that create

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


ROUTES: list[Route] = []


def route(router, method: str, path: str, *, status: int = 200, answer: type | tuple[type, ...] | None = None,
          **reads: Any) -> Callable[[Callable], Callable]:
    """Register `function` on the router for METHOD path, with its inputs read as the contract says.

    The function is called with the keyword arguments it names: each path parameter (decoded, as
    API Gateway matched it), `caller` (who the authorizer said the request acts for), and `body`,
    `query`, `form` or `address` (the request models). It returns its answer's view (or None for
    204); the view is checked against the contract and written as JSON.
    """
    contract = Route(method=method, path=path, status=status, answer=answer, **reads)
    ROUTES.append(contract)

    def decorate(function: Callable) -> Callable:
        wanted = set(inspect.signature(function).parameters)

        @functools.wraps(function)
        def endpoint(**_encoded: str) -> Response:
            # The resolver hands the percent-encoded values handlers/api.py routes on; read the decoded ones.
            event = router.current_event
            key = idempotency.key_of(event.headers) if contract.idempotent else None
            inputs = {name: event.path_parameters[name] for name in contract.path_parameters if name in wanted}
            if "caller" in wanted or key is not None:
                inputs["caller"] = contract.caller.model_validate(event.raw_event["requestContext"]["authorizer"])
            sent: dict[str, Any] = {}  # what the request carried, as an Idempotency-Key compares it
            if contract.body is not None:
                sent["body"] = json_body(event.body, optional=contract.optional_body)
                inputs["body"] = parse(contract.body, sent["body"])
            if contract.query is not None:
                sent["query"] = dict(event.query_string_parameters or {})
                inputs["query"] = parse(contract.query, sent["query"], "query")
            if contract.form is not None:
                form = form_of(event)
                if key is not None:
                    sent["form"] = idempotency.form_fingerprint(form)
                inputs["form"] = contract.form.of(form)
            if contract.address is not None:
                inputs["address"] = parse(contract.address, dict(event.path_parameters))
            if key is None:
                return respond(contract, function(**inputs))
            caller = inputs["caller"]
            if "caller" not in wanted:
                del inputs["caller"]
            return _answer_once(contract, key, caller.account_id, dict(event.path_parameters or {}), sent,
                                lambda: respond(contract, function(**inputs)))

        router.route(re.sub(r"\{(\w+)\}", r"<\1>", path), method)(endpoint)
        return function

    return decorate


def _answer_once(contract: Route, key: str, account_id: str, path_parameters: dict[str, str], sent: dict[str, Any],
                 run: Callable[[], Response]) -> Response:
    """An idempotent route's answer for a request with an Idempotency-Key (handlers/idempotency.py)."""
    answer = contract.answer
    view = answer if isinstance(answer, type) else None
    secret_fields = view.secret_fields if view else ()
    url_fields = view.upload_url_fields if view else None
    adapters = wiring.api()

    def stored_body(body: Any) -> Any:
        return {**body, **{name: None for name in secret_fields if name in body}}

    def replayed_body(body: Any) -> Any:
        if url_fields is None:
            return body
        id_field, url_field, expiry_field = url_fields
        # No URL: a multipart upload. RFC 3339 UTC strings of one layout compare as times.
        if body.get(url_field) is None or body[expiry_field] > iso_now():
            return body
        url, expires_at = uploads.renewed_put_url(adapters.jobs, adapters.objects, account_id, body[id_field],
                                                  adapters.url_ttl_seconds)
        return {**body, url_field: url, expiry_field: expires_at}

    return idempotency.answer_once(adapters.idempotency, account_id=account_id,
                                   route=f"{contract.method} {contract.path}", path_parameters=path_parameters,
                                   key=key, request=sent, run=run, stored_body=stored_body,
                                   replayed_body=replayed_body)


def respond(contract: Route, answer: Any) -> Response:
    if contract.answer is None:
        if answer is not None:
            raise TypeError(f"{contract.method} {contract.path} answers no body; got {type(answer).__name__}")
        return Response(status_code=contract.status, content_type=content_types.APPLICATION_JSON, body="")
    if not isinstance(answer, contract.answer):
        raise TypeError(f"{contract.method} {contract.path} answers {contract.answer}; got {type(answer).__name__}")
    if isinstance(answer, StoredRecord):  # the record's own JSON text, as stored
        return Response(status_code=contract.status, content_type=content_types.APPLICATION_JSON,
                        body=answer.json_text)
    return json_response(contract.status, answer.body())


