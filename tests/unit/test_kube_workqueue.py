"""The work queue: de-duplication, one worker per key, delays on a fake clock, back-off, shutdown, workers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from controller.kube.clock import FakeClock
from controller.kube.ratelimit import ItemExponentialFailureRateLimiter
from controller.kube.workqueue import WorkQueue, run_workers

T = TypeVar("T")


def run(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(fn())


def fake_queue() -> tuple[WorkQueue, FakeClock]:
    clock = FakeClock()
    return WorkQueue(name="test", clock=clock), clock


async def drain(queue: WorkQueue) -> list[str]:
    """Take (and finish) everything queued now, without waiting."""
    out: list[str] = []
    while len(queue):
        key = await queue.get()
        assert key is not None
        out.append(key)
        queue.done(key)
    return out


def test_adding_a_key_twice_queues_it_once_in_fifo_order() -> None:
    async def main() -> list[str]:
        queue, _ = fake_queue()
        for key in ("ns/a", "ns/b", "ns/a", "ns/c", "ns/b"):
            queue.add(key)
        assert len(queue) == 3 and queue.adds_total == 3
        return await drain(queue)

    assert run(main) == ["ns/a", "ns/b", "ns/c"]


def test_a_key_added_while_processing_is_queued_again_only_after_done() -> None:
    async def main() -> None:
        queue, _ = fake_queue()
        queue.add("ns/a")
        key = await queue.get()
        assert key == "ns/a" and queue.processing == 1
        queue.add("ns/a")
        queue.add("ns/a")
        # held by a worker: not handed to a second one
        assert len(queue) == 0
        queue.done("ns/a")
        assert len(queue) == 1
        assert await queue.get() == "ns/a"
        queue.done("ns/a")
        assert len(queue) == 0 and queue.processing == 0

    run(main)


def test_add_after_waits_on_the_clock_and_the_earliest_schedule_wins() -> None:
    async def main() -> None:
        queue, clock = fake_queue()
        queue.add_after("ns/a", 10)
        queue.add_after("ns/a", 30)  # later: ignored
        queue.add_after("ns/b", 20)
        queue.add_after("ns/b", 5)  # earlier: replaces 20
        assert (len(queue), queue.waiting) == (0, 2)
        clock.advance(4.9)
        assert len(queue) == 0
        clock.advance(0.2)
        assert await drain(queue) == ["ns/b"]
        clock.advance(5)
        assert await drain(queue) == ["ns/a"]
        clock.advance(100)  # the superseded schedules fire nothing
        assert len(queue) == 0 and queue.waiting == 0

    run(main)


def test_add_after_with_no_delay_adds_at_once() -> None:
    async def main() -> None:
        queue, _ = fake_queue()
        queue.add_after("ns/a", 0)
        assert len(queue) == 1

    run(main)


def test_rate_limited_adds_back_off_exponentially_until_forgotten() -> None:
    async def main() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock=clock, rate_limiter=ItemExponentialFailureRateLimiter(0.005, 1000))
        for expected in (0.005, 0.01, 0.02, 0.04):
            queue.add_rate_limited("ns/a")
            clock.advance(expected * 0.99)
            assert len(queue) == 0, f"queued before {expected}s"
            clock.advance(expected * 0.02)
            assert await drain(queue) == ["ns/a"]
        assert queue.num_requeues("ns/a") == 4
        assert queue.retries_total == 4
        queue.forget("ns/a")
        assert queue.num_requeues("ns/a") == 0
        queue.add_rate_limited("ns/a")
        clock.advance(0.0051)
        assert await drain(queue) == ["ns/a"]

    run(main)


def test_get_waits_for_an_add_and_shutdown_releases_idle_getters() -> None:
    async def main() -> tuple[str | None, list[str | None]]:
        queue, _ = fake_queue()
        waiting = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        queue.add("ns/a")
        first = await asyncio.wait_for(waiting, 1)
        idle = [asyncio.create_task(queue.get()) for _ in range(3)]
        await asyncio.sleep(0)
        queue.shutdown()
        return first, await asyncio.wait_for(asyncio.gather(*idle), 1)

    first, after = run(main)
    assert first == "ns/a"
    assert after == [None, None, None]


def test_shutdown_drains_queued_keys_then_refuses_adds_and_cancels_schedules() -> None:
    async def main() -> None:
        queue, clock = fake_queue()
        queue.add("ns/a")
        queue.add_after("ns/b", 1)
        queue.shutdown()
        assert queue.shutting_down and clock.pending == 0
        queue.add("ns/c")
        queue.add_after("ns/d", 1)
        queue.add_rate_limited("ns/e")
        assert await queue.get() == "ns/a"  # what was queued is still handed out
        queue.done("ns/a")
        clock.advance(10)
        assert await queue.get() is None

    run(main)


def test_a_cancelled_getter_does_not_swallow_a_key() -> None:
    async def main() -> str | None:
        queue, _ = fake_queue()
        doomed = asyncio.create_task(queue.get())
        survivor = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        queue.add("ns/a")  # wakes the first getter ...
        doomed.cancel()  # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return await asyncio.wait_for(survivor, 1)

    assert run(main) == "ns/a"


# -- workers ---------------------------------------------------------------------------------------


def test_workers_never_process_one_key_concurrently_and_see_every_change() -> None:
    async def main() -> tuple[int, dict[str, int]]:
        queue = WorkQueue(name="workers")
        active: set[str] = set()
        overlaps = 0
        seen: dict[str, int] = {}
        versions = {f"ns/k{i}": 0 for i in range(5)}

        async def handler(key: str) -> float | None:
            nonlocal overlaps
            if key in active:
                overlaps += 1
            active.add(key)
            observed = versions[key]
            await asyncio.sleep(0.002)
            active.discard(key)
            seen[key] = observed
            return None

        workers = asyncio.create_task(run_workers(queue, 4, handler))
        for round_ in range(1, 21):
            for key in versions:
                versions[key] = round_
                queue.add(key)
            await asyncio.sleep(0.001)
        for _ in range(1000):
            if not (len(queue) or queue.processing):
                break
            await asyncio.sleep(0.005)
        queue.shutdown()
        await asyncio.wait_for(workers, 5)
        return overlaps, seen

    overlaps, seen = run(main)
    assert overlaps == 0
    # the last change of every key was processed after it happened
    assert seen == {f"ns/k{i}": 20 for i in range(5)}


def test_worker_requeues_after_the_handlers_delay_and_retries_failures() -> None:
    async def main() -> tuple[list[str], list[tuple[str, str]], int]:
        queue = WorkQueue(rate_limiter=ItemExponentialFailureRateLimiter(0.001, 1.0))
        calls: list[str] = []
        errors: list[tuple[str, str]] = []
        failures = {"ns/flaky": 2}

        async def handler(key: str) -> float | None:
            calls.append(key)
            if failures.get(key):
                failures[key] -= 1
                raise RuntimeError(f"boom {key}")
            if key == "ns/wait" and calls.count(key) == 1:
                return 0.02  # not ready yet: look again shortly
            return None

        workers = asyncio.create_task(
            run_workers(queue, 2, handler, on_error=lambda k, e: errors.append((k, str(e))))
        )
        queue.add("ns/flaky")
        queue.add("ns/wait")
        for _ in range(200):
            if calls.count("ns/flaky") == 3 and calls.count("ns/wait") == 2:
                break
            await asyncio.sleep(0.005)
        requeues = queue.num_requeues("ns/flaky")
        queue.shutdown()
        await asyncio.wait_for(workers, 5)
        return calls, errors, requeues

    calls, errors, requeues = run(main)
    assert calls.count("ns/flaky") == 3  # two failures, then success
    assert calls.count("ns/wait") == 2  # the scheduled second look
    assert errors == [("ns/flaky", "boom ns/flaky")] * 2
    assert requeues == 0  # forgotten after the success


def test_cancelling_workers_marks_the_held_key_done() -> None:
    async def main() -> int:
        queue = WorkQueue()
        started = asyncio.Event()

        async def handler(key: str) -> float | None:
            started.set()
            await asyncio.sleep(60)
            return None

        queue.add("ns/a")
        workers = asyncio.create_task(run_workers(queue, 1, handler))
        await asyncio.wait_for(started.wait(), 1)
        workers.cancel()
        with pytest.raises(asyncio.CancelledError):
            await workers
        return queue.processing

    assert run(main) == 0


def test_run_workers_needs_a_worker() -> None:
    async def main() -> None:
        handler: Callable[[str], Awaitable[float | None]] = lambda key: asyncio.sleep(0, None)  # noqa: E731
        await run_workers(WorkQueue(), 0, handler)

    with pytest.raises(ValueError, match="at least one worker"):
        run(main)
