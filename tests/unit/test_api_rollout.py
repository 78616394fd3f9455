"""Reading Rollouts into typed views: Argo's defaults, typed steps, status, and what cannot be read."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from controller.api import (
    Analysis,
    Experiment,
    IntOrPercent,
    Pause,
    Plugin,
    Rollout,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    SpecError,
    UnknownStep,
    read_rollout,
)
from controller.api import defaults as d
from controller.api.meta import LabelSelector
from controller.api.problems import Reader
from controller.api.rollout import RolloutSpec
from tests.unit.test_api_examples import BACKGROUND_ANALYSIS, BLUE_GREEN, FRONTEND, rollout_doc


def rollout(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A raw Rollout with this spec (selector and template filled in unless given)."""
    base: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "argoproj/rollouts-demo:blue"}]},
        },
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default", "generation": 3},
        "spec": {**base, **spec},
        **extra,
    }


def spec_of(spec: dict[str, Any]) -> RolloutSpec:
    return Rollout.from_dict(rollout(spec)).spec


# -- defaults -------------------------------------------------------------------------------


def test_canary_defaults() -> None:
    spec = spec_of({"strategy": {"canary": {}}})
    assert spec.replicas == 1
    assert spec.revision_history_limit == 10
    assert spec.progress_deadline_seconds == 600
    assert spec.min_ready_seconds == 0
    assert spec.paused is False
    assert spec.progress_deadline_abort is False
    assert (spec.successful_run_history_limit, spec.unsuccessful_run_history_limit) == (5, 5)
    canary = spec.strategy.canary
    assert canary is not None
    assert canary.max_surge == IntOrPercent(25, percent=True)
    assert canary.max_unavailable == IntOrPercent(25, percent=True)
    assert canary.steps == ()
    assert canary.traffic_routing is None
    assert canary.scale_down_delay_seconds is None
    assert canary.dynamic_stable_scale is False


def test_blue_green_defaults() -> None:
    spec = spec_of({"strategy": {"blueGreen": {"activeService": "web-active"}}})
    bg = spec.strategy.blue_green
    assert bg is not None
    assert bg.auto_promotion_enabled is True
    assert bg.auto_promotion_seconds == 0
    assert bg.scale_down_delay_seconds == 30
    assert bg.abort_scale_down_delay_seconds == 30
    assert bg.max_unavailable == IntOrPercent(25, percent=True)
    assert bg.preview_replica_count is None
    assert bg.preview_service == ""
    assert spec.strategy.canary is None


def test_explicit_values_win_over_defaults() -> None:
    spec = spec_of(
        {
            "replicas": 0,
            "revisionHistoryLimit": 0,
            "progressDeadlineSeconds": 30,
            "minReadySeconds": 5,
            "analysis": {"successfulRunHistoryLimit": 1, "unsuccessfulRunHistoryLimit": 2},
            "strategy": {"canary": {"maxSurge": 0, "maxUnavailable": "10%"}},
        }
    )
    assert (spec.replicas, spec.revision_history_limit, spec.progress_deadline_seconds) == (0, 0, 30)
    assert spec.min_ready_seconds == 5
    assert (spec.successful_run_history_limit, spec.unsuccessful_run_history_limit) == (1, 2)
    assert spec.strategy.canary is not None
    assert spec.strategy.canary.max_surge == IntOrPercent(0, percent=False)
    assert spec.strategy.canary.max_unavailable == IntOrPercent(10, percent=True)


NGINX = {"nginx": {"stableIngress": "web"}}


@pytest.mark.parametrize(
    ("strategy", "scale_down", "abort_scale_down"),
    [
        ({"blueGreen": {"activeService": "a"}}, 30, 30),
        (
            {
                "blueGreen": {
                    "activeService": "a",
                    "scaleDownDelaySeconds": 5,
                    "abortScaleDownDelaySeconds": 7,
                }
            },
            5,
            7,
        ),
        ({"blueGreen": {"activeService": "a", "abortScaleDownDelaySeconds": 0}}, 30, None),  # 0: never
        ({"canary": {}}, 0, 0),  # basic canary: no delay, aborted canary scaled down at once
        ({"canary": {"trafficRouting": NGINX}}, 30, 30),
        ({"canary": {"trafficRouting": NGINX, "scaleDownDelaySeconds": 10}}, 10, 30),
        ({"canary": {"trafficRouting": NGINX, "abortScaleDownDelaySeconds": 0}}, 30, None),
        ({"canary": {"trafficRouting": NGINX, "abortScaleDownDelaySeconds": 60}}, 30, 60),
    ],
)
def test_conditional_scale_down_defaults(
    strategy: dict[str, Any], scale_down: int, abort_scale_down: int | None
) -> None:
    spec = spec_of({"strategy": strategy})
    assert d.scale_down_delay_seconds(spec) == scale_down
    assert d.abort_scale_down_delay_seconds(spec) == abort_scale_down


