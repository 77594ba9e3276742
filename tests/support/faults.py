"""Fault injection into the running local stack: test support, off by default, outside the product.

Nothing in infra/, lambdas/ or local_stack/ imports it, and neither the template nor the Lambda asset
contains it. A fault changes the local stack through one of its seams for the duration of a `with`
block and restores it on exit, even when the block raises:

    from tests.support import faults

    with faults.inject(faults.FailAfterWrites(step="Load", after_items=10, times=1)) as fault:
        upload = load_file(content)
    assert fault.fired == 1

Faults act *below* the handlers wherever possible (the adapters and the load steps the composition root
builds), so the real error handling runs: a handler wraps an unexpected exception into
StepFailedError, the state machine's Retry and Catch see what they would see in AWS. The seams:

  wiring.use(cls, wrapper)            the composition root makes every `cls` through the wrapper
                                      (lambdas/ingest/handlers/wiring.py): FailAfterWrites,
                                      Throttle and LoseAnswers wrap the record store it makes, Crash and a step's
                                      Timeout wrap the load steps
  lambda_runtime.add_invoke_hook      a hook called before every handler in the local Lambda runtime:
                                      Drop, Rendezvous, Pause, Invocations, Timeout, FullDisk, Pad
  lambda_runtime.use_wall_clock       the handlers' wall clock (ingest.clock.now): ServiceClock
  AccessGuard.use_role_statements     a role's statements in the access guard: RevokeGrant
  api_gateway.clock.use               the local API Gateway's clock: GatewayClock

  FailAfterWrites  a Load writes part of a window to the record store, then crashes
  Throttle         UpdateItem answers ProvisionedThroughputExceededException (DynamoDB throttling)
  LoseAnswers      UpdateItem is applied, then its answer is lost (a connection reset after the write)
  Crash            a workflow step's logic raises (before doing anything, or after it is done)
  Pause            invocations of a function wait until the test releases them
  Drop             invocations of a function are swallowed (an S3 event that is delayed or lost)
  Rendezvous       holds invocations of a function until `parties` of them have arrived, so they
                   run at the same moment (races on purpose)
  Invocations      observes every invocation (which function, which event); injects nothing
  Timeout          a function hangs until Lambda's timeout (from the template) ends it
  FullDisk         a function's /tmp is already nearly full when it starts
  Pad              a function's result grows by some bytes (past Lambda's or Step Functions' limits)
  RevokeGrant      a role loses a grant, as if the template lacked it
  GatewayClock     the local API Gateway's clock stands still until the test moves it
  ServiceClock     the handlers' wall clock (ingest.clock.now) stands still at a chosen moment

Faults are thread-safe: moto's Step Functions interpreter runs executions, and the Distributed
Map's iterations, in background threads. `times` counts matching calls across all threads; by
default a fault matches every account, `account=` narrows it to one (the test's own).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError, ConnectionClosedError

from ingest.adapters.record_store import RecordStore
from ingest.handlers import wiring
from ingest.logic.load.steps import LoadSteps
from local_stack import access_guard, lambda_runtime
from local_stack.api_gateway import clock as gateway_clock
from local_stack.iam import action_matches

# Workflow step name (as in failure reasons; the Maps' iterations are ScanRange, SplitRange and
# LoadPartition in the state machine) -> (handler, LoadSteps method).
STEPS = {
    "Inspect": ("ingest.handlers.workflow.inspect", "inspect"),
    "Scan": ("ingest.handlers.workflow.scan", "scan_range"),
    "PlanSplit": ("ingest.handlers.workflow.plan_split", "plan_split"),
    "Decompress": ("ingest.handlers.workflow.decompress", "decompress"),
    "InflateMembers": ("ingest.handlers.workflow.inflate_members", "inflate_members"),
    "JoinMembers": ("ingest.handlers.workflow.join_members", "join_members"),
    "Split": ("ingest.handlers.workflow.split", "split_range"),
    "PlanLoad": ("ingest.handlers.workflow.plan_load", "plan_load"),
    "Load": ("ingest.handlers.workflow.load", "load_partition"),
    "Finalize": ("ingest.handlers.workflow.finalize", "finalize"),
    "MarkFailed": ("ingest.handlers.workflow.mark_failed", "mark_failed"),
}
TRIGGER = "ingest.handlers.upload_trigger.handler"


class InjectedFault(RuntimeError):
    """Raised by an injected crash. Handlers treat it as any unexpected error."""


class Fault:
    """Base: `install()` applies the fault and returns the function that undoes it."""

    def __init__(self, times: int | None = None, account: str | None = None):
        self.times = times  # None: every matching call
        self.account = account
        self.fired = 0  # how many times the fault actually happened
        self._lock = threading.Lock()

    def install(self) -> Callable[[], None]:
        raise NotImplementedError

    def _matches(self, account_id: str | None) -> bool:
        return self.account is None or account_id == self.account

    def _claim(self, account_id: str | None) -> bool:
        """True when this call should fail; counts it. Thread-safe."""
        if not self._matches(account_id):
            return False
        with self._lock:
            if self.times is not None and self.fired >= self.times:
                return False
            self.fired += 1
            return True


@contextlib.contextmanager
def inject(*faults: Fault) -> Iterator[Any]:
    """Apply the faults for the block; yields the fault (or the tuple of faults). Always restored."""
    with contextlib.ExitStack() as undo:
        for fault in faults:
            undo.callback(fault.install())
        yield faults[0] if len(faults) == 1 else faults


class _Overriding:
    """Stands in for an adapter or the load steps: the named methods are replaced, the rest is the
    object's own. A replacement is called as replacement(original bound method, *args, **kwargs)."""

    def __init__(self, target: Any, **replacements: Callable[..., Any]):
        self._target = target
        self._replacements = replacements

    def __getattr__(self, name: str) -> Any:
        original = getattr(self._target, name)
        replacement = self._replacements.get(name)
        return functools.partial(replacement, original) if replacement else original


