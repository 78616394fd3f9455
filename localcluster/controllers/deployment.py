"""DeploymentController: not written yet (placeholder so the server's wiring is complete)."""

from __future__ import annotations

from localcluster.controllers.base import Controller


class DeploymentController(Controller):
    name = "deployment-controller"
    watches = ("apps/deployments",)

    async def reconcile(self, key: str) -> float | None:
        return None
