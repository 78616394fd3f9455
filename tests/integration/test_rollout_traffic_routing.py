"""A canary with ingress-nginx traffic routing, end to end on localcluster's Ingress proxy.

The controller writes the canary Ingress (Argo's nginx router); localcluster's proxy honours its
``canary-weight`` as ingress-nginx does. With 2 replicas a replica split could only be 0/50/100%;
through the router ``setWeight: 10`` is 10% of the requests.
"""

from __future__ import annotations

import asyncio
import json
import math
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
PREFIX = "nginx.ingress.kubernetes.io"
HOST = "shop.localtest"


def stable_ingress(ns: str) -> Obj:
    path = {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": "frontend", "port": {"number": 80}}},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "frontend", "namespace": ns},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": HOST, "http": {"paths": [path]}}]},
    }


def canary_service(ns: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "frontend-canary", "namespace": ns},
        "spec": {
            "selector": {"app": "frontend"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }


def routed_rollout(ns: str, steps: list[Obj]) -> Obj:
    body = rollout(ns, steps)
    body["spec"]["strategy"]["canary"].update(
        canaryService="frontend-canary",
        stableService="frontend",
        trafficRouting={"nginx": {"stableIngress": "frontend"}, "managedRoutes": [{"name": "beta"}]},
        abortScaleDownDelaySeconds=5,
        scaleDownDelaySeconds=5,
    )
    return body


def ingress_url(cluster: Cluster) -> str:
    info = json.loads((cluster.state_dir / "server.json").read_text())
    return f"http://127.0.0.1:{int(info['ingressPort'])}/color"


async def canary_ingress(world: World) -> Obj:
    path = resource_path(
        "networking.k8s.io/v1", "ingresses", namespace=world.ns, name="frontend-frontend-canary"
    )
    return await world.api.get(path)


async def weight(world: World) -> int:
    return int((await canary_ingress(world))["metadata"]["annotations"][f"{PREFIX}/canary-weight"])


def share(summary: Any, color: str) -> tuple[int, int]:
    hits = sum(v.requests for v in summary.versions if v.color == color)
    return hits, summary.answered


async def _weighted(cluster: Cluster, ns: str) -> None:
    beta = {
        "setHeaderRoute": {
            "name": "beta",
            "match": [{"headerName": "X-Beta", "headerValue": {"exact": "yes"}}],
        }
    }
    steps = [{"setWeight": 10}, beta, {"pause": {}}, {"setWeight": 30}, {"pause": {}}]
    url = ingress_url(cluster)
    async with controller_running(cluster, ns) as world:
        await world.api.create(resource_path("v1", "services", namespace=ns), canary_service(ns))
        await world.api.create(
            resource_path("networking.k8s.io/v1", "ingresses", namespace=ns), stable_ingress(ns)
        )
        await world.api.create(rollouts_path(ns), routed_rollout(ns, steps))
        blue = await world.current_hash()
        await world.wait_healthy(blue)
        assert await weight(world) == 0  # the canary Ingress exists from the first deploy, at 0

        await world.set_image("argoproj/rollouts-demo:green")
        await world.wait_phase("Paused", within=30)
        green = await _new_hash(world, blue)
        assert await weight(world) == 10
        counts = await world.replicas()
        assert counts[blue][0] == 2 and counts[green][0] == 1  # stable stays at 100%, one canary pod
        # 10% of 3,000 requests through the Ingress, whatever the pod counts (1 canary, 2 stable)
        summary = await run_load_test(url, rps=400, duration=7.5, concurrency=16, headers={"Host": HOST})
        hits, total = share(summary, "green")
        assert summary.errors == 0 and total >= 2500, summary.to_dict()
        sigma = math.sqrt(total * 0.1 * 0.9)
        assert abs(hits - 0.1 * total) <= 4 * sigma, (hits, total)
        # the header route: X-Beta: yes always reaches the canary
        routed = await run_load_test(url, rps=50, duration=1, headers={"Host": HOST, "X-Beta": "yes"})
        assert {v.color for v in routed.versions} == {"green"}, routed.to_dict()
        r = await world.rollout()
        assert r["status"]["canary"]["weights"]["canary"] == {
            "weight": 10,
            "podTemplateHash": green,
            "serviceName": "frontend-canary",
        }

        await world.api.patch_status(rollouts_path(ns, "frontend"), {"status": {"pauseConditions": None}})

        async def at_30() -> bool:
            return await weight(world) == 30

        await until(at_30, "weight 30", within=20)

        # abort: the weight goes back to 0 before the canary pods are scaled down
        await world.api.patch_status(rollouts_path(ns, "frontend"), {"status": {"abort": True}})

        async def weight_zero() -> bool:
            return await weight(world) == 0

        await until(weight_zero, "weight 0 after abort", within=10)
        assert (await world.replicas())[green][0] >= 1, "canary pods must outlive the weight"
        after = await run_load_test(url, rps=100, duration=1, headers={"Host": HOST})
        assert {v.color for v in after.versions} == {"blue"} and after.errors == 0, after.to_dict()

        async def canary_down() -> bool:
            return (await world.replicas())[green][0] == 0

        await until(canary_down, "the canary scaled down after abortScaleDownDelaySeconds", within=20)
        svc = await world.api.get(resource_path("v1", "services", namespace=ns, name="frontend"))
        assert svc["spec"]["selector"][HASH] == blue


def test_weighted_canary_through_the_ingress(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_weighted(cluster, namespace), 180))
