"""The stale-cache guard: do not act on a cache older than our own last write.

After a worker writes an object (say a Rollout's status) the informer's copy lags until the
watch delivers the change. If the key is processed again in between, the worker would plan
from the old copy and undo or repeat its own write. Argo Rollouts guards against this with
``rolloutVersionTracker.IsCacheStale``; :class:`VersionTracker` is ours: record the
resourceVersion every write returns, and skip (requeue) a key whose cached copy is older.

Comparing resourceVersions: the API says they are opaque strings, to be compared only for
equality. Kubernetes' etcd-backed servers (and localcluster) use integers that grow with every
write, and Argo relies on that too. So: when both versions parse as integers, the cached copy
is stale when its number is smaller; when either does not parse, we cannot know, and treat the
cache as *not* stale — the guard then does nothing rather than stall a key forever, and the
optimistic concurrency of writes (409 Conflict on a stale resourceVersion) remains the backstop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _as_int(resource_version: str) -> int | None:
    try:
        return int(resource_version)
    except (TypeError, ValueError):
        return None


def is_older(resource_version: str, than: str) -> bool:
    """Whether ``resource_version`` is known to be older than ``than`` (False when not comparable)."""
    mine, theirs = _as_int(resource_version), _as_int(than)
    return mine is not None and theirs is not None and mine < theirs


def resource_version_of(obj: Mapping[str, Any] | str | None) -> str:
    """An object's ``metadata.resourceVersion`` (or the string itself); '' when there is none."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class VersionTracker:
    """The resourceVersion of the last write this process made, per key."""

    def __init__(self) -> None:
        self._written: dict[str, str] = {}

    def record_write(self, key: str, written: Mapping[str, Any] | str) -> None:
        """Remember the resourceVersion a write of ``key`` returned (the object, or its version).

        An older version than one already recorded (an out-of-order answer) is ignored.
        """
        version = resource_version_of(written)
        if not version:
            return
        previous = self._written.get(key)
        if previous is not None and is_older(version, previous):
            return
        self._written[key] = version

    def is_stale(self, key: str, cached: Mapping[str, Any] | str | None) -> bool:
        """Whether the cached copy of ``key`` is older than our last write of it.

        ``cached`` is the cached object (or its resourceVersion); a missing copy is not stale
        (nothing to act on). See the module docstring for how versions compare.
        """
        written = self._written.get(key)
        current = resource_version_of(cached)
        if written is None or not current:
            return False
        return is_older(current, written)

    def last_written(self, key: str) -> str | None:
        """The resourceVersion of our last write of ``key``, if any."""
        return self._written.get(key)

    def forget(self, key: str) -> None:
        """Drop ``key`` (it was deleted)."""
        self._written.pop(key, None)

    def __len__(self) -> int:
        return len(self._written)
