"""Argo's Rollout validation: each rule, its field and its message (validation.go), as a table."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller.api import Problem, invalid_spec_message, validate_rollout

CANARY: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "argoproj/rollouts-demo:blue"}]},
        },
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "30s"}}]}},
    },
}
BLUE_GREEN: dict[str, Any] = copy.deepcopy(CANARY)
BLUE_GREEN["spec"]["strategy"] = {
    "blueGreen": {"activeService": "web-active", "previewService": "web-preview"}
}

C = "spec.strategy.canary"
BG = "spec.strategy.blueGreen"
ISTIO = {"istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}}
ALB = {"alb": {"ingress": "web", "servicePort": 80}}
NGINX = {"nginx": {"stableIngress": "web"}}
SERVICES = {"canaryService": "web-canary", "stableService": "web-stable"}


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386): objects merge, None deletes, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def canary(**fields: Any) -> dict[str, Any]:
    """A spec patch setting fields of the canary strategy."""
    return {"strategy": {"canary": fields}}


def steps(*items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A spec patch replacing the canary steps (and setting other canary fields)."""
    return canary(steps=list(items), **fields)


def blue_green(**fields: Any) -> dict[str, Any]:
    return {"strategy": {"blueGreen": fields}}


def test_the_bases_are_valid() -> None:
    assert validate_rollout(CANARY) == []
    assert validate_rollout(BLUE_GREEN) == []


