"""Job state changes, published to the account's default EventBridge bus.

One event per change of a job's status (created, Processing, Completed, Failed), `source`
`bulk-ingest`, `detail-type` "<Kind> Job State Change", `detail` the job's public view without URLs
(logic/job_events.py builds it). Operators route them with a rule on `source` (docs: README, "Job
events"). The default bus needs no configuration: PutEvents without EventBusName goes there.
"""

from __future__ import annotations

import json
from typing import Any

from ingest.adapters.aws_errors import translated

SOURCE = "bulk-ingest"


class EventNotPublishedError(Exception):
    """EventBridge refused the entry (FailedEntryCount > 0) after botocore's own retries."""


@translated
class JobEvents:
    def __init__(self, events_client):
        self._events = events_client

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        answer = self._events.put_events(Entries=[{
            "Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail, separators=(",", ":")),
        }])
        if answer.get("FailedEntryCount"):
            entry = answer["Entries"][0]
            raise EventNotPublishedError(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
