"""The install manifests on a fresh localcluster: CRDs + deploy/install.yaml applied with the real kubectl.

localcluster's kubelet runs the ``rollouts-controller`` image as ``python -m controller`` (a real
subprocess), so the Deployment in deploy/install.yaml runs the controller as a pod: it becomes
Ready through its /healthz probes, takes the Lease, serves /metrics through its Service and
reconciles a canary Rollout in another namespace. Deleting the install stops the process.

Each test has a server of its own: a controller pod watches every namespace, so it must not
meet the other tests' Rollouts.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.conftest import Cluster, Kubectl

pytestmark = pytest.mark.slow

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "install.yaml"
CRDS = REPO / "controller" / "api" / "crds"
NS = "rollouts"

ROLLOUT = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec:
  selector: {app: shop}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: shop
          image: argoproj/rollouts-demo:blue
          ports: [{name: http, containerPort: 8080}]
  strategy:
    canary:
      stableService: shop
      steps: [{setWeight: 50}, {pause: {duration: 1s}}]
"""


def eventually(check: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``check`` every 0.1 s until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def controller_pids(cluster: Cluster) -> dict[int, list[str]]:
    """The processes the kubelet runs for pods of the ``rollouts`` namespace: pid -> argv."""
    found = {}
    for path in (cluster.state_dir / "kubelet" / "pids").glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if str(record.get("pod", "")).startswith(f"{NS}/"):
            found[int(record["pid"])] = list(record.get("argv") or [])
    return found


def alive(pid: int, argv: list[str]) -> bool:
    """Whether ``pid`` is still the process that ran ``argv`` (a reused pid is not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and [p.decode() for p in cmdline.split(b"\0")[:-1]] == argv


def rollout_status(kubectl: Kubectl) -> dict[str, Any]:
    status: dict[str, Any] = kubectl.json("get", "rollout", "shop").get("status") or {}
    return status


def healthy_on_new_hash(kubectl: Kubectl, not_hash: str = "") -> dict[str, Any] | None:
    status = rollout_status(kubectl)
    ok = (
        status.get("phase") == "Healthy"
        and status.get("stableRS") == status.get("currentPodHash") != not_hash
        and status.get("availableReplicas") == 2
    )
    return status if ok else None


def test_install_runs_the_controller_as_a_pod_that_reconciles_and_uninstalls(
    fresh_cluster: Cluster, tmp_path: Path
) -> None:
    kubectl = Kubectl(fresh_cluster, tmp_path / "kube-cache")
    kubectl.run("apply", "-f", str(CRDS))
    kubectl.run("wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "--timeout=20s")
    applied = kubectl.run("apply", "-f", str(INSTALL)).stdout
    for obj in (
        "namespace/rollouts",
        "serviceaccount/rollouts-controller",
        "clusterrole.rbac.authorization.k8s.io/rollouts-controller",
        "clusterrolebinding.rbac.authorization.k8s.io/rollouts-controller",
        "deployment.apps/rollouts-controller",
        "service/rollouts-controller-metrics",
    ):
        assert f"{obj} created" in applied, applied

    # the controller runs as a pod, Ready through its /healthz probe, as `python -m controller run`
    kubectl.run(
        "-n", NS, "wait", "--for=condition=Available", "deployment/rollouts-controller", "--timeout=60s"
    )
    kubectl.namespace = NS
    pods = kubectl.json("get", "pods", "-l", "app.kubernetes.io/name=rollouts-controller")["items"]
    assert len(pods) == 1
    pod = pods[0]
    assert pod["spec"]["serviceAccountName"] == "rollouts-controller"
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"
    pids = eventually(lambda: controller_pids(fresh_cluster), "the controller's process")
    assert len(pids) == 1
    [(pid, argv)] = pids.items()
    assert argv[1:5] == ["-m", "controller", "run", "--leader-elect"], argv
    assert f"--metrics-address={pod['status']['podIP']}" in argv
    assert alive(pid, argv)

    # it holds the Lease in its own namespace
    def lease_holder() -> str:
        lease = kubectl.json("get", "lease", "rollouts-controller")
        return str(lease["spec"].get("holderIdentity") or "")

    holder = eventually(lease_holder, "the controller to hold the Lease")

    def leading_log() -> str | None:
        out = kubectl.run("-n", NS, "logs", pod["metadata"]["name"]).stdout
        return out if "action=leading" in out else None

    assert f"identity={holder}" in eventually(leading_log, "the controller to log that it leads")

    # it reconciles a canary Rollout in another namespace: created, then updated through its steps
    kubectl.namespace = "shop"
    kubectl.run("apply", "-f", "-", input=ROLLOUT)
    blue = eventually(lambda: healthy_on_new_hash(kubectl), "the Rollout to be Healthy")
    image = '{"spec":{"template":{"spec":{"containers":[{"name":"shop","image":"argoproj/rollouts-demo:green"}]}}}}'
    kubectl.run("-n", "shop", "patch", "rollout", "shop", "--type=merge", "-p", image)
    green = eventually(
        lambda: healthy_on_new_hash(kubectl, not_hash=blue["stableRS"]), "the update to be promoted"
    )
    assert green["currentStepIndex"] == 2
    events = kubectl.json("get", "events", "--field-selector", "involvedObject.kind=Rollout")["items"]
    reasons = {e["reason"] for e in events if e.get("source", {}).get("component") == "rollouts-controller"}
    assert {"RolloutStepCompleted", "RolloutCompleted"} <= reasons, reasons
    selector = kubectl.json("get", "service", "shop")["spec"]["selector"]
    assert selector["rollouts-pod-template-hash"] == green["stableRS"]

    # its /metrics answer through the metrics Service (as Prometheus would scrape them)
    cluster_ip = kubectl.run(
        "-n", NS, "get", "service", "rollouts-controller-metrics", "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    with urllib.request.urlopen(f"http://{cluster_ip}:8090/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    assert 'rollout_info{name="shop",namespace="shop"' in metrics

    # uninstalling stops the controller's process
    kubectl.run("delete", "-f", str(INSTALL), "--ignore-not-found", "--wait=true", "--timeout=60s")
    eventually(lambda: not alive(pid, argv), "the controller process to stop", timeout=30)
    assert kubectl.run("get", "namespace", NS, check=False).returncode != 0


def test_cluster_role_grants_every_request_the_controller_makes() -> None:
    """A missing verb shows up only on a real cluster (localcluster does not enforce RBAC), as a 403."""
    docs = [d for d in yaml.safe_load_all(INSTALL.read_text()) if d]
    [role] = [d for d in docs if d["kind"] == "ClusterRole"]
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    # what controller/runtime, controller/kube and the analysis providers call today: the
    # informers' list+watch, the reconcilers' writes, the leader elector, the namespace check
    reads = {"list", "watch"}
    needed = {
        *(("argoproj.io", "rollouts", v) for v in (*reads, "patch")),
        ("argoproj.io", "rollouts/status", "patch"),
        *(("argoproj.io", "analysisruns", v) for v in (*reads, "get", "create", "patch", "delete")),
        *(("apps", "replicasets", v) for v in (*reads, "get", "create", "patch", "delete")),
        *(("apps", "deployments", v) for v in (*reads, "patch")),
        *(("", "services", v) for v in (*reads, "patch")),
        *(("", "pods", v) for v in ("list", "delete")),
        *(("batch", "jobs", v) for v in (*reads, "get", "create", "delete")),
        ("", "secrets", "get"),
        *(("", "events", v) for v in ("create", "patch")),
        *(("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")),
        ("", "namespaces", "get"),
    }
    assert needed <= granted, sorted(needed - granted)
    [binding] = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NS}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
