"""Rate limiter maths: client-go's DefaultControllerRateLimiter, on a fake clock."""

from __future__ import annotations

import pytest

from controller.kube.clock import FakeClock
from controller.kube.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


def test_exponential_doubles_from_5ms_per_key_and_caps_at_1000s() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    delays = [limiter.when("ns/a") for _ in range(20)]
    assert delays[:5] == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    # 0.005 * 2**17 = 655.36 s, 2**18 would be 1310.72: capped
    assert delays[17] == pytest.approx(655.36)
    assert delays[18:] == [1000.0, 1000.0]
    assert limiter.num_requeues("ns/a") == 20
    # keys back off independently
    assert limiter.when("ns/b") == pytest.approx(0.005)


def test_exponential_survives_very_many_failures_and_forget_resets() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(3000):
        delay = limiter.when("ns/a")
    assert delay == 1000.0
    limiter.forget("ns/a")
    assert limiter.num_requeues("ns/a") == 0
    assert limiter.when("ns/a") == pytest.approx(0.005)


def test_bucket_allows_a_burst_then_spaces_retries_at_qps() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(10.0, 100, clock=clock)
    burst = [bucket.when(f"k{i}") for i in range(100)]
    assert burst == [0.0] * 100
    # the bucket is empty: each further token is borrowed 0.1 s further ahead
    assert [bucket.when(f"x{i}") for i in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    # one second later 10 tokens have refilled, 3 of them already promised
    clock.advance(1.0)
    assert [bucket.when(f"y{i}") for i in range(8)] == pytest.approx([0.0] * 7 + [0.1])
    assert bucket.num_requeues("y0") == 0


def test_bucket_refills_no_further_than_its_burst() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(10.0, 5, clock=clock)
    for i in range(5):
        bucket.when(str(i))
    clock.advance(3600)
    assert [bucket.when(str(i)) for i in range(6)] == pytest.approx([0.0] * 5 + [0.1])


def test_bucket_needs_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError, match="qps"):
        BucketRateLimiter(0, 1, clock=FakeClock())
    with pytest.raises(ValueError, match="burst"):
        BucketRateLimiter(1, 0, clock=FakeClock())


def test_max_of_takes_the_longest_wait_and_forgets_in_all() -> None:
    a = ItemExponentialFailureRateLimiter(1.0, 100.0)
    b = ItemExponentialFailureRateLimiter(0.5, 100.0)
    limiter = MaxOfRateLimiter(a, b)
    assert [limiter.when("k") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert limiter.num_requeues("k") == 3
    limiter.forget("k")
    assert (a.num_requeues("k"), b.num_requeues("k")) == (0, 0)
    with pytest.raises(ValueError, match="at least one"):
        MaxOfRateLimiter()


def test_default_controller_rate_limiter_is_per_key_backoff_under_an_overall_bucket() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    # one key failing: the per-key back-off rules (the bucket has tokens)
    assert [limiter.when("ns/a") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    # many keys failing at once: after the burst of 100, the 10 qps bucket rules
    waits = [limiter.when(f"ns/k{i}") for i in range(110)]
    assert max(waits[:97]) == pytest.approx(0.005)
    assert waits[-1] == pytest.approx(1.3)
