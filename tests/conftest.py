"""Shared fixtures: a real localcluster server process, and real clients pointed at it.

Every server a test starts listens on an ephemeral port, keeps its state in a temporary
directory and is stopped by its PID, so two test runs can share a machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Cluster:
    """A running localcluster server."""

    state_dir: Path
    proc: subprocess.Popen[bytes]
    url: str = ""
    token: str = ""
    log: Path = field(default_factory=Path)

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.state_dir / "ca.crt"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        token: str | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """One HTTP request; returns (status, decoded JSON body or text, headers)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token if token is None else token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl_context()) as resp:
                payload = resp.read()
                status, hdrs = resp.status, dict(resp.headers)
        except urllib.error.HTTPError as e:
            payload = e.read()
            status, hdrs = e.code, dict(e.headers)
        text = payload.decode()
        try:
            return status, json.loads(text), hdrs
        except ValueError:
            return status, text, hdrs


def start_cluster(
    state_dir: Path, *, port: int = 0, timeout: float = 30.0, env: dict[str, str] | None = None
) -> Cluster:
    """Start `python -m localcluster serve` and wait until it answers."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "test-server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localcluster",
                "serve",
                "--state-dir",
                str(state_dir),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    cluster = Cluster(state_dir=state_dir, proc=proc, log=log)
    deadline = time.monotonic() + timeout
    info_path = state_dir / "server.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"localcluster exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("pid") == proc.pid:
            cluster.url = str(info["url"])
            cluster.token = (state_dir / "token").read_text().strip()
            try:
                with urllib.request.urlopen(
                    cluster.url + "/readyz", timeout=1, context=cluster.ssl_context()
                ):
                    return cluster
            except OSError:
                pass
        time.sleep(0.05)
    stop_cluster(cluster)
    raise RuntimeError(f"localcluster did not start within {timeout}s: {log.read_text()[-2000:]}")


def stop_cluster(cluster: Cluster, sig: int = signal.SIGTERM) -> None:
    """Stop the server by its PID (never by name)."""
    if cluster.proc.poll() is None:
        cluster.proc.send_signal(sig)
        try:
            cluster.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cluster.proc.kill()
            cluster.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One server for the session (per xdist worker); tests isolate themselves by namespace."""
    c = start_cluster(tmp_path_factory.mktemp("localcluster"))
    yield c
    stop_cluster(c)


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A server of the test's own, for tests that restart or kill it."""
    c = start_cluster(tmp_path / "state")
    yield c
    stop_cluster(c)


@dataclass
class Kubectl:
    """The real kubectl, pointed at a cluster, with a discovery cache of its own."""

    cluster: Cluster
    cache_dir: Path
    namespace: str = "default"

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = [
            "kubectl",
            f"--kubeconfig={self.cluster.kubeconfig}",
            f"--cache-dir={self.cache_dir}",
            "--request-timeout=30s",
            *args,
        ]
        env = dict(os.environ, KUBECACHEDIR=str(self.cache_dir))
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
            )
        return proc

    def json(self, *args: str) -> Any:
        """``kubectl -n <namespace> ARGS -o json``, decoded."""
        return json.loads(self.run("-n", self.namespace, *args, "-o", "json").stdout)


@pytest.fixture
def kubectl(cluster: Cluster, tmp_path: Path) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not installed; the integration tests need it (see README)")
    return Kubectl(cluster, tmp_path / "kube-cache")


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    status, body, _ = cluster.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    assert status == 201, body
    yield name
    cluster.request("DELETE", f"/api/v1/namespaces/{name}")