def test_other_conditional_defaults() -> None:
    basic = spec_of({"strategy": {"canary": {}}})
    assert d.max_traffic_weight(basic) == 100
    assert d.min_pods_per_replica_set(basic) == 1
    assert d.nginx_annotation_prefix(basic) == "nginx.ingress.kubernetes.io"
    assert d.max_surge(basic) == d.max_unavailable(basic) == IntOrPercent(25, percent=True)
    routed = spec_of(
        {
            "strategy": {
                "canary": {
                    "minPodsPerReplicaSet": 2,
                    "trafficRouting": {
                        "nginx": {"stableIngress": "web", "annotationPrefix": "my.nginx"},
                        "maxTrafficWeight": 1000,
                    },
                }
            }
        }
    )
    assert d.max_traffic_weight(routed) == 1000
    assert d.min_pods_per_replica_set(routed) == 2
    assert d.nginx_annotation_prefix(routed) == "my.nginx"
    bg = spec_of({"strategy": {"blueGreen": {"activeService": "a", "maxUnavailable": 1}}})
    assert d.max_unavailable(bg) == IntOrPercent(1, percent=False)
    assert d.max_surge(bg) == IntOrPercent(25, percent=True)


# -- steps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "typed"),
    [
        ({"setWeight": 20}, SetWeight(20)),
        ({"pause": {}}, Pause(None)),
        ({"pause": {"duration": 10}}, Pause(10.0)),
        ({"pause": {"duration": "10"}}, Pause(10.0)),
        ({"pause": {"duration": "30s"}}, Pause(30.0)),
        ({"pause": {"duration": "2m"}}, Pause(120.0)),
        ({"pause": {"duration": "1h"}}, Pause(3600.0)),
        ({"pause": {"duration": "1.5s"}}, Pause(1.0)),
        ({"setCanaryScale": {"replicas": 3}}, SetCanaryScale(replicas=3)),
        ({"setCanaryScale": {"weight": 25}}, SetCanaryScale(weight=25)),
        ({"setCanaryScale": {"matchTrafficWeight": True}}, SetCanaryScale(match_traffic_weight=True)),
        (
            {"plugin": {"name": "argoproj/curl", "config": {"url": "x"}}},
            Plugin("argoproj/curl", {"url": "x"}),
        ),
        ({}, UnknownStep({})),
        ({"setWeight": 10, "pause": {}}, UnknownStep({"setWeight": 10, "pause": {}})),
        ({"setWeight": None, "pause": {}}, Pause(None)),  # a kind set to null does not count
    ],
)
def test_simple_steps(step: dict[str, Any], typed: object) -> None:
    steps = spec_of({"strategy": {"canary": {"steps": [step]}}}).strategy.canary.steps  # type: ignore[union-attr]
    assert steps == (typed,)


def test_pause_indefinite() -> None:
    assert Pause(None).indefinite
    assert not Pause(0.0).indefinite


