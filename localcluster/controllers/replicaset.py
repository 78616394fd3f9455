"""ReplicaSetController: not written yet (placeholder so the server's wiring is complete)."""

from __future__ import annotations

from localcluster.controllers.base import Controller


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    watches = ("apps/replicasets",)

    async def reconcile(self, key: str) -> float | None:
        return None
