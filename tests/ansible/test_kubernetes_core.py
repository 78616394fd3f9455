"""Ansible's kubernetes.core modules against localcluster, run twice for idempotency."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import Cluster

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

PLAYBOOK = Path(__file__).with_name("kubernetes_core.yml")


def run_playbook(cluster: Cluster, tmp_path: Path, namespace: str) -> tuple[int, str]:
    env = dict(
        os.environ,
        K8S_AUTH_KUBECONFIG=str(cluster.kubeconfig),
        TMPDIR=str(tmp_path),  # kubernetes.core caches discovery there, keyed by host
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,  # the Python that has the kubernetes client
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(PLAYBOOK), "-e", f"test_namespace={namespace}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return proc.returncode, proc.stdout + proc.stderr


def recap(output: str) -> dict[str, int]:
    match = re.search(r"localhost\s*:\s*(.*)", output.split("PLAY RECAP")[-1])
    assert match, output
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def test_kubernetes_core_modules_and_idempotency(cluster: Cluster, tmp_path: Path) -> None:
    namespace = f"ansible-{uuid.uuid4().hex[:8]}"
    try:
        code, out = run_playbook(cluster, tmp_path, namespace)
        assert code == 0, out
        first = recap(out)
        assert first["failed"] == 0
        assert first["changed"] == 8, out
        _, ssa, _ = cluster.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/ssa")
        owners = {(m["manager"], m["operation"]) for m in ssa["metadata"]["managedFields"]}
        assert ("ansible-tests", "Apply") in owners

        code, out = run_playbook(cluster, tmp_path, namespace)
        assert code == 0, out
        second = recap(out)
        # creating and removing the temporary ConfigMap changes things every run; nothing else may
        assert second["changed"] == 2, out
        _, ssa, _ = cluster.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/ssa")
        owners = {(m["manager"], m["operation"]) for m in ssa["metadata"]["managedFields"]}
        assert ("ansible-tests", "Apply") in owners
    finally:
        cluster.request("DELETE", f"/api/v1/namespaces/{namespace}")
