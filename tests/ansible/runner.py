"""Running this repository's playbooks as a user does, against a localcluster of the test's own.

The environment names no cluster (KUBECONFIG and K8S_AUTH_* are removed) and sets
LOCALCLUSTER_STATE_DIR to the test's state directory, so the localcluster role finds (or
starts) that cluster and never the user's. Ansible's temporary files and kubernetes.core's
discovery cache go to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def ansible_env(state_dir: Path, tmp: Path, *, kubeconfig: Path | None = None) -> dict[str, str]:
    """The environment of a playbook run: localcluster in ``state_dir``, or ``kubeconfig`` when given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KUBECONFIG", "LOCALCLUSTER_STATE_DIR") and not k.startswith("K8S_AUTH_")
    }
    env.update(
        LOCALCLUSTER_STATE_DIR=str(state_dir),
        TMPDIR=str(tmp),  # kubernetes.core caches discovery there, keyed by host
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"),
        ANSIBLE_HOME=str(tmp / "ansible-home"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


@dataclass
class Run:
    """One ansible-playbook run: its exit code, its output and its PLAY RECAP counts."""

    code: int
    output: str
    seconds: float

    @property
    def recap(self) -> dict[str, int]:
        match = re.search(r"localhost\s*:\s*(.*)", self.output.split("PLAY RECAP")[-1])
        assert match, self.output
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}

    @property
    def changed(self) -> int:
        return self.recap["changed"]

    def changed_tasks(self) -> list[str]:
        """``role : task name (item)`` for every change reported."""
        found = []
        task = ""
        for line in self.output.splitlines():
            header = re.match(r"TASK \[(.*)\] \*+", line)
            if header:
                task = header.group(1)
            item = re.match(r"changed: \[localhost\](?: => \(item=(.*)\))?", line)
            if item:
                found.append(f"{task} ({item.group(1)})" if item.group(1) else task)
        return found


def playbook(env: dict[str, str], *args: str, timeout: float = 280) -> Run:
    """``ansible-playbook ARGS`` from the repository root; fails the test when it fails."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    run = Run(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
    assert run.code == 0, f"ansible-playbook {' '.join(args)} failed ({run.code}):\n{run.output[-6000:]}"
    assert run.recap["failed"] == 0, run.output[-6000:]
    return run


def kubectl(
    kubeconfig: Path, cache: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", f"--cache-dir={cache}", "--request-timeout=30s", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)} failed:\n{proc.stderr}{proc.stdout}"
    return proc


def kubectl_json(kubeconfig: Path, cache: Path, *args: str) -> Any:
    return json.loads(kubectl(kubeconfig, cache, *args, "-o", "json").stdout)
