"""The local API Gateway's clock: what its time-based state reads (usage-plan token buckets, the API
key cache, the authorizer cache).

A seam, and the only one in the gateway: test support stands it still (tests/support/faults.py
GatewayClock), so a throttling test counts exactly whatever the machine's speed. `use` installs
another source and returns the function that puts the previous one back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_source: Callable[[], float] = time.monotonic
_lock = threading.Lock()


def now() -> float:
    """Seconds on a monotonic scale (time.monotonic, unless a test has installed its own)."""
    return _source()


def use(source: Callable[[], float]) -> Callable[[], None]:
    """Read `source` from now on; returns the function that restores the clock in use before."""
    global _source
    with _lock:
        previous, _source = _source, source

    def restore() -> None:
        global _source  # noqa: PLW0603 (the gateway's one clock, a process-wide seam for tests)
        with _lock:
            _source = previous

    return restore