def test_analysis_step() -> None:
    raw = {
        "analysis": {
            "templates": [
                {"templateName": "random-fail"},
                {"templateName": "always-pass", "clusterScope": True},
            ],
            "args": [
                {"name": "service", "value": "web"},
                {"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
                {"name": "region", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['region']"}}},
            ],
            "dryRun": [{"metricName": "*"}],
            "measurementRetention": [{"metricName": "m", "limit": 3}],
            "analysisRunMetadata": {"labels": {"team": "a"}},
        }
    }
    (step,) = spec_of({"strategy": {"canary": {"steps": [raw]}}}).strategy.canary.steps  # type: ignore[union-attr]
    assert isinstance(step, Analysis)
    assert [(t.template_name, t.cluster_scope) for t in step.templates] == [
        ("random-fail", False),
        ("always-pass", True),
    ]
    assert [a.name for a in step.args] == ["service", "hash", "region"]
    assert step.args[0].value == "web"
    assert step.args[1].value_from is not None and step.args[1].value_from.pod_template_hash_value == "Latest"
    assert step.args[2].value_from is not None
    assert step.args[2].value_from.field_path == "metadata.labels['region']"
    assert step.dry_run == ("*",)
    assert step.measurement_retention[0].limit == 3
    assert step.analysis_run_metadata.labels == {"team": "a"}


def test_route_steps() -> None:
    steps = spec_of(
        {
            "strategy": {
                "canary": {
                    "steps": [
                        {
                            "setHeaderRoute": {
                                "name": "h",
                                "match": [{"headerName": "version", "headerValue": {"exact": "2"}}],
                            }
                        },
                        {
                            "setMirrorRoute": {
                                "name": "m",
                                "percentage": 30,
                                "match": [
                                    {"method": {"exact": "GET"}, "headers": {"agent": {"prefix": "fire"}}}
                                ],
                            }
                        },
                        {"setHeaderRoute": {"name": "h"}},
                    ]
                }
            }
        }
    ).strategy.canary.steps  # type: ignore[union-attr]
    header, mirror, remove = steps
    assert isinstance(header, SetHeaderRoute)
    assert header.match[0].header_name == "version"
    assert header.match[0].header_value is not None and header.match[0].header_value.exact == "2"
    assert isinstance(mirror, SetMirrorRoute)
    assert mirror.percentage == 30
    assert mirror.match[0].method is not None and mirror.match[0].method.exact == "GET"
    assert mirror.match[0].headers["agent"].prefix == "fire"
    assert mirror.match[0].path is None
    assert remove == SetHeaderRoute("h", ())


def test_experiment_step() -> None:
    raw = {
        "experiment": {
            "duration": "1h",
            "templates": [
                {"name": "baseline", "specRef": "stable"},
                {"name": "canary", "specRef": "canary", "replicas": 2, "weight": 10},
            ],
            "analyses": [{"name": "mw", "templateName": "mann-whitney"}],
        }
    }
    (step,) = spec_of({"strategy": {"canary": {"steps": [raw]}}}).strategy.canary.steps  # type: ignore[union-attr]
    assert isinstance(step, Experiment)
    assert step.duration == 3600.0
    assert [(t.name, t.spec_ref, t.replicas, t.weight) for t in step.templates] == [
        ("baseline", "stable", None, None),
        ("canary", "canary", 2, 10),
    ]
    assert step.analyses == ({"name": "mw", "templateName": "mann-whitney"},)


def test_unknown_step_reports_its_kinds() -> None:
    assert UnknownStep({"setWeight": 1, "analysis": {}}).kinds == ("setWeight", "analysis")


# -- the rest of the spec -------------------------------------------------------------------


def test_examples_read_into_views() -> None:
    frontend = Rollout.from_dict(rollout_doc(FRONTEND))
    assert frontend.spec.replicas == 2
    assert frontend.spec.strategy.canary is not None
    assert frontend.spec.strategy.canary.steps == (SetWeight(50), Pause(120.0), SetWeight(100))
    bg = Rollout.from_dict(rollout_doc(BLUE_GREEN)).spec.strategy.blue_green
    assert bg is not None
    assert (bg.active_service, bg.preview_service, bg.auto_promotion_enabled) == (
        "rollout-bluegreen-active",
        "rollout-bluegreen-preview",
        False,
    )
    background = Rollout.from_dict(rollout_doc(BACKGROUND_ANALYSIS)).spec.strategy.canary
    assert background is not None and background.analysis is not None
    assert background.analysis.starting_step == 2
    assert background.analysis.templates[0].template_name == "success-rate"
    assert background.analysis.args[0].value == "guestbook-svc.default.svc.cluster.local"


def test_metadata_template_and_workload_ref() -> None:
    view = Rollout.from_dict(rollout({"strategy": {"canary": {}}}))
    assert (view.metadata.name, view.metadata.namespace, view.metadata.generation) == ("web", "default", 3)
    assert view.spec.template.metadata.labels == {"app": "web"}
    assert view.spec.template.spec["containers"][0]["name"] == "web"
    assert not view.spec.template.empty
    ref = Rollout.from_dict(
        rollout(
            {
                "template": None,
                "selector": None,
                "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "strategy": {"canary": {}},
            }
        )
    ).spec
    assert ref.workload_ref is not None
    assert (ref.workload_ref.kind, ref.workload_ref.name, ref.workload_ref.scale_down) == (
        "Deployment",
        "web",
        "never",
    )
    assert ref.template.empty
    assert ref.selector is None


def test_traffic_routing_view() -> None:
    canary = spec_of(
        {
            "strategy": {
                "canary": {
                    "canaryService": "c",
                    "stableService": "s",
                    "trafficRouting": {"nginx": {"stableIngress": "web"}, "managedRoutes": [{"name": "h"}]},
                }
            }
        }
    ).strategy.canary
    assert canary is not None and canary.traffic_routing is not None
    assert canary.traffic_routing.provider("nginx") == {"stableIngress": "web"}
    assert canary.traffic_routing.provider("istio") is None
    assert canary.traffic_routing.managed_routes == ("h",)
    assert canary.traffic_routing.max_traffic_weight is None
    plain = spec_of({"strategy": {"canary": {"trafficRouting": {"nginx": {}}}}}).strategy.canary
    assert plain is not None and plain.traffic_routing is not None
    assert plain.traffic_routing.managed_routes is None  # absent, which Argo tells apart from []


def test_status_view() -> None:
    status = {
        "abort": True,
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-01-01T00:00:00Z"}],
        "controllerPause": True,
        "currentPodHash": "abc",
        "stableRS": "def",
        "currentStepIndex": 1,
        "HPAReplicas": 4,
        "selector": "app=web",
        "observedGeneration": "3",
        "phase": "Paused",
        "conditions": [
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "m"}
        ],
        "canary": {"weights": {"canary": {"weight": 20}}},
    }
    view = Rollout.from_dict(rollout({"strategy": {"canary": {}}}, status=status)).status
    assert view.abort and view.controller_pause
    assert view.pause_conditions[0].reason == "CanaryPauseStep"
    assert (view.current_pod_hash, view.stable_rs, view.current_step_index) == ("abc", "def", 1)
    assert (view.hpa_replicas, view.selector, view.observed_generation, view.phase) == (
        4,
        "app=web",
        "3",
        "Paused",
    )
    progressing = view.condition("Progressing")
    assert progressing is not None and progressing.reason == "ReplicaSetUpdated"
    assert view.condition("Available") is None
    assert view.canary["weights"]["canary"]["weight"] == 20


def test_bad_status_does_not_stop_reading() -> None:
    view = Rollout.from_dict(
        rollout({"strategy": {"canary": {}}}, status={"currentStepIndex": "one", "abort": 1})
    )
    assert view.status.current_step_index is None
    assert view.status.abort is False


def test_views_are_frozen_and_keep_the_raw_object() -> None:
    obj = rollout({"strategy": {"canary": {}}})
    view = Rollout.from_dict(obj)
    assert view.raw is obj
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.spec.replicas = 3  # type: ignore[misc]


# -- what cannot be read --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"replicas": "3"}, "spec.replicas", "must be an integer"),
        ({"replicas": 1.5}, "spec.replicas", "must be an integer"),
        ({"paused": "yes"}, "spec.paused", "must be a boolean"),
        ({"strategy": {"canary": {"steps": "setWeight"}}}, "spec.strategy.canary.steps", "must be a list"),
        ({"strategy": {"canary": {"steps": [5]}}}, "spec.strategy.canary.steps[0]", "must be an object"),
        (
            {"strategy": {"canary": {"maxSurge": "abc"}}},
            "spec.strategy.canary.maxSurge",
            "invalid value 'abc': must be an integer or a percentage such as '25%'",
        ),
        (
            {"strategy": {"canary": {"steps": [{"pause": {"duration": "5x"}}]}}},
            "spec.strategy.canary.steps[0].pause.duration",
            "Duration needs to be greater than 0",
        ),
        (
            {"strategy": {"canary": {"steps": [{"experiment": {"duration": "1d", "templates": []}}]}}},
            "spec.strategy.canary.steps[0].experiment.duration",
            'time: unknown unit "d" in duration "1d"',
        ),
        ({"template": {"metadata": {"labels": {"app": 1}}}}, "spec.template.metadata.labels", None),
    ],
)
def test_unreadable_fields_raise_spec_error(spec: dict[str, Any], field: str, message: str | None) -> None:
    obj = rollout({"strategy": {"canary": {}}, **spec})
    with pytest.raises(SpecError) as e:
        Rollout.from_dict(obj)
    assert [p.field for p in e.value.problems] == [field]
    if message is not None:
        assert e.value.problems[0].message == message
    assert field in str(e.value)
    _, problems = read_rollout(obj)  # the same problems, collected instead of raised
    assert problems == list(e.value.problems)


