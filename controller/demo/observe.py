"""Watching one Rollout during a demo: caches fed by list + watch, never by polling.

:class:`Observer` keeps the Rollout, its ReplicaSets, Pods and AnalysisRuns in informer
caches, turns each change of the Rollout into timeline markers, and lets the scenario wait
until something holds (:meth:`Observer.until`), re-checking on every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from controller.cli import render
from controller.cli.info import HASH_LABEL, RolloutInfo, rollout_info
from controller.core.phase import rollout_phase
from controller.demo.timeline import Marker, rollout_markers
from controller.kube import ApiClient, Informer

Obj = dict[str, Any]
T = TypeVar("T")


class OutcomeError(Exception):
    """The demo did not go as it should: the message says what was expected and what happened."""


class Observer:
    """Informer caches over one Rollout and what it owns, with change notifications."""

    def __init__(
        self,
        api: ApiClient,
        namespace: str,
        name: str,
        *,
        selector: str | None,
        clock: Callable[[], float],
        on_marker: Callable[[Marker], None],
    ) -> None:
        self.namespace, self.name = namespace, name
        self.clock = clock
        self.on_marker = on_marker
        self.rollouts = Informer(
            api,
            "argoproj.io/v1alpha1",
            "rollouts",
            namespace=namespace,
            field_selector=f"metadata.name={name}",
        )
        self.replica_sets = Informer(
            api, "apps/v1", "replicasets", namespace=namespace, label_selector=selector
        )
        self.pods = Informer(api, "v1", "pods", namespace=namespace, label_selector=selector)
        self.runs = Informer(api, "argoproj.io/v1alpha1", "analysisruns", namespace=namespace)
        self.version = 0
        self._waiters: set[asyncio.Event] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.rollouts.add_handler(
            on_add=self._rollout_added, on_update=self._rollout_changed, on_delete=self._bump
        )
        for informer in (self.replica_sets, self.pods, self.runs):
            informer.add_handler(on_add=self._bump, on_update=self._bump2, on_delete=self._bump)

    # -- change feed ---------------------------------------------------------------------------

    def _notify(self) -> None:
        self.version += 1
        for waiter in self._waiters:
            waiter.set()

    def _bump(self, _obj: Obj) -> None:
        self._notify()

    def _bump2(self, _old: Obj, _new: Obj) -> None:
        self._notify()

    def _rollout_added(self, obj: Obj) -> None:
        self._notify()

    def _rollout_changed(self, old: Obj, new: Obj) -> None:
        for marker in rollout_markers(old, new, self.clock(), version_of=self.version_of):
            self.on_marker(marker)
        self._notify()

    async def changed(self, within: float) -> bool:
        """Wait for the next change, at most ``within`` seconds; whether one came.

        ``asyncio.wait`` rather than ``wait_for``: on Python 3.11, ``wait_for`` can swallow a
        cancellation that arrives as the wait ends, and the live view would never stop.
        """
        event = asyncio.Event()
        self._waiters.add(event)
        waiter = asyncio.ensure_future(event.wait())
        try:
            done, _ = await asyncio.wait({waiter}, timeout=within)
        finally:
            waiter.cancel()
            self._waiters.discard(event)
        return bool(done)

    async def __aenter__(self) -> Observer:
        informers = (self.rollouts, self.replica_sets, self.pods, self.runs)
        self._tasks = [asyncio.create_task(i.run()) for i in informers]
        await asyncio.wait_for(asyncio.gather(*(i.wait_synced() for i in informers)), 30)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- reading -------------------------------------------------------------------------------

    def rollout(self) -> Obj:
        """The Rollout as last seen; OutcomeError when it does not exist."""
        items = self.rollouts.objects()
        if not items:
            raise OutcomeError(f"the Rollout {self.namespace}/{self.name} does not exist (any more)")
        return items[0]

    def status(self) -> Obj:
        return dict(self.rollout().get("status") or {})

    def phase(self) -> tuple[str, str]:
        return rollout_phase(self.rollout())

    def info(self) -> RolloutInfo:
        return rollout_info(
            self.rollout(), self.replica_sets.objects(), self.pods.objects(), self.runs.objects()
        )

    def tree(self, *, now: datetime | None = None) -> str:
        """``rollouts get rollout`` as plain text."""
        return render.plain(self.tree_lines(now=now))

    def tree_lines(self, *, now: datetime | None = None) -> list[render.Line]:
        return render.rollout_lines(self.info(), now or datetime.now(UTC))

    def owned_replica_sets(self) -> dict[str, Obj]:
        """The Rollout's ReplicaSets by pod-template hash (a Deployment's own are left out)."""
        uid = (self.rollout().get("metadata") or {}).get("uid")
        out: dict[str, Obj] = {}
        for rs in self.replica_sets.objects():
            meta = rs.get("metadata") or {}
            owners = meta.get("ownerReferences") or []
            if any(o.get("uid") == uid for o in owners) and HASH_LABEL in (meta.get("labels") or {}):
                out[str(meta["labels"][HASH_LABEL])] = rs
        return out

    def counts(self) -> dict[str, tuple[int, int]]:
        """``pod hash -> (desired pods, available pods)`` of the Rollout's ReplicaSets."""
        return {
            h: (
                int((rs.get("spec") or {}).get("replicas") or 0),
                int((rs.get("status") or {}).get("availableReplicas") or 0),
            )
            for h, rs in self.owned_replica_sets().items()
        }

    def image_of(self, pod_hash: str) -> str:
        rs = self.owned_replica_sets().get(pod_hash) or {}
        containers = (((rs.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or []
        return str(containers[0].get("image") or "") if containers else ""

    def version_of(self, pod_hash: str) -> str:
        """The version a revision runs (its image's tag), else its pod-template hash."""
        try:
            return self.image_of(pod_hash).rpartition(":")[2] or pod_hash
        except OutcomeError:
            return pod_hash

    def runs_of(self, pod_hash: str) -> list[Obj]:
        """AnalysisRuns of one revision, oldest first."""
        runs = [
            r
            for r in self.runs.objects()
            if ((r.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL) == pod_hash
        ]
        return sorted(runs, key=lambda r: str((r.get("metadata") or {}).get("creationTimestamp") or ""))

    def describe(self) -> str:
        """One line on where the Rollout is: phase, message, step, pods per revision."""
        try:
            rollout = self.rollout()
        except OutcomeError as e:
            return str(e)
        phase, message = rollout_phase(rollout)
        status = rollout.get("status") or {}
        info = self.info()
        pods = ", ".join(
            f"{self.image_of(h).rpartition(':')[2] or h} {avail}/{spec}"
            for h, (spec, avail) in self.counts().items()
            if spec
        )
        step = f", step {info.step}" if info.step else ""
        weight = f", weight {info.actual_weight}" if info.actual_weight else ""
        why = f" ({message})" if message else ""
        aborted = ", aborted" if status.get("abort") else ""
        return f"{phase}{why}{step}{weight}{aborted}; pods {pods or 'none'}"

    # -- waiting -------------------------------------------------------------------------------

    async def until(
        self, check: Callable[[], T | None] | Callable[[], Awaitable[T | None]], what: str, within: float
    ) -> T:
        """Re-check ``check`` on every change (and every second) until it returns a value.

        OutcomeError after ``within`` seconds, naming ``what`` and where the Rollout is.
        """
        deadline = time.monotonic() + within
        while True:
            try:
                value = check()
                if asyncio.iscoroutine(value):
                    value = await value
            except OutcomeError:
                value = None
            if value is not None and value is not False:
                return value  # type: ignore[return-value]
            left = deadline - time.monotonic()
            if left <= 0:
                raise OutcomeError(
                    f"timed out after {within:g}s waiting for {what}; the Rollout is {self.describe()}"
                )
            await self.changed(min(left, 1.0))
