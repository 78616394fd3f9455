"""A broken prerequisite fails fast, before anything starts, with the message a user needs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.demo import Demo

pytestmark = pytest.mark.slow

#: a prerequisite check must answer within this (nothing is started before it)
FAST = 15.0


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
    return proc, time.monotonic() - started


def test_no_prometheus_binary_fails_fast_saying_how_to_install_it(demo: Demo) -> None:
    # a PATH with the project's tools only: no prometheus binary
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(demo.root)}
    proc, took = run(demo.argv("prometheus"), env=env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert took < FAST
    assert "error: the prometheus scenario cannot start; 1 prerequisite(s) missing:" in proc.stderr
    assert (
        "the prometheus binary is not installed (not on PATH): install it with `sudo apt-get install -y prometheus`"
        in proc.stderr
    )
    assert not (demo.state_dir / "server.json").exists(), "a cluster was started before the check"
    assert not demo.report.exists()


def test_gitops_without_git_names_git(demo: Demo) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(demo.root)}
    proc, took = run(demo.argv("gitops"), env=env)
    assert proc.returncode == 3 and took < FAST
    assert "git is not installed (not on PATH): install it with `sudo apt-get install -y git`" in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_cluster_that_is_down_fails_fast_naming_it(demo: Demo) -> None:
    port = _free_port()  # nothing listens there
    kubeconfig = demo.root / "kubeconfig"
    kubeconfig.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}
users:
- name: me
  user: {{token: abc}}
contexts:
- name: lab
  context: {{cluster: lab, user: me}}
current-context: lab
"""
    )
    proc, took = run([*demo.argv("basic"), "--context", "lab", "--kubeconfig", str(kubeconfig)])
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert took < FAST
    assert f'the cluster of context "lab" (https://127.0.0.1:{port}) does not answer' in proc.stderr
    assert (
        "start it (or check the kubeconfig), or run the demo on localcluster: drop --context" in proc.stderr
    )
    # a context that is not in the kubeconfig
    proc, _ = run([*demo.argv("basic"), "--context", "prod", "--kubeconfig", str(kubeconfig)])
    assert proc.returncode == 3
    assert 'context "prod" not found in kubeconfig' in proc.stderr


def test_the_starter_says_what_is_missing(demo: Demo) -> None:
    starter = [sys.executable, "-m", "controller.demo", "starter", "--state-dir", str(demo.state_dir)]
    proc, took = run(starter)
    assert proc.returncode == 1 and took < FAST
    assert (
        f"localcluster has never run here (no kubeconfig at {demo.state_dir / 'kubeconfig'})" in proc.stdout
    )
    assert "run `just install`" in proc.stdout


def test_bad_command_lines_are_refused(demo: Demo) -> None:
    for extra, message in (
        (["--auto-promote-after", "5s"], "--auto-promote-after goes with the manual scenario"),
        (["--pause", "soon"], '--pause: invalid duration "soon"'),
        (["--pause", "0s"], "at least 1s"),
    ):
        proc, _ = run([*demo.argv("basic"), *extra])
        assert proc.returncode == 2, (extra, proc.stderr)
        assert message in proc.stderr, (extra, proc.stderr)
