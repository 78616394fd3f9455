"""A Deployment's status as upstream's controller computes it: pure, ``now`` passed in.

Counts come from the Deployment's ReplicaSets; zero counts are omitted (every field of
``DeploymentStatus`` is ``omitempty``, which is what Ansible's ``wait`` relies on for
``unavailableReplicas``). Conditions follow upstream's rules:

- ``Available``: ``MinimumReplicasAvailable`` when at least ``replicas - maxUnavailable`` pods
  are available, else ``MinimumReplicasUnavailable``.
- ``Progressing``: ``NewReplicaSetCreated`` / ``FoundNewReplicaSet`` (set by the controller
  when it creates or first finds the new ReplicaSet), ``ReplicaSetUpdated`` whenever the
  rollout moves (its ``lastUpdateTime`` refreshed, ``lastTransitionTime`` kept),
  ``NewReplicaSetAvailable`` once complete, ``ProgressDeadlineExceeded`` (status False) when
  nothing moved for ``progressDeadlineSeconds``, ``DeploymentPaused``/``DeploymentResumed``
  (status Unknown).
- ``ReplicaFailure`` copied from a ReplicaSet that could not create or delete pods.

Setting a condition with the same status and reason changes nothing; a new reason with the
same status keeps ``lastTransitionTime``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from localcluster.controllers.rollout_math import desired_replicas, format_time, max_unavailable, parse_time

Obj = Mapping[str, Any]

PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"

NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
FAILED_RS_CREATE = "ReplicaSetCreateError"

_NO_DEADLINE = 2**31 - 1


def new_condition(kind: str, status: str, reason: str, message: str, now: float) -> dict[str, Any]:
    stamp = format_time(now)
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def get_condition(status: Obj | None, kind: str) -> dict[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """Upstream ``SetDeploymentCondition``: same status and reason is a no-op; the rest replace."""
    current = get_condition(status, str(cond["type"]))
    if (
        current is not None
        and current.get("status") == cond["status"]
        and current.get("reason") == cond["reason"]
    ):
        return
    cond = dict(cond)
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime", cond["lastTransitionTime"])
    remove_condition(status, str(cond["type"]))
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: dict[str, Any], kind: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def has_progress_deadline(deployment: Obj) -> bool:
    deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    return isinstance(deadline, int) and deadline != _NO_DEADLINE


def _int(status: Obj | None, key: str) -> int:
    value = (status or {}).get(key)
    return int(value) if isinstance(value, int) else 0


def deployment_complete(deployment: Obj, status: Obj) -> bool:
    """All replicas updated and available, and the latest spec observed."""
    desired = desired_replicas(deployment)
    return (
        _int(status, "updatedReplicas") == desired
        and _int(status, "replicas") == desired
        and _int(status, "availableReplicas") == desired
        and _int(status, "observedGeneration") >= int(deployment["metadata"].get("generation") or 0)
    )


def deployment_progressing(deployment: Obj, new_status: Obj) -> bool:
    """Whether anything moved since the status the Deployment has now."""
    old = deployment.get("status") or {}
    old_old = _int(old, "replicas") - _int(old, "updatedReplicas")
    new_old = _int(new_status, "replicas") - _int(new_status, "updatedReplicas")
    return (
        _int(new_status, "updatedReplicas") > _int(old, "updatedReplicas")
        or new_old < old_old
        or _int(new_status, "readyReplicas") > _int(old, "readyReplicas")
        or _int(new_status, "availableReplicas") > _int(old, "availableReplicas")
    )


def deployment_timed_out(deployment: Obj, new_status: Obj, now: float) -> bool:
    """No progress for ``progressDeadlineSeconds`` since the Progressing condition's last update."""
    if not has_progress_deadline(deployment):
        return False
    cond = get_condition(new_status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    deadline = int((deployment.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    return since is not None and since + deadline < now


def _sum(rss: Sequence[Obj], key: str) -> int:
    return sum(_int(rs.get("status"), key) for rs in rss)


def calculate_status(
    deployment: Obj, all_rss: Sequence[Obj], new_rs: Obj | None, now: float
) -> dict[str, Any]:
    """Counts and the Available condition; other conditions carried over from the Deployment."""
    available = _sum(all_rss, "availableReplicas")
    total = sum(int((rs.get("spec") or {}).get("replicas") or 0) for rs in all_rss)
    counts = {
        "observedGeneration": int(deployment["metadata"].get("generation") or 0),
        "replicas": _sum(all_rss, "replicas"),
        "updatedReplicas": _sum([new_rs], "replicas") if new_rs is not None else 0,
        "readyReplicas": _sum(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
    }
    status: dict[str, Any] = {k: v for k, v in counts.items() if v}
    old = deployment.get("status") or {}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    if available >= desired_replicas(deployment) - max_unavailable(deployment):
        cond = new_condition(
            AVAILABLE, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now
        )
    else:
        cond = new_condition(
            AVAILABLE,
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        )
    set_condition(status, cond)
    return status


def _replica_failure(all_rss: Sequence[Obj], new_rs: Obj | None) -> dict[str, Any] | None:
    for rs in ([new_rs] if new_rs is not None else []) + list(all_rss):
        cond = next(
            (c for c in (rs.get("status") or {}).get("conditions") or [] if c.get("type") == REPLICA_FAILURE),
            None,
        )
        if cond is not None:
            stamp = cond.get("lastTransitionTime")
            return {
                "type": REPLICA_FAILURE,
                "status": cond.get("status", "True"),
                "lastUpdateTime": stamp,
                "lastTransitionTime": stamp,
                "reason": cond.get("reason", ""),
                "message": cond.get("message", ""),
            }
    return None


def rollout_status(deployment: Obj, all_rss: Sequence[Obj], new_rs: Obj | None, now: float) -> dict[str, Any]:
    """The status after a rollout step: counts, Available, Progressing and ReplicaFailure."""
    status = calculate_status(deployment, all_rss, new_rs, now)
    name = str(deployment["metadata"]["name"])
    if not has_progress_deadline(deployment):
        remove_condition(status, PROGRESSING)
    current = get_condition(deployment.get("status"), PROGRESSING)
    complete_before = (
        _int(status, "replicas") == _int(status, "updatedReplicas")
        and current is not None
        and current.get("reason") == NEW_RS_AVAILABLE
    )
    subject = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs is not None else f'Deployment "{name}"'
    if has_progress_deadline(deployment) and not complete_before:
        if deployment_complete(deployment, status):
            set_condition(
                status,
                new_condition(
                    PROGRESSING, "True", NEW_RS_AVAILABLE, f"{subject} has successfully progressed.", now
                ),
            )
        elif deployment_progressing(deployment, status):
            cond = new_condition(PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.", now)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime", cond["lastTransitionTime"])
                remove_condition(status, PROGRESSING)
            set_condition(status, cond)
        elif deployment_timed_out(deployment, status, now):
            set_condition(
                status,
                new_condition(PROGRESSING, "False", TIMED_OUT, f"{subject} has timed out progressing.", now),
            )
    failure = _replica_failure(all_rss, new_rs)
    if failure is not None:
        set_condition(status, failure)
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status


def progress_check_after(deployment: Obj, new_status: Obj, now: float) -> float | None:
    """Seconds until the progress deadline must be checked again (``None``: no need)."""
    cond = get_condition(deployment.get("status"), PROGRESSING)
    if not has_progress_deadline(deployment) or cond is None:
        return None
    if deployment_complete(deployment, new_status) or cond.get("reason") in (TIMED_OUT, NEW_RS_AVAILABLE):
        return None
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    deadline = int((deployment.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    after = since + deadline - now
    # A second more, so the check lands after the (second-precision) deadline has passed.
    return max(after, 0.0) + 1.0
