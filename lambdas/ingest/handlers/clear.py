"""Step Functions task entry points of the Clear Data workflow."""

from __future__ import annotations

import functools
from typing import Any, Callable

from ingest.adapters import aws
from ingest.adapters.control_tables import DatasetsTable, JobsTable
from ingest.adapters.record_store import RecordStore
from ingest.config import ClearSettings
from ingest.handlers.observability import logger, traced
from ingest.logic import clear
from ingest.logic.pipeline import CLEAR_REMEDY, failure_reason

settings = ClearSettings.from_env()
jobs = JobsTable(aws.table(settings.jobs_table))
datasets = DatasetsTable(aws.table(settings.datasets_table))
records = RecordStore(aws.client("dynamodb"), settings.records_table)


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
    return clear.plan(jobs, datasets, event)


@clear_step
def clear_partition(event: dict) -> dict:
    result = clear.clear_partition(records, event["job"], event["partition"]["record_type"])
    logger.info("partition cleared", extra=result)
    return result


@clear_step
def finish(event: dict) -> dict:
    return clear.finish(jobs, datasets, event)


@clear_step
def mark_failed(event: dict) -> dict:
    return clear.fail(jobs, datasets, event, failure_reason(event.get("error") or {}, CLEAR_REMEDY))
