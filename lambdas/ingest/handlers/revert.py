"""Step Functions task entry points of the Revert workflow (logic/revert.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ingest.handlers import wiring
from ingest.handlers.observability import logger, traced
from ingest.logic import revert
from ingest.logic.load.failure import REVERT_REMEDY, failure_reason


def revert_step(step: Callable[[dict], dict]) -> Callable[[dict, Any], dict]:
    """A Lambda entry point for one Revert state: logged by job id, traced."""

    @functools.wraps(step)
    @logger.inject_lambda_context(log_event=False)
    @traced
    def handler(event: dict, context: Any) -> dict:
        logger.append_keys(job_id=(event.get("job") or event).get("job_id"), step=step.__name__)
        return step(event)

    return handler


@revert_step
def plan(event: dict) -> dict:
    return revert.plan(wiring.revert(), event)


@revert_step
def revert_partition(event: dict) -> dict:
    result = revert.revert_partition(wiring.revert(), event["job"], event["partition"])
    logger.info("partition reverted", extra=result)  # counts only: keys are record content
    return result


@revert_step
def finish(event: dict) -> dict:
    return revert.finish(wiring.revert(), event)


@revert_step
def mark_failed(event: dict) -> dict:
    return revert.fail(wiring.revert(), event, failure_reason(event.get("error") or {}, REVERT_REMEDY))
