"""The Events the kubelet (and the scheduler half of it) record about pods, for ``kubectl describe``.

As client-go's recorder: a repeat of the same event (same pod, container, reason and
message) raises the ``count`` of the existing Event instead of making a new one. Repeats
are written at most every :data:`REPEAT_INTERVAL` seconds (a probe failing every second
would otherwise write every second); the count catches up at the next write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from localcluster.controllers.events import EventRecorder
from localcluster.kubelet.config import NODE_NAME

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects

REPEAT_INTERVAL = 10.0


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    uid: str


#: ``(type, reason, message)`` -> records an Event about one pod (or one of its containers).
Recorder = Callable[[str, str, str], None]


class PodEvents:
    """Events about pods from the kubelet and the scheduler half of it (the shared recorder)."""

    def __init__(self, objects: Objects, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._recorders = {
            "kubelet": EventRecorder(
                objects, "kubelet", host=NODE_NAME, repeat_interval=REPEAT_INTERVAL, clock=clock
            ),
            "default-scheduler": EventRecorder(
                objects, "default-scheduler", repeat_interval=REPEAT_INTERVAL, clock=clock
            ),
        }

    def for_container(self, pod: PodRef, container: str) -> Recorder:
        """A recorder of events about one container of ``pod``."""
        field_path = f"spec.containers{{{container}}}"
        return lambda type_, reason, message: self.record(pod, type_, reason, message, field_path=field_path)

    def record(
        self,
        pod: PodRef,
        type_: str,
        reason: str,
        message: str,
        *,
        field_path: str = "",
        component: str = "kubelet",
    ) -> None:
        """Record one occurrence; failures (e.g. a namespace being deleted) are only logged."""
        involved = {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": pod.namespace,
            "name": pod.name,
            "uid": pod.uid,
        }
        if field_path:
            involved["fieldPath"] = field_path
        self._recorders[component].record_about(involved, type_, reason, message)

    def forget(self, uid: str) -> None:
        """Drop what is remembered about a deleted pod's events."""
        for recorder in self._recorders.values():
            recorder.forget(uid)
