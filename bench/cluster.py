"""Benchmark of localcluster as a cluster: pods started per second, Service proxy throughput, memory per pod.

The server runs as its own process (``python -m localcluster serve``) on a temporary state
directory; this script is the client and the load generator, in another process, and talks to
it only over 127.0.0.0/8. Figures are medians of three rounds from one run.

1. **Pod start-up**: POST a Deployment of ``argoproj/rollouts-demo:blue`` with 100 replicas,
   poll it every 50 ms until ``status.readyReplicas == 100`` with ``observedGeneration``
   caught up; seconds and pods/s. Each round then deletes the Deployment and waits until all
   its pods and ReplicaSets are gone.
2. **Proxy throughput**: a Deployment of 2 demo-app pods behind a ClusterIP Service;
   ``GET /color`` per second through ``clusterIP:80`` and straight to one pod's IP:8080, with
   the same load generator (aiohttp, 16 concurrent clients), keep-alive and a new connection
   per request, rounds interleaved.
3. **Memory per pod**: the server's RSS (``VmRSS``) with 0 pods and with 100 Ready pods.

Also reported: the slowest API GET while the 100 pods start, and how much the RSS grows while
the 2 pods answer the throughput rounds.

    python bench/cluster.py                  # prints a Markdown table and writes JSON
    python bench/cluster.py --seconds 5      # longer throughput rounds

Targets on a 2-core machine: 100 pods Ready <= 10 s; proxied/direct >= 0.70 (keep-alive).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from _server import start_server, stop_server  # bench/_server.py (run from bench/)

NAMESPACE = "bench"
IMAGE = "argoproj/rollouts-demo:blue"
REPLICAS = 100
ROUNDS = 3
POLL = 0.05
WORKERS = 16
START_TARGET_S = 10.0
RATIO_TARGET = 0.70
CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """The resident set size of a process, in KiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15)


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "app", "image": IMAGE, "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
                    ]
                },
            },
        },
    }


