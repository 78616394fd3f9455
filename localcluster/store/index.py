"""Secondary indexes of the store, kept up to date on every write.

Three questions the API server and the built-in controllers ask all the time, each answered
without scanning every object of a resource:

- the names of a resource's objects in one namespace, in order (lists, namespace deletion);
- the objects that name a given uid in ``metadata.ownerReferences`` (garbage collection, a
  ReplicaSet's pods, a Deployment's ReplicaSets);
- the objects of a namespace with a label set to given values, or set at all (label
  selectors: a Service's pods, a ReplicaSet's orphans to adopt).

Each object's entry remembers what was indexed for it, so that replacing or removing it undoes
exactly that, whatever happened to the old object since.
"""

from __future__ import annotations

import bisect
import collections
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: An object's identity in the store: (resource, namespace, name).
Key = tuple[str, str, str]


@dataclass(frozen=True)
class _Entry:
    owners: frozenset[str]
    labels: tuple[tuple[str, str], ...]


def _owner_uids(meta: Mapping[str, Any]) -> frozenset[str]:
    refs = meta.get("ownerReferences")
    if not isinstance(refs, list):
        return frozenset()
    return frozenset(str(r["uid"]) for r in refs if isinstance(r, dict) and r.get("uid"))


def _label_items(meta: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    labels = meta.get("labels")
    if not isinstance(labels, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


class Indexes:
    """Names by namespace, dependents by owner uid, names by label, for one store."""

    def __init__(self) -> None:
        # resource -> namespace -> names, sorted
        self._names: dict[str, dict[str, list[str]]] = collections.defaultdict(dict)
        # owner uid -> the objects that reference it
        self._owned: dict[str, set[Key]] = {}
        # (resource, namespace) -> label key -> value -> names
        self._labels: dict[tuple[str, str], dict[str, dict[str, set[str]]]] = {}
        self._entries: dict[Key, _Entry] = {}

    # -- maintenance ----------------------------------------------------------------------------

    def add(self, resource: str, namespace: str, name: str, obj: Mapping[str, Any]) -> None:
        """Index ``obj`` as the object at this key (a create or a replace)."""
        key = (resource, namespace, name)
        meta = obj.get("metadata") or {}
        entry = _Entry(_owner_uids(meta), _label_items(meta))
        old = self._entries.get(key)
        if old is None:
            names = self._names[resource].setdefault(namespace, [])
            bisect.insort(names, name)
            old = _Entry(frozenset(), ())
        elif old == entry:
            return
        self._entries[key] = entry
        for uid in old.owners - entry.owners:
            self._unown(uid, key)
        for uid in entry.owners - old.owners:
            self._owned.setdefault(uid, set()).add(key)
        if old.labels != entry.labels:
            for k, v in set(old.labels) - set(entry.labels):
                self._unlabel(resource, namespace, k, v, name)
            by_key = self._labels.setdefault((resource, namespace), {})
            for k, v in set(entry.labels) - set(old.labels):
                by_key.setdefault(k, {}).setdefault(v, set()).add(name)

    def remove(self, resource: str, namespace: str, name: str) -> None:
        key = (resource, namespace, name)
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        by_namespace = self._names[resource]
        names = by_namespace[namespace]
        i = bisect.bisect_left(names, name)
        if i < len(names) and names[i] == name:
            del names[i]
        if not names:
            del by_namespace[namespace]
        for uid in entry.owners:
            self._unown(uid, key)
        for k, v in entry.labels:
            self._unlabel(resource, namespace, k, v, name)

    def _unown(self, uid: str, key: Key) -> None:
        keys = self._owned.get(uid)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._owned[uid]

    def _unlabel(self, resource: str, namespace: str, k: str, v: str, name: str) -> None:
        by_key = self._labels.get((resource, namespace))
        if by_key is None:
            return
        by_value = by_key.get(k)
        if by_value is None:
            return
        names = by_value.get(v)
        if names is None:
            return
        names.discard(name)
        if not names:
            del by_value[v]
            if not by_value:
                del by_key[k]
                if not by_key:
                    del self._labels[(resource, namespace)]

    # -- queries --------------------------------------------------------------------------------

    def namespaces(self, resource: str) -> list[str]:
        """The namespaces holding objects of ``resource`` ("" for cluster-scoped ones), sorted."""
        return sorted(self._names.get(resource, {}))

    def names(self, resource: str, namespace: str) -> list[str]:
        """The names of ``resource`` in ``namespace``, sorted. Callers must not change the list."""
        return self._names.get(resource, {}).get(namespace, [])

    def owned_by(self, uid: str) -> list[Key]:
        """The objects whose ownerReferences name ``uid``, sorted by resource, namespace and name."""
        return sorted(self._owned.get(uid, ()))

    def labelled(self, resource: str, namespace: str, key: str, values: Iterable[str] | None) -> set[str]:
        """Names in ``namespace`` with label ``key`` set to one of ``values`` (None: to anything)."""
        by_value = self._labels.get((resource, namespace), {}).get(key)
        if not by_value:
            return set()
        if values is None:
            return set().union(*by_value.values())
        return set().union(*(by_value.get(v, ()) for v in values))
