"""Deployments and ReplicaSets on a running localcluster, driven by the real kubectl.

These tests rely on the kubelet running the pods (they become Running and Ready by
themselves); where a test needs pods that never become ready it gives them a failing
readiness probe or a node selector no node matches.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.conftest import Cluster, Kubectl

T = TypeVar("T")
BLUE = "argoproj/rollouts-demo:blue"
GREEN = "argoproj/rollouts-demo:green"
YELLOW = "argoproj/rollouts-demo:yellow"


def deployment(
    name: str = "web",
    *,
    replicas: int = 2,
    image: str = BLUE,
    strategy: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy or {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]},
            },
            **spec,
        },
    }


def apply(kubectl: Kubectl, namespace: str, manifest: dict[str, Any]) -> None:
    kubectl.run("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(manifest))


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def get(cluster: Cluster, path: str) -> Any:
    status, body, _ = cluster.request("GET", path)
    assert status == 200, body
    return body


def pods(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return list(get(cluster, f"/api/v1/namespaces/{namespace}/pods")["items"])


def replica_sets(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return list(get(cluster, f"/apis/apps/v1/namespaces/{namespace}/replicasets")["items"])


def the_deployment(cluster: Cluster, namespace: str, name: str = "web") -> dict[str, Any]:
    return dict(get(cluster, f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"))


def ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def rolled_out(cluster: Cluster, namespace: str, name: str = "web") -> dict[str, Any] | None:
    """The Deployment once its rollout is complete, by kubectl's (and Ansible's) rules."""
    d = the_deployment(cluster, namespace, name)
    status, want = d.get("status") or {}, d["spec"]["replicas"]
    done = (
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and not status.get("unavailableReplicas")
    )
    return d if done else None


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions", []) if c["type"] == kind)


@dataclass
class PodWatch:
    """Watches a namespace's pods in a thread; records the pods that exist after every event."""

    cluster: Cluster
    namespace: str
    snapshots: list[list[dict[str, Any]]] = field(default_factory=list)
    _pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    _conn: http.client.HTTPSConnection | None = None
    _thread: threading.Thread | None = None
    _synced: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> PodWatch:
        url = urllib.parse.urlsplit(self.cluster.url)
        conn = http.client.HTTPSConnection(
            url.hostname or "", url.port, context=self.cluster.ssl_context(), timeout=120
        )
        rv = get(self.cluster, f"/api/v1/namespaces/{self.namespace}/pods")["metadata"]["resourceVersion"]
        for pod in pods(self.cluster, self.namespace):
            self._pods[pod["metadata"]["name"]] = pod
        self.snapshots.append(list(self._pods.values()))
        conn.request(
            "GET",
            f"/api/v1/namespaces/{self.namespace}/pods?watch=true&resourceVersion={rv}&timeoutSeconds=110",
            headers={"Authorization": f"Bearer {self.cluster.token}"},
        )
        self._conn = conn
        self._thread = threading.Thread(target=self._run, args=(conn.getresponse(),), daemon=True)
        self._thread.start()
        return self

    def _run(self, resp: http.client.HTTPResponse) -> None:
        try:
            while line := resp.readline():
                event = json.loads(line)
                pod = event["object"]
                if event["type"] == "DELETED":
                    self._pods.pop(pod["metadata"]["name"], None)
                else:
                    self._pods[pod["metadata"]["name"]] = pod
                self.snapshots.append(list(self._pods.values()))
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # the watch was shut down (AttributeError: the connection closed mid-read)

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)  # let the last events arrive
        if self._conn is not None and self._conn.sock is not None:
            self._conn.sock.shutdown(socket.SHUT_RDWR)
            self._conn.close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def template_hash(pod: dict[str, Any]) -> str:
    return str(pod["metadata"]["labels"]["pod-template-hash"])


# -- a Deployment's ReplicaSet and pods ---------------------------------------------------------


