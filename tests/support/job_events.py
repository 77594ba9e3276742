"""What the service published to EventBridge, as a test sees it: a rule on the local stack's default bus
that sends one account's job events to an SQS queue of the test's own (moto's events backend delivers
rules to SQS targets as EventBridge does)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

_names = itertools.count(1)


class JobEventsQueue:
    """Every `bulk-ingest` event of `account_id` from now on; `events()` reads what has arrived."""

    def __init__(self, session, account_id: str):
        self._sqs = session.client("sqs")
        self._events = session.client("events")
        name = f"job-events-{account_id}-{next(_names)}"
        self._queue_url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self._rule = name
        self._events.put_rule(Name=name, EventPattern=json.dumps(
            {"source": ["bulk-ingest"], "detail": {"account_id": [account_id]}}))
        self._events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
        self._seen: list[dict[str, Any]] = []

    def events(self) -> list[dict[str, Any]]:
        """Every event delivered so far, in arrival order (whole EventBridge envelopes)."""
        while True:
            answer = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return list(self._seen)
            for message in messages:
                self._seen.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def statuses(self, job_id: str, until: str | None = None, timeout: float = 60) -> list[str]:
        """The statuses published for one job, in order; waits (up to `timeout`) for `until` to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            found = [event["detail"]["status"] for event in self.events() if event["detail"]["id"] == job_id]
            if until is None or until in found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def close(self) -> None:
        self._events.remove_targets(Rule=self._rule, Ids=["queue"])
        self._events.delete_rule(Name=self._rule)
        self._sqs.delete_queue(QueueUrl=self._queue_url)
