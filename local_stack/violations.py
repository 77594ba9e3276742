"""What the local stack saw a function do that AWS would refuse or punish, kept for the tests.

The calls themselves fail as they would on AWS (an AccessDenied to the handler); recording them as
well lets the end-to-end suite fail even when a handler swallows the error (tests/e2e/conftest.py),
naming the function, what it did and on which resource.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

ACCESS_DENIED = "AccessDenied"
UNMAPPED_CALL = "UnmappedCall"
TMP_LEFTOVERS = "EphemeralStorageLeftovers"


@dataclass(frozen=True)
class Violation:
    principal: str  # the Lambda function's (or state machine's) name
    kind: str  # one of the kinds above
    action: str  # "s3:PutObject"; for leftovers, "write /tmp"
    resource: str  # the ARN, or the leftover files
    detail: str = ""  # AWS's wording of the refusal, or why it matters

    def __str__(self) -> str:
        text = f"{self.principal}: {self.kind} {self.action} on {self.resource}"
        return text + (f" ({self.detail})" if self.detail else "")


_lock = threading.Lock()
_recorded: list[Violation] = []


def record(violation: Violation) -> None:
    with _lock:
        _recorded.append(violation)


def recorded() -> list[Violation]:
    with _lock:
        return list(_recorded)


def take(matching: Callable[[Violation], bool] = lambda violation: True) -> list[Violation]:
    """Remove and return the recorded violations that match (all by default)."""
    with _lock:
        taken = [violation for violation in _recorded if matching(violation)]
        _recorded[:] = [violation for violation in _recorded if not matching(violation)]
        return taken
