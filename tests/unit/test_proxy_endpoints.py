"""The Endpoints of a Service: what `kubectl get endpoints -o yaml` shows for given pods.

The pure rules (which pods, which ports, how subsets group) are tested directly; the
controller is driven over an in-memory store with the real object rules.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.registry import Registry
from localcluster.controllers.endpoints import (
    HEADLESS_LABEL,
    EndpointsController,
    desired_subsets,
    endpoints_labels,
    find_port,
)
from localcluster.store import Event, Obj, Store

NS = "default"


def pod(
    name: str,
    ip: str | None = "127.10.0.1",
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    deleting: bool = False,
    **spec: Any,
) -> Obj:
    meta: Obj = {"name": name, "namespace": NS, "uid": f"uid-{name}", "labels": labels or {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    container = {"name": "app", "image": "demo", "ports": ports or [{"name": "http", "containerPort": 8080}]}
    return {
        "metadata": meta,
        "spec": {"nodeName": "localcluster", "containers": [container], **spec},
        "status": status,
    }


def service(ports: list[dict[str, Any]] | None = None, **spec: Any) -> Obj:
    return {
        "metadata": {"name": "web", "namespace": NS, "labels": {"team": "a"}},
        "spec": {
            "clusterIP": "127.96.0.9",
            "selector": {"app": "web"},
            "ports": ports
            if ports is not None
            else [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            **spec,
        },
    }


def ips(subset: Obj, kind: str = "addresses") -> list[str]:
    return [a["ip"] for a in subset.get(kind) or []]


# -- pure rules ------------------------------------------------------------------------------------


def test_ready_pods_are_addresses_and_unready_ones_not_ready_addresses() -> None:
    subsets = desired_subsets(
        service(), [pod("b", "127.10.0.2"), pod("a", "127.10.0.1"), pod("c", "127.10.0.3", ready=False)]
    )
    assert len(subsets) == 1
    assert ips(subsets[0]) == ["127.10.0.1", "127.10.0.2"]
    assert ips(subsets[0], "notReadyAddresses") == ["127.10.0.3"]
    assert subsets[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_an_address_names_its_pod_and_node() -> None:
    (subset,) = desired_subsets(service(), [pod("a")])
    assert subset["addresses"] == [
        {
            "ip": "127.10.0.1",
            "nodeName": "localcluster",
            "targetRef": {"kind": "Pod", "namespace": NS, "name": "a", "uid": "uid-a"},
        }
    ]


@pytest.mark.parametrize(
    "excluded",
    [
        pod("x", None),
        pod("x", phase="Succeeded"),
        pod("x", phase="Failed"),
        pod("x", deleting=True),
    ],
    ids=["no-ip", "succeeded", "failed", "being-deleted"],
)
def test_pods_without_ip_finished_or_being_deleted_are_left_out(excluded: Obj) -> None:
    assert desired_subsets(service(), [excluded]) == []


def test_publish_not_ready_addresses_lists_every_pod_as_ready_even_terminating_ones() -> None:
    pods = [pod("a", "127.10.0.1", ready=False), pod("b", "127.10.0.2", deleting=True)]
    (subset,) = desired_subsets(service(publishNotReadyAddresses=True), pods)
    assert ips(subset) == ["127.10.0.1", "127.10.0.2"]
    assert "notReadyAddresses" not in subset


def test_numeric_target_port_is_used_as_is() -> None:
    svc = service([{"port": 80, "targetPort": 9376, "protocol": "TCP"}])
    (subset,) = desired_subsets(svc, [pod("a")])
    assert subset["ports"] == [{"port": 9376, "protocol": "TCP"}]


def test_named_target_port_resolves_per_pod_and_groups_pods_by_port() -> None:
    pods = [
        pod("a", "127.10.0.1", ports=[{"name": "http", "containerPort": 8080}]),
        pod("b", "127.10.0.2", ports=[{"name": "http", "containerPort": 9090}]),
        pod("c", "127.10.0.3", ports=[{"name": "http", "containerPort": 8080}]),
        pod("d", "127.10.0.4", ports=[{"name": "other", "containerPort": 8080}]),  # no such port
    ]
    subsets = desired_subsets(service(), pods)
    assert [(ips(s), [p["port"] for p in s["ports"]]) for s in subsets] == [
        (["127.10.0.1", "127.10.0.3"], [8080]),
        (["127.10.0.2"], [9090]),
    ]


def test_named_port_lookup_honours_protocol_and_sidecars() -> None:
    udp = pod("a", ports=[{"name": "dns", "containerPort": 53, "protocol": "UDP"}])
    assert find_port(udp, {"port": 53, "targetPort": "dns", "protocol": "TCP"}) is None
    assert find_port(udp, {"port": 53, "targetPort": "dns", "protocol": "UDP"}) == 53
    sidecar = pod(
        "b",
        initContainers=[
            {"name": "s", "restartPolicy": "Always", "ports": [{"name": "m", "containerPort": 9000}]}
        ],
    )
    assert find_port(sidecar, {"port": 9, "targetPort": "m"}) == 9000


def test_multi_port_service_pods_serving_only_some_ports_get_their_own_subset() -> None:
    svc = service(
        [
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            {
                "name": "metrics",
                "port": 9090,
                "targetPort": "metrics",
                "protocol": "TCP",
                "appProtocol": "http",
            },
        ]
    )
    full = pod(
        "a",
        "127.10.0.1",
        ports=[{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9100}],
    )
    partial = pod("b", "127.10.0.2", ready=False)
    subsets = desired_subsets(svc, [full, partial])
    assert [(ips(s), ips(s, "notReadyAddresses"), s["ports"]) for s in subsets] == [
        ([], ["127.10.0.2"], [{"name": "http", "port": 8080, "protocol": "TCP"}]),
        (
            ["127.10.0.1"],
            [],
            [
                {"name": "http", "port": 8080, "protocol": "TCP"},
                {"name": "metrics", "port": 9100, "protocol": "TCP", "appProtocol": "http"},
            ],
        ),
    ]


def test_headless_service_without_ports_lists_addresses_only_and_hostnames() -> None:
    svc = service([], clusterIP="None")
    member = pod("a", hostname="a", subdomain="web")
    (subset,) = desired_subsets(svc, [member])
    assert "ports" not in subset
    assert subset["addresses"][0]["hostname"] == "a"
    assert endpoints_labels(svc) == {"team": "a", HEADLESS_LABEL: ""}
    assert endpoints_labels(service()) == {"team": "a"}


# -- the controller over the real object rules ------------------------------------------------------


class Harness:
    """A store, the object rules and an EndpointsController, fed the store's events by hand."""

    def __init__(self) -> None:
        self.store = Store(None)
        self.objects = Objects(self.store, Registry())
        self.objects.ensure_namespace(NS)
        self.ctrl = EndpointsController(self.objects)
        self.rt = {p: self.ctrl.rt("", "v1", p) for p in ("pods", "services", "endpoints")}
        self.keys: list[str] = []
        self.endpoint_writes = 0
        self.store.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.resource == "/endpoints" and event.type != "DELETED":
            self.endpoint_writes += 1
        if event.resource in self.ctrl.watches:
            self.keys.extend(self.ctrl.keys_for(event))

    def settle(self) -> None:
        for _ in range(10):
            keys, self.keys = sorted(set(self.keys)), []
            if not keys:
                return
            for key in keys:
                asyncio.run(self.ctrl.reconcile(key))

    def create(self, plural: str, obj: Obj) -> None:
        body = copy.deepcopy(obj)
        status = body.pop("status", None)
        self.objects.create(self.rt[plural], NS, body, WriteOptions(manager="test"))
        if status is not None:
            self.set_status(body["metadata"]["name"], status)

    def set_status(self, name: str, status: Obj) -> None:
        current = copy.deepcopy(self.store.get("/pods", NS, name))
        assert current is not None
        current["status"] = status
        self.objects.update(
            self.rt["pods"], NS, name, current, WriteOptions(manager="kubelet", subresource="status")
        )

    def endpoints(self) -> Obj | None:
        return self.store.get("/endpoints", NS, "web")