class Api:
    """The few API calls the benchmark makes."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def get(self, path: str, **params: str) -> dict[str, Any] | None:
        async with self.session.get(self.url + path, params=params) as r:
            if r.status == 404:
                return None
            assert r.status == 200, await r.text()
            body: dict[str, Any] = await r.json()
            return body

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(self.url + path, json=body) as r:
            assert r.status in (200, 201), await r.text()
            created: dict[str, Any] = await r.json()
            return created

    async def delete(self, path: str) -> None:
        async with self.session.delete(self.url + path, json={"propagationPolicy": "Background"}) as r:
            assert r.status in (200, 202, 404), await r.text()

    async def count(self, plural_path: str, selector: str) -> int:
        body = await self.get(plural_path, labelSelector=selector)
        assert body is not None
        return len(body["items"])


async def wait_ready(api: Api, name: str, replicas: int, limit: float) -> list[tuple[float, int, float]]:
    """Poll the Deployment every 50 ms until all replicas are Ready.

    Returns one (seconds since start, ready replicas, seconds the GET took) per poll.
    """
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}"
    started = time.monotonic()
    samples: list[tuple[float, int, float]] = []
    while time.monotonic() - started < limit:
        sent = time.monotonic()
        dep = await api.get(path)
        answered = time.monotonic()
        if dep is not None:
            status = dep.get("status") or {}
            ready = int(status.get("readyReplicas") or 0)
            samples.append((answered - started, ready, answered - sent))
            caught_up = int(status.get("observedGeneration") or 0) >= int(dep["metadata"]["generation"])
            if ready == replicas and caught_up:
                return samples
        await asyncio.sleep(POLL)
    raise TimeoutError(f"deployment {name}: not {replicas} ready after {limit:.0f} s (last {samples[-1:]})")


async def wait_gone(api: Api, name: str, limit: float = 120) -> float:
    """Wait until no pod or ReplicaSet of ``name`` is left; returns the seconds it took."""
    started = time.monotonic()
    selector = f"app={name}"
    while time.monotonic() - started < limit:
        pods = await api.count(f"/api/v1/namespaces/{NAMESPACE}/pods", selector)
        sets = await api.count(f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets", selector)
        if pods == 0 and sets == 0:
            return time.monotonic() - started
        await asyncio.sleep(POLL)
    raise TimeoutError(f"pods of {name} still there after {limit:.0f} s")


async def settled_rss(pid: int, seconds: float = 2.0) -> int:
    """RSS after letting the server settle for ``seconds`` (the median of a few samples)."""
    samples: list[int] = []
    for _ in range(5):
        await asyncio.sleep(seconds / 5)
        samples.append(rss_kib(pid))
    return int(statistics.median(samples))


def at_ready(samples: list[tuple[float, int, float]], count: int) -> float:
    """When ``count`` pods were first seen Ready."""
    return next(t for t, ready, _ in samples if ready >= count)


async def pod_startup(api: Api, pid: int) -> dict[str, Any]:
    """Rounds of: apply a 100-replica Deployment, wait for all Ready, delete, wait for all gone."""
    rounds: list[dict[str, Any]] = []
    baseline = await settled_rss(pid)
    for i in range(ROUNDS):
        name = f"start-{i}"
        before_rss = rounds[-1]["rss_after_delete_kib"] if rounds else baseline
        cpu0 = cpu_seconds(pid)
        t0 = time.monotonic()
        await api.create(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment(name, REPLICAS))
        samples = await wait_ready(api, name, REPLICAS, limit=300)
        seconds = time.monotonic() - t0
        cpu = cpu_seconds(pid) - cpu0
        ready_rss = await settled_rss(pid)
        await api.delete(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")
        gone_s = await wait_gone(api, name)
        after_rss = await settled_rss(pid)
        rounds.append(
            {
                "seconds": seconds,
                "pods_per_second": REPLICAS / seconds,
                "first_ready_s": at_ready(samples, 1),
                "half_ready_s": at_ready(samples, REPLICAS // 2),
                "polls": len(samples),
                "slowest_poll_s": max(took for _, _, took in samples),
                "server_cpu_s": cpu,
                "rss_before_kib": before_rss,
                "rss_ready_kib": ready_rss,
                "rss_after_delete_kib": after_rss,
                "delete_seconds": gone_s,
            }
        )
    first = rounds[0]
    return {
        "rounds": rounds,
        "seconds_median": statistics.median(r["seconds"] for r in rounds),
        "pods_per_second_median": statistics.median(r["pods_per_second"] for r in rounds),
        "slowest_poll_s_median": statistics.median(r["slowest_poll_s"] for r in rounds),
        "memory": {
            "baseline_rss_kib": baseline,
            "ready_rss_kib": first["rss_ready_kib"],
            # the first round, against a server that has never run a pod: later rounds start
            # with the earlier rounds' Events and watch history kept, and freed memory the
            # allocator did not give back
            "per_pod_kib": (first["rss_ready_kib"] - baseline) / REPLICAS,
            "per_pod_kib_later_rounds": [
                (r["rss_ready_kib"] - r["rss_before_kib"]) / REPLICAS for r in rounds[1:]
            ],
        },
    }


async def rate(
    url: str, *, keep_alive: bool, seconds: float, workers: int = WORKERS
) -> tuple[float, float, int]:
    """``GET url`` per second with ``workers`` concurrent clients; also this process's CPU share and errors."""
    connector = aiohttp.TCPConnector(limit=workers, force_close=not keep_alive)
    errors = 0
    done = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        stop = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal done, errors
            while time.monotonic() < stop:
                try:
                    async with session.get(url) as r:
                        await r.read()
                        if r.status == 200:
                            done += 1
                        else:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1

        cpu0 = time.process_time()
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu0
    return done / elapsed, cpu / elapsed, errors


