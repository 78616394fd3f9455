"""The Events the kubelet (and the scheduler half of it) record about pods, for ``kubectl describe``.

As client-go's recorder: a repeat of the same event (same pod, container, reason and
message) raises the ``count`` of the existing Event instead of making a new one. Repeats
are written at most every :data:`REPEAT_INTERVAL` seconds (a probe failing every second
would otherwise write every second); the count catches up at the next write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import WriteOptions, now_rfc3339
from localcluster.kubelet.config import NODE_NAME

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects

log = logging.getLogger("localcluster.kubelet")

REPEAT_INTERVAL = 10.0


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    uid: str


@dataclass
class _Seen:
    name: str
    count: int
    written: float


#: ``(type, reason, message)`` -> records an Event about one pod (or one of its containers).
Recorder = Callable[[str, str, str], None]


class PodEvents:
    """Writes ``v1`` Events about pods through the object rules."""

    def __init__(self, objects: Objects, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.objects = objects
        self._clock = clock
        self._seen: dict[tuple[str, str, str, str, str], _Seen] = {}

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
        rt = self.objects.registry.lookup("", "v1", "events")
        if rt is None:
            return
        key = (pod.uid, field_path, type_, reason, message)
        now = self._clock()
        stamp = now_rfc3339()
        seen = self._seen.get(key)
        try:
            if seen is not None:
                seen.count += 1
                existing = self.objects.store.get(rt.key, pod.namespace, seen.name)
                if existing is not None:
                    if now - seen.written < REPEAT_INTERVAL:
                        return
                    seen.written = now
                    updated = dict(existing, count=seen.count, lastTimestamp=stamp)
                    self.objects.update(
                        rt, pod.namespace, seen.name, updated, WriteOptions(field_validation="Ignore")
                    )
                    return
            name = f"{pod.name}.{time.time_ns():x}"
            involved = {
                "kind": "Pod",
                "namespace": pod.namespace,
                "name": pod.name,
                "uid": pod.uid,
                "apiVersion": "v1",
            }
            if field_path:
                involved["fieldPath"] = field_path
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": pod.namespace},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "source": {"component": component, "host": NODE_NAME}
                if component == "kubelet"
                else {"component": component},
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "type": type_,
                "reportingComponent": component,
                "reportingInstance": NODE_NAME if component == "kubelet" else "",
            }
            self.objects.create(rt, pod.namespace, event, WriteOptions(field_validation="Ignore"))
        except ApiError as e:
            log.debug("could not record event %s for pod %s/%s: %s", reason, pod.namespace, pod.name, e)
            return
        self._seen[key] = _Seen(name, 1, now)

    def forget(self, uid: str) -> None:
        """Drop what is remembered about a deleted pod's events."""
        for key in [k for k in self._seen if k[0] == uid]:
            del self._seen[key]