def test_controller_follows_pod_readiness_and_writes_only_changes() -> None:
    h = Harness()
    h.create("services", service())
    h.create("pods", pod("a", "127.10.0.1"))
    h.create("pods", pod("b", "127.10.0.2", ready=False))
    h.create("pods", pod("other", "127.10.0.3", labels={"app": "db"}))
    h.settle()
    ep = h.endpoints()
    assert ep is not None
    assert ep["metadata"]["labels"] == {"team": "a"}
    assert "ownerReferences" not in ep["metadata"]
    assert ips(ep["subsets"][0]) == ["127.10.0.1"]
    assert ips(ep["subsets"][0], "notReadyAddresses") == ["127.10.0.2"]

    writes = h.endpoint_writes
    status = copy.deepcopy(h.store.get("/pods", NS, "a"))["status"]  # type: ignore[index]
    h.set_status("a", dict(status, message="unrelated change"))
    h.settle()
    assert h.endpoint_writes == writes

    h.set_status("b", dict(status, podIP="127.10.0.2", podIPs=[{"ip": "127.10.0.2"}]))
    h.settle()
    assert ips(h.endpoints()["subsets"][0]) == ["127.10.0.1", "127.10.0.2"]  # type: ignore[index]

    h.objects.delete(h.rt["pods"], NS, "a")
    h.settle()
    assert ips(h.endpoints()["subsets"][0]) == ["127.10.0.2"]  # type: ignore[index]


def test_endpoints_go_with_their_service_and_selectorless_services_are_left_alone() -> None:
    h = Harness()
    h.create("services", service())
    h.create("pods", pod("a"))
    h.settle()
    assert h.endpoints() is not None
    h.objects.delete(h.rt["services"], NS, "web")
    h.settle()
    assert h.endpoints() is None

    manual = {
        "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}],
    }
    h.create("services", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    h.create("endpoints", manual)
    h.create("pods", pod("b"))
    h.settle()
    assert ips(h.endpoints()["subsets"][0]) == ["192.0.2.1"]  # type: ignore[index]


def test_endpoints_changed_by_hand_are_put_right() -> None:
    h = Harness()
    h.create("services", service())
    h.create("pods", pod("a"))
    h.settle()
    tampered = copy.deepcopy(h.endpoints())
    assert tampered is not None
    tampered["subsets"] = []
    h.objects.update(h.rt["endpoints"], NS, "web", tampered, WriteOptions(manager="someone"))
    h.settle()
    assert ips(h.endpoints()["subsets"][0]) == ["127.10.0.1"]  # type: ignore[index]


def test_leftover_endpoints_of_a_deleted_service_are_removed_at_start() -> None:
    h = Harness()
    h.create("services", service())
    h.create("pods", pod("a"))
    h.settle()
    h.store.delete("/services", NS, "web")  # as if deleted while the server was down
    h.create("endpoints", {"metadata": {"name": "manual"}, "subsets": []})
    fresh = EndpointsController(h.objects)
    for key in fresh.initial_keys():
        asyncio.run(fresh.reconcile(key))
    assert h.endpoints() is None
    assert h.store.get("/endpoints", NS, "manual") is not None  # not ours: kept
