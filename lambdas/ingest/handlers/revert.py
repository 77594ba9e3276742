"""Step Functions task entry points of the Revert workflow (logic/revert.py)."""

from __future__ import annotations

from ingest.handlers import wiring
from ingest.handlers.observability import job_step, logger
from ingest.logic import revert
from ingest.logic.load.failure import REVERT_REMEDY, failure_reason


@job_step
def plan(event: dict) -> dict:
    return revert.plan(wiring.revert(), event)


@job_step
def revert_partition(event: dict) -> dict:
    result = revert.revert_partition(wiring.revert(), event["job"], event["partition"])
    logger.info("partition reverted", extra=result)  # counts only: keys are record content
    return result


@job_step
def finish(event: dict) -> dict:
    return revert.finish(wiring.revert(), event)


@job_step
def mark_failed(event: dict) -> dict:
    return revert.fail(wiring.revert(), event, failure_reason(event.get("error") or {}, REVERT_REMEDY))
