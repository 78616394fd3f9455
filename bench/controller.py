"""Benchmark of the Rollout controller on localcluster: step overhead, API writes, idle writes, memory.

Three processes besides this one: the localcluster server (``python -m localcluster serve`` on
a temporary state directory), the controller (``python -m controller run --no-leader-elect``,
so its memory and CPU are its own) and a *recorder* that only watches. The recorder holds
three cluster-wide watches (Rollouts, ReplicaSets, and Events about Rollouts) and stamps each
line with its arrival time (monotonic and wall clock) before anything else happens to it; the
analysis runs on the recorded lines after the run, replaying them in arrival order.

Every Rollout is a basic canary with 1 replica of the demo app and three steps,
``setWeight: 50``, ``pause: {duration: 1s}``, ``setWeight: 100``; an update changes an
annotation of the pod template.

- **Step overhead**: from the moment a step's condition holds to the arrival of the Rollout
  status write that moves ``currentStepIndex`` past it. For a ``setWeight`` step the moment is
  the arrival of the first ReplicaSet (or Rollout) event after which the Rollout's ReplicaSets
  are at the step's counts, judged by the same rule the controller applies
  (``controller.core.replicas.at_desired_canary_counts``, Argo's
  ``AtDesiredReplicaCountsForCanary``) on the recorder's copy of the objects. For a timed pause
  it is the pause's end, ``startTime`` of its pause condition plus the duration (wall clock;
  the controller's own rule). **Promotion** is the same measure for the write that makes the
  new ReplicaSet stable once all steps are done. Both events travel the same watch path, so
  the delivery delay to the recorder cancels out; what is left is the controller's own watch
  delivery, queueing, reconcile, and its write.
- **Writes per step**: the controller's write requests (POST, PUT, PATCH, DELETE) from its
  ``/metrics`` (``rollout_controller_api_requests_total``), from the first update to the last
  Rollout Healthy again, divided by the steps taken; the watch streams break the writes down
  by kind (status patches, ReplicaSet creates/scales/deletes, Events).
- **Idle writes**: the same counter over ``--idle-seconds`` while every Rollout is Healthy.
- **Memory**: ``VmRSS`` of the controller with 0 Rollouts, and with N Healthy Rollouts (each
  with its ReplicaSet and one running pod) for N in ``--rollouts`` and ``--memory-at``.

Phases: one Rollout updated ``--updates`` times (one at a time); then ``--rollouts`` Rollouts
created, all Healthy, all updated at once (concurrently), then left idle; then more Rollouts
created up to each ``--memory-at`` count.

    python bench/controller.py                                   # ~6 minutes; JSON in bench/results
    python bench/controller.py --rollouts 50 --memory-at 100 --updates 5 --idle-seconds 10   # quick

Targets (issue #4): overhead p50 <= 20 ms and p99 <= 200 ms at 1 Rollout, p99 <= 2 s at 500;
<= 3 writes per step; no writes while idle; RSS <= 150 MB at 1,000 Rollouts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from _server import start_server, stop_server  # bench/_server.py (run from bench/)
from cluster import cpu_model, cpu_seconds, rss_kib  # bench/cluster.py

# this file is bench/controller.py: put the project first so that ``controller`` is the package
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from controller.api.crds import crd_manifests  # noqa: E402
from controller.core.replicas import at_desired_canary_counts  # noqa: E402

Obj = dict[str, Any]

ONE = "bench-one"
MANY = "bench-many"
IMAGE = "argoproj/rollouts-demo:blue"
ROUND = "bench/round"
HASH = "rollouts-pod-template-hash"
ROLLOUTS_API = "/apis/argoproj.io/v1alpha1"
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")
CONCURRENCY = 16
TARGETS = {"p50_one_ms": 20.0, "p99_one_ms": 200.0, "p99_many_s": 2.0, "writes_per_step": 3.0, "rss_mb": 150}


def steps(pause: int) -> list[Obj]:
    return [{"setWeight": 50}, {"pause": {"duration": f"{pause}s"}}, {"setWeight": 100}]


def rollout(name: str, pause: int, round_: int = 0) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {ROUND: str(round_)}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": IMAGE, "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
                    ]
                },
            },
            "strategy": {"canary": {"steps": steps(pause)}},
        },
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


# -- the API -------------------------------------------------------------------------------------


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def get(self, path: str, **params: str) -> Obj:
        async with self.session.get(self.url + path, params=params) as r:
            assert r.status == 200, f"GET {path}: {r.status} {await r.text()}"
            body: Obj = await r.json()
            return body

    async def create(self, path: str, body: Obj) -> Obj:
        async with self.session.post(self.url + path, json=body) as r:
            assert r.status in (200, 201), f"POST {path}: {r.status} {await r.text()}"
            created: Obj = await r.json()
            return created

    async def merge_patch(self, path: str, body: Obj) -> Obj:
        headers = {"Content-Type": "application/merge-patch+json"}
        async with self.session.patch(self.url + path, data=json.dumps(body), headers=headers) as r:
            assert r.status == 200, f"PATCH {path}: {r.status} {await r.text()}"
            patched: Obj = await r.json()
            return patched


def rollouts_path(namespace: str, name: str | None = None) -> str:
    return f"{ROLLOUTS_API}/namespaces/{namespace}/rollouts" + (f"/{name}" if name else "")


async def for_each(names: Iterable[str], call: Callable[[str], Awaitable[Obj]]) -> None:
    """``call(name)`` for every name, CONCURRENCY at a time."""
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> None:
        async with sem:
            await call(name)

    await asyncio.gather(*(one(n) for n in names))


def healthy(obj: Obj) -> bool:
    """Healthy, fully promoted, its one pod available and no other pod left."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    return (
        status.get("phase") == "Healthy"
        and str(status.get("observedGeneration")) == str(meta.get("generation"))
        and bool(status.get("stableRS"))
        and status.get("stableRS") == status.get("currentPodHash")
        and status.get("availableReplicas") == 1
        and status.get("replicas") == 1
    )


