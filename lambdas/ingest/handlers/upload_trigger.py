"""S3 ObjectCreated -> one Step Functions execution per upload, named after the upload id."""

from __future__ import annotations

from typing import Any

from ingest.handlers import wiring
from ingest.handlers.observability import logger, traced
from ingest.logic.jobs_trigger import start_upload_jobs
from ingest.models.events import S3Event


@logger.inject_lambda_context(log_event=False)
@traced
def handler(event: dict, context: Any) -> dict:
    adapters = wiring.trigger()
    outcomes = start_upload_jobs(adapters.jobs, adapters.starter, S3Event.model_validate(event))
    for outcome in outcomes:
        logger.info("upload event handled", extra={"outcome": outcome.outcome, "upload_id": outcome.upload_id})
    return {"outcomes": [outcome.model_dump(exclude_none=True) for outcome in outcomes]}
