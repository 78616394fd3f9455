"""The AnalysisRun a Rollout creates: templates merged, arguments resolved, named and owned as
Argo's rollout/analysis.go does it."""

from __future__ import annotations

from typing import Any

import pytest

from controller.analysis.build import (
    BuildError,
    build_analysis_run,
    collision_name,
    field_value,
    same_run_spec,
)
from controller.analysis.spec import read_run_spec

ROLLOUT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {
        "name": "guestbook",
        "namespace": "shop",
        "uid": "1111-2222",
        "labels": {"env": "dev", "region": "us-west-2"},
        "annotations": {"rollout.argoproj.io/revision": "3"},
    },
    "spec": {
        "selector": {"matchLabels": {"app": "guestbook"}},
        "template": {"spec": {"containers": [{"name": "web", "image": "demo:blue"}]}},
    },
    "status": {"stableRS": "abc123", "alb": {"canaryTargetGroup": {"name": "tg-canary"}}, "replicas": 5},
}


def template(
    name: str, *metrics: str, args: list[dict[str, Any]] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "metrics": [
                {
                    "name": m,
                    "successCondition": "result[0] >= 0.95",
                    "provider": {
                        "prometheus": {
                            "address": "http://prom:9090",
                            "query": "q{svc='{{args.service-name}}'}",
                        }
                    },
                }
                for m in metrics
            ],
            "args": args if args is not None else [{"name": "service-name"}],
            **spec,
        },
    }


def build(
    analysis: dict[str, Any], templates: dict[str, Any], clusters: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "run_type": "Step",
        "step_index": 2,
        "latest_hash": "def456",
        "stable_hash": "abc123",
    }
    options.update(kw)
    return build_analysis_run(ROLLOUT, analysis, templates, clusters or {}, **options)


def test_step_run_is_named_labelled_and_owned_as_argo_does() -> None:
    run = build(
        {
            "templates": [{"templateName": "success-rate"}],
            "args": [{"name": "service-name", "value": "guestbook-svc"}],
            "analysisRunMetadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
        },
        {"success-rate": template("success-rate", "success-rate")},
        instance_id="blue",
    )
    meta = run["metadata"]
    assert meta["name"] == "guestbook-def456-3-2"
    assert meta["namespace"] == "shop"
    assert meta["labels"] == {
        "rollouts-pod-template-hash": "def456",
        "rollout-type": "Step",
        "step-index": "2",
        "argo-rollouts.argoproj.io/controller-instance-id": "blue",
        "team": "a",
        "app": "guestbook",
    }
    assert meta["annotations"] == {"rollout.argoproj.io/revision": "3", "note": "x"}
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "name": "guestbook",
            "uid": "1111-2222",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert run["spec"]["args"] == [{"name": "service-name", "value": "guestbook-svc"}]
    assert [m["name"] for m in run["spec"]["metrics"]] == ["success-rate"]
    # the run is valid for the AnalysisRun controller, placeholders resolved
    spec = read_run_spec(run)
    assert spec.metrics[0].provider["prometheus"]["query"] == "q{svc='guestbook-svc'}"


@pytest.mark.parametrize(
    ("run_type", "name", "extra"),
    [
        ("Background", "guestbook-def456-3", {}),
        ("PrePromotion", "guestbook-def456-3-pre", {}),
        ("PostPromotion", "guestbook-def456-3-post", {}),
    ],
)
def test_other_run_types(run_type: str, name: str, extra: dict[str, str]) -> None:
    run = build(
        {"templates": [{"templateName": "t"}], "args": [{"name": "service-name", "value": "s"}]},
        {"t": template("t", "m")},
        run_type=run_type,
        step_index=None,
    )
    assert run["metadata"]["name"] == name
    assert run["metadata"]["labels"]["rollout-type"] == run_type
    assert "step-index" not in run["metadata"]["labels"]


def test_templates_compose_and_merge() -> None:
    """Two references, a nested template and a ClusterAnalysisTemplate: every metric once."""
    base = template("base", "latency", args=[{"name": "service-name"}, {"name": "port", "value": "9090"}])
    outer = template(
        "outer",
        "errors",
        templates=[{"templateName": "base"}, {"templateName": "shared", "clusterScope": True}],
    )
    shared = template(
        "shared",
        "saturation",
        args=[{"name": "port", "value": "9090"}],
        dryRun=[{"metricName": "saturation"}],
    )
    run = build(
        {
            "templates": [{"templateName": "outer"}, {"templateName": "base"}],
            "args": [{"name": "service-name", "value": "svc"}, {"name": "unknown", "value": "ignored"}],
            "measurementRetention": [{"metricName": ".*", "limit": 20}],
        },
        {"outer": outer, "base": base},
        {"shared": shared},
    )
    assert [m["name"] for m in run["spec"]["metrics"]] == ["errors", "latency", "saturation"]
    assert run["spec"]["args"] == [
        {"name": "service-name", "value": "svc"},
        {"name": "port", "value": "9090"},
    ]
    assert run["spec"]["dryRun"] == [{"metricName": "saturation"}]
    assert run["spec"]["measurementRetention"] == [{"metricName": ".*", "limit": 20}]


