"""Benchmark of the AnalysisRun controller: 200 concurrent runs measuring every 10 s.

A localcluster server runs as its own process on a temporary state dir; the controller runs as
another (``python -m controller run --no-leader-elect``, its AnalysisRun workers at the
default 30); this script creates the AnalysisRuns and serves the ``web`` metric they measure,
on a loopback port, recording when each request arrives (monotonic clock, microseconds).

**Lateness** of a measurement: how far behind its schedule the controller took it, measured
where the request lands (wall clock, microseconds). As in Argo, the next measurement is due at
the previous one's ``finishedAt`` plus the interval, and ``finishedAt`` is an API timestamp in
whole seconds; so for run *r*'s *k*-th request the schedule is ``floor(arrival(r, k-1)) +
interval`` and the lateness ``arrival(r, k)`` minus that. Reported: median, p99 and the maximum over every measurement
after the first, and the share of runs that completed Successful.

**CPU**: the controller process's user + system time (``/proc/<pid>/stat``) over the window
from the first to the last measurement, as a share of one core.

    python bench/analysis.py                    # 200 runs, 10 s interval, 4 measurements each
    python bench/analysis.py --runs 20 --count 2 --interval 2    # a quick check

Target (issue 6): measurement lateness p99 <= 1 s with 200 runs at a 10 s interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from _server import start_server, stop_server  # bench/_server.py (run from bench/)
from aiohttp import web

NAMESPACE = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
LATENESS_TARGET_S = 1.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def analysis_run(name: str, url: str, interval: float, count: int) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "metrics": [
                {
                    "name": "ok",
                    "interval": f"{interval:g}s",
                    "count": count,
                    "successCondition": "result == true",
                    "provider": {"web": {"url": f"{url}?run={name}", "jsonPath": "{$.ok}"}},
                }
            ]
        },
    }


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def post(self, path: str, body: dict[str, Any]) -> None:
        async with self.session.post(self.url + path, json=body) as r:
            if r.status not in (200, 201, 409):
                raise RuntimeError(f"POST {path}: {r.status} {await r.text()}")

    async def get(self, path: str) -> Any:
        async with self.session.get(self.url + path) as r:
            return await r.json()


def kubeconfig(state_dir: Path) -> Path:
    return state_dir / "kubeconfig"


def start_controller(state: Path) -> subprocess.Popen[bytes]:
    """Apply the CRDs with kubectl, then start the controller on the bench namespace."""
    crd_dir = Path(__file__).resolve().parent.parent / "controller" / "api" / "crds"
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig(state)), "apply", "-f", str(crd_dir)],
        check=True,
        capture_output=True,
    )
    log = (state / "controller.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller",
            "run",
            "--kubeconfig",
            str(kubeconfig(state)),
            "--namespace",
            NAMESPACE,
            "--no-leader-elect",
            "--metrics-port",
            "0",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=crd_dir.parents[2],  # the repository root: bench/controller.py must not shadow the package
    )


async def run(runs: int, interval: float, count: int) -> dict[str, Any]:
    arrivals: dict[str, list[float]] = defaultdict(list)

    async def check(request: web.Request) -> web.Response:
        arrivals[request.query.get("run", "")].append(time.time())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/check", check)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    target = f"http://127.0.0.1:{port}/check"
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        server, url, token = start_server(state)
        controller: subprocess.Popen[bytes] | None = None
        try:
            ctx = ssl.create_default_context(cafile=str(state / "ca.crt"))
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(
                headers=headers, connector=aiohttp.TCPConnector(ssl=ctx)
            ) as session:
                api = Api(session, url)
                await api.post("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
                controller = await asyncio.to_thread(start_controller, state)
                await asyncio.sleep(2.0)  # caches filled
                cpu_before = cpu_seconds(controller.pid)
                started = time.monotonic()
                path = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/analysisruns"
                await asyncio.gather(
                    *(
                        api.post(path, analysis_run(f"run-{i:04d}", target, interval, count))
                        for i in range(runs)
                    )
                )
                created_in = time.monotonic() - started
                deadline = started + interval * (count - 1) + 60
                while time.monotonic() < deadline:
                    if sum(len(v) for v in arrivals.values()) >= runs * count:
                        break
                    await asyncio.sleep(0.2)
                finished = time.monotonic()
                cpu_after = cpu_seconds(controller.pid)
                rss = rss_mib(controller.pid)
                if controller.poll() is not None:
                    raise RuntimeError(
                        "the controller exited: " + (state / "controller.log").read_text()[-2000:]
                    )
                await asyncio.sleep(2.0)  # the last status writes
                listed = await api.get(path)
                phases = [(item.get("status") or {}).get("phase") for item in listed.get("items", [])]
        finally:
            if controller is not None and controller.poll() is None:
                controller.terminate()
                try:
                    controller.wait(15)
                except subprocess.TimeoutExpired:
                    controller.kill()
            stop_server(server)
            await runner.cleanup()
    # the controller schedules the next measurement at the previous one's finishedAt (an API
    # timestamp, whole seconds) + interval, as Argo does: that is the schedule to keep
    lateness = [
        times[k] - (math.floor(times[k - 1]) + interval)
        for times in arrivals.values()
        for k in range(1, len(times))
    ]
    lateness.sort()
    window = max(finished - started, 1e-9)
    return {
        "runs": runs,
        "interval_s": interval,
        "count": count,
        "create_all_s": round(created_in, 3),
        "measurements": sum(len(v) for v in arrivals.values()),
        "expected_measurements": runs * count,
        "lateness_median_s": statistics.median(lateness) if lateness else None,
        "lateness_p99_s": lateness[min(len(lateness) - 1, int(0.99 * len(lateness)))] if lateness else None,
        "lateness_max_s": lateness[-1] if lateness else None,
        "successful_runs": phases.count("Successful"),
        "controller_cpu_core_share": (cpu_after - cpu_before) / window,
        "controller_rss_mib": round(rss, 1),
        "window_s": round(window, 2),
    }


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument(
        "--json", type=Path, default=Path(__file__).resolve().parent / "results" / "analysis.json"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args.runs, args.interval, args.count))
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "cpus": multiprocessing.cpu_count(),
        "cpu_model": cpu_model(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    r = results

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 1000:,.0f} ms"

    print("| measurement | result | target |\n|---|---|---|")
    print(
        f"| runs x measurements (interval {r['interval_s']:g} s) | {r['runs']} x {r['count']}: "
        f"{r['measurements']}/{r['expected_measurements']} taken, {r['successful_runs']} runs Successful | |"
    )
    print(f"| measurement lateness, median | {ms(r['lateness_median_s'])} | |")
    print(f"| measurement lateness, p99 | {ms(r['lateness_p99_s'])} | <= {LATENESS_TARGET_S * 1000:.0f} ms |")
    print(f"| measurement lateness, max | {ms(r['lateness_max_s'])} | |")
    print(f"| controller CPU over the window | {r['controller_cpu_core_share'] * 100:.1f}% of one core | |")
    print(f"| controller RSS at the end | {r['controller_rss_mib']} MiB | |")
    print(f"| creating the {r['runs']} runs | {r['create_all_s']} s | |")


if __name__ == "__main__":
    main()
