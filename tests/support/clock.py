"""Move the clock of the local stack's scheduled functions (ingest.clock.SystemClock, made through the
wiring seam), so a test passes a deadline of days without waiting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from ingest.clock import SystemClock
from ingest.handlers import wiring


class _MovedClock:
    def __init__(self, clock: SystemClock, by: timedelta):
        self._clock, self._by = clock, by

    def now(self) -> datetime:
        return self._clock.now() + self._by


@contextmanager
def moved_clock(by: timedelta) -> Iterator[None]:
    remove = wiring.use(SystemClock, lambda make: _MovedClock(make(), by))
    try:
        yield
    finally:
        remove()
