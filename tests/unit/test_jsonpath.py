"""The kubectl JSONPath subset used by printer columns and `kubectl wait --for=jsonpath`."""

from __future__ import annotations

from typing import Any

import pytest

from localcluster.apiserver.jsonpath import JsonPathError, evaluate

DEPLOY: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app": "web", "app.kubernetes.io/name": "shop"}},
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [
                    {"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
                    {"name": "sidecar", "image": "envoy:1.30", "ports": [{"containerPort": 9901}]},
                ]
            }
        },
    },
    "status": {
        "observedGeneration": 2,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "False"},
        ],
        "unavailable": None,
    },
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (".spec.replicas", [3]),
        ("{.spec.replicas}", [3]),
        ("{$.spec.replicas}", [3]),
        ("spec.replicas", [3]),
        (".metadata.labels.app", ["web"]),
        ('.status.conditions[?(@.type=="Available")].status', ["True"]),
        ("{.status.conditions[?(@.type=='Progressing')].status}", ["False"]),
        ('.status.conditions[?(@.status!="True")].type', ["Progressing"]),
        (".status.conditions[?(@.reason)].type", ["Available"]),
        (".spec.template.spec.containers[0].image", ["nginx:1.25"]),
        (".spec.template.spec.containers[-1].name", ["sidecar"]),
        (".spec.template.spec.containers[*].name", ["app", "sidecar"]),
        (".spec.template.spec.containers[0:1].name", ["app"]),
        (".spec.template.spec.containers[0,1].image", ["nginx:1.25", "envoy:1.30"]),
        (".spec.template.spec.containers[*].ports[*].containerPort", [80, 9901]),
        ("..containerPort", [80, 9901]),
        (".spec.template.spec.containers[?(@.ports[0].containerPort>100)].name", ["sidecar"]),
        (".metadata.labels['app.kubernetes.io/name']", ["shop"]),
        ("{.metadata.labels.app\\.kubernetes\\.io/name}", ["shop"]),
        (".status.unavailable", [None]),
        (".status.missing", []),
        (".status.missing.deeper", []),
        (".spec.template.spec.containers[7].name", []),
        (".spec.replicas.nope", []),
        ("", [DEPLOY]),
    ],
)
def test_evaluate(expr: str, expected: list[Any]) -> None:
    assert evaluate(expr, DEPLOY) == expected


def test_wildcard_on_a_map_gives_values_in_key_order() -> None:
    assert evaluate(".metadata.labels[*]", DEPLOY) == ["web", "shop"]
    assert evaluate(".metadata.labels.*", DEPLOY) == ["web", "shop"]


def test_filter_compares_numbers_not_strings() -> None:
    items = {"items": [{"n": 2}, {"n": 10}, {"n": "10"}]}
    assert evaluate("{.items[?(@.n>3)].n}", items) == [10]
    assert evaluate("{.items[?(@.n==10)].n}", items) == [10]
    assert evaluate('{.items[?(@.n=="10")].n}', items) == ["10"]


@pytest.mark.parametrize(
    "expr", ["{.spec", ".spec[", ".spec[abc]", ".a[?(@.b==)]", ".spec]", "{range .items[*]}"]
)
def test_malformed_expressions_raise(expr: str) -> None:
    with pytest.raises(JsonPathError):
        evaluate(expr, DEPLOY)
