"""EndpointsController: not written yet (placeholder so the server's wiring is complete)."""

from __future__ import annotations

from localcluster.controllers.base import Controller


class EndpointsController(Controller):
    name = "endpoints-controller"
    watches = ("/services",)

    async def reconcile(self, key: str) -> float | None:
        return None
