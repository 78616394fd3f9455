"""`ansible-playbook site.yml` from nothing, as `just install` runs it, then again, in check mode, and uninstalled.

One test, because each step starts from what the one before left (pytest-xdist may send tests
of one module to different workers). The localcluster role starts the cluster itself, in
the test's own state directory on a free port; the test stops it by its PID at the end.

The host is checked with pytest-testinfra after the install: the controller runs as a real
process, listens on its pod's address and answers /healthz and /metrics, and the kubeconfig
files it and Ansible use are readable by their owner only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import testinfra

from tests.ansible.runner import ansible_env, kubectl, kubectl_json, playbook

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

CRDS = {
    "rollouts.argoproj.io",
    "analysisruns.argoproj.io",
    "analysistemplates.argoproj.io",
    "clusteranalysistemplates.argoproj.io",
}
CONTROLLER = "app.kubernetes.io/name=rollouts-controller"


class Cluster:
    """kubectl against the cluster the playbooks started in ``state``."""

    def __init__(self, state: Path, cache: Path) -> None:
        self.state = state
        self.kubeconfig = state / "kubeconfig"
        self.cache = cache

    def json(self, *args: str) -> Any:
        return kubectl_json(self.kubeconfig, self.cache, *args)

    def exists(self, *args: str) -> bool:
        return kubectl(self.kubeconfig, self.cache, "get", *args, check=False).returncode == 0

    def server_pid(self) -> int:
        return int(json.loads((self.state / "server.json").read_text())["pid"])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_cluster(state: Path) -> None:
    """`localcluster down`: it stops the server by the PID in server.json, after checking it is that server."""
    subprocess.run(
        [sys.executable, "-m", "localcluster", "down", "--state-dir", str(state)],
        capture_output=True,
        timeout=60,
        check=False,
    )


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}


def test_site_yml_installs_from_nothing_idempotently_and_check_mode_changes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = ansible_env(state, tmp_path)
    cluster = Cluster(state, tmp_path / "kube-cache")
    try:
        # 1. check mode with no cluster: each play says localcluster would start; nothing starts
        run = playbook(env, "site.yml", "--check")
        assert run.changed_tasks() == ["localcluster : Say that localcluster would be started"] * 3, (
            run.output
        )
        assert not (state / "server.json").exists()

        # 2. the localcluster role starts it (on a free port, in the state directory given)
        run = playbook(env, "playbooks/install.yml", "--tags", "localcluster")
        assert run.changed_tasks() == ["localcluster : Start localcluster"], run.output
        assert alive(cluster.server_pid())
        namespaces = {n["metadata"]["name"] for n in cluster.json("get", "namespaces")["items"]}

        # 3. check mode on the empty cluster: it tells what it would create, and creates nothing
        run = playbook(env, "site.yml", "--check", "--diff")
        changed = run.changed_tasks()
        assert "rollouts_controller : Install the Rollout CRDs and wait until they are established" in changed
        assert (
            "rollouts_controller : Create the namespace, the ClusterRole and its binding (ClusterRole rollouts-controller)"
            in changed
        )
        assert "would create in the new namespace rollouts: ServiceAccount rollouts-controller" in run.output
        assert "would create in the new namespace services: Deployment tracing-demo-frontend" in run.output
        assert {n["metadata"]["name"] for n in cluster.json("get", "namespaces")["items"]} == namespaces
        assert cluster.json("get", "crds")["items"] == []
        assert not cluster.exists("clusterrole", "rollouts-controller")

        # 4. the real run: everything, from nothing
        first = playbook(env, "site.yml")
        changed = first.changed_tasks()
        for expected in (
            "rollouts_controller : Install the Rollout CRDs and wait until they are established",
            "rollouts_controller : Create the ServiceAccount, ConfigMap, Deployment and metrics Service,"
            " and wait until the controller is available (Deployment rollouts-controller)",
            "demo_app : Create the Deployments and Services (Deployment tracing-demo-frontend)",
            "rollouts_migrate : Create the Rollouts (an existing one gets only its steps updated)"
            " (Rollout tracing-demo-frontend)",
            "rollouts_migrate : Scale the Deployments down, now that their Rollouts are Healthy"
            " (Deployment tracing-demo-frontend to 0)",
        ):
            assert expected in changed, first.output
        crds = {c["metadata"]["name"]: conditions(c) for c in cluster.json("get", "crds")["items"]}
        assert set(crds) == CRDS
        assert all(c.get("Established") == "True" for c in crds.values()), crds
        deployment = cluster.json("-n", "rollouts", "get", "deployment", "rollouts-controller")
        assert conditions(deployment)["Available"] == "True"
        assert deployment["status"]["availableReplicas"] == 1
        rollout = cluster.json("-n", "services", "get", "rollout", "tracing-demo-frontend")
        assert rollout["status"]["phase"] == "Healthy"
        assert rollout["status"]["availableReplicas"] == 2
        assert rollout["spec"]["strategy"]["canary"]["steps"] == [
            {"setWeight": 50},
            {"pause": {"duration": "2m"}},
            {"setWeight": 100},
        ]
        frontend = cluster.json("-n", "services", "get", "deployment", "tracing-demo-frontend")
        assert frontend["spec"]["replicas"] == 0
        assert rollout["spec"]["template"] == frontend["spec"]["template"]
        # what `just rollout-status` shows
        status = subprocess.run(
            [
                str(Path(sys.executable).parent / "rollouts"),
                "status",
                "tracing-demo-frontend",
                "-n",
                "services",
                "--watch=false",
                "--kubeconfig",
                str(cluster.kubeconfig),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (status.returncode, status.stdout.strip()) == (0, "Healthy"), status.stderr

        controller_process = check_host(cluster)

        # 5. a second run changes nothing
        second = playbook(env, "site.yml")
        assert second.changed == 0, second.changed_tasks()

        # 6. check mode with new settings: the diff shows them, the cluster keeps the old ones
        config_before = cluster.json("-n", "rollouts", "get", "configmap", "rollouts-controller-config")
        deployment_before = cluster.json("-n", "rollouts", "get", "deployment", "rollouts-controller")
        run = playbook(
            env,
            "site.yml",
            "--check",
            "--diff",
            "-e",
            "rollouts_controller_log_level=debug",
            "-e",
            "rollouts_controller_replicas=2",
        )
        assert sorted(run.changed_tasks()) == [
            "rollouts_controller : Create the ServiceAccount, ConfigMap, Deployment and metrics Service,"
            " and wait until the controller is available (ConfigMap rollouts-controller-config)",
            "rollouts_controller : Create the ServiceAccount, ConfigMap, Deployment and metrics Service,"
            " and wait until the controller is available (Deployment rollouts-controller)",
        ], run.output
        assert "-        LOG_LEVEL: info\n+        LOG_LEVEL: debug" in run.output
        assert "-        replicas: 1\n+        replicas: 2" in run.output
        config_after = cluster.json("-n", "rollouts", "get", "configmap", "rollouts-controller-config")
        deployment_after = cluster.json("-n", "rollouts", "get", "deployment", "rollouts-controller")
        assert config_after["metadata"]["resourceVersion"] == config_before["metadata"]["resourceVersion"]
        assert config_after["data"]["LOG_LEVEL"] == "info"
        assert deployment_after["metadata"]["generation"] == deployment_before["metadata"]["generation"]
        assert deployment_after["spec"]["replicas"] == 1

        # 7. uninstall: the controller goes, the CRDs and the migrated Rollout (and its pods) stay
        run = playbook(env, "site.yml", "--tags", "uninstall")
        assert run.changed >= 1
        assert not cluster.exists("namespace", "rollouts")
        assert not cluster.exists("clusterrole", "rollouts-controller")
        # localcluster removes a pod from the API at once and stops its process afterwards, within
        # the pod's grace period (Kubernetes keeps the pod Terminating until then)
        deadline = time.monotonic() + 30
        while alive(controller_process):
            assert time.monotonic() < deadline, "the controller process did not stop within 30 s"
            time.sleep(0.1)
        assert {c["metadata"]["name"] for c in cluster.json("get", "crds")["items"]} == CRDS
        rollout = cluster.json("-n", "services", "get", "rollout", "tracing-demo-frontend")
        assert rollout["status"]["availableReplicas"] == 2
        pods = cluster.json("-n", "services", "get", "pods", "-l", "app=frontend")["items"]
        assert len([p for p in pods if conditions(p).get("Ready") == "True"]) == 2

        # 8. asked explicitly, it removes the CRDs, and every Rollout with its ReplicaSets and pods
        playbook(env, "playbooks/uninstall.yml", "-e", "rollouts_controller_remove_crds=true")
        assert cluster.json("get", "crds")["items"] == []
        replica_sets = cluster.json("-n", "services", "get", "replicasets", "-l", "app=frontend")["items"]
        assert [rs["metadata"]["ownerReferences"][0]["kind"] for rs in replica_sets] == ["Deployment"]
        assert cluster.json("-n", "services", "get", "pods", "-l", "app=frontend")["items"] == []
    finally:
        stop_cluster(state)


def check_host(cluster: Cluster) -> int:
    """The host after the install, through pytest-testinfra; returns the controller's PID."""
    host = testinfra.get_host("local://")
    [pod] = cluster.json("-n", "rollouts", "get", "pods", "-l", CONTROLLER)["items"]
    pod_ip = pod["status"]["podIP"]

    # the controller runs as a real process, the one the kubelet recorded for its pod
    recorded = [json.loads(p.read_text()) for p in (cluster.state / "kubelet" / "pids").glob("*.json")]
    [record] = [r for r in recorded if str(r.get("pod", "")).startswith("rollouts/")]
    process = host.process.get(pid=int(record["pid"]))
    assert " -m controller run --leader-elect" in process.args
    assert f"--metrics-address={pod_ip}" in process.args
    assert process.user == host.user().name

    # it leads, under its pod's name
    lease = cluster.json("-n", "rollouts", "get", "lease", "rollouts-controller")
    assert lease["spec"]["holderIdentity"].startswith(pod["metadata"]["name"])

    # /metrics and /healthz on the pod's own address, and through the metrics Service
    assert host.socket(f"tcp://{pod_ip}:8090").is_listening
    with urllib.request.urlopen(f"http://{pod_ip}:8090/healthz", timeout=10) as resp:
        assert resp.status == 200
    service = cluster.json("-n", "rollouts", "get", "service", "rollouts-controller-metrics")
    with urllib.request.urlopen(f"http://{service['spec']['clusterIP']}:8090/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    assert 'rollout_info{name="tracing-demo-frontend",namespace="services"' in metrics

    # the kubeconfigs hold a bearer token: readable by their owner only
    for path in (cluster.kubeconfig, Path(environ(host, process.pid)["KUBECONFIG"])):
        kubeconfig = host.file(str(path))
        assert kubeconfig.is_file
        assert kubeconfig.mode == 0o600, f"{path} has mode {oct(kubeconfig.mode)}"
        assert kubeconfig.user == host.user().name
    return int(process.pid)


def environ(host: Any, pid: int) -> dict[str, str]:
    raw = host.file(f"/proc/{pid}/environ").content
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
