"""Ingress on a real localcluster: ingress-nginx routing and canary annotations, through real pods.

Two Deployments of the demo app, ``argoproj/rollouts-demo:blue`` (1 pod, the stable version)
and ``:green`` (3 pods, the canary), in a namespace of this module's own. Each test makes its
own pair of Services over them (``<test>-stable``, ``<test>-canary``, as Argo Rollouts has a
stable and a canary Service) and its own primary and canary Ingresses for a host of its own:
ingress-nginx attaches a canary to the stable *Service port* wherever it is used, so tests
sharing a Service would see each other's canaries. The ingress port comes from the server's
``server.json``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.conftest import Cluster, Kubectl

pytestmark = pytest.mark.slow

PREFIX = "nginx.ingress.kubernetes.io/"
INGRESSES = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"


@dataclass
class App:
    cluster: Cluster
    namespace: str
    port: int

    @property
    def ingresses(self) -> str:
        return INGRESSES.format(ns=self.namespace)

    def apply_ingress(self, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        status, current, _ = self.cluster.request("GET", f"{self.ingresses}/{name}")
        if status == 404:
            status, created, _ = self.cluster.request("POST", self.ingresses, body)
            assert status == 201, created
            return
        body = {
            **body,
            "metadata": {**body["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
        }
        status, updated, _ = self.cluster.request("PUT", f"{self.ingresses}/{name}", body)
        assert status == 200, updated

    def delete_ingress(self, name: str) -> None:
        status, body, _ = self.cluster.request("DELETE", f"{self.ingresses}/{name}")
        assert status == 200, body

    def services(self, prefix: str) -> tuple[str, str]:
        """``<prefix>-stable`` over the blue pod and ``<prefix>-canary`` over the green ones."""
        stable, canary = f"{prefix}-stable", f"{prefix}-canary"
        for svc in (service(stable, "blue"), service(canary, "green")):
            status, body, _ = self.cluster.request(
                "POST", f"/api/v1/namespaces/{self.namespace}/services", svc
            )
            assert status == 201, body
        eventually(
            lambda: (
                ready_addresses(self.cluster, self.namespace, stable) == 1
                and ready_addresses(self.cluster, self.namespace, canary) == 3
            ),
            f"the endpoints of {stable} and {canary}",
        )
        return stable, canary


def eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


def deployment(name: str, color: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"argoproj/rollouts-demo:{color}",
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ]
                },
            },
        },
    }


def service(name: str, selector: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": selector},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def ready_addresses(cluster: Cluster, ns: str, name: str) -> int:
    status, ep, _ = cluster.request("GET", f"/api/v1/namespaces/{ns}/endpoints/{name}")
    return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or []) if status == 200 else 0


def ingress_port(cluster: Cluster) -> int:
    info = json.loads((cluster.state_dir / "server.json").read_text())
    return int(info["ingressPort"])


@pytest.fixture(scope="module")
def app(cluster: Cluster) -> Iterator[App]:
    ns = f"ing-{uuid.uuid4().hex[:8]}"
    status, body, _ = cluster.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    )
    assert status == 201, body
    apps = f"/apis/apps/v1/namespaces/{ns}/deployments"
    assert cluster.request("POST", apps, deployment("blue", "blue", 1))[0] == 201
    assert cluster.request("POST", apps, deployment("green", "green", 3))[0] == 201
    for svc in (
        service("blue", "blue"),
        service("green", "green"),
        service("nobody", "nothing-has-this-label"),
    ):
        assert cluster.request("POST", f"/api/v1/namespaces/{ns}/services", svc)[0] == 201
    eventually(
        lambda: ready_addresses(cluster, ns, "blue") == 1 and ready_addresses(cluster, ns, "green") == 3,
        "1 blue and 3 green pods ready",
        timeout=30,
    )
    yield App(cluster, ns, ingress_port(cluster))
    cluster.request("DELETE", f"/api/v1/namespaces/{ns}")


def ingress(
    name: str,
    host: str,
    service_name: str,
    *,
    annotations: dict[str, str] | None = None,
    legacy_class: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {} if legacy_class else {"ingressClassName": "nginx"}
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": service_name, "port": {"number": 80}}},
                }
            ]
        }
    }
    if host:
        rule["host"] = host
    spec["rules"] = [rule]
    meta: dict[str, Any] = {"name": name, "annotations": dict(annotations or {})}
    if legacy_class:
        meta["annotations"]["kubernetes.io/ingress.class"] = "nginx"
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def canary(name: str, host: str, service_name: str, **settings: str) -> dict[str, Any]:
    annotations = {PREFIX + "canary": "true"}
    annotations.update({PREFIX + "canary-" + k.replace("_", "-"): v for k, v in settings.items()})
    return ingress(name, host, service_name, annotations=annotations)


def colors(
    app: App, host: str, n: int, *, headers: dict[str, str] | None = None, concurrency: int = 16
) -> Counter[str]:
    """Send ``n`` GET /color through the ingress for ``host`` (none: the address's own); count
    the colours (or status codes)."""

    async def main() -> Counter[str]:
        counts: Counter[str] = Counter()
        slots = asyncio.Semaphore(concurrency)
        url = f"http://127.0.0.1:{app.port}/color"
        sent = {**({"Host": host} if host else {}), **(headers or {})}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

            async def one() -> None:
                async with slots, session.get(url, headers=sent) as resp:
                    if resp.status == 200:
                        counts[str((await resp.json())["color"])] += 1
                    else:
                        counts[str(resp.status)] += 1

            await asyncio.gather(*(one() for _ in range(n)))
        return counts

    return asyncio.run(main())


def color(app: App, host: str, **headers: str) -> str:
    return next(iter(colors(app, host, 1, headers=headers)))


def test_weight_10_sends_a_tenth_of_requests_to_the_canary_whatever_the_pod_counts(app: App) -> None:
    host = "weight.example.com"
    stable, canary_svc = app.services("weight")
    app.apply_ingress(ingress("weight-stable", host, stable))
    # The header makes the canary's arrival observable; the weight is in the same object.
    app.apply_ingress(canary("weight-canary", host, canary_svc, weight="10", by_header="X-Canary"))
    eventually(lambda: color(app, host, **{"X-Canary": "always"}) == "green", "the canary to be routed")

    started = time.monotonic()
    counts = colors(app, host, 3000)
    elapsed = time.monotonic() - started
    assert sum(counts.values()) == 3000 and set(counts) <= {"blue", "green"}, counts
    # 1 blue pod and 3 green pods, yet ~10% green: the weight, not the pods, decides.
    # Binomial(3000, 0.1): sigma = 0.55 percentage points; 4 sigma either way (3 sigma would
    # fail one run in 370 of a correct proxy).
    n, p = 3000, 0.10
    sigma = (n * p * (1 - p)) ** 0.5
    assert abs(counts["green"] - n * p) <= 4 * sigma, (counts, f"{elapsed:.1f}s")


def test_canary_by_header_routes_exactly(app: App) -> None:
    host = "header.example.com"
    stable, canary_svc = app.services("header")
    app.apply_ingress(ingress("header-stable", host, stable))
    app.apply_ingress(canary("header-canary", host, canary_svc, weight="0", by_header="X-Canary"))
    eventually(lambda: color(app, host, **{"X-Canary": "always"}) == "green", "the canary to be routed")
    assert colors(app, host, 100, headers={"X-Canary": "always"}) == {"green": 100}
    assert colors(app, host, 100, headers={"X-Canary": "never"}) == {"blue": 100}
    assert colors(app, host, 100, headers={"X-Canary": "perhaps"}) == {"blue": 100}  # on to weight 0
    assert colors(app, host, 100) == {"blue": 100}

    # with a header value, only that value selects the canary
    app.apply_ingress(
        canary("header-canary", host, canary_svc, weight="0", by_header="X-Canary", by_header_value="beta")
    )
    eventually(lambda: color(app, host, **{"X-Canary": "beta"}) == "green", "the header value to apply")
    assert colors(app, host, 50, headers={"X-Canary": "beta"}) == {"green": 50}
    assert colors(app, host, 50, headers={"X-Canary": "always"}) == {"blue": 50}


def test_canary_by_cookie_after_the_header(app: App) -> None:
    host = "cookie.example.com"
    stable, canary_svc = app.services("cookie")
    app.apply_ingress(ingress("cookie-stable", host, stable))
    app.apply_ingress(
        canary("cookie-canary", host, canary_svc, weight="100", by_header="X-Canary", by_cookie="canary")
    )
    eventually(lambda: color(app, host, Cookie="canary=never") == "blue", "the cookie to apply")
    assert colors(app, host, 50, headers={"Cookie": "session=abc; canary=never"}) == {"blue": 50}
    assert colors(app, host, 50, headers={"Cookie": "canary=always"}) == {"green": 50}
    assert colors(app, host, 50, headers={"Cookie": "canary=sometimes"}) == {"green": 50}  # weight 100
    # the header is looked at first
    assert colors(app, host, 50, headers={"Cookie": "canary=always", "X-Canary": "never"}) == {"blue": 50}


def test_weight_0_sends_nothing_and_a_removed_canary_sends_everything_to_stable(app: App) -> None:
    host = "zero.example.com"
    stable, canary_svc = app.services("zero")
    app.apply_ingress(ingress("zero-stable", host, stable))
    app.apply_ingress(canary("zero-canary", host, canary_svc, weight="0", by_header="X-Canary"))
    eventually(lambda: color(app, host, **{"X-Canary": "always"}) == "green", "the canary to be routed")
    assert colors(app, host, 300) == {"blue": 300}

    app.apply_ingress(canary("zero-canary", host, canary_svc, weight="100"))
    eventually(lambda: color(app, host) == "green", "weight 100 to apply")
    assert colors(app, host, 100) == {"green": 100}

    app.delete_ingress("zero-canary")
    eventually(lambda: color(app, host) == "blue", "the canary to be gone")
    assert colors(app, host, 300) == {"blue": 300}


def test_no_matching_host_is_404_and_a_backend_without_endpoints_is_503(app: App) -> None:
    app.apply_ingress(ingress("empty", "empty.example.com", "nobody"))
    eventually(lambda: color(app, "empty.example.com") == "503", "the Ingress to be served")
    assert colors(app, "empty.example.com", 20) == {"503": 20}
    assert colors(app, "nothing-here.example.com", 20) == {"404": 20}


def test_kubectl_apply_and_get_ingress_show_the_address(app: App, kubectl: Kubectl) -> None:
    """An Argo-style manifest (the legacy class annotation) through the real kubectl."""
    host = "kubectl.example.com"
    stable, canary_svc = app.services("kubectl")
    manifests = [
        ingress("kubectl-stable", host, stable, legacy_class=True),
        canary("kubectl-canary", host, canary_svc, weight="100"),
    ]
    kubectl.run("-n", app.namespace, "apply", "-f", "-", input=yaml.safe_dump_all(manifests))

    def shown() -> bool:
        out = kubectl.run("-n", app.namespace, "get", "ingress", "kubectl-stable", "kubectl-canary").stdout
        rows = [line.split() for line in out.splitlines()[1:]]
        return len(rows) == 2 and all(row[3] == "127.0.0.1" for row in rows)

    eventually(shown, "kubectl get ingress to show ADDRESS 127.0.0.1")
    out = kubectl.run("-n", app.namespace, "get", "ingress", "kubectl-stable").stdout.splitlines()
    assert out[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert out[1].split()[:5] == ["kubectl-stable", "<none>", host, "127.0.0.1", "80"]
    port = kubectl.run(
        "-n",
        app.namespace,
        "get",
        "ingress",
        "kubectl-stable",
        "-o",
        "jsonpath={.status.loadBalancer.ingress[0].ports[0].port}",
    ).stdout
    assert int(port) == app.port
    assert kubectl.run("get", "ingressclass", "nginx", "-o", "jsonpath={.spec.controller}").stdout == (
        "k8s.io/ingress-nginx"
    )
    eventually(lambda: color(app, host) == "green", "weight 100 to apply")

    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "localcluster",
            "status",
            "-o",
            "json",
            "--state-dir",
            str(app.cluster.state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(status.stdout)
    assert report["ingressUrl"] == f"http://127.0.0.1:{app.port}"


def test_rollouts_load_test_can_target_the_ingress(app: App) -> None:
    """``rollouts load-test --url`` sends no Host header of its own choosing: a rule without host."""
    stable, canary_svc = app.services("load")
    app.apply_ingress(ingress("load-stable", "", stable))
    app.apply_ingress(canary("load-canary", "", canary_svc, weight="50", by_header="X-Canary"))
    try:
        eventually(lambda: color(app, "", **{"X-Canary": "always"}) == "green", "the canary to be routed")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "controller.cli.main",
                "load-test",
                "--url",
                f"http://127.0.0.1:{app.port}/color",
                "--rps",
                "200",
                "--duration",
                "2s",
                "--keep-alive",
                "--no-live",
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        summary = json.loads(result.stdout)
        counts = {v["version"]: v["requests"] for v in summary["versions"]}
        n = sum(counts.values())
        assert n >= 200 and summary["errors"]["count"] == 0, summary
        assert abs(counts.get("green", 0) - n / 2) <= 4 * (n * 0.25) ** 0.5, counts
    finally:
        # the catch-all host is shared by every namespace: leave it as it was
        app.delete_ingress("load-canary")
        app.delete_ingress("load-stable")


def localcluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcluster", *args], capture_output=True, text=True, timeout=60
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_ingress_port_is_chosen_kept_across_restarts_and_reported(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    port = free_port()
    try:
        up = localcluster("up", "--state-dir", state, "--ingress-port", str(port))
        assert up.returncode == 0, up.stderr + up.stdout
        assert f"ingress (class nginx): http://127.0.0.1:{port}" in up.stdout
        with pytest.raises(urllib.error.HTTPError) as answered:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
        assert answered.value.code == 404  # listening, with nothing to serve yet
        answered.value.close()
    finally:
        assert localcluster("down", "--state-dir", state).returncode == 0

    # restarted without the flag, it listens where it did before
    try:
        assert localcluster("up", "--state-dir", state).returncode == 0
        report = json.loads(localcluster("status", "-o", "json", "--state-dir", state).stdout)
        assert report["ingressPort"] == port
        assert report["ingressUrl"] == f"http://127.0.0.1:{port}"
    finally:
        assert localcluster("down", "--state-dir", state).returncode == 0

    # a port another program holds is an error that names it
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        failed = localcluster("up", "--state-dir", state, "--ingress-port", str(busy), "--foreground")
    assert failed.returncode == 1
    assert f"cannot listen for Ingress traffic on 127.0.0.1:{busy}" in failed.stderr
