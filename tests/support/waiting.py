"""Waiting in tests for something logic guarantees will happen (a thread unwinding, a waiter arriving).
The bound is not a speed target: it only turns a bug into a failure instead of a hang."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str, bound_seconds: float = 120) -> None:
    """Poll `condition` every millisecond until it holds; AssertionError "never: <what>" past the bound."""
    deadline = time.monotonic() + bound_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.001)