def test_pod_template_hash_and_field_ref_arguments() -> None:
    args = [
        {"name": "stable-hash"},
        {"name": "latest-hash"},
        {"name": "env"},
        {"name": "tg"},
        {"name": "replicas"},
        {"name": "image"},
        {"name": "from-template", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['region']"}}},
    ]
    run = build(
        {
            "templates": [{"templateName": "t"}],
            "args": [
                {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
                {"name": "latest-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
                {"name": "env", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['env']"}}},
                {"name": "tg", "valueFrom": {"fieldRef": {"fieldPath": "status.alb.canaryTargetGroup.name"}}},
                {"name": "replicas", "valueFrom": {"fieldRef": {"fieldPath": "status.replicas"}}},
                {
                    "name": "image",
                    "valueFrom": {"fieldRef": {"fieldPath": "spec.template.spec.containers[0].image"}},
                },
            ],
        },
        {"t": template("t", "m", args=args)},
    )
    values = {a["name"]: a["value"] for a in run["spec"]["args"]}
    assert values == {
        "stable-hash": "abc123",
        "latest-hash": "def456",
        "env": "dev",
        "tg": "tg-canary",
        "replicas": "5",
        "image": "demo:blue",
        "from-template": "us-west-2",
    }


def test_secret_arguments_stay_references() -> None:
    args = [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}]
    run = build({"templates": [{"templateName": "t"}]}, {"t": template("t", "m", args=args)})
    assert run["spec"]["args"] == args


BUILD_ERRORS = [
    (
        {"templates": [{"templateName": "nope"}]},
        {},
        {},
        "AnalysisTemplate 'nope' not found in namespace shop",
    ),
    (
        {"templates": [{"templateName": "nope", "clusterScope": True}]},
        {},
        {},
        "ClusterAnalysisTemplate 'nope' not found",
    ),
    (
        {
            "templates": [{"templateName": "a"}, {"templateName": "b"}],
            "args": [{"name": "service-name", "value": "s"}],
        },
        {"a": template("a", "same"), "b": template("b", "same")},
        {},
        "two metrics have the same name 'same'",
    ),
    (
        {"templates": [{"templateName": "a"}, {"templateName": "b"}]},
        {
            "a": template("a", "x", args=[{"name": "port", "value": "1"}]),
            "b": template("b", "y", args=[{"name": "port", "value": "2"}]),
        },
        {},
        "Argument `port` specified multiple times with different values: '1', '2'",
    ),
    (
        {"templates": [{"templateName": "a"}]},
        {"a": template("a", "x")},
        {},
        "args.service-name was not resolved",
    ),
    (
        {
            "templates": [{"templateName": "a"}],
            "args": [{"name": "service-name", "value": "s"}],
            "dryRun": [{"metricName": "x"}],
        },
        {"a": template("a", "x", dryRun=[{"metricName": "x"}])},
        {},
        "two Dry-Run metric rules have the same name 'x'",
    ),
    (
        {
            "templates": [{"templateName": "a"}],
            "args": [{"name": "service-name", "valueFrom": {"fieldRef": {"fieldPath": "status.nope"}}}],
        },
        {"a": template("a", "x")},
        {},
        "invalid path status.nope in rollout",
    ),
    (
        {
            "templates": [{"templateName": "a"}],
            "args": [
                {"name": "service-name", "valueFrom": {"fieldRef": {"fieldPath": "metadata.generateName2"}}}
            ],
        },
        {"a": template("a", "x")},
        {},
        "unsupported fieldPath",
    ),
]


@pytest.mark.parametrize(("analysis", "templates", "clusters", "message"), BUILD_ERRORS)
def test_build_errors(
    analysis: dict[str, Any], templates: dict[str, Any], clusters: dict[str, Any], message: str
) -> None:
    with pytest.raises(BuildError) as raised:
        build(analysis, templates, clusters)
    assert message in str(raised.value)


def test_nested_templates_that_refer_to_each_other_end() -> None:
    a = template("a", "x", args=[], templates=[{"templateName": "b"}])
    b = template("b", "y", args=[], templates=[{"templateName": "a"}])
    run = build({"templates": [{"templateName": "a"}]}, {"a": a, "b": b})
    assert [m["name"] for m in run["spec"]["metrics"]] == ["x", "y"]


def test_stable_hash_needs_a_stable_replica_set() -> None:
    with pytest.raises(BuildError, match="no stable ReplicaSet"):
        build(
            {
                "templates": [{"templateName": "t"}],
                "args": [{"name": "service-name", "valueFrom": {"podTemplateHashValue": "Stable"}}],
            },
            {"t": template("t", "m")},
            stable_hash=None,
        )


def test_field_values() -> None:
    assert field_value(ROLLOUT, "metadata.name") == "guestbook"
    assert field_value(ROLLOUT, "metadata.labels['missing']") == ""
    assert field_value(ROLLOUT, "metadata.labels") == 'env="dev"\nregion="us-west-2"'
    with pytest.raises(BuildError, match="must terminate in a primitive value"):
        field_value(ROLLOUT, "status.alb")


def test_collisions_and_semantic_equality() -> None:
    assert collision_name("guestbook-def456-3-2", 0) == "guestbook-def456-3-2"
    assert collision_name("guestbook-def456-3-2", 2) == "guestbook-def456-3-2.2"
    run = build(
        {"templates": [{"templateName": "t"}], "args": [{"name": "service-name", "value": "s"}]},
        {"t": template("t", "m")},
    )
    other = dict(run["spec"], terminate=True)
    assert same_run_spec(run["spec"], other)
    assert not same_run_spec(run["spec"], dict(run["spec"], args=[{"name": "service-name", "value": "t"}]))
