"""SQS -> Lambda event source mappings, polled as Lambda's poller does.

moto's own mapping invokes the function inside SendMessage (the sender waits for the function) and
never for a message sent with a delay; Lambda instead polls the queue, hands the function a batch of
up to BatchSize visible messages, deletes those it handled (all, or all but the `batchItemFailures`
it names when the mapping has ReportBatchItemFailures) and leaves the rest to reappear after the
queue's visibility timeout. One thread per mapping does the same here: it long-polls the queue
(moto keeps a delayed message invisible until its delay has passed, in real time), invokes the
function through moto's Invoke API (so it runs in local_stack/lambda_runtime.py under its role, like
every invocation) and deletes what succeeded. The receive and delete are Lambda's own calls: as on
AWS they are made with the mapping's grants, which the access guard does not see (they come from
outside any invocation).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

log = logging.getLogger("local_stack.sqs_event_sources")
POLL_WAIT_SECONDS = 1  # short long-polls, so stop() returns quickly


class SqsEventSource:
    def __init__(self, session, mapping: dict[str, Any], region: str):
        self._sqs = session.client("sqs")
        self._lambda = session.client("lambda")
        self._mapping = mapping
        self._region = region
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"sqs-poller:{mapping['function_name']}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=POLL_WAIT_SECONDS * 5)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._poll_once()
            except Exception:
                if not self._stopped.is_set():
                    log.exception("polling %s failed", self._mapping["queue_url"])
                    self._stopped.wait(POLL_WAIT_SECONDS)

    def _poll_once(self) -> None:
        mapping = self._mapping
        answer = self._sqs.receive_message(QueueUrl=mapping["queue_url"], MaxNumberOfMessages=mapping["batch_size"],
                                           WaitTimeSeconds=POLL_WAIT_SECONDS, AttributeNames=["All"],
                                           MessageAttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            return
        event = {"Records": [self._record(message) for message in messages]}
        result = self._lambda.invoke(FunctionName=mapping["function_name"], Payload=json.dumps(event).encode())
        payload = json.loads(result["Payload"].read() or b"null")
        if result.get("FunctionError"):
            log.warning("%s failed a batch of %d: the messages return after the visibility timeout",
                        mapping["function_name"], len(messages))
            return
        failed: set[str] = set()
        if mapping["report_batch_item_failures"] and isinstance(payload, dict):
            failed = {item["itemIdentifier"] for item in payload.get("batchItemFailures") or []}
        done = [message for message in messages if message["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(QueueUrl=mapping["queue_url"], Entries=[
                {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]} for number, message in enumerate(done)])

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """One message as Lambda's SQS event shows it."""
        return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"], "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}), "md5OfBody": message.get("MD5OfBody"),
                "eventSource": "aws:sqs", "eventSourceARN": self._mapping["queue_arn"], "awsRegion": self._region}
