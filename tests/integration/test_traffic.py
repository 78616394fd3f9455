"""Deployments, Services and load-test together: traffic splits as the share of ready pods."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.conftest import Cluster

pytestmark = pytest.mark.slow


def demo_deployment(name: str, ns: str, color: str, replicas: int) -> dict[str, Any]:
    labels = {"app": "split", "version": color}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
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


def ready_addresses(cluster: Cluster, ns: str, name: str) -> int:
    status, ep, _ = cluster.request("GET", f"/api/v1/namespaces/{ns}/endpoints/{name}")
    if status != 200:
        return 0
    return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])


def wait_for(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def load_test(cluster: Cluster, ns: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller.cli.main",
            "load-test",
            "--service",
            f"{ns}/split",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--no-live",
            "-o",
            "json",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def shares(summary: dict[str, Any]) -> dict[str, int]:
    return {v["version"]: v["requests"] for v in summary["versions"]}


def test_service_over_1_and_3_pods_carries_a_quarter_and_three_quarters(
    cluster: Cluster, namespace: str
) -> None:
    apps = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    assert cluster.request("POST", apps, demo_deployment("blue", namespace, "blue", 1))[0] == 201
    assert cluster.request("POST", apps, demo_deployment("green", namespace, "green", 3))[0] == 201
    service = {
        "metadata": {"name": "split"},
        "spec": {"selector": {"app": "split"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    assert cluster.request("POST", f"/api/v1/namespaces/{namespace}/services", service)[0] == 201
    wait_for(lambda: ready_addresses(cluster, namespace, "split") == 4)

    summary = load_test(cluster, namespace, "--rps", "400", "--duration", "5s")
    counts = shares(summary)
    total = sum(counts.values())
    assert total >= 1900, summary
    assert summary["errors"]["count"] == 0, summary
    blue = counts.get("blue", 0)
    # Binomial(total, 1/4): four standard deviations either way.
    sigma = (total * 0.25 * 0.75) ** 0.5
    assert abs(blue - total / 4) <= 4 * sigma, counts

    # scale green away: once its pods leave the endpoints, every request reaches blue
    cluster.request(
        "PATCH", f"{apps}/green/scale", {"spec": {"replicas": 0}}, content_type="application/merge-patch+json"
    )
    wait_for(lambda: ready_addresses(cluster, namespace, "split") == 1)
    after = shares(load_test(cluster, namespace, "--rps", "100", "--duration", "2s"))
    assert set(after) == {"blue"}, after
