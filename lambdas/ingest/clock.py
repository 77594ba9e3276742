"""The service's wall clock. `use` is a seam for test support only (as local_stack/api_gateway/clock.py
is the gateway's): the local stack runs every handler in the test process, so an end-to-end test can
move time on (a revert window that has passed) without waiting. In Lambda nothing installs a source."""

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_source: Callable[[], datetime] | None = None
_lock = threading.Lock()


def now() -> datetime:
    source = _source
    return source() if source is not None else datetime.now(UTC)


def use(source: Callable[[], datetime]) -> Callable[[], None]:
    """Read `source` from now on; returns the function that restores the clock in use before."""
    global _source
    with _lock:
        previous, _source = _source, source

    def restore() -> None:
        global _source  # noqa: PLW0603 (one process-wide seam, for tests)
        with _lock:
            _source = previous

    return restore


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a trailing Z, second precision."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """The moment an `iso` string names."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def iso_now() -> str:
    return iso(now())


def iso_in(seconds: int) -> str:
    return iso(now() + timedelta(seconds=seconds))


class SystemClock:
    """The time a scheduled job goes by (handlers/wiring.py makes it): a seam the local stack's tests
    replace to move past a deadline of days without waiting (tests/support/clock.py)."""

    def now(self) -> datetime:
        return now()
