"""What the Service proxy decides: where a Service listens, which endpoints a port has, who gets a connection."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from localcluster.proxy.balancer import (
    DEFAULT_AFFINITY_TIMEOUT,
    AffinityTable,
    Balancer,
    Endpoint,
    ListenAddress,
    PortBackends,
    SkippedPort,
    affinity_timeout,
    port_backends,
    service_listeners,
)


def service(kind: str = "ClusterIP", cluster_ip: str = "127.96.0.20", **spec: Any) -> dict[str, Any]:
    ports = spec.pop("ports", [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
    return {
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"type": kind, "clusterIP": cluster_ip, "ports": ports, **spec},
    }


def endpoints(*subsets: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns"}, "subsets": list(subsets)}


def addresses(*ips: str) -> list[dict[str, str]]:
    return [{"ip": ip} for ip in ips]


# -- listeners -------------------------------------------------------------------------------------


def test_cluster_ip_service_listens_on_its_cluster_ip_only() -> None:
    listeners, skipped = service_listeners(service(ports=[{"name": "http", "port": 80, "protocol": "TCP"}]))
    assert listeners == [ListenAddress("127.96.0.20", 80, "http", "cluster-ip")]
    assert skipped == []


def test_node_port_service_also_listens_on_localhost_node_port() -> None:
    listeners, _ = service_listeners(service("NodePort"))
    assert [(a.host, a.port, a.role) for a in listeners] == [
        ("127.96.0.20", 80, "cluster-ip"),
        ("127.0.0.1", 30080, "node-port"),
    ]


def test_load_balancer_service_listens_on_node_port_and_its_ingress_address() -> None:
    listeners, _ = service_listeners(service("LoadBalancer"))
    assert [(a.host, a.port, a.role) for a in listeners] == [
        ("127.96.0.20", 80, "cluster-ip"),
        ("127.0.0.1", 30080, "node-port"),
        ("127.0.0.1", 80, "load-balancer"),
    ]


@pytest.mark.parametrize(
    "svc",
    [
        service(cluster_ip="None"),
        service("ExternalName", cluster_ip="", externalName="example.com"),
        service(cluster_ip=""),
    ],
    ids=["headless", "external-name", "no-cluster-ip"],
)
def test_headless_and_external_name_services_get_no_listener(svc: dict[str, Any]) -> None:
    assert service_listeners(svc) == ([], [])


def test_udp_and_sctp_ports_are_skipped_and_reported() -> None:
    svc = service(
        "NodePort",
        ports=[
            {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
            {"name": "web", "port": 80, "protocol": "TCP", "nodePort": 30080},
            {"name": "s", "port": 9, "protocol": "SCTP"},
        ],
    )
    listeners, skipped = service_listeners(svc)
    assert {a.port_name for a in listeners} == {"web"}
    assert skipped == [SkippedPort("dns", 53, "UDP"), SkippedPort("s", 9, "SCTP")]


# -- endpoints of a port ---------------------------------------------------------------------------


def test_port_backends_are_the_ready_addresses_at_the_resolved_port() -> None:
    eps = endpoints(
        {
            "addresses": addresses("127.10.0.1", "127.10.0.2"),
            "notReadyAddresses": addresses("127.10.0.3"),
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }
    )
    backends = port_backends(eps, "http")
    assert backends.ready == (Endpoint("127.10.0.1", 8080), Endpoint("127.10.0.2", 8080))
    assert backends.known == {
        Endpoint("127.10.0.1", 8080),
        Endpoint("127.10.0.2", 8080),
        Endpoint("127.10.0.3", 8080),
    }


def test_port_backends_match_ports_by_name_and_protocol_across_subsets() -> None:
    eps = endpoints(
        {
            "addresses": addresses("127.10.0.1"),
            "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}],
        },
        # a pod whose named target port resolved to another number
        {"addresses": addresses("127.10.0.2"), "ports": [{"name": "http", "port": 8081}]},
        {"addresses": addresses("127.10.0.3"), "ports": [{"name": "http", "port": 53, "protocol": "UDP"}]},
    )
    assert port_backends(eps, "http").ready == (Endpoint("127.10.0.1", 8080), Endpoint("127.10.0.2", 8081))
    assert port_backends(eps, "metrics").ready == (Endpoint("127.10.0.1", 9090),)
    assert port_backends(eps, "http", "UDP").ready == (Endpoint("127.10.0.3", 53),)


def test_unnamed_single_port_matches_unnamed_endpoint_port() -> None:
    eps = endpoints({"addresses": addresses("127.10.0.1"), "ports": [{"port": 8080, "protocol": "TCP"}]})
    assert port_backends(eps, "").ready == (Endpoint("127.10.0.1", 8080),)
    assert port_backends(eps, "http").ready == ()


def test_no_endpoints_object_means_no_backends() -> None:
    assert port_backends(None, "http") == PortBackends()
    assert port_backends(endpoints(), "http") == PortBackends()


# -- picking ---------------------------------------------------------------------------------------


def backends(*ips: str, port: int = 80) -> PortBackends:
    eps = tuple(Endpoint(ip, port) for ip in ips)
    return PortBackends(eps, frozenset(eps))


def test_no_ready_endpoint_means_no_connection() -> None:
    assert Balancer(PortBackends()).pick("127.0.0.1", 0.0) is None


def test_each_ready_endpoint_gets_an_equal_share() -> None:
    balancer = Balancer(backends("a", "b", "c", "d"), rng=random.Random(7))
    n = 40_000
    counts = Counter(balancer.pick("127.0.0.1", 0.0) for _ in range(n))
    sd = (n * 0.25 * 0.75) ** 0.5
    for ip in "abcd":
        assert abs(counts[Endpoint(ip, 80)] - n / 4) < 4 * sd


def test_update_applies_to_the_next_pick() -> None:
    balancer = Balancer(backends("a", "b"))
    balancer.update(backends("c"), None)
    assert {balancer.pick("127.0.0.1", 0.0) for _ in range(50)} == {Endpoint("c", 80)}
    balancer.update(PortBackends(), None)
    assert balancer.pick("127.0.0.1", 0.0) is None


def test_client_ip_affinity_keeps_a_client_on_its_endpoint() -> None:
    balancer = Balancer(backends("a", "b", "c", "d"), affinity=60.0)
    first = balancer.pick("10.0.0.1", 0.0)
    assert all(balancer.pick("10.0.0.1", float(t)) == first for t in range(1, 300, 10))
    others = {balancer.pick(f"10.0.1.{i}", 0.0) for i in range(200)}
    assert len(others) > 1  # other clients are spread


def test_affinity_expires_after_the_timeout_since_the_last_connection() -> None:
    table = AffinityTable(10.0)
    table.remember("c", Endpoint("a", 80), 0.0)
    assert table.lookup("c", 9.0) == Endpoint("a", 80)
    table.remember("c", Endpoint("a", 80), 9.0)  # a new connection restarts the timer
    assert table.lookup("c", 18.5) == Endpoint("a", 80)
    assert table.lookup("c", 29.0) is None
    assert len(table) == 0


def test_affinity_moves_a_client_whose_endpoint_is_no_longer_ready() -> None:
    balancer = Balancer(backends("a", "b"), affinity=60.0, rng=random.Random(1))
    first = balancer.pick("10.0.0.1", 0.0)
    assert first is not None
    remaining = "b" if first.ip == "a" else "a"
    balancer.update(backends(remaining), 60.0)
    moved = balancer.pick("10.0.0.1", 1.0)
    assert moved == Endpoint(remaining, 80)
    # the original endpoint comes back: the client stays where it was moved to
    balancer.update(backends("a", "b"), 60.0)
    assert all(balancer.pick("10.0.0.1", 2.0 + i) == moved for i in range(20))


def test_affinity_table_sheds_expired_clients() -> None:
    table = AffinityTable(5.0)
    for i in range(3000):
        table.remember(f"10.0.{i // 256}.{i % 256}", Endpoint("a", 80), float(i))
    assert len(table) < 1100


def test_affinity_timeout_from_the_service() -> None:
    assert affinity_timeout(service()) is None
    assert affinity_timeout(service(sessionAffinity="ClientIP")) == DEFAULT_AFFINITY_TIMEOUT
    config = {"clientIP": {"timeoutSeconds": 30}}
    assert affinity_timeout(service(sessionAffinity="ClientIP", sessionAffinityConfig=config)) == 30.0
