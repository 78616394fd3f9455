"""Views of AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun, with Argo's metric defaults."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api import (
    AnalysisRun,
    AnalysisTemplate,
    ClusterAnalysisTemplate,
    DurationError,
    Metric,
    SpecError,
)
from controller.api.analysis import int_value
from controller.api.problems import Reader
from tests.unit.test_api_examples import ANALYSIS_TEMPLATES, SUCCESS_RATE, documents


def metric(**fields: Any) -> Metric:
    r = Reader()
    m = Metric.read(
        r, {"name": "m", "provider": {"prometheus": {"query": "up"}}, **fields}, "spec.metrics[0]"
    )
    assert r.problems == []
    return m


def test_metric_defaults() -> None:
    m = metric()
    assert (
        m.failure_limit,
        m.inconclusive_limit,
        m.consecutive_error_limit,
        m.consecutive_success_limit,
    ) == (
        0,
        0,
        4,
        0,
    )
    assert (m.interval, m.initial_delay, m.count) == ("", "", None)
    assert (m.success_condition, m.failure_condition) == ("", "")
    assert m.provider_name == "prometheus"


@pytest.mark.parametrize(
    ("fields", "count"),
    [
        ({}, 1),  # neither count nor interval: one measurement
        ({"interval": "5m"}, None),  # interval only: forever
        ({"count": 3, "interval": "5m"}, 3),
        ({"count": "5", "interval": "1m"}, 5),
        ({"count": 0}, 1),
        ({"count": "{{args.count}}"}, 1),  # unresolved: IntValue() is 0, as in Argo
    ],
)
def test_effective_count(fields: dict[str, Any], count: int | None) -> None:
    assert metric(**fields).effective_count == count


def test_templated_limits_stay_strings() -> None:
    m = metric(failureLimit="{{args.limit}}", consecutiveErrorLimit=2, inconclusiveLimit="1")
    assert m.failure_limit == "{{args.limit}}"
    assert m.consecutive_error_limit == 2
    assert int_value(m.inconclusive_limit) == 1
    assert int_value(m.failure_limit) == 0


def test_metric_durations() -> None:
    m = metric(interval="5m", initialDelay="30s")
    assert m.interval_seconds() == 300.0
    assert m.initial_delay_seconds() == 30.0
    assert metric().interval_seconds() is None
    with pytest.raises(DurationError):
        metric(interval="5").interval_seconds()


def test_provider_name_needs_exactly_one_provider() -> None:
    assert metric(provider={}).provider_name is None
    assert metric(provider={"web": {}, "job": {}}).provider_name is None


def test_argo_templates() -> None:
    passing, random_fail = (AnalysisTemplate.from_dict(d) for d in documents(ANALYSIS_TEMPLATES))
    assert passing.metadata.name == "pass"
    (m,) = passing.spec.metrics
    assert (m.name, m.interval, m.failure_limit, m.provider_name) == ("pass", "5s", 1, "job")
    assert m.effective_count is None  # an interval and no count: until the run is terminated
    assert random_fail.spec.metrics[0].provider["job"]["spec"]["backoffLimit"] == 0

    success = AnalysisTemplate.from_dict(documents(SUCCESS_RATE)[0])
    assert [(a.name, a.value) for a in success.spec.args] == [("service-name", None)]
    (m,) = success.spec.metrics
    assert m.success_condition == "result[0] >= 0.95"
    assert m.failure_limit == 3
    assert "{{args.service-name}}" in m.provider["prometheus"]["query"]


def test_cluster_template_is_a_template() -> None:
    doc = {
        "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": "shared"},
        "spec": {
            "args": [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "metrics": [{"name": "m", "provider": {"web": {"url": "http://x"}}}],
            "templates": [{"templateName": "base", "clusterScope": True}],
            "dryRun": [{"metricName": "m"}],
        },
    }
    cat = ClusterAnalysisTemplate.from_dict(doc)
    assert isinstance(cat, ClusterAnalysisTemplate)
    assert cat.spec.args[0].value_from == {"secretKeyRef": {"name": "s", "key": "k"}}
    assert cat.spec.templates[0].cluster_scope is True
    assert cat.spec.dry_run == ("m",)


def test_analysis_run() -> None:
    doc = {
        "kind": "AnalysisRun",
        "metadata": {"name": "web-abc-2", "namespace": "default", "labels": {"rollout-type": "Step"}},
        "spec": {
            "metrics": [
                {"name": "m", "interval": "10s", "count": 3, "provider": {"web": {"url": "http://x"}}}
            ],
            "args": [{"name": "service", "value": "web"}],
            "terminate": True,
            "ttlStrategy": {"secondsAfterCompletion": 60},
        },
        "status": {
            "phase": "Successful",
            "startedAt": "2024-01-01T00:00:00Z",
            "metricResults": [{"name": "m", "phase": "Successful", "count": 3}],
        },
    }
    run = AnalysisRun.from_dict(doc)
    assert run.metadata.labels == {"rollout-type": "Step"}
    assert run.spec.terminate is True
    assert run.spec.metrics[0].effective_count == 3
    assert run.spec.ttl_strategy == {"secondsAfterCompletion": 60}
    assert (run.status.phase, run.status.started_at) == ("Successful", "2024-01-01T00:00:00Z")
    assert run.status.metric_results[0]["count"] == 3
    assert run.completed
    assert not AnalysisRun.from_dict({"spec": {"metrics": []}, "status": {"phase": "Running"}}).completed


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"spec": {"metrics": "m"}}, "spec.metrics"),
        ({"spec": {"metrics": [{"name": "m", "count": 1.5}]}}, "spec.metrics[0].count"),
        ({"spec": {"metrics": [{"name": 3}]}}, "spec.metrics[0].name"),
    ],
)
def test_unreadable_templates(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as e:
        AnalysisTemplate.from_dict(doc)
    assert [p.field for p in e.value.problems] == [field]
