"""The settings of one demo run, and where the project's files are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: the checkout: playbooks/, roles/, demos/ live here (the demo runs from a checkout)
ROOT = Path(__file__).resolve().parents[2]
DEMOS = ROOT / "demos"
LOCALCLUSTER = "localcluster"

#: the seed's demo app, as the demo_app and rollouts_migrate roles deploy it
NAMESPACE = "services"
ROLLOUT = "tracing-demo-frontend"
CONTAINER = "frontend"
SERVICE = "frontend-service"
SELECTOR = "app=frontend"
IMAGE = "argoproj/rollouts-demo"
#: the seed's observation window
DEFAULT_PAUSE = "2m"


@dataclass(frozen=True)
class DemoOptions:
    """What ``invoke demo`` / ``python -m controller.demo`` was asked for."""

    scenario: str
    #: the pause (observation window) in seconds, and as written (``2m``)
    pause: float = 120.0
    pause_text: str = DEFAULT_PAUSE
    #: ``localcluster`` (started by the demo) or a context of the kubeconfig
    context: str = LOCALCLUSTER
    kubeconfig: str | None = None
    #: localcluster's state directory (None: its default, or $LOCALCLUSTER_STATE_DIR)
    state_dir: Path | None = None
    narration: bool = True
    keep: bool = False
    report: Path | None = None
    auto_promote_after: float | None = None
    prometheus_url: str | None = None
    #: requests per second of the demo's own load test
    rps: float = 20.0
    #: draw the live view (None: when the output is a terminal)
    live: bool | None = None
    #: where the demo keeps its logs and the gitops repository (None: next to the cluster's state)
    work_dir: Path | None = None

    @property
    def local(self) -> bool:
        return self.context == LOCALCLUSTER

    def work_path(self) -> Path:
        """The demo's own files: logs, the gitops repository and its checkout."""
        if self.work_dir is not None:
            return self.work_dir
        if self.state_dir is not None:
            return self.state_dir / "demo" / self.scenario
        env_state = os.environ.get("LOCALCLUSTER_STATE_DIR")
        if env_state and self.local:
            return Path(env_state) / "demo" / self.scenario
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        return base / "rollouts" / "demo" / self.scenario