def test_spec_error_message_names_field_and_value() -> None:
    with pytest.raises(SpecError) as e:
        Rollout.from_dict(rollout({"replicas": "3", "strategy": {"canary": {}}}))
    assert str(e.value) == 'spec.replicas: Invalid value: "3": must be an integer'


# -- label selectors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            {"tier": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": ""}, False),
        ({}, {"anything": "x"}, True),
    ],
)
def test_label_selector_matching(selector: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    r = Reader()
    assert LabelSelector.read(r, selector, "spec.selector").matches(labels) is matches
    assert r.problems == []


@pytest.mark.parametrize(
    ("selector", "field"),
    [
        ({"matchExpressions": [{"key": "tier", "operator": "Like", "values": ["a"]}]}, "operator"),
        ({"matchExpressions": [{"key": "tier", "operator": "In"}]}, "values"),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]}, "values"),
        ({"matchLabels": {"bad key!": "x"}}, "matchLabels"),
        ({"matchLabels": {"app": "-bad-"}}, "matchLabels"),
    ],
)
def test_label_selector_problems(selector: dict[str, Any], field: str) -> None:
    r = Reader()
    LabelSelector.read(r, selector, "spec.selector")
    assert len(r.problems) == 1
    assert field in r.problems[0].field, json.dumps([str(p) for p in r.problems])
