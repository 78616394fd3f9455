"""Services on a real localcluster: Endpoints that follow pods, and traffic through the Service proxy.

The pods here are this test's own little HTTP servers on random ``127.10.x.y`` addresses
(each answers with its pod's name). Their Pod objects are bound to a node no kubelet serves
(``nodeName``), so the kubelet leaves them alone, and the tests report ``podIP`` and
readiness themselves with a PATCH of ``pods/status``, as a kubelet does.
"""

from __future__ import annotations

import http.server
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.conftest import Cluster, Kubectl

T = TypeVar("T")


def eventually(fn: Callable[[], T | None], *, timeout: float = 10.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class PodServer:
    """An HTTP server on a random pod-range address that answers every request with its name."""

    def __init__(self, name: str) -> None:
        self.name = name
        body = name.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        for _ in range(50):
            host = f"127.10.{random.randrange(1, 255)}.{random.randrange(1, 255)}"
            try:
                # Port 0: the kernel picks a free port, so even a shared address cannot collide.
                self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
                break
            except OSError:
                continue
        else:
            raise AssertionError("no free pod address")
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.ip, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[Callable[[str], PodServer]]:
    started: list[PodServer] = []

    def start(name: str) -> PodServer:
        server = PodServer(name)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def create(cluster: Cluster, namespace: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created, _ = cluster.request("POST", f"/api/v1/namespaces/{namespace}/{plural}", body)
    assert status == 201, created
    return dict(created)


def create_pod(cluster: Cluster, namespace: str, server: PodServer, labels: dict[str, str]) -> None:
    create(
        cluster,
        namespace,
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": server.name, "labels": labels},
            "spec": {
                "nodeName": "no-kubelet-here",
                "containers": [
                    {
                        "name": "web",
                        "image": "demo",
                        "ports": [{"name": "http", "containerPort": server.port}],
                    }
                ],
            },
        },
    )


def set_ready(cluster: Cluster, namespace: str, server: PodServer, ready: bool) -> None:
    status = {
        "phase": "Running",
        "podIP": server.ip,
        "podIPs": [{"ip": server.ip}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    code, body, _ = cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{server.name}/status",
        {"status": status},
        content_type="application/merge-patch+json",
    )
    assert code == 200, body


def ready_pod(cluster: Cluster, namespace: str, server: PodServer, labels: dict[str, str]) -> None:
    create_pod(cluster, namespace, server, labels)
    set_ready(cluster, namespace, server, True)


def create_service(
    cluster: Cluster, namespace: str, name: str, selector: dict[str, str], **spec: Any
) -> dict[str, Any]:
    ports = [{"name": "web", "port": 80, "targetPort": "http"}]
    return create(
        cluster,
        namespace,
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": {"tier": "front"}},
            "spec": {"selector": selector, "ports": ports, **spec},
        },
    )


def get_endpoints(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    status, body, _ = cluster.request("GET", f"/api/v1/namespaces/{namespace}/endpoints/{name}")
    return dict(body) if status == 200 else None


def addresses(endpoints: dict[str, Any] | None, kind: str = "addresses") -> set[str]:
    return {a["targetRef"]["name"] for s in (endpoints or {}).get("subsets") or [] for a in s.get(kind) or []}


def ask(host: str, port: int, timeout: float = 2.0) -> str | None:
    """One request on a new connection: the answering pod's name, or None when refused or reset."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\nHost: svc\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode() if head.startswith(b"HTTP/1.0 200") else None


def cluster_address(service: dict[str, Any]) -> tuple[str, int]:
    return str(service["spec"]["clusterIP"]), int(service["spec"]["ports"][0]["port"])


# -- Endpoints ----------------------------------------------------------------------------------------


def test_endpoints_follow_pod_readiness(
    cluster: Cluster, namespace: str, servers: Callable[[str], PodServer]
) -> None:
    create_service(cluster, namespace, "web", {"app": "web"})
    a, b = servers("web-a"), servers("web-b")
    ready_pod(cluster, namespace, a, {"app": "web"})
    ready_pod(cluster, namespace, b, {"app": "web"})
    eventually(lambda: addresses(get_endpoints(cluster, namespace, "web")) == {"web-a", "web-b"}, what="both")

    endpoints = get_endpoints(cluster, namespace, "web")
    assert endpoints is not None
    assert endpoints["metadata"]["labels"] == {"tier": "front"}
    (subset_a,) = [s for s in endpoints["subsets"] if s["addresses"][0]["ip"] == a.ip]
    assert subset_a["ports"] == [{"name": "web", "port": a.port, "protocol": "TCP"}]  # named targetPort
    assert subset_a["addresses"][0]["nodeName"] == "no-kubelet-here"

    started = time.monotonic()
    set_ready(cluster, namespace, b, False)
    eventually(
        lambda: addresses(get_endpoints(cluster, namespace, "web"), "notReadyAddresses") == {"web-b"},
        timeout=1.0,
        what="web-b not ready",
    )
    assert time.monotonic() - started < 1.0
    assert addresses(get_endpoints(cluster, namespace, "web")) == {"web-a"}

    cluster.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/web-a")
    eventually(lambda: not addresses(get_endpoints(cluster, namespace, "web")), what="web-a gone")
    cluster.request("DELETE", f"/api/v1/namespaces/{namespace}/services/web")
    eventually(lambda: get_endpoints(cluster, namespace, "web") is None, what="endpoints deleted")


def test_selectorless_service_keeps_hand_made_endpoints(cluster: Cluster, namespace: str) -> None:
    create(
        cluster,
        namespace,
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "ext"},
            "spec": {"ports": [{"port": 80}]},
        },
    )
    manual = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "ext"},
        "subsets": [{"addresses": [{"ip": "127.10.0.9"}], "ports": [{"port": 8080}]}],
    }
    create(cluster, namespace, "endpoints", manual)
    time.sleep(0.3)
    endpoints = get_endpoints(cluster, namespace, "ext")
    assert endpoints is not None
    assert endpoints["subsets"][0]["addresses"] == [{"ip": "127.10.0.9"}]


# -- traffic ------------------------------------------------------------------------------------------


def test_traffic_share_follows_the_share_of_ready_pods(
    cluster: Cluster, namespace: str, servers: Callable[[str], PodServer]
) -> None:
    pods = [servers("v1-a"), servers("v2-a"), servers("v2-b"), servers("v2-c")]
    for pod in pods:
        ready_pod(cluster, namespace, pod, {"app": "split"})
    svc = create_service(cluster, namespace, "split", {"app": "split"})
    host, port = cluster_address(svc)
    eventually(lambda: addresses(get_endpoints(cluster, namespace, "split")) == {p.name for p in pods})
    eventually(lambda: ask(host, port), what="the service to answer")

    n = 2000
    answers = Counter(ask(host, port) for _ in range(n))
    assert sum(answers.values()) == n and None not in answers, answers
    v1 = answers["v1-a"]
    sd = (n * 0.25 * 0.75) ** 0.5
    assert abs(v1 - n / 4) < 4 * sd, answers  # 1 of 4 ready pods: about 25%
    for pod in pods:
        assert abs(answers[pod.name] - n / 4) < 4 * sd, answers


def test_unready_pod_gets_no_new_traffic_within_a_second(
    cluster: Cluster, namespace: str, servers: Callable[[str], PodServer]
) -> None:
    a, b = servers("ready-a"), servers("leaving-b")
    for pod in (a, b):
        ready_pod(cluster, namespace, pod, {"app": "ru"})
    svc = create_service(cluster, namespace, "ru", {"app": "ru"})
    host, port = cluster_address(svc)
    eventually(lambda: {ask(host, port) for _ in range(40)} == {a.name, b.name}, what="both pods answering")

    set_ready(cluster, namespace, b, False)
    unready_at = time.monotonic()
    late: list[float] = []
    while (elapsed := time.monotonic() - unready_at) < 1.5:
        answer = ask(host, port)
        assert answer in (a.name, b.name)
        if answer == b.name:
            late.append(elapsed)
    assert not late or max(late) < 1.0, f"the unready pod still got traffic {max(late):.2f}s later"
    assert {ask(host, port) for _ in range(100)} == {a.name}

    set_ready(cluster, namespace, b, True)
    eventually(lambda: b.name in {ask(host, port) for _ in range(40)}, timeout=2, what="b back")


def test_no_ready_endpoint_means_the_connection_is_refused_at_once(
    cluster: Cluster, namespace: str, servers: Callable[[str], PodServer]
) -> None:
    only = servers("only")
    ready_pod(cluster, namespace, only, {"app": "lonely"})
    svc = create_service(cluster, namespace, "lonely", {"app": "lonely"})
    host, port = cluster_address(svc)
    eventually(lambda: ask(host, port) == "only", what="the pod to answer")

    set_ready(cluster, namespace, only, False)
    eventually(lambda: ask(host, port) is None, timeout=1.0, what="no answer")
    started = time.monotonic()
    assert ask(host, port) is None
    assert time.monotonic() - started < 0.5  # reset at once, no timeout


def test_node_port_and_load_balancer_are_served_on_localhost(
    cluster: Cluster, kubectl: Kubectl, namespace: str, servers: Callable[[str], PodServer]
) -> None:
    pod = servers("np")
    ready_pod(cluster, namespace, pod, {"app": "np"})
    # Another server on this machine may hold a node port already: then try another one.
    for attempt in range(3):
        name = f"np-{attempt}"
        svc = create_service(cluster, namespace, name, {"app": "np"}, type="NodePort")
        node_port = int(svc["spec"]["ports"][0]["nodePort"])
        assert 30000 <= node_port <= 32767
        try:
            eventually(lambda: ask("127.0.0.1", node_port) == "np", timeout=3, what="node port")  # noqa: B023
            break
        except AssertionError:
            cluster.request("DELETE", f"/api/v1/namespaces/{namespace}/services/{name}")
    else:
        raise AssertionError("the node port never answered")
    assert ask(*cluster_address(svc)) == "np"

    create_service(cluster, namespace, "lb", {"app": "np"}, type="LoadBalancer")
    k = Kubectl(kubectl.cluster, kubectl.cache_dir, namespace)

    def table() -> str | None:
        out = str(k.run("-n", namespace, "get", "svc", "lb").stdout)
        return out if "127.0.0.1" in out else None

    row = eventually(table, what="EXTERNAL-IP 127.0.0.1")
    assert row.splitlines()[0].split()[:4] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"]
    assert row.splitlines()[1].split()[1:4:2] == ["LoadBalancer", "127.0.0.1"]


def test_client_ip_session_affinity_keeps_a_client_on_one_pod(
    cluster: Cluster, namespace: str, servers: Callable[[str], PodServer]
) -> None:
    pods = [servers(f"sticky-{i}") for i in range(3)]
    for pod in pods:
        ready_pod(cluster, namespace, pod, {"app": "sticky"})
    svc = create_service(cluster, namespace, "sticky", {"app": "sticky"}, sessionAffinity="ClientIP")
    host, port = cluster_address(svc)
    first = eventually(lambda: ask(host, port), what="an answer")
    assert {ask(host, port) for _ in range(60)} == {first}
    # its pod turns unready: the client moves, and stays where it moved
    set_ready(cluster, namespace, next(p for p in pods if p.name == first), False)
    second = eventually(lambda: (answer := ask(host, port)) != first and answer, timeout=1, what="moved")
    assert {ask(host, port) for _ in range(60)} == {second}


def test_deleting_the_service_closes_its_listeners(
    cluster: Cluster, namespace: str, servers: Callable[[str], PodServer]
) -> None:
    pod = servers("gone")
    ready_pod(cluster, namespace, pod, {"app": "gone"})
    svc = create_service(cluster, namespace, "gone", {"app": "gone"})
    host, port = cluster_address(svc)
    eventually(lambda: ask(host, port) == "gone", what="the pod to answer")
    held = socket.create_connection((host, port), timeout=2)  # an idle keep-alive connection
    cluster.request("DELETE", f"/api/v1/namespaces/{namespace}/services/gone")

    def refused() -> bool:
        try:
            socket.create_connection((host, port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    eventually(refused, timeout=1.0, what="the listener to close")
    held.settimeout(2)
    assert held.recv(1) == b""  # its endpoint went with the Service: the idle connection is closed
    held.close()
