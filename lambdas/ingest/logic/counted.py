"""Writes that change a per-account counter in the same DynamoDB transaction (tokens, audiences).

Such a write is refused when the counter is at its bound, when its own condition on the item fails,
or when the account has no counter yet (its first item, or items that predate the counter). In the
last case the counter is started from what the account holds - a conditional put, so one starter
wins and a counter already there is left alone - and the write decides once more.
"""

from __future__ import annotations

from collections.abc import Callable


def counted_write(write: Callable[[], bool], start_counter: Callable[[], object]) -> bool:
    """True when `write` (a counted transaction: True if it went through) went through."""
    if write():
        return True
    start_counter()
    return write()
