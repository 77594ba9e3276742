"""local_stack/lambda_runtime.py ConcurrencyLimit: at most `limit` invocations at once, the rest wait
and start in arrival order, and the uncapped functions (the API's) never wait. Threads and events
decide every step; nothing here depends on timing."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from local_stack.lambda_runtime import ConcurrencyLimit
from tests.support.waiting import wait_until


def test_invocations_over_the_limit_wait_and_start_in_arrival_order():
    limit = ConcurrencyLimit(2, frozenset())
    started: list[int] = []
    finish = {number: threading.Event() for number in range(5)}

    def invocation(number: int) -> None:
        with limit.slot():
            started.append(number)
            finish[number].wait()

    threads = []
    for number in range(5):
        thread = threading.Thread(target=invocation, args=(number,))
        thread.start()
        threads.append(thread)
        # Arrival order is the order they asked: each asks once the one before holds or waits.
        wait_until(lambda n=number: len(started) + limit.waiting == n + 1, f"invocation {number} arrived")
    assert started == [0, 1] and (limit.in_flight, limit.waiting) == (2, 3)
    finish[1].set()
    wait_until(lambda: started == [0, 1, 2], "the longest waiting started")
    assert (limit.in_flight, limit.waiting) == (2, 2)
    # One ending at a time hands its slot to exactly one waiter, so the next start is decided by the
    # hand-over order, not by which of two woken threads the scheduler runs first.
    finish[0].set()
    wait_until(lambda: started == [0, 1, 2, 3], "the next longest waiting started")
    assert (limit.in_flight, limit.waiting) == (2, 1)
    finish[2].set()
    wait_until(lambda: started == [0, 1, 2, 3, 4], "the last waiting started")
    for number in (3, 4):
        finish[number].set()
    for thread in threads:
        thread.join()
    assert started == [0, 1, 2, 3, 4]
    assert (limit.in_flight, limit.waiting, limit.peak, limit.waited) == (0, 0, 2, 3)


def test_the_uncapped_functions_are_named_and_the_limit_is_positive():
    limit = ConcurrencyLimit(1, frozenset({"Api"}))
    assert not limit.caps(SimpleNamespace(function_name="Api"))
    assert limit.caps(SimpleNamespace(function_name="Load"))
    with pytest.raises(ValueError):
        ConcurrencyLimit(0, frozenset())
