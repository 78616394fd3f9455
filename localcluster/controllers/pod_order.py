"""Pods as a ReplicaSet sees them: active, ready, available, and which go first on scale-down.

Pure: time is passed in as seconds since the epoch. The deletion order is upstream's
``ActivePodsWithRanks``: unassigned before assigned, Pending before Unknown before Running,
not-ready before ready, lower ``controller.kubernetes.io/pod-deletion-cost`` first, pods on
nodes crowded with related pods first, more recently ready first, more restarts first, newer
before older (ages compared in power-of-two buckets, ties broken by uid).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from localcluster.controllers.rollout_math import parse_time

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

Obj = Mapping[str, Any]


def is_pod_active(pod: Obj) -> bool:
    """Not finished and not being deleted: what a ReplicaSet counts."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def _ready_condition(pod: Obj) -> Mapping[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return cond
    return None


def is_pod_ready(pod: Obj) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def pod_ready_time(pod: Obj) -> float | None:
    """When the pod last became ready (``None`` when not ready or unknown)."""
    cond = _ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready, and (with ``minReadySeconds``) ready for strictly longer than that."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = pod_ready_time(pod)
    return since is not None and since + min_ready_seconds < now


def seconds_until_available(pod: Obj, min_ready_seconds: int, now: float) -> float | None:
    """For a ready pod that is not available yet: how long until it is."""
    since = pod_ready_time(pod)
    if min_ready_seconds <= 0 or since is None or is_pod_available(pod, min_ready_seconds, now):
        return None
    return max(0.0, since + min_ready_seconds - now)


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _max_restarts(pod: Obj, key: str) -> int:
    statuses = (pod.get("status") or {}).get(key) or []
    return max((int(s.get("restartCount") or 0) for s in statuses if isinstance(s, Mapping)), default=0)


def _deletion_cost(pod: Obj) -> int:
    raw = (pod["metadata"].get("annotations") or {}).get(DELETION_COST)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _log_rank(t: float, now: float) -> int:
    delta_ns = (now - t) * 1e9
    return int(math.log2(delta_ns)) if delta_ns > 0 else -1


def _newer_first(t1: float | None, t2: float | None, uid1: str, uid2: str, now: float) -> int:
    """Zero times first, then newer (by power-of-two age buckets, ties broken by uid)."""
    if t1 is None or t2 is None:
        return -1 if t1 is None else 1
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    if diff == 0:
        return -1 if uid1 < uid2 else (1 if uid1 > uid2 else 0)
    return -1 if diff < 0 else 1


def compare_for_deletion(a: Obj, b: Obj, rank_a: int, rank_b: int, now: float) -> int:
    """Negative when ``a`` should be deleted before ``b`` (upstream ``ActivePodsWithRanks``)."""
    node_a = str((a.get("spec") or {}).get("nodeName") or "")
    node_b = str((b.get("spec") or {}).get("nodeName") or "")
    if node_a != node_b and (not node_a or not node_b):
        return -1 if not node_a else 1
    phase_a = _PHASE_ORDINAL.get(str((a.get("status") or {}).get("phase")), 0)
    phase_b = _PHASE_ORDINAL.get(str((b.get("status") or {}).get("phase")), 0)
    if phase_a != phase_b:
        return -1 if phase_a < phase_b else 1
    ready_a, ready_b = is_pod_ready(a), is_pod_ready(b)
    if ready_a != ready_b:
        return -1 if not ready_a else 1
    cost_a, cost_b = _deletion_cost(a), _deletion_cost(b)
    if cost_a != cost_b:
        return -1 if cost_a < cost_b else 1
    if rank_a != rank_b:
        return -1 if rank_a > rank_b else 1
    uid_a, uid_b = str(a["metadata"].get("uid", "")), str(b["metadata"].get("uid", ""))
    if ready_a and ready_b:
        t_a, t_b = pod_ready_time(a), pod_ready_time(b)
        if t_a != t_b:
            return _newer_first(t_a, t_b, uid_a, uid_b, now)
    for key in ("containerStatuses", "initContainerStatuses"):
        r_a, r_b = _max_restarts(a, key), _max_restarts(b, key)
        if r_a != r_b:
            return -1 if r_a > r_b else 1
    c_a = parse_time(a["metadata"].get("creationTimestamp"))
    c_b = parse_time(b["metadata"].get("creationTimestamp"))
    if c_a != c_b:
        return _newer_first(c_a, c_b, uid_a, uid_b, now)
    return 0


def pods_to_delete(pods: Sequence[Obj], count: int, related: Sequence[Obj], now: float) -> list[Obj]:
    """The ``count`` pods a ReplicaSet deletes first when scaling down.

    ``related`` are the active pods of the ReplicaSet and its siblings (same owner): a pod on
    a node crowded with related pods goes before one on a quieter node.
    """
    if count <= 0:
        return []
    per_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            per_node[node] = per_node.get(node, 0) + 1
    ranked = [(pod, per_node.get(str((pod.get("spec") or {}).get("nodeName") or ""), 0)) for pod in pods]

    def cmp(x: tuple[Obj, int], y: tuple[Obj, int]) -> int:
        return compare_for_deletion(x[0], y[0], x[1], y[1], now)

    ranked.sort(key=functools.cmp_to_key(cmp))
    return [pod for pod, _ in ranked[:count]]
