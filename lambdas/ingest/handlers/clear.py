"""Step Functions task entry points of the Clear Data workflow."""

from __future__ import annotations

from ingest.handlers import wiring
from ingest.handlers.observability import job_step, logger
from ingest.logic import clear
from ingest.logic.load.failure import CLEAR_REMEDY, failure_reason


@job_step
def plan(event: dict) -> dict:
    adapters = wiring.clear()
    return clear.plan(adapters.jobs, adapters.datasets, event)


@job_step
def clear_partition(event: dict) -> dict:
    result = clear.clear_partition(wiring.clear().records, event["job"], event["partition"])
    logger.info("partition cleared", extra=result)
    return result


@job_step
def finish(event: dict) -> dict:
    adapters = wiring.clear()
    return clear.finish(adapters.jobs, adapters.datasets, event)


@job_step
def mark_failed(event: dict) -> dict:
    adapters = wiring.clear()
    return clear.fail(adapters.jobs, adapters.datasets, event, failure_reason(event.get("error") or {}, CLEAR_REMEDY))
