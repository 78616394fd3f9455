"""A Rollout's phase and message, decided from its spec and status as Argo Rollouts does.

Two functions, as in Argo's ``utils/rollout/rolloututil.go``:

- :func:`calculate_phase` is ``CalculateRolloutPhase``: what the controller writes into
  ``status.phase``/``status.message``. It trusts the status it is given (the controller has
  just computed it and stamps ``observedGeneration`` in the same write).
- :func:`rollout_phase` is ``GetRolloutPhase``: what a client (``rollouts status``, the
  dashboard) shows. It first says Progressing while the controller has not yet observed the
  latest spec, while an unpause is pending, or while a referenced workload's generation is
  unobserved; then it uses ``status.phase`` when set and falls back to the calculation.

Inputs are raw Rollout JSON. Argo CD's Rollout health check reads the same status fields and
reaches the same verdicts (it says "Suspended" where this says Paused).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from controller.core import conditions as cond


class RolloutPhase(StrEnum):
    """The four values of ``status.phase`` (``RolloutPhase`` in Argo's types.go)."""

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    DEGRADED = "Degraded"


MANUALLY_PAUSED = "manually paused"
RESTARTING = "rollout is restarting"
MORE_REPLICAS_NEED_UPDATE = "more replicas need to be updated"
UPDATED_REPLICAS_BECOMING_AVAILABLE = "updated replicas are still becoming available"
ACTIVE_SERVICE_CUTOVER_PENDING = "active service cutover pending"
WAITING_FOR_ANALYSIS = "waiting for analysis to complete"
WAITING_FOR_POST_PROMOTION_VERIFICATION = "waiting for post-promotion verification to complete"
OLD_REPLICAS_PENDING_TERMINATION = "old replicas are pending termination"
WAITING_FOR_STEPS = "waiting for all steps to complete"
WAITING_FOR_SPEC_OBSERVED = "waiting for rollout spec update to be observed"
WAITING_FOR_UNPAUSE = "waiting for rollout to unpause"
WAITING_FOR_WORKLOAD_OBSERVED = "waiting for rollout spec update to be observed for the reference workload"

WORKLOAD_GENERATION_ANNOTATION = "rollout.argoproj.io/workload-generation"

# AnalysisPhase values for which ``Completed()`` is true.
_COMPLETED_ANALYSIS_PHASES = frozenset({"Successful", "Failed", "Error", "Inconclusive"})
_GO_INT = re.compile(r"[+-]?[0-9]+")


def calculate_phase(rollout: Mapping[str, Any]) -> tuple[RolloutPhase, str]:
    """Argo's ``CalculateRolloutPhase`` over ``rollout["spec"]`` and ``rollout["status"]``.

    In order: an InvalidSpec condition, or any condition whose reason is RolloutAborted or
    ProgressDeadlineExceeded, is Degraded ("<type or reason>: <message>"); a manual pause or
    any pause condition is Paused; then the Progressing reasons; otherwise Healthy with "".
    """
    spec: Mapping[str, Any] = rollout.get("spec") or {}
    status: Mapping[str, Any] = rollout.get("status") or {}
    for condition in status.get("conditions") or ():
        if condition.get("type") == cond.INVALID_SPEC:
            return RolloutPhase.DEGRADED, f"{cond.INVALID_SPEC}: {condition.get('message', '')}"
        reason = condition.get("reason")
        if reason in (cond.ROLLOUT_ABORTED_REASON, cond.TIMED_OUT_REASON):
            return RolloutPhase.DEGRADED, f"{reason}: {condition.get('message', '')}"
    if spec.get("paused"):
        return RolloutPhase.PAUSED, MANUALLY_PAUSED
    for pause in status.get("pauseConditions") or ():
        return RolloutPhase.PAUSED, str(pause.get("reason", ""))
    if _restart_pending(spec, status):
        return RolloutPhase.PROGRESSING, RESTARTING
    replicas = spec.get("replicas")
    desired = 1 if replicas is None else int(replicas)
    updated = int(status.get("updatedReplicas") or 0)
    if updated < desired:
        return RolloutPhase.PROGRESSING, MORE_REPLICAS_NEED_UPDATE
    if int(status.get("availableReplicas") or 0) < updated:
        return RolloutPhase.PROGRESSING, UPDATED_REPLICAS_BECOMING_AVAILABLE
    strategy: Mapping[str, Any] = spec.get("strategy") or {}
    current = status.get("currentPodHash") or ""
    stable = status.get("stableRS") or ""
    fully_promoted = stable != "" and stable == current
    blue_green = strategy.get("blueGreen")
    canary = strategy.get("canary")
    if blue_green is not None:
        active = (status.get("blueGreen") or {}).get("activeSelector") or ""
        if active == "" or active != current:
            return RolloutPhase.PROGRESSING, ACTIVE_SERVICE_CUTOVER_PENDING
        if not fully_promoted:
            if _waiting_for_post_promotion_analysis(blue_green, status):
                return RolloutPhase.PROGRESSING, WAITING_FOR_ANALYSIS
            return RolloutPhase.PROGRESSING, WAITING_FOR_POST_PROMOTION_VERIFICATION
    elif canary is not None:
        if canary.get("trafficRouting") is None and int(status.get("replicas") or 0) > updated:
            # Only basic canary: traffic-routed canary and blue-green keep old pods on purpose
            # (scale-down delay) while the new ones take all the traffic.
            return RolloutPhase.PROGRESSING, OLD_REPLICAS_PENDING_TERMINATION
        if not fully_promoted:
            return RolloutPhase.PROGRESSING, WAITING_FOR_STEPS
    return RolloutPhase.HEALTHY, ""


def rollout_phase(rollout: Mapping[str, Any]) -> tuple[str, str]:
    """Argo's ``GetRolloutPhase``: the phase a client should display.

    Returns ``status.phase``/``status.message`` as written when present (they may be any
    string a controller wrote), so the first element is a ``str``, not always a
    :class:`RolloutPhase`.
    """
    status: Mapping[str, Any] = rollout.get("status") or {}
    if not _generation_observed(rollout):
        return RolloutPhase.PROGRESSING, WAITING_FOR_SPEC_OBSERVED
    if is_unpausing(rollout):
        return RolloutPhase.PROGRESSING, WAITING_FOR_UNPAUSE
    spec: Mapping[str, Any] = rollout.get("spec") or {}
    if spec.get("workloadRef") is not None and not _workload_generation_observed(rollout):
        return RolloutPhase.PROGRESSING, WAITING_FOR_WORKLOAD_OBSERVED
    phase = status.get("phase") or ""
    if phase:
        return str(phase), str(status.get("message") or "")
    return calculate_phase(rollout)


def is_unpausing(rollout: Mapping[str, Any]) -> bool:
    """A user cleared the pause conditions but the controller has not reacted yet."""
    status: Mapping[str, Any] = rollout.get("status") or {}
    return bool(status.get("controllerPause")) and not status.get("pauseConditions")


def is_fully_promoted(rollout: Mapping[str, Any]) -> bool:
    """Argo's ``IsFullyPromoted``: ``status.stableRS`` equals ``status.currentPodHash``."""
    status: Mapping[str, Any] = rollout.get("status") or {}
    return (status.get("stableRS") or "") == (status.get("currentPodHash") or "")


def _restart_pending(spec: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """``spec.restartAt`` is set and ``status.restartedAt`` is not the same instant."""
    restart_at = spec.get("restartAt")
    if restart_at is None:
        return False
    restarted_at = status.get("restartedAt")
    if restarted_at is None:
        return True
    wanted, done = cond.parse_time(restart_at), cond.parse_time(restarted_at)
    if wanted is None or done is None:
        return bool(restart_at != restarted_at)
    return wanted != done


def _waiting_for_post_promotion_analysis(blue_green: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """A post-promotion analysis is configured and its run has not completed."""
    if blue_green.get("postPromotionAnalysis") is None:
        return False
    run = (status.get("blueGreen") or {}).get("postPromotionAnalysisRunStatus")
    return run is None or run.get("status") not in _COMPLETED_ANALYSIS_PHASES


def _go_int(value: object, bits: int) -> int | None:
    """Parse as Go's ``strconv.ParseInt(s, 10, bits)`` would; ``None`` where Go errors."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    if not _GO_INT.fullmatch(text):
        return None
    number = int(text)
    limit = 1 << (bits - 1)
    return number if -limit <= number < limit else None


def _generation_observed(rollout: Mapping[str, Any]) -> bool:
    """Argo's ``isGenerationObserved``; a non-numeric observedGeneration (v0.9 hashes) counts
    as observed, and so does one ahead of ``metadata.generation`` (an all-digit hash)."""
    observed = _go_int((rollout.get("status") or {}).get("observedGeneration"), 64)
    if observed is None:
        return True
    generation = int((rollout.get("metadata") or {}).get("generation") or 0)
    return observed >= generation


def _workload_generation_observed(rollout: Mapping[str, Any]) -> bool:
    """Argo's ``isWorkloadGenerationObserved`` (annotation vs status.workloadObservedGeneration)."""
    annotations = (rollout.get("metadata") or {}).get("annotations") or {}
    wanted = _go_int(annotations.get(WORKLOAD_GENERATION_ANNOTATION), 32)
    if wanted is None:
        return True
    observed = _go_int((rollout.get("status") or {}).get("workloadObservedGeneration"), 32)
    if observed is None:
        return True
    return observed == wanted
