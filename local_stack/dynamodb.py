"""DynamoDB requests are atomic per item on AWS; moto's are not, so the local stack serializes them.

moto applies an UpdateItem to the stored item in place, one action at a time, after evaluating its
condition on that same live item, and serves requests from many threads at once (the API, every
workflow step and Map iteration share the process). So a GetItem could see a job's new `status`
with its old `stats`, and two conditional writes could both pass their conditions before either
wrote (two uploads both holding one dataset). DynamoDB never allows either. One lock around moto's
DynamoDB request handler restores that: each request runs alone, as if DynamoDB had serialized it.
moto is bound by the GIL anyway, so the lock costs little throughput.
"""

from __future__ import annotations

import threading

from moto.dynamodb.responses import DynamoHandler

_requests_lock = threading.RLock()
_original_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _requests_lock:
        return _original_call_action(self)


def install() -> None:
    """Serialize every DynamoDB API request the embedded moto serves (idempotent)."""
    DynamoHandler.call_action = _serialized_call_action
