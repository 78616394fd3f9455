"""Garbage collection and namespace termination, as kube-controller-manager does them.

- An object whose owners (``metadata.ownerReferences``) are all gone is deleted; owner
  references to deleted owners are dropped when other owners remain.
- Foreground deletion: an owner with the ``foregroundDeletion`` finalizer waits until its
  dependents are gone (they are deleted first), then the finalizer is removed.
- Orphan deletion: dependents lose their reference to an owner with the ``orphan``
  finalizer, then the finalizer is removed.
- A namespace being deleted has its contents deleted; once it is empty it goes too.
- Events last seen more than an hour ago are deleted (the API server's ``--event-ttl``).

Runs inside the server process on the store's change feed. On start it sweeps everything,
so what a crash interrupted is finished.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
import time
from collections.abc import Iterable
from typing import Any

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.registry import ResourceType
from localcluster.store import Event, EventQueue, Obj

log = logging.getLogger("localcluster.gc")

#: How long an Event is kept after it was last seen (the real API server's default --event-ttl).
EVENT_TTL = 3600.0


class GarbageCollector:
    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.store = objects.store

    def _types(self) -> dict[str, ResourceType]:
        out: dict[str, ResourceType] = {}
        for key in {rt.key for rt in self.objects.registry.all()}:
            rt = self.objects.registry.storage_type(key)
            if rt is not None:
                out[key] = rt
        return out

    def _all(self) -> Iterable[tuple[ResourceType, Obj]]:
        for key, rt in self._types().items():
            for obj in self.store.list(key):
                yield rt, obj

    def _owner_state(self, ref: Any, namespace: str) -> str:
        """ "live", "gone" or "unknown" (a kind this server does not serve: never collect for it).

        As the real garbage collector, the owner is looked up by kind, name and (for namespaced
        kinds) the dependent's namespace, and must have the uid the reference names.
        """
        if not isinstance(ref, dict):
            return "unknown"
        rt = self.objects.registry.by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        if rt is None:
            return "unknown"
        owner = self.store.get(rt.key, namespace if rt.namespaced else "", str(ref.get("name", "")))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return "gone"
        return "live"

    def sweep(self) -> None:
        """One pass over everything; each pass makes progress, and events trigger the next."""
        dependents: dict[str, list[tuple[ResourceType, Obj]]] = {}
        for rt, obj in list(self._all()):
            refs = obj["metadata"].get("ownerReferences") or []
            if not isinstance(refs, list):
                continue
            for ref in refs:
                if isinstance(ref, dict):
                    dependents.setdefault(str(ref.get("uid")), []).append((rt, obj))
            if refs:
                try:
                    self._collect(rt, obj)
                except Exception:
                    log.exception("garbage collection of %s %s failed", rt.kind, obj["metadata"].get("name"))
        for rt, obj in list(self._all()):
            finalizers = obj["metadata"].get("finalizers") or []
            if not obj["metadata"].get("deletionTimestamp"):
                continue
            uid = str(obj["metadata"]["uid"])
            if "orphan" in finalizers:
                orphaned = [self._drop_owner(dep_rt, dep, {uid}) for dep_rt, dep in dependents.get(uid, [])]
                if all(orphaned):  # otherwise keep the finalizer and retry: never lose a dependent
                    self._finalize(rt, obj, "orphan")
            elif "foregroundDeletion" in finalizers:
                waiting = [d for d in dependents.get(uid, []) if self._exists(*d)]
                for dep_rt, dep in waiting:
                    self._delete(dep_rt, dep, "Foreground")
                if not [d for d in waiting if self._exists(*d)]:
                    self._finalize(rt, obj, "foregroundDeletion")
        self._terminate_namespaces()

    def _exists(self, rt: ResourceType, obj: Obj) -> bool:
        meta = obj["metadata"]
        current = self.store.get(rt.key, str(meta.get("namespace", "")), str(meta["name"]))
        return current is not None and current["metadata"].get("uid") == meta.get("uid")

    def _collect(self, rt: ResourceType, obj: Obj) -> None:
        refs = obj["metadata"].get("ownerReferences") or []
        namespace = str(obj["metadata"].get("namespace", ""))
        states = [(ref, self._owner_state(ref, namespace)) for ref in refs]
        gone = {str(ref.get("uid")) for ref, state in states if state == "gone"}
        if not gone:
            return
        if all(state == "gone" for _, state in states):
            self._delete(rt, obj, "Background")
        else:
            self._drop_owner(rt, obj, gone)

    def _delete(self, rt: ResourceType, obj: Obj, propagation: str) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        try:
            self.objects.delete(
                rt, str(meta.get("namespace", "")), str(meta["name"]), propagation=propagation
            )
        except ApiError as e:
            if e.code != 404:
                log.warning("could not delete %s %s: %s", rt.kind, meta.get("name"), e.message)

    def _drop_owner(self, rt: ResourceType, obj: Obj, uids: set[str]) -> bool:
        """Remove the references to ``uids``; False when the write failed (it is retried later)."""
        meta = obj["metadata"]
        current = self.store.get(rt.key, str(meta.get("namespace", "")), str(meta["name"]))
        if current is None:
            return True
        new = copy.deepcopy(current)
        refs = [r for r in new["metadata"].get("ownerReferences") or [] if str(r.get("uid")) not in uids]
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        try:
            self.objects.update(
                rt,
                str(meta.get("namespace", "")),
                str(meta["name"]),
                new,
                WriteOptions(manager="garbage-collector", field_validation="Ignore"),
            )
        except ApiError as e:
            log.warning("could not drop owner references of %s %s: %s", rt.kind, meta.get("name"), e.message)
            return False
        return True

    def _finalize(self, rt: ResourceType, obj: Obj, finalizer: str) -> None:
        try:
            self.objects.remove_finalizer(rt, obj, finalizer)
        except ApiError as e:
            log.warning(
                "could not remove finalizer %s of %s: %s", finalizer, obj["metadata"].get("name"), e.message
            )

    def _terminate_namespaces(self) -> None:
        for ns in self.store.list("/namespaces"):
            if not ns["metadata"].get("deletionTimestamp"):
                continue
            name = str(ns["metadata"]["name"])
            namespaced = [rt for rt in self._types().values() if rt.namespaced]
            for rt in namespaced:
                for obj in self.store.list(rt.key, name):
                    self._delete(rt, obj, "Background")
            # Objects with finalizers stay until their owners' controllers let them go, and so does
            # a namespace with finalizers of its own.
            empty = not any(self.store.list(rt.key, name) for rt in namespaced)
            if empty and not ns["metadata"].get("finalizers"):
                self.store.delete("/namespaces", "", name)

    def _safe_sweep(self) -> None:
        """A sweep that logs instead of stopping the collector: one bad object must not halt GC."""
        try:
            self.sweep()
        except Exception:
            log.exception("garbage collection sweep failed; retrying on the next change")

    def expire_events(self, now: float | None = None) -> int:
        """Delete Events last seen more than EVENT_TTL ago, as the real API server does; returns how many."""
        cutoff = (time.time() if now is None else now) - EVENT_TTL
        expired = 0
        for event in self.store.list("/events"):
            stamp = (
                event.get("lastTimestamp")
                or event.get("eventTime")
                or event["metadata"].get("creationTimestamp")
            )
            try:
                seen = datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            if seen < cutoff:
                self.store.delete(
                    "/events", str(event["metadata"].get("namespace", "")), str(event["metadata"]["name"])
                )
                expired += 1
        return expired

    async def run(self) -> None:
        """Sweep on start, then after every batch of changes; expire old Events every minute."""
        queue = EventQueue(self.store)
        loop = asyncio.get_running_loop()
        next_expiry = loop.time()
        try:
            self._safe_sweep()
            while True:
                if loop.time() >= next_expiry:
                    try:
                        self.expire_events()
                    except Exception:
                        log.exception("expiring Events failed")
                    next_expiry = loop.time() + 60
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=max(0.0, next_expiry - loop.time()))
                except TimeoutError:
                    continue
                if event is None:
                    queue = EventQueue(self.store)
                elif not _relevant(event):
                    continue
                # Let a burst of changes settle into one pass.
                await asyncio.sleep(0.01)
                if not queue.drain():
                    queue = EventQueue(self.store)
                self._safe_sweep()
        finally:
            queue.close()


def _relevant(event: Event) -> bool:
    meta = event.obj["metadata"]
    return (
        event.type == "DELETED"
        or bool(meta.get("deletionTimestamp"))
        or bool(meta.get("ownerReferences"))
        or event.resource == "/namespaces"
    )
