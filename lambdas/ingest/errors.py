"""Domain errors. Handlers map them to HTTP statuses in one table (handlers/api.py)."""


class IngestError(Exception):
    """Base class: the message is safe to show to the caller."""


class BadRequestError(IngestError):
    """The request itself is malformed or breaks a documented rule (HTTP 400)."""


class NotFoundError(IngestError):
    """The resource does not exist for this account (HTTP 404); foreign ids look absent."""


class ConflictError(IngestError):
    """The request clashes with the resource's current state (HTTP 409)."""


class FileRejectedError(IngestError):
    """The uploaded file as a whole cannot be processed; the message becomes the job's failure_reason."""


class UnauthorizedError(IngestError):
    """Missing, unknown or revoked credentials."""


class StepFailedError(IngestError):
    """A workflow step failed for a reason other than the file; its message is safe to show."""


class DatasetBusyError(IngestError):
    """Another upload is loading into the dataset; this one waits its turn (the workflow retries)."""


class ForbiddenError(IngestError):
    """Good credentials, but not for this resource (HTTP 403): e.g. an import key and another app."""


class QuotaExceededError(IngestError):
    """A per-key quota's window is used up (HTTP 429); retry_after_seconds says when the next one opens."""

    def __init__(self, message: str, retry_after_seconds: int):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
