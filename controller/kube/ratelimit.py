"""How long a failed work-queue key waits before it is retried (client-go's ``workqueue`` limiters).

:func:`default_controller_rate_limiter` is client-go's ``DefaultControllerRateLimiter``: the
larger of a per-key exponential back-off (5 ms doubling per failure, capped at 1000 s) and an
overall token bucket (10 retries a second, bursts of 100) that bounds the retry rate of the
whole queue. (Argo Rollouts itself uses 1 ms to 10 s per key; a controller can pass its own.)
"""

from __future__ import annotations

from typing import Protocol

from controller.kube.clock import Clock, LoopClock


class RateLimiter(Protocol):
    """Decides each key's wait before a retry, and forgets keys that succeeded."""

    def when(self, key: str) -> float:
        """Seconds ``key`` should wait before its next retry (counts one more failure)."""
        ...

    def forget(self, key: str) -> None:
        """``key`` succeeded (or was given up on): start its back-off over."""
        ...

    def num_requeues(self, key: str) -> int:
        """Failures counted for ``key`` since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """``base_delay * 2**failures`` per key, capped at ``max_delay``."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[str, int] = {}

    def when(self, key: str) -> float:
        exp = self._failures.get(key, 0)
        self._failures[key] = exp + 1
        if exp >= 1024:  # 2**exp would overflow a float; long past the cap anyway
            return self.max_delay
        return min(self.max_delay, self.base_delay * 2.0**exp)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """A token bucket over all keys (golang.org/x/time/rate's ``Reserve``): ``qps`` refill, ``burst`` size.

    Each call takes a token, borrowing from the future when the bucket is empty; the wait is
    the time until the borrowed token would have been there.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock | None = None) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("a token bucket needs qps > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self.clock = clock or LoopClock()
        self._tokens = float(burst)
        self._last: float | None = None

    def when(self, key: str) -> float:
        now = self.clock.now()
        if self._last is not None and now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        if self._last is None or now > self._last:
            self._last = now
        self._tokens -= 1.0
        return -self._tokens / self.qps if self._tokens < 0 else 0.0

    def forget(self, key: str) -> None:
        """The bucket is shared by all keys: nothing to forget."""

    def num_requeues(self, key: str) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest wait any of ``limiters`` asks for (each one counts the failure)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, key: str) -> float:
        return max(limiter.when(key) for limiter in self.limiters)

    def forget(self, key: str) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: str) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: max(5 ms..1000 s per key, 10 qps / 100 burst)."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock=clock),
    )
