"""The ``rollouts`` CLI against localcluster with the controller running: every verb, as a user runs it.

The controller runs in-process (an asyncio task, no leader election) against the session's
localcluster; the CLI runs as a real subprocess (``.venv/bin/rollouts ... --kubeconfig``) and
the test checks what it printed, its exit code, and the Rollout it left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.api.crds import crd_manifests
from controller.kube import ApiClient, Conflict, load_kubeconfig, resource_path
from controller.runtime.controller import Controller, ControllerOptions
from tests.conftest import Cluster

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ROLLOUTS = str(BIN / "rollouts")
Obj = dict[str, Any]
HASH = "rollouts-pod-template-hash"
BLUE, GREEN, YELLOW = (f"argoproj/rollouts-demo:{c}" for c in ("blue", "green", "yellow"))


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def run(*args: str, env: dict[str, str] | None = None, within: float = 60) -> Ran:
    """Run a command (the real CLI) without blocking the event loop the controller runs on."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), within)
    return Ran(proc.returncode or 0, out.decode(), err.decode())


def rollouts_path(ns: str, name: str | None = None) -> str:
    return resource_path("argoproj.io/v1alpha1", "rollouts", namespace=ns, name=name)


def manifest(ns: str, name: str = "frontend", steps: list[Obj] | None = None) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "frontend",
                            "image": BLUE,
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
                        }
                    ]
                },
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}] if steps is None else steps}},
        },
    }


async def until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


async def install_crds(api: ApiClient, ns: str) -> None:
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


class World:
    """The test's own view of the namespace, and the CLI pointed at it."""

    def __init__(self, api: ApiClient, cluster: Cluster, ns: str) -> None:
        self.api, self.cluster, self.ns = api, cluster, ns

    async def cli(self, *args: str, within: float = 60) -> Ran:
        return await run(
            ROLLOUTS, *args, "--kubeconfig", str(self.cluster.kubeconfig), "-n", self.ns, within=within
        )

    async def rollout(self, name: str = "frontend") -> Obj:
        return await self.api.get(rollouts_path(self.ns, name))

    async def image(self) -> str:
        return str((await self.rollout())["spec"]["template"]["spec"]["containers"][0]["image"])

    async def phase(self, phase: str, within: float = 30.0, **status: Any) -> Obj:
        async def check() -> Obj | None:
            ro = await self.rollout()
            st = ro.get("status") or {}
            generation_seen = str(st.get("observedGeneration")) == str(ro["metadata"].get("generation"))
            ok = (
                st.get("phase") == phase
                and generation_seen
                and all(st.get(k) == v for k, v in status.items())
            )
            return ro if ok else None

        result: Obj = await until(check, f"phase {phase} {status}", within)
        return result


@contextlib.asynccontextmanager
async def controller_running(cluster: Cluster, ns: str) -> AsyncIterator[World]:
    config = load_kubeconfig(cluster.kubeconfig)
    async with ApiClient(config, timeout=10) as api, ApiClient(config, timeout=10) as controller_api:
        await install_crds(api, ns)
        options = ControllerOptions(namespace=ns, workers=2, leader_elect=False)
        task = asyncio.create_task(Controller(controller_api, options).run())
        try:
            yield World(api, cluster, ns)
            assert not task.done(), task.exception() if task.done() else None
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.25)


async def read_until(stream: asyncio.StreamReader, needle: str, within: float) -> str:
    """Read ``stream`` until ``needle`` shows up; everything read so far."""
    seen = ""
    deadline = time.monotonic() + within
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not printed within {within}s; got:\n{seen}")
        chunk = await asyncio.wait_for(stream.read(4096), left)
        if not chunk:
            raise AssertionError(f"output ended before {needle!r}; got:\n{seen}")
        seen += chunk.decode()
    return seen


