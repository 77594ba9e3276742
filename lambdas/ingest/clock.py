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
