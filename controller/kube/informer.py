"""A per-kind cache fed by list + watch, holding raw JSON dicts (as client-go's informer).

:meth:`Informer.run` lists the collection (page by page), replaces the cache with the result,
then watches from the list's resourceVersion and applies each event. When the stream ends (its
``timeoutSeconds``, or the server went away) it watches again from the last resourceVersion
seen — including a BOOKMARK's; when the server answers 410 Expired it lists again. Failures
wait with jittered back-off (0.8 s doubling to 30 s by default, as client-go's reflector).

The cache is a ``dict`` keyed ``namespace/name`` (``name`` for cluster-scoped kinds) of the
objects exactly as the API sent them: no model classes (kubespawner#423 measured that turning
JSON into client objects cost most of the CPU). Treat cached objects as read-only; copy before
changing one.

Handlers are plain callbacks run on the event loop in the order events arrive: ``on_add(obj)``,
``on_update(old, new)``, ``on_delete(obj)``. They must be quick (enqueue a key and return); an
exception in one is logged and does not stop the informer. A re-list reports objects that
appeared as adds, that changed (a new resourceVersion) as updates, and that vanished while the
watch was down as deletes (with the last cached copy). With ``resync_period`` every cached
object is sent to ``on_update(obj, obj)`` periodically, so that controllers re-check them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from controller.kube.backoff import Backoff
from controller.kube.client import WatchEvent, resource_path
from controller.kube.errors import Expired, KubeError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
OnAdd = Callable[[Obj], None]
OnUpdate = Callable[[Obj, Obj], None]
OnDelete = Callable[[Obj], None]
#: the index values of an object (e.g. the names of Services a Rollout refers to)
IndexFunc = Callable[[Obj], Iterable[str]]

#: a watch that ends this quickly without an event counts as a failure (and backs off)
SHORT_WATCH = 1.0


class ListWatchClient(Protocol):
    """What an informer needs of :class:`~controller.kube.client.ApiClient`."""

    async def list(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]: ...

    def watch(
        self,
        path: str,
        *,
        resource_version: str | None,
        timeout_seconds: float,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncGenerator[WatchEvent, None]: ...


def object_key(obj: Obj) -> str:
    """``namespace/name``, or ``name`` for a cluster-scoped object (client-go's MetaNamespaceKeyFunc)."""
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace") or "", str(meta.get("name") or "")
    return f"{namespace}/{name}" if namespace else name


def _version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


@dataclass(frozen=True)
class _Handlers:
    on_add: OnAdd | None
    on_update: OnUpdate | None
    on_delete: OnDelete | None


class Informer:
    """The cache of one kind (optionally one namespace, label and field selection)."""

    def __init__(
        self,
        api: ListWatchClient,
        api_version: str,
        plural: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int | None = 500,
        watch_timeout: float = 300.0,
        resync_period: float | None = None,
        backoff: Backoff | None = None,
        strip_managed_fields: bool = True,
    ) -> None:
        self.api = api
        #: drop ``metadata.managedFields`` as objects enter the cache (40-55% of a cached
        #: Rollout or ReplicaSet; controllers never read them), as controller-runtime's
        #: ``TransformStripManagedFields``
        self.strip_managed_fields = strip_managed_fields
        self.path = resource_path(api_version, plural, namespace=namespace)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        #: each watch asks the server to end it after between this and twice this many seconds
        self.watch_timeout = watch_timeout
        self.resync_period = resync_period
        self.backoff = backoff or Backoff(initial=0.8, cap=30.0)
        self.name = f"{plural}.{api_version}" + (f" in {namespace}" if namespace else "")
        #: how many times the collection was listed (1 after the first sync; more after 410s)
        self.lists = 0
        self._cache: dict[str, Obj] = {}
        self._rv = ""
        self._synced = asyncio.Event()
        self._handlers: list[_Handlers] = []
        self._index_fns: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        self._indexed: dict[str, dict[str, frozenset[str]]] = {}

    # -- setting up ----------------------------------------------------------------------------

    def add_handler(
        self,
        *,
        on_add: OnAdd | None = None,
        on_update: OnUpdate | None = None,
        on_delete: OnDelete | None = None,
    ) -> None:
        """Call these on every change from now on (objects already cached are sent as adds)."""
        handlers = _Handlers(on_add, on_update, on_delete)
        self._handlers.append(handlers)
        if on_add is not None:
            for obj in list(self._cache.values()):
                self._call(on_add, obj)

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Index cached objects by ``fn(obj)``; look them up with :meth:`by_index`."""
        self._index_fns[name] = fn
        self._indices[name] = {}
        self._indexed[name] = {}
        for key, obj in self._cache.items():
            self._index_one(name, key, obj)

    # -- reading the cache ---------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        """The cached object of ``key`` (``namespace/name``), or None."""
        return self._cache.get(key)

    def objects(self) -> list[Obj]:
        """Every cached object, in key order."""
        return [self._cache[k] for k in sorted(self._cache)]

    def keys(self) -> list[str]:
        """Every cached key, sorted."""
        return sorted(self._cache)

    def by_index(self, name: str, value: str) -> list[Obj]:
        """Cached objects whose index ``name`` includes ``value``, in key order."""
        if name not in self._indices:
            raise KeyError(f"{self.name} has no index {name!r}; add it with add_index")
        return [self._cache[k] for k in sorted(self._indices[name].get(value, ()))]

    def __len__(self) -> int:
        return len(self._cache)

    def __contains__(self, key: object) -> bool:
        return key in self._cache

    @property
    def resource_version(self) -> str:
        """The last resourceVersion seen (list, event or bookmark); '' before the first list."""
        return self._rv

    @property
    def has_synced(self) -> bool:
        """Whether the first list has filled the cache."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Return once the first list has filled the cache (wrap in a timeout if needed)."""
        await self._synced.wait()

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until cancelled; never returns otherwise."""
        resync = asyncio.create_task(self._resync()) if self.resync_period else None
        try:
            await self._list_and_watch()
        finally:
            if resync is not None:
                resync.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await resync

    async def _list_and_watch(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                started = time.monotonic()
                if await self._watch() or time.monotonic() - started >= SHORT_WATCH:
                    self.backoff.reset()
                    continue
                log.debug("%s: the watch ended at once with no events", self.name)
            except Expired as e:
                log.info("%s: resourceVersion %s expired (%s); listing again", self.name, self._rv, e)
                need_list = True
            except KubeError as e:
                log.warning("%s: %s", self.name, e)
            await asyncio.sleep(self.backoff.next())

    async def _list(self) -> None:
        items: list[Obj] = []
        token: str | None = None
        rv = ""
        while True:
            page = await self.api.list(
                self.path,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_token=token,
            )
            kind = str(page.get("kind") or "")
            for item in page.get("items") or []:
                if isinstance(item, dict):
                    # items of a typed list may leave out kind and apiVersion; fill them in
                    if kind.endswith("List"):
                        item.setdefault("kind", kind[: -len("List")])
                    if page.get("apiVersion"):
                        item.setdefault("apiVersion", page["apiVersion"])
                    items.append(item)
            meta = page.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or rv)
            token = meta.get("continue") or None
            if not token:
                break
        self.lists += 1
        self._replace(items, rv)

    def _replace(self, items: list[Obj], rv: str) -> None:
        fresh = {object_key(obj): obj for obj in items}
        gone = [key for key in self._cache if key not in fresh]
        for key in gone:
            self._emit_delete(self._remove(key))
        for key, obj in fresh.items():
            previous = self._cache.get(key)
            self._store(key, obj)
            if previous is None:
                self._emit_add(obj)
            elif _version(previous) != _version(obj):
                self._emit_update(previous, obj)
        self._rv = rv
        self._synced.set()
        log.debug("%s: listed %d objects at resourceVersion %s", self.name, len(fresh), rv)

    async def _watch(self) -> int:
        """One watch stream, applied to the cache; returns how many events it carried."""
        count = 0
        timeout = self.watch_timeout * (1.0 + random.random())
        stream = self.api.watch(
            self.path,
            resource_version=self._rv,
            timeout_seconds=timeout,
            allow_bookmarks=True,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        async with contextlib.aclosing(stream) as events:
            async for event in events:
                count += 1
                self._apply(event)
        return count

    def _apply(self, event: WatchEvent) -> None:
        obj = event.object
        if event.type in ("ADDED", "MODIFIED"):
            key = object_key(obj)
            old = self._cache.get(key)
            self._store(key, obj)
            if old is None:
                self._emit_add(obj)
            else:
                self._emit_update(old, obj)
        elif event.type == "DELETED":
            key = object_key(obj)
            if key in self._cache:
                self._remove(key)
                self._emit_delete(obj)
        elif event.type != "BOOKMARK":
            log.warning("%s: ignoring a watch event of unknown type %r", self.name, event.type)
            return
        self._rv = event.resource_version or self._rv

    async def _resync(self) -> None:
        assert self.resync_period is not None
        while True:
            await asyncio.sleep(self.resync_period)
            if self.has_synced:
                for obj in list(self._cache.values()):
                    self._emit_update(obj, obj)

    # -- the cache and its indices -------------------------------------------------------------

    def _store(self, key: str, obj: Obj) -> None:
        if self.strip_managed_fields:
            meta = obj.get("metadata")
            if isinstance(meta, dict):
                meta.pop("managedFields", None)
        self._cache[key] = obj
        for name in self._index_fns:
            self._unindex_one(name, key)
            self._index_one(name, key, obj)

    def _remove(self, key: str) -> Obj:
        for name in self._index_fns:
            self._unindex_one(name, key)
        return self._cache.pop(key)

    def _index_one(self, name: str, key: str, obj: Obj) -> None:
        try:
            values = frozenset(self._index_fns[name](obj))
        except Exception:
            log.exception("%s: index %s failed on %s", self.name, name, key)
            values = frozenset()
        self._indexed[name][key] = values
        for value in values:
            self._indices[name].setdefault(value, set()).add(key)

    def _unindex_one(self, name: str, key: str) -> None:
        index = self._indices[name]
        for value in self._indexed[name].pop(key, frozenset()):
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]

    # -- handlers ------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., None], *args: Obj) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%s: an event handler failed", self.name)

    def _emit_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _emit_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _emit_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)
