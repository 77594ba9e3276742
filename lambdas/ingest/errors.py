"""Domain errors. Handlers map each of them to an HTTP status in one table (handlers/http.py
STATUS_FOR_ERROR; a test walks this hierarchy so none is left out). Adapters raise them too:
adapters/aws_errors.py translates AWS's error codes (throttling, failed conditions, access denied)."""


class IngestError(Exception):
    """Base class: the message is safe to show to the caller."""


class BadRequestError(IngestError):
    """The request itself is malformed or breaks a documented rule (HTTP 400)."""


class NotFoundError(IngestError):
    """The resource does not exist for this account (HTTP 404); foreign ids look absent."""


class ConflictError(IngestError):
    """The request clashes with the resource's current state (HTTP 409)."""


class IdempotencyKeyReusedError(IngestError):
    """An Idempotency-Key already used on this route with another request body (HTTP 422)."""


class FileRejectedError(IngestError):
    """The uploaded file as a whole cannot be processed; the message becomes the job's failure_reason.
    Raised in the workflow; on an API route it would be the caller's input (HTTP 400)."""


class UnauthorizedError(IngestError):
    """Missing, unknown or revoked credentials (HTTP 401; the authorizers answer it through API Gateway)."""


class StepFailedError(IngestError):
    """A workflow step failed for a reason other than the file; its message is safe to show.
    Raised in the workflow only (HTTP 500 if one ever reached a route)."""


class DatasetBusyError(IngestError):
    """Another upload is loading into the dataset; this one waits its turn (the workflow retries).
    Raised in the workflow only (HTTP 409 if one ever reached a route)."""


class ForbiddenError(IngestError):
    """Good credentials, but not for this resource (HTTP 403): e.g. an import key and another app."""


class QuotaExceededError(IngestError):
    """A per-key quota's window is used up (HTTP 429); retry_after_seconds says when the next one opens."""

    def __init__(self, message: str, retry_after_seconds: int):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ServiceBusyError(IngestError):
    """AWS throttled a call (DynamoDB, S3, ...) after the SDK's own retries (HTTP 503 + Retry-After):
    nothing is wrong with the request, and the same request later should go through."""

    def __init__(self, message: str, retry_after_seconds: int = 1):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class InternalError(IngestError):
    """Our own fault (a missing permission, a misconfigured resource). Unlike every other IngestError its
    message is NOT for the caller: it goes to the log, and the caller gets only a correlation id (HTTP 500)."""


class AccessDeniedError(InternalError):
    """An AWS call was refused for lack of permission: a gap in the function's IAM policy."""
