"""Jobs on a real localcluster, seen through kubectl: pods, retries, conditions, events.

Most tests report pod phases themselves (PATCH of ``pods/status``), as a kubelet does: their
pods are bound to a node no kubelet serves (``nodeName``), so the kubelet leaves them alone.
The last ones let the real kubelet run processes that exit, through its image table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import Cluster, Kubectl, start_cluster, stop_cluster

T = TypeVar("T")


def job_manifest(name: str, **spec: Any) -> str:
    return json.dumps(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "template": {
                    "spec": {
                        "nodeName": "no-kubelet-here",
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
                    }
                },
                **spec,
            },
        }
    )


def eventually(fn: Callable[[], T | None], *, timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def job_pods(cluster: Cluster, namespace: str, job: str) -> list[dict[str, Any]]:
    status, body, _ = cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector=batch.kubernetes.io/job-name%3D{job}"
    )
    assert status == 200, body
    return list(body["items"])


def unfinished(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def set_phase(cluster: Cluster, namespace: str, pod: dict[str, Any], phase: str) -> None:
    status, body, _ = cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/status",
        {"status": {"phase": phase}},
        content_type="application/merge-patch+json",
    )
    assert status == 200, body


def job_events(kubectl: Kubectl, job: str) -> list[str]:
    events = kubectl.json("get", "events", f"--field-selector=involvedObject.name={job}")["items"]
    return [e["reason"] for e in events]


#: images the kubelet runs as real processes that exit (its image table, ``images.yaml``)
IMAGES = """\
images:
  job-prints-42: {command: ["{python}", "-c", "print(42)"]}
  job-exits-3: {command: ["{python}", "-c", "import sys; sys.exit(3)"]}
"""


@pytest.fixture(scope="module")
def fast_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A server of this module's own: Job back-off from 0.2 s instead of 10 s, and :data:`IMAGES`."""
    state = tmp_path_factory.mktemp("fast-backoff")
    (state / "images.yaml").write_text(IMAGES)
    c = start_cluster(state, env={"LOCALCLUSTER_JOB_BACKOFF": "0.2"})
    yield c
    stop_cluster(c)


