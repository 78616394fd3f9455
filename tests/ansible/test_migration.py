"""playbooks/migrate.yml under load: the demo frontend to a Rollout and back, both ways, no request failed.

`rollouts load-test` sends traffic through the frontend's Service for the whole of each
playbook run (started before it, stopped with Ctrl-C after it, then its JSON summary read).
The Service selects the Deployment's pods and the Rollout's alike, so a request fails only if
available pods ran out on the way: the role must scale the Deployment down only after the
Rollout is Healthy, and, going back, give the Deployment its pods before removing the Rollout.

The cluster is the test's own (ephemeral port, temporary state directory): the controller
the install playbook runs there watches every namespace.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.ansible.runner import ansible_env, kubectl_json, playbook
from tests.conftest import Cluster, start_cluster, stop_cluster

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

NAME = "tracing-demo-frontend"
RPS = 40


def served(pod_ips: list[str]) -> int:
    """How many /color requests these demo pods have answered (their http_requests_total)."""
    total = 0
    for ip in pod_ips:
        with urllib.request.urlopen(f"http://{ip}:8080/metrics", timeout=10) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith("http_requests_total{") and 'path="/color"' in line:
                    total += int(float(line.rsplit(" ", 1)[1]))
    return total


@contextmanager
def traffic(cluster: Cluster, pod_ips: list[str], summary: dict[str, Any]) -> Iterator[None]:
    """`rollouts load-test` through the frontend Service while the block runs; its summary in ``summary``.

    The block starts once the pods (``pod_ips``, those serving now) have answered some of its
    requests, so the traffic covers all of it.
    """
    before = served(pod_ips)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "rollouts"),
            "load-test",
            "--service",
            "services/frontend-service",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--rps",
            str(RPS),
            "--duration",
            "10m",
            "--no-live",
            "-o",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while served(pod_ips) < before + 10:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the load test sent nothing within 30 s"
            time.sleep(0.1)
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # stop, then print the summary
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary.update(json.loads(out))


def no_request_failed(summary: dict[str, Any], seconds: float) -> None:
    # the load test ran for the whole playbook run, at the rate asked
    assert summary["duration"] >= seconds, summary
    assert summary["requests"] >= RPS * seconds * 0.8, summary
    assert summary["errors"]["count"] == 0, summary
    assert summary["answered"] == summary["requests"], summary


def test_migration_and_back_under_load_fail_no_request(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "state")
    cache = tmp_path / "kube-cache"

    def get(kind: str, name: str = "") -> Any:
        return kubectl_json(
            cluster.kubeconfig, cache, "-n", "services", "get", kind, *([name] if name else [])
        )

    def serving() -> list[str]:
        return [p["status"]["podIP"] for p in frontend_pods()]

    def frontend_pods() -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = get("pods")["items"]
        return [
            p
            for p in pods
            if p["metadata"]["labels"].get("app") == "frontend" and "deletionTimestamp" not in p["metadata"]
        ]

    try:
        # a kubeconfig in the environment is the target: localcluster is neither started nor used
        unused = tmp_path / "no-localcluster-here"
        given = ansible_env(unused, tmp_path, kubeconfig=cluster.kubeconfig)
        run = playbook(given, "playbooks/install.yml", "playbooks/demo.yml")
        assert re.search(r"TASK \[localcluster : Read localcluster's status\] \**\nskipping", run.output)
        assert not unused.exists()
        assert get("deployment", NAME)["status"]["availableReplicas"] == 2

        # from here on localcluster is the target, and the role finds this cluster running
        env = ansible_env(cluster.state_dir, tmp_path)

        for mode, scale_down in (("template", "onsuccess"), ("workload-ref", "progressively")):
            settings = [
                "-e",
                f"rollouts_migrate_mode={mode}",
                "-e",
                f"rollouts_migrate_scale_down={scale_down}",
            ]
            summary: dict[str, Any] = {}
            with traffic(cluster, serving(), summary):
                there = playbook(env, "playbooks/migrate.yml", *settings)
            no_request_failed(summary, there.seconds)
            rollout = get("rollout", NAME)
            assert rollout["status"]["phase"] == "Healthy"
            assert rollout["status"]["availableReplicas"] == 2
            assert ("workloadRef" in rollout["spec"]) == (mode == "workload-ref")
            deployment = get("deployment", NAME)
            assert deployment["spec"]["replicas"] == 0
            owners = {p["metadata"]["ownerReferences"][0]["name"] for p in frontend_pods()}
            assert owners == {f"{NAME}-{rollout['status']['currentPodHash']}"}, (
                "only the Rollout's pods serve"
            )

            assert playbook(env, "playbooks/migrate.yml", *settings).changed == 0

            summary = {}
            with traffic(cluster, serving(), summary):
                back = playbook(env, "playbooks/migrate.yml", "-e", "rollouts_migrate_state=absent")
            no_request_failed(summary, back.seconds)
            assert get("rollouts")["items"] == []
            deployment = get("deployment", NAME)
            assert deployment["spec"]["replicas"] == 2
            assert deployment["status"]["availableReplicas"] == 2
    finally:
        stop_cluster(cluster)
