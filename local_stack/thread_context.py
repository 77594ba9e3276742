"""Whom a thread works for: a Lambda invocation (its function's role) or a Step Functions execution
(its state machine's role). Handlers and moto's interpreter share one process, so the local stack
tells them apart by thread; a thread started by such a thread (a thread pool's worker, a Map
iteration) works for the same one.
"""

from __future__ import annotations

import contextlib
import queue
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
        run = thread.run

        def run_then_hand_over() -> None:
            try:
                if principal is None:
                    run()
                else:
                    with working_for(principal, invocation):
                        run()
            finally:
                # This wrapper, in the thread's __dict__, holds the thread through `run`: a cycle.
                vars(thread).pop("run", None)
                _ended.put(thread)

        thread.run = run_then_hand_over  # type: ignore[method-assign]
        start(thread)

    start_inheriting._local_stack = True  # type: ignore[attr-defined]
    return start_inheriting


# Every ended thread is joined here. An ended thread that nobody joins keeps its 8 MiB stack mapped
# until its Thread object is freed, and moto's interpreter and werkzeug leave theirs in reference
# cycles that only the garbage collector's rare full pass frees. One test worker starts tens of
# thousands of threads; at vm.max_map_count (65,530 maps) it could start no more ("can't start new
# thread", MemoryError) and hung, in CI, for the rest of its 90 minutes.
_ended: queue.SimpleQueue[threading.Thread] = queue.SimpleQueue()


_joined = 0


def _join_ended_threads() -> None:
    global _joined  # noqa: PLW0603 (one joiner per process; joined_threads reads it)
    while True:
        _ended.get().join()
        _joined += 1


def joined_threads() -> int:
    """How many ended threads the joiner has joined in this process."""
    return _joined


def install() -> None:
    """Threads started from now on inherit their starter's principal and are joined when they end
    (idempotent)."""
    if not getattr(threading.Thread.start, "_local_stack", False):
        # Patching the method is the seam; typeshed's `start` is a method, ours a function of the thread.
        threading.Thread.start = _inheriting(threading.Thread.start)  # type: ignore[method-assign, assignment]
        threading.Thread(target=_join_ended_threads, name="thread-joiner", daemon=True).start()
