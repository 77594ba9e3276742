"""The local API Gateway's per-key throttle: a token bucket of the usage plan's rate and burst."""

from __future__ import annotations

import threading

from local_stack.api_gateway import TokenBucket


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_burst_then_the_steady_rate():
    clock = Clock()
    bucket = TokenBucket(rate_per_second=25, burst=50, clock=clock)
    assert sum(bucket.take() for _ in range(80)) == 50  # the burst, at one instant
    clock.now += 0.2  # 0.2 s at 25/s: 5 more
    assert sum(bucket.take() for _ in range(20)) == 5
    clock.now += 0.039  # under one request's worth
    assert bucket.take() is False
    clock.now += 0.002
    assert bucket.take() is True


def test_an_idle_bucket_refills_only_up_to_the_burst():
    clock = Clock()
    bucket = TokenBucket(rate_per_second=1, burst=3, clock=clock)
    for _ in range(3):
        assert bucket.take()
    assert not bucket.take()
    clock.now += 3600
    assert sum(bucket.take() for _ in range(10)) == 3


def test_concurrent_takers_never_exceed_the_burst():
    bucket = TokenBucket(rate_per_second=0.001, burst=20)
    admitted: list[bool] = []
    start = threading.Barrier(8)

    def take_many():
        start.wait()
        admitted.extend(bucket.take() for _ in range(10))

    threads = [threading.Thread(target=take_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(admitted) == 80 and admitted.count(True) == 20
