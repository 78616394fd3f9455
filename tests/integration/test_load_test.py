"""`rollouts load-test` as a user runs it: against small local HTTP servers, and a real cluster.

The servers here answer with a version picked per TCP connection (as a Service proxy that
balances connections would), so the test can see that each request opens its own connection
unless ``--keep-alive`` is given.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controller.kube.config import load_kubeconfig
from controller.loadtest import Summary, resolve_service, run_load_test
from tests.conftest import Cluster


class VersionServer(ThreadingHTTPServer):
    """Answers ``GET`` with ``{"version", "color"}``: the version changes with each connection."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, versions: list[str], *, fail_every: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.versions = versions
        self.fail_every = fail_every
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/color"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: VersionServer

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.version = self.server.versions[self.server.connections % len(self.server.versions)]
            self.server.connections += 1

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests += 1
            fail = self.server.fail_every and self.server.requests % self.server.fail_every == 0
        body = json.dumps({"color": self.version, "version": self.version}).encode()
        self.send_response(500 if fail else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serving(server: VersionServer) -> Iterator[VersionServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def two_versions() -> Iterator[VersionServer]:
    yield from serving(VersionServer(["blue", "green"]))


@pytest.fixture
def flaky() -> Iterator[VersionServer]:
    yield from serving(VersionServer(["red"], fail_every=4))


def load_test(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "load-test", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_split_across_versions_with_a_new_connection_per_request(two_versions: VersionServer) -> None:
    run = load_test("--url", two_versions.url, "--rps", "50", "--duration", "2s", "-o", "json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert 80 <= summary["requests"] <= 101
    assert summary["rps"] == pytest.approx(50, rel=0.2)
    shares = {v["version"]: v["percent"] for v in summary["versions"]}
    assert set(shares) == {"blue", "green"}
    assert shares["blue"] == pytest.approx(50, abs=2)  # the server alternates per connection
    assert summary["errors"]["count"] == 0
    assert summary["latencyMs"]["p50"] > 0
    assert summary["latencyMs"]["p50"] <= summary["latencyMs"]["p90"] <= summary["latencyMs"]["p99"]
    assert two_versions.connections == summary["requests"]


def test_keep_alive_reuses_connections(two_versions: VersionServer) -> None:
    run = load_test(
        "--url", two_versions.url, "--rps", "40", "--duration", "1s", "--keep-alive", "-o", "json"
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["requests"] >= 30
    assert two_versions.connections <= summary["requests"] // 4


def test_errors_are_counted_by_status_and_version(flaky: VersionServer) -> None:
    run = load_test("--url", flaky.url, "--rps", "40", "--duration", "1s", "-o", "json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["errors"]["byKind"] == {"HTTP 500": summary["errors"]["count"]}
    assert summary["errors"]["percent"] == pytest.approx(25, abs=3)
    [red] = summary["versions"]
    assert (red["version"], red["percent"], red["errors"]) == ("red", 100.0, summary["errors"]["count"])


def test_text_summary(two_versions: VersionServer) -> None:
    run = load_test("--url", two_versions.url, "--rps", "20", "--duration", "1s")
    assert run.returncode == 0, run.stderr
    for expected in ("blue", "green", "errors", "p50", "p90", "p99", two_versions.url):
        assert expected in run.stdout


def test_ctrl_c_stops_early_and_still_summarizes(two_versions: VersionServer) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli.main",
            "load-test",
            "--url",
            two_versions.url,
            "--duration",
            "60s",
            "-o",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while two_versions.requests < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["duration"] < 30
    assert summary["requests"] >= 10
    assert {v["version"] for v in summary["versions"]} == {"blue", "green"}


def test_unreachable_url_fails_fast_with_one_clear_line() -> None:
    url = f"http://127.0.0.1:{closed_port()}/color"
    began = time.monotonic()
    run = load_test("--url", url, "--duration", "30s")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == f"error: cannot connect to {url}: connection refused"
    assert time.monotonic() - began < 15  # gave up long before 30 s


def test_run_load_test_in_process_ticks_and_paces(two_versions: VersionServer) -> None:
    ticks: list[Summary] = []
    summary = asyncio.run(
        run_load_test(
            two_versions.url, rps=40, duration=1.0, concurrency=10, keep_alive=False, on_tick=ticks.append
        )
    )
    assert 35 <= summary.requests <= 41
    assert len(ticks) >= 4
    assert ticks[-1] == summary
    assert [t.requests for t in ticks] == sorted(t.requests for t in ticks)
    assert {v.version for v in summary.versions} == {"blue", "green"}


# -- Services through the API ---------------------------------------------------------------------


def create_service(cluster: Cluster, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    status, svc, _ = cluster.request("POST", f"/api/v1/namespaces/{namespace}/services", body)
    assert status == 201, svc
    return dict(svc)


def test_service_resolves_to_its_cluster_ip(cluster: Cluster, namespace: str) -> None:
    svc = create_service(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "frontend"},
            "spec": {
                "selector": {"app": "frontend"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
    )
    ip = svc["spec"]["clusterIP"]
    config = load_kubeconfig(cluster.kubeconfig)
    url = asyncio.run(resolve_service(config, f"{namespace}/frontend"))
    assert url == f"http://{ip}:80/color"
    url = asyncio.run(resolve_service(config, f"{namespace}/frontend", port="http", path="/"))
    assert url == f"http://{ip}:80/"


def test_node_port_service_falls_back_to_localhost(cluster: Cluster, namespace: str) -> None:
    svc = create_service(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "public"},
            "spec": {"type": "NodePort", "selector": {"app": "public"}, "ports": [{"port": 8080}]},
        },
    )
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    config = load_kubeconfig(cluster.kubeconfig)
    without_probe = asyncio.run(resolve_service(config, f"{namespace}/public", probe=False))
    assert without_probe == f"http://{ip}:8080/color"
    probed = asyncio.run(resolve_service(config, f"{namespace}/public"))
    # Whichever answers: the cluster IP once a Service proxy listens there, else the node port.
    assert probed in (f"http://{ip}:8080/color", f"http://127.0.0.1:{node_port}/color")


def test_unknown_service_is_a_clear_error(cluster: Cluster, namespace: str) -> None:
    run = load_test("--kubeconfig", str(cluster.kubeconfig), "--service", f"{namespace}/nope")
    assert run.returncode == 1
    assert run.stderr.strip() == f"error: service {namespace}/nope not found"
    create_service(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "one"},
            "spec": {"ports": [{"port": 80}]},
        },
    )
    run = load_test("--kubeconfig", str(cluster.kubeconfig), "--service", f"{namespace}/one", "--port", "81")
    assert run.returncode == 1
    assert run.stderr.strip() == f"error: service {namespace}/one has no port 81 (it has 80)"


def test_service_end_to_end(cluster: Cluster, namespace: str, two_versions: VersionServer) -> None:
    """Resolution and sending together, through a Service no proxy handles: an ExternalName one."""
    port = two_versions.server_address[1]
    create_service(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "outside"},
            "spec": {"type": "ExternalName", "externalName": "localhost", "ports": [{"port": port}]},
        },
    )
    args = ["--kubeconfig", str(cluster.kubeconfig), "--service", f"{namespace}/outside"]
    run = load_test(*args, "--rps", "20", "--duration", "1s", "-o", "json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["target"] == f"http://localhost:{port}/color"
    assert {v["version"] for v in summary["versions"]} == {"blue", "green"}
