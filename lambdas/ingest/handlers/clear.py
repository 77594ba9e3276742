"""Step Functions task entry points of the Clear Data workflow."""

from __future__ import annotations

from typing import Any

from ingest.adapters import aws
from ingest.adapters.control_tables import DatasetsTable, JobsTable
from ingest.adapters.record_store import RecordStore
from ingest.config import ClearSettings
from ingest.handlers.observability import logger, tracer
from ingest.logic import clear
from ingest.logic.pipeline import failure_reason

settings = ClearSettings.from_env()
jobs = JobsTable(aws.table(settings.jobs_table))
datasets = DatasetsTable(aws.table(settings.datasets_table))
records = RecordStore(aws.client("dynamodb"), settings.records_table)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def plan(event: dict, context: Any) -> dict:
    return clear.plan(jobs, datasets, event)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def clear_partition(event: dict, context: Any) -> dict:
    result = clear.clear_partition(records, event["job"], event["partition"]["record_type"])
    logger.info("partition cleared", extra={"job_id": event["job"]["job_id"], **result})
    return result


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def finish(event: dict, context: Any) -> dict:
    return clear.finish(jobs, datasets, event)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def mark_failed(event: dict, context: Any) -> dict:
    return clear.fail(jobs, datasets, event, failure_reason(event.get("error") or {}))