def test_job_runs_a_pod_and_completes(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    kubectl.namespace = namespace
    kubectl.run("-n", namespace, "apply", "-f", "-", input=job_manifest("pi"))
    [pod] = eventually(lambda: job_pods(cluster, namespace, "pi"), what="the Job's pod")
    assert pod["metadata"]["name"].startswith("pi-")
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert pod["metadata"]["labels"]["job-name"] == "pi"
    job = eventually(lambda: (kubectl.json("get", "job", "pi").get("status") or {}).get("active"))
    assert job == 1
    set_phase(cluster, namespace, pod, "Succeeded")
    kubectl.run("-n", namespace, "wait", "--for=condition=complete", "job/pi", "--timeout=30s")
    job = kubectl.json("get", "job", "pi")
    assert job["status"]["succeeded"] == 1
    assert job["status"]["completionTime"]
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    table = kubectl.run("-n", namespace, "get", "job", "pi").stdout
    assert "Complete" in table and "1/1" in table
    reasons = eventually(
        lambda: job_events(kubectl, "pi") if "Completed" in job_events(kubectl, "pi") else None
    )
    assert "SuccessfulCreate" in reasons
    assert len(job_pods(cluster, namespace, "pi")) == 1


def test_completions_and_parallelism(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    kubectl.run(
        "-n", namespace, "apply", "-f", "-", input=job_manifest("batch", completions=3, parallelism=2)
    )
    pods = eventually(lambda: unfinished(job_pods(cluster, namespace, "batch")), what="2 pods")
    time.sleep(0.3)
    assert len(unfinished(job_pods(cluster, namespace, "batch"))) == 2
    for _ in range(3):
        pods = eventually(lambda: unfinished(job_pods(cluster, namespace, "batch")), what="a running pod")
        set_phase(cluster, namespace, pods[0], "Succeeded")
    kubectl.run("-n", namespace, "wait", "--for=condition=complete", "job/batch", "--timeout=30s")
    pods = job_pods(cluster, namespace, "batch")
    assert sorted(p["status"]["phase"] for p in pods) == ["Succeeded"] * 3


def test_failed_pods_are_retried_until_the_backoff_limit(fast_cluster: Cluster, tmp_path: Path) -> None:
    kubectl = Kubectl(fast_cluster, tmp_path / "kube-cache")
    kubectl.run("apply", "-f", "-", input=job_manifest("flaky", backoffLimit=2))
    failed: set[str] = set()
    for attempt in range(3):
        pod = eventually(
            lambda: next(iter(unfinished(job_pods(fast_cluster, "default", "flaky"))), None),
            what=f"attempt {attempt + 1}",
        )
        assert pod["metadata"]["name"] not in failed
        failed.add(pod["metadata"]["name"])
        set_phase(fast_cluster, "default", pod, "Failed")
    kubectl.run("wait", "--for=condition=failed", "job/flaky", "--timeout=30s")
    job = kubectl.json("get", "job", "flaky")
    assert job["status"]["failed"] == 3
    conditions = {c["type"]: c for c in job["status"]["conditions"]}
    assert conditions["FailureTarget"]["reason"] == "BackoffLimitExceeded"
    assert conditions["Failed"]["reason"] == "BackoffLimitExceeded"
    assert conditions["Failed"]["message"] == "Job has reached the specified backoff limit"
    time.sleep(1.0)  # past any back-off: a failed Job starts nothing new
    assert unfinished(job_pods(fast_cluster, "default", "flaky")) == []
    assert len(job_pods(fast_cluster, "default", "flaky")) == 3
    assert "BackoffLimitExceeded" in job_events(kubectl, "flaky")
    assert "Failed" in kubectl.run("get", "job", "flaky").stdout


def test_active_deadline_fails_the_job(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    kubectl.namespace = namespace
    kubectl.run("-n", namespace, "apply", "-f", "-", input=job_manifest("slow", activeDeadlineSeconds=2))
    eventually(lambda: job_pods(cluster, namespace, "slow"), what="the Job's pod")
    kubectl.run("-n", namespace, "wait", "--for=condition=failed", "job/slow", "--timeout=30s")
    job = kubectl.json("get", "job", "slow")
    assert {c["reason"] for c in job["status"]["conditions"]} == {"DeadlineExceeded"}
    assert job_pods(cluster, namespace, "slow") == []  # its running pod was deleted
    assert job["status"]["failed"] == 1


def test_suspended_job_starts_when_resumed(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    kubectl.namespace = namespace
    kubectl.run("-n", namespace, "apply", "-f", "-", input=job_manifest("later", suspend=True))
    kubectl.run("-n", namespace, "wait", "--for=condition=suspended", "job/later", "--timeout=30s")
    assert job_pods(cluster, namespace, "later") == []
    kubectl.run("-n", namespace, "patch", "job", "later", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    eventually(lambda: job_pods(cluster, namespace, "later"), what="a pod after resuming")
    job = kubectl.json("get", "job", "later")
    assert job["status"]["startTime"]
    assert "Resumed" in job_events(kubectl, "later")


def test_deleting_a_job_deletes_its_pods(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    kubectl.run("-n", namespace, "apply", "-f", "-", input=job_manifest("gone", parallelism=2, completions=2))
    eventually(lambda: len(job_pods(cluster, namespace, "gone")) == 2, what="2 pods")
    kubectl.run("-n", namespace, "delete", "job", "gone", "--wait=true", "--timeout=30s")
    eventually(lambda: job_pods(cluster, namespace, "gone") == [], what="the pods to go")


def real_job(name: str, image: str, **spec: Any) -> str:
    """A Job whose pods the kubelet runs (no ``nodeName``: it binds them to its node)."""
    manifest = json.loads(job_manifest(name, **spec))
    pod_spec = manifest["spec"]["template"]["spec"]
    del pod_spec["nodeName"]
    pod_spec["containers"] = [{"name": "main", "image": image}]
    return json.dumps(manifest)


def test_a_real_process_runs_to_completion(fast_cluster: Cluster, tmp_path: Path) -> None:
    kubectl = Kubectl(fast_cluster, tmp_path / "kube-cache")
    kubectl.run("apply", "-f", "-", input=real_job("answer", "job-prints-42"))
    kubectl.run("wait", "--for=condition=complete", "job/answer", "--timeout=60s")
    [pod] = job_pods(fast_cluster, "default", "answer")
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert kubectl.run("logs", "job/answer").stdout.strip() == "42"


def test_a_failing_process_is_retried_then_the_job_fails(fast_cluster: Cluster, tmp_path: Path) -> None:
    kubectl = Kubectl(fast_cluster, tmp_path / "kube-cache")
    kubectl.run("apply", "-f", "-", input=real_job("doomed", "job-exits-3", backoffLimit=1))
    kubectl.run("wait", "--for=condition=failed", "job/doomed", "--timeout=60s")
    pods = job_pods(fast_cluster, "default", "doomed")
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    job = kubectl.json("get", "job", "doomed")
    assert job["status"]["failed"] == 2
    assert job["status"]["conditions"][-1]["reason"] == "BackoffLimitExceeded"
