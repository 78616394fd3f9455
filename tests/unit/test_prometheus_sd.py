"""Prometheus HTTP service discovery: the targets and labels Kubernetes SD's ``role: pod`` gives."""

from __future__ import annotations

from typing import Any

import pytest

from localcluster.apiserver.prometheus_sd import (
    pod_target_groups,
    sanitize_label_name,
    target_groups,
)
from localcluster.apiserver.selectors import LabelSelector

M = "__meta_kubernetes_"


def _pod(
    name: str = "web-abc12",
    *,
    ip: str | None = "127.10.1.2",
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    ready: str | None = "True",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owners: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Running", "hostIP": "127.0.0.1"}
    if ip:
        status["podIP"] = ip
    if ready is not None:
        status["conditions"] = [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": ready},
        ]
    status["containerStatuses"] = [{"name": "app", "containerID": "localcluster://c1"}]
    spec: dict[str, Any] = {
        "nodeName": "localcluster",
        "containers": containers
        if containers is not None
        else [
            {
                "name": "app",
                "image": "argoproj/rollouts-demo:blue",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            }
        ],
    }
    if init:
        spec["initContainers"] = init
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "uid": "uid-1"}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    if owners is not None:
        meta["ownerReferences"] = owners
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def test_a_running_pod_gives_one_target_per_port_with_the_pod_role_labels() -> None:
    pod = _pod(
        labels={"app": "web", "rollouts-pod-template-hash": "6d9f"},
        annotations={"prometheus.io/scrape": "true"},
        owners=[
            {"kind": "Node", "name": "n", "controller": False},
            {"kind": "ReplicaSet", "name": "web-6d9f", "controller": True},
        ],
    )
    [group] = pod_target_groups(pod)
    assert group["targets"] == ["127.10.1.2:8080"]
    assert group["labels"] == {
        f"{M}namespace": "shop",
        f"{M}pod_name": "web-abc12",
        f"{M}pod_ip": "127.10.1.2",
        f"{M}pod_ready": "true",
        f"{M}pod_phase": "Running",
        f"{M}pod_node_name": "localcluster",
        f"{M}pod_host_ip": "127.0.0.1",
        f"{M}pod_uid": "uid-1",
        f"{M}pod_controller_kind": "ReplicaSet",
        f"{M}pod_controller_name": "web-6d9f",
        f"{M}pod_label_app": "web",
        f"{M}pod_labelpresent_app": "true",
        f"{M}pod_label_rollouts_pod_template_hash": "6d9f",
        f"{M}pod_labelpresent_rollouts_pod_template_hash": "true",
        f"{M}pod_annotation_prometheus_io_scrape": "true",
        f"{M}pod_annotationpresent_prometheus_io_scrape": "true",
        f"{M}pod_container_name": "app",
        f"{M}pod_container_id": "localcluster://c1",
        f"{M}pod_container_image": "argoproj/rollouts-demo:blue",
        f"{M}pod_container_init": "false",
        f"{M}pod_container_port_name": "http",
        f"{M}pod_container_port_number": "8080",
        f"{M}pod_container_port_protocol": "TCP",
    }


def test_every_declared_port_of_every_container_is_a_target() -> None:
    pod = _pod(
        containers=[
            {
                "name": "app",
                "image": "a",
                "ports": [{"containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
            },
            {"name": "sidecar", "image": "b", "ports": [{"containerPort": 5353, "protocol": "UDP"}]},
        ]
    )
    groups = pod_target_groups(pod)
    assert [g["targets"] for g in groups] == [["127.10.1.2:8080"], ["127.10.1.2:9090"], ["127.10.1.2:5353"]]
    assert [g["labels"][f"{M}pod_container_port_name"] for g in groups] == ["", "metrics", ""]
    assert [g["labels"][f"{M}pod_container_port_protocol"] for g in groups] == ["TCP", "TCP", "UDP"]
    assert groups[2]["labels"][f"{M}pod_container_name"] == "sidecar"
    assert groups[2]["labels"][f"{M}pod_container_id"] == ""  # no status for it yet


def test_a_container_without_ports_is_a_target_at_the_bare_pod_ip() -> None:
    [group] = pod_target_groups(_pod(containers=[{"name": "worker", "image": "w"}]))
    assert group["targets"] == ["127.10.1.2"]
    assert group["labels"][f"{M}pod_container_name"] == "worker"
    assert not any("port" in key for key in group["labels"])


def test_init_containers_come_after_the_containers_marked_init() -> None:
    pod = _pod(init=[{"name": "migrate", "image": "m", "ports": [{"containerPort": 7000}]}])
    groups = pod_target_groups(pod)
    assert [g["labels"][f"{M}pod_container_init"] for g in groups] == ["false", "true"]
    assert groups[1]["targets"] == ["127.10.1.2:7000"]


def test_a_pod_without_an_ip_has_no_targets() -> None:
    assert pod_target_groups(_pod(ip=None)) == []


@pytest.mark.parametrize(("ready", "label"), [("True", "true"), ("False", "false"), (None, "unknown")])
def test_ready_comes_from_the_ready_condition(ready: str | None, label: str) -> None:
    [group] = pod_target_groups(_pod(ready=ready))
    assert group["labels"][f"{M}pod_ready"] == label


def test_a_pod_without_a_controller_has_no_controller_labels() -> None:
    [group] = pod_target_groups(_pod(owners=[{"kind": "ReplicaSet", "name": "x"}]))
    assert f"{M}pod_controller_kind" not in group["labels"]
    assert f"{M}pod_controller_name" not in group["labels"]


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("app", "app"),
        ("app.kubernetes.io/name", "app_kubernetes_io_name"),
        ("rollouts-pod-template-hash", "rollouts_pod_template_hash"),
        ("example.com/9-lives", "example_com_9_lives"),
        ("Mixed_Case", "Mixed_Case"),
    ],
)
def test_label_names_are_sanitized_as_prometheus_does(key: str, name: str) -> None:
    assert sanitize_label_name(key) == name


def test_target_groups_keep_pod_order_and_apply_the_selector() -> None:
    pods = [
        _pod("a", ip="127.10.0.1", labels={"app": "web"}),
        _pod("b", ip=None, labels={"app": "web"}),
        _pod("c", ip="127.10.0.3", labels={"app": "db"}),
    ]
    assert [g["targets"] for g in target_groups(pods)] == [["127.10.0.1:8080"], ["127.10.0.3:8080"]]
    selected = target_groups(pods, LabelSelector.parse("app=db"))
    assert [g["labels"][f"{M}pod_name"] for g in selected] == ["c"]
