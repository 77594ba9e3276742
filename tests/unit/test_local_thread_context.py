"""The local stack's threads: a thread started for a Lambda invocation or a Step Functions execution
works for the same principal, and every thread that ends gives its stack back.

The second is what kept CI from finishing: moto's interpreter and werkzeug leave ended threads in
reference cycles, each unjoined thread kept its 8 MiB stack mapped until the garbage collector's rare
full pass, and a test worker reached the kernel's 65,530 maps, after which it could start no thread.
"""

from __future__ import annotations

import gc
import threading

from local_stack import thread_context
from local_stack.thread_context import Principal
from tests.support.waiting import wait_until

WORKER = Principal("Load", "arn:aws:iam::123456789012:role/load", "function")


def _mapped_regions() -> int:
    with open("/proc/self/maps") as maps:
        return sum(1 for _ in maps)


def test_a_thread_started_for_an_invocation_works_for_it_and_a_plain_one_for_nobody():
    thread_context.install()
    seen: dict[str, object] = {}

    def record(name: str) -> None:
        seen[name] = thread_context.current_principal()

    with thread_context.working_for(WORKER):
        inside = threading.Thread(target=record, args=("inside",))
        inside.start()
    outside = threading.Thread(target=record, args=("outside",))
    outside.start()
    inside.join(), outside.join()
    assert seen == {"inside": WORKER, "outside": None}


def test_ended_threads_left_in_reference_cycles_give_their_stacks_back_without_the_garbage_collector():
    thread_context.install()
    before_joined, before_maps = thread_context.joined_threads(), _mapped_regions()
    gc.disable()  # as good as never running a full collection, as in a long test worker
    try:
        for index in range(1_000):
            thread = threading.Thread(target=lambda: None)
            thread.cycle = thread  # type: ignore[attr-defined]  # as moto's and werkzeug's threads end up
            if index % 2:
                with thread_context.working_for(WORKER):
                    thread.start()
            else:
                thread.start()
            del thread
        wait_until(lambda: thread_context.joined_threads() >= before_joined + 1_000, "the ended threads joined", 60)
        # Unjoined, the 1,000 threads would hold 2,000 more regions (a stack and its guard page each).
        assert _mapped_regions() < before_maps + 200
    finally:
        gc.enable()
        gc.collect()
