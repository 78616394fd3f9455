"""One pod on the node: its containers' workers, its directory, its kubeconfig."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from localcluster.kubelet.containers import ContainerWorker, PodContext
from localcluster.kubelet.lifecycle import ContainerSnapshot

log = logging.getLogger("localcluster.kubelet")

Obj = dict[str, Any]

#: Variables of the server's environment that subprocess containers inherit.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "VIRTUAL_ENV")
#: Where the ``localcluster`` package is imported from: the project's code, so that
#: ``{python} -m controller`` finds the controller in a checkout as when installed.
PROJECT_PATH = str(Path(__file__).resolve().parents[2])


def base_env(pod_name: str, kubeconfig: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a subprocess container starts from, before the image's and the pod's own."""
    source = os.environ if environ is None else environ
    env = {k: source[k] for k in INHERITED_ENV if k in source}
    python_path = [PROJECT_PATH] + [p for p in source.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(python_path))
    env["PYTHONUNBUFFERED"] = "1"
    env["HOSTNAME"] = pod_name
    env["KUBECONFIG"] = str(kubeconfig)
    return env


@functools.lru_cache(maxsize=64)
def _server_kubeconfig(path: Path, mtime_ns: int) -> Any:
    """The parsed server kubeconfig (re-read only when the file changes)."""
    return yaml.safe_load(path.read_text())


def pod_kubeconfig(server_kubeconfig: Path, namespace: str) -> str | None:
    """The server's kubeconfig with the pod's namespace as the default; None when it cannot be read."""
    try:
        config = copy.deepcopy(_server_kubeconfig(server_kubeconfig, server_kubeconfig.stat().st_mtime_ns))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(config, dict):
        return None
    for context in config.get("contexts") or []:
        if isinstance(context, dict) and isinstance(context.get("context"), dict):
            context["context"]["namespace"] = namespace
    return yaml.safe_dump(config, sort_keys=False)


def prepare_pod_dir(workdir: Path, server_kubeconfig: Path, namespace: str) -> Path:
    """Create the pod's directory and its kubeconfig (mode 0600); returns the kubeconfig's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    path = workdir / "kubeconfig"
    text = pod_kubeconfig(server_kubeconfig, namespace)
    if text is not None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    return path


class PodWorker:
    """Runs a pod's containers until the pod goes."""

    def __init__(self, *, context: PodContext, start_time: str) -> None:
        self.context = context
        self.start_time = start_time
        self.containers: list[ContainerWorker] = []
        self.terminating = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def uid(self) -> str:
        return self.context.uid

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for container in self.containers:
            name = f"pod-{self.context.namespace}/{self.context.name}/{container.name}"
            self._tasks.append(loop.create_task(self._guard(container), name=name))

    async def _guard(self, container: ContainerWorker) -> None:
        try:
            await container.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "%s/%s: container %s failed", self.context.namespace, self.context.name, container.name
            )

    def snapshots(self) -> list[ContainerSnapshot]:
        return [c.snapshot() for c in self.containers]

    def update_spec(self, spec: Mapping[str, Any]) -> None:
        by_name = {str(c.get("name")): c for c in spec.get("containers") or [] if isinstance(c, dict)}
        for container in self.containers:
            new = by_name.get(container.name)
            if new is not None:
                container.update_spec(new)

    async def stop(self, grace: float) -> None:
        """Stop every container (each given ``grace`` seconds) and wait for them."""
        self.terminating = True
        await asyncio.gather(*(c.stop(grace) for c in self.containers), return_exceptions=True)
        _, pending = await asyncio.wait(self._tasks, timeout=grace + 5) if self._tasks else (set(), set())
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
