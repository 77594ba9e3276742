"""Run our Lambda handlers in-process whenever moto invokes a function, within Lambda's limits.

moto runs Lambda code only in Docker, which we do not have. Every invocation moto makes (S3
notifications, Step Functions tasks, the Invoke API) goes through
`moto.awslambda.models.LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)`;
we route that one method to the handler named in the function's configuration, imported from
lambdas/ - the same code the Lambda asset contains. tests/e2e/test_local_runtime.py fails loudly
if a moto upgrade changes this seam.

Each invocation runs in a thread of its own (threads it starts belong to it too) and gets what
Lambda gives it, from the function's configuration in the template:
  - its timeout: past it the caller gets `Sandbox.Timedout` ("Task timed out after N.NN seconds")
    at once, and LambdaTimeout is raised in the handler's thread so the handler stops;
  - its ephemeral storage: a fresh /tmp of EphemeralStorage size (local_stack/ephemeral_storage.py),
    removed afterwards;
  - the 6 MB limit on a synchronous response (requests are checked by local_stack/moto_server.py);
  - its role: the AWS calls it makes are checked against the role's policies (local_stack/access_guard.py).

Invocations in flight are capped (`limit_concurrency`), as an account's concurrency caps them on AWS:
every function and moto share this one process, and 30 jobs' Loads at once (each with its writer
threads) asked it for thousands of threads' worth of calls to its own server, which then reset
connections and answered the API's status GETs in tens of seconds. Over the cap, an invocation waits
its turn before it starts (its timeout is not running yet) instead of failing with
TooManyRequestsException as AWS would: the workflow's Retry would only turn the wait into polling.
The functions behind the local API Gateway are not capped (they answer a client waiting on them, like
functions with reserved concurrency), so the API keeps answering while jobs queue.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from moto.awslambda import models as lambda_models

from local_stack import ephemeral_storage, powertools_keys, thread_context, violations
from local_stack.ephemeral_storage import MIB, EphemeralStorage
from local_stack.limits import LAMBDA_PAYLOAD_BYTES
from local_stack.thread_context import Principal, current_invocation

log = logging.getLogger("local_stack.lambda")

# -- seams for test support (tests/support/faults.py); nothing is installed unless a test injects a fault --
# Each invoke hook is called as hook(function, event) in the invocation's thread before the handler:
# raising fails the invocation as a handler exception would; returning anything but None replaces the
# handler's result (the handler does not run; call_handler runs it, for a hook that changes its result).
invoke_hooks: list[Callable[[Any, Any], Any]] = []


def add_invoke_hook(hook: Callable[[Any, Any], Any]) -> Callable[[], None]:
    """Call `hook` before every handler until the returned function is called."""
    invoke_hooks.append(hook)
    return lambda: invoke_hooks.remove(hook)


def call_handler(function: Any, event: Any) -> Any:
    """Run the function's handler on the event in the current invocation (from an invoke hook)."""
    invocation = current_invocation()
    return _handler_for(function.handler)(event, LambdaContext(invocation))


def use_wall_clock(now: Callable[[], datetime]) -> Callable[[], None]:
    """The functions' wall clock (`ingest.clock.now`: timestamps, quota windows) reads `now` until the
    returned function is called. The handlers share this process, so this is their clock; on AWS it is
    each sandbox's."""
    from ingest import clock  # the handlers' module, from LAMBDA_SOURCE

    previous, clock.now = clock.now, now

    def restore() -> None:
        clock.now = previous

    return restore


class LambdaTimeout(BaseException):
    """Raised in a handler's thread when its invocation is past the function's timeout.

    A BaseException, so a handler's `except Exception` cannot swallow it: on AWS nothing in the
    handler outlives the timeout.
    """


class Invocation:
    """One running invocation: its function, deadline, /tmp and the thread(s) running it."""

    def __init__(self, function: Any, storage_root: Path):
        self.function = function
        self.function_name: str = function.function_name
        self.role_arn: str = function.role
        self.request_id = str(uuid.uuid4())
        self.timeout_seconds = float(function.timeout)
        self.storage = EphemeralStorage(storage_root, f"{self.function_name}-{self.request_id}",
                                        int(function.ephemeral_storage) * MIB)
        self.timed_out = False
        self._started = time.monotonic()
        self._skipped = 0.0  # seconds a test moved this invocation's clock forward
        self._handler_done = False
        self._changed = threading.Condition()

    def now(self) -> float:
        """This invocation's clock: seconds since it started count 1/time_scale (see scale_time)."""
        return self._started + (time.monotonic() - self._started) / _time_scale + self._skipped

    def remaining_seconds(self) -> float:
        return self._started + self.timeout_seconds - self.now()

    def advance_clock(self, seconds: float) -> None:
        """Test seam (tests/support/faults.py Timeout): move this invocation's clock forward, as if time had passed."""
        with self._changed:
            self._skipped += seconds
            self._changed.notify_all()

    def _handler_returned(self) -> None:
        with self._changed:
            self._handler_done = True
            self._changed.notify_all()

    def _wait_or_time_out(self, worker: threading.Thread) -> bool:
        """True when the handler returned in time; else marks the invocation timed out and stops it."""
        with self._changed:
            while not self._handler_done:
                remaining = self.remaining_seconds()
                if remaining <= 0:
                    # The worker is alive: it reports its end under this lock before it ends (_run_handler).
                    self.timed_out = True
                    ident = cast(int, worker.ident)  # set: the worker was started before this wait
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(LambdaTimeout))
                    return False
                self._changed.wait(remaining * _time_scale)
            return True


