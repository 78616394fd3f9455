"""The controller end to end on localcluster: a canary Rollout updated, paused, promoted and aborted.

The controller runs in-process (an asyncio task, no leader election, no metrics port) against
the session's localcluster; the test drives the Rollout through the API like a user or
``kubectl argo rollouts`` would and polls what the controller wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from controller.api.crds import crd_manifests
from controller.kube import ApiClient, Conflict, load_kubeconfig, resource_path
from controller.runtime.controller import Controller, ControllerOptions
from tests.conftest import Cluster

pytestmark = pytest.mark.slow

Obj = dict[str, Any]
HASH = "rollouts-pod-template-hash"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"


def rollouts_path(ns: str, name: str | None = None) -> str:
    return resource_path("argoproj.io/v1alpha1", "rollouts", namespace=ns, name=name)


def rollout(ns: str, steps: list[Obj], image: str = "argoproj/rollouts-demo:blue") -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "frontend", "namespace": ns},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "frontend"}},
            "template": {
                "metadata": {"labels": {"app": "frontend"}},
                "spec": {
                    "containers": [
                        {
                            "name": "frontend",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
                        }
                    ]
                },
            },
            "strategy": {"canary": {"stableService": "frontend", "steps": steps}},
        },
    }


def service(ns: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "frontend", "namespace": ns},
        "spec": {
            "selector": {"app": "frontend"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }


async def until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    """Poll the async ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


class World:
    """The test's view of one namespace through its own API client."""

    def __init__(self, api: ApiClient, ns: str) -> None:
        self.api, self.ns = api, ns

    async def rollout(self) -> Obj:
        return await self.api.get(rollouts_path(self.ns, "frontend"))

    async def replica_sets(self) -> dict[str, Obj]:
        """The Rollout's ReplicaSets by their pod-template hash (a Deployment's are left out)."""
        items = (await self.api.list(resource_path("apps/v1", "replicasets", namespace=self.ns)))["items"]
        return {
            rs["metadata"]["labels"][HASH]: rs for rs in items if HASH in (rs["metadata"].get("labels") or {})
        }

    async def replicas(self) -> dict[str, tuple[int, int]]:
        """``hash -> (spec.replicas, status.availableReplicas)``."""
        return {
            h: (rs["spec"].get("replicas", 1), (rs.get("status") or {}).get("availableReplicas", 0))
            for h, rs in (await self.replica_sets()).items()
        }

    async def set_image(self, image: str) -> None:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "frontend", "image": image}]}}}}
        # a merge patch replaces the list: send the whole container
        full = rollout(self.ns, [], image)["spec"]["template"]["spec"]["containers"]
        patch["spec"]["template"]["spec"]["containers"] = full
        await self.api.patch(rollouts_path(self.ns, "frontend"), patch)

    async def wait_phase(self, phase: str, within: float = 30.0) -> Obj:
        async def check() -> Obj | None:
            r = await self.rollout()
            return r if (r.get("status") or {}).get("phase") == phase else None

        result: Obj = await until(check, f"phase {phase}", within)
        return result

    async def wait_healthy(self, pod_hash: str, within: float = 30.0) -> Obj:
        """Healthy, fully promoted to ``pod_hash`` with 2 available, every other RS at 0."""

        async def check() -> Obj | None:
            r = await self.rollout()
            status = r.get("status") or {}
            counts = await self.replicas()
            others_down = all(spec == 0 for h, (spec, _) in counts.items() if h != pod_hash)
            ok = (
                status.get("phase") == "Healthy"
                and status.get("stableRS") == pod_hash
                and counts.get(pod_hash) == (2, 2)
                and status.get("availableReplicas") == 2
                and others_down
            )
            return r if ok else None

        result: Obj = await until(check, f"Healthy on {pod_hash}", within)
        return result

    async def current_hash(self) -> str:
        async def check() -> str:
            r = await self.rollout()
            current = str((r.get("status") or {}).get("currentPodHash") or "")
            return current if current in await self.replica_sets() else ""

        result: str = await until(check, "currentPodHash with its ReplicaSet")
        return result


@contextlib.asynccontextmanager
async def controller_running(
    cluster: Cluster, ns: str, options: ControllerOptions | None = None
) -> AsyncIterator[World]:
    """CRDs, the namespace's Service, and the controller (an asyncio task) for the block."""
    config = load_kubeconfig(cluster.kubeconfig)
    async with ApiClient(config, timeout=10) as api, ApiClient(config, timeout=10) as controller_api:
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
        options = options or ControllerOptions(namespace=ns, workers=2, leader_elect=False)
        task = asyncio.create_task(Controller(controller_api, options).run())
        try:
            yield World(api, ns)
            assert not task.done(), task.exception() if task.done() else None
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    # let the TLS transports of the closed sessions finish closing before the loop ends (else
    # they are finalized later, outside any loop, with "unclosed transport" warnings)
    await asyncio.sleep(0.25)


