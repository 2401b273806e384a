"""The token bucket in the database holds every worker sharing it to the quota (BatchMeterUsage: 10 requests a
second per seller, the API reference's "Service quotas" for AWS Marketplace Metering Service)."""

from __future__ import annotations

import threading
import time

from mplink.adapters.store.pacing import SqlTokenBucket
from mplink.adapters.store.uow import Store


def test_several_workers_together_stay_within_the_quota(store: Store) -> None:
    """Three workers, each with its own bucket object (as separate processes have), take 15 tokens each at
    20/s: no one-second window holds more calls than the rate plus the one token a full bucket keeps."""
    rate, workers, calls = 20.0, 3, 15
    taken: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        bucket = SqlTokenBucket(store.engine, name="test-bucket", rate=rate)
        for _ in range(calls):
            bucket.acquire()
            with lock:
                taken.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    taken.sort()
    assert len(taken) == workers * calls
    busiest = max(sum(1 for u in taken if s <= u < s + 1.0) for s in taken)
    assert busiest <= rate + 1


def test_a_throttle_holds_every_sharer_back(store: Store) -> None:
    """After a ThrottlingException the bucket owes time: the next call of any worker waits for it."""
    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    one = SqlTokenBucket(store.engine, name="throttle", rate=10.0, clock=lambda: now[0], sleep=sleep)
    other = SqlTokenBucket(store.engine, name="throttle", rate=10.0, clock=lambda: now[0], sleep=sleep)
    one.acquire()  # the full bucket's token
    one.throttled()
    other.acquire()
    assert sum(slept) >= 0.2 - 1e-9  # the penalty (one call's worth) and the token itself, at 10/s
