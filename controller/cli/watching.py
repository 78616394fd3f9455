"""Live views driven by watches (list + watch informers), never by polling the API.

:class:`Watched` keeps caches of some kinds in one namespace, each fed by a
:class:`~controller.kube.Informer`, and bumps :attr:`Watched.version` (and sets an event) on
every change, so a view redraws exactly when something changed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from controller.kube import ApiClient, Informer

Obj = dict[str, Any]


class Watched:
    """Informers over some kinds, started on enter and stopped on exit."""

    def __init__(self, informers: Sequence[Informer]) -> None:
        self.informers = list(informers)
        self.version = 0
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        for informer in self.informers:
            informer.add_handler(on_add=self._bump1, on_update=self._bump2, on_delete=self._bump1)

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()

    def _bump1(self, _obj: Obj) -> None:
        self._bump()

    def _bump2(self, _old: Obj, _new: Obj) -> None:
        self._bump()

    async def __aenter__(self) -> Watched:
        self._tasks = [asyncio.create_task(i.run()) for i in self.informers]
        await asyncio.gather(*(i.wait_synced() for i in self.informers))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def changed(self, within: float | None = None) -> bool:
        """Wait for the next change (at most ``within`` seconds); whether one came."""
        try:
            await asyncio.wait_for(self._changed.wait(), within)
        except TimeoutError:
            return False
        self._changed.clear()
        return True


def rollout_informers(
    api: ApiClient, namespace: str, name: str, selector: str | None, *, analysis_runs: bool
) -> tuple[Informer, Informer, Informer, Informer | None]:
    """Informers for one Rollout (by name) and the ReplicaSets, Pods and AnalysisRuns around it."""
    rollouts = Informer(
        api, "argoproj.io/v1alpha1", "rollouts", namespace=namespace, field_selector=f"metadata.name={name}"
    )
    rss = Informer(api, "apps/v1", "replicasets", namespace=namespace, label_selector=selector)
    pods = Informer(api, "v1", "pods", namespace=namespace, label_selector=selector)
    runs = (
        Informer(api, "argoproj.io/v1alpha1", "analysisruns", namespace=namespace) if analysis_runs else None
    )
    return rollouts, rss, pods, runs


def match_labels_selector(rollout: Obj) -> str | None:
    """``spec.selector.matchLabels`` as a label selector (None when there are none)."""
    labels = ((rollout.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None
