"""Replica arithmetic for canary and blue-green Rollouts, exactly as Argo Rollouts computes it.

Numeric functions take plain integers; the others take raw Rollout/ReplicaSet JSON. No I/O.
Sources: Argo's ``utils/replicaset/canary.go``, ``utils/replicaset/replicaset.go`` and
``utils/defaults/defaults.go``. Where Argo decides in floating point (the floor/ceiling tie and
the weight distance) this module does the same double arithmetic, so its choices match.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_REPLICAS = 1
# Argo's defaults are the *strings* "25"; its int-or-percent parser reads every string as a
# percentage, so they mean 25%.
DEFAULT_MAX_SURGE = "25"
DEFAULT_MAX_UNAVAILABLE = "25"
POD_TEMPLATE_HASH_LABEL = "rollouts-pod-template-hash"

IntOrPercent = int | str
_GO_ATOI = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class CanaryCounts:
    """Target ``spec.replicas`` for the canary (new) and stable ReplicaSets."""

    canary: int
    stable: int


@dataclass(frozen=True)
class TrafficWeights:
    """The weights the traffic router currently applies (``status.canary.weights``)."""

    canary: int
    stable: int


@dataclass(frozen=True)
class _RS:
    """A ReplicaSet as the maths sees it: desired and available pods."""

    spec: int
    available: int


def resolve_int_or_percent(value: int | str | None, total: int, *, round_up: bool, default: str) -> int:
    """Resolve an IntOrString against ``total`` like ``intstr.GetValueFromIntOrPercent``.

    An int is returned as is. A string is a percentage whether or not it ends in ``%`` (every
    ``%`` is stripped, the rest must be a Go integer), scaled by ``total`` and rounded up or
    down. ``None`` means ``default``. Raises ``ValueError`` for a malformed string.
    """
    if value is None:
        value = default
    if isinstance(value, bool):
        raise ValueError(f"invalid int-or-percent value {value!r}")
    if isinstance(value, int):
        return value
    digits = value.replace("%", "")
    if not _GO_ATOI.fullmatch(digits):
        raise ValueError(
            f"invalid int-or-percent value {value!r}: expected an integer or a percentage like '25%'"
        )
    scaled = int(digits) * total
    return -(-scaled // 100) if round_up else scaled // 100


def resolve_fenceposts(
    *, replicas: int, max_surge: IntOrPercent | None, max_unavailable: IntOrPercent | None
) -> tuple[int, int]:
    """Argo's ``resolveFenceposts`` for canary: (surge rounded up, unavailable rounded down).

    If both come to zero, unavailable becomes 1 so a rollout can always move. A malformed
    value makes both zero, as in Argo (validation is what rejects it).
    """
    try:
        surge = resolve_int_or_percent(max_surge, replicas, round_up=True, default=DEFAULT_MAX_SURGE)
        unavailable = resolve_int_or_percent(
            max_unavailable, replicas, round_up=False, default=DEFAULT_MAX_UNAVAILABLE
        )
    except ValueError:
        return 0, 0
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge_value(
    *, replicas: int, max_surge: IntOrPercent | None, max_unavailable: IntOrPercent | None
) -> int:
    """Argo's ``MaxSurge`` for a canary Rollout (blue-green never surges)."""
    return resolve_fenceposts(replicas=replicas, max_surge=max_surge, max_unavailable=max_unavailable)[0]


def max_unavailable_value(
    *,
    replicas: int,
    max_surge: IntOrPercent | None,
    max_unavailable: IntOrPercent | None,
    blue_green: bool = False,
) -> int:
    """Argo's ``MaxUnavailable``: 0 for 0 replicas, never more than ``replicas``.

    Canary resolves it together with maxSurge (the 0/0 -> 1 rule); blue-green resolves
    ``spec.strategy.blueGreen.maxUnavailable`` on its own.
    """
    if replicas == 0:
        return 0
    if blue_green:
        try:
            value = resolve_int_or_percent(
                max_unavailable, replicas, round_up=False, default=DEFAULT_MAX_UNAVAILABLE
            )
        except ValueError:
            value = 0
    else:
        value = resolve_fenceposts(replicas=replicas, max_surge=max_surge, max_unavailable=max_unavailable)[1]
    return min(value, replicas)