async def _canary_with_timed_pause(cluster: Cluster, ns: str) -> None:
    steps = [{"setWeight": 50}, {"pause": {"duration": "5s"}}, {"setWeight": 100}]
    async with controller_running(cluster, ns) as world:
        await world.api.create(rollouts_path(ns), rollout(ns, steps))
        blue = await world.current_hash()
        healthy = await world.wait_healthy(blue)
        assert healthy["status"]["stableRS"] == blue
        rs = (await world.replica_sets())[blue]
        assert rs["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "1"
        assert rs["metadata"]["ownerReferences"][0]["uid"] == healthy["metadata"]["uid"]

        async def service_on_blue() -> Obj | None:
            svc = await world.api.get(resource_path("v1", "services", namespace=ns, name="frontend"))
            return svc if svc["spec"]["selector"] == {"app": "frontend", HASH: blue} else None

        svc = await until(service_on_blue, "the stable Service selecting blue")
        assert svc["metadata"]["annotations"][MANAGED_BY] == "frontend"

        await world.set_image("argoproj/rollouts-demo:green")
        green = await until(lambda: _new_hash(world, blue), "the green ReplicaSet", within=15)
        # the pause step: canary 1, stable 1, both available
        paused_counts = {blue: (1, 1), green: (1, 1)}

        async def in_pause() -> bool:
            r = await world.rollout()
            return (await world.replicas()) == paused_counts and r["status"].get("currentStepIndex") == 1

        await until(in_pause, "canary 1 / stable 1 during the pause", within=20)
        mid = await world.rollout()
        assert mid["status"]["stableRS"] == blue
        assert mid["status"]["phase"] == "Paused"

        done = await world.wait_healthy(green, within=30)
        assert done["status"]["currentStepIndex"] == 3
        counts = await world.replicas()
        assert counts[green] == (2, 2)
        assert counts[blue][0] == 0

        async def service_on_green() -> bool:
            svc = await world.api.get(resource_path("v1", "services", namespace=ns, name="frontend"))
            return bool(svc["spec"]["selector"].get(HASH) == green)

        await until(service_on_green, "the stable Service selecting green")

        events = await world.api.list(resource_path("v1", "events", namespace=ns))
        mine = [e for e in events["items"] if e.get("source", {}).get("component") == "rollouts-controller"]
        reasons = {e["reason"] for e in mine}
        assert {"ScalingReplicaSet", "RolloutPaused", "RolloutResumed", "RolloutCompleted"} <= reasons, (
            reasons
        )
        assert all(e["involvedObject"]["kind"] == "Rollout" for e in mine)


async def _new_hash(world: World, old: str) -> str:
    return next((h for h in await world.replica_sets() if h != old), "")


def test_canary_update_with_timed_pause(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_canary_with_timed_pause(cluster, namespace), 90))


async def _promote_and_abort(cluster: Cluster, ns: str) -> None:
    steps = [{"setWeight": 50}, {"pause": {}}]
    async with controller_running(cluster, ns) as world:
        path = rollouts_path(ns, "frontend")
        await world.api.create(rollouts_path(ns), rollout(ns, steps))
        blue = await world.current_hash()
        await world.wait_healthy(blue)

        # green: stops at the indefinite pause with canary 1 / stable 1
        await world.set_image("argoproj/rollouts-demo:green")
        paused = await world.wait_phase("Paused")
        assert paused["status"]["pauseConditions"][0]["reason"] == "CanaryPauseStep"
        green = await _new_hash(world, blue)
        assert await until(lambda: _counts_are(world, {blue: (1, 1), green: (1, 1)}), "1/1 while paused")
        # promote, as `kubectl argo rollouts promote` sends it for a pause step
        await world.api.patch_status(path, {"status": {"pauseConditions": None}})
        await world.wait_healthy(green)

        # yellow: paused again, then aborted: back to 2 green pods, Degraded
        await world.set_image("argoproj/rollouts-demo:yellow")
        await world.wait_phase("Paused")
        yellow = next(h for h in await world.replica_sets() if h not in (blue, green))
        await until(lambda: _counts_are(world, {green: (1, 1), yellow: (1, 1), blue: (0, 0)}), "1/1 paused")
        await world.api.patch_status(path, {"status": {"abort": True}})
        aborted = await world.wait_phase("Degraded")
        assert aborted["status"]["stableRS"] == green
        await until(
            lambda: _counts_are(world, {green: (2, 2), yellow: (0, 0), blue: (0, 0)}),
            "2 stable pods after abort",
        )
        final = await world.rollout()
        assert final["status"]["phase"] == "Degraded"
        assert final["status"].get("abort") is True


async def _counts_are(world: World, expected: dict[str, tuple[int, int]]) -> bool:
    return await world.replicas() == expected


def test_indefinite_pause_promote_then_abort(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_promote_and_abort(cluster, namespace), 120))


async def _leader_elected(cluster: Cluster, ns: str) -> None:
    options = ControllerOptions(
        namespace=ns,
        workers=1,
        leader_elect=True,
        lease_namespace=ns,
        identity="test-controller",
        lease_duration=3.0,
        renew_deadline=2.0,
        retry_period=0.5,
    )
    async with controller_running(cluster, ns, options) as world:
        await world.api.create(rollouts_path(ns), rollout(ns, [{"setWeight": 50}]))
        await world.wait_healthy(await world.current_hash())
        lease_path = resource_path(
            "coordination.k8s.io/v1", "leases", namespace=ns, name="rollouts-controller"
        )
        lease = await world.api.get(lease_path)
        assert lease["spec"]["holderIdentity"] == "test-controller"

    async with ApiClient(load_kubeconfig(cluster.kubeconfig), timeout=10) as api:
        released = await api.get(lease_path)
        assert released["spec"]["holderIdentity"] == ""  # released on stop
    await asyncio.sleep(0.25)


def test_leader_election_gates_the_workers(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_leader_elected(cluster, namespace), 60))
