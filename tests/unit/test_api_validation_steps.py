"""Argo's checks of canary steps (validation.go): each rule, its field and its message, as a table."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api import validate_rollout
from tests.unit.test_api_validation import ALB, CANARY, ISTIO, NGINX, SERVICES, C, merge, steps

# (id, spec patch, expected [(field, message)])
CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "setWeight above 100",
        steps({"setWeight": 101}),
        [(f"{C}.steps[0].setWeight", "SetWeight needs to be between 0 and 100")],
    ),
    (
        "setWeight below 0",
        steps({"setWeight": -1}),
        [(f"{C}.steps[0].setWeight", "SetWeight needs to be between 0 and 100")],
    ),
    ("setWeight 0 and 100", steps({"setWeight": 0}, {"setWeight": 100}), []),
    (
        "setWeight within maxTrafficWeight",
        steps({"setWeight": 500}, trafficRouting={**NGINX, "maxTrafficWeight": 1000}, **SERVICES),
        [],
    ),
    (
        "setWeight above maxTrafficWeight",
        steps({"setWeight": 1001}, trafficRouting={**NGINX, "maxTrafficWeight": 1000}, **SERVICES),
        [(f"{C}.steps[0].setWeight", "SetWeight needs to be between 0 and 1000")],
    ),
    (
        "negative pause",
        steps({"pause": {"duration": -5}}),
        [(f"{C}.steps[0].pause.duration", "Duration needs to be greater than 0")],
    ),
    (
        "negative pause string",
        steps({"pause": {"duration": "-1m"}}),
        [(f"{C}.steps[0].pause.duration", "Duration needs to be greater than 0")],
    ),
    (
        "unreadable pause",
        steps({"pause": {"duration": "5x"}}),
        [(f"{C}.steps[0].pause.duration", "Duration needs to be greater than 0")],
    ),
    ("zero pause", steps({"pause": {"duration": 0}}), []),
    (
        "step with two kinds",
        steps({"setWeight": 10}, {"setWeight": 20, "pause": {}}),
        [
            (
                f"{C}.steps[1]",
                "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause",
            )
        ],
    ),
    (
        "step with setWeight and setCanaryScale",
        steps({"setWeight": 20, "setCanaryScale": {"replicas": 1}}),
        [
            (
                f"{C}.steps[0]",
                "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause",
            )
        ],
    ),
    (
        "step with no kind",
        steps({}),
        [
            (
                f"{C}.steps[0]",
                "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause",
            )
        ],
    ),
    ("plugin step", steps({"plugin": {"name": "argoproj/curl", "config": {}}}), []),
    (
        "setCanaryScale without traffic routing",
        steps({"setCanaryScale": {"replicas": 2}}),
        [(f"{C}.trafficRouting", "SetCanaryScale requires TrafficRouting to be set")],
    ),
    (
        "setCanaryScale with traffic routing",
        steps({"setCanaryScale": {"weight": 20}}, trafficRouting=NGINX, **SERVICES),
        [],
    ),
    (
        "analysis step without templates",
        steps({"analysis": {}}),
        [
            (
                f"{C}.steps[0].analysis.templates",
                "Rollout has missing field '.spec.strategy.canary.steps[0].analysis.templates'",
            )
        ],
    ),
    (
        "analysis argument from unknown metadata",
        steps(
            {
                "analysis": {
                    "templates": [{"templateName": "t"}],
                    "args": [{"name": "a", "valueFrom": {"fieldRef": {"fieldPath": "metadata.bogus"}}}],
                }
            }
        ),
        [
            (
                f"{C}.steps[0].analysis.args[0].valueFrom.fieldRef.fieldPath",
                "Analyses arguments must refer to valid object metadata supported by downwardAPI",
            )
        ],
    ),
    (
        "analysis arguments from readable metadata",
        steps(
            {
                "analysis": {
                    "templates": [{"templateName": "t"}],
                    "args": [
                        {"name": "a", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['region']"}}},
                        {"name": "b", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "c", "valueFrom": {"fieldRef": {"fieldPath": "spec.replicas"}}},
                    ],
                }
            }
        ),
        [],
    ),
    (
        "setHeaderRoute without traffic routing",
        steps({"setHeaderRoute": {"name": "h"}}),
        [
            (
                f"{C}.steps[0].setHeaderRoute",
                "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix",
            )
        ],
    ),
    (
        "setHeaderRoute without managedRoutes",
        steps({"setHeaderRoute": {"name": "h"}}, trafficRouting=ISTIO, **SERVICES),
        [
            (
                f"{C}.trafficRouting.managedRoutes",
                "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'",
            )
        ],
    ),
    (
        "setHeaderRoute not in managedRoutes",
        steps(
            {"setHeaderRoute": {"name": "h"}},
            trafficRouting={**ISTIO, "managedRoutes": [{"name": "other"}]},
            **SERVICES,
        ),
        [
            (
                f"{C}.steps[0].setHeaderRoute",
                "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes",
            )
        ],
    ),
    (
        "setHeaderRoute with two match values",
        steps(
            {
                "setHeaderRoute": {
                    "name": "h",
                    "match": [{"headerName": "v", "headerValue": {"exact": "2", "prefix": "2"}}],
                }
            },
            trafficRouting={**ISTIO, "managedRoutes": [{"name": "h"}]},
            **SERVICES,
        ),
        [
            (
                f"{C}.steps[0].setHeaderRoute.match[0]",
                "StringMatch match value must have exactly one of the following: exact, regex, prefix",
            )
        ],
    ),
    (
        "setHeaderRoute with ALB and a regex",
        steps(
            {
                "setHeaderRoute": {
                    "name": "h",
                    "match": [{"headerName": "v", "headerValue": {"regex": "2.*"}}],
                }
            },
            trafficRouting={**ALB, "managedRoutes": [{"name": "h"}]},
            **SERVICES,
        ),
        [
            (
                f"{C}.steps[0].setHeaderRoute.match[0]",
                "SetHeaderRoute match value invalid. ALB supports 'exact' value only",
            )
        ],
    ),
    (
        "setMirrorRoute with nginx",
        steps(
            {"setMirrorRoute": {"name": "m"}},
            trafficRouting={**NGINX, "managedRoutes": [{"name": "m"}]},
            **SERVICES,
        ),
        [(f"{C}.steps[0].setMirrorRoute", "SetMirrorRoute requires TrafficRouting, supports Istio only")],
    ),
    (
        "setMirrorRoute with an empty match",
        steps(
            {"setMirrorRoute": {"name": "m", "match": [{"path": {}}]}},
            trafficRouting={**ISTIO, "managedRoutes": [{"name": "m"}]},
            **SERVICES,
        ),
        [
            (
                f"{C}.steps[0].setMirrorRoute.match[0]",
                "StringMatch value missed, match value must have one of the following: exact, regex, prefix",
            )
        ],
    ),
    (
        "experiment weight without traffic routing",
        steps({"experiment": {"templates": [{"name": "c", "specRef": "canary", "weight": 10}]}}),
        [
            (
                f"{C}.steps[0].experiment.templates[0].weight",
                "Experiment template weight cannot be set unless TrafficRouting is enabled",
            )
        ],
    ),
    (
        "experiment weight with nginx",
        steps(
            {"experiment": {"templates": [{"name": "c", "specRef": "canary", "weight": 10}]}},
            trafficRouting=NGINX,
            **SERVICES,
        ),
        [
            (
                f"{C}.steps[0].experiment.templates[0].weight",
                "Experiment template weight is only available for TrafficRouting with SMI, ALB, and Istio at this time",
            )
        ],
    ),
]


@pytest.mark.parametrize(("name", "patch", "expected"), CASES, ids=[c[0] for c in CASES])
def test_step_rule(name: str, patch: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    obj = merge(CANARY, {"spec": patch})
    assert [(p.field, p.message) for p in validate_rollout(obj)] == expected
