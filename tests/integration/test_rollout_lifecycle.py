"""The controller end to end on localcluster, beyond steps: promote --full, undo, rollbackWindow,
restartAt, and the migration of a running Deployment through workloadRef under load.

Each test drives the Rollout with the patches ``kubectl argo rollouts`` sends and checks what the
controller did to ReplicaSets, pods, the Deployment and the Rollout's status.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.kube import resource_path
from controller.loadtest.run import run_load_test
from tests.conftest import Cluster
from tests.integration.test_rollout_controller import (
    HASH,
    World,
    _new_hash,
    controller_running,
    rollout,
    rollouts_path,
    until,
)

pytestmark = pytest.mark.slow

Obj = dict[str, Any]
REVISION = "rollout.argoproj.io/revision"
PAUSE_STEPS = [{"setWeight": 50}, {"pause": {}}]


async def deployed(world: World, steps: list[Obj], **spec: Any) -> str:
    """Create the frontend Rollout (blue) and wait for it to be Healthy; its pod hash."""
    body = rollout(world.ns, steps)
    body["spec"].update(spec)
    await world.api.create(rollouts_path(world.ns), body)
    blue = await world.current_hash()
    await world.wait_healthy(blue)
    return blue


async def undo_to(world: World, revision: int) -> None:
    """What ``rollouts undo --to-revision N`` patches: that revision's template, hash label removed."""
    rs = next(
        rs
        for rs in (await world.replica_sets()).values()
        if rs["metadata"]["annotations"][REVISION] == str(revision)
    )
    template = copy.deepcopy(rs["spec"]["template"])
    template["metadata"]["labels"].pop(HASH, None)
    await world.api.patch(rollouts_path(world.ns, "frontend"), {"spec": {"template": template}})


async def promote_full(world: World) -> None:
    await world.api.patch_status(rollouts_path(world.ns, "frontend"), {"status": {"promoteFull": True}})


async def _promote_full_and_undo(cluster: Cluster, ns: str) -> None:
    async with controller_running(cluster, ns) as world:
        blue = await deployed(world, PAUSE_STEPS)
        await world.set_image("argoproj/rollouts-demo:green")
        await world.wait_phase("Paused")
        green = await _new_hash(world, blue)
        # promote --full: every remaining step skipped, green takes all
        await promote_full(world)
        done = await world.wait_healthy(green)
        assert done["status"]["currentStepIndex"] == 2
        assert not done["status"].get("promoteFull")
        # undo: revision 1's template comes back as revision 3, through the steps again
        await undo_to(world, 1)
        paused = await world.wait_phase("Paused")
        assert paused["status"]["currentPodHash"] == blue
        assert paused["status"]["stableRS"] == green
        rss = await world.replica_sets()
        assert rss[blue]["metadata"]["annotations"][REVISION] == "3"
        assert rss[green]["metadata"]["annotations"][REVISION] == "2"
        assert len(rss) == 2  # the blue ReplicaSet is reused, not recreated
        await world.api.patch_status(rollouts_path(ns, "frontend"), {"status": {"pauseConditions": None}})
        await world.wait_healthy(blue)


def test_promote_full_then_undo(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_promote_full_and_undo(cluster, namespace), 120))


async def _rollback_window(cluster: Cluster, ns: str) -> None:
    async with controller_running(cluster, ns) as world:
        blue = await deployed(world, PAUSE_STEPS, rollbackWindow={"revisions": 3})
        await world.set_image("argoproj/rollouts-demo:green")
        await world.wait_phase("Paused")
        green = await _new_hash(world, blue)
        await promote_full(world)
        await world.wait_healthy(green)
        # an undo inside the window skips every step: no pause, straight to blue
        await undo_to(world, 1)

        async def healthy_on_blue() -> Obj | None:
            r = await world.rollout()
            status = r.get("status") or {}
            assert status.get("phase") != "Paused", "the rollback window should skip the pause"
            return r if status.get("stableRS") == blue and status.get("phase") == "Healthy" else None

        done = await until(healthy_on_blue, "Healthy on blue without pausing", within=30)
        assert done["status"]["currentStepIndex"] == 2
        events = await world.api.list(resource_path("v1", "events", namespace=ns))
        assert any(e["reason"] == "SkipSteps" for e in events["items"])


def test_rollback_within_the_window_skips_steps(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_rollback_window(cluster, namespace), 120))


