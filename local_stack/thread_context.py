"""Whom a thread works for: a Lambda invocation (its function's role) or a Step Functions execution
(its state machine's role). Handlers and moto's interpreter share one process, so the local stack
tells them apart by thread; a thread started by such a thread (a thread pool's worker, a Map
iteration) works for the same one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Principal:
    name: str  # the function's or the state machine's name
    role_arn: str
    kind: str  # "function" or "state machine"


_local = threading.local()


def current_principal() -> Principal | None:
    return getattr(_local, "principal", None)


def current_invocation() -> Any:
    """The lambda_runtime.Invocation this thread runs, if any."""
    return getattr(_local, "invocation", None)


@contextlib.contextmanager
def working_for(principal: Principal, invocation: Any = None) -> Iterator[None]:
    saved = current_principal(), current_invocation()
    _local.principal, _local.invocation = principal, invocation
    try:
        yield
    finally:
        _local.principal, _local.invocation = saved


def _inheriting(start: Callable[[threading.Thread], None]) -> Callable[[threading.Thread], None]:
    def start_inheriting(thread: threading.Thread) -> None:
        principal, invocation = current_principal(), current_invocation()
        if principal is not None:
            run = thread.run

            def run_for_the_same_one() -> None:
                with working_for(principal, invocation):
                    run()

            thread.run = run_for_the_same_one  # type: ignore[method-assign]
        start(thread)

    start_inheriting._local_stack = True  # type: ignore[attr-defined]
    return start_inheriting


def install() -> None:
    """Threads started from now on inherit their starter's principal (idempotent)."""
    if not getattr(threading.Thread.start, "_local_stack", False):
        # Patching the method is the seam; typeshed's `start` is a method, ours a function of the thread.
        threading.Thread.start = _inheriting(threading.Thread.start)  # type: ignore[method-assign, assignment]