class Tracker:
    """This process's own watch on Rollouts: which are Healthy at which update round."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.state: dict[tuple[str, str], tuple[bool, str]] = {}
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _see(self, obj: Obj) -> None:
        meta = obj["metadata"]
        round_ = ((obj["spec"]["template"].get("metadata") or {}).get("annotations") or {}).get(ROUND, "")
        self.state[(meta["namespace"], meta["name"])] = (healthy(obj), round_)
        self.changed.set()

    async def start(self) -> None:
        listed = await self.api.get(f"{ROLLOUTS_API}/rollouts")
        for obj in listed["items"]:
            self._see(obj)
        self._task = asyncio.create_task(self._watch(listed["metadata"]["resourceVersion"]))

    async def _watch(self, rv: str) -> None:
        while True:
            params = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": "3600"}
            async with self.api.session.get(f"{self.api.url}{ROLLOUTS_API}/rollouts", params=params) as r:
                assert r.status == 200, await r.text()
                async for line in r.content:
                    event = json.loads(line)
                    obj = event["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        self.state.pop((obj["metadata"]["namespace"], obj["metadata"]["name"]), None)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self._see(obj)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait_healthy(self, namespace: str, names: list[str], round_: int, limit: float) -> float:
        """Wait until every named Rollout is Healthy at ``round_``; the seconds it took."""
        started = time.monotonic()
        want = str(round_)
        while True:
            pending = [n for n in names if self.state.get((namespace, n)) != (True, want)]
            if not pending:
                return time.monotonic() - started
            if self._task is not None and self._task.done():
                raise RuntimeError(f"the Rollout watch ended: {self._task.exception()!r}")
            left = limit - (time.monotonic() - started)
            if left <= 0:
                raise TimeoutError(
                    f"{len(pending)} of {len(names)} Rollouts in {namespace} not Healthy at round {round_} "
                    f"after {limit:.0f} s (first: {pending[:3]})"
                )
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=min(left, 1.0))


# -- the recorder (a process of its own) ---------------------------------------------------------

RECORDED = {
    "rollouts": (f"{ROLLOUTS_API}/rollouts", {}),
    "replicasets": ("/apis/apps/v1/replicasets", {}),
    "events": ("/api/v1/events", {"fieldSelector": "involvedObject.kind=Rollout"}),
}


def recorder_main(url: str, token: str, ca: str, out: str, ready: Any, stop: Any) -> None:
    """Watch the recorded kinds; write ``<monotonic> <wall> <kind> <event JSON>`` per event line."""
    with open(out, "wb") as sink:
        asyncio.run(record(url, token, ca, sink, ready, stop))


async def record(url: str, token: str, ca: str, sink: BinaryIO, ready: Any, stop: Any) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=ca))
    opened = {kind: asyncio.Event() for kind in RECORDED}
    async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as session:

        async def watch(kind: str, path: str, params: dict[str, str]) -> None:
            async with session.get(url + path, params=params) as r:
                rv = (await r.json())["metadata"]["resourceVersion"]
            while True:
                query = dict(params, watch="true", resourceVersion=rv, timeoutSeconds="3600")
                query["allowWatchBookmarks"] = "true"
                async with session.get(url + path, params=query) as r:
                    assert r.status == 200, await r.text()
                    opened[kind].set()
                    while line := await r.content.readline():
                        stamp = f"{time.monotonic():.6f} {time.time():.6f} {kind} "
                        sink.write(stamp.encode() + line)
                        rv = json.loads(line)["object"]["metadata"]["resourceVersion"]

        tasks = [asyncio.create_task(watch(k, p, q)) for k, (p, q) in RECORDED.items()]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened.values())), 30)
        ready.set()
        while not stop.is_set():
            for task in tasks:
                if task.done():
                    task.result()
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Record:
    mono: float
    wall: float
    kind: str
    type: str
    obj: Obj


def read_records(path: Path) -> list[Record]:
    records = []
    for line in path.read_bytes().splitlines():
        mono, wall, kind, payload = line.split(b" ", 3)
        event = json.loads(payload)
        if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            records.append(Record(float(mono), float(wall), kind.decode(), event["type"], event["object"]))
    records.sort(key=lambda r: r.mono)
    return records


# -- analysis -----------------------------------------------------------------------------------


def owner_rollout(rs: Obj) -> str | None:
    for ref in rs["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == "Rollout":
            return str(ref["name"])
    return None


def step_index(obj: Obj | None) -> int | None:
    if obj is None:
        return None
    value = (obj.get("status") or {}).get("currentStepIndex")
    return None if value is None else int(value)


def pause_end(obj: Obj, duration: float) -> float | None:
    """Wall-clock end of the Rollout's canary-step pause (its condition's startTime + duration)."""
    for condition in (obj.get("status") or {}).get("pauseConditions") or ():
        if condition.get("reason") == "CanaryPauseStep" and condition.get("startTime"):
            start = datetime.fromisoformat(str(condition["startTime"]).replace("Z", "+00:00"))
            return (start + timedelta(seconds=duration)).timestamp()
    return None


@dataclass
class Analysis:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unmatched: int = 0
    writes: Counter[str] = field(default_factory=Counter)


def analyse(records: list[Record], namespace: str, pause: int, since_rv: int, until_rv: int) -> Analysis:
    """Step overheads (seconds, by step kind) and the controller's effective writes by kind.

    Only what happens between ``since_rv`` and ``until_rv`` (resourceVersions) counts.
    """
    plan = steps(pause)
    out = Analysis()
    rollouts: dict[str, Obj] = {}
    rss: dict[str, dict[str, Obj]] = defaultdict(dict)
    #: per Rollout: (step index or "promote", monotonic time its condition first held)
    held: dict[str, tuple[int | str, float]] = {}
    pause_ends: dict[str, float] = {}

    def in_window(obj: Obj) -> bool:
        return since_rv < int(obj["metadata"]["resourceVersion"]) <= until_rv

    for rec in records:
        meta = rec.obj["metadata"]
        if meta.get("namespace") != namespace:
            continue
        if rec.kind == "events":
            if rec.type != "DELETED" and in_window(rec.obj):  # a repeat raises the count of the first
                out.writes["Event"] += 1
            continue
        if rec.kind == "replicasets":
            name = owner_rollout(rec.obj)
            if name is None:
                continue
            old_rs = rss[name].get(meta["name"])
            if rec.type == "DELETED":
                rss[name].pop(meta["name"], None)
                out.writes["ReplicaSet delete"] += in_window(rec.obj)
            else:
                rss[name][meta["name"]] = rec.obj
                if in_window(rec.obj):
                    if rec.type == "ADDED":
                        out.writes["ReplicaSet create"] += 1
                    elif old_rs is not None and old_rs["metadata"].get("generation") != meta.get(
                        "generation"
                    ):
                        out.writes["ReplicaSet scale"] += 1
        else:
            name = meta["name"]
            old = rollouts.get(name)
            rollouts[name] = rec.obj if rec.type != "DELETED" else {}
            if rec.type == "DELETED":
                continue
            if old and in_window(rec.obj) and old["metadata"].get("generation") == meta.get("generation"):
                out.writes["Rollout status"] += 1
            status, old_status = rec.obj.get("status") or {}, (old or {}).get("status") or {}
            before, after = step_index(old), step_index(rec.obj)
            same_update = old_status.get("currentPodHash") == status.get("currentPodHash")
            end = pause_end(rec.obj, pause)
            if end is not None:
                pause_ends[name] = end
            if in_window(rec.obj) and same_update and before is not None and after is not None:
                if before < after and before < len(plan):
                    kind = next(iter(plan[before]))
                    if kind == "pause":
                        if name in pause_ends:
                            out.samples["pause"].append(rec.wall - pause_ends.pop(name))
                        else:
                            out.unmatched += 1
                    elif held.get(name, (None, 0.0))[0] == before:
                        out.samples[kind].append(rec.mono - held[name][1])
                    else:
                        out.unmatched += 1
                promoted = (
                    status.get("stableRS") == status.get("currentPodHash") != old_status.get("stableRS")
                )
                if promoted and old_status.get("stableRS"):
                    start = held.get(name)
                    # The controller may promote in the write that completes the last step: the
                    # promotion then waited on that step's condition, measured from it.
                    if start is not None and (start[0] == "promote" or (start[0] == before < after)):
                        out.samples["promotion"].append(rec.mono - start[1])
                    else:
                        out.unmatched += 1
            if before != after or not same_update:
                held.pop(name, None)
            if not same_update:
                pause_ends.pop(name, None)
        # after every event: has the current step's condition just come to hold?
        obj = rollouts.get(name)
        if not obj or name in held:
            continue
        status = obj.get("status") or {}
        index = step_index(obj)
        if index is None or not status.get("stableRS") or status["stableRS"] == status.get("currentPodHash"):
            continue
        by_hash = {rs["metadata"]["labels"].get(HASH): rs for rs in rss[name].values()}
        new, stable = by_hash.get(status.get("currentPodHash")), by_hash.get(status["stableRS"])
        if index >= len(plan):
            available = int(((new or {}).get("status") or {}).get("availableReplicas") or 0)
            if available == obj["spec"].get("replicas", 1):
                held[name] = ("promote", rec.mono)
        elif "setWeight" in plan[index]:
            others = [rs for rs in rss[name].values() if rs is not new and rs is not stable]
            if at_desired_canary_counts(obj, new, stable, others):
                held[name] = (index, rec.mono)
    return out


def overhead_summary(analysis: Analysis) -> Obj:
    every = [s for samples in analysis.samples.values() for s in samples]
    summary: Obj = {"unmatched": analysis.unmatched}
    for kind, samples in [("all", every), *sorted(analysis.samples.items())]:
        summary[kind] = {
            "count": len(samples),
            "p50_ms": pct(samples, 50) * 1000,
            "p99_ms": pct(samples, 99) * 1000,
            "max_ms": max(samples, default=float("nan")) * 1000,
        }
    return summary


# -- the controller process ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_controller(state_dir: Path, port: int, log: Path, workers: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "controller", "run", "--kubeconfig", str(state_dir / "kubeconfig")]
    argv += ["--no-leader-elect", "--metrics-port", str(port), "--metrics-address", "127.0.0.1"]
    argv += ["--workers", str(workers)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the controller exited ({proc.returncode}): {log.read_text()[-2000:]}")
        if "action=start-workers" in log.read_text():
            return proc
        time.sleep(0.05)
    stop_controller(proc)
    raise RuntimeError(f"the controller did not start its workers within 30 s: {log.read_text()[-2000:]}")


def stop_controller(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class Sample:
    """The controller's counters, and the CPU time of the controller and the server, at one moment."""

    requests: defaultdict[tuple[str, str], float]
    #: seconds spent in requests, and their number, by verb
    api_seconds: defaultdict[str, float]
    api_count: defaultdict[str, float]
    reconciles: float
    reconcile_seconds: float
    cpu: float
    server_cpu: float
    at: float

    def writes_since(self, earlier: Sample) -> int:
        return int(sum(n - earlier.requests[k] for k, n in self.requests.items() if k[0] in WRITE_VERBS))

    def writes_by_verb(self, earlier: Sample) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (verb, code), n in self.requests.items():
            if verb in WRITE_VERBS and n > earlier.requests[(verb, code)]:
                out[f"{verb} {code}"] += int(n - earlier.requests[(verb, code)])
        return dict(out)

    def since(self, earlier: Sample) -> Obj:
        """What happened between ``earlier`` and this sample."""
        write_seconds = sum(self.api_seconds[v] - earlier.api_seconds[v] for v in WRITE_VERBS)
        write_count = sum(self.api_count[v] - earlier.api_count[v] for v in WRITE_VERBS)
        reconciles = self.reconciles - earlier.reconciles
        return {
            "seconds": self.at - earlier.at,
            "writes": self.writes_since(earlier),
            "writes_by_verb": self.writes_by_verb(earlier),
            "write_mean_ms": 1000 * write_seconds / write_count if write_count else None,
            "reconciles": reconciles,
            "reconcile_mean_ms": 1000 * (self.reconcile_seconds - earlier.reconcile_seconds) / reconciles
            if reconciles
            else None,
            "controller_cpu_s": self.cpu - earlier.cpu,
            "server_cpu_s": self.server_cpu - earlier.server_cpu,
        }


