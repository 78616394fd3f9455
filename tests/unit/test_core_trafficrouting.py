"""The canary planner with ingress-nginx traffic routing: canary Ingress, weights, scale-down delays.

The simulated world of ``test_core_canary`` holds the Ingresses and Services; plans are applied
as the runtime applies them and pods come up at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.core.canary import SCALE_DOWN_DEADLINE_ANNOTATION, plan_canary
from controller.core.trafficrouting import canary_ingress_name, ingress_patch
from tests.unit.test_core_canary import World, hash_of, seed_rollout

PREFIX = "nginx.ingress.kubernetes.io"
CANARY_INGRESS = "frontend-frontend-canary"


def service(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "demo"}, "spec": {"selector": {"app": "frontend"}}}


def stable_ingress() -> dict[str, Any]:
    path = {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": "frontend", "port": {"number": 80}}},
    }
    other = {
        "path": "/other",
        "pathType": "Prefix",
        "backend": {"service": {"name": "other", "port": {"number": 80}}},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "frontend", "namespace": "demo", "annotations": {"team": "web"}},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {"host": "shop.example", "http": {"paths": [path]}},
                {"host": "other.example", "http": {"paths": [other]}},
            ],
        },
    }


def routed_world(
    steps: list[dict[str, Any]], replicas: int = 2, routing: dict[str, Any] | None = None, **nginx: Any
) -> World:
    rollout = seed_rollout(
        canaryService="frontend-canary",
        stableService="frontend",
        trafficRouting={"nginx": {"stableIngress": "frontend", **nginx}, **(routing or {})},
    )
    rollout["spec"]["replicas"] = replicas
    rollout["spec"]["strategy"]["canary"]["steps"] = steps
    world = World(
        rollout,
        services={"frontend": service("frontend"), "frontend-canary": service("frontend-canary")},
        ingresses={"frontend": stable_ingress()},
    )
    world.reconcile()
    assert world.status["phase"] == "Healthy"
    return world


def weight(world: World) -> int:
    return int(world.ingresses[CANARY_INGRESS]["metadata"]["annotations"][f"{PREFIX}/canary-weight"])


def test_the_canary_ingress_copies_the_stable_rules_for_the_canary_service() -> None:
    world = routed_world([{"setWeight": 10}, {"pause": {}}])
    assert canary_ingress_name("frontend", "frontend") == CANARY_INGRESS
    ingress = world.ingresses[CANARY_INGRESS]
    assert ingress["metadata"]["ownerReferences"][0]["kind"] == "Rollout"
    assert ingress["metadata"]["annotations"] == {f"{PREFIX}/canary": "true", f"{PREFIX}/canary-weight": "0"}
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]  # only the rule sending to the stable Service
    assert rule["host"] == "shop.example"
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "frontend-canary"
    weights = world.status["canary"]["weights"]
    assert weights["canary"]["weight"] == 0 and weights["stable"]["weight"] == 100


def test_weights_follow_the_steps_and_the_stable_pods_stay_until_the_scale_down_delay() -> None:
    world = routed_world(
        [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "10s"}}], replicas=4
    )
    world.set_image("demo:green")
    world.reconcile()
    blue, green = hash_of("demo:blue"), hash_of("demo:green")
    # 10%: one canary pod (ceil), the stable keeps all 4; the Ingress sends 10% to the canary
    assert world.counts() == {"demo:blue": 4, "demo:green": 1}
    assert weight(world) == 10
    assert world.status["canary"]["weights"]["canary"] == {
        "weight": 10,
        "podTemplateHash": green,
        "serviceName": "frontend-canary",
    }
    assert world.services["frontend-canary"]["spec"]["selector"]["rollouts-pod-template-hash"] == green
    assert world.services["frontend"]["spec"]["selector"]["rollouts-pod-template-hash"] == blue
    world.patch_status({"pauseConditions": None})
    world.reconcile()
    assert world.counts() == {"demo:blue": 4, "demo:green": 2}
    assert weight(world) == 50
    world.now += timedelta(seconds=11)
    plans = world.reconcile()
    # promoted: the stable Service moves to green first, then the weight goes back to 0
    assert world.status["stableRS"] == green
    assert world.services["frontend"]["spec"]["selector"]["rollouts-pod-template-hash"] == green
    assert weight(world) == 0
    assert world.counts() == {"demo:blue": 4, "demo:green": 4}  # blue waits out its delay

    def old() -> dict[str, Any]:
        return next(
            rs for rs in world.rss.values() if rs["metadata"]["labels"]["rollouts-pod-template-hash"] == blue
        )

    assert SCALE_DOWN_DEADLINE_ANNOTATION in old()["metadata"]["annotations"]
    assert any(p.requeue_after is not None and 25 <= p.requeue_after <= 30 for p in plans)
    assert any(e[1] == "TrafficWeightUpdated" for p in plans for e in p.events)
    world.now += timedelta(seconds=31)
    world.reconcile()
    assert world.counts() == {"demo:blue": 0, "demo:green": 4}
    assert SCALE_DOWN_DEADLINE_ANNOTATION not in old()["metadata"]["annotations"]
    assert world.status["phase"] == "Healthy"


def test_the_weight_waits_for_the_canary_pods() -> None:
    world = routed_world([{"setWeight": 50}, {"pause": {}}])
    world.set_image("demo:green")
    plan = world.plan()
    world.apply(plan)  # creates the green ReplicaSet; no pod is up yet
    world.apply(world.plan())
    assert weight(world) == 0
    world.settle()
    world.reconcile()
    assert weight(world) == 50


def test_abort_sends_all_traffic_to_stable_before_any_scale_down() -> None:
    world = routed_world([{"setWeight": 50}, {"pause": {}}])
    world.set_image("demo:green")
    world.reconcile()
    assert weight(world) == 50
    world.patch_status({"abort": True})
    plans = world.reconcile()
    assert weight(world) == 0
    # the canary keeps its pod for abortScaleDownDelaySeconds (30 s by default)
    assert world.counts() == {"demo:blue": 2, "demo:green": 1}
    assert world.status["phase"] == "Degraded"
    first_scale_down = (
        next(i for i, p in enumerate(plans) if dict(p.scale).get(f"frontend-{hash_of('demo:green')}") == 0)
        if any(dict(p.scale).get(f"frontend-{hash_of('demo:green')}") == 0 for p in plans)
        else None
    )
    assert first_scale_down is None
    world.now += timedelta(seconds=31)
    world.reconcile()
    assert world.counts() == {"demo:blue": 2, "demo:green": 0}


def test_abort_scale_down_delay_zero_keeps_the_canary_up() -> None:
    world = routed_world([{"setWeight": 50}, {"pause": {}}])
    world.rollout["spec"]["strategy"]["canary"]["abortScaleDownDelaySeconds"] = 0
    world.set_image("demo:green")
    world.reconcile()
    world.patch_status({"abort": True})
    world.reconcile()
    world.now += timedelta(minutes=5)
    world.reconcile()
    assert weight(world) == 0
    assert world.counts()["demo:green"] == 1


def test_max_traffic_weight_and_extra_annotations() -> None:
    world = routed_world(
        [{"setWeight": 500}, {"pause": {}}],
        routing={"maxTrafficWeight": 1000},
        additionalIngressAnnotations={"canary-by-header": "X-Canary"},
        canaryIngressAnnotations={"example.com/owner": "rollouts"},
    )
    world.set_image("demo:green")
    world.reconcile()
    annotations = world.ingresses[CANARY_INGRESS]["metadata"]["annotations"]
    assert annotations[f"{PREFIX}/canary-weight-total"] == "1000"
    assert annotations[f"{PREFIX}/canary-weight"] == "500"
    assert annotations[f"{PREFIX}/canary-by-header"] == "X-Canary"
    assert annotations["example.com/owner"] == "rollouts"
    assert world.status["canary"]["weights"]["stable"]["weight"] == 500


def test_a_header_route_step_becomes_canary_by_header() -> None:
    route = {
        "setHeaderRoute": {
            "name": "beta",
            "match": [{"headerName": "X-Beta", "headerValue": {"exact": "yes"}}],
        }
    }
    steps = [{"setWeight": 0}, route, {"pause": {}}, {"setHeaderRoute": {"name": "beta"}}, {"pause": {}}]
    world = routed_world(steps, routing={"managedRoutes": [{"name": "beta"}]})
    world.set_image("demo:green")
    world.reconcile()
    annotations = world.ingresses[CANARY_INGRESS]["metadata"]["annotations"]
    assert annotations[f"{PREFIX}/canary-by-header"] == "X-Beta"
    assert annotations[f"{PREFIX}/canary-by-header-value"] == "yes"
    world.patch_status({"pauseConditions": None})
    world.reconcile()
    assert f"{PREFIX}/canary-by-header" not in world.ingresses[CANARY_INGRESS]["metadata"]["annotations"]


def test_a_missing_stable_ingress_is_an_invalid_spec() -> None:
    world = routed_world([{"setWeight": 10}])
    del world.ingresses["frontend"]
    plan = plan_canary(world.snapshot())
    assert plan.status_patch is not None
    message = plan.status_patch["status"]["message"]
    assert 'ingress.networking.k8s.io "frontend" not found' in message
    assert "trafficRouting.nginx.stableIngress" in message


def test_a_canary_ingress_owned_by_someone_else_is_left_alone_with_a_warning() -> None:
    world = routed_world([{"setWeight": 10}])
    world.ingresses[CANARY_INGRESS]["metadata"]["ownerReferences"] = [{"uid": "x", "controller": True}]
    world.set_image("demo:green")
    plans = world.reconcile()
    assert any(e[:2] == ("Warning", "TrafficRoutingError") for p in plans for e in p.events)
    assert all(not p.patch_ingresses for p in plans)


def test_ingress_patch_replaces_annotations_as_a_set() -> None:
    live = {"metadata": {"annotations": {"a": "1", "b": "2"}}, "spec": {"rules": [1]}}
    desired = {"metadata": {"annotations": {"a": "1", "c": "3"}}, "spec": {"rules": [1]}}
    assert ingress_patch(live, desired) == {"metadata": {"annotations": {"c": "3", "b": None}}}
    assert ingress_patch(live, live) is None


def test_an_unsupported_router_is_refused() -> None:
    rollout = seed_rollout(
        canaryService="c", stableService="s", trafficRouting={"istio": {"virtualService": {"name": "v"}}}
    )
    with pytest.raises(ValueError, match="istio is not supported; nginx is"):
        plan_canary(World(rollout).snapshot())
