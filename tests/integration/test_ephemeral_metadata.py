"""Ephemeral metadata end to end on localcluster, read back with the real kubectl.

The controller runs in-process against the session's localcluster. A blue-green Rollout with
``previewMetadata``/``activeMetadata`` (and a preferred ``antiAffinity``) and a canary with
``canaryMetadata``/``stableMetadata`` are updated and promoted; ``kubectl get pods -l role=...``
shows which pods play which role before and after the promotion -- the same pods, relabelled in
place, not new ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Cluster, Kubectl
from tests.integration.test_rollout_bluegreen import bluegreen, make_preview_service, selector
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


async def pods_labelled(kubectl: Kubectl, selector_text: str) -> dict[str, Obj]:
    """``kubectl get pods -l SELECTOR -o json``: the pods not being deleted, by name."""
    listed = await asyncio.to_thread(kubectl.json, "get", "pods", "-l", selector_text)
    return {
        pod["metadata"]["name"]: pod
        for pod in listed["items"]
        if not pod["metadata"].get("deletionTimestamp")
    }


async def role_pods(kubectl: Kubectl, role: str, pod_hash: str, count: int) -> set[str]:
    """Wait until exactly ``count`` pods have ``role`` and all are of ``pod_hash``; their names."""

    async def check() -> set[str]:
        pods = await pods_labelled(kubectl, f"role={role}")
        hashes = {pod["metadata"]["labels"].get(HASH) for pod in pods.values()}
        return set(pods) if len(pods) == count and hashes == {pod_hash} else set()

    names: set[str] = await until(check, f"{count} pod(s) of {pod_hash} with role={role}", within=30)
    return names


async def no_pods(kubectl: Kubectl, selector_text: str) -> None:
    async def check() -> bool:
        return not await pods_labelled(kubectl, selector_text)

    await until(check, f"no pods with {selector_text}", within=30)


async def _blue_green(cluster: Cluster, ns: str, kubectl: Kubectl) -> None:
    async with controller_running(cluster, ns) as world:
        await make_preview_service(world)
        body = bluegreen(
            ns,
            scaleDownDelaySeconds=2,
            previewMetadata={"labels": {"role": "preview"}, "annotations": {"example.com/stage": "preview"}},
            activeMetadata={"labels": {"role": "active"}},
            antiAffinity={"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 50}},
        )
        await world.api.create(rollouts_path(ns), body)
        blue = await world.current_hash()
        await world.wait_healthy(blue)
        await role_pods(kubectl, "active", blue, 2)

        await world.set_image("argoproj/rollouts-demo:green")
        await world.wait_phase("Paused", within=30)
        green = await _new_hash(world, blue)
        assert await selector(world, "frontend-preview") == green
        previews = await role_pods(kubectl, "preview", green, 2)
        pods = await pods_labelled(kubectl, "role=preview")
        assert {p["metadata"]["annotations"].get("example.com/stage") for p in pods.values()} == {"preview"}
        await role_pods(kubectl, "active", blue, 2)  # production pods keep their role
        # the green ReplicaSet prefers nodes without blue pods; its hash is still the template's
        rs = await asyncio.to_thread(kubectl.json, "get", "rs", f"frontend-{green}")
        terms = rs["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert terms == [
            {
                "weight": 50,
                "podAffinityTerm": {
                    "labelSelector": {
                        "matchExpressions": [{"key": HASH, "operator": "In", "values": [blue]}]
                    },
                    "namespaces": [ns],
                    "topologyKey": "kubernetes.io/hostname",
                },
            }
        ]
        assert (await world.rollout())["status"]["currentPodHash"] == green

        await world.api.patch_status(rollouts_path(ns, "frontend"), {"status": {"pauseConditions": None}})
        await world.wait_healthy(green, within=40)
        # the preview pods became the active ones in place: same names, new role, old role gone
        assert await role_pods(kubectl, "active", green, 2) == previews
        await no_pods(kubectl, "role=preview")
        pods = await pods_labelled(kubectl, "role=active")
        assert all("example.com/stage" not in (p["metadata"].get("annotations") or {}) for p in pods.values())


def test_blue_green_preview_pods_turn_active_on_promotion(
    cluster: Cluster, namespace: str, kubectl: Kubectl
) -> None:
    kubectl.namespace = namespace
    asyncio.run(asyncio.wait_for(_blue_green(cluster, namespace, kubectl), 150))


async def _canary(cluster: Cluster, ns: str, kubectl: Kubectl) -> None:
    async with controller_running(cluster, ns) as world:
        body = rollout(ns, [{"setWeight": 50}, {"pause": {}}])
        body["spec"]["strategy"]["canary"].update(
            canaryMetadata={"labels": {"role": "canary"}},
            stableMetadata={"labels": {"role": "stable"}},
        )
        await world.api.create(rollouts_path(ns), body)
        blue = await world.current_hash()
        await world.wait_healthy(blue)
        await role_pods(kubectl, "stable", blue, 2)

        await world.set_image("argoproj/rollouts-demo:green")
        await world.wait_phase("Paused", within=30)
        green = await _new_hash(world, blue)
        canaries = await role_pods(kubectl, "canary", green, 1)
        await role_pods(kubectl, "stable", blue, 1)

        await world.api.patch_status(rollouts_path(ns, "frontend"), {"status": {"pauseConditions": None}})
        await world.wait_healthy(green, within=40)
        stable = await role_pods(kubectl, "stable", green, 2)
        assert canaries <= stable  # the canary pod was relabelled, not replaced
        await no_pods(kubectl, "role=canary")


def test_canary_pods_turn_stable_on_promotion(cluster: Cluster, namespace: str, kubectl: Kubectl) -> None:
    kubectl.namespace = namespace
    asyncio.run(asyncio.wait_for(_canary(cluster, namespace, kubectl), 150))


__all__ = ["World"]
