"""Blue-green Rollouts end to end on localcluster: preview, pause, promote, the switch under load,
the scale-down delay, abort, and a post-promotion analysis that fails and switches back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controller.kube import resource_path
from controller.loadtest.run import run_load_test
from tests.conftest import Cluster
from tests.integration.test_rollout_analysis import answering_server, templates_path, web_template
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


def bluegreen(ns: str, **strategy: Any) -> Obj:
    body = rollout(ns, [])
    body["spec"]["strategy"] = {
        "blueGreen": {
            "activeService": "frontend",
            "previewService": "frontend-preview",
            "autoPromotionEnabled": False,
            "scaleDownDelaySeconds": 3,
            **strategy,
        }
    }
    return body


async def make_preview_service(world: World) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "frontend-preview", "namespace": world.ns},
        "spec": {
            "selector": {"app": "frontend"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }
    await world.api.create(resource_path("v1", "services", namespace=world.ns), svc)


async def selector(world: World, name: str) -> str:
    svc = await world.api.get(resource_path("v1", "services", namespace=world.ns, name=name))
    return str(svc["spec"]["selector"].get(HASH) or "")


async def cluster_url(world: World, name: str) -> str:
    svc = await world.api.get(resource_path("v1", "services", namespace=world.ns, name=name))
    return f"http://{svc['spec']['clusterIP']}:80/color"


async def _lifecycle(cluster: Cluster, ns: str) -> None:
    async with controller_running(cluster, ns) as world:
        await make_preview_service(world)
        await world.api.create(rollouts_path(ns), bluegreen(ns, scaleDownDelaySeconds=8))
        blue = await world.current_hash()
        await world.wait_healthy(blue)
        assert await selector(world, "frontend") == blue
        r = await world.rollout()
        assert r["status"]["blueGreen"]["activeSelector"] == blue

        await world.set_image("argoproj/rollouts-demo:green")
        paused = await world.wait_phase("Paused", within=30)
        assert paused["status"]["pauseConditions"][0]["reason"] == "BlueGreenPause"
        green = await _new_hash(world, blue)
        assert await selector(world, "frontend") == blue  # production still on blue
        assert await selector(world, "frontend-preview") == green
        # the preview gets no production traffic: all of the active Service's answers are blue
        before = await run_load_test(await cluster_url(world, "frontend"), rps=40, duration=2, concurrency=2)
        assert before.errors == 0 and before.answered > 0
        assert {v.color for v in before.versions} == {"blue"}, before.to_dict()
        preview = await run_load_test(await cluster_url(world, "frontend-preview"), rps=20, duration=1)
        assert {v.color for v in preview.versions} == {"green"}, preview.to_dict()

        # promote while traffic flows: the switch moves everything at once, no request fails
        load = asyncio.create_task(
            run_load_test(await cluster_url(world, "frontend"), rps=40, duration=8, concurrency=4)
        )
        await asyncio.sleep(1.5)
        await world.api.patch_status(rollouts_path(ns, "frontend"), {"status": {"pauseConditions": None}})

        async def switched() -> bool:
            return await selector(world, "frontend") == green

        await until(switched, "the active Service on green", within=20)
        # blue keeps its pods for scaleDownDelaySeconds (8 s here), then goes to 0
        assert (await world.replicas())[blue][0] == 2
        summary = await load
        assert summary.errors == 0, summary.to_dict()
        assert {v.color for v in summary.versions} == {"blue", "green"}, summary.to_dict()
        await world.wait_healthy(green, within=30)

        # abort during the next pause: the active Service stays on green, phase Degraded
        await world.set_image("argoproj/rollouts-demo:yellow")
        await world.wait_phase("Paused", within=30)
        yellow = await _new_hash(world, green)
        await world.api.patch_status(rollouts_path(ns, "frontend"), {"status": {"abort": True}})
        aborted = await world.wait_phase("Degraded", within=20)
        assert "RolloutAborted" in aborted["status"]["message"]
        assert await selector(world, "frontend") == green
        assert yellow != green


def test_blue_green_preview_pause_promote_switch_and_abort(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_lifecycle(cluster, namespace), 180))


async def _post_promotion_failure(cluster: Cluster, ns: str) -> None:
    async with answering_server() as server, controller_running(cluster, ns) as world:
        await make_preview_service(world)
        await world.api.create(templates_path(ns), web_template(ns, server["url"]))
        body = bluegreen(
            ns,
            autoPromotionEnabled=True,
            postPromotionAnalysis={"templates": [{"templateName": "smoke"}]},
        )
        await world.api.create(rollouts_path(ns), body)
        blue = await world.current_hash()
        await world.wait_healthy(blue)
        server["ok"] = False  # the new version will fail its post-promotion analysis
        await world.set_image("argoproj/rollouts-demo:green")
        green = await until(lambda: _new_hash(world, blue), "the green ReplicaSet")

        async def back_on_blue() -> Obj | None:
            r = await world.rollout()
            degraded = (r.get("status") or {}).get("phase") == "Degraded"
            return r if degraded and await selector(world, "frontend") == blue else None

        aborted = await until(back_on_blue, "the active Service back on blue, Degraded", within=60)
        # the post-promotion run only starts after the switch to green: green was active, then not
        runs = (await world.api.list(resource_path("argoproj.io/v1alpha1", "analysisruns", namespace=ns)))[
            "items"
        ]
        (post,) = [r for r in runs if r["metadata"]["labels"].get("rollout-type") == "PostPromotion"]
        assert post["metadata"]["labels"][HASH] == green
        assert post["status"]["phase"] == "Failed"
        assert 'Metric "smoke" assessed Failed' in aborted["status"]["message"]
        assert aborted["status"]["stableRS"] == blue


def test_a_failed_post_promotion_analysis_switches_back(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_post_promotion_failure(cluster, namespace), 180))
