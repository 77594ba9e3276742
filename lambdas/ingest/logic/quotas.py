"""Per-key quotas: at most `limit` uses of one kind per fixed window (10 uploads an hour, ...).

One counter item per (subject, kind, window start) in the quotas table, incremented by a conditional
update that succeeds only while the count is below the limit, so concurrent requests can never
together pass it. Items expire through the table's TTL once their window has ended. A refused use
raises QuotaExceededError with the seconds until the window ends (the Retry-After header).

Fixed windows are simple and cheap (one write per use) at the cost of allowing up to 2x the limit
across a window boundary, which is how the APIs we mirror document their hourly/minutely limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from ingest import clock
from ingest.errors import QuotaExceededError

# Counters outlive their window a little, so a clock skew between functions never resets one early.
EXPIRY_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class Quota:
    kind: str  # e.g. "profile-uploads"; part of the counter's key
    limit: int
    window_seconds: int
    what: str  # for the message: "profile uploads"

    def describe(self) -> str:
        unit = {60: "minute", 3600: "hour", 86400: "day"}.get(self.window_seconds, f"{self.window_seconds} s")
        return f"{self.limit} {self.what} per {unit}"


def consume(counters, subject: str, quota: Quota, now: datetime | None = None) -> int:
    """Count one use for `subject` (an import key id, ...); the uses left in this window, or
    QuotaExceededError when the window's limit is reached."""
    moment = (now or clock.now()).timestamp()
    window_start = int(moment // quota.window_seconds) * quota.window_seconds
    window_end = window_start + quota.window_seconds
    count = counters.increment_below(
        f"{subject}#{quota.kind}#{window_start}", quota.limit, expires_at=window_end + EXPIRY_MARGIN_SECONDS
    )
    if count is None:
        retry_after = max(1, math.ceil(window_end - moment))
        raise QuotaExceededError(
            f"quota exceeded: {quota.describe()} for this API key; retry in {retry_after} s", retry_after
        )
    return quota.limit - count
