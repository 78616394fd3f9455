"""Kubernetes Events written by localcluster's components, the way client-go's recorder does.

One recorder per component (``replicaset-controller``, ``kubelet``, ...). A repeat of the same
event (same object, field path, type, reason and message) raises the ``count`` and
``lastTimestamp`` of the existing Event instead of creating another; with a ``repeat_interval``
repeats are written at most that often (a probe failing every second would otherwise write
every second) and the count catches up at the next write. Events are best effort: a failure
(a namespace being deleted, say) is logged, never raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import WriteOptions, now_rfc3339

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects

log = logging.getLogger("localcluster.events")


def involved_object(obj: Mapping[str, Any], *, field_path: str = "") -> dict[str, Any]:
    """The ``involvedObject`` reference of an Event about ``obj``."""
    meta = obj["metadata"]
    ref: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "uid": meta.get("uid"),
    }
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


@dataclass
class _Seen:
    name: str
    count: int
    written: float


class EventRecorder:
    """Writes ``v1`` Events for one component through the object rules."""

    def __init__(
        self,
        objects: Objects,
        component: str,
        *,
        host: str = "",
        repeat_interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.objects = objects
        self.component = component
        self.host = host
        self.repeat_interval = repeat_interval
        self._clock = clock
        self._seen: dict[tuple[str, str, str, str, str], _Seen] = {}

    def record(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Record an Event of ``type_`` (Normal or Warning) about ``obj``."""
        self.record_about(involved_object(obj), type_, reason, message)

    def record_about(self, involved: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Record an Event about the object ``involved`` refers to."""
        rt = self.objects.registry.lookup("", "v1", "events")
        if rt is None:
            return
        namespace = str(involved.get("namespace") or "default")
        key = (str(involved.get("uid")), str(involved.get("fieldPath", "")), type_, reason, message)
        now = self._clock()
        stamp = now_rfc3339()
        options = WriteOptions(manager=self.component, field_validation="Ignore")
        seen = self._seen.get(key)
        try:
            if seen is not None:
                seen.count += 1
                existing = self.objects.store.get(rt.key, namespace, seen.name)
                if existing is not None:
                    if now - seen.written < self.repeat_interval:
                        return
                    seen.written = now
                    updated = dict(existing, count=seen.count, lastTimestamp=stamp)
                    self.objects.update(rt, namespace, seen.name, updated, options)
                    return
            name = f"{involved['name']}.{time.time_ns():x}"
            source: dict[str, str] = {"component": self.component}
            if self.host:
                source["host"] = self.host
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": dict(involved),
                "reason": reason,
                "message": message,
                "source": source,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "type": type_,
                "reportingComponent": self.component,
                "reportingInstance": self.host,
            }
            self.objects.create(rt, namespace, event, options)
        except ApiError as e:
            log.debug(
                "%s: event %s about %s not recorded: %s", self.component, reason, involved.get("name"), e
            )
            return
        if len(self._seen) > 4096:
            self._seen.clear()
        self._seen[key] = _Seen(name, 1, now)

    def forget(self, uid: str) -> None:
        """Drop what is remembered about a deleted object's events."""
        for key in [k for k in self._seen if k[0] == uid]:
            del self._seen[key]
