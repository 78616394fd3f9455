"""Benchmark of the localcluster API server: GET, LIST (1,000 objects), PATCH, watch latency.

The server runs as its own process (``python -m localcluster serve``); this script is the load
generator, and the 20 watchers run in a third process, so no measurement shares an event loop
with the server. Throughput is the median of three rounds; latency percentiles come from every
event of one run.

    python bench/apiserver.py                 # prints a Markdown table and writes JSON
    python bench/apiserver.py --seconds 5     # longer rounds

Targets on a 2-core machine: >= 2,000 GET/s, >= 500 PATCH/s, watch delivery p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import ssl
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from _server import start_server, stop_server  # bench/_server.py (run from bench/)

NAMESPACE = "bench"
OBJECTS = 1000
WATCHERS = 20


async def seed(session: aiohttp.ClientSession, url: str) -> None:
    await session.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}})
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with sem:
            body = {"metadata": {"name": f"cm-{i:04d}", "labels": {"bench": "yes"}}, "data": {"i": str(i)}}
            async with session.post(f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps", json=body) as r:
                assert r.status in (201, 409), await r.text()

    await asyncio.gather(*(one(i) for i in range(OBJECTS)))


async def throughput(
    op: Callable[[int], Awaitable[None]], *, workers: int, seconds: float
) -> tuple[float, list[float]]:
    """Requests per second over ``seconds`` with ``workers`` concurrent clients, and latencies."""
    stop = time.monotonic() + seconds
    done = 0
    latencies: list[float] = []

    async def worker(w: int) -> None:
        nonlocal done
        i = w
        while time.monotonic() < stop:
            t0 = time.monotonic()
            await op(i)
            latencies.append(time.monotonic() - t0)
            done += 1
            i += workers

    started = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    return done / (time.monotonic() - started), latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def watcher_process(url: str, token: str, ca: str, rv: str, expected: int, out: Any) -> None:
    """Run WATCHERS watches; report each event's delivery latency (send time is in the object)."""

    async def main() -> list[float]:
        latencies: list[float] = []
        headers = {"Authorization": f"Bearer {token}"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
        connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=ca))
        async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as session:
            ready = 0

            async def watch() -> None:
                nonlocal ready
                path = f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps"
                params = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": "120"}
                async with session.get(path, params=params) as resp:
                    ready += 1
                    seen = 0
                    async for line in resp.content:
                        event = json.loads(line)
                        sent = event["object"]["metadata"].get("annotations", {}).get("bench/sent")
                        if sent:
                            latencies.append(time.time() - float(sent))
                            seen += 1
                            if seen >= expected:
                                return

            tasks = [asyncio.create_task(watch()) for _ in range(WATCHERS)]
            while ready < WATCHERS:  # noqa: ASYNC110 - a counter of open streams, polled briefly
                await asyncio.sleep(0.01)
            out.put("ready")
            await asyncio.gather(*tasks)
        return latencies

    out.put(asyncio.run(main()))


async def run(seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, token = start_server(Path(tmp))
        try:
            headers = {"Authorization": f"Bearer {token}"}
            ca = str(Path(tmp) / "ca.crt")
            conn = aiohttp.TCPConnector(limit=64, ssl=ssl.create_default_context(cafile=ca))
            async with aiohttp.ClientSession(headers=headers, connector=conn) as session:
                await seed(session, url)
                base = f"{url}/api/v1/namespaces/{NAMESPACE}/configmaps"

                async def get(i: int) -> None:
                    async with session.get(f"{base}/cm-{i % OBJECTS:04d}") as r:
                        await r.read()
                        assert r.status == 200

                async def list_all(i: int) -> None:
                    async with session.get(base) as r:
                        body = await r.json()
                        assert len(body["items"]) == OBJECTS

                async def patch(i: int) -> None:
                    body = {"metadata": {"annotations": {"bench/n": str(i)}}}
                    async with session.patch(
                        f"{base}/cm-{i % OBJECTS:04d}",
                        data=json.dumps(body),
                        headers={"Content-Type": "application/merge-patch+json"},
                    ) as r:
                        await r.read()
                        assert r.status == 200

                results: dict[str, Any] = {}
                for name, op, workers in (
                    ("GET", get, 16),
                    ("LIST (1,000 objects)", list_all, 4),
                    ("PATCH", patch, 16),
                ):
                    rounds = [await throughput(op, workers=workers, seconds=seconds) for _ in range(3)]
                    rates = [r for r, _ in rounds]
                    lat = [x for _, ls in rounds for x in ls]
                    results[name] = {
                        "per_second_median": statistics.median(rates),
                        "rounds": rates,
                        "latency_p50_ms": pct(lat, 50) * 1000,
                        "latency_p99_ms": pct(lat, 99) * 1000,
                        "workers": workers,
                    }

                async with session.get(base + "?limit=1") as r:
                    rv = (await r.json())["metadata"]["resourceVersion"]
                events = 500
                queue: Any = multiprocessing.get_context("spawn").Queue()
                child = multiprocessing.get_context("spawn").Process(
                    target=watcher_process, args=(url, token, ca, rv, events, queue)
                )
                child.start()
                assert queue.get(timeout=60) == "ready"
                for i in range(events):
                    body = {"metadata": {"annotations": {"bench/sent": repr(time.time())}}}
                    async with session.patch(
                        f"{base}/cm-{i % OBJECTS:04d}",
                        data=json.dumps(body),
                        headers={"Content-Type": "application/merge-patch+json"},
                    ) as r:
                        assert r.status == 200
                    await asyncio.sleep(0.005)
                latencies = queue.get(timeout=120)
                child.join(30)
                results[f"watch delivery ({WATCHERS} watchers)"] = {
                    "events": len(latencies),
                    "latency_p50_ms": pct(latencies, 50) * 1000,
                    "latency_p99_ms": pct(latencies, 99) * 1000,
                    "latency_max_ms": max(latencies) * 1000,
                }
                return results
        finally:
            stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput round")
    parser.add_argument("--json", type=Path, default=Path("bench/results/apiserver.json"))
    args = parser.parse_args()
    results = asyncio.run(run(args.seconds))
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": multiprocessing.cpu_count(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print("| measurement | result | p50 | p99 |\n|---|---|---|---|")
    for name, r in results.items():
        if "per_second_median" in r:
            print(
                f"| {name} | {r['per_second_median']:,.0f}/s (rounds: {', '.join(f'{x:,.0f}' for x in r['rounds'])}) "
                f"| {r['latency_p50_ms']:.1f} ms | {r['latency_p99_ms']:.1f} ms |"
            )
        else:
            print(
                f"| {name} | {r['events'] // WATCHERS} events to each of {WATCHERS} watchers | {r['latency_p50_ms']:.1f} ms | {r['latency_p99_ms']:.1f} ms |"
            )


if __name__ == "__main__":
    main()
