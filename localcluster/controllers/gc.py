"""Garbage collection and namespace termination, as kube-controller-manager does them.

- An object whose owners (``metadata.ownerReferences``) are all gone is deleted; owner
  references to deleted owners are dropped when other owners remain.
- Foreground deletion: an owner with the ``foregroundDeletion`` finalizer waits until its
  dependents are gone (they are deleted first), then the finalizer is removed.
- Orphan deletion: dependents lose their reference to an owner with the ``orphan``
  finalizer, then the finalizer is removed.
- A namespace being deleted has its contents deleted; once it is empty it goes too.
- Events last seen more than an hour ago are deleted (the API server's ``--event-ttl``).

Runs inside the server process on the store's change feed, driven by what changed, as the
real collector's graph is: a deletion looks at the deleted object's dependents (the store
indexes them by owner uid), its owners (one may be waiting in foreground deletion) and its
namespace (it may be terminating); a new or changed owner reference looks at that object and
its owners; an object given a deletion finalizer looks at its dependents. On start, when the
served kinds change (a CRD) or the change feed overflowed, and every :data:`SWEEP_INTERVAL` as
a safety net, it sweeps everything, so what a crash interrupted is finished.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.registry import ResourceType
from localcluster.store import Event, EventQueue, Obj

log = logging.getLogger("localcluster.gc")

#: How long an Event is kept after it was last seen (the real API server's default --event-ttl).
EVENT_TTL = 3600.0
#: Seconds between full sweeps; changes drive the collector, the sweep only backs it up.
SWEEP_INTERVAL = 300.0
#: Seconds before work whose write failed is tried again.
RETRY_DELAY = 1.0
CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
NAMESPACE_KEY = "/namespaces"

#: An object's place in the store: (resource key, namespace, name).
StoreKey = tuple[str, str, str]


def _refs(obj: Obj | None) -> list[dict[str, Any]]:
    if obj is None:
        return []
    refs = obj["metadata"].get("ownerReferences") or []
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def _key(resource: str, obj: Obj) -> StoreKey:
    meta = obj["metadata"]
    return (resource, str(meta.get("namespace", "")), str(meta["name"]))


class GarbageCollector:
    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.store = objects.store
        # Work the changes seen so far call for, done in the next pass.
        self._dependents: set[StoreKey] = set()  # check that their owners still exist
        self._owners: set[StoreKey] = set()  # being deleted with orphan / foregroundDeletion
        self._namespaces: set[str] = set()  # being deleted: empty them
        self._full = False  # sweep everything
        self._retry_at: float | None = None  # loop time of the next retry of failed work
        self._failed: tuple[set[StoreKey], set[StoreKey]] = (set(), set())

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

    def _owner_rt(self, ref: dict[str, Any]) -> ResourceType | None:
        return self.objects.registry.by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))

    def _owner_key(self, ref: dict[str, Any], namespace: str) -> StoreKey | None:
        rt = self._owner_rt(ref)
        if rt is None:
            return None
        return (rt.key, namespace if rt.namespaced else "", str(ref.get("name", "")))

    def _owner_state(self, ref: Any, namespace: str) -> str:
        """ "live", "gone" or "unknown" (a kind this server does not serve: never collect for it).

        As the real garbage collector, the owner is looked up by kind, name and (for namespaced
        kinds) the dependent's namespace, and must have the uid the reference names.
        """
        if not isinstance(ref, dict):
            return "unknown"
        key = self._owner_key(ref, namespace)
        if key is None:
            return "unknown"
        owner = self.store.get(*key)
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return "gone"
        return "live"

    # -- what a change calls for ------------------------------------------------------------------

    def note(self, event: Event) -> None:
        """Record the work ``event`` may call for (done by the next :meth:`work`)."""
        if event.resource == CRD_KEY:
            # The kinds served changed: references to a kind unknown until now can be judged.
            self._full = True
        meta = event.obj["metadata"]
        namespace = str(meta.get("namespace", ""))
        refs = _refs(event.obj)
        if event.resource == NAMESPACE_KEY and meta.get("deletionTimestamp") and event.type != "DELETED":
            self._namespaces.add(str(meta["name"]))
        if event.type == "DELETED":
            for resource, dependent in self.store.dependents(str(meta.get("uid"))):
                self._dependents.add(_key(resource, dependent))
            self._note_owners(refs, namespace)  # one may wait for this object (foreground)
            if namespace and self._terminating(namespace):
                self._namespaces.add(namespace)
            return
        prev_refs = _refs(event.prev)
        if refs and (event.type == "ADDED" or refs != prev_refs):
            self._dependents.add(_key(event.resource, event.obj))
            self._note_owners(refs, namespace)  # a new dependent of an owner being deleted
        if prev_refs and refs != prev_refs:
            self._note_owners(prev_refs, namespace)  # an owner may wait for it no more
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and ("orphan" in finalizers or "foregroundDeletion" in finalizers):
            self._owners.add(_key(event.resource, event.obj))

    def _note_owners(self, refs: list[dict[str, Any]], namespace: str) -> None:
        for ref in refs:
            key = self._owner_key(ref, namespace)
            if key is not None:
                self._owners.add(key)

    def _terminating(self, namespace: str) -> bool:
        ns = self.store.get(NAMESPACE_KEY, "", namespace)
        return ns is not None and bool(ns["metadata"].get("deletionTimestamp"))

    @property
    def pending(self) -> bool:
        return bool(self._full or self._dependents or self._owners or self._namespaces)

    def work(self) -> None:
        """Do the work recorded so far (a full sweep when one is due)."""
        if self._full:
            self._full = False
            self._dependents.clear()
            self._owners.clear()
            self._namespaces.clear()
            self._safe_sweep()
            return
        dependents, self._dependents = self._dependents, set()
        owners, self._owners = self._owners, set()
        namespaces, self._namespaces = self._namespaces, set()
        failed_dependents: set[StoreKey] = set()
        failed_owners: set[StoreKey] = set()
        types = self._types()
        for key in sorted(dependents):
            rt = types.get(key[0])
            obj = self.store.get(*key)
            if rt is not None and obj is not None and not self._safely(self._collect, rt, obj, types):
                failed_dependents.add(key)
        for key in sorted(owners):
            rt = types.get(key[0])
            obj = self.store.get(*key)
            if rt is not None and obj is not None and not self._safely(self._finish_owner, rt, obj, types):
                failed_owners.add(key)
        for name in sorted(namespaces):
            try:
                self._terminate_namespace(name, types)
            except Exception:
                log.exception("terminating namespace %s failed", name)
        if failed_dependents or failed_owners:
            self._failed[0].update(failed_dependents)
            self._failed[1].update(failed_owners)

    def retry_failed(self) -> None:
        """Queue again the work whose writes failed."""
        self._dependents.update(self._failed[0])
        self._owners.update(self._failed[1])
        self._failed = (set(), set())

    @property
    def has_failed(self) -> bool:
        return bool(self._failed[0] or self._failed[1])

    # -- the full sweep ---------------------------------------------------------------------------

    def sweep(self) -> None:
        """One pass over everything; each pass makes progress, and changes drive the rest."""
        types = self._types()
        for rt, obj in list(self._all()):
            if _refs(obj) and not self._safely(self._collect, rt, obj, types):
                self._failed[0].add(_key(rt.key, obj))
        for rt, obj in list(self._all()):
            if obj["metadata"].get("deletionTimestamp"):
                current = self.store.get(*_key(rt.key, obj))
                if current is not None and not self._safely(self._finish_owner, rt, current, types):
                    self._failed[1].add(_key(rt.key, obj))
        for ns in self.store.list(NAMESPACE_KEY):
            if ns["metadata"].get("deletionTimestamp"):
                self._terminate_namespace(str(ns["metadata"]["name"]), types)

    def _safely(
        self,
        rule: Callable[[ResourceType, Obj, dict[str, ResourceType]], bool],
        rt: ResourceType,
        obj: Obj,
        types: dict[str, ResourceType],
    ) -> bool:
        """Apply ``rule``; False (try again later) when it failed, logging what was unexpected."""
        try:
            return rule(rt, obj, types)
        except Exception:
            log.exception("garbage collection of %s %s failed", rt.kind, obj["metadata"].get("name"))
            return False

    # -- the rules --------------------------------------------------------------------------------

    def _finish_owner(self, rt: ResourceType, obj: Obj, types: dict[str, ResourceType]) -> bool:
        """Orphan or delete the dependents of ``obj`` (being deleted) as its finalizers ask, and
        remove the finalizer once done. False when a write failed (try again later)."""
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp"):
            return True
        finalizers = meta.get("finalizers") or []
        uid = str(meta["uid"])
        dependents = [(types.get(r), d) for r, d in self.store.dependents(uid)]
        known = [(dep_rt, dep) for dep_rt, dep in dependents if dep_rt is not None]
        if "orphan" in finalizers:
            orphaned = [self._drop_owner(dep_rt, dep, {uid}) for dep_rt, dep in known]
            if not all(orphaned):  # keep the finalizer and retry: never lose a dependent
                return False
            self._finalize(rt, obj, "orphan")
        elif "foregroundDeletion" in finalizers:
            ok = True
            for dep_rt, dep in known:
                ok = self._delete(dep_rt, dep, "Foreground") and ok
            if not [d for d in known if self._exists(*d)]:
                self._finalize(rt, obj, "foregroundDeletion")
            return ok
        return True

    def _exists(self, rt: ResourceType, obj: Obj) -> bool:
        meta = obj["metadata"]
        current = self.store.get(rt.key, str(meta.get("namespace", "")), str(meta["name"]))
        return current is not None and current["metadata"].get("uid") == meta.get("uid")

    def _collect(self, rt: ResourceType, obj: Obj, types: dict[str, ResourceType]) -> bool:
        """Delete ``obj`` when its owners are all gone, or drop the references to those gone.
        False when a write failed (try again later)."""
        refs = _refs(obj)
        namespace = str(obj["metadata"].get("namespace", ""))
        states = [(ref, self._owner_state(ref, namespace)) for ref in refs]
        gone = {str(ref.get("uid")) for ref, state in states if state == "gone"}
        if not gone:
            return True
        if all(state == "gone" for _, state in states):
            return self._delete(rt, obj, "Background")
        return self._drop_owner(rt, obj, gone)

    def _delete(self, rt: ResourceType, obj: Obj, propagation: str) -> bool:
        """Delete ``obj`` (unless it is being deleted already); False when that failed."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return True
        try:
            self.objects.delete(
                rt, str(meta.get("namespace", "")), str(meta["name"]), propagation=propagation
            )
        except ApiError as e:
            if e.code != 404:
                log.warning("could not delete %s %s: %s", rt.kind, meta.get("name"), e.message)
                return False
        return True

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

    def _terminate_namespace(self, name: str, types: dict[str, ResourceType]) -> None:
        ns = self.store.get(NAMESPACE_KEY, "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        namespaced = [rt for rt in types.values() if rt.namespaced]
        for rt in namespaced:
            for obj in self.store.list(rt.key, name):
                self._delete(rt, obj, "Background")
        # Objects with finalizers stay until their owners' controllers let them go, and so does
        # a namespace with finalizers of its own.
        empty = not any(self.store.any_in(rt.key, name) for rt in namespaced)
        if empty and not ns["metadata"].get("finalizers"):
            self.store.delete(NAMESPACE_KEY, "", name)

    def _safe_sweep(self) -> None:
        """A sweep that logs instead of stopping the collector: one bad object must not halt GC."""
        started = time.perf_counter()
        try:
            self.sweep()
        except Exception:
            log.exception("garbage collection sweep failed; retrying on the next change")
        log.debug("full garbage collection sweep: %.1f ms", 1000 * (time.perf_counter() - started))

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
        """Sweep on start, then work through what changes call for; expire old Events every
        minute; sweep everything every SWEEP_INTERVAL."""
        queue = EventQueue(self.store)
        loop = asyncio.get_running_loop()
        next_expiry = loop.time()
        next_sweep = loop.time() + SWEEP_INTERVAL
        try:
            self._safe_sweep()
            while True:
                now = loop.time()
                if now >= next_expiry:
                    try:
                        self.expire_events()
                    except Exception:
                        log.exception("expiring Events failed")
                    next_expiry = loop.time() + 60
                if now >= next_sweep:
                    self._full = True
                    next_sweep = now + SWEEP_INTERVAL
                if self.has_failed and self._retry_at is None:
                    self._retry_at = now + RETRY_DELAY
                if self._retry_at is not None and now >= self._retry_at:
                    self._retry_at = None
                    self.retry_failed()
                if self.pending:
                    # Let a burst of changes settle into one pass.
                    await asyncio.sleep(0.01)
                    queue = self._take(queue)
                    self.work()
                    continue
                deadline = min(next_expiry, next_sweep, self._retry_at or next_sweep)
                try:
                    # Not wait_for: on Python 3.11 it can swallow a cancellation that comes as
                    # the event does, and the collector would outlive the server's shutdown.
                    async with asyncio.timeout(max(0.0, deadline - loop.time())):
                        event = await queue.get()
                except TimeoutError:
                    continue
                if event is None:
                    queue = EventQueue(self.store)
                    self._full = True
                else:
                    self.note(event)
                    queue = self._take(queue)
        finally:
            queue.close()

    def _take(self, queue: EventQueue) -> EventQueue:
        """Note every change queued; a new queue (and a full sweep) when the old one overflowed."""
        while True:
            event = queue.get_nowait()
            if event is False:
                return queue
            if event is None:
                queue.close()
                self._full = True
                return EventQueue(self.store)
            self.note(event)