def test_deployment_creates_one_replica_set_and_its_pods(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, deployment(replicas=2))
    items = wait_for("two pods", lambda: (p := pods(cluster, namespace)) and len(p) == 2 and p)
    (rs,) = replica_sets(cluster, namespace)
    d = the_deployment(cluster, namespace)
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": d["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    annotations = rs["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "1"
    assert annotations["deployment.kubernetes.io/desired-replicas"] == "2"
    assert annotations["deployment.kubernetes.io/max-replicas"] == "3"  # 25% surge of 2 rounds up
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    for pod in items:
        assert re.fullmatch(rf"web-{pod_hash}-[a-z0-9]{{5}}", pod["metadata"]["name"])
        assert pod["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
        (ref,) = pod["metadata"]["ownerReferences"]
        assert ref == {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": rs["metadata"]["name"],
            "uid": rs["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }


def test_rollout_completes_and_kubectl_sees_it(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    apply(kubectl, namespace, deployment(replicas=2))
    result = kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in result.stdout
    d = wait_for("a complete rollout", lambda: rolled_out(cluster, namespace))
    assert d["status"]["readyReplicas"] == 2
    assert "unavailableReplicas" not in d["status"]  # what Ansible's wait looks at
    available, progressing = condition(d, "Available"), condition(d, "Progressing")
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    (rs,) = replica_sets(cluster, namespace)
    assert progressing["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'
    assert rs["status"] == {
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "observedGeneration": 1,
    }
    events = kubectl.json("--namespace", namespace, "get", "events")["items"]
    messages = {(e["source"]["component"], e["reason"], e["message"]) for e in events}
    assert (
        "deployment-controller",
        "ScalingReplicaSet",
        f"Scaled up replica set {rs['metadata']['name']} to 2",
    ) in messages
    created = {m for c, r, m in messages if (c, r) == ("replicaset-controller", "SuccessfulCreate")}
    assert {f"Created pod: {p['metadata']['name']}" for p in pods(cluster, namespace)} <= created
    described = kubectl.run("-n", namespace, "describe", "deployment", "web").stdout
    assert re.search(rf"NewReplicaSet:\s+{rs['metadata']['name']} \(2/2 replicas created\)", described), (
        described
    )
    assert "Scaled up replica set" in described


# -- rolling updates ----------------------------------------------------------------------------


def test_image_change_rolls_out_within_max_surge(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    rolling = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    apply(kubectl, namespace, deployment(replicas=4, strategy=rolling))
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    (old_rs,) = replica_sets(cluster, namespace)
    with PodWatch(cluster, namespace) as watch:
        kubectl.run("-n", namespace, "set", "image", "deployment/web", f"web={GREEN}")
        kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=90s")
    live = [[p for p in snap if not p["metadata"].get("deletionTimestamp")] for snap in watch.snapshots]
    assert max(len(s) for s in live) <= 5, "more than replicas + maxSurge pods"
    assert min(sum(1 for p in s if ready(p)) for s in live) >= 4, "fewer than replicas - maxUnavailable ready"
    assert len({template_hash(p) for s in live for p in s}) == 2
    final = pods(cluster, namespace)
    new_rs = next(
        rs for rs in replica_sets(cluster, namespace) if rs["metadata"]["uid"] != old_rs["metadata"]["uid"]
    )
    assert {template_hash(p) for p in final} == {new_rs["metadata"]["labels"]["pod-template-hash"]}
    assert len(final) == 4
    assert new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    old_now = get(cluster, f"/apis/apps/v1/namespaces/{namespace}/replicasets/{old_rs['metadata']['name']}")
    assert old_now["spec"]["replicas"] == 0
    d = the_deployment(cluster, namespace)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert d["status"]["updatedReplicas"] == 4
    events = kubectl.json(
        "--namespace", namespace, "get", "events", "--field-selector", "reason=ScalingReplicaSet"
    )
    messages = [e["message"] for e in events["items"]]
    assert f"Scaled down replica set {old_rs['metadata']['name']} to 0 from 1" in messages


def test_rollout_undo_restores_the_previous_template_as_a_new_revision(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, deployment(replicas=2))
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    (blue_rs,) = replica_sets(cluster, namespace)
    kubectl.run("-n", namespace, "set", "image", "deployment/web", f"web={GREEN}")
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    result = kubectl.run("-n", namespace, "rollout", "undo", "deployment/web")
    assert "rolled back" in result.stdout
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    d = wait_for("the undo to finish", lambda: rolled_out(cluster, namespace))
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == BLUE
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    rss = {rs["metadata"]["name"]: rs for rs in replica_sets(cluster, namespace)}
    assert len(rss) == 2  # the blue ReplicaSet was reused, not recreated
    blue = rss[blue_rs["metadata"]["name"]]
    assert blue["metadata"]["uid"] == blue_rs["metadata"]["uid"]
    assert blue["spec"]["replicas"] == 2
    assert blue["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert blue["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    history = kubectl.run("-n", namespace, "rollout", "history", "deployment/web").stdout
    assert re.findall(r"^(\d+)\s", history, re.MULTILINE) == ["2", "3"]
    assert {template_hash(p) for p in pods(cluster, namespace)} == {
        blue["metadata"]["labels"]["pod-template-hash"]
    }


def test_rollout_restart_replaces_every_pod(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    apply(kubectl, namespace, deployment(replicas=2))
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    before = {p["metadata"]["name"] for p in pods(cluster, namespace)}
    kubectl.run("-n", namespace, "rollout", "restart", "deployment/web")
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    after = wait_for("two new pods", lambda: (p := pods(cluster, namespace)) and len(p) == 2 and p)
    assert not before & {p["metadata"]["name"] for p in after}
    assert all("kubectl.kubernetes.io/restartedAt" in p["metadata"]["annotations"] for p in after)


def test_recreate_never_runs_old_and_new_pods_together(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, deployment(replicas=3, strategy={"type": "Recreate"}))
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    with PodWatch(cluster, namespace) as watch:
        kubectl.run("-n", namespace, "set", "image", "deployment/web", f"web={GREEN}")
        kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    mixed = [s for s in watch.snapshots if len({template_hash(p) for p in s}) > 1]
    assert not mixed, "old and new pods existed at the same time"
    assert any(not s for s in watch.snapshots), "the old pods were never all gone"
    final = pods(cluster, namespace)
    assert len(final) == 3
    assert {p["spec"]["containers"][0]["image"] for p in final} == {GREEN}


def test_paused_deployment_does_not_roll_out_until_resumed(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, deployment(replicas=2))
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    kubectl.run("-n", namespace, "rollout", "pause", "deployment/web")
    kubectl.run("-n", namespace, "set", "image", "deployment/web", f"web={GREEN}")

    def paused() -> dict[str, Any] | None:
        d = the_deployment(cluster, namespace)
        seen = d["status"].get("observedGeneration") == d["metadata"]["generation"]
        return d if seen and condition(d, "Progressing")["reason"] == "DeploymentPaused" else None

    d = wait_for("the pause to be observed", paused)
    assert (condition(d, "Progressing")["status"], condition(d, "Progressing")["message"]) == (
        "Unknown",
        "Deployment is paused",
    )
    time.sleep(0.5)
    assert len(replica_sets(cluster, namespace)) == 1
    assert {p["spec"]["containers"][0]["image"] for p in pods(cluster, namespace)} == {BLUE}
    kubectl.run("-n", namespace, "rollout", "resume", "deployment/web")
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    assert len(replica_sets(cluster, namespace)) == 2
    final = wait_for("green pods only", lambda: (p := pods(cluster, namespace)) and len(p) == 2 and p)
    assert {p["spec"]["containers"][0]["image"] for p in final} == {GREEN}


def test_progress_deadline_exceeded_when_pods_never_become_ready(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    manifest = deployment(replicas=1, progressDeadlineSeconds=2)
    manifest["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
        "httpGet": {"path": "/never-ready", "port": 8080},
        "periodSeconds": 1,
    }
    apply(kubectl, namespace, manifest)

    def timed_out() -> dict[str, Any] | None:
        d = the_deployment(cluster, namespace)
        conds = (d.get("status") or {}).get("conditions") or []
        return d if any(c["reason"] == "ProgressDeadlineExceeded" for c in conds) else None

    d = wait_for("the progress deadline", timed_out, timeout=30)
    progressing = condition(d, "Progressing")
    assert progressing["status"] == "False"
    assert condition(d, "Available")["status"] == "False"
    assert d["status"]["unavailableReplicas"] == 1
    result = kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=20s", check=False)
    assert result.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in result.stderr


def test_revision_history_limit_prunes_old_replica_sets(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, deployment(replicas=1, revisionHistoryLimit=1))
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    for image in (GREEN, YELLOW):
        kubectl.run("-n", namespace, "set", "image", "deployment/web", f"web={image}")
        kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")

    def pruned() -> list[dict[str, Any]] | None:
        rss = replica_sets(cluster, namespace)
        return rss if len(rss) == 2 else None

    rss = wait_for("the oldest ReplicaSet to be pruned", pruned)
    revisions = sorted(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for rs in rss)
    assert revisions == ["2", "3"]


@pytest.mark.ansible
@pytest.mark.slow
def test_ansible_wait_true_returns_once_the_rollout_is_done(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    tasks = [
        {
            "name": f"Deploy {image} and wait",
            "kubernetes.core.k8s": {
                "state": "present",
                "wait": True,
                "wait_timeout": 90,
                "definition": {
                    **deployment(replicas=3, image=image),
                    "metadata": {"name": "web", "namespace": namespace},
                },
            },
            "register": f"result_{i}",
        }
        for i, image in enumerate((BLUE, GREEN))
    ]
    # What the module returned after its wait: the status it saw.
    counts = "/".join(
        f"{{{{ result_1.result.status.{k} }}}}" for k in ("replicas", "updatedReplicas", "availableReplicas")
    )
    tasks.append({"name": "Show", "ansible.builtin.debug": {"msg": f"COUNTS={counts}"}})
    playbook = tmp_path / "wait.yml"
    playbook.write_text(
        yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}])
    )
    env = dict(
        os.environ,
        K8S_AUTH_KUBECONFIG=str(cluster.kubeconfig),
        TMPDIR=str(tmp_path),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(playbook)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "COUNTS=3/3/3" in proc.stdout, proc.stdout
    assert {p["spec"]["containers"][0]["image"] for p in pods(cluster, namespace)} == {GREEN}


# -- scaling ------------------------------------------------------------------------------------


def test_kubectl_scale(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    apply(kubectl, namespace, deployment(replicas=1))
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    for replicas in (4, 1):
        kubectl.run("-n", namespace, "scale", "deployment/web", f"--replicas={replicas}")
        d = wait_for(
            f"{replicas} replicas",
            lambda n=replicas: (d := rolled_out(cluster, namespace)) and d["status"]["replicas"] == n and d,
        )
        assert len(pods(cluster, namespace)) == replicas
        (rs,) = replica_sets(cluster, namespace)
        assert rs["spec"]["replicas"] == replicas
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == str(replicas)
        assert d["status"]["availableReplicas"] == replicas
    events = kubectl.json(
        "--namespace", namespace, "get", "events", "--field-selector", "reason=ScalingReplicaSet"
    )
    messages = [e["message"] for e in events["items"]]
    assert f"Scaled up replica set {rs['metadata']['name']} to 4 from 1" in messages
    assert f"Scaled down replica set {rs['metadata']['name']} to 1 from 4" in messages


def test_scaling_mid_rollout_shares_replicas_proportionally(
    cluster: Cluster, kubectl: Kubectl, namespace: str
) -> None:
    rolling = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    apply(kubectl, namespace, deployment(replicas=4, strategy=rolling))
    kubectl.run("-n", namespace, "rollout", "status", "deployment/web", "--timeout=60s")
    (old,) = replica_sets(cluster, namespace)
    # A new template whose pods never become ready: the rollout stops at old 4 + new 1.
    probe = {"httpGet": {"path": "/never-ready", "port": 8080}, "periodSeconds": 1}
    patch = [{"op": "add", "path": "/spec/template/spec/containers/0/readinessProbe", "value": probe}]
    kubectl.run("-n", namespace, "patch", "deployment/web", "--type=json", f"-p={json.dumps(patch)}")

    def sizes() -> dict[str, int]:
        return {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in replica_sets(cluster, namespace)}

    stuck = wait_for(
        "the rollout to be stuck", lambda: (s := sizes()) and len(s) == 2 and sum(s.values()) == 5 and s
    )
    new_name = next(name for name in stuck if name != old["metadata"]["name"])
    assert stuck == {old["metadata"]["name"]: 4, new_name: 1}
    kubectl.run("-n", namespace, "scale", "deployment/web", "--replicas=9")
    # 9 + 1 surge = 10 replicas: 5 more, shared 4 : 1 like the ReplicaSets' sizes.
    scaled = wait_for("proportional scaling", lambda: (s := sizes()) and sum(s.values()) == 10 and s)
    assert scaled == {old["metadata"]["name"]: 8, new_name: 2}
    wait_for("the eight old pods ready", lambda: sum(1 for p in pods(cluster, namespace) if ready(p)) == 8)
    assert len(pods(cluster, namespace)) == 10


@pytest.mark.parametrize("cascade", ["background", "foreground"])
def test_deleting_the_deployment_removes_its_replica_sets_and_pods(
    cluster: Cluster, kubectl: Kubectl, namespace: str, cascade: str
) -> None:
    apply(kubectl, namespace, deployment(replicas=2))
    wait_for("two pods", lambda: len(pods(cluster, namespace)) == 2)
    kubectl.run("-n", namespace, "delete", "deployment", "web", f"--cascade={cascade}")
    assert cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/web")[0] == 404
    wait_for("the ReplicaSet to go", lambda: not replica_sets(cluster, namespace))
    wait_for("the pods to go", lambda: not pods(cluster, namespace))


# -- ReplicaSets on their own -------------------------------------------------------------------


def replica_set(replicas: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "front"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "front"}},
            "template": {
                "metadata": {"labels": {"app": "front"}},
                "spec": {"containers": [{"name": "web", "image": BLUE}]},
            },
            **spec,
        },
    }


def orphan(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "front"}},
        "spec": {"containers": [{"name": "web", "image": BLUE}], **spec},
    }


def owner_of(pod: dict[str, Any]) -> str | None:
    refs = [r for r in pod["metadata"].get("ownerReferences", []) if r.get("controller")]
    return str(refs[0]["name"]) if refs else None


def test_replica_set_replaces_deleted_pods_and_adopts_orphans(cluster: Cluster, namespace: str) -> None:
    status, body, _ = cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods", orphan("stray"))
    assert status == 201, body
    status, body, _ = cluster.request(
        "POST", f"/apis/apps/v1/namespaces/{namespace}/replicasets", replica_set(2)
    )
    assert status == 201, body
    items = wait_for("two pods", lambda: (p := pods(cluster, namespace)) and len(p) == 2 and p)
    assert {owner_of(p) for p in items} == {"front"}
    assert "stray" in {p["metadata"]["name"] for p in items}  # adopted: only one pod was created
    victim = next(p["metadata"]["name"] for p in items if p["metadata"]["name"] != "stray")
    cluster.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{victim}")
    replaced = wait_for(
        "a replacement",
        lambda: (p := pods(cluster, namespace)) and len(p) == 2 and victim not in str(p) and p,
    )
    assert all(owner_of(p) == "front" for p in replaced)


def test_scale_down_deletes_pending_pods_before_running_ones(cluster: Cluster, namespace: str) -> None:
    cluster.request("POST", f"/apis/apps/v1/namespaces/{namespace}/replicasets", replica_set(2))
    running = wait_for(
        "two ready pods", lambda: (p := pods(cluster, namespace)) and len(p) == 2 and all(map(ready, p)) and p
    )
    # Two more matching pods that no node accepts: the ReplicaSet adopts them, then has too many.
    for name in ("unschedulable-1", "unschedulable-2"):
        status, body, _ = cluster.request(
            "POST", f"/api/v1/namespaces/{namespace}/pods", orphan(name, nodeSelector={"disk": "none"})
        )
        assert status == 201, body
    wait_for(
        "the extra pods to be deleted",
        lambda: len(pods(cluster, namespace)) == 2 and "unschedulable" not in str(pods(cluster, namespace)),
    )
    assert {p["metadata"]["name"] for p in pods(cluster, namespace)} == {
        p["metadata"]["name"] for p in running
    }
    events = get(cluster, f"/api/v1/namespaces/{namespace}/events")["items"]
    deleted = {e["message"] for e in events if e["reason"] == "SuccessfulDelete"}
    assert deleted == {"Deleted pod: unschedulable-1", "Deleted pod: unschedulable-2"}


def test_min_ready_seconds_delays_availability(cluster: Cluster, namespace: str) -> None:
    cluster.request(
        "POST", f"/apis/apps/v1/namespaces/{namespace}/replicasets", replica_set(2, minReadySeconds=3)
    )

    def status() -> dict[str, Any]:
        return dict(
            get(cluster, f"/apis/apps/v1/namespaces/{namespace}/replicasets/front").get("status") or {}
        )

    first_ready = wait_for("ready pods", lambda: (s := status()).get("readyReplicas") == 2 and s)
    ready_at = time.monotonic()
    assert first_ready.get("availableReplicas", 0) < 2
    wait_for("available pods", lambda: status().get("availableReplicas") == 2, timeout=15)
    assert time.monotonic() - ready_at >= 1.0


@pytest.mark.parametrize("replicas", [0, 3])
def test_replica_set_status_matches_its_pods(cluster: Cluster, namespace: str, replicas: int) -> None:
    cluster.request("POST", f"/apis/apps/v1/namespaces/{namespace}/replicasets", replica_set(replicas))

    def settled() -> dict[str, Any] | None:
        rs = get(cluster, f"/apis/apps/v1/namespaces/{namespace}/replicasets/front")
        status = rs.get("status") or {}
        return (
            status
            if status.get("availableReplicas", 0) == replicas and status.get("observedGeneration") == 1
            else None
        )

    status = wait_for("the status", settled)
    assert status["replicas"] == replicas  # always present, even when zero
    assert len(pods(cluster, namespace)) == replicas
