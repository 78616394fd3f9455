"""The controller under faults: killed mid-pause, a leader killed, API conflicts and a server restart.

The controller runs as a subprocess (``python -m controller run``) against localcluster, so it
can be SIGKILLed like a crashed pod; every process a test starts is stopped by its PID in
``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.api.crds import crd_manifests
from controller.kube import ApiClient, Conflict, KubeError, load_kubeconfig, resource_path
from tests.conftest import Cluster, start_cluster, stop_cluster
from tests.integration.test_rollout_controller import (
    World,
    rollout,
    rollouts_path,
    service,
    until,
)

pytestmark = pytest.mark.slow

Obj = dict[str, Any]
LEASE_NAME = "rollouts-controller"
PAUSED_STEPS: list[Obj] = [{"setWeight": 50}, {"pause": {"duration": "20s"}}, {"setWeight": 100}]


@dataclass
class ControllerProcess:
    """One ``python -m controller run`` subprocess and its log."""

    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def identity(self) -> str:
        """The Lease identity it campaigns with (from its ``action=campaign`` log line)."""
        match = re.search(r"action=campaign \S+ identity=(\S+)", self.text())
        return match.group(1) if match else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it by its PID."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_controller(kubeconfig: Path, ns: str, log: Path, *, leader_elect: bool) -> ControllerProcess:
    cmd = [
        sys.executable,
        "-m",
        "controller",
        "run",
        "--kubeconfig",
        str(kubeconfig),
        "--namespace",
        ns,
        "--workers",
        "2",
        "--metrics-port",
        "0",
    ]
    if leader_elect:
        cmd += ["--leader-elect", "--leader-election-namespace", ns]
    else:
        cmd.append("--no-leader-elect")
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return ControllerProcess(proc, log)


@contextlib.contextmanager
def controllers() -> Iterator[list[ControllerProcess]]:
    """A list to append started controllers to; every one is stopped on the way out."""
    started: list[ControllerProcess] = []
    try:
        yield started
    finally:
        for c in started:
            c.stop()


@contextlib.asynccontextmanager
async def world_of(cluster: Cluster, ns: str) -> AsyncIterator[World]:
    """The CRDs, the namespace's Service, and a client of the test's own."""
    async with ApiClient(load_kubeconfig(cluster.kubeconfig), timeout=10) as api:
        crds = resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions")
        for crd in crd_manifests():
            with contextlib.suppress(Conflict):
                await api.create(crds, crd)

        async def served() -> bool:
            try:
                await api.list(rollouts_path(ns))
            except Exception:
                return False
            return True

        await until(served, "the Rollout CRD to be served")
        await api.create(resource_path("v1", "services", namespace=ns), service(ns))
        yield World(api, ns)
    await asyncio.sleep(0.25)


async def new_hash(world: World, *old: str) -> str:
    return next((h for h in await world.replica_sets() if h not in old), "")


async def cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def parse_time(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- 1. a crash during a pause -----------------------------------------------------------------


async def _crash_during_pause(cluster: Cluster, ns: str, tmp: Path) -> None:
    with controllers() as started:
        started.append(start_controller(cluster.kubeconfig, ns, tmp / "ctl-1.log", leader_elect=False))
        async with world_of(cluster, ns) as world:
            await world.api.create(rollouts_path(ns), rollout(ns, PAUSED_STEPS))
            blue = await world.current_hash()
            await world.wait_healthy(blue)

            # (wall time, currentStepIndex) of every version of the Rollout from the update on: a
            # watch, so that a step held only for a moment is seen too
            seen: list[tuple[float, int]] = []
            since = str((await world.rollout())["metadata"]["resourceVersion"])

            async def watch_steps() -> None:
                nonlocal since
                while True:
                    with contextlib.suppress(KubeError):
                        events = world.api.watch(
                            rollouts_path(ns),
                            resource_version=since,
                            timeout_seconds=30,
                            field_selector="metadata.name=frontend",
                        )
                        async with contextlib.aclosing(events) as stream:
                            async for event in stream:
                                since = event.resource_version or since
                                if event.type == "BOOKMARK":
                                    continue
                                status = event.object.get("status") or {}
                                if "currentStepIndex" in status:
                                    seen.append((time.time(), int(status["currentStepIndex"])))
                    await asyncio.sleep(0.05)

            poller: asyncio.Task[None] | None = None
            try:
                await world.set_image("argoproj/rollouts-demo:green")
                poller = asyncio.create_task(watch_steps())
                green = await until(lambda: new_hash(world, blue), "the green ReplicaSet", within=15)

                async def paused() -> Obj | None:
                    r = await world.rollout()
                    s = r.get("status") or {}
                    ok = (
                        s.get("currentStepIndex") == 1
                        and s.get("pauseConditions")
                        and s.get("phase") == "Paused"
                    )
                    return r if ok else None

                before = await until(paused, "the pause step", within=20)
                start_time = before["status"]["pauseConditions"][0]["startTime"]

                started[0].stop(signal.SIGKILL)
                await asyncio.sleep(1.0)
                started.append(
                    start_controller(cluster.kubeconfig, ns, tmp / "ctl-2.log", leader_elect=False)
                )

                # the new controller keeps the same pause: same step, same startTime
                await until(lambda: _logged(started[1], "start-workers"), "the second controller's workers")
                end = min(parse_time(start_time) + 20 - 2, time.time() + 4)
                while time.time() < end:
                    s = (await world.rollout())["status"]
                    assert s["currentStepIndex"] == 1, s
                    assert s["pauseConditions"][0]["startTime"] == start_time, s
                    assert s["phase"] == "Paused", s
                    await asyncio.sleep(0.2)

                done = await world.wait_healthy(green, within=40)
                assert done["status"]["currentStepIndex"] == 3
            finally:
                await cancel(poller)
            seen.append((time.time(), 3))

            # the step indexes seen: 3 (the old, completed rollout) then 0..3, never back nor a jump
            steps = [i for _, i in seen]
            while steps and steps[0] == 3:
                steps.pop(0)
            compressed = [i for n, i in enumerate(steps) if n == 0 or steps[n - 1] != i]
            assert compressed and compressed[-1] == 3, seen
            assert all(b == a + 1 for a, b in itertools.pairwise(compressed)), compressed
            assert compressed[0] in (0, 1), compressed
            # and step 1 was left only once its 20 s were over, counted from the original startTime
            # (looked for after the pause was first seen: earlier samples are the old rollout's 3)
            first_paused = next(n for n, (_, i) in enumerate(seen) if i == 1)
            left_pause = next(t for t, i in seen[first_paused:] if i >= 2)
            assert left_pause >= parse_time(start_time) + 20 - 0.5, (left_pause, start_time)


async def _logged(c: ControllerProcess, action: str) -> bool:
    return f"action={action}" in c.text()


def test_crash_during_pause_resumes_at_the_same_step(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    asyncio.run(asyncio.wait_for(_crash_during_pause(cluster, namespace, tmp_path), 90))


# -- 2. leader election takeover ---------------------------------------------------------------


async def _leader_takeover(cluster: Cluster, ns: str, tmp: Path) -> None:
    lease_path = resource_path("coordination.k8s.io/v1", "leases", namespace=ns, name=LEASE_NAME)
    with controllers() as started:
        for n in (1, 2):
            started.append(start_controller(cluster.kubeconfig, ns, tmp / f"ctl-{n}.log", leader_elect=True))
        async with world_of(cluster, ns) as world:

            async def identities() -> bool:
                return all(c.identity() for c in started)

            await until(identities, "both controllers campaigning", within=20)
            ids = {c.identity(): c for c in started}
            assert len(ids) == 2

            async def holder() -> str:
                try:
                    lease = await world.api.get(lease_path)
                except KubeError:
                    return ""
                return str(lease["spec"].get("holderIdentity") or "")

            first = await until(holder, "a holder of the Lease", within=20)
            assert first in ids
            leader, standby = ids[first], next(c for i, c in ids.items() if i != first)
            await until(lambda: _logged(leader, "leading"), "the holder's workers")

            await world.api.create(
                rollouts_path(ns), rollout(ns, [{"setWeight": 50}, {"pause": {"duration": "2s"}}])
            )
            blue = await world.current_hash()
            await world.wait_healthy(blue)
            # exactly one of the two leads
            assert "action=leading" not in standby.text()
            assert (await holder()) == first

            leader.stop(signal.SIGKILL)
            killed_at = time.monotonic()

            async def taken_over() -> bool:
                return (await holder()) == standby.identity()

            await until(taken_over, "the standby to take the Lease", within=30)
            took = time.monotonic() - killed_at
            assert took <= 15 + 2 * 2 * 1.2 + 2, took  # lease duration, plus (jittered) retries
            await until(lambda: _logged(standby, "leading"), "the new leader's workers")

            await world.set_image("argoproj/rollouts-demo:green")
            green = await until(lambda: new_hash(world, blue), "the green ReplicaSet", within=15)
            done = await world.wait_healthy(green, within=30)
            assert done["status"]["stableRS"] == green
            assert standby.proc.poll() is None


def test_leader_election_takeover(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_leader_takeover(cluster, namespace, tmp_path), 100))


# -- 3. conflicts and a server restart ---------------------------------------------------------


async def _disturbed(cluster: Cluster, tmp: Path, servers: list[Cluster]) -> None:
    """Run the rollout through conflicts and a restart; servers started are added to ``servers``."""
    ns = "faults"
    port = urllib.parse.urlsplit(cluster.url).port
    assert port
    status, body, _ = cluster.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    )
    assert status == 201, body
    with controllers() as started:
        started.append(start_controller(cluster.kubeconfig, ns, tmp / "ctl.log", leader_elect=False))
        steps: list[Obj] = [{"setWeight": 50}, {"pause": {"duration": "3s"}}, {"setWeight": 100}]
        async with world_of(cluster, ns) as world:
            await world.api.create(rollouts_path(ns), rollout(ns, steps))
            blue = await world.current_hash()
            await world.wait_healthy(blue)

            patches = 0

            async def patch_labels() -> None:
                nonlocal patches
                while True:
                    with contextlib.suppress(KubeError, OSError, TimeoutError):
                        label = {"metadata": {"labels": {"disturbance": str(patches)}}}
                        await world.api.patch(rollouts_path(ns, "frontend"), label)
                        patches += 1
                    await asyncio.sleep(0.05)

            patcher = asyncio.create_task(patch_labels())
            try:
                await world.set_image("argoproj/rollouts-demo:green")
                green = await until(lambda: new_hash(world, blue), "the green ReplicaSet", within=15)

                async def step_1() -> bool:
                    return (await world.rollout())["status"].get("currentStepIndex") == 1

                await until(step_1, "the pause step", within=20)

                # restart the server underneath the controller, on the same port and state
                stop_cluster(cluster)
                await asyncio.sleep(1.0)
                servers.append(start_cluster(cluster.state_dir, port=port))

                done = await world.wait_healthy(green, within=45)
            finally:
                await cancel(patcher)
            assert patches > 0
            assert done["status"]["stableRS"] == green
            assert done["status"]["currentStepIndex"] == 3
            counts = await world.replicas()
            assert counts[green] == (2, 2)
            assert counts[blue][0] == 0
            assert set(counts) == {blue, green}
            log = started[0].text()
            assert started[0].proc.poll() is None, log[-2000:]
            # the restart ended the controller's watches and expired their resourceVersions (410)
            assert "expired" in log and "listing again" in log, log[-2000:]


def test_conflicts_and_server_restart_end_healthy(fresh_cluster: Cluster, tmp_path: Path) -> None:
    servers: list[Cluster] = []
    try:
        asyncio.run(asyncio.wait_for(_disturbed(fresh_cluster, tmp_path, servers), 100))
    finally:
        for server in servers:
            stop_cluster(server)
