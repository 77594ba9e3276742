"""One error table over the whole hierarchy, and AWS's error codes translated in one place."""

from __future__ import annotations

import importlib
import json
import pkgutil

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

import ingest
from ingest.adapters import aws_errors
from ingest.adapters.control_tables import DatasetsTable, JobsTable
from ingest.adapters.counters import transact
from ingest.errors import (
    AccessDeniedError,
    ConflictError,
    IngestError,
    NotFoundError,
    QuotaExceededError,
    ServiceBusyError,
)
from ingest.handlers.http import STATUS_FOR_ERROR, error_response
from ingest.handlers.observability import logger


def _every_module() -> None:
    for module in pkgutil.walk_packages(ingest.__path__, "ingest."):
        if ".handlers." not in module.name or module.name.endswith((".http", ".wiring", ".observability")):
            importlib.import_module(module.name)


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found)) if found else found


def test_every_domain_error_has_its_own_status():
    _every_module()  # errors defined anywhere (adapters' StoreWriteError, ...) are loaded
    unmapped = sorted(cls.__qualname__ for cls in _subclasses(IngestError) if cls not in STATUS_FOR_ERROR)
    assert not unmapped, f"IngestError subclasses without a status in handlers/http.py STATUS_FOR_ERROR: {unmapped}"
    assert _subclasses(IngestError) >= {ServiceBusyError, AccessDeniedError}


def _answer(error: IngestError) -> tuple[int, dict, dict]:
    response = error_response(error)
    return response.status_code, json.loads(response.body), response.headers


def test_throttling_is_503_with_retry_after_and_a_quota_429_with_its_window():
    status, body, headers = _answer(ServiceBusyError(aws_errors.BUSY_MESSAGE, 1))
    assert (status, body, headers["Retry-After"]) == (503, {"message": aws_errors.BUSY_MESSAGE}, "1")
    status, _, headers = _answer(QuotaExceededError("quota exceeded", 42))
    assert (status, headers["Retry-After"]) == (429, "42")
    assert _answer(NotFoundError("dataset x not found"))[:2] == (404, {"message": "dataset x not found"})


def test_access_denied_answers_only_a_correlation_id_and_logs_the_details(caplog):
    logger.set_correlation_id("req-123")
    try:
        status, body, _ = _answer(AccessDeniedError("PutItem refused: AccessDeniedException: on table secret-jobs"))
    finally:
        logger.set_correlation_id(None)
    assert (status, body) == (500, {"correlation_id": "req-123"})
    (record,) = [record for record in caplog.records if record.getMessage() == "internal error"]
    assert "secret-jobs" in record.detail and record.correlation_id == "req-123"


# -- translation, on a real client whose answers a Stubber gives ---------------------------------
def _table_with(code: str, operation: str, **response):
    table = boto3.resource("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x").Table("jobs")
    stubber = Stubber(table.meta.client)
    stubber.add_client_error(operation, service_error_code=code, service_message="details for the log",
                             http_status_code=400, response_meta=response or None)
    stubber.activate()
    return table, stubber


@pytest.mark.parametrize("code", sorted(aws_errors.THROTTLING_CODES & {
    "ProvisionedThroughputExceededException", "ThrottlingException",
    "RequestLimitExceeded", "TooManyRequestsException"}))
def test_a_throttled_call_is_a_service_busy_error(code):
    table, stubber = _table_with(code, "get_item")
    with pytest.raises(ServiceBusyError) as caught:
        JobsTable(table).get("acme", "job-1")
    assert caught.value.retry_after_seconds >= 1 and isinstance(caught.value.__cause__, ClientError)
    stubber.assert_no_pending_responses()


def test_a_failed_condition_that_escapes_is_a_conflict():
    table, _ = _table_with("ConditionalCheckFailedException", "put_item")
    with pytest.raises(ConflictError, match="changed while this request"):
        JobsTable(table).create({"account_id": "acme", "job_id": "job-1"})


def test_access_denied_is_an_internal_error_naming_the_call_for_the_log():
    table, _ = _table_with("AccessDeniedException", "get_item")
    with pytest.raises(AccessDeniedError) as caught:
        DatasetsTable(table).get("acme", "ds-1")
    assert "GetItem" in str(caught.value) and "details for the log" in str(caught.value)


def test_a_code_we_do_not_know_stays_the_client_error():
    table, _ = _table_with("ValidationException", "get_item")
    with pytest.raises(ClientError):
        JobsTable(table).get("acme", "job-1")


def _cancelled(*reasons: str) -> ClientError:
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": [{"Code": reason} for reason in reasons]}, "TransactWriteItems")


class _CancellingTable:
    name = "tokens"

    def __init__(self, error: ClientError):
        client = type("Client", (), {"transact_write_items": lambda _self, **_: (_ for _ in ()).throw(error)})()
        self.meta = type("Meta", (), {"client": client})()


def test_a_transaction_cancelled_by_its_condition_is_a_no_and_by_throttling_a_503():
    assert transact(_CancellingTable(_cancelled("None", "ConditionalCheckFailed")), []) is False
    with pytest.raises(ServiceBusyError):
        transact(_CancellingTable(_cancelled("ThrottlingError", "None")), [])
    assert isinstance(aws_errors.domain_error(_cancelled("TransactionConflict")), ConflictError)


def test_adapters_raise_domain_errors_not_bare_value_or_lookup_errors():
    from ingest.adapters.control_tables import decode_token
    from ingest.errors import BadRequestError
    with pytest.raises(BadRequestError, match="next_token is not a token this API returned"):
        decode_token("not base64 json")
    table, _ = _table_with("ConditionalCheckFailedException", "update_item")
    with pytest.raises(NotFoundError, match="dataset ds-gone not found"):
        DatasetsTable(table).update("acme", "ds-gone", name="x")
