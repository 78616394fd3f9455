"""A de-duplicating, delaying, rate-limited work queue of keys, as client-go's ``workqueue``.

The guarantees a controller builds on:

- a key is queued at most once however often it is added (de-duplication);
- a key is never handed to two workers at once: adding a key while a worker holds it marks it
  dirty, and :meth:`WorkQueue.done` queues it again then;
- :meth:`WorkQueue.add_after` schedules a key; of several schedules the earliest wins;
- :meth:`WorkQueue.add_rate_limited` schedules a failed key after its rate limiter's delay
  (:func:`~controller.kube.ratelimit.default_controller_rate_limiter` by default), and
  :meth:`WorkQueue.forget` starts its back-off over after a success;
- :meth:`WorkQueue.shutdown` stops new adds and cancels schedules; workers still drain what is
  queued (as client-go's ``ShutDown``), then :meth:`WorkQueue.get` returns None.

:func:`run_workers` runs a fixed pool of workers over a queue; a handler returns the seconds
after which to look at the key again (a scheduled requeue is how a controller waits), or None.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable

from controller.kube.clock import Clock, LoopClock, Timer
from controller.kube.ratelimit import RateLimiter, default_controller_rate_limiter

log = logging.getLogger(__name__)

#: ``await handler(key)``: reconcile ``key``; the seconds until it should be looked at again, or None
Handler = Callable[[str], Awaitable[float | None]]
#: ``on_error(key, error)``: a handler failed (the key is retried with back-off)
ErrorObserver = Callable[[str, Exception], None]


class WorkQueue:
    """Keys (``namespace/name``) waiting for a worker; see the module docstring for the rules."""

    def __init__(
        self, *, name: str = "queue", rate_limiter: RateLimiter | None = None, clock: Clock | None = None
    ) -> None:
        self.name = name
        self.clock: Clock = clock or LoopClock()
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter(self.clock)
        self._queue: collections.deque[str] = collections.deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: dict[str, tuple[float, Timer]] = {}
        self._getters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._shutting_down = False
        #: keys that :meth:`add` marked for processing (duplicates of a queued key not counted)
        self.adds_total = 0
        #: keys sent back by :meth:`add_rate_limited`, for metrics
        self.retries_total = 0

    # -- adding --------------------------------------------------------------------------------

    def add(self, key: str) -> None:
        """Queue ``key`` now, unless it is already queued (or held: then it is queued at ``done``)."""
        if self._shutting_down or key in self._dirty:
            return
        self.adds_total += 1
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier schedule of the same key wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self.clock.now() + delay
        existing = self._waiting.get(key)
        if existing is not None:
            if existing[0] <= ready_at:
                return
            existing[1].cancel()
        timer = self.clock.call_later(delay, lambda: self._ready(key, ready_at))
        self._waiting[key] = (ready_at, timer)

    def _ready(self, key: str, ready_at: float) -> None:
        entry = self._waiting.get(key)
        if entry is not None and entry[0] == ready_at:
            del self._waiting[key]
            self.add(key)

    def add_rate_limited(self, key: str) -> None:
        """Queue ``key`` again after its rate limiter's delay (one more failure counted)."""
        if self._shutting_down:
            return
        self.retries_total += 1
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: str) -> None:
        """``key`` succeeded: its next failure backs off from the start."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: str) -> int:
        """Failures counted for ``key`` since it was last forgotten."""
        return self.rate_limiter.num_requeues(key)

    # -- taking --------------------------------------------------------------------------------

    async def get(self) -> str | None:
        """The next key, held until :meth:`done`; None once shut down and drained."""
        loop = asyncio.get_running_loop()
        while not self._queue:
            if self._shutting_down:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                with contextlib.suppress(ValueError):
                    self._getters.remove(waiter)
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass the wake-up on to another getter
                raise
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        """The worker has finished with ``key``; if it was added meanwhile, it is queued again."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- stopping and looking ------------------------------------------------------------------

    def shutdown(self) -> None:
        """Accept no more keys, cancel scheduled ones, and wake idle workers so they can exit."""
        self._shutting_down = True
        for _, timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys queued and not yet taken by a worker (client-go's queue depth)."""
        return len(self._queue)

    @property
    def processing(self) -> int:
        """Keys held by workers now."""
        return len(self._processing)

    @property
    def waiting(self) -> int:
        """Keys scheduled for later (by ``add_after`` or ``add_rate_limited``)."""
        return len(self._waiting)


async def run_workers(
    queue: WorkQueue, n: int, handler: Handler, *, on_error: ErrorObserver | None = None
) -> None:
    """Run ``n`` workers over ``queue`` until it is shut down and drained (or this is cancelled).

    Each worker takes a key, awaits ``handler(key)`` and then: on success forgets the key's
    back-off and, when the handler returned a delay, schedules the key after it; on an
    exception retries the key with rate-limited back-off. The key is always marked done.
    """
    if n < 1:
        raise ValueError("run_workers needs at least one worker")
    async with asyncio.TaskGroup() as group:
        for i in range(n):
            group.create_task(_work(queue, handler, on_error), name=f"{queue.name}-worker-{i}")


async def _work(queue: WorkQueue, handler: Handler, on_error: ErrorObserver | None) -> None:
    while (key := await queue.get()) is not None:
        try:
            requeue_after = await handler(key)
        except Exception as e:
            if on_error is not None:
                on_error(key, e)
            else:
                log.exception("%s: syncing %s failed; it will be retried", queue.name, key)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
            if requeue_after is not None:
                queue.add_after(key, requeue_after)
        finally:
            queue.done(key)
