"""Durable object store with one global resourceVersion and a bounded watch history.

Objects live in SQLite (WAL mode) and, for reads, in memory. Every write is one SQLite
transaction committed before the caller is answered, so an acknowledged write survives a
SIGKILL of the process. Each change gets the next global resourceVersion and is appended
to an in-memory history that watches replay from; a watch asking for a resourceVersion
older than the history (or from before the last restart) is told it expired.

The store knows nothing of Kubernetes semantics beyond the object's identity, its
``metadata.resourceVersion``, and the two fields its indexes follow (``ownerReferences`` and
``labels``, see :mod:`localcluster.store.index`); the API layer decides what a write means.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from localcluster.store.index import Indexes

Obj = dict[str, Any]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    rv INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Event:
    """One change: ``obj`` is the object after the change (before it, for DELETED, with the new RV)."""

    type: EventType
    resource: str
    rv: int
    obj: Obj
    prev: Obj | None = None

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))


class ExpiredError(Exception):
    """The requested resourceVersion is older than the retained history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


Subscriber = Callable[[Event], None]


class Selector(Protocol):
    """A label selector as the store uses it (``apiserver.selectors.LabelSelector``)."""

    def index_hint(self) -> tuple[str, tuple[str, ...] | None] | None: ...

    def matches(self, labels: Mapping[str, str] | None) -> bool: ...


