"""Stage: the per-box rate limit, on an injected clock."""

from __future__ import annotations

import pytest

from collector.ratelimit import RateLimited, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_box_waits_for_its_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(points_per_s=10, burst=100, clock=clock)
    limiter.admit("jbox-0001", 100)
    with pytest.raises(RateLimited, match=r"retry after 5\.0s") as refused:
        limiter.admit("jbox-0001", 50)
    assert refused.value.retry_after_s == pytest.approx(5.0)
    limiter.admit("jbox-0002", 100)  # another box has its own bucket
    clock.now += 5
    limiter.admit("jbox-0001", 50)


def test_a_request_bigger_than_the_bucket_passes_on_a_full_bucket() -> None:
    limiter = RateLimiter(points_per_s=10, burst=100, clock=Clock())
    limiter.admit("jbox-0001", 500)
    with pytest.raises(RateLimited):
        limiter.admit("jbox-0001", 1)
