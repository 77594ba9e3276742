"""Powertools logger, tracer and metrics shared by every function.

Never log events, request bodies, record contents or tokens: ids and counts only. Never put them in
traces either: entry points are traced with `traced`, which keeps responses and error objects out.
"""

import functools
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

# Read-only routes publish no metric; that is expected, not worth a warning per request.
warnings.filterwarnings("ignore", message="No application metrics to publish")

SERVICE = "bulk-ingest"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="BulkIngest", service=SERVICE)


def traced(handler):
    """X-Ray subsegment for a Lambda entry point, without the handler's response or error as metadata.

    Powertools records both by default, and our responses hold what must never reach a trace: a
    minted token (POST /v1/tokens), an import key's secret, presigned URLs, stored records. Error
    objects are left out too; X-Ray still marks the fault with the exception's type and message, and
    the messages that leave our handlers are the safe ones (ingest.errors). The functions' environment
    turns capture off as well (infra/functions.py), for any capture_method added later.
    """
    return tracer.capture_lambda_handler(handler, capture_response=False, capture_error=False)


def job_step(step: Callable[[dict], dict]) -> Callable[[dict, Any], dict]:
    """A Lambda entry point for one state of a job's workflow (Clear Data, Revert): logged by job id, traced."""

    @functools.wraps(step)
    @logger.inject_lambda_context(log_event=False)
    @traced
    def handler(event: dict, context: Any) -> dict:
        logger.append_keys(job_id=(event.get("job") or event).get("job_id"), step=step.__name__)
        return step(event)

    return handler
