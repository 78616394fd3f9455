"""The kubelet's settings and where it keeps things in the state directory.

Environment variables (read when the server starts):

- ``LOCALCLUSTER_POD_START_DELAY`` (seconds, default 0): how long after it starts a
  container without a readiness probe becomes ready, standing in for an app's start-up time;
- ``LOCALCLUSTER_RESTART_BACKOFF`` (seconds, default 10): the first wait of the crash-loop
  back-off, which doubles up to 5 minutes (tests make it short).

Layout under ``<state_dir>/kubelet/``: ``pods/<namespace>_<pod>_<uid>/`` (a subprocess
container's working directory and the pod's kubeconfig), ``logs/<namespace>_<pod>_<uid>/
<container>/<run>.log`` (the container logs) and ``pids/<pid>.json`` (running processes).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from localcluster.kubelet.lifecycle import DEFAULT_BACKOFF, MAX_BACKOFF

log = logging.getLogger("localcluster.kubelet")

NODE_NAME = "localcluster"
#: At most this long is given to each container to stop when the server stops, whatever its
#: terminationGracePeriodSeconds (``rollouts cluster down`` waits 10 s before killing the server).
SHUTDOWN_GRACE = 5.0


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %g", name, text, default)
        return default
    return max(value, 0.0)


@dataclass(frozen=True)
class KubeletConfig:
    state_dir: Path
    #: seconds from start until a container without readiness probe is ready
    start_delay: float = 0.0
    #: first crash-loop back-off, doubling up to ``max_backoff``
    backoff_base: float = DEFAULT_BACKOFF
    max_backoff: float = MAX_BACKOFF
    shutdown_grace: float = SHUTDOWN_GRACE

    @classmethod
    def from_env(cls, state_dir: Path, environ: Mapping[str, str] | None = None) -> KubeletConfig:
        env = os.environ if environ is None else environ
        return cls(
            state_dir=state_dir,
            start_delay=_seconds(env, "LOCALCLUSTER_POD_START_DELAY", 0.0),
            backoff_base=_seconds(env, "LOCALCLUSTER_RESTART_BACKOFF", DEFAULT_BACKOFF),
        )

    @property
    def root(self) -> Path:
        return self.state_dir / "kubelet"

    @property
    def pods_dir(self) -> Path:
        return self.root / "pods"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def pid_dir(self) -> Path:
        return self.root / "pids"