def _wrap_made(cls: type, wrap: Callable[[Any], Any]) -> Callable[[], None]:
    """Every `cls` the composition root makes, passed through `wrap`, until the undo is called."""
    return wiring.use(cls, lambda make, *args, **kwargs: wrap(make(*args, **kwargs)))


def _account_in(*args: Any) -> str | None:
    """The account a step call or an invocation is about: from its typed argument (a LoadJob,
    ExecutionInput or FailedState) or from the event's state ({"job": ...} or the execution input)."""
    for arg in args:
        if isinstance(arg, dict):
            job = arg.get("job") if isinstance(arg.get("job"), dict) else arg
            if "account_id" in job:
                return job["account_id"]
        account_id = getattr(arg, "account_id", None) or getattr(getattr(arg, "job", None), "account_id", None)
        if account_id:
            return account_id
    return None


def _handler_path(target: str) -> str:
    return STEPS[target][0] if target in STEPS else TRIGGER if target == "UploadTrigger" else target


# -- Record store faults (the record stores the composition root makes) -------------------------------
class FailAfterWrites(Fault):
    """A Load writes the first `after_items` records of its first window (default: half), then crashes.

    The handler turns the crash into StepFailedError, which the state machine retries (interval 2 s).
    `written` lists how many records each failed attempt left in the store.
    """

    def __init__(self, step: str = "Load", after_items: int | None = None, times: int | None = 1,
                 account: str | None = None):
        if step != "Load":
            raise ValueError("only the Load step writes records")
        super().__init__(times, account)
        self.after_items = after_items
        self.written: list[int] = []

    def install(self) -> Callable[[], None]:
        return _wrap_made(RecordStore, lambda store: _Overriding(store, writer=self._writer))

    def _writer(self, writer, account_id, *args, **kwargs):
        made = writer(account_id, *args, **kwargs)
        # Load's upserts go through write_upserts, profile changes through write: the fault takes either.
        crash = functools.partial(self._write, account_id)
        return _Overriding(made, write=crash, write_upserts=crash)

    def _write(self, account_id, write, records, only_over=None):
        # only_over: write_upserts' conditions per record (an optimistic window's), cut with the records.
        def conditions(count: int) -> dict:
            return {} if only_over is None else {"only_over": list(only_over)[:count]}

        if not self._claim(account_id):
            return write(records, **conditions(len(records)))
        records = list(records)
        keep = len(records) // 2 if self.after_items is None else min(self.after_items, len(records))
        write(records[:keep], **conditions(keep))
        with self._lock:
            self.written.append(keep)
        raise InjectedFault(f"injected: Load crashed after writing {keep} of {len(records)} records")


