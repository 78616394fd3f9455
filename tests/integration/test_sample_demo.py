"""The README's demo applies demos/sample/app.yaml with the Python client; it must keep working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Cluster

ROOT = Path(__file__).resolve().parents[2]


def test_sample_app_applies_and_reapplies(cluster: Cluster) -> None:
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
    for _ in range(2):  # server-side apply: the second run changes nothing and does not fail
        result = subprocess.run(
            [sys.executable, str(ROOT / "demos/sample/apply.py"), str(ROOT / "demos/sample/app.yaml")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    assert "applied Deployment services/frontend" in result.stdout
    status, dep, _ = cluster.request("GET", "/apis/apps/v1/namespaces/services/deployments/frontend")
    assert status == 200
    assert dep["spec"]["replicas"] == 2
    assert dep["metadata"]["generation"] == 1
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "argoproj/rollouts-demo:blue"
