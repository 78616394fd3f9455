"""Spec checks on built-in kinds, with the real server's field paths and wording."""

from __future__ import annotations

from typing import Any

from localcluster.apiserver.builtin_validation import validate_builtin


def deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        },
    }
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": base}


def messages(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_builtin(obj["apiVersion"], obj["kind"], obj)]


def test_valid_deployment_has_no_errors() -> None:
    assert messages(deployment()) == []


def test_selector_must_match_template_labels() -> None:
    errs = messages(deployment(selector={"matchLabels": {"app": "other"}}))
    assert errs == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
        "`selector` does not match template `labels`"
    ]


def test_selector_is_required_for_apps_v1() -> None:
    obj = deployment()
    del obj["spec"]["selector"]
    assert messages(obj) == ["spec.selector: Required value"]


def test_containers_need_a_name_and_an_image() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"] = [{"name": "Web_1"}]
    errs = messages(obj)
    assert any(e.startswith('spec.template.spec.containers[0].name: Invalid value: "Web_1"') for e in errs)
    assert "spec.template.spec.containers[0].image: Required value" in errs


def test_negative_replicas() -> None:
    assert messages(deployment(replicas=-1)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_job_restart_policy_must_be_onfailure_or_never() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "x"}]}}
        },
    }
    assert messages(job) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'
    ]


def test_service_ports() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 70000}]},
    }
    assert messages(svc) == [
        "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"
    ]
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"clusterIP": "None"},
    }
    assert messages(headless) == []


def test_rolling_update_cannot_have_both_surge_and_unavailable_zero() -> None:
    obj = deployment(
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}
    )
    assert messages(obj) == [
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0'
    ]
    ok = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    assert messages(ok) == []