async def proxy_throughput(api: Api, pid: int, seconds: float) -> dict[str, Any]:
    """GET /color through the Service's cluster IP vs. straight to a pod, interleaved rounds."""
    name = "web"
    await api.create(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment(name, 2))
    service = await api.create(
        f"/api/v1/namespaces/{NAMESPACE}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    await wait_ready(api, name, 2, limit=60)
    cluster_ip = str(service["spec"]["clusterIP"])
    pod_ip = ""
    for _ in range(200):
        endpoints = await api.get(f"/api/v1/namespaces/{NAMESPACE}/endpoints/{name}") or {}
        addresses = [a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []]
        if len(addresses) == 2:
            pod_ip = addresses[0]
            break
        await asyncio.sleep(POLL)
    assert pod_ip, "the Service's Endpoints never listed 2 ready pods"
    targets = {"proxied": f"http://{cluster_ip}:80/color", "direct": f"http://{pod_ip}:8080/color"}
    for url in targets.values():  # both answer before anything is measured
        await rate(url, keep_alive=False, seconds=0.3, workers=1)

    results: dict[str, Any] = {"cluster_ip": cluster_ip, "pod_ip": pod_ip, "workers": WORKERS}
    rss_before = await settled_rss(pid)
    served = 0
    for mode in ("keep-alive", "new connection"):
        results[mode] = {path: {"rounds": [], "client_cpu": [], "server_cpu": []} for path in targets}
    for _ in range(ROUNDS):
        for mode, keep_alive in (("keep-alive", True), ("new connection", False)):
            for path, url in targets.items():
                cpu0, t0 = cpu_seconds(pid), time.monotonic()
                per_second, client_cpu, errors = await rate(url, keep_alive=keep_alive, seconds=seconds)
                server_cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
                assert errors == 0, f"{errors} failed requests to {url}"
                served += round(per_second * seconds)
                entry = results[mode][path]
                entry["rounds"].append(per_second)
                entry["client_cpu"].append(client_cpu)
                entry["server_cpu"].append(server_cpu)
    results["memory"] = {
        "rss_before_kib": rss_before,
        "rss_after_kib": await settled_rss(pid),
        "requests_served_approx": served,
    }
    for mode in ("keep-alive", "new connection"):
        for entry in results[mode].values():
            entry["per_second_median"] = statistics.median(entry["rounds"])
        results[mode]["ratio"] = (
            results[mode]["proxied"]["per_second_median"] / results[mode]["direct"]["per_second_median"]
        )
        results[mode]["ratio_per_round"] = [
            p / d
            for p, d in zip(
                results[mode]["proxied"]["rounds"], results[mode]["direct"]["rounds"], strict=True
            )
        ]
    return results


async def run(seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, token = start_server(Path(tmp))
        try:
            headers = {"Authorization": f"Bearer {token}"}
            conn = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=str(Path(tmp) / "ca.crt")))
            async with aiohttp.ClientSession(headers=headers, connector=conn) as session:
                api = Api(session, url)
                await api.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
                startup = await pod_startup(api, proc.pid)
                proxy = await proxy_throughput(api, proc.pid, seconds)
                return {"pod_startup": startup, "proxy": proxy}
        finally:
            stop_server(proc)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measurement, result, target) rows of the Markdown table."""
    startup, proxy = results["pod_startup"], results["proxy"]
    memory = startup["memory"]

    def listed(values: list[float], fmt: Callable[[float], str]) -> str:
        return ", ".join(fmt(v) for v in values)

    table = [
        (
            f"apply of a {REPLICAS}-replica Deployment to all Ready",
            f"{startup['seconds_median']:.2f} s ({listed([r['seconds'] for r in startup['rounds']], lambda v: f'{v:.2f}')})",
            f"<= {START_TARGET_S:.0f} s",
        ),
        (
            "pods started per second",
            f"{startup['pods_per_second_median']:.1f}/s "
            f"({listed([r['pods_per_second'] for r in startup['rounds']], lambda v: f'{v:.1f}')})",
            f">= {REPLICAS / START_TARGET_S:.0f}/s",
        ),
        (
            f"longest API GET while the {REPLICAS} pods start",
            f"{startup['slowest_poll_s_median'] * 1000:,.0f} ms "
            f"({listed([r['slowest_poll_s'] * 1000 for r in startup['rounds']], lambda v: f'{v:,.0f}')})",
            "",
        ),
    ]
    for mode in ("keep-alive", "new connection"):
        for path, label in (("direct", "straight to a pod IP:8080"), ("proxied", "through clusterIP:80")):
            entry = proxy[mode][path]
            table.append(
                (
                    f"GET /color {label}, {mode}",
                    f"{entry['per_second_median']:,.0f}/s ({listed(entry['rounds'], lambda v: f'{v:,.0f}')})",
                    "",
                )
            )
        table.append(
            (
                f"proxied / direct, {mode}",
                f"{proxy[mode]['ratio']:.2f} (per round: {listed(proxy[mode]['ratio_per_round'], lambda v: f'{v:.2f}')})",
                f">= {RATIO_TARGET:.2f}" if mode == "keep-alive" else "",
            )
        )
    table += [
        ("server RSS, 0 pods", f"{memory['baseline_rss_kib'] / 1024:.1f} MiB", ""),
        (f"server RSS, {REPLICAS} Ready pods", f"{memory['ready_rss_kib'] / 1024:.1f} MiB", ""),
        ("memory per running pod", f"{memory['per_pod_kib']:.0f} KiB", ""),
        (
            f"server RSS growth while 2 pods answered ~{proxy['memory']['requests_served_approx']:,} requests",
            f"{(proxy['memory']['rss_after_kib'] - proxy['memory']['rss_before_kib']) / 1024:.1f} MiB",
            "",
        ),
    ]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput round")
    parser.add_argument("--json", type=Path, default=Path("bench/results/cluster.json"))
    args = parser.parse_args()
    results = asyncio.run(run(args.seconds))
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": multiprocessing.cpu_count(),
        "cpu_model": cpu_model(),
        "rounds": ROUNDS,
        "seconds_per_round": args.seconds,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"| measurement | result (median of {ROUNDS} rounds; the rounds) | target |\n|---|---|---|")
    for name, result, target in rows(results):
        print(f"| {name} | {result} | {target} |")


if __name__ == "__main__":
    main()
