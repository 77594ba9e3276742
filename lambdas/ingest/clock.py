from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a trailing Z, second precision."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_now() -> str:
    return iso(now())


def iso_in(seconds: int) -> str:
    return iso(now() + timedelta(seconds=seconds))


class SystemClock:
    """The time a scheduled job goes by (handlers/wiring.py makes it): a seam the local stack's tests
    replace to move past a deadline of days without waiting (tests/support/clock.py)."""

    def now(self) -> datetime:
        return now()