async def _every_verb(cluster: Cluster, ns: str) -> None:
    async with controller_running(cluster, ns) as w:
        await w.api.create(rollouts_path(ns), manifest(ns))
        first = await w.phase("Healthy")
        blue = first["status"]["stableRS"]

        tree = await w.cli("get", "rollout", "frontend", "--no-color")
        assert tree.code == 0, tree.err
        assert "Status:          ✔ Healthy" in tree.out
        assert "└──# revision:1" in tree.out
        assert f"frontend-{blue}" in tree.out and "stable" in tree.out
        assert tree.out.count("Pod         ✔ Running") == 2

        listed = await w.cli("list", "rollouts")
        assert listed.out.splitlines()[1].split()[:5] == ["frontend", "Canary", "Healthy", "2/2", "100"]

        healthy = await w.cli("status", "frontend", "--timeout", "20s")
        assert (healthy.code, healthy.out) == (0, "Healthy\n")

        # watchers: the tree redraws, the list prints a line, as the update happens
        watch_tree = await asyncio.create_subprocess_exec(
            ROLLOUTS, "get", "rollout", "frontend", "-w", "--no-color", "--timeout-seconds", "40",
            "--kubeconfig", str(cluster.kubeconfig), "-n", ns,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        watch_list = await asyncio.create_subprocess_exec(
            ROLLOUTS, "list", "rollouts", "-w", "--timeout-seconds", "40",
            "--kubeconfig", str(cluster.kubeconfig), "-n", ns,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert watch_tree.stdout is not None and watch_list.stdout is not None
            await read_until(watch_tree.stdout, "revision:1", 15)
            await read_until(watch_list.stdout, "Healthy", 15)

            set_image = await w.cli("set", "image", "frontend", f"frontend={GREEN}")
            assert (set_image.code, set_image.out) == (0, 'rollout "frontend" image updated\n')
            assert await w.image() == GREEN
            paused = await w.phase("Paused", currentStepIndex=1)
            green = paused["status"]["currentPodHash"]

            frames = await read_until(watch_tree.stdout, "Status:          ॥ Paused", 20)
            assert "revision:2" in frames.split("Status:          ॥ Paused")[-1]
            lines = await read_until(watch_list.stdout, "Paused", 20)
            assert "1/2   50" in lines.splitlines()[-1]
        finally:
            for proc in (watch_tree, watch_list):
                if proc.returncode is None:
                    proc.terminate()
                await proc.wait()

        # status streams the phase and gives up at its timeout (exit 3)
        waiting = await w.cli("status", "frontend", "-t", "1s")
        assert waiting.code == 3
        assert waiting.out == "Paused - CanaryPauseStep\n"
        assert waiting.err.strip() == "rollouts: Rollout status watch exceeded timeout"
        once = await w.cli("status", "frontend", "--watch=false")
        assert (once.code, once.out) == (0, "Paused - CanaryPauseStep\n")

        as_json = json.loads((await w.cli("get", "rollout", "frontend", "-o", "json")).out)
        assert (as_json["step"], as_json["setWeight"], as_json["actualWeight"]) == ("1/2", "50", "50")

        # pause (spec.paused), then promote: unpaused and past the pause step
        paused_out = await w.cli("pause", "frontend")
        assert paused_out.out == "rollout 'frontend' paused\n"
        assert (await w.rollout())["spec"]["paused"] is True
        promoted = await w.cli("promote", "frontend")
        assert promoted.out == "rollout 'frontend' promoted\n"
        assert (await w.rollout())["spec"]["paused"] is False
        done = await w.cli("status", "frontend", "--timeout", "30s")
        assert done.code == 0, done.err
        assert done.out.splitlines()[-1] == "Healthy"
        assert (await w.phase("Healthy"))["status"]["stableRS"] == green

        history = await w.cli("history", "frontend")
        rows = history.out.splitlines()
        assert rows[0].split()[:4] == ["REVISION", "REPLICASET", "PODS", "IMAGES"]
        assert rows[1].startswith("2 ") and GREEN in rows[1] and rows[1].endswith("current, stable")
        assert rows[2].startswith("1 ") and BLUE in rows[2]
        assert "ago" in rows[1].split(GREEN)[1]  # when revision 2 became stable (a RolloutCompleted event)

        # abort: Degraded, status exits 1 with the message
        await w.cli("set", "image", "frontend", f"frontend={YELLOW}")
        await w.phase("Paused", currentStepIndex=1)
        aborted = await w.cli("abort", "frontend")
        assert aborted.out == "rollout 'frontend' aborted\n"
        degraded = await w.cli("status", "frontend", "--timeout", "20s")
        assert degraded.code == 1
        assert degraded.err.strip() == (
            "rollouts: The rollout is in a degraded state with message: "
            "RolloutAborted: Rollout aborted update to revision 3"
        )
        assert (await w.phase("Degraded"))["status"]["abort"] is True
        after_abort = (await w.cli("history", "frontend", "-o", "json")).out
        assert json.loads(after_abort)[0]["aborted"], after_abort

        # retry: the steps start again; promote --full: straight to the end
        retried = await w.cli("retry", "rollout", "frontend")
        assert retried.out == "rollout 'frontend' retried\n"
        assert (await w.rollout())["status"].get("abort") is not True
        await w.phase("Paused", currentStepIndex=1)
        full = await w.cli("promote", "frontend", "--full", "-o", "json")
        assert json.loads(full.out)["status"]["promoteFull"] is True
        yellow = (await w.phase("Healthy"))["status"]["stableRS"]
        assert yellow not in (blue, green)

        # undo: the previous revision's template (green), then revision 1's (blue)
        undone = await w.cli("undo", "frontend")
        assert undone.out == "rollout 'frontend' undo\n"
        assert await w.image() == GREEN
        assert HASH not in (await w.rollout())["spec"]["template"]["metadata"]["labels"]
        await w.cli("undo", "frontend", "--to-revision", "1")
        assert await w.image() == BLUE
        # (the controller may renumber blue's ReplicaSet as it is reused, as Argo does: ask history)
        revisions = json.loads((await w.cli("history", "frontend", "-o", "json")).out)
        number = next(r["revision"] for r in revisions if r["images"] == [BLUE])
        again = await w.cli("undo", "frontend", "--to-revision", str(number))
        assert again.out == f"skipped rollback (current template already matches revision {number})\n"

        # restart: spec.restartAt, an hour from now
        before = datetime.now(UTC).replace(microsecond=0)
        restarted = await w.cli("restart", "frontend", "--in", "1h")
        assert restarted.out == "rollout 'frontend' restarts in 1h\n"
        at = datetime.fromisoformat((await w.rollout())["spec"]["restartAt"])
        assert before + timedelta(hours=1) <= at <= datetime.now(UTC) + timedelta(hours=1, seconds=1)


def test_every_verb_drives_the_rollout(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_every_verb(cluster, namespace), 150))


async def _errors(cluster: Cluster, ns: str, tmp: Path) -> None:
    config = load_kubeconfig(cluster.kubeconfig)
    async with ApiClient(config, timeout=10) as api:
        await install_crds(api, ns)
        await api.create(rollouts_path(ns), manifest(ns))
        w = World(api, cluster, ns)

        missing = await w.cli("promote", "nope")
        assert missing.code == 1
        assert missing.err == (
            f'rollouts: rollout "nope" not found in namespace "{ns}"; '
            f"list them with `rollouts list rollouts -n {ns}` or pass -n NAMESPACE\n"
        )
        assert missing.out == ""

        context = await w.cli("get", "rollout", "frontend", "--context", "prod")
        assert context.code == 1
        assert context.err.startswith('rollouts: context "prod" not found in kubeconfig ')
        assert context.err.rstrip().endswith("pass one with --context")

        bad_image = await w.cli("set", "image", "frontend", "frontend:green")
        assert bad_image.code == 1
        assert 'invalid image argument "frontend:green": expected CONTAINER=IMAGE' in bad_image.err
        no_container = await w.cli("set", "image", "frontend", "web=nginx")
        assert (
            'unable to find container named "web" in rollout "frontend" (containers: frontend)'
            in no_container.err
        )
        assert await w.image() == BLUE

        # a cluster that is not there: a copy of the kubeconfig pointing at a closed port
        dead = tmp / "dead-kubeconfig"
        server = config.server
        dead.write_text(cluster.kubeconfig.read_text().replace(server, "https://127.0.0.1:9"))
        unreachable = await run(ROLLOUTS, "list", "rollouts", "--kubeconfig", str(dead), "-n", ns)
        assert unreachable.code == 1
        assert unreachable.err.startswith("rollouts: cannot reach the Kubernetes API at https://127.0.0.1:9")
        assert "Start localcluster with `rollouts cluster up`" in unreachable.err
        assert len(unreachable.err.splitlines()) == 1 and "Traceback" not in unreachable.err
        verbose = await run(ROLLOUTS, "list", "rollouts", "--kubeconfig", str(dead), "-v")
        assert "Traceback (most recent call last)" in verbose.err

        # shell completion offers the namespace's Rollouts
        line = f"rollouts promote --kubeconfig {cluster.kubeconfig} -n {ns} fr"
        offered = tmp / "completions"
        completion_env = {
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_SHELL": "bash",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(offered),
        }
        completed = await run(ROLLOUTS, env=completion_env)
        assert completed.code == 0, completed.err
        assert offered.read_text().split() == ["frontend"]

        # the kubectl plugin: `kubectl rollouts ...` finds kubectl-rollouts on PATH
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        plugin = await run(
            "kubectl", "rollouts", "get", "rollout", "frontend", "--no-color",
            "--kubeconfig", str(cluster.kubeconfig), "-n", ns, env={"PATH": path},
        )  # fmt: skip
        assert plugin.code == 0, plugin.err
        assert plugin.out.startswith(f"Name:            frontend\nNamespace:       {ns}\n")
        plugin_missing = await run(
            "kubectl", "rollouts", "status", "nope", "--kubeconfig", str(cluster.kubeconfig), "-n", ns,
            env={"PATH": path},
        )  # fmt: skip
        assert plugin_missing.code == 1
        assert plugin_missing.err.startswith('kubectl rollouts: rollout "nope" not found')
        assert "`kubectl rollouts list rollouts -n" in plugin_missing.err
    await asyncio.sleep(0.25)


def test_errors_are_one_actionable_line(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_errors(cluster, namespace, tmp_path), 60))
