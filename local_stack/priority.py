"""The API goes first: a client waiting on the local API is served before the workflow's DynamoDB traffic.

On AWS a status GET's reads are served by DynamoDB in parallel with any number of jobs' writes. Here
every function, moto's Step Functions interpreter and moto's server share one Python process (one
GIL), and every DynamoDB request passes one lock (`dynamodb.py`, per-item atomicity). With 8 Loads of
16 writer threads each in flight, a status GET's GetItem queued behind ~128 writes at that lock, and
each step of its way (gateway, Invoke, handler, GetItem) waited its turn for the GIL among as many
runnable threads: 30 uploads at once gave status GETs a p95 of 6.4 s and some answered 500.

Two changes, neither visible to a handler:

- **Background DynamoDB requests in flight are capped** (`BACKGROUND_DYNAMODB_REQUESTS`, env
  `LOCAL_DYNAMODB_BACKGROUND_REQUESTS`); the rest wait in the caller's thread before anything is
  sent, holding neither the GIL nor a server thread. moto serves one DynamoDB request at a time
  anyway, so a few in flight keep it as busy as hundreds do, without hundreds of threads competing
  for the GIL. Only DynamoDB: its requests are short and never wait on another request (a Lambda
  Invoke from the interpreter lasts the whole invocation, and its Load's writes need the slots).
- A Load's writes go through `DynamoDBWire` (lambdas/ingest/adapters/dynamodb_wire.py), not
  botocore: they take the same background slots.
- **Interactive requests skip the queue**: calls made by the API's functions (the ones the local API
  Gateway invokes) are never capped, and carry `PRIORITY_HEADER` so the DynamoDB lock serves them
  before any waiting background request (`dynamodb.py`).

"Interactive" is decided in one place, `is_interactive`: the calling thread works for one of the
functions named at install (the API's integrations and authorizers).

The policy belongs to one moto server (its port, where the requests go), as the DynamoDB lock does
(`dynamodb.requests_lock`): a second server in the process (a test's own) has its own names, cap and
lock, and neither server's traffic waits at, or is counted by, the other's.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import botocore.endpoint

from local_stack.thread_context import current_principal

PRIORITY_HEADER = "X-Local-Stack-Priority"
INTERACTIVE = "interactive"
# Background DynamoDB requests in flight at once. docs/local_stack.md has the measurements behind it.
BACKGROUND_DYNAMODB_REQUESTS = 4


def is_interactive(interactive_functions: frozenset[str]) -> bool:
    """Whether the calling thread works for a client waiting on the API (one of the API's functions)."""
    principal = current_principal()
    return principal is not None and principal.kind == "function" and principal.name in interactive_functions


class BackgroundLimit:
    """At most `limit` background requests in flight; interactive ones are never held."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("the background limit needs at least one request in flight")
        self.limit = limit
        self.in_flight = self.peak = self.waiting = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def slot(self, interactive: bool) -> Iterator[None]:
        if interactive:
            yield
            return
        with self._changed:
            self.waiting += 1
            try:  # a Lambda timeout may land in the wait
                while self.in_flight >= self.limit:
                    self._changed.wait()
            finally:
                self.waiting -= 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            with self._changed:
                self.in_flight -= 1
                self._changed.notify()  # one slot freed: wake one waiter, not the herd


@dataclass(frozen=True)
class _Policy:
    interactive_functions: frozenset[str]
    limit: BackgroundLimit


# One policy per moto server, by its port. Read without a lock: install replaces an entry whole.
_policies: dict[int, _Policy] = {}


def background_limit(server_port: int) -> BackgroundLimit | None:
    """The cap on background DynamoDB requests to the server on `server_port`, once installed (its
    counters: in_flight, waiting, peak)."""
    policy = _policies.get(server_port)
    return policy.limit if policy else None


def install(server_port: int, interactive_functions: Iterable[str],
            background_requests: int = BACKGROUND_DYNAMODB_REQUESTS) -> BackgroundLimit:
    """From now on, of the DynamoDB requests sent to the moto server on `server_port`, the named
    functions' are interactive and at most `background_requests` others are in flight (idempotent: a
    later call replaces the names and the cap). The local stack passes LOCAL_DYNAMODB_BACKGROUND_REQUESTS
    when it is set (stack.py)."""
    limit = BackgroundLimit(background_requests)
    _policies[server_port] = _Policy(frozenset(interactive_functions), limit)
    endpoint = botocore.endpoint.Endpoint
    if not getattr(endpoint.make_request, "_local_stack", False):
        endpoint.make_request = _prioritized(endpoint.make_request)  # botocore's seam
    from ingest.adapters.dynamodb_wire import DynamoDBWire

    # Marked on the class, not the method: access_guard wraps DynamoDBWire.call too, and a mark on our
    # wrapper would be hidden under its wrapper, so a second install would wrap again (two slots a call).
    if not getattr(DynamoDBWire, "_prioritized", False):
        DynamoDBWire.call = _prioritized_wire(DynamoDBWire.call)  # type: ignore[method-assign]  # the wire's seam
        DynamoDBWire._prioritized = True  # type: ignore[attr-defined]
    return limit


def uninstall(server_port: int) -> None:
    """Requests to `server_port` are sent as they come again (a stopped server's policy goes)."""
    _policies.pop(server_port, None)


def _prioritized(make_request: Any) -> Any:
    def make_request_in_turn(self: Any, operation_model: Any, request_dict: dict) -> Any:
        if operation_model.service_model.endpoint_prefix != "dynamodb":
            return make_request(self, operation_model, request_dict)
        policy = _policies.get(urlsplit(request_dict["url"]).port or 0)
        if policy is None:
            return make_request(self, operation_model, request_dict)
        interactive = is_interactive(policy.interactive_functions)
        if interactive:
            request_dict["headers"][PRIORITY_HEADER] = INTERACTIVE
        with policy.limit.slot(interactive):
            return make_request(self, operation_model, request_dict)

    make_request_in_turn._local_stack = True  # type: ignore[attr-defined]
    return make_request_in_turn


def _prioritized_wire(call: Any) -> Any:
    """The same cap for a Load's UpdateItems, which go through DynamoDBWire around botocore. They carry
    no PRIORITY_HEADER: only the load workflow sends through the wire, and its requests are background."""

    def call_in_turn(wire: Any, operation: str, params: Any) -> dict:
        policy = _policies.get(urlsplit(wire.endpoint_url).port or 0)
        if policy is None:
            return call(wire, operation, params)
        with policy.limit.slot(interactive=False):
            return call(wire, operation, params)

    return call_in_turn
