"""A running job's progress on its job item, so GET /v1/uploads/{id} can show how far it is.

Every step that works through the file reports what it did as increments (bytes read, lines read,
ranges or partitions done, records loaded); a reporter adds them to the job item's `progress` map
with one atomic ADD, at most every `every_seconds` of work and once more when the step ends, so a
step of many minutes shows movement every few seconds and a short one costs one write. Increments
from Map iterations running at once add up on the item without coordination.

A retried step reports its work again, so figures can pass their totals for a while; views clamp
them (never more than the total). Progress is for people watching; stats come from the results.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from ingest.models.workflow import Phase

PROGRESS_FIELDS = ("bytes_read", "chunks_done", "lines_read", "records_loaded")
REPORT_EVERY_SECONDS = 2.0


class ProgressTable(Protocol):
    def add_progress(self, account_id: str, job_id: str, increments: dict[str, int]) -> None: ...

    def set_progress(self, account_id: str, job_id: str, phase: Phase, **totals: int) -> None: ...


class ProgressReporter:
    """Collects increments from one step (thread-safe) and adds them to the job item now and then."""

    def __init__(self, table: ProgressTable, account_id: str, upload_id: str,
                 every_seconds: float = REPORT_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._table = table
        self._ids = (account_id, upload_id)
        self._every = every_seconds
        self._clock = clock
        self._pending: dict[str, int] = {}
        self._last = clock()
        self._lock = threading.Lock()

    def add(self, **increments: int) -> None:
        """Count work done; writes when `every_seconds` have passed since the last write."""
        unknown = set(increments) - set(PROGRESS_FIELDS)
        if unknown:
            raise ValueError(f"unknown progress fields: {sorted(unknown)}")
        with self._lock:
            for name, value in increments.items():
                if value:
                    self._pending[name] = self._pending.get(name, 0) + value
            due = self._pending and self._clock() - self._last >= self._every
            pending = self._take() if due else None
        if pending:
            self._table.add_progress(*self._ids, pending)

    def flush(self) -> None:
        """Write what is pending (a step calls it when it ends, also on the way out of an error)."""
        with self._lock:
            pending = self._take()
        if pending:
            self._table.add_progress(*self._ids, pending)

    def _take(self) -> dict[str, int]:
        pending, self._pending = self._pending, {}
        self._last = self._clock()
        return pending

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()
