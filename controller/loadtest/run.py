"""Sending the load: open-loop pacing, a new connection per request unless asked to keep alive.

Requests start on a fixed schedule (request *i* at ``i / rps`` seconds), whether or not earlier
ones have answered, so a slow target shows as latency rather than as a lower request rate; at
most ``concurrency`` are in flight, and a schedule that falls behind catches up. Each request
opens its own TCP connection by default, so a proxy that balances per connection (kube-proxy,
localcluster's Service proxies) shows its real split.

A test against a target that never answers stops early: once :data:`GIVE_UP_AFTER`
requests have failed and :data:`GIVE_UP_SECONDS` have passed without any answer at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

import aiohttp

from controller.loadtest.summary import Result, Summary, label_body, summarize

DEFAULT_RPS = 20.0
DEFAULT_DURATION = 30.0
DEFAULT_CONCURRENCY = 50
DEFAULT_TIMEOUT = 10.0
#: seconds between two ``on_tick`` calls (the live view's redraw)
TICK = 0.25
#: failed requests, with nothing answered yet, after which the target is deemed unreachable
GIVE_UP_AFTER = 5
#: seconds without any answer (and GIVE_UP_AFTER failures) after which the test gives up
GIVE_UP_SECONDS = 1.0
#: bytes of each answer read to find its version
MAX_BODY = 64 * 1024
USER_AGENT = "rollouts-load-test"

OnTick = Callable[[Summary], None]


def describe_exception(e: BaseException) -> tuple[str, str]:
    """(kind, message) of a request that got no answer: ``connection refused``, ``timeout``, ..."""
    if isinstance(e, aiohttp.ClientConnectorError):
        os_error = e.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return "connection refused", f"{e} (connection refused)"
        reason = (os_error.strerror or "").lower() if isinstance(os_error, OSError) else ""
        return (f"cannot connect ({reason})" if reason else "cannot connect"), str(e)
    if isinstance(e, TimeoutError):
        return "timeout", "no answer in time"
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return "disconnected", "the server closed the connection without answering"
    if isinstance(e, aiohttp.ClientOSError):
        return "connection reset", str(e) or "connection reset"
    if isinstance(e, aiohttp.ClientPayloadError):
        return "bad response", str(e) or "incomplete response body"
    return type(e).__name__, str(e) or type(e).__name__


class LoadTest:
    """One load test against one URL; ``await run()`` sends it and returns the final summary."""

    def __init__(
        self,
        target: str,
        *,
        rps: float = DEFAULT_RPS,
        duration: float = DEFAULT_DURATION,
        concurrency: int = DEFAULT_CONCURRENCY,
        keep_alive: bool = False,
        request_timeout: float = DEFAULT_TIMEOUT,
        give_up_if_unreachable: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if rps <= 0:
            raise ValueError(f"the request rate must be positive, not {rps:g}")
        if duration <= 0:
            raise ValueError(f"the duration must be positive, not {duration:g}s")
        if concurrency < 1:
            raise ValueError(f"the concurrency must be at least 1, not {concurrency}")
        self.target = target
        self.rps = rps
        self.duration = duration
        self.concurrency = concurrency
        self.keep_alive = keep_alive
        self.request_timeout = request_timeout
        self.give_up_if_unreachable = give_up_if_unreachable
        #: extra request headers (``Host`` for an Ingress rule, a canary header, ...)
        self.headers = dict(headers or {})
        self.results: list[Result] = []
        self._stop = asyncio.Event()
        self._start: float | None = None
        self._sent_until: float | None = None
        self._answered = 0

    def stop(self) -> None:
        """End the test early (e.g. on Ctrl-C): no new requests; those in flight finish."""
        self._stop.set()

    def summary(self) -> Summary:
        """The summary of what has been recorded so far."""
        elapsed = 0.0
        if self._start is not None:
            now = self._sent_until if self._sent_until is not None else asyncio.get_running_loop().time()
            elapsed = min(now - self._start, self.duration)
        return summarize(
            self.results, target=self.target, elapsed=elapsed, target_rps=self.rps, duration=self.duration
        )

    async def run(self, on_tick: OnTick | None = None) -> Summary:
        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=not self.keep_alive)
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            headers={"User-Agent": USER_AGENT, **self.headers},
        ) as session:
            self._start = asyncio.get_running_loop().time()
            ticker = asyncio.create_task(self._tick(on_tick)) if on_tick is not None else None
            try:
                await self._send(session)
            finally:
                if ticker is not None:
                    ticker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await ticker
        summary = self.summary()
        if on_tick is not None:
            on_tick(summary)
        return summary

    async def _tick(self, on_tick: OnTick) -> None:
        while True:
            await asyncio.sleep(TICK)
            on_tick(self.summary())

    async def _sleep_until(self, when: float) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            delay = when - loop.time()
            if delay <= 0:
                return
            await asyncio.sleep(min(delay, 0.1))

    async def _send(self, session: aiohttp.ClientSession) -> None:
        assert self._start is not None
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.concurrency)
        in_flight: set[asyncio.Task[None]] = set()
        end = self._start + self.duration
        i = 0
        try:
            while not self._stop.is_set():
                due = self._start + i / self.rps
                if due >= end:
                    break
                await self._sleep_until(due)
                await slots.acquire()
                if self._stop.is_set():
                    slots.release()
                    break
                task = asyncio.create_task(self._one(session, slots))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                i += 1
            self._sent_until = min(loop.time(), end)
            if in_flight:
                await asyncio.gather(*in_flight)
        finally:
            for task in in_flight:
                task.cancel()

    async def _one(self, session: aiohttp.ClientSession, slots: asyncio.Semaphore) -> None:
        assert self._start is not None
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            async with session.get(self.target) as resp:
                body = await resp.content.read(MAX_BODY)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            kind, detail = describe_exception(e)
            self.results.append(Result(began - self._start, loop.time() - began, error=kind, detail=detail))
            if (
                self.give_up_if_unreachable
                and not self._answered
                and len(self.results) >= GIVE_UP_AFTER
                and loop.time() - self._start >= GIVE_UP_SECONDS
            ):
                self._stop.set()
            return
        finally:
            slots.release()
        self._answered += 1
        version, color = label_body(body)
        self.results.append(
            Result(
                began - self._start,
                loop.time() - began,
                status=status,
                version=version,
                color=color,
                error=f"HTTP {status}" if status >= 400 else None,
            )
        )


async def run_load_test(
    target: str,
    *,
    rps: float = DEFAULT_RPS,
    duration: float = DEFAULT_DURATION,
    concurrency: int = DEFAULT_CONCURRENCY,
    keep_alive: bool = False,
    on_tick: OnTick | None = None,
    request_timeout: float = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> Summary:
    """Send ``rps`` requests a second to ``target`` for ``duration`` seconds; the summary.

    ``on_tick`` is called with the running summary about four times a second, and once more
    with the final one. ``summary.reachable`` is False when nothing answered.
    """
    test = LoadTest(
        target,
        rps=rps,
        duration=duration,
        concurrency=concurrency,
        keep_alive=keep_alive,
        request_timeout=request_timeout,
        headers=headers,
    )
    return await test.run(on_tick)