# How much slower than Lambda the local stack may run before a function times out: seconds of wall time
# count 1/_time_scale against its timeout. 1 (make run) enforces the template's timeouts as they are. The
# test suite sets more (LOCAL_LAMBDA_TIME_SCALE, tests/e2e/conftest.py): one process runs every function
# and moto beside the tests, on two busy cores, so a cold authorizer once took more than its 10 s there.
# Tests of timeouts move an invocation's clock instead (advance_clock), and Lambda's real timing is
# `make bench-scale`'s to check, against each step's template limits.
_time_scale = 1.0


def scale_time(factor: float) -> None:
    """From now on, wall time counts 1/factor against the functions' timeouts (factor >= 1)."""
    global _time_scale  # noqa: PLW0603 (one clock per process, as the concurrency cap)
    if factor < 1:
        raise ValueError("the local stack never enforces a shorter timeout than the template's")
    _time_scale = float(factor)


class ConcurrencyLimit:
    """At most `limit` invocations of the capped functions at once; the rest wait in arrival order."""

    def __init__(self, limit: int, uncapped: frozenset[str]):
        if limit < 1:
            raise ValueError("a concurrency limit needs at least one invocation")
        self.limit, self.uncapped = limit, uncapped
        self.in_flight = self.peak = self.waited = 0
        self._turns: list[threading.Event] = []
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return len(self._turns)

    def caps(self, function: Any) -> bool:
        return function.function_name not in self.uncapped

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            turn = None
            if self.in_flight >= self.limit:
                turn = threading.Event()
                self._turns.append(turn)
                self.waited += 1
            else:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
        if turn is not None:
            turn.wait()  # the slot was handed over by release: in_flight already counts this one
        try:
            yield
        finally:
            with self._lock:
                if self._turns:
                    self._turns.pop(0).set()  # hand the slot to the longest waiting
                else:
                    self.in_flight -= 1


_concurrency: ConcurrencyLimit | None = None


def concurrency() -> ConcurrencyLimit | None:
    """The cap on invocations in flight, if any (its counters: in_flight, waiting, peak, waited)."""
    return _concurrency


def limit_concurrency(limit: int | None, uncapped: Iterable[str] = ()) -> ConcurrencyLimit | None:
    """From now on at most `limit` invocations run at once, except of the `uncapped` functions (by
    name); None lifts the cap. Invocations already running are not counted."""
    global _concurrency  # noqa: PLW0603 (one account's concurrency per process)
    _concurrency = None if limit is None else ConcurrencyLimit(limit, frozenset(uncapped))
    return _concurrency


_storage_root: Path | None = None
__all__ = [
    "Invocation",
    "LambdaTimeout",
    "add_invoke_hook",
    "call_handler",
    "concurrency",
    "current_invocation",
    "install",
    "invoke",
    "invoke_hooks",
    "limit_concurrency",
    "scale_time",
    "use_wall_clock",
]


class LambdaContext:
    """The attributes of AWS's context object that handlers and Powertools read."""

    def __init__(self, invocation: Invocation):
        function = invocation.function
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = int(function.memory_size)
        self.aws_request_id = invocation.request_id
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "local"
        self._invocation = invocation

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._invocation.remaining_seconds() * 1000))


def _handler_for(handler_path: str):
    module_name, _, function_name = handler_path.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)


def _error_payload(error_type: str, message: str, stack: list[str] | None = None) -> str:
    payload: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if stack is not None:
        payload["stackTrace"] = stack
    return json.dumps(payload)


def invoke(function: Any, event: Any) -> tuple[str, bool, str]:
    """Run the function's handler on the event; returns moto's (payload, errored, logs)."""
    mismatched = [
        name for name, value in (function.environment_vars or {}).items() if os.environ.get(name) != str(value)
    ]
    if mismatched:
        raise RuntimeError(f"{function.function_name}: environment not applied locally: {', '.join(mismatched)}")
    if isinstance(event, (str, bytes)):
        event = json.loads(event or "{}")
    concurrency = _concurrency
    if concurrency is None or not concurrency.caps(function):
        return _invoke(function, event)
    with concurrency.slot():
        return _invoke(function, event)


