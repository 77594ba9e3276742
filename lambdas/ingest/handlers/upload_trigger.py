"""S3 ObjectCreated -> one Step Functions execution per upload, named after the upload id."""

from __future__ import annotations

from typing import Any

from ingest.adapters import aws
from ingest.adapters.control_tables import JobsTable
from ingest.adapters.workflow import WorkflowStarter
from ingest.config import TriggerSettings
from ingest.handlers.observability import logger, traced
from ingest.logic.jobs_trigger import start_upload_job

settings = TriggerSettings.from_env()
jobs = JobsTable(aws.table(settings.jobs_table))
starter = WorkflowStarter(aws.client("stepfunctions"), settings.state_machine_arn)


@logger.inject_lambda_context(log_event=False)
@traced
def handler(event: dict, context: Any) -> dict:
    outcomes = []
    for record in event.get("Records", []):
        outcome = start_upload_job(jobs, starter, record["s3"]["object"]["key"])
        logger.info("upload event handled", extra={"outcome": outcome["outcome"], "upload_id": outcome.get("upload_id")})
        outcomes.append(outcome)
    return {"outcomes": outcomes}
