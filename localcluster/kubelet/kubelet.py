"""Kubelet: not written yet (placeholder so the server's wiring is complete)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from localcluster.controllers.base import Controller

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects


class Kubelet(Controller):
    name = "kubelet"
    watches = ("/pods",)

    def __init__(self, objects: Objects, *, state_dir: Path) -> None:
        super().__init__(objects)
        self.state_dir = state_dir

    async def reconcile(self, key: str) -> float | None:
        return None