class Throttle(Fault):
    """UpdateItem on the records table answers ProvisionedThroughputExceededException, as DynamoDB does
    when a table or a partition is over its capacity, for `times` calls.

    The record store is made with a DynamoDB client that does this (its public constructor's first
    argument), so the Load's real writer reacts: its token bucket slows down and the record is tried
    again. `calls` counts the UpdateItem calls seen for the account, `fired` the throttled ones.
    """

    def __init__(self, times: int | None = 3, account: str | None = None):
        super().__init__(times, account)
        self.calls = 0

    def install(self) -> Callable[[], None]:
        # RecordStore(dynamodb_client, table_name, ...): its public constructor.
        def make_throttled(make, dynamodb_client, table_name, *args, load_writes=None, **kwargs):
            # A Load's writes go through load_writes when the wiring gives one (the wire sender).
            writes = None if load_writes is None else _ThrottlingClient(load_writes, self)
            return make(_ThrottlingClient(dynamodb_client, self), table_name, *args, load_writes=writes, **kwargs)

        return wiring.use(RecordStore, make_throttled)

    def _update_item(self, client, **request: Any) -> dict:
        account_id = request["Key"]["pk"]["S"].split("#", 1)[0]
        if not self._matches(account_id):
            return client.update_item(**request)
        with self._lock:
            self.calls += 1
        if self._claim(account_id):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "injected: the partition is over its capacity"}}, "UpdateItem")
        return client.update_item(**request)


class LoseAnswers(Fault):
    """UpdateItem on the records table is applied, then its answer is lost (ConnectionClosedError, as
    when a connection is reset after DynamoDB applied the write), for `times` calls: the Load's writer
    tries the write again and must still count what it replaced. `fired` counts the lost answers.
    `every` loses one answer in that many calls (default: each call until `times` is used up); a
    write's retry is never lost again, so the write goes through on its second try."""

    def __init__(self, times: int | None = 10, account: str | None = None, every: int = 1):
        super().__init__(times, account)
        self.every, self.calls = every, 0
        self._lost: set[tuple[str, str, str]] = set()

    def install(self) -> Callable[[], None]:
        def make_losing(make, dynamodb_client, table_name, *args, load_writes=None, **kwargs):
            writes = None if load_writes is None else _LosingClient(load_writes, self)  # as Throttle's
            return make(_LosingClient(dynamodb_client, self), table_name, *args, load_writes=writes, **kwargs)

        return wiring.use(RecordStore, make_losing)

    def _update_item(self, client, **request: Any) -> dict:
        response = client.update_item(**request)
        account_id = request["Key"]["pk"]["S"].split("#", 1)[0]
        if self._matches(account_id):
            write = (request["Key"]["pk"]["S"], request["Key"]["sk"]["S"], repr(request["ExpressionAttributeValues"]))
            with self._lock:
                self.calls += 1
                due = self.calls % self.every == 0 and write not in self._lost  # its retry goes through
                if due:
                    self._lost.add(write)
            if due and self._claim(account_id):
                raise ConnectionClosedError(endpoint_url="injected: the answer was lost after the write")
        return response


