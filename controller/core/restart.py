"""``spec.restartAt``: a rolling recreate of a Rollout's pods, outside the update strategy.

Follows Argo Rollouts' ``RolloutPodRestarter`` (rollout/restart.go): once ``now`` has passed
``spec.restartAt`` and ``status.restartedAt`` does not record it yet, every pod of the
Rollout created before ``restartAt`` is removed so its ReplicaSet replaces it, never more at
once than ``max(maxUnavailable, 1)`` below the desired count: with ``available`` pods now,
``available - (max(replicas, sum of ReplicaSet sizes) - max(maxUnavailable, 1))`` may go.
Pods are taken stable ReplicaSet first, then the new one, then the others oldest first. When
no pod is older than ``restartAt``, ``status.restartedAt`` is set to it.

Pure: the pods come in the :class:`~controller.core.snapshot.Snapshot`; the reconciler lists
them only when :func:`needs_restart` says a restart is due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from controller.core import replicas as rmath
from controller.core.conditions import parse_time
from controller.core.snapshot import RawObject, creation_key, name_of, spec_replicas

#: how soon to look again while pods still wait for their restart (Argo: 30 s; ReplicaSet
#: changes wake the Rollout earlier anyway)
RESTART_CHECK_SECONDS: Final = 10.0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def restart_at(rollout: Mapping[str, Any]) -> datetime | None:
    """``spec.restartAt`` as a time (None when unset or not a time)."""
    return parse_time((rollout.get("spec") or {}).get("restartAt"))


def needs_restart(rollout: Mapping[str, Any], now: datetime) -> bool:
    """Argo's ``NeedsRestart``: ``restartAt`` has passed and ``restartedAt`` does not record it."""
    wanted = restart_at(rollout)
    if wanted is None:
        return False
    done = parse_time((rollout.get("status") or {}).get("restartedAt"))
    if done is not None and done >= wanted:
        return False
    return _aware(now) >= wanted


def seconds_until_restart(rollout: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds until a future ``restartAt`` (None when there is none)."""
    wanted = restart_at(rollout)
    if wanted is None:
        return None
    left = (wanted - _aware(now)).total_seconds()
    return left if left > 0 else None


def pod_available(pod: RawObject, min_ready_seconds: int, now: datetime) -> bool:
    """Kubernetes' ``IsPodAvailable``: Ready for at least ``minReadySeconds``, not terminating."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            if min_ready_seconds <= 0:
                return True
            since = parse_time(condition.get("lastTransitionTime"))
            return since is not None and since + timedelta(seconds=min_ready_seconds) <= _aware(now)
    return False


@dataclass(frozen=True)
class RestartPlan:
    """What one reconcile does for a restart: pods to remove, whether all are current."""

    delete_pods: tuple[str, ...] = ()
    #: no pod is older than ``restartAt``: ``status.restartedAt`` may be set
    finished: bool = False


def plan_restart(
    rollout: Mapping[str, Any],
    replica_sets: Sequence[RawObject],
    pods: Sequence[RawObject],
    *,
    stable_name: str | None,
    new_name: str | None,
    max_unavailable: int,
    now: datetime,
) -> RestartPlan:
    """The pods to remove now for ``spec.restartAt`` (see the module docstring)."""
    wanted = restart_at(rollout)
    if wanted is None:
        return RestartPlan(finished=True)
    spec = rollout.get("spec") or {}
    replicas = 1 if spec.get("replicas") is None else int(spec["replicas"])
    min_ready = int(spec.get("minReadySeconds") or 0)
    uids = {str((rs.get("metadata") or {}).get("uid") or ""): rs for rs in replica_sets}

    def owner(pod: RawObject) -> RawObject | None:
        for ref in (pod.get("metadata") or {}).get("ownerReferences") or ():
            rs = uids.get(str(ref.get("uid") or ""))
            if rs is not None:
                return rs
        return None

    def priority(rs: RawObject) -> tuple[int, tuple[str, int, str]]:
        name = name_of(rs)
        rank = 0 if name == stable_name else 1 if name == new_name else 2
        return rank, creation_key(rs)

    owned = [(pod, rs) for pod in pods if (rs := owner(pod)) is not None]
    owned.sort(key=lambda item: (priority(item[1]), str((item[0].get("metadata") or {}).get("name") or "")))
    total = sum(spec_replicas(rs) for rs in replica_sets)
    available = sum(1 for pod, _ in owned if pod_available(pod, min_ready, now))
    can_restart = available - (max(replicas, total) - max(max_unavailable, 1))
    deletions: list[str] = []
    needs = 0
    for pod, _ in owned:
        meta = pod.get("metadata") or {}
        created = parse_time(meta.get("creationTimestamp"))
        if created is not None and created >= wanted:
            continue
        needs += 1
        if can_restart <= 0 or meta.get("deletionTimestamp"):
            continue
        deletions.append(str(meta.get("name") or ""))
        can_restart -= 1
    return RestartPlan(delete_pods=tuple(deletions), finished=needs == len(deletions))


def canary_max_unavailable(rollout: Mapping[str, Any]) -> int:
    """``maxUnavailable`` of a canary Rollout as a pod count (Argo's ``MaxUnavailable``)."""
    spec = rollout.get("spec") or {}
    canary = (spec.get("strategy") or {}).get("canary") or {}
    replicas = 1 if spec.get("replicas") is None else int(spec["replicas"])
    surge = canary.get("maxSurge") or rmath.DEFAULT_MAX_SURGE
    unavailable = canary.get("maxUnavailable")
    if unavailable is None:
        unavailable = rmath.DEFAULT_MAX_UNAVAILABLE
    return rmath.max_unavailable_value(replicas=replicas, max_surge=surge, max_unavailable=unavailable)


__all__ = [
    "RESTART_CHECK_SECONDS",
    "RestartPlan",
    "canary_max_unavailable",
    "needs_restart",
    "plan_restart",
    "pod_available",
    "restart_at",
    "seconds_until_restart",
]
