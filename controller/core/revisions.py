"""ReplicaSet bookkeeping both strategies share (pure): which ReplicaSet is the new one, its
revision, the revision-history cleanup, the rollback window and the pause events.

Argo Rollouts runs the same code for canary and blue-green here (rollout/replicaset.go,
sync.go); so do :mod:`controller.core.canary` and :mod:`controller.core.bluegreen`, through
these functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.core import antiaffinity, ephemeral
from controller.core import conditions as c
from controller.core.plan import NORMAL, Event
from controller.core.podtemplate import templates_equal
from controller.core.snapshot import (
    RawObject,
    creation_key,
    name_of,
    pod_hash_of,
    revision_of,
    spec_replicas,
    status_count,
)


def oldest_first(rss: Mapping[str, RawObject]) -> list[tuple[str, RawObject]]:
    """``(name, ReplicaSet)`` pairs, oldest first (creation time, revision, name)."""
    return sorted(rss.items(), key=lambda item: creation_key(item[1]))


def uninjected_template(rs: RawObject, rollout: Mapping[str, Any]) -> dict[str, Any]:
    """``rs``'s pod template without what the controller injected into it: the ephemeral metadata
    its annotation records and the anti-affinity term -- the template the Rollout had (with the
    hash label). What ``undo`` should copy back into the Rollout."""
    template = ephemeral.strip_injected(rs)
    if "spec" not in template:
        return template
    pod_spec = dict(template["spec"] or {})
    affinity = antiaffinity.remove_injected(pod_spec.get("affinity"), rollout)
    if affinity is None:
        pod_spec.pop("affinity", None)
    else:
        pod_spec["affinity"] = affinity
    return {**template, "spec": pod_spec}


def find_new_replica_set(
    rss: Mapping[str, RawObject], target_hash: str, rollout: Mapping[str, Any]
) -> str | None:
    """Argo's ``FindNewReplicaSet``: the hash label first, then a template equal to the Rollout's
    after Kubernetes' defaults (:func:`~controller.core.podtemplate.templates_equal`), once the
    ephemeral metadata and the anti-affinity term the controller injected are taken out."""
    ordered = oldest_first(rss)
    for name, rs in ordered:
        if pod_hash_of(rs) == target_hash:
            return name
    template = (rollout.get("spec") or {}).get("template") or {}
    for name, rs in ordered:
        if templates_equal(uninjected_template(rs, rollout), template):
            return name
    return None


def update_revision(rss: Mapping[str, RawObject], new: RawObject | None) -> int:
    """The revision of the update in progress: the new ReplicaSet's, or the next one."""
    if new is not None and revision_of(new) > 0:
        return revision_of(new)
    return max((revision_of(rs) for rs in rss.values()), default=0) + 1


def history_deletions(others: Sequence[RawObject], limit: int) -> list[str]:
    """Argo's ``reconcileRevisionHistoryLimit``: the oldest scaled-down ReplicaSets beyond
    ``limit`` (never one with pods, not yet observed at 0, or already being deleted)."""
    ordered = sorted(others, key=creation_key)
    deletions = []
    for rs in ordered[: max(len(ordered) - limit, 0)]:
        meta = rs.get("metadata") or {}
        if spec_replicas(rs) != 0 or status_count(rs, "replicas") != 0:
            continue
        if int(meta.get("generation") or 0) > status_count(rs, "observedGeneration"):
            continue
        if meta.get("deletionTimestamp"):
            continue
        deletions.append(name_of(rs))
    return deletions


def rollback_within_window(
    observed: Sequence[RawObject], new_name: str | None, stable_name: str | None, window: int | None
) -> bool:
    """Argo's ``isRollbackWithinWindow``: the new ReplicaSet is older than the stable one, with
    fewer than ``window`` ReplicaSets created in between.

    ``observed`` are the ReplicaSets as observed (before a reused one's revision is bumped):
    creation timestamps have a resolution of one second, and the revision breaks ties.
    """
    if not window or window <= 0 or new_name is None or stable_name is None:
        return False
    keys = {name_of(rs): creation_key(rs) for rs in observed}
    new_key, stable_key = keys.get(new_name), keys.get(stable_name)
    if new_key is None or stable_key is None or not new_key < stable_key:
        return False
    return sum(1 for key in keys.values() if new_key < key < stable_key) < window


def pause_events(old_status: Mapping[str, Any], status: Mapping[str, Any]) -> list[Event]:
    """Argo's ``sendStateChangeEvents``: RolloutPaused / RolloutResumed."""
    was = bool(old_status.get("pauseConditions"))
    paused = bool(status.get("pauseConditions"))
    if was == paused:
        return []
    if paused:
        reason = status["pauseConditions"][0]["reason"]
        return [(NORMAL, c.ROLLOUT_PAUSED_REASON, f"{c.ROLLOUT_PAUSED_MESSAGE} ({reason})")]
    if not status.get("abortedAt"):
        return [(NORMAL, c.ROLLOUT_RESUMED_REASON, c.ROLLOUT_RESUMED_MESSAGE)]
    return []


__all__ = [
    "find_new_replica_set",
    "history_deletions",
    "oldest_first",
    "pause_events",
    "rollback_within_window",
    "uninjected_template",
    "update_revision",
]