def weight_to_replicas(replicas: int, weight: int) -> int:
    """``trafficWeightToReplicas``: ``ceil(weight% of replicas)``."""
    return -(-(weight * replicas) // 100)


def approximate_weighted_counts(replicas: int, weight: int, max_surge: int) -> CanaryCounts:
    """Argo's ``approximateWeightedCanaryStableReplicaCounts``.

    Picks, among canary = floor/ceil of the weighted count over a total of ``replicas`` (or
    ``replicas + 1`` when surging is allowed), the split whose canary share is closest to
    ``weight``; on a floor/ceil tie it keeps the larger canary. For weights 1..99 and two or
    more pods (surge included) neither side is left at zero.
    """
    if replicas == 0:
        return CanaryCounts(0, 0)
    ceil_count = -(-(replicas * weight) // 100)
    floor_count = (replicas * weight) // 100
    zero_allowed = weight in (0, 100) or (replicas == 1 and max_surge == 0)
    options: list[tuple[int, int]] = []
    if ceil_count < replicas or zero_allowed:
        options.append((ceil_count, replicas))
    if not _floor_ceiling_tied(weight, replicas) and (floor_count != 0 or zero_allowed):
        options.append((floor_count, replicas))
    if max_surge > 0:
        options.append((ceil_count, replicas + 1))
        if not _floor_ceiling_tied(weight, replicas + 1) and (floor_count != 0 or zero_allowed):
            options.append((floor_count, replicas + 1))
    if not options:
        return CanaryCounts(0, replicas)
    canary, total = min(options, key=lambda option: _weight_delta(weight, option[0], option[1]))
    return CanaryCounts(canary, total - canary)


def basic_canary_counts(
    *,
    replicas: int,
    set_weight: int,
    max_surge: IntOrPercent | None,
    max_unavailable: IntOrPercent | None,
    stable_available: int,
    canary_available: int,
    stable_rs_replicas: int | None,
    canary_rs_replicas: int | None,
    other_rs_replicas: int = 0,
    stable_is_canary: bool = False,
) -> CanaryCounts:
    """Argo's ``CalculateReplicaCountsForBasicCanary``: the next scale for canary and stable.

    ``set_weight`` is the desired weight (:func:`canary_replicas_or_weight`). ``None`` for
    ``canary_rs_replicas`` means no new ReplicaSet exists yet; ``None`` for
    ``stable_rs_replicas`` means no stable ReplicaSet distinct from it. ``stable_is_canary``
    says the stable ReplicaSet *is* the new one (fully promoted): Argo then still counts it
    as the stable in the scale-down accounting. ``other_rs_replicas`` is the sum of
    ``spec.replicas`` of every other ReplicaSet (Argo compares desired, not available, pods).

    The steps: split ``replicas`` by weight (:func:`approximate_weighted_counts`); scale up,
    stable first, within ``replicas + maxSurge``; if other ReplicaSets still have pods, stop
    there so they drain first; otherwise scale down the side that shrinks while keeping
    ``replicas - maxUnavailable`` available, and trim both to stay within the surge limit.
    """
    surge = max_surge_value(replicas=replicas, max_surge=max_surge, max_unavailable=max_unavailable)
    desired = approximate_weighted_counts(replicas, set_weight, surge)
    desired_new, desired_stable = desired.canary, desired.stable
    new = None if canary_rs_replicas is None else _RS(canary_rs_replicas, canary_available)
    own = (
        None if stable_is_canary or stable_rs_replicas is None else _RS(stable_rs_replicas, stable_available)
    )
    stable = new if stable_is_canary else own  # what Argo's scale-down accounting sees as stable
    new_count = new.spec if new is not None else 0
    stable_count = own.spec if own is not None else 0
    if own is None:  # no distinct stable: the new ReplicaSet goes straight to 100%
        desired_new, desired_stable = replicas, 0
    max_allowed = replicas + surge
    scale_up = max_allowed - (other_rs_replicas + new_count + stable_count)
    if own is not None and own.spec < desired_stable and scale_up > 0:
        if own.spec + scale_up < desired_stable:
            stable_count, scale_up = own.spec + scale_up, 0
        else:
            stable_count = desired_stable
            scale_up -= desired_stable - own.spec
    if new is not None and new.spec < desired_new and scale_up > 0:
        new_count = min(new.spec + scale_up, desired_new)

    if other_rs_replicas > 0:
        return CanaryCounts(new_count, stable_count)

    min_available = replicas - max_unavailable_value(
        replicas=replicas, max_surge=max_surge, max_unavailable=max_unavailable
    )
    increasing = new is None or desired_new >= new.spec
    to_scale_down = _scale_down_basis(new, ignore_availability=not increasing) + _scale_down_basis(
        stable, ignore_availability=increasing
    )
    if to_scale_down <= min_available:
        return CanaryCounts(new_count, stable_count)
    scale_down = to_scale_down - min_available
    if not increasing:
        new_count = _scale_down_toward(new, desired_new, scale_down, new_count)
        new_count, stable_count = _within_limits(
            new, stable, new_count, stable_count, max_allowed, min_available
        )
    elif own is not None:
        stable_count = _scale_down_toward(own, desired_stable, scale_down, stable_count)
        stable_count, new_count = _within_limits(
            own, new, stable_count, new_count, max_allowed, min_available
        )
    return CanaryCounts(new_count, stable_count)


def traffic_routed_canary_counts(
    *,
    replicas: int,
    weight: int,
    canary_replicas: int | None = None,
    dynamic_stable_scale: bool = False,
    min_pods_per_replica_set: int | None = None,
    aborted: bool = False,
    current_weights: TrafficWeights | None = None,
) -> CanaryCounts:
    """Argo's ``CalculateReplicaCountsForTrafficRoutedCanary``.

    The canary gets ``canary_replicas`` (a ``setCanaryScale.replicas`` step) or
    ``ceil(weight% of replicas)``; the stable stays at ``replicas``, unless
    ``dynamic_stable_scale``: then the stable follows the higher of the desired and the
    current stable weight, and while aborting the canary keeps the pods its current weight
    needs. ``minPodsPerReplicaSet`` raises any non-zero count to at least that many.
    """
    canary = canary_replicas
    if canary is None:
        canary = _min_pods(weight_to_replicas(replicas, weight), min_pods_per_replica_set)
    if not dynamic_stable_scale:
        return CanaryCounts(canary, replicas)
    stable = weight_to_replicas(replicas, 100 - weight)
    if current_weights is not None:
        stable = max(stable, weight_to_replicas(replicas, current_weights.stable))
        if aborted:
            canary = max(weight_to_replicas(replicas, current_weights.canary), canary)
    return CanaryCounts(
        _min_pods(canary, min_pods_per_replica_set), _min_pods(stable, min_pods_per_replica_set)
    )


def current_step(rollout: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, int | None]:
    """Argo's ``GetCurrentCanaryStep``: (step, index); step is ``None`` past the last step,
    and both are ``None`` for a Rollout without canary steps."""
    steps = _steps(rollout)
    if not steps:
        return None, None
    index = int((rollout.get("status") or {}).get("currentStepIndex") or 0)
    if index >= len(steps):
        return None, index
    return steps[index], index


def desired_weight(
    steps: Sequence[Mapping[str, Any]], current_step_index: int | None, *, aborted: bool = False
) -> int:
    """Argo's ``GetCurrentSetWeight``: the last ``setWeight`` at or before the current step.

    0 when aborted or when no earlier step sets a weight; 100 when there are no steps or all
    have run.
    """
    if aborted:
        return 0
    index = current_step_index or 0
    if not steps or index >= len(steps):
        return 100
    for step in reversed(steps[: index + 1]):
        if step.get("setWeight") is not None:
            return int(step["setWeight"])
    return 0


def set_canary_scale(rollout: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Argo's ``UseSetCanaryScale``: the ``setCanaryScale`` in force, if any.

    Only with traffic routing; ignored while aborted unless ``abortScaleDownDelaySeconds``
    is 0 (leave the canary up); ``matchTrafficWeight: true`` cancels an earlier one.
    """
    canary = _canary(rollout)
    if canary is None or canary.get("trafficRouting") is None:
        return None
    if (rollout.get("status") or {}).get("abort") and canary.get("abortScaleDownDelaySeconds") != 0:
        return None
    step, index = current_step(rollout)
    if step is None or index is None:
        return None
    for candidate in reversed(_steps(rollout)[: index + 1]):
        scale = candidate.get("setCanaryScale")
        if scale is None:
            continue
        return None if scale.get("matchTrafficWeight") else scale
    return None


def canary_replicas_or_weight(rollout: Mapping[str, Any]) -> tuple[int | None, int]:
    """Argo's ``GetCanaryReplicasOrWeight``: (explicit canary replicas or ``None``, weight).

    Weight 100 when promoting fully, when there is no stable yet, or when the current pod
    hash is the stable one; otherwise a ``setCanaryScale`` in force, else the step weight.
    """
    status = rollout.get("status") or {}
    stable = status.get("stableRS") or ""
    if status.get("promoteFull") or stable == "" or (status.get("currentPodHash") or "") == stable:
        return None, 100
    scale = set_canary_scale(rollout)
    if scale is not None:
        if scale.get("replicas") is not None:
            return int(scale["replicas"]), 0
        if scale.get("weight") is not None:
            return None, int(scale["weight"])
    _, index = current_step(rollout)
    return None, desired_weight(_steps(rollout), index, aborted=bool(status.get("abort")))


def canary_counts_for_rollout(
    rollout: Mapping[str, Any],
    new_rs: Mapping[str, Any] | None,
    stable_rs: Mapping[str, Any] | None,
    other_rss: Sequence[Mapping[str, Any]] = (),
    weights: TrafficWeights | None = None,
) -> CanaryCounts:
    """Canary and stable targets for a canary Rollout from raw objects, basic or routed."""
    spec = rollout.get("spec") or {}
    canary = _canary(rollout) or {}
    replicas = _replicas(spec)
    explicit, weight = canary_replicas_or_weight(rollout)
    if canary.get("trafficRouting") is not None:
        return traffic_routed_canary_counts(
            replicas=replicas,
            weight=weight,
            canary_replicas=explicit,
            dynamic_stable_scale=bool(canary.get("dynamicStableScale")),
            min_pods_per_replica_set=canary.get("minPodsPerReplicaSet"),
            aborted=bool((rollout.get("status") or {}).get("abort")),
            current_weights=weights,
        )
    same = new_rs is not None and stable_rs is not None and _name(new_rs) == _name(stable_rs)
    return basic_canary_counts(
        replicas=replicas,
        set_weight=weight,
        max_surge=canary.get("maxSurge"),
        max_unavailable=canary.get("maxUnavailable"),
        canary_rs_replicas=None if new_rs is None else _spec_replicas(new_rs),
        canary_available=0 if new_rs is None else _available(new_rs),
        stable_rs_replicas=None if stable_rs is None or same else _spec_replicas(stable_rs),
        stable_available=0 if stable_rs is None else _available(stable_rs),
        other_rs_replicas=sum(_spec_replicas(rs) for rs in other_rss),
        stable_is_canary=same,
    )


def new_rs_new_replicas(
    rollout: Mapping[str, Any],
    all_rss: Sequence[Mapping[str, Any]],
    new_rs: Mapping[str, Any],
    weights: TrafficWeights | None = None,
) -> int:
    """Argo's ``NewRSNewReplicas``: how many pods the new ReplicaSet should have now.

    Blue-green: full size, or ``previewReplicaCount`` until the active service points at the
    new ReplicaSet (unless promoting fully, or resumed past the preview scale-up checkpoint).
    Canary: the canary count from :func:`canary_counts_for_rollout`.
    """
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    strategy = spec.get("strategy") or {}
    blue_green = strategy.get("blueGreen")
    if blue_green is not None:
        desired = _replicas(spec)
        preview = blue_green.get("previewReplicaCount")
        if preview is None:
            return desired
        active_hash = (status.get("blueGreen") or {}).get("activeSelector") or ""
        active = next((rs for rs in all_rss if active_hash and _pod_hash(rs) == active_hash), None)
        if active is None or _name(active) == _name(new_rs) or status.get("promoteFull"):
            return desired
        if _pod_hash(new_rs) != (status.get("currentPodHash") or ""):
            return int(preview)
        not_paused = not spec.get("paused") and not status.get("pauseConditions")
        if not_paused and (status.get("blueGreen") or {}).get("scaleUpPreviewCheckPoint"):
            return desired
        return int(preview)
    if strategy.get("canary") is not None:
        stable_hash = status.get("stableRS") or ""
        stable = None
        if stable_hash:
            if _pod_hash(new_rs) == stable_hash:
                stable = new_rs
            else:
                stable = next((rs for rs in all_rss if _pod_hash(rs) == stable_hash), None)
        others = [rs for rs in all_rss if _name(rs) not in {_name(new_rs), _name(stable) if stable else None}]
        return canary_counts_for_rollout(rollout, new_rs, stable, others, weights).canary
    raise ValueError("no rollout strategy provided: set spec.strategy.canary or spec.strategy.blueGreen")


def at_desired_canary_counts(
    rollout: Mapping[str, Any],
    new_rs: Mapping[str, Any] | None,
    stable_rs: Mapping[str, Any] | None,
    other_rss: Sequence[Mapping[str, Any]] = (),
    weights: TrafficWeights | None = None,
) -> bool:
    """Argo's ``AtDesiredReplicaCountsForCanary``: may the current step count as reached?

    The new ReplicaSet must be at its target and fully available; the stable at its target
    with that many pods created (skipped with dynamic stable scale); for basic canary no
    other ReplicaSet may have available pods.
    """
    canary = _canary(rollout) or {}
    routed = canary.get("trafficRouting") is not None
    target = canary_counts_for_rollout(rollout, new_rs, stable_rs, other_rss, weights)
    if new_rs is None or not (_spec_replicas(new_rs) == target.canary == _available(new_rs)):
        return False
    if not routed or not canary.get("dynamicStableScale"):
        created = int(((stable_rs or {}).get("status") or {}).get("replicas") or 0)
        if stable_rs is None or not (_spec_replicas(stable_rs) == target.stable == created):
            return False
    return routed or sum(_available(rs) for rs in other_rss) == 0


def _floor_ceiling_tied(weight: int, total: int) -> bool:
    """Is ``weight%`` of ``total`` exactly halfway between two integers (Argo's float test)?"""
    return math.modf(float(total) * (float(weight) / 100))[0] == 0.5


def _weight_delta(weight: int, canary: int, total: int) -> float:
    """How far a canary share of ``canary/total`` is from ``weight`` percent."""
    return abs(float(canary * 100) / float(total) - float(weight))


def _scale_down_basis(rs: _RS | None, *, ignore_availability: bool) -> int:
    """Argo's ``GetReplicasForScaleDown``: pods of ``rs`` that may count toward availability."""
    if rs is None:
        return 0
    if rs.spec < rs.available or ignore_availability:
        return rs.spec
    return rs.available


def _scale_down_toward(rs: _RS | None, desired: int, scale_down: int, count: int) -> int:
    """Argo's ``calculateScaleDownReplicaCount``: shrink ``rs`` toward ``desired``."""
    if rs is not None and rs.spec > desired:
        return max(desired, rs.spec - scale_down)
    return count


def _within_limits(
    drain: _RS | None,
    adjust: _RS | None,
    drain_count: int,
    adjust_count: int,
    max_allowed: int,
    min_available: int,
) -> tuple[int, int]:
    """Argo's ``adjustReplicaWithinLimits``: trim to the surge limit without breaking
    availability, taking the excess from the draining side."""
    over = max(0, adjust_count + drain_count - max_allowed)
    available = min(drain.available, drain_count) if drain is not None else 0
    if adjust is not None:
        adjust_count -= over
        available += min(adjust.available, adjust_count)
        lost = max(0, adjust.available - adjust_count)
        missing = max(0, min_available - available)
        adjust_count += min(lost, missing)
        drain_count -= max(0, adjust_count + drain_count - max_allowed)
    return drain_count, adjust_count


def _min_pods(count: int, minimum: int | None) -> int:
    """``CheckMinPodsPerReplicaSet``: raise a non-zero count to ``minimum``."""
    if count == 0 or minimum is None:
        return count
    return max(count, int(minimum))


def _canary(rollout: Mapping[str, Any]) -> Mapping[str, Any] | None:
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    canary: Mapping[str, Any] | None = strategy.get("canary")
    return canary


def _steps(rollout: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((_canary(rollout) or {}).get("steps") or [])


def _replicas(spec: Mapping[str, Any]) -> int:
    value = spec.get("replicas")
    return DEFAULT_REPLICAS if value is None else int(value)


def _name(rs: Mapping[str, Any] | None) -> str | None:
    return None if rs is None else (rs.get("metadata") or {}).get("name")


def _pod_hash(rs: Mapping[str, Any]) -> str:
    return str(((rs.get("metadata") or {}).get("labels") or {}).get(POD_TEMPLATE_HASH_LABEL) or "")


def _spec_replicas(rs: Mapping[str, Any]) -> int:
    return _replicas(rs.get("spec") or {})


def _available(rs: Mapping[str, Any]) -> int:
    return int((rs.get("status") or {}).get("availableReplicas") or 0)
