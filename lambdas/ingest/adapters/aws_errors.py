"""AWS's error codes as domain errors, in one place for every adapter.

An adapter handles the codes that are part of its own contract (a failed condition that means "no",
say) and lets the rest escape; `translated` (a class decorator) turns what escapes into:

- throttling, after the SDK's own retries -> ServiceBusyError (the API answers 503 + Retry-After);
- a failed condition, or a transaction cancelled by one -> ConflictError (409): the item changed
  under the request;
- access denied -> AccessDeniedError (500 with a correlation id; the code and message go to the log);
- anything else -> the ClientError itself, unchanged (a bug to see, not to guess at).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ingest.errors import AccessDeniedError, ConflictError, IngestError, ServiceBusyError

THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException",  # DynamoDB, over a table's or partition's capacity
    "ThrottlingException",  # DynamoDB control plane, Step Functions, most JSON APIs
    "RequestLimitExceeded",  # DynamoDB, over the account's request limit
    "TooManyRequestsException",  # API Gateway, Lambda
    "Throttling",  # query-protocol APIs
    "SlowDown",  # S3
})
# Reasons of a cancelled DynamoDB transaction (CancellationReasons[].Code).
THROTTLED_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
CONDITION_REASON = "ConditionalCheckFailed"
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
# Seconds a caller should wait after a throttled call: the SDK has already backed off (adaptive mode,
# up to 8 attempts), so the next attempt is a new request, not a tight loop.
RETRY_AFTER_SECONDS = 1
BUSY_MESSAGE = "the service is busy right now; send the request again in a moment"
CONFLICT_MESSAGE = "the resource changed while this request was being handled; read it again and retry"


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def condition_failed(exc: ClientError) -> bool:
    """A write refused by its own ConditionExpression."""
    return error_code(exc) == "ConditionalCheckFailedException"


def update_if(table: Any, **request: Any) -> dict[str, Any] | None:
    """`table.update_item(**request)`, or None when its ConditionExpression does not hold: for the
    conditional writes whose refusal is an answer ("already done", "held by another"), not an error."""
    try:
        return table.update_item(**request)
    except ClientError as exc:
        if condition_failed(exc):
            return None
        raise


def cancellation_reasons(exc: ClientError) -> set[str]:
    return {reason.get("Code", "") for reason in exc.response.get("CancellationReasons") or []}


def cancelled_by_condition(exc: ClientError) -> bool:
    """A TransactionCanceledException whose cause is a failed condition (not throttling, not a clash)."""
    return error_code(exc) == "TransactionCanceledException" and CONDITION_REASON in cancellation_reasons(exc)


def domain_error(exc: ClientError) -> IngestError | None:
    """The domain error a ClientError means, or None when it means nothing we know."""
    code = error_code(exc)
    operation = getattr(exc, "operation_name", "") or "an AWS call"
    if code in THROTTLING_CODES:
        return ServiceBusyError(BUSY_MESSAGE, RETRY_AFTER_SECONDS)
    if code == "TransactionCanceledException":
        reasons = cancellation_reasons(exc)
        if reasons & THROTTLED_REASONS:
            return ServiceBusyError(BUSY_MESSAGE, RETRY_AFTER_SECONDS)
        if CONDITION_REASON in reasons or "TransactionConflict" in reasons:
            return ConflictError(CONFLICT_MESSAGE)
        return None
    if code in ("ConditionalCheckFailedException", "TransactionConflictException"):
        return ConflictError(CONFLICT_MESSAGE)
    if code in ACCESS_DENIED_CODES:
        # For the log only (InternalError): which call, and what AWS said.
        message = exc.response.get("Error", {}).get("Message", "")
        return AccessDeniedError(f"{operation} refused: {code}: {message}")
    return None


def translate(exc: ClientError) -> Exception:
    """What to raise for a ClientError: its domain error, or the ClientError itself."""
    return domain_error(exc) or exc


def _translating(method: Callable) -> Callable:
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def generator(*args: Any, **kwargs: Any):
            try:
                yield from method(*args, **kwargs)
            except ClientError as exc:
                raise translate(exc) from exc
        return generator

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any):
        try:
            return method(*args, **kwargs)
        except ClientError as exc:
            raise translate(exc) from exc
    return call


def translated(cls: type) -> type:
    """Translate the ClientErrors that escape any public method of an adapter class (see above)."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _translating(member))
    return cls