# (id, base, spec patch, expected [(field, message)])
CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[tuple[str, str]]]] = [
    # -- spec ------------------------------------------------------------------------------
    (
        "negative replicas",
        CANARY,
        {"replicas": -1},
        [("spec.replicas", "must be greater than or equal to 0")],
    ),
    (
        "no selector",
        CANARY,
        {"selector": None},
        [("spec.selector", "Rollout has missing field '.spec.selector'")],
    ),
    (
        "empty selector",
        CANARY,
        {"selector": {"matchLabels": None}},
        [("spec.selector", "empty selector is invalid for deployment")],
    ),
    (
        "selector does not match the template",
        CANARY,
        {"selector": {"matchLabels": {"app": "db"}}},
        [("spec.template.metadata.labels", "`selector` does not match template `labels`")],
    ),
    (
        "selector expression does not match",
        CANARY,
        {"selector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}},
        [("spec.template.metadata.labels", "`selector` does not match template `labels`")],
    ),
    (
        "workloadRef with a labelled template",
        CANARY,
        {"selector": None, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
        [("spec.template", "template must be empty for workload reference rollout")],
    ),
    (
        "workloadRef without template or selector",
        CANARY,
        {
            "selector": None,
            "template": None,
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        },
        [],
    ),
    (
        "no containers",
        CANARY,
        {"template": {"spec": {"containers": []}}},
        [("spec.template.spec.containers", "")],
    ),
    (
        "duplicate container names",
        CANARY,
        {"template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}}},
        [("spec.template.spec.containers[1].name", "")],
    ),
    (
        "restartPolicy other than Always",
        CANARY,
        {"template": {"spec": {"restartPolicy": "Never"}}},
        [("spec.template.spec.restartPolicy", 'supported values: "Always"')],
    ),
    (
        "activeDeadlineSeconds",
        CANARY,
        {"template": {"spec": {"activeDeadlineSeconds": 10}}},
        [
            (
                "spec.template.spec.activeDeadlineSeconds",
                "activeDeadlineSeconds in ReplicaSet is not Supported",
            )
        ],
    ),
    (
        "negative minReadySeconds",
        CANARY,
        {"minReadySeconds": -1},
        [("spec.minReadySeconds", "must be greater than or equal to 0")],
    ),
    (
        "negative revisionHistoryLimit",
        CANARY,
        {"revisionHistoryLimit": -1},
        [("spec.revisionHistoryLimit", "must be greater than or equal to 0")],
    ),
    (
        "minReadySeconds above the default deadline",
        CANARY,
        {"minReadySeconds": 700},
        [("spec.progressDeadlineSeconds", "must be greater than minReadySeconds")],
    ),
    (
        "minReadySeconds equal to the deadline",
        CANARY,
        {"minReadySeconds": 30, "progressDeadlineSeconds": 30},
        [("spec.progressDeadlineSeconds", "must be greater than minReadySeconds")],
    ),
    ("deadline above minReadySeconds", CANARY, {"minReadySeconds": 30, "progressDeadlineSeconds": 31}, []),
    # -- strategy --------------------------------------------------------------------------
    (
        "no strategy",
        CANARY,
        {"strategy": None},
        [("spec.strategy", "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'")],
    ),
    (
        "two strategies",
        CANARY,
        {"strategy": {"blueGreen": {"activeService": "a"}}},
        [("spec.strategy", "Multiple Strategies can not be listed")],
    ),
    # -- blue-green ------------------------------------------------------------------------
    (
        "same active and preview service",
        BLUE_GREEN,
        blue_green(previewService="web-active"),
        [
            (
                f"{BG}.activeService",
                "This rollout uses the same service for the active and preview services, but two different services are required.",
            )
        ],
    ),
    (
        "empty active service",
        BLUE_GREEN,
        blue_green(activeService="", previewService=None),
        [(f"{BG}.activeService", "Rollout has missing field '.spec.strategy.blueGreen.activeService'")],
    ),
    ("no preview service", BLUE_GREEN, blue_green(previewService=None), []),
    (
        "scale-down revision limit above the history limit",
        BLUE_GREEN,
        {"revisionHistoryLimit": 2, **blue_green(scaleDownDelayRevisionLimit=3)},
        [
            (
                f"{BG}.scaleDownDelayRevisionLimit",
                "This rollout's revision history limit can not be smaller than the rollout's scale down limit",
            )
        ],
    ),
    (
        "both anti-affinity kinds",
        BLUE_GREEN,
        blue_green(
            antiAffinity={
                "requiredDuringSchedulingIgnoredDuringExecution": {},
                "preferredDuringSchedulingIgnoredDuringExecution": {"weight": 1},
            }
        ),
        [(f"{BG}.antiAffinity", "AntiAffinity must have exactly one strategy listed")],
    ),
    (
        "no anti-affinity kind",
        BLUE_GREEN,
        blue_green(antiAffinity={}),
        [(f"{BG}.antiAffinity", "AntiAffinity must have exactly one strategy listed")],
    ),
    (
        "anti-affinity weight out of range",
        BLUE_GREEN,
        blue_green(antiAffinity={"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 101}}),
        [(f"{BG}.antiAffinity.weight", "AntiAffinity weight must be between 1-100")],
    ),
    (
        "pre-promotion analysis without templates",
        BLUE_GREEN,
        blue_green(prePromotionAnalysis={"args": [{"name": "a", "value": "b"}]}),
        [
            (
                f"{BG}.prePromotionAnalysis.templates",
                "Rollout has missing field '.spec.strategy.blueGreen.prePromotionAnalysis.templates'",
            )
        ],
    ),
    # -- canary ----------------------------------------------------------------------------
    (
        "maxSurge and maxUnavailable both 0",
        CANARY,
        canary(maxSurge=0, maxUnavailable=0),
        [(f"{C}.maxSurge", "MaxSurge and MaxUnavailable both can not be zero")],
    ),
    (
        "maxSurge and maxUnavailable both 0%",
        CANARY,
        canary(maxSurge="0%", maxUnavailable="0"),
        [(f"{C}.maxSurge", "MaxSurge and MaxUnavailable both can not be zero")],
    ),
    ("maxSurge 0 alone", CANARY, canary(maxSurge=0), []),
    (
        "same canary and stable service",
        CANARY,
        canary(canaryService="web", stableService="web"),
        [
            (
                f"{C}.stableService",
                "This rollout uses the same service for the stable and canary services, but two different services are required.",
            )
        ],
    ),
    (
        "traffic routing without services",
        CANARY,
        canary(trafficRouting=NGINX),
        [
            (f"{C}.stableService", "Canary service and Stable service must to be set to use Traffic Routing"),
            (f"{C}.canaryService", "Canary service and Stable service must to be set to use Traffic Routing"),
        ],
    ),
    (
        "istio with destinationRule needs no services",
        CANARY,
        canary(
            trafficRouting={
                "istio": {"destinationRule": {"name": "d", "canarySubsetName": "c", "stableSubsetName": "s"}}
            }
        ),
        [],
    ),
    (
        "plugin router needs no services",
        CANARY,
        canary(trafficRouting={"plugins": {"argoproj-labs/gatewayAPI": {}}}),
        [],
    ),
    (
        "scaleDownDelaySeconds without traffic routing",
        CANARY,
        canary(scaleDownDelaySeconds=30),
        [
            (
                f"{C}.scaleDownDelaySeconds",
                "Canary scaleDownDelaySeconds can only be used with traffic routing",
            )
        ],
    ),
    (
        "dynamicStableScale without traffic routing",
        CANARY,
        canary(dynamicStableScale=True),
        [(f"{C}.dynamicStableScale", "Canary dynamicStableScale can only be used with traffic routing")],
    ),
    (
        "dynamicStableScale with scaleDownDelaySeconds",
        CANARY,
        canary(trafficRouting=NGINX, dynamicStableScale=True, scaleDownDelaySeconds=30, **SERVICES),
        [(f"{C}.dynamicStableScale", "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds")],
    ),
    (
        "maxTrafficWeight with istio",
        CANARY,
        canary(trafficRouting={**ISTIO, "maxTrafficWeight": 1000}, **SERVICES),
        [
            (
                f"{C}.trafficRouting.maxTrafficWeight",
                "Canary maxTrafficWeight in traffic routing only support in Nginx and Plugins",
            )
        ],
    ),
    (
        "ping-pong with nginx",
        CANARY,
        canary(trafficRouting=NGINX, pingPong={"pingService": "ping", "pongService": "pong"}, **SERVICES),
        [(f"{C}.trafficRouting.alb", "Ping-pong feature works with the ALB traffic routing only")],
    ),
    (
        "ping-pong with one service twice and no ALB root service",
        CANARY,
        canary(trafficRouting=ALB, pingPong={"pingService": "p", "pongService": "p"}),
        [
            (
                f"{C}.pingPong.pingService",
                "This rollout uses the same service for the ping and pong services, but two different services are required.",
            ),
            (
                f"{C}.trafficRouting.alb.rootService",
                "Root service field is required for the configuration with ALB and ping-pong feature enabled",
            ),
        ],
    ),
    (
        "ping-pong missing a service",
        CANARY,
        canary(pingPong={"pingService": "ping", "pongService": ""}),
        [
            (
                f"{C}.pingPong.pongService",
                "Ping service and Pong service must to be set to use Ping-Pong feature",
            )
        ],
    ),
    (
        "background analysis with an unnamed template",
        CANARY,
        canary(analysis={"templates": [{"templateName": ""}]}),
        [
            (
                f"{C}.analysis.templates[0].templateName",
                "Rollout has missing field '.spec.strategy.canary.analysis.templates[0].templateName'",
            )
        ],
    ),
    # -- values that cannot be read --------------------------------------------------------
    ("replicas as a string", CANARY, {"replicas": "3"}, [("spec.replicas", "must be an integer")]),
    (
        "maxSurge not a number",
        CANARY,
        canary(maxSurge="lots"),
        [(f"{C}.maxSurge", "invalid value 'lots': must be an integer or a percentage such as '25%'")],
    ),
]


@pytest.mark.parametrize(("name", "base", "patch", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule(
    name: str, base: dict[str, Any], patch: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    obj = merge(base, {"spec": patch})
    assert [(p.field, p.message) for p in validate_rollout(obj)] == expected


def test_every_problem_is_reported_not_just_the_first() -> None:
    obj = merge(
        CANARY,
        {
            "spec": {
                "replicas": -1,
                "minReadySeconds": 900,
                **steps({"setWeight": 200}, {}, {"pause": {"duration": -1}}),
            }
        },
    )
    assert [p.field for p in validate_rollout(obj)] == [
        "spec.replicas",
        "spec.progressDeadlineSeconds",
        f"{C}.steps[0].setWeight",
        f"{C}.steps[1]",
        f"{C}.steps[2].pause.duration",
    ]


def test_problems_print_as_go_field_errors() -> None:
    obj = merge(CANARY, {"spec": steps({"setWeight": 101})})
    (problem,) = validate_rollout(obj)
    assert (
        str(problem) == f"{C}.steps[0].setWeight: Invalid value: 101: SetWeight needs to be between 0 and 100"
    )
    assert invalid_spec_message("web", [problem]) == (
        f'The Rollout "web" is invalid: {C}.steps[0].setWeight: Invalid value: 101: '
        "SetWeight needs to be between 0 and 100"
    )
    (missing,) = validate_rollout(merge(CANARY, {"spec": {"selector": None}}))
    assert str(missing) == "spec.selector: Required value: Rollout has missing field '.spec.selector'"
    assert str(Problem("spec.x", "")) == "spec.x: Invalid value"


def test_validation_never_raises_on_odd_input() -> None:
    for obj in (
        {},
        {"spec": None},
        {"spec": "x"},
        {"spec": {"strategy": {"canary": {"steps": ["x", None]}}}},
    ):
        assert validate_rollout(obj)  # reports problems, does not raise