class Store:
    """Objects keyed by (resource, namespace, name). ``resource`` is ``group/plural``."""

    def __init__(self, path: Path | None, *, history: int = 10_000) -> None:
        self._db = sqlite3.connect(str(path) if path else ":memory:", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives the process being killed;
        # only a power loss can undo the last ones.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._objects: dict[str, dict[tuple[str, str], Obj]] = collections.defaultdict(dict)
        self._index = Indexes()
        for resource, namespace, name, body in self._db.execute(
            "SELECT resource, namespace, name, body FROM objects"
        ):
            obj = json.loads(body)
            self._objects[resource][(namespace, name)] = obj
            self._index.add(resource, namespace, name, obj)
        row = self._db.execute("SELECT value FROM meta WHERE key='rv'").fetchone()
        self._rv = int(row[0]) if row else 1
        self._history: collections.deque[Event] = collections.deque(maxlen=history)
        # Events after this RV are all in the history.
        self._oldest = self._rv
        self._subscribers: list[Subscriber] = []

    # -- reads -------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The stored object; callers must not mutate it."""
        return self._objects[resource].get((namespace, name))

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label: tuple[str, Iterable[str] | None] | None = None,
    ) -> list[Obj]:
        """Objects of ``resource`` (in one namespace, or all), ordered by namespace and name.

        ``label``, ``(key, values)``: only those whose label ``key`` has one of ``values``
        (``None``: any value), from the label index; callers narrow a selector with it.
        """
        items = self._objects[resource]
        namespaces = self._index.namespaces(resource) if namespace is None else [namespace]
        out: list[Obj] = []
        for ns in namespaces:
            if label is None:
                out.extend(items[(ns, name)] for name in self._index.names(resource, ns))
            else:
                names = sorted(self._index.labelled(resource, ns, label[0], label[1]))
                out.extend(items[(ns, name)] for name in names)
        return out

    def select(self, resource: str, namespace: str | None, selector: Selector) -> builtins.list[Obj]:
        """Objects of ``resource`` (in one namespace, or all) whose labels ``selector`` matches,
        ordered by namespace and name; narrowed through the label index first."""
        return [
            o
            for o in self.list(resource, namespace, label=selector.index_hint())
            if selector.matches(o["metadata"].get("labels"))
        ]

    def any_in(self, resource: str, namespace: str) -> bool:
        """Whether ``namespace`` holds any object of ``resource``."""
        return bool(self._index.names(resource, namespace))

    def dependents(self, uid: str) -> builtins.list[tuple[str, Obj]]:
        """(resource, object) of every object whose ownerReferences name ``uid``, ordered by
        resource, namespace and name."""
        return [
            (resource, self._objects[resource][(namespace, name)])
            for resource, namespace, name in self._index.owned_by(uid)
        ]

    def resources(self) -> builtins.list[str]:
        return [r for r, items in self._objects.items() if items]

    def count(self) -> int:
        return sum(len(items) for items in self._objects.values())

    def events_since(self, rv: int) -> builtins.list[Event]:
        """Events after ``rv``; raises ExpiredError when they are no longer all retained."""
        if rv < self._oldest:
            raise ExpiredError(rv, self._oldest)
        return list(self._iter_after(rv))

    def _iter_after(self, rv: int) -> Iterator[Event]:
        # History is ordered by rv; walk back from the end for the common, recent case.
        history = self._history
        start = len(history)
        while start > 0 and history[start - 1].rv > rv:
            start -= 1
        for i in range(start, len(history)):
            yield history[i]

    # -- writes ------------------------------------------------------------------------

    def put(self, resource: str, obj: Obj) -> Obj:
        """Create or replace ``obj``; sets its resourceVersion. Returns the stored object."""
        meta = obj["metadata"]
        key = (str(meta.get("namespace", "")), str(meta["name"]))
        prev = self._objects[resource].get(key)
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self._db.execute("BEGIN")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO objects (resource, namespace, name, rv, body) VALUES (?, ?, ?, ?, ?)",
                (resource, key[0], key[1], rv, json.dumps(obj, separators=(",", ":"))),
            )
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rv', ?)", (str(rv),))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._rv -= 1
            raise
        self._objects[resource][key] = obj
        self._index.add(resource, key[0], key[1], obj)
        self._emit(Event("MODIFIED" if prev is not None else "ADDED", resource, rv, obj, prev))
        return obj

    def delete(self, resource: str, namespace: str, name: str) -> Obj | None:
        """Remove an object; the DELETED event carries it with a new resourceVersion."""
        current = self._objects[resource].get((namespace, name))
        if current is None:
            return None
        rv = self._next_rv()
        self._db.execute("BEGIN")
        try:
            self._db.execute(
                "DELETE FROM objects WHERE resource=? AND namespace=? AND name=?", (resource, namespace, name)
            )
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rv', ?)", (str(rv),))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._rv -= 1
            raise
        del self._objects[resource][(namespace, name)]
        self._index.remove(resource, namespace, name)
        gone = dict(current)
        gone["metadata"] = dict(current["metadata"], resourceVersion=str(rv))
        self._emit(Event("DELETED", resource, rv, gone, current))
        return gone

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    # -- subscriptions -----------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn`` with every event from now on; returns the unsubscribe function."""
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

        return unsubscribe

    def _emit(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            # The oldest retained event is about to be dropped: watches from before it expire.
            self._oldest = self._history[0].rv
        self._history.append(event)
        for fn in list(self._subscribers):
            fn(event)

    def close(self) -> None:
        self._db.close()


class EventQueue:
    """An asyncio queue fed by a store subscription; bounded so a stuck watcher cannot grow forever."""

    def __init__(self, store: Store, *, limit: int = 100_000) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._limit = limit
        self.overflowed = False
        self._unsubscribe = store.subscribe(self._push)

    def _push(self, event: Event) -> None:
        if self._queue.qsize() >= self._limit:
            self.overflowed = True
            self._queue.put_nowait(None)
            self._unsubscribe()
            return
        self._queue.put_nowait(event)

    async def get(self) -> Event | None:
        """The next event, or None when this queue overflowed and the watch must end."""
        return await self._queue.get()

    def empty(self) -> bool:
        return self._queue.empty()

    def get_nowait(self) -> Event | Literal[False] | None:
        """The next queued event (None after an overflow), or False when nothing is queued."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return False

    def drain(self) -> bool:
        """Drop what is queued; False when the queue had overflowed (and must be replaced)."""
        while not self._queue.empty():
            if self._queue.get_nowait() is None:
                return False
        return True

    def close(self) -> None:
        self._unsubscribe()
