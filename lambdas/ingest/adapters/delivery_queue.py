"""The webhook delivery queue (SQS): job events arrive on it from the EventBridge rule; the delivery
function puts each delivery attempt on it, delayed by the backoff (at most SQS's 15 minutes a hop)."""

from __future__ import annotations

import json
from typing import Any

from ingest.adapters.aws_errors import translated

MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds maximum


@translated
class DeliveryQueue:
    def __init__(self, sqs_client, queue_url: str):
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, message: dict[str, Any], delay_seconds: int = 0) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(message, separators=(",", ":")),
                               DelaySeconds=max(0, min(MAX_DELAY_SECONDS, int(delay_seconds))))