async def _restart(cluster: Cluster, ns: str) -> None:
    async with controller_running(cluster, ns) as world:
        blue = await deployed(world, PAUSE_STEPS)
        pods_path = resource_path("v1", "pods", namespace=ns)

        async def pods() -> list[Obj]:
            items = (await world.api.list(pods_path, label_selector="app=frontend"))["items"]
            return [p for p in items if not p["metadata"].get("deletionTimestamp")]

        current = await pods()
        before = {p["metadata"]["name"] for p in current}
        assert len(before) == 2
        # a pod created in the same second as restartAt counts as restarted (Argo compares
        # creationTimestamp, one-second resolution): restart one second after the newest pod,
        # which is also `restart --in`, a time still to come
        newest = max(datetime.fromisoformat(p["metadata"]["creationTimestamp"]) for p in current)
        restart_at = (newest + timedelta(seconds=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await world.api.patch(rollouts_path(ns, "frontend"), {"spec": {"restartAt": restart_at}})
        least_ready = 2

        async def restarted() -> Obj | None:
            nonlocal least_ready
            current = await pods()
            ready = sum(
                1
                for p in current
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in (p.get("status") or {}).get("conditions") or []
                )
            )
            least_ready = min(least_ready, ready)
            r = await world.rollout()
            status = r.get("status") or {}
            names = {p["metadata"]["name"] for p in current}
            fresh = not (names & before) and ready == 2
            return (
                r
                if fresh and status.get("restartedAt") == restart_at and status.get("phase") == "Healthy"
                else None
            )

        done = await until(restarted, "every pod replaced and restartedAt set", within=45)
        assert done["status"]["stableRS"] == blue
        assert least_ready >= 1, "maxUnavailable 25% of 2 (at least 1 at a time) keeps one pod serving"


def test_restart_recreates_every_pod_one_at_a_time(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_restart(cluster, namespace), 120))


def frontend_deployment(ns: str) -> Obj:
    template = rollout(ns, [])["spec"]["template"]
    template["spec"]["containers"][0]["readinessProbe"]["periodSeconds"] = 1
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "frontend", "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "frontend"}}, "template": template},
    }


async def _migration(cluster: Cluster, ns: str) -> None:
    async with controller_running(cluster, ns) as world:
        deployments = resource_path("apps/v1", "deployments", namespace=ns)
        await world.api.create(deployments, frontend_deployment(ns))

        async def deployment_available() -> Obj | None:
            d = await world.api.get(resource_path("apps/v1", "deployments", namespace=ns, name="frontend"))
            return d if (d.get("status") or {}).get("availableReplicas") == 2 else None

        await until(deployment_available, "the Deployment's 2 pods", within=30)
        svc = await world.api.get(resource_path("v1", "services", namespace=ns, name="frontend"))
        target = f"http://{svc['spec']['clusterIP']}:80/"
        load = asyncio.create_task(run_load_test(target, rps=40, duration=14, concurrency=4))
        await asyncio.sleep(2)  # traffic flows through the Deployment's pods first

        body = rollout(ns, [{"setWeight": 50}, {"pause": {}}])
        del body["spec"]["template"], body["spec"]["selector"]
        body["spec"]["workloadRef"] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "frontend",
            "scaleDown": "progressively",
        }
        await world.api.create(rollouts_path(ns), body)
        blue = await world.current_hash()
        await world.wait_healthy(blue, within=30)

        async def deployment_scaled_down() -> Obj | None:
            d = await world.api.get(resource_path("apps/v1", "deployments", namespace=ns, name="frontend"))
            return d if d["spec"]["replicas"] == 0 and not (d.get("status") or {}).get("replicas") else None

        scaled = await until(deployment_scaled_down, "the Deployment at 0 replicas", within=30)
        # scaling the Deployment bumps its generation; the Rollout records each one it saw
        generation = str(scaled["metadata"]["generation"])

        async def generation_observed() -> Obj | None:
            r = await world.rollout()
            annotations = r["metadata"].get("annotations") or {}
            observed = (r.get("status") or {}).get("workloadObservedGeneration")
            ok = annotations.get("rollout.argoproj.io/workload-generation") == generation == observed
            return r if ok else None

        await until(generation_observed, f"workload generation {generation} observed")
        summary = await load
        assert summary.requests >= 300, summary.to_dict()
        assert summary.errors == 0, summary.to_dict()

        # the Deployment's template stays the source: a new image there is a canary update
        patch = {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "frontend", "image": "argoproj/rollouts-demo:green"}]}
                }
            }
        }
        await world.api.patch(
            resource_path("apps/v1", "deployments", namespace=ns, name="frontend"),
            patch,
            patch_type="strategic",
        )
        paused = await world.wait_phase("Paused")
        assert int(paused["status"]["workloadObservedGeneration"]) == int(generation) + 1
        green = await _new_hash(world, blue)
        assert (await world.replicas())[green][0] == 1
        d = await world.api.get(resource_path("apps/v1", "deployments", namespace=ns, name="frontend"))
        assert d["spec"]["replicas"] == 0, "scaleDown acts only on the first migration"


def test_workload_ref_migrates_a_running_deployment_without_failed_requests(
    cluster: Cluster, namespace: str
) -> None:
    asyncio.run(asyncio.wait_for(_migration(cluster, namespace), 150))