def _invoke(function: Any, event: Any) -> tuple[str, bool, str]:
    invocation = Invocation(function, _storage_root or _make_storage_root())
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=_run, args=(invocation, event, outcome), daemon=True,
                              name=f"lambda:{function.function_name}:{invocation.request_id[:8]}")
    worker.start()
    if not invocation._wait_or_time_out(worker):
        payload = _error_payload("Sandbox.Timedout", f"RequestId: {invocation.request_id} Error: Task timed out "
                                                     f"after {invocation.timeout_seconds:.2f} seconds")
        errored = True
    elif "error" in outcome:
        exc = outcome["error"]
        payload, errored = _error_payload(type(exc).__name__, str(exc), traceback.format_tb(exc.__traceback__)), True
    else:
        payload, errored = json.dumps(outcome.get("result")), False
        if len(payload.encode("utf-8")) > LAMBDA_PAYLOAD_BYTES:
            payload = _error_payload("Function.ResponseSizeTooLarge", "Response payload size exceeded maximum "
                                     f"allowed payload size ({LAMBDA_PAYLOAD_BYTES} bytes).")
            errored = True
    log.debug("%s %s", function.function_name, "timed out" if invocation.timed_out else "failed" if errored else "ok")
    return payload, errored, ""


def _run(invocation: Invocation, event: Any, outcome: dict[str, Any]) -> None:
    try:
        with thread_context.working_for(Principal(invocation.function_name, invocation.role_arn, "function"),
                                        invocation):
            _run_handler(invocation, event, outcome)
    except LambdaTimeout:  # landed as the handler's end was being reported: there is nothing left to stop
        pass


def _run_handler(invocation: Invocation, event: Any, outcome: dict[str, Any]) -> None:
    try:
        try:
            # Handler logs go to this process's stdout (Powertools JSON lines), as to CloudWatch in AWS.
            result = next((r for r in (hook(invocation.function, event) for hook in list(invoke_hooks))
                           if r is not None), None)
            if result is None:
                result = _handler_for(invocation.function.handler)(event, LambdaContext(invocation))
            outcome["result"] = result
        except Exception as exc:  # noqa: BLE001 (the Lambda runtime reports every exception this way)
            outcome["error"] = exc
        _end(invocation)  # before the caller has its answer: /tmp is gone when it does
    except LambdaTimeout:  # the caller has had its answer; the handler has stopped
        _end(invocation)
    finally:
        # On every way out, or the caller would time out a thread that has ended: a LambdaTimeout sent to
        # an ended thread's id lands in whichever new thread has that id by then.
        invocation._handler_returned()


def _end(invocation: Invocation) -> None:
    """Check and remove the invocation's /tmp (idempotent). A LambdaTimeout may land here: start again."""
    while True:
        try:
            if not invocation.timed_out:
                leftovers = invocation.storage.leftovers()
                if leftovers:
                    violations.record(violations.Violation(
                        invocation.function_name, violations.TMP_LEFTOVERS, "write /tmp", ", ".join(leftovers[:5]),
                        f"{len(leftovers)} files left after the invocation: on AWS they stay in the warm sandbox "
                        f"and use up the next invocations' {invocation.storage.size_bytes // MIB} MB"))
            invocation.storage.remove()
            return
        except LambdaTimeout:
            continue


def _make_storage_root() -> Path:
    global _storage_root  # noqa: PLW0603 (one root per process, made on first use; a test reads it)
    if _storage_root is None:
        _storage_root = Path(tempfile.mkdtemp(prefix="local-lambda-tmp-"))
        atexit.register(shutil.rmtree, _storage_root, True)
    return _storage_root


def _patched_invoke_lambda(self, event: Any = None) -> tuple[str, bool, str]:
    return invoke(self, event if event is not None else {})


def install() -> None:
    """Route moto's Lambda invocations to in-process handlers (idempotent)."""
    original = getattr(lambda_models.LambdaFunction, "_invoke_lambda", None)
    if original is None:
        raise RuntimeError(
            "moto.awslambda.models.LambdaFunction._invoke_lambda is gone: "
            "this moto version changed the seam local_stack/lambda_runtime.py relies on"
        )
    lambda_models.LambdaFunction._invoke_lambda = _patched_invoke_lambda  # type: ignore[method-assign]  # the seam
    thread_context.install()  # a thread a handler starts belongs to its invocation
    powertools_keys.install()  # and so do the log keys its Logger appends
    _make_storage_root()
    ephemeral_storage.install(lambda: invocation.storage if (invocation := current_invocation()) else None)