def parse_labels(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


async def sample(session: aiohttp.ClientSession, port: int, pid: int, server_pid: int) -> Sample:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    requests: defaultdict[tuple[str, str], float] = defaultdict(float)
    api_seconds: defaultdict[str, float] = defaultdict(float)
    api_count: defaultdict[str, float] = defaultdict(float)
    reconciles = reconcile_seconds = 0.0
    for line in text.splitlines():
        name, _, rest = line.partition("{")
        if not rest:
            continue
        labels, value = rest.rsplit(" ", 1)
        if name == "rollout_controller_api_requests_total":
            parsed = parse_labels(labels.rstrip("}"))
            requests[(parsed["verb"], parsed["code"])] += float(value)
        elif name == "rollout_controller_api_request_seconds_sum":
            api_seconds[parse_labels(labels.rstrip("}"))["verb"]] += float(value)
        elif name == "rollout_controller_api_request_seconds_count":
            api_count[parse_labels(labels.rstrip("}"))["verb"]] += float(value)
        elif name == "rollout_reconcile_seconds_count":
            reconciles += float(value)
        elif name == "rollout_reconcile_seconds_sum":
            reconcile_seconds += float(value)
    return Sample(
        requests,
        api_seconds,
        api_count,
        reconciles,
        reconcile_seconds,
        cpu_seconds(pid),
        cpu_seconds(server_pid),
        time.monotonic(),
    )


async def settled_rss(pid: int, seconds: float = 2.0) -> tuple[int, int]:
    """Median VmRSS of a few samples over ``seconds``, and VmHWM (the peak), in KiB."""
    samples = []
    for _ in range(5):
        await asyncio.sleep(seconds / 5)
        samples.append(rss_kib(pid))
    return int(statistics.median(samples)), peak_rss_kib(pid)


def peak_rss_kib(pid: int) -> int:
    """``VmHWM`` of ``/proc/<pid>/status``: the most the process has been resident, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


async def current_rv(api: Api) -> int:
    return int((await api.get(f"{ROLLOUTS_API}/rollouts", limit="1"))["metadata"]["resourceVersion"])


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Options:
    rollouts: int
    memory_at: list[int]
    updates: int
    idle_seconds: float
    pause: int
    workers: int


async def run(opts: Options, tmp: Path) -> Obj:
    server, url, token = start_server(tmp / "state")
    ca = str(tmp / "state" / "ca.crt")
    results: Obj = {}
    controller: subprocess.Popen[bytes] | None = None
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    recording = tmp / "recorded.txt"
    recorder = ctx.Process(target=recorder_main, args=(url, token, ca, str(recording), ready, stop))
    try:
        headers = {"Authorization": f"Bearer {token}"}
        connector = aiohttp.TCPConnector(limit=64, ssl=ssl.create_default_context(cafile=ca))
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with (
            aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as session,
            aiohttp.ClientSession() as plain,
        ):
            api = Api(session, url)
            for namespace in (ONE, MANY):
                await api.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
            for crd in crd_manifests():
                await api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
            for _ in range(200):  # the CRD is served within a moment
                async with session.get(url + f"{ROLLOUTS_API}/rollouts") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.05)
            recorder.start()
            if not await asyncio.to_thread(ready.wait, 60):
                raise RuntimeError("the recorder did not open its watches within 60 s")
            tracker = Tracker(api)
            await tracker.start()
            port = free_port()
            controller = start_controller(tmp / "state", port, tmp / "controller.log", opts.workers)
            pid = controller.pid
            #: time for trailing writes and freed memory to settle: longer with more Rollouts
            settle = min(3.0, 0.5 + opts.rollouts / 250)
            results["rss_kib"] = {"0": (await settled_rss(pid, settle))[0]}

            # -- one Rollout, updated one update at a time
            await api.create(rollouts_path(ONE), rollout("web", opts.pause))
            await tracker.wait_healthy(ONE, ["web"], 0, limit=60)
            before = await sample(plain, port, pid, server.pid)
            first_rv = 0
            update_seconds = []
            for round_ in range(1, opts.updates + 1):
                t0 = time.monotonic()
                patched = await api.merge_patch(rollouts_path(ONE, "web"), template_round(round_))
                first_rv = first_rv or int(patched["metadata"]["resourceVersion"]) - 1
                await tracker.wait_healthy(ONE, ["web"], round_, limit=60)
                update_seconds.append(time.monotonic() - t0)
            await asyncio.sleep(settle)  # the last update's trailing writes
            after = await sample(plain, port, pid, server.pid)
            results["one"] = {
                "updates": opts.updates,
                "update_seconds_median": statistics.median(update_seconds),
                **after.since(before),
                "rv": [first_rv, await current_rv(api)],
            }

            # -- many Rollouts: create, all Healthy, all updated at once
            names = [f"r-{i:04d}" for i in range(opts.rollouts)]
            t0 = time.monotonic()
            await for_each(names, lambda name: api.create(rollouts_path(MANY), rollout(name, opts.pause)))
            await tracker.wait_healthy(MANY, names, 0, limit=120 + opts.rollouts)
            results["many_create_seconds"] = time.monotonic() - t0
            await asyncio.sleep(settle)
            before = await sample(plain, port, pid, server.pid)
            first_rv = await current_rv(api)
            t0 = time.monotonic()
            await for_each(names, lambda name: api.merge_patch(rollouts_path(MANY, name), template_round(1)))
            patch_seconds = time.monotonic() - t0
            await tracker.wait_healthy(MANY, names, 1, limit=120 + opts.rollouts)
            all_healthy_s = time.monotonic() - t0
            await asyncio.sleep(settle)
            after = await sample(plain, port, pid, server.pid)
            results["many"] = {
                "rollouts": opts.rollouts,
                "patch_seconds": patch_seconds,
                "all_healthy_seconds": all_healthy_s,
                **after.since(before),
                "rv": [first_rv, await current_rv(api)],
            }

            # -- idle: every Rollout Healthy
            before = await sample(plain, port, pid, server.pid)
            rss, _ = await settled_rss(pid, opts.idle_seconds)
            after = await sample(plain, port, pid, server.pid)
            idle = after.since(before)
            results["idle"] = {
                "rollouts": opts.rollouts + 1,
                **idle,
                "writes_per_minute": idle["writes"] / (idle["seconds"] / 60),
                "requests": int(sum(after.requests.values()) - sum(before.requests.values())),
            }
            results["rss_kib"][str(opts.rollouts + 1)] = rss

            # -- memory at larger counts
            created = opts.rollouts
            for count in opts.memory_at:
                more = [f"r-{i:04d}" for i in range(created, count - 1)]
                await for_each(more, lambda name: api.create(rollouts_path(MANY), rollout(name, opts.pause)))
                names += more
                created = count - 1
                await tracker.wait_healthy(MANY, more, 0, limit=120 + len(more))
                await asyncio.sleep(settle)
                results["rss_kib"][str(count)] = (await settled_rss(pid, settle))[0]
            results["rss_peak_kib"] = peak_rss_kib(pid)
            results["server_rss_kib"] = rss_kib(server.pid)
            await tracker.stop()
            await asyncio.sleep(0.5)  # the recorder has seen the last events
    finally:
        stop.set()
        if recorder.pid is not None:
            recorder.join(30)
            if recorder.is_alive():
                recorder.kill()
        if controller is not None:
            stop_controller(controller)
        stop_server(server)
    records = read_records(recording)
    for phase, namespace in (("one", ONE), ("many", MANY)):
        since, until = results[phase]["rv"]
        analysis = analyse(records, namespace, opts.pause, since, until)
        results[phase]["overhead"] = overhead_summary(analysis)
        results[phase]["effective_writes"] = dict(analysis.writes)
        updates = results[phase].get("updates", 1) * (opts.rollouts if phase == "many" else 1)
        results[phase]["steps"] = updates * len(steps(opts.pause))
        results[phase]["writes_per_step"] = results[phase]["writes"] / results[phase]["steps"]
        not_events = results[phase]["writes"] - analysis.writes["Event"]
        results[phase]["writes_per_step_without_events"] = not_events / results[phase]["steps"]
    results["controller_log_lines"] = len((tmp / "controller.log").read_text().splitlines())
    return results


def template_round(round_: int) -> Obj:
    return {"spec": {"template": {"metadata": {"annotations": {ROUND: str(round_)}}}}}


# -- report -------------------------------------------------------------------------------------


def rows(results: Obj, opts: Options) -> list[tuple[str, str, str]]:
    one, many, idle = results["one"], results["many"], results["idle"]

    def overhead(phase: Obj, kind: str) -> str:
        o = phase["overhead"].get(kind)
        if not o:
            return "-"
        return f"p50 {o['p50_ms']:,.0f} ms, p99 {o['p99_ms']:,.0f} ms, max {o['max_ms']:,.0f} ms (n={o['count']})"

    n = opts.rollouts
    table = [
        ("step overhead, 1 Rollout, every step", overhead(one, "all"), "p50 <= 20 ms, p99 <= 200 ms"),
    ]
    for kind in ("setWeight", "pause", "promotion"):
        table.append((f"  {kind} (1 Rollout)", overhead(one, kind), ""))
    table.append(
        (f"step overhead, {n} Rollouts updated at once, every step", overhead(many, "all"), "p99 <= 2 s")
    )
    for kind in ("setWeight", "pause", "promotion"):
        table.append((f"  {kind} ({n} Rollouts)", overhead(many, kind), ""))
    for label, phase in (("1 Rollout", one), (f"{n} Rollouts", many)):
        by_kind = ", ".join(f"{k} {v}" for k, v in sorted(phase["effective_writes"].items()))
        table.append(
            (
                f"API writes per step, {label}",
                f"{phase['writes_per_step']:.2f} ({phase['writes']:,} writes / {phase['steps']:,} steps; {by_kind})",
                "<= 3",
            )
        )
        table.append((f"  without Events, {label}", f"{phase['writes_per_step_without_events']:.2f}", ""))
    table += [
        (
            f"{n} Rollouts: update of all to all Healthy again",
            f"{many['all_healthy_seconds']:.1f} s ({many['reconciles']:,.0f} reconciles of "
            f"{many['reconcile_mean_ms']:,.0f} ms on average, writes {many['write_mean_ms']:,.0f} ms; "
            f"CPU: controller {many['controller_cpu_s']:.1f} s, server {many['server_cpu_s']:.1f} s)",
            "",
        ),
        (
            f"writes per minute, {idle['rollouts']} Rollouts Healthy",
            f"{idle['writes_per_minute']:.1f} ({idle['writes']} in {idle['seconds']:.0f} s; "
            f"{idle['requests']} requests in all, controller CPU {idle['controller_cpu_s']:.2f} s)",
            "0",
        ),
    ]
    for count, kib in results["rss_kib"].items():
        table.append((f"controller RSS, {int(count):,} Rollouts Healthy", f"{kib / 1024:.1f} MiB", ""))
    table.append(
        ("controller peak RSS (VmHWM) over the run", f"{results['rss_peak_kib'] / 1024:.1f} MiB", "")
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rollouts", type=int, default=500, help="Rollouts updated at once (default 500)")
    parser.add_argument(
        "--memory-at",
        default="1000,2000",
        help="also measure RSS with this many Rollouts in all, comma-separated (default 1000,2000)",
    )
    parser.add_argument("--updates", type=int, default=20, help="updates of the lone Rollout (default 20)")
    parser.add_argument(
        "--idle-seconds", type=float, default=60.0, help="length of the idle window (default 60)"
    )
    parser.add_argument("--pause", type=int, default=1, help="seconds of the pause step (default 1)")
    parser.add_argument(
        "--workers", type=int, default=10, help="controller workers (default 10, the controller's default)"
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/controller.json"))
    parser.add_argument("--keep", type=Path, help="copy the controller's log and the watch recording here")
    args = parser.parse_args()
    memory_at = [int(c) for c in args.memory_at.split(",") if c.strip()]
    if args.rollouts < 1 or args.updates < 1 or any(c <= args.rollouts + 1 for c in memory_at):
        parser.error("--rollouts and --updates must be >= 1, and each --memory-at count > --rollouts + 1")
    opts = Options(
        args.rollouts, sorted(memory_at), args.updates, args.idle_seconds, args.pause, args.workers
    )
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as tmp:
        try:
            results = asyncio.run(run(opts, Path(tmp)))
        finally:
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                for name in ("controller.log", "recorded.txt"):
                    with contextlib.suppress(OSError):
                        shutil.copy(Path(tmp) / name, args.keep / name)
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": multiprocessing.cpu_count(),
        "cpu_model": cpu_model(),
        "options": vars(opts),
        "command": " ".join(["python", *sys.argv]),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print("| measurement | result | target |\n|---|---|---|")
    for name, result, target in rows(results, opts):
        print(f"| {name} | {result} | {target} |")


if __name__ == "__main__":
    main()
