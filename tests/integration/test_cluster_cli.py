"""`rollouts cluster up|down|status|kubeconfig`, as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def rollouts(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("rollouts") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "controller.cli.main"]
    return subprocess.run(
        [*cmd, "cluster", *args, "--state-dir", str(state)], capture_output=True, text=True, timeout=60
    )


def process_running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def test_up_status_down_and_state_survives(tmp_path: Path) -> None:
    state = tmp_path / "lc"
    up = rollouts("up", state=state)
    assert up.returncode == 0, up.stderr
    info = json.loads((state / "server.json").read_text())
    pid = info["pid"]
    try:
        # the kubeconfig: context localcluster, a bearer token, readable only by the user
        kubeconfig = state / "kubeconfig"
        mode = stat.S_IMODE(os.stat(kubeconfig).st_mode)
        assert mode == 0o600
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["current-context"] == "localcluster"
        assert config["clusters"][0]["cluster"]["server"] == info["url"]
        assert len(config["users"][0]["user"]["token"]) >= 32
        assert info["url"].startswith("https://127.0.0.1:")
        assert config["clusters"][0]["cluster"]["certificate-authority-data"]

        # up twice leaves one cluster
        again = rollouts("up", state=state)
        assert again.returncode == 0
        assert "already running" in again.stdout
        assert json.loads((state / "server.json").read_text())["pid"] == pid

        path = rollouts("kubeconfig", "--path", state=state)
        assert path.stdout.strip() == str(kubeconfig)
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), KUBECACHEDIR=str(tmp_path / "cache"))
        manifest = (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep-me, namespace: default}\ndata: {a: b}\n"
        )
        subprocess.run(
            ["kubectl", "apply", "-f", "-"],
            input=manifest,
            text=True,
            env=env,
            check=True,
            capture_output=True,
        )

        status = rollouts("status", "-o", "json", state=state)
        assert status.returncode == 0
        report = json.loads(status.stdout)
        assert report["running"] is True
        assert report["url"] == info["url"]
        assert report["objectsByResource"]["/configmaps"] == 1
        text = rollouts("status", state=state).stdout
        assert "is running at" in text
        assert "objects:" in text
    finally:
        down = rollouts("down", state=state)
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert not process_running(pid)
    stopped = rollouts("status", state=state)
    assert stopped.returncode == 3
    assert "not running" in stopped.stdout

    # state survives down/up, on the same port
    assert rollouts("up", state=state).returncode == 0
    try:
        env = dict(os.environ, KUBECONFIG=str(state / "kubeconfig"), KUBECACHEDIR=str(tmp_path / "cache2"))
        got = subprocess.run(
            ["kubectl", "get", "configmap", "keep-me", "-o", "jsonpath={.data.a}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert got.stdout == "b"
        assert json.loads((state / "server.json").read_text())["port"] == info["port"]
    finally:
        rollouts("down", state=state)


def test_down_when_not_running_says_so(tmp_path: Path) -> None:
    result = rollouts("down", state=tmp_path / "none")
    assert result.returncode == 0
    assert "not running" in result.stdout


def test_kubeconfig_before_up_is_a_clear_error(tmp_path: Path) -> None:
    result = rollouts("kubeconfig", state=tmp_path / "none")
    assert result.returncode == 1
    assert "rollouts cluster up" in result.stderr
