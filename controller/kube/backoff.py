"""Jittered exponential back-off, shared by the client's retries, the informer and the elector."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays that double from ``initial`` up to ``cap``, each stretched by up to ``jitter``.

    With ``jitter=1.0`` a delay ``d`` becomes a value in ``[d, 2d)``, as client-go's
    ``wait.Jitter``; ``reset()`` starts over after a success.
    """

    #: seconds before the first retry
    initial: float = 0.8
    #: the longest delay, before jitter
    cap: float = 30.0
    #: growth per failure
    factor: float = 2.0
    #: extra fraction of the delay added at random (0: none)
    jitter: float = 1.0
    #: the random source, in [0, 1) (settable for tests)
    rng: Callable[[], float] = field(default=random.random, repr=False)
    _failures: int = field(default=0, init=False, repr=False)

    def next(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        base = min(self.cap, self.initial * self.factor ** min(self._failures, 64))
        self._failures += 1
        return base * (1.0 + self.jitter * self.rng())

    def reset(self) -> None:
        """Forget past failures: the next delay is ``initial`` again."""
        self._failures = 0

    @property
    def failures(self) -> int:
        """Failures counted since the last reset."""
        return self._failures
