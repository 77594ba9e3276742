"""What a job state change tells the world: EventBridge's detail-type and detail for one job.

JobsTable (adapters/control_tables.py) hands every status change to `announce`, wired by
handlers/wiring.py; adapters/events.py publishes it. The detail is the job's public view (what
GET /v1/jobs/{id} answers) without any URL, plus the account it belongs to, so a rule can route one
account's events: no presigned URL, token, secret or record content is ever in it.
"""

from __future__ import annotations

import logging
from typing import Any

from ingest.logic.clear import clear_view
from ingest.logic.revert import revert_view
from ingest.logic.uploads import upload_view

log = logging.getLogger(__name__)

DETAIL_TYPES = {"upload": "Upload Job State Change", "clear": "Clear Job State Change",
                "revert": "Revert Job State Change"}


def detail_type(job: dict[str, Any]) -> str:
    return DETAIL_TYPES[job.get("job_type", "upload")]


def detail(job: dict[str, Any]) -> dict[str, Any]:
    job_type = job.get("job_type")
    view = (clear_view(job) if job_type == "clear" else revert_view(job) if job_type == "revert"
            else upload_view(job, None, 0))
    return {"account_id": job["account_id"], **view.body()}


def announce(events, job: dict[str, Any]) -> None:
    """Publish the job's new state. A failure to publish is logged, never raised: the job's status is
    already written (the table is the record of truth; an event is a notification of it), and failing
    the step would make Step Functions retry a write that is no longer a change, so no event at all."""
    try:
        events.publish(detail_type(job), detail(job))
    except Exception as error:  # noqa: BLE001 (any failure: the job goes on, the log says why)
        log.error("job event not published", extra={"job_id": job.get("job_id"), "status": job.get("status"),
                                                     "error_type": type(error).__name__})
