"""Prometheus with localcluster: the http_sd endpoint, and the real Prometheus scraping demo pods.

The endpoint tests run against the session cluster in a namespace of their own. The slow
test starts a cluster of its own and the real ``prometheus`` binary (Debian's package,
installed by ``.ci/run``) with ``python -m localcluster prometheus up``, sends traffic to a
good and a bad version, and asks Prometheus what it saw through its HTTP API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from localcluster import prometheus
from tests.conftest import Cluster

SD = "/localcluster/prometheus/http_sd"
M = "__meta_kubernetes_"
T = TypeVar("T")


def eventually(check: Callable[[], T | None], *, timeout: float = 30.0, what: str) -> T:
    """Poll ``check`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def replicaset(ns: str, name: str, image: str, pod_hash: str, replicas: int = 2) -> dict[str, Any]:
    """Pods as a Rollout makes them: one app label, one rollouts-pod-template-hash per version."""
    labels = {"app": "demo", "rollouts-pod-template-hash": pod_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {"example.com/owner": "team-a"}},
                "spec": {
                    "containers": [
                        {
                            "name": "demo",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ]
                },
            },
        },
    }


def bare_pod(
    ns: str, name: str, *, container: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, **(metadata or {})},
        "spec": {
            "containers": [{"name": "demo", "image": "argoproj/rollouts-demo:green", **(container or {})}]
        },
    }


def create(cluster: Cluster, path: str, body: dict[str, Any]) -> None:
    status, answer, _ = cluster.request("POST", path, body)
    assert status == 201, answer


def sd_groups(cluster: Cluster, query: str = "") -> list[dict[str, Any]]:
    status, body, headers = cluster.request("GET", SD + query)
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    assert isinstance(body, list)
    return body


def by_pod(groups: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    pods: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        pods.setdefault(group["labels"][f"{M}pod_name"], []).append(group)
    return pods


# -- the endpoint ------------------------------------------------------------------------


def test_http_sd_lists_each_pod_port_with_the_kubernetes_pod_role_labels(
    cluster: Cluster, namespace: str
) -> None:
    create(
        cluster,
        f"/apis/apps/v1/namespaces/{namespace}/replicasets",
        replicaset(namespace, "demo-5f7c", "argoproj/rollouts-demo:blue", "5f7c"),
    )
    create(cluster, f"/api/v1/namespaces/{namespace}/pods", bare_pod(namespace, "portless"))
    create(
        cluster,
        f"/api/v1/namespaces/{namespace}/pods",
        bare_pod(
            namespace,
            "never-ready",
            container={
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/", "port": 9}, "periodSeconds": 1},
            },
        ),
    )

    def settled() -> dict[str, list[dict[str, Any]]] | None:
        pods = by_pod(sd_groups(cluster, f"?namespace={namespace}"))
        ready = [p for p, groups in pods.items() if groups[0]["labels"][f"{M}pod_ready"] == "true"]
        return pods if len(pods) == 4 and len(ready) == 3 else None

    pods = eventually(settled, what="4 pods with IPs, 3 of them ready, in the http_sd answer")
    replica_pods = sorted(p for p in pods if p.startswith("demo-5f7c-"))
    assert len(replica_pods) == 2
    for name in replica_pods:
        [group] = pods[name]
        labels = group["labels"]
        status, pod, _ = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        assert status == 200, pod
        assert group["targets"] == [f"{pod['status']['podIP']}:8080"]
        assert labels[f"{M}namespace"] == namespace
        assert labels[f"{M}pod_ip"] == pod["status"]["podIP"]
        assert labels[f"{M}pod_uid"] == pod["metadata"]["uid"]
        assert labels[f"{M}pod_phase"] == "Running"
        assert labels[f"{M}pod_node_name"] == "localcluster"
        assert labels[f"{M}pod_host_ip"] == pod["status"]["hostIP"]
        assert labels[f"{M}pod_label_app"] == "demo"
        assert labels[f"{M}pod_labelpresent_app"] == "true"
        assert labels[f"{M}pod_label_rollouts_pod_template_hash"] == "5f7c"
        assert labels[f"{M}pod_annotation_example_com_owner"] == "team-a"
        assert labels[f"{M}pod_annotationpresent_example_com_owner"] == "true"
        assert labels[f"{M}pod_controller_kind"] == "ReplicaSet"
        assert labels[f"{M}pod_controller_name"] == "demo-5f7c"
        assert labels[f"{M}pod_container_name"] == "demo"
        assert labels[f"{M}pod_container_image"] == "argoproj/rollouts-demo:blue"
        assert labels[f"{M}pod_container_port_name"] == "http"
        assert labels[f"{M}pod_container_port_number"] == "8080"
        assert labels[f"{M}pod_container_port_protocol"] == "TCP"
        assert labels[f"{M}pod_container_id"].startswith("localcluster://")

    [portless] = pods["portless"]
    assert portless["targets"] == [portless["labels"][f"{M}pod_ip"]]
    assert f"{M}pod_container_port_number" not in portless["labels"]
    assert f"{M}pod_controller_kind" not in portless["labels"]
    [never_ready] = pods["never-ready"]
    assert never_ready["labels"][f"{M}pod_ready"] == "false"

    # labelSelector narrows the answer as on a pod list; other namespaces are left out.
    selected = by_pod(
        sd_groups(cluster, f"?namespace={namespace}&labelSelector=rollouts-pod-template-hash%3D5f7c")
    )
    assert sorted(selected) == replica_pods
    everywhere = by_pod(sd_groups(cluster))
    assert set(pods) <= set(everywhere)
    assert sd_groups(cluster, "?namespace=no-such-namespace") == []


def test_http_sd_needs_the_bearer_token_and_a_valid_selector(cluster: Cluster) -> None:
    status, body, _ = cluster.request("GET", SD, token="not-the-token")
    assert status == 401 and body["reason"] == "Unauthorized"
    req = urllib.request.Request(cluster.url + SD)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10, context=cluster.ssl_context())
    assert err.value.code == 401
    status, body, _ = cluster.request("GET", SD + "?labelSelector=a%20in%20(")
    assert status == 400 and "labelSelector" in body["message"]
    status, body, _ = cluster.request("POST", SD, {})
    assert status == 405


# -- the command -------------------------------------------------------------------------


def localcluster_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcluster", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_prometheus_up_without_the_binary_says_how_to_install_it(tmp_path: Path) -> None:
    done = localcluster_cli(
        "prometheus", "up", "--state-dir", str(tmp_path), env={"PATH": str(tmp_path), "CI": ""}
    )
    assert done.returncode == 1
    assert "prometheus binary is not installed" in done.stderr
    assert "`sudo apt-get install -y prometheus`" in done.stderr
    assert not (tmp_path / "prometheus" / "info.json").exists()


def test_prometheus_up_needs_a_running_cluster(tmp_path: Path) -> None:
    done = localcluster_cli("prometheus", "up", "--state-dir", str(tmp_path))
    assert done.returncode == 1
    assert "localcluster is not running" in done.stderr and "rollouts cluster up" in done.stderr
    status = localcluster_cli("prometheus", "status", "--state-dir", str(tmp_path), "-o", "json")
    assert status.returncode == 3 and json.loads(status.stdout)["running"] is False


def test_the_generated_config_passes_promtool(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t\n")
    (tmp_path / "ca.crt").write_text("")
    cfg = prometheus.config(
        cluster_url="https://127.0.0.1:6443",
        token_file=tmp_path / "token",
        ca_file=tmp_path / "ca.crt",
        scrape_interval_s=0.5,
        namespace="demo",
    )
    path = tmp_path / "prometheus.yml"
    path.write_text(prometheus.config_text(cfg))
    done = subprocess.run(
        ["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


# -- the real Prometheus ---------------------------------------------------------------


def promql(url: str, query: str) -> list[dict[str, Any]]:
    full = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(full, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def by_label(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


def get_color(ip: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{ip}:8080/color", timeout=5) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as e:
        e.read()
        return int(e.code)


@pytest.mark.slow
def test_real_prometheus_scrapes_pods_and_tells_a_bad_version_from_a_good_one(fresh_cluster: Cluster) -> None:
    cluster, ns, state = fresh_cluster, "shop", str(fresh_cluster.state_dir)
    create(cluster, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    base = f"/apis/apps/v1/namespaces/{ns}/replicasets"
    create(cluster, base, replicaset(ns, "demo-stable", "argoproj/rollouts-demo:blue", "stable1"))
    create(cluster, base, replicaset(ns, "demo-canary", "argoproj/rollouts-demo:bad-red", "canary1"))
    # A pod without ports is scraped when it names its port in the usual annotation, not otherwise.
    annotated = {"annotations": {"prometheus.io/port": "8080"}}
    create(cluster, f"/api/v1/namespaces/{ns}/pods", bare_pod(ns, "annotated", metadata=annotated))
    create(cluster, f"/api/v1/namespaces/{ns}/pods", bare_pod(ns, "unannotated"))

    up = localcluster_cli("prometheus", "up", "--state-dir", state, "--scrape-interval", "1s")
    assert up.returncode == 0, up.stderr
    info = json.loads((fresh_cluster.state_dir / "prometheus" / "info.json").read_text())
    url, pid = info["url"], info["pid"]
    try:
        assert f"prometheus is running at {url} (pid {pid})" in up.stdout
        assert prometheus.ready(url)
        again = localcluster_cli("prometheus", "up", "--state-dir", state, "--scrape-interval", "1s")
        assert again.returncode == 0 and f"already running at {url} (pid {pid})" in again.stdout

        def all_up() -> list[dict[str, Any]] | None:
            with urllib.request.urlopen(f"{url}/api/v1/targets?state=active", timeout=10) as response:
                active = json.loads(response.read())["data"]["activeTargets"]
            mine = [t for t in active if t["labels"].get("namespace") == ns]
            return mine if len(mine) == 5 and all(t["health"] == "up" for t in mine) else None

        targets = eventually(all_up, timeout=60, what="5 targets of namespace shop up in Prometheus")
        pods = {t["labels"]["pod"]: t for t in targets}
        assert "unannotated" not in pods and "annotated" in pods
        ips: dict[str, str] = {}
        for name, target in pods.items():
            labels = target["labels"]
            assert labels["job"] == "kubernetes-pods" and labels["container"] == "demo"
            if name != "annotated":
                assert labels["app"] == "demo"
                assert labels["rollouts_pod_template_hash"] in ("stable1", "canary1")
                ips[name] = labels["instance"].rsplit(":", 1)[0]
        assert len(ips) == 4

        status = localcluster_cli("prometheus", "status", "--state-dir", state, "-o", "json")
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["running"] and shown["url"] == url and shown["pid"] == pid and shown["ready"]
        assert shown["targets"]["up"] >= 5 and shown["scrapeInterval"] == "1s"

        # Traffic to every pod until the last 30 s hold at least 150 requests per version.
        sent: Counter[tuple[str, str]] = Counter()
        selector = f'namespace="{ns}",path="/color"'
        per_version = (
            f"sum by (rollouts_pod_template_hash) (increase(http_requests_total{{{selector}}}[30s]))"
        )

        def enough_traffic() -> dict[str, float] | None:
            for _ in range(10):
                for name, ip in ips.items():
                    sent[(name, str(get_color(ip)))] += 1
            seen = by_label(promql(url, per_version), "rollouts_pod_template_hash")
            return seen if min(seen.get("stable1", 0), seen.get("canary1", 0)) >= 150 else None

        eventually(enough_traffic, timeout=60, what="Prometheus to see 150 requests per version")

        # Request rate per version, and success rate (non-5xx share) per version.
        rates = by_label(
            promql(
                url, f"sum by (rollouts_pod_template_hash) (rate(http_requests_total{{{selector}}}[30s]))"
            ),
            "rollouts_pod_template_hash",
        )
        assert rates["stable1"] > 1.0 and rates["canary1"] > 1.0
        success = by_label(
            promql(
                url,
                f'sum by (rollouts_pod_template_hash) (rate(http_requests_total{{{selector},code!~"5.."}}[30s]))'
                f" / sum by (rollouts_pod_template_hash) (rate(http_requests_total{{{selector}}}[30s]))",
            ),
            "rollouts_pod_template_hash",
        )
        # blue never fails; bad-red fails about 85% of /color requests (15% succeed).
        assert success["stable1"] == 1.0
        assert 0.03 < success["canary1"] < 0.4, success

        # Once traffic stops, Prometheus's counters match what each pod answered, exactly.
        expected = {f"{name}/{code}": float(n) for (name, code), n in sent.items()}

        def totals_match() -> dict[str, float] | None:
            result = promql(url, f"sum by (pod, code) (http_requests_total{{{selector}}})")
            seen = {f"{r['metric']['pod']}/{r['metric']['code']}": float(r["value"][1]) for r in result}
            return seen if seen == expected else None

        eventually(
            totals_match, timeout=20, what=f"Prometheus's totals to equal the requests sent {expected}"
        )
        assert any(key.endswith("/500") and key.startswith("demo-canary") for key in expected)
        assert not any(key.endswith("/500") and key.startswith("demo-stable") for key in expected)
    finally:
        down = localcluster_cli("prometheus", "down", "--state-dir", state)
    assert down.returncode == 0 and f"prometheus stopped (pid {pid})" in down.stdout
    assert not prometheus.pid_alive(pid, prometheus.PrometheusPaths.in_state_dir(fresh_cluster.state_dir))
    assert not prometheus.ready(url)
    after = localcluster_cli("prometheus", "status", "--state-dir", state)
    assert after.returncode == 3 and "prometheus is not running" in after.stdout


@pytest.mark.slow
def test_stopping_the_cluster_stops_its_prometheus(fresh_cluster: Cluster) -> None:
    state = str(fresh_cluster.state_dir)
    up = localcluster_cli("prometheus", "up", "--state-dir", state, "--scrape-interval", "500ms")
    assert up.returncode == 0, up.stderr
    info = json.loads((fresh_cluster.state_dir / "prometheus" / "info.json").read_text())
    assert info["scrapeInterval"] == "500ms" and prometheus.ready(info["url"])
    down = localcluster_cli("down", "--state-dir", state)
    assert down.returncode == 0, down.stderr
    assert f"prometheus stopped too (pid {info['pid']})" in down.stdout
    assert "localcluster stopped" in down.stdout
    assert not prometheus.ready(info["url"])
    assert fresh_cluster.proc.wait(timeout=10) == 0
