"""Step Functions task entry points of the Clear Data workflow."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ingest.handlers import wiring
from ingest.handlers.observability import logger, traced
from ingest.logic import clear
from ingest.logic.load.failure import CLEAR_REMEDY, failure_reason


def clear_step(step: Callable[[dict], dict]) -> Callable[[dict, Any], dict]:
    """A Lambda entry point for one Clear Data state: logged by job id, traced."""

    @functools.wraps(step)
    @logger.inject_lambda_context(log_event=False)
    @traced
    def handler(event: dict, context: Any) -> dict:
        logger.append_keys(job_id=(event.get("job") or event).get("job_id"), step=step.__name__)
        return step(event)

    return handler


@clear_step
def plan(event: dict) -> dict:
    adapters = wiring.clear()
    return clear.plan(adapters.jobs, adapters.datasets, event)


@clear_step
def clear_partition(event: dict) -> dict:
    result = clear.clear_partition(wiring.clear().records, event["job"], event["partition"])
    logger.info("partition cleared", extra=result)
    return result


@clear_step
def finish(event: dict) -> dict:
    adapters = wiring.clear()
    return clear.finish(adapters.jobs, adapters.datasets, event)


@clear_step
def mark_failed(event: dict) -> dict:
    adapters = wiring.clear()
    return clear.fail(adapters.jobs, adapters.datasets, event, failure_reason(event.get("error") or {}, CLEAR_REMEDY))
