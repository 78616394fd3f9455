"""JobController: not written yet (placeholder so the server's wiring is complete)."""

from __future__ import annotations

from localcluster.controllers.base import Controller


class JobController(Controller):
    name = "job-controller"
    watches = ("batch/jobs",)

    async def reconcile(self, key: str) -> float | None:
        return None
