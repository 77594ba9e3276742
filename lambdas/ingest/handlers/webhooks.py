"""SQS entry point of the webhook delivery function: each message is a job event to fan out or one
delivery attempt (logic/webhooks.py). A message whose handling raised is reported as a batch item
failure, so SQS hands it over again (and, after the queue's maxReceiveCount, to its dead-letter queue);
the others of the batch are done."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ingest.handlers import wiring
from ingest.handlers.observability import logger, traced
from ingest.logic import webhooks


@logger.inject_lambda_context(log_event=False)
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    delivering = wiring.webhook_delivery()
    failures = []
    for record in event.get("Records", []):
        try:
            report = webhooks.handle(delivering, json.loads(record["body"]))
            # Every attempt is logged: ids, number, response code, error; never the secret, body or URL.
            logger.info("webhook message handled", extra=report)
        except Exception as error:  # noqa: BLE001 (this message again later; the rest of the batch is done)
            logger.exception("webhook message failed", extra={"message_id": record.get("messageId"),
                                                              "error_type": type(error).__name__})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
