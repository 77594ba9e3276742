"""Scheduled (infra/multipart.py): fail the jobs of multipart uploads the bucket's lifecycle rule aborts.

S3 emits no event when a lifecycle rule aborts an incomplete multipart upload, so without this the job
would stay Pending for ever. The sweep (logic/multipart_sweep.py) aborts such uploads itself just before
the rule's deadline and fails their jobs with the reason.
"""

from __future__ import annotations

from typing import Any

from ingest.handlers import wiring
from ingest.handlers.observability import logger, traced
from ingest.logic import multipart_sweep


@logger.inject_lambda_context(log_event=False)
@traced
def handler(event: dict, context: Any) -> dict:
    adapters = wiring.sweeper()
    failed = multipart_sweep.sweep(adapters.jobs, adapters.objects, adapters.clock.now(), adapters.abort_after_days,
                                   adapters.sweep_interval)
    logger.info("multipart uploads swept", extra={"jobs_failed": failed})
    return {"failed": failed}
