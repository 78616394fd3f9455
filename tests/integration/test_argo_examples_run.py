"""Argo Rollouts' own examples, run on localcluster with the real kubectl and our controller.

- ``examples/rollout-bluegreen.yaml`` (the Rollout and its active/preview Services), unchanged:
  applied, updated with a new image, paused before the switch with the preview on the new
  version, promoted, switched;
- the NGINX getting-started guide (docs/getting-started/nginx): the Rollout ``rollouts-demo``
  with ``canaryService``/``stableService`` and ``stableIngress: rollouts-demo-stable``, its
  two Services and the stable Ingress — written as ``networking.k8s.io/v1`` (the guide's
  ``v1beta1`` Ingress is gone from Kubernetes since 1.22) — gives the documented canary Ingress
  ``rollouts-demo-rollouts-demo-stable-canary`` with ``canary-weight: "5"``, and about 5% of
  the requests through the Ingress go to the canary with one canary pod.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from controller.loadtest.run import run_load_test
from tests.conftest import Cluster, Kubectl
from tests.unit.test_api_examples import BLUE_GREEN

pytestmark = pytest.mark.slow

NGINX_GUIDE = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rollouts-demo
spec:
  replicas: 1
  strategy:
    canary:
      canaryService: rollouts-demo-canary
      stableService: rollouts-demo-stable
      trafficRouting:
        nginx:
          stableIngress: rollouts-demo-stable
      steps:
      - setWeight: 5
      - pause: {}
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollouts-demo
  template:
    metadata:
      labels:
        app: rollouts-demo
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
---
apiVersion: v1
kind: Service
metadata:
  name: rollouts-demo-canary
spec:
  ports:
  - port: 80
    targetPort: http
    protocol: TCP
    name: http
  selector:
    app: rollouts-demo
---
apiVersion: v1
kind: Service
metadata:
  name: rollouts-demo-stable
spec:
  ports:
  - port: 80
    targetPort: http
    protocol: TCP
    name: http
  selector:
    app: rollouts-demo
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: rollouts-demo-stable
  annotations:
    kubernetes.io/ingress.class: nginx
spec:
  rules:
  - host: rollouts-demo.local
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: rollouts-demo-stable
            port:
              number: 80
"""


def eventually(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def controller(cluster: Cluster, namespace: str, tmp_path: Path, kubectl: Kubectl) -> Any:
    """The CRDs, and our controller as a process watching the test's namespace (stopped by PID)."""
    crds = Path(__file__).resolve().parents[2] / "controller" / "api" / "crds"
    kubectl.run("apply", "-f", str(crds))
    kubectl.namespace = namespace  # kubectl.json and k() below work in the test's namespace
    log = (tmp_path / "controller.log").open("wb")
    proc = subprocess.Popen(
        [
            str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"),
            "-m",
            "controller",
            "run",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--namespace",
            namespace,
            "--no-leader-elect",
            "--metrics-port",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def k(kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl in the test's namespace."""
    return kubectl.run("-n", kubectl.namespace, *args)


def rollout_status(kubectl: Kubectl, name: str) -> dict[str, Any]:
    status: dict[str, Any] = kubectl.json("get", "rollout", name).get("status") or {}
    return status


def test_argos_blue_green_example_runs_unchanged(kubectl: Kubectl, tmp_path: Path, controller: Any) -> None:
    manifest = tmp_path / "rollout-bluegreen.yaml"
    manifest.write_text(BLUE_GREEN)
    k(kubectl, "apply", "-f", str(manifest))
    eventually(lambda: rollout_status(kubectl, "rollout-bluegreen").get("phase") == "Healthy", "Healthy")
    k(
        kubectl,
        "patch",
        "rollout",
        "rollout-bluegreen",
        "--type",
        "json",
        "-p",
        json.dumps(
            [
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/image",
                    "value": "argoproj/rollouts-demo:green",
                }
            ]
        ),
    )

    def paused() -> dict[str, Any] | None:
        status = rollout_status(kubectl, "rollout-bluegreen")
        reasons = [c.get("reason") for c in status.get("pauseConditions") or []]
        return status if "BlueGreenPause" in reasons else None

    status = eventually(paused, "BlueGreenPause")
    blue_green = status["blueGreen"]
    assert blue_green["previewSelector"] == status["currentPodHash"] != blue_green["activeSelector"]
    active = kubectl.json("get", "service", "rollout-bluegreen-active")
    assert active["spec"]["selector"]["rollouts-pod-template-hash"] == blue_green["activeSelector"]
    k(
        kubectl,
        "patch",
        "rollout",
        "rollout-bluegreen",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        '{"status":{"pauseConditions":null}}',
    )

    def switched() -> dict[str, Any] | None:
        status = rollout_status(kubectl, "rollout-bluegreen")
        done = (
            status.get("phase") == "Healthy"
            and status["blueGreen"]["activeSelector"] == status["currentPodHash"]
        )
        return status if done else None

    eventually(switched, "the switch to green")


def test_argos_nginx_getting_started_splits_by_weight(
    cluster: Cluster, kubectl: Kubectl, tmp_path: Path, controller: Any
) -> None:
    manifest = tmp_path / "nginx.yaml"
    manifest.write_text(NGINX_GUIDE)
    k(kubectl, "apply", "-f", str(manifest))
    eventually(lambda: rollout_status(kubectl, "rollouts-demo").get("phase") == "Healthy", "Healthy")
    k(
        kubectl,
        "patch",
        "rollout",
        "rollouts-demo",
        "--type",
        "json",
        "-p",
        json.dumps(
            [
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/image",
                    "value": "argoproj/rollouts-demo:yellow",
                }
            ]
        ),
    )
    eventually(lambda: rollout_status(kubectl, "rollouts-demo").get("phase") == "Paused", "Paused")
    canary = kubectl.json("get", "ingress", "rollouts-demo-rollouts-demo-stable-canary")
    annotations = canary["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "5"
    assert annotations["kubernetes.io/ingress.class"] == "nginx"
    backend = canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert backend == "rollouts-demo-canary"
    table = k(kubectl, "get", "ingress").stdout
    assert "rollouts-demo-rollouts-demo-stable-canary" in table and "127.0.0.1" in table
    port = json.loads((cluster.state_dir / "server.json").read_text())["ingressPort"]
    summary = asyncio.run(
        run_load_test(
            f"http://127.0.0.1:{port}/color",
            rps=400,
            duration=5,
            concurrency=16,
            headers={"Host": "rollouts-demo.local"},
        )
    )
    yellow = sum(v.requests for v in summary.versions if v.color == "yellow")
    total = summary.answered
    assert summary.errors == 0 and total >= 1500, summary.to_dict()
    assert abs(yellow - 0.05 * total) <= 4 * math.sqrt(total * 0.05 * 0.95), (yellow, total)
