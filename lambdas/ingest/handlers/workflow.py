"""Step Functions task entry points: one function per workflow state, all thin."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ingest.errors import DatasetBusyError, FileRejectedError, StepFailedError
from ingest.handlers import wiring
from ingest.handlers.observability import logger, metrics, traced


def workflow_step(name: str) -> Callable:
    """Log the step by upload id, and turn unexpected errors into a safe, actionable message."""

    def decorate(step: Callable[[dict], dict]) -> Callable[[dict, Any], dict]:
        @functools.wraps(step)
        @logger.inject_lambda_context(log_event=False)
        @traced
        @metrics.log_metrics
        def handler(event: dict, context: Any) -> dict:
            job = event.get("job") or event
            logger.append_keys(upload_id=job.get("upload_id"), step=name)
            try:
                return step(event)
            except FileRejectedError:
                logger.info("file rejected")
                raise
            except DatasetBusyError:  # the state machine retries: the upload waits for its turn
                logger.info("dataset busy with another load; waiting")
                raise
            except StepFailedError:  # already carries a safe, specific message
                logger.exception("step failed")
                raise
            except Exception as exc:
                logger.exception("step failed")
                raise StepFailedError(
                    f"the {name} step failed unexpectedly ({type(exc).__name__}); "
                    "nothing was lost: upload the file again to retry"
                ) from exc

        return handler

    return decorate


@workflow_step("Inspect")
def inspect(event: dict) -> dict:
    return wiring.pipeline().inspect(event)


@workflow_step("Split")
def split(event: dict) -> dict:
    return wiring.pipeline().split(event)


@workflow_step("Load")
def load(event: dict) -> dict:
    stats = wiring.pipeline().load_chunk(event["job"], event["chunk"], validate_only=bool(event.get("validate_only")))
    metrics.add_metric(name="RecordsLoaded", unit=MetricUnit.Count, value=stats["loaded"])
    metrics.add_metric(name="RecordsRejected", unit=MetricUnit.Count, value=stats["rejected"])
    return stats


@workflow_step("CheckErrorBudget")
def check_error_budget(event: dict) -> dict:
    return wiring.pipeline().check_error_budget(event)


@workflow_step("Finalize")
def finalize(event: dict) -> dict:
    return wiring.pipeline().finalize(event)


@workflow_step("MarkFailed")
def mark_failed(event: dict) -> dict:
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    return wiring.pipeline().mark_failed(event)
