"""Blue-green ReplicaSet rules: the scale-down deadline annotation and the old-ReplicaSet scale-down.

Follows Argo Rollouts' rollout/replicaset.go (``addScaleDownDelay``, ``removeScaleDownDelay``,
``scaleDownDelayHelper``), rollout/bluegreen.go (``scaleDownOldReplicaSetsForBlueGreen``) and
utils/replicaset (``ReadyForPause``, ``HasScaleDownDeadline``,
``GetTimeRemainingBeforeScaleDownDeadline``):

- a ReplicaSet that stops being active (or preview, or stable) keeps its pods until the time in
  its ``argo-rollouts.argoproj.io/scale-down-deadline`` annotation (now +
  ``scaleDownDelaySeconds``, default 30 s), then is scaled to 0; only the newest
  ``scaleDownDelayRevisionLimit`` such ReplicaSets keep their pods meanwhile, older ones go at
  once;
- moving back (``undo``) to a ReplicaSet still within its deadline is a fast rollback: it still
  has its pods, so the switch needs no pause and no analysis.

Pure: time comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from controller.core import replicas as rmath
from controller.core.conditions import format_time, parse_time
from controller.core.snapshot import (
    RawObject,
    creation_key,
    name_of,
    pod_hash_of,
    revision_of,
    spec_replicas,
    status_count,
)

#: annotation on a ReplicaSet: when (RFC 3339, UTC) it may be scaled down to zero
SCALE_DOWN_DEADLINE_ANNOTATION: Final = "argo-rollouts.argoproj.io/scale-down-deadline"
#: Argo's ``math.MaxInt32``: no ``scaleDownDelayRevisionLimit``
NO_REVISION_LIMIT: Final = 2**31 - 1


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def deadline_text(rs: RawObject | None) -> str:
    """The scale-down deadline annotation ('' when absent)."""
    return str(
        (((rs or {}).get("metadata") or {}).get("annotations") or {}).get(SCALE_DOWN_DEADLINE_ANNOTATION)
        or ""
    )


def has_deadline(rs: RawObject | None) -> bool:
    """Argo's ``HasScaleDownDeadline``."""
    return bool(deadline_text(rs))


def seconds_left(rs: RawObject, now: datetime) -> float | None:
    """Seconds until the ReplicaSet's scale-down deadline; ``None`` when it has passed.

    Raises ``ValueError`` when the annotation is absent or not a time (Argo logs and treats the
    ReplicaSet as due).
    """
    text = deadline_text(rs)
    moment = parse_time(text)
    if moment is None:
        raise ValueError(f"ReplicaSet {name_of(rs)!r}: unreadable {SCALE_DOWN_DEADLINE_ANNOTATION} {text!r}")
    left = (moment - _aware(now)).total_seconds()
    return left if left > 0 else None


def add_deadline_patch(now: datetime, seconds: int) -> dict[str, Any]:
    """The merge patch setting the deadline to ``now + seconds`` (Argo's ``addScaleDownDelay``)."""
    value = format_time(_aware(now) + timedelta(seconds=seconds))
    return {"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: value}}}


#: the merge patch removing the deadline (Argo's ``removeScaleDownDelay``)
REMOVE_DEADLINE_PATCH: Final[Mapping[str, Any]] = {
    "metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: None}}
}


def ready_for_pause(
    rollout: Mapping[str, Any], new_rs: RawObject | None, all_rss: Sequence[RawObject]
) -> bool:
    """Argo's ``ReadyForPause``: the new ReplicaSet is at its target size and all of it available."""
    if new_rs is None:
        return False
    target = rmath.new_rs_new_replicas(rollout, all_rss, new_rs)
    return spec_replicas(new_rs) == target and status_count(new_rs, "availableReplicas") == target


@dataclass
class OldReplicaSets:
    """What :func:`scale_down_old` decided: sizes, deadline annotations, and when to look again."""

    #: ReplicaSet name -> new ``spec.replicas``
    scale: dict[str, int] = field(default_factory=dict)
    #: ReplicaSet name -> merge patch (the deadline annotation)
    annotate: dict[str, dict[str, Any]] = field(default_factory=dict)
    requeue: float | None = None

    def _requeue(self, seconds: float) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)


def scale_down_old(
    others: Sequence[RawObject],
    *,
    referenced: frozenset[str],
    replicas: int,
    delay_seconds: int,
    revision_limit: int | None,
    now: datetime,
) -> OldReplicaSets:
    """Argo's ``scaleDownOldReplicaSetsForBlueGreen`` over the ReplicaSets that are neither new nor
    stable, newest revision first.

    A ReplicaSet whose hash is still ``referenced`` (by a Service or the status) is left alone.
    One with pods and no deadline gets one (``now + delay_seconds``) and keeps its pods, while
    fewer than ``revision_limit`` ReplicaSets hold a deadline; one within its deadline keeps
    ``replicas`` pods; the rest go to zero. Differs from Argo on purpose for
    ``delay_seconds == 0``: the ReplicaSet is scaled down at once (Argo keeps it forever, its
    issue #1992).
    """
    result = OldReplicaSets()
    limit = NO_REVISION_LIMIT if revision_limit is None else revision_limit
    annotated = 0
    newest_first = sorted(others, key=lambda rs: (revision_of(rs), creation_key(rs)), reverse=True)
    for rs in newest_first:
        current = spec_replicas(rs)
        if pod_hash_of(rs) in referenced or current == 0:
            continue
        desired = 0
        if not has_deadline(rs):
            if annotated < limit and delay_seconds > 0:
                annotated += 1
                desired = current
                result.annotate[name_of(rs)] = add_deadline_patch(now, delay_seconds)
                result._requeue(float(delay_seconds))
        else:
            annotated += 1
            if annotated <= limit:
                try:
                    left = seconds_left(rs, now)
                except ValueError:
                    left = None
                if left is not None:
                    result._requeue(left)
                    desired = replicas
        if desired != current:
            result.scale[name_of(rs)] = desired
    return result


__all__ = [
    "NO_REVISION_LIMIT",
    "REMOVE_DEADLINE_PATCH",
    "SCALE_DOWN_DEADLINE_ANNOTATION",
    "OldReplicaSets",
    "add_deadline_patch",
    "deadline_text",
    "has_deadline",
    "ready_for_pause",
    "scale_down_old",
    "seconds_left",
]