class _LosingClient:
    """A DynamoDB client whose update_item is the LoseAnswers fault's; every other call is the client's."""

    def __init__(self, client, fault: LoseAnswers):
        self._client, self._fault = client, fault

    def update_item(self, **kwargs: Any) -> dict:
        return self._fault._update_item(self._client, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _ThrottlingClient:
    """A DynamoDB client whose update_item is the Throttle's; every other call is the client's."""

    def __init__(self, client, fault: Throttle):
        self._client, self._fault = client, fault

    def update_item(self, **kwargs: Any) -> dict:
        return self._fault._update_item(self._client, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


# -- Step faults (the load steps the composition root makes) ----------------------------------------------
class Crash(Fault):
    """A workflow step's logic raises InjectedFault: before it does anything, or (after=True) once done.

    times=None (the default) crashes every attempt, so the state machine's retries are exhausted and
    its Catch settles the job; times=1 crashes only the first attempt.
    """

    def __init__(self, step: str, times: int | None = None, after: bool = False, account: str | None = None):
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; known: {', '.join(STEPS)}")
        super().__init__(times, account)
        self.step = step
        self.after = after
        self.calls = 0

    def install(self) -> Callable[[], None]:
        method = STEPS[self.step][1]
        return _wrap_made(LoadSteps, lambda steps: _Overriding(steps, **{method: self._crashing}))

    def _crashing(self, step, *args, **kwargs):
        with self._lock:
            self.calls += 1
        account_id = _account_in(*args)
        if not self.after and self._claim(account_id):
            raise InjectedFault(f"injected: {self.step} crashed")
        result = step(*args, **kwargs)
        if self.after and self._claim(account_id):
            raise InjectedFault(f"injected: {self.step} crashed after finishing")
        return result


# -- Invocation faults (lambda_runtime's invoke hooks) ---------------------------------------------------
class Drop(Fault):
    """Invocations of `target` (a step name, "UploadTrigger" or a handler path) are swallowed.

    The invoker gets `{"dropped": true}`; `events` keeps what was dropped, to be delivered later.
    """

    def __init__(self, target: str = "UploadTrigger", times: int | None = None):
        super().__init__(times)
        self.handler = _handler_path(target)
        self.events: list[Any] = []

    def install(self) -> Callable[[], None]:
        def hook(function, event):
            if function.handler == self.handler and self._claim(None):
                with self._lock:
                    self.events.append(event)
                return {"dropped": True}
            return None

        return lambda_runtime.add_invoke_hook(hook)


class Rendezvous(Fault):
    """Invocations of `target` wait until `parties` of them have arrived, then all run at once.

    `met` becomes True when they did; after `timeout` seconds waiting ones go on alone (met stays False).
    """

    def __init__(self, target: str, parties: int, timeout: float = 10.0):
        super().__init__(times=parties)
        self.handler = _handler_path(target)
        self.met = False
        self._barrier = threading.Barrier(parties, timeout=timeout)

    def install(self) -> Callable[[], None]:
        def hook(function, event):
            if function.handler == self.handler and self._claim(None):
                try:
                    if self._barrier.wait() == 0:
                        self.met = True
                except threading.BrokenBarrierError:
                    pass
            return None

        return lambda_runtime.add_invoke_hook(hook)


class Pause(Fault):
    """Invocations of `target` wait at their start until `release()` (or `timeout` seconds), so a test
    can look at a job while it is in that step. `arrived` is set when the first one is waiting."""

    def __init__(self, target: str, account: str | None = None, timeout: float = 120.0):
        super().__init__(None, account)
        self.handler = _handler_path(target)
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._timeout = timeout

    def install(self) -> Callable[[], None]:
        def hook(function, event):
            if function.handler == self.handler and self._claim(_account_in(event)):
                self.arrived.set()
                self._released.wait(self._timeout)
            return None

        remove = lambda_runtime.add_invoke_hook(hook)

        def undo() -> None:
            self.release()
            remove()

        return undo

    def release(self) -> None:
        self._released.set()


class Invocations(Fault):
    """Observes every in-process Lambda invocation: `calls` is a list of (handler path, event)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def install(self) -> Callable[[], None]:
        def hook(function, event):
            with self._lock:
                self.calls.append((function.handler, event))
            return None

        return lambda_runtime.add_invoke_hook(hook)

    def of(self, target: str, upload_id: str | None = None) -> list[Any]:
        """Events of one function (step name, "UploadTrigger" or handler path), optionally for one upload."""
        handler = _handler_path(target)
        with self._lock:
            events = [event for path, event in self.calls if path == handler]
        if upload_id is None:
            return events
        return [event for event in events if _upload_in(event) == upload_id]


def _upload_in(event: Any) -> str | None:
    if isinstance(event, dict):
        job = event.get("job") if isinstance(event.get("job"), dict) else event
        if "upload_id" in job:
            return job["upload_id"]
        for record in event.get("Records") or []:  # an S3 event: uploads/<account>/<upload>/<file>
            parts = record["s3"]["object"]["key"].split("/")
            if len(parts) >= 3:
                return parts[2]
    return None


# -- Lambda limits ------------------------------------------------------------------------------------
class Timeout(Fault):
    """Invocations of `target` hang until Lambda's timeout ends them.

    The hanging invocation's clock is moved past the function's timeout (the template's), so the
    local runtime ends it at once, as Lambda would after that long: the caller gets Sandbox.Timedout
    and LambdaTimeout is raised in the hanging handler. A step name hangs inside the step's logic
    (the handler's own error handling is on the stack); another target hangs before its handler.
    `stopped` counts handlers that the timeout stopped; `resumed` any that went on (it must stay 0).
    """

    def __init__(self, target: str, times: int | None = None, account: str | None = None):
        super().__init__(times, account)
        self.target = target
        self.stopped = 0
        self.resumed = 0

    def _hang(self) -> None:
        invocation = lambda_runtime.current_invocation()
        invocation.advance_clock(invocation.remaining_seconds() + 1)
        try:
            give_up = time.monotonic() + 60  # only if the runtime failed to stop it: fail loudly
            while time.monotonic() < give_up:
                time.sleep(0.01)  # Python code between sleeps, where LambdaTimeout lands
        except lambda_runtime.LambdaTimeout:
            with self._lock:
                self.stopped += 1
            raise
        with self._lock:
            self.resumed += 1
        raise InjectedFault("the local Lambda runtime did not stop a timed-out handler")

    def install(self) -> Callable[[], None]:
        if self.target not in STEPS:
            handler = _handler_path(self.target)

            def hook(function, event):
                if function.handler == handler and self._claim(_account_in(event)):
                    self._hang()
                return None

            return lambda_runtime.add_invoke_hook(hook)
        method = STEPS[self.target][1]
        return _wrap_made(LoadSteps, lambda steps: _Overriding(steps, **{method: self._hanging}))

    def _hanging(self, step, *args, **kwargs):
        if self._claim(_account_in(*args)):
            self._hang()
        return step(*args, **kwargs)


class FullDisk(Fault):
    """Invocations of `target` find their /tmp holding all but `free_bytes` of its size.

    Their writes then fail with OSError(ENOSPC) once they pass `free_bytes`, as on a full disk.
    """

    def __init__(self, target: str, free_bytes: int, times: int | None = None, account: str | None = None):
        super().__init__(times, account)
        self.handler = _handler_path(target)
        self.free_bytes = free_bytes

    def install(self) -> Callable[[], None]:
        def hook(function, event):
            if function.handler == self.handler and self._claim(_account_in(event)):
                storage = lambda_runtime.current_invocation().storage
                storage.taken_bytes = storage.size_bytes - self.free_bytes
            return None

        return lambda_runtime.add_invoke_hook(hook)


class Pad(Fault):
    """The result of `target`'s handler gains a `padding` field of `extra_bytes` characters."""

    def __init__(self, target: str, extra_bytes: int, times: int | None = None, account: str | None = None):
        super().__init__(times, account)
        self.handler = _handler_path(target)
        self.extra_bytes = extra_bytes

    def install(self) -> Callable[[], None]:
        def hook(function, event):
            if function.handler != self.handler or not self._claim(_account_in(event)):
                return None
            result = lambda_runtime.call_handler(function, event)
            return {**result, "padding": "x" * self.extra_bytes}

        return lambda_runtime.add_invoke_hook(hook)


class RevokeGrant(Fault):
    """A role loses `action` on the resources whose ARN contains `resource`: the running stack then
    behaves as if the template did not grant it. `target` is a step name, "UploadTrigger" or a
    handler path (that function's role), or a role ARN (a state machine's). `removed` lists the
    (statement, resources) taken away, so a test can check it took away something real.
    """

    def __init__(self, target: str, action: str, resource: str):
        super().__init__()
        self.target, self.action, self.resource = target, action, resource
        self.removed: list[tuple[Any, tuple[str, ...]]] = []

    def install(self) -> Callable[[], None]:
        guard = access_guard.current()
        if guard is None:
            raise RuntimeError("RevokeGrant needs a running local stack")
        role = self.target if self.target.startswith("arn:") else guard.roles_by_handler[_handler_path(self.target)]
        kept = []
        for statement in guard.role_statements(role):
            revoked = tuple(r for r in statement.resources if self.resource in r)
            if (statement.effect != "Allow" or not revoked
                    or not any(action_matches(pattern, self.action) for pattern in statement.actions)):
                kept.append(statement)
                continue
            self.removed.append((statement, revoked))
            rest = tuple(r for r in statement.resources if r not in revoked)
            if rest:
                kept.append(dataclasses.replace(statement, resources=rest))
        return guard.use_role_statements(role, kept)


class GatewayClock(Fault):
    """The local API Gateway's clock (token buckets, API key and authorizer caches) stands still
    from the start of the block; `advance(seconds)` moves it. Restored on exit."""

    def __init__(self):
        super().__init__()
        self._now = time.monotonic()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def install(self) -> Callable[[], None]:
        with self._lock:
            self._now = time.monotonic()
        return gateway_clock.use(self)


class ServiceClock(Fault):
    """The handlers' wall clock (`ingest.clock.now`: quota windows, timestamps) stands still at `at`
    (default: the middle of the current hour, so an hourly quota window cannot turn over during the
    block); `advance(seconds)` moves it. Restored on exit."""

    def __init__(self, at: datetime | None = None):
        super().__init__()
        start = datetime.now(UTC)
        self._now = at or start.replace(minute=30, second=0, microsecond=0)

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def install(self) -> Callable[[], None]:
        return lambda_runtime.use_wall_clock(self)


__all__ = [
    "STEPS",
    "TRIGGER",
    "Crash",
    "Drop",
    "FailAfterWrites",
    "FullDisk",
    "GatewayClock",
    "InjectedFault",
    "Invocations",
    "Pad",
    "Pause",
    "Rendezvous",
    "RevokeGrant",
    "ServiceClock",
    "Throttle",
    "Timeout",
    "inject",
]
