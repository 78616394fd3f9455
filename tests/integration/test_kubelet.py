"""The kubelet on a real localcluster: pods run, serve, probe, log, crash, restart and stop.

Pods are created directly through the API (no ReplicaSet controller needed). Demo-app pods
use the shared session server; subprocess pods use a server of this module's whose state
directory holds a test image table and whose crash-loop back-off is short.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import Cluster, Kubectl, start_cluster, stop_cluster

T = TypeVar("T")
Obj = dict[str, Any]

IMAGES = """
images:
  py: {command: ["{python}"]}
  hello: {command: ["{python}", "-c", "import os, time; print('hello from', os.getpid()); time.sleep(60)"]}
  crash: {command: ["{python}", "-c", "import sys; print('crashing'); sys.exit(3)"]}
"""
BACKOFF_ENV = {"LOCALCLUSTER_RESTART_BACKOFF": "0.5", "LOCALCLUSTER_POD_START_DELAY": "1"}
# Starts a child (so the whole process group must be stopped), prints both pids, then waits.
FAMILY = (
    "import os, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print('pids', os.getpid(), child.pid)\n"
    "time.sleep(60)\n"
)

_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def eventually(fn: Callable[[], T | None], *, timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_get(url: str) -> tuple[int, str]:
    try:
        with _direct.open(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def create_pod(cluster: Cluster, namespace: str, name: str, *containers: Obj, **spec: Any) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": list(containers), **spec},
    }
    status, answer, _ = cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods", body)
    assert status == 201, answer


def get_pod(cluster: Cluster, namespace: str, name: str) -> Obj:
    status, pod, _ = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
    assert status == 200, pod
    return dict(pod)


def pod_when(cluster: Cluster, namespace: str, name: str, check: Callable[[Obj], bool], what: str) -> Obj:
    """The pod, once ``check`` holds for it."""

    def found() -> Obj | None:
        pod = get_pod(cluster, namespace, name)
        return pod if check(pod) else None

    return eventually(found, what=what)


def condition(pod: Obj, type_: str) -> str | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get("status"))
    return None


def wait_ready(cluster: Cluster, namespace: str, name: str, timeout: float = 20.0) -> Obj:
    def ready() -> Obj | None:
        pod = get_pod(cluster, namespace, name)
        return pod if condition(pod, "Ready") == "True" else None

    return eventually(ready, timeout=timeout, what=f"pod {name} to be ready")


def container_status(pod: Obj) -> Obj:
    return dict(((pod.get("status") or {}).get("containerStatuses") or [{}])[0])


def pod_log(cluster: Cluster, namespace: str, name: str, query: str = "") -> str:
    status, text, _ = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log{query}")
    return str(text) if status == 200 else ""


def delete_pod(cluster: Cluster, namespace: str, name: str) -> None:
    status, body, _ = cluster.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")
    assert status == 200, body


def demo(**extra: Any) -> Obj:
    return {
        "name": "app",
        "image": "argoproj/rollouts-demo:blue",
        "ports": [{"containerPort": 8080}],
        **extra,
    }


# -- demo-app pods -------------------------------------------------------------------------


def test_app_pod_runs_ready_on_a_loopback_ip_of_its_own_and_serves(cluster: Cluster, namespace: str) -> None:
    create_pod(cluster, namespace, "web", demo())
    pod = wait_ready(cluster, namespace, "web")
    status = pod["status"]
    assert pod["spec"]["nodeName"] == "localcluster"
    assert status["phase"] == "Running"
    assert status["podIP"].startswith("127.10.")
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"] == "127.0.0.1"
    assert status["startTime"]
    assert status["qosClass"] == "BestEffort"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }
    cs = container_status(pod)
    assert cs["containerID"].startswith("localcluster://")
    assert (cs["ready"], cs["started"], cs["restartCount"]) == (True, True, 0)
    assert "running" in cs["state"]
    code, body = http_get(f"http://{status['podIP']}:8080/color")
    assert code == 200
    assert json.loads(body)["color"] == "blue"


def test_two_pods_with_the_same_port_both_serve(cluster: Cluster, namespace: str) -> None:
    create_pod(cluster, namespace, "a", demo(image="argoproj/rollouts-demo:green"))
    create_pod(cluster, namespace, "b", demo(image="argoproj/rollouts-demo:red"))
    ips = [wait_ready(cluster, namespace, n)["status"]["podIP"] for n in ("a", "b")]
    assert ips[0] != ips[1]
    colors = [json.loads(http_get(f"http://{ip}:8080/color")[1])["color"] for ip in ips]
    assert colors == ["green", "red"]


def test_readiness_probe_decides_readiness(cluster: Cluster, namespace: str) -> None:
    probe = {"periodSeconds": 1, "failureThreshold": 1}
    create_pod(
        cluster,
        namespace,
        "unready",
        demo(readinessProbe={"httpGet": {"path": "/no-such-path", "port": 8080}, **probe}),
    )
    create_pod(
        cluster,
        namespace,
        "erroring",
        demo(
            env=[{"name": "ERROR_RATE", "value": "1"}],
            readinessProbe={"httpGet": {"path": "/healthz", "port": 8080}, **probe},
        ),
    )
    erroring = wait_ready(cluster, namespace, "erroring")
    assert http_get(f"http://{erroring['status']['podIP']}:8080/color")[0] == 500  # fails, yet ready
    pod = get_pod(cluster, namespace, "unready")
    assert pod["status"]["phase"] == "Running"
    time.sleep(2.5)  # a couple of probe periods: the 404s keep it unready
    pod = get_pod(cluster, namespace, "unready")
    assert condition(pod, "Ready") == "False"
    assert container_status(pod)["ready"] is False
    assert '"GET /no-such-path HTTP/1.1" 404' in pod_log(cluster, namespace, "unready")


def test_kubectl_describe_shows_the_pods_events(cluster: Cluster, namespace: str, kubectl: Kubectl) -> None:
    probe = {"httpGet": {"path": "/no-such-path", "port": 8080}, "periodSeconds": 1}
    create_pod(cluster, namespace, "described", demo(readinessProbe=probe))
    out = eventually(
        lambda: next(
            (
                t
                for t in [kubectl.run("-n", namespace, "describe", "pod", "described").stdout]
                if "Unhealthy" in t
            ),
            None,
        ),
        what="the Unhealthy event",
    )
    assert f"Successfully assigned {namespace}/described to localcluster" in out
    assert "Started container app" in out
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in out


def test_liveness_failure_restarts_the_container(cluster: Cluster, namespace: str) -> None:
    probe = {"httpGet": {"path": "/no-such-path", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1}
    create_pod(cluster, namespace, "sick", demo(livenessProbe=probe))
    pod = pod_when(
        cluster,
        namespace,
        "sick",
        lambda p: container_status(p).get("restartCount", 0) >= 1,
        "a restart after the liveness probe failed",
    )
    assert "terminated" in container_status(pod)["lastState"]


def test_kubectl_logs(cluster: Cluster, namespace: str, kubectl: Kubectl) -> None:
    create_pod(cluster, namespace, "logged", demo())
    ip = wait_ready(cluster, namespace, "logged")["status"]["podIP"]
    for _ in range(3):
        assert http_get(f"http://{ip}:8080/color")[0] == 200
    out = kubectl.run("-n", namespace, "logs", "logged").stdout
    assert out.count('"GET /color HTTP/1.1" 200') == 3
    tail = kubectl.run("-n", namespace, "logs", "logged", "--tail=1", "--timestamps").stdout
    assert len(tail.splitlines()) == 1
    stamp, _, line = tail.partition(" ")
    assert stamp.startswith("20") and stamp.endswith("Z")
    assert '"GET /color HTTP/1.1" 200' in line


def test_kubectl_logs_follow_ends_when_the_pod_is_deleted(
    cluster: Cluster, namespace: str, kubectl: Kubectl
) -> None:
    create_pod(cluster, namespace, "followed", demo())
    ip = wait_ready(cluster, namespace, "followed")["status"]["podIP"]
    cmd = ["kubectl", f"--kubeconfig={cluster.kubeconfig}", f"--cache-dir={kubectl.cache_dir}"]
    follower = subprocess.Popen(
        [*cmd, "-n", namespace, "logs", "-f", "followed"], stdout=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(30, follower.kill)  # a stuck stream fails the test, not the run
    watchdog.start()
    try:
        assert follower.stdout is not None
        assert "listening on" in follower.stdout.readline()
        http_get(f"http://{ip}:8080/color")
        assert '"GET /color HTTP/1.1" 200' in follower.stdout.readline()
        delete_pod(cluster, namespace, "followed")
        assert follower.wait(timeout=10) == 0
    finally:
        watchdog.cancel()
        if follower.poll() is None:
            follower.kill()
            follower.wait()


def test_a_new_image_restarts_the_container_with_it(cluster: Cluster, namespace: str) -> None:
    create_pod(cluster, namespace, "changing", demo())
    ip = wait_ready(cluster, namespace, "changing")["status"]["podIP"]
    patch = {"spec": {"containers": [{"name": "app", "image": "argoproj/rollouts-demo:yellow"}]}}
    status, body, _ = cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/changing",
        patch,
        content_type="application/strategic-merge-patch+json",
    )
    assert status == 200, body
    pod = pod_when(
        cluster,
        namespace,
        "changing",
        lambda p: container_status(p).get("restartCount") == 1 and condition(p, "Ready") == "True",
        "the container to restart with the new image",
    )
    assert container_status(pod)["image"] == "argoproj/rollouts-demo:yellow"
    assert pod["status"]["podIP"] == ip
    assert json.loads(http_get(f"http://{ip}:8080/color")[1])["color"] == "yellow"


def test_deleted_pod_stops_serving(cluster: Cluster, namespace: str) -> None:
    create_pod(cluster, namespace, "gone", demo())
    ip = wait_ready(cluster, namespace, "gone")["status"]["podIP"]
    delete_pod(cluster, namespace, "gone")

    def refused() -> bool:
        try:
            http_get(f"http://{ip}:8080/color")
        except OSError:
            return True
        return False

    eventually(refused, timeout=10, what="the deleted pod to stop serving")


def test_kubectl_get_nodes_shows_localcluster_ready(kubectl: Kubectl) -> None:
    out = kubectl.run("get", "nodes").stdout.splitlines()
    assert out[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    name, status, _, _, version = out[1].split()[:5]
    assert (name, status, version) == ("localcluster", "Ready", "v1.32.0-localcluster")
    node = json.loads(kubectl.run("get", "node", "localcluster", "-o", "json").stdout)
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    assert int(node["status"]["allocatable"]["pods"]) > 0
    lease = json.loads(
        kubectl.run("-n", "kube-node-lease", "get", "lease", "localcluster", "-o", "json").stdout
    )
    assert lease["spec"]["holderIdentity"] == "localcluster"


def test_pod_with_unmatched_node_selector_stays_pending(cluster: Cluster, namespace: str) -> None:
    create_pod(cluster, namespace, "picky", demo(), nodeSelector={"disktype": "ssd"})
    pod = pod_when(
        cluster,
        namespace,
        "picky",
        lambda p: condition(p, "PodScheduled") == "False",
        "the pod to be marked unschedulable",
    )
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")


# -- subprocess pods -----------------------------------------------------------------------


def _proc_cluster(state_dir: Path) -> Cluster:
    state_dir.mkdir(parents=True)
    (state_dir / "images.yaml").write_text(IMAGES)
    return start_cluster(state_dir, env=BACKOFF_ENV)


@pytest.fixture(scope="module")
def proc_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = _proc_cluster(tmp_path_factory.mktemp("kubelet") / "state")
    yield c
    stop_cluster(c)


@pytest.fixture
def proc_ns(proc_cluster: Cluster) -> Iterator[str]:
    name = f"k-{uuid.uuid4().hex[:10]}"
    status, body, _ = proc_cluster.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status == 201, body
    yield name
    proc_cluster.request("DELETE", f"/api/v1/namespaces/{name}")


def family_pids(cluster: Cluster, namespace: str, pod: str) -> tuple[int, int]:
    line = eventually(
        lambda: next(
            (ln for ln in pod_log(cluster, namespace, pod).splitlines() if ln.startswith("pids ")), None
        ),
        what="the process to print its pids",
    )
    parent, child = line.split()[1:]
    return int(parent), int(child)


def test_process_runs_logs_and_is_stopped_when_the_pod_is_deleted(
    proc_cluster: Cluster, proc_ns: str
) -> None:
    create_pod(proc_cluster, proc_ns, "family", {"name": "main", "image": "py:3", "args": ["-c", FAMILY]})
    pod = wait_ready(proc_cluster, proc_ns, "family")
    assert pod["status"]["podIP"].startswith("127.10.")
    parent, child = family_pids(proc_cluster, proc_ns, "family")
    assert alive(parent) and alive(child)
    delete_pod(proc_cluster, proc_ns, "family")
    eventually(lambda: not alive(parent) and not alive(child), timeout=15, what="the processes to stop")


def test_without_readiness_probe_a_container_is_ready_after_the_start_delay(
    proc_cluster: Cluster, proc_ns: str
) -> None:
    create_pod(proc_cluster, proc_ns, "slow", {"name": "main", "image": "hello"})
    running = pod_when(
        proc_cluster, proc_ns, "slow", lambda p: "running" in container_status(p).get("state", {}), "running"
    )
    assert condition(running, "Ready") == "False"  # LOCALCLUSTER_POD_START_DELAY=1
    started = time.monotonic()
    wait_ready(proc_cluster, proc_ns, "slow")
    assert 0.3 < time.monotonic() - started < 3
    assert pod_log(proc_cluster, proc_ns, "slow").startswith("hello from ")


def test_crashing_process_goes_into_crash_loop_back_off(
    proc_cluster: Cluster, proc_ns: str, tmp_path: Path
) -> None:
    create_pod(proc_cluster, proc_ns, "crashy", {"name": "main", "image": "crash"})
    kubectl = Kubectl(proc_cluster, tmp_path / "cache", namespace=proc_ns)

    def looping() -> list[str] | None:
        row = kubectl.run("-n", proc_ns, "get", "pod", "crashy", "--no-headers").stdout.split()
        return row if row[2] == "CrashLoopBackOff" and int(row[3]) >= 2 else None

    row = eventually(looping, what="CrashLoopBackOff with restarts")
    assert row[1] == "0/1"
    cs = container_status(get_pod(proc_cluster, proc_ns, "crashy"))
    restarts = cs["restartCount"]
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert kubectl.run("-n", proc_ns, "logs", "crashy", "--previous").stdout == "crashing\n"
    events = kubectl.run("-n", proc_ns, "get", "events", "--field-selector=involvedObject.name=crashy").stdout
    assert "Back-off restarting failed container main" in events
    eventually(
        lambda: container_status(get_pod(proc_cluster, proc_ns, "crashy"))["restartCount"] > restarts,
        what="the restart count to go on increasing",
    )


@pytest.mark.parametrize(("code", "phase"), [(0, "Succeeded"), (4, "Failed")])
def test_restart_policy_never_ends_the_pod(
    proc_cluster: Cluster, proc_ns: str, code: int, phase: str
) -> None:
    script = f"import sys; print('done'); sys.exit({code})"
    create_pod(
        proc_cluster,
        proc_ns,
        "once",
        {"name": "main", "image": "py", "args": ["-c", script]},
        restartPolicy="Never",
    )
    pod = pod_when(
        proc_cluster, proc_ns, "once", lambda p: p["status"].get("phase") == phase, f"phase {phase}"
    )
    cs = container_status(pod)
    assert cs["state"]["terminated"]["exitCode"] == code
    assert cs["restartCount"] == 0
    assert condition(pod, "Ready") == "False"
    assert pod_log(proc_cluster, proc_ns, "once") == "done\n"


def test_environment_configmaps_and_kubeconfig(proc_cluster: Cluster, proc_ns: str) -> None:
    script = (
        "import os, subprocess, time\n"
        "print('color', os.environ['COLOR'], 'ip', os.environ['MY_IP'], 'cwd', os.getcwd())\n"
        "out = subprocess.run(['kubectl', 'get', 'pod', os.environ['NAME'], '-o', 'name'], capture_output=True, text=True)\n"
        "print('api', out.stdout.strip() or out.stderr.strip())\n"
        "time.sleep(60)\n"
    )
    env = [
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    create_pod(
        proc_cluster,
        proc_ns,
        "configured",
        {"name": "main", "image": "py", "args": ["-c", script], "env": env},
    )
    pod = pod_when(
        proc_cluster,
        proc_ns,
        "configured",
        lambda p: (
            container_status(p).get("state", {}).get("waiting", {}).get("reason")
            == "CreateContainerConfigError"
        ),
        "CreateContainerConfigError while the ConfigMap is missing",
    )
    assert 'configmap "settings" not found' in container_status(pod)["state"]["waiting"]["message"]
    cm = {"metadata": {"name": "settings"}, "data": {"color": "purple"}}
    assert proc_cluster.request("POST", f"/api/v1/namespaces/{proc_ns}/configmaps", cm)[0] == 201
    pod = wait_ready(proc_cluster, proc_ns, "configured")
    log = eventually(
        lambda: next((t for t in [pod_log(proc_cluster, proc_ns, "configured")] if "api " in t), None),
        what="the process's output",
    )
    assert f"color purple ip {pod['status']['podIP']} cwd " in log
    assert "api pod/configured" in log  # the injected kubeconfig reaches this server, in the pod's namespace


def test_unready_shows_within_about_a_second(proc_cluster: Cluster, proc_ns: str) -> None:
    script = (
        "import pathlib, time\n"
        "pathlib.Path('ready').touch(); time.sleep(3)\n"
        "pathlib.Path('ready').unlink(); print('unready now', time.time()); time.sleep(60)\n"
    )
    probe = {"exec": {"command": ["test", "-e", "ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    create_pod(
        proc_cluster,
        proc_ns,
        "flip",
        {"name": "main", "image": "py", "args": ["-c", script], "readinessProbe": probe},
    )
    wait_ready(proc_cluster, proc_ns, "flip")
    eventually(lambda: condition(get_pod(proc_cluster, proc_ns, "flip"), "Ready") == "False", what="unready")
    seen = time.time()
    line = next(
        ln for ln in pod_log(proc_cluster, proc_ns, "flip").splitlines() if ln.startswith("unready now")
    )
    assert seen - float(line.split()[2]) < 2.5  # probe period 1 s, plus polling


# -- the server's own life -----------------------------------------------------------------


def test_stopping_the_server_leaves_no_process_behind_and_the_next_one_runs_the_pod(tmp_path: Path) -> None:
    cluster = _proc_cluster(tmp_path / "state")
    try:
        create_pod(cluster, "default", "family", {"name": "main", "image": "py", "args": ["-c", FAMILY]})
        parent, child = family_pids(cluster, "default", "family")
    finally:
        stop_cluster(cluster)
    assert cluster.proc.returncode == 0
    eventually(lambda: not alive(parent) and not alive(child), timeout=5, what="the processes to stop")
    cluster = start_cluster(cluster.state_dir, env=BACKOFF_ENV)
    try:
        pod = pod_when(
            cluster,
            "default",
            "family",
            lambda p: container_status(p).get("restartCount") == 1 and condition(p, "Ready") == "True",
            "the pod to run again after the restart",
        )
        assert pod["status"]["phase"] == "Running"
        assert family_pids(cluster, "default", "family")[0] != parent
    finally:
        stop_cluster(cluster)


def test_processes_of_a_killed_server_are_stopped_and_the_pod_runs_again(tmp_path: Path) -> None:
    cluster = _proc_cluster(tmp_path / "state")
    parent = child = 0
    try:
        create_pod(cluster, "default", "family", {"name": "main", "image": "py", "args": ["-c", FAMILY]})
        ip = wait_ready(cluster, "default", "family")["status"]["podIP"]
        parent, child = family_pids(cluster, "default", "family")
        stop_cluster(cluster, signal.SIGKILL)
        assert alive(parent)  # left behind by the killed server
        cluster = start_cluster(cluster.state_dir, env=BACKOFF_ENV)
        eventually(
            lambda: not alive(parent) and not alive(child), timeout=10, what="the orphans to be stopped"
        )
        pod = pod_when(
            cluster,
            "default",
            "family",
            lambda p: container_status(p).get("restartCount") == 1 and condition(p, "Ready") == "True",
            "the pod to run again, restarted once",
        )
        cs = container_status(pod)
        assert cs["lastState"]["terminated"]["reason"] == "Unknown"
        assert pod["status"]["podIP"] == ip
        new_parent, _ = family_pids(cluster, "default", "family")
        assert new_parent != parent
    finally:
        stop_cluster(cluster)
        for pid in (parent, child):
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
