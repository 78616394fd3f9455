"""Rollout conditions: the types, reasons and messages Argo Rollouts writes, and pure helpers.

Everything here works on raw status JSON (``status.conditions`` is a list of dicts with
``type``, ``status``, ``lastUpdateTime``, ``lastTransitionTime``, ``reason``, ``message``)
and takes the current time as an argument; nothing reads a clock.

The strings are the ones Argo sets (``utils/conditions/conditions.go``, condition types in
``pkg/apis/rollouts/v1alpha1/types.go``), because Argo CD, notifications and users' scripts
match on them. Go's ``%q`` verb quotes a name; Kubernetes names never need escaping, so the
Python templates use plain double quotes, and ``str.format`` fields replace ``%s``/``%d``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

# --- condition types (RolloutConditionType) ---------------------------------------------------
INVALID_SPEC = "InvalidSpec"
AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
PAUSED = "Paused"
COMPLETED = "Completed"
HEALTHY = "Healthy"

# --- condition status values (corev1.ConditionStatus) -----------------------------------------
TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

# --- pause condition reasons (status.pauseConditions[].reason) --------------------------------
PAUSE_INCONCLUSIVE_ANALYSIS = "InconclusiveAnalysisRun"
PAUSE_INCONCLUSIVE_EXPERIMENT = "InconclusiveExperiment"
PAUSE_CANARY_STEP = "CanaryPauseStep"
PAUSE_BLUE_GREEN = "BlueGreenPause"

# --- reasons and messages ---------------------------------------------------------------------
INVALID_SPEC_REASON = "InvalidSpec"
MISSING_FIELD_MESSAGE = "Rollout has missing field '{field}'"
SELECT_ALL_MESSAGE = "This rollout is selecting all pods. A non-empty selector is required."

AVAILABLE_REASON = "AvailableReason"
AVAILABLE_MESSAGE = "Rollout has minimum availability"
NOT_AVAILABLE_MESSAGE = "Rollout does not have minimum availability"

REPLICA_SET_UPDATED_REASON = "ReplicaSetUpdated"
ROLLOUT_PROGRESSING_MESSAGE = 'Rollout "{name}" is progressing.'
REPLICA_SET_PROGRESSING_MESSAGE = 'ReplicaSet "{name}" is progressing.'
REPLICA_SET_NOT_AVAILABLE_REASON = "ReplicaSetNotAvailable"

FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
FAILED_RS_CREATE_MESSAGE = 'Failed to create new replica set "{name}": {error}'

NEW_REPLICA_SET_REASON = "NewReplicaSetCreated"
NEW_REPLICA_SET_MESSAGE = 'Created new replica set "{name}"'
NEW_REPLICA_SET_DETAILED_MESSAGE = "Created ReplicaSet {name} (revision {revision})"

FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
FOUND_NEW_RS_MESSAGE = 'Found new replica set "{name}"'

ROLLOUT_UPDATED_REASON = "RolloutUpdated"
ROLLOUT_UPDATED_MESSAGE = "Rollout updated to revision {revision}"

ROLLOUT_COMPLETED_REASON = "RolloutCompleted"
ROLLOUT_COMPLETED_MESSAGE = "Rollout completed update to revision {revision} ({pod_hash}): {detail}"
ROLLOUT_NOT_COMPLETED_REASON = "RolloutNotCompleted"
ROLLOUT_NOT_COMPLETED_MESSAGE = "Rollout not completed, started update to revision {revision} ({pod_hash})"

ROLLOUT_HEALTHY_REASON = "RolloutHealthy"
ROLLOUT_HEALTHY_MESSAGE = "Rollout is healthy"
ROLLOUT_NOT_HEALTHY_MESSAGE = "Rollout is not healthy"

ROLLOUT_ABORTED_REASON = "RolloutAborted"
ROLLOUT_ABORTED_MESSAGE = "Rollout aborted update to revision {revision}"

ROLLOUT_RETRY_REASON = "RolloutRetry"
ROLLOUT_RETRY_MESSAGE = "Retrying Rollout after abort"

ROLLOUT_PAUSED_REASON = "RolloutPaused"
ROLLOUT_PAUSED_MESSAGE = "Rollout is paused"
ROLLOUT_RESUMED_REASON = "RolloutResumed"
ROLLOUT_RESUMED_MESSAGE = "Rollout is resumed"

ROLLOUT_STEP_COMPLETED_REASON = "RolloutStepCompleted"
ROLLOUT_STEP_COMPLETED_MESSAGE = "Rollout step {step}/{total} completed ({description})"

TRAFFIC_WEIGHT_UPDATED_REASON = "TrafficWeightUpdated"
TRAFFIC_WEIGHT_UPDATED_MESSAGE = "Traffic weight updated {detail}"

NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"

ANALYSIS_RUN_FAILED_REASON = "AnalysisRunFailed"
ANALYSIS_RUN_FAILED_MESSAGE = "AnalysisRun '{run}' owned by the Rollout '\"{rollout}\"' failed."
EXPERIMENT_FAILED_REASON = "ExperimentFailed"
EXPERIMENT_FAILED_MESSAGE = "Experiment '{experiment}' owned by the Rollout '\"{rollout}\"' has timed out."

TIMED_OUT_REASON = "ProgressDeadlineExceeded"
ROLLOUT_TIMED_OUT_MESSAGE = 'Rollout "{name}" has timed out progressing.'
REPLICA_SET_TIMED_OUT_MESSAGE = 'ReplicaSet "{name}" has timed out progressing.'
REPLICA_SET_COMPLETED_MESSAGE = 'ReplicaSet "{name}" has successfully progressed.'

ROLLOUT_DELETED_REASON = "RolloutDeleted"
ROLLOUT_DELETED_MESSAGE = "Rollout {namespace}/{name} is deleted."

SCALING_REPLICA_SET_REASON = "ScalingReplicaSet"
SCALING_REPLICA_SET_MESSAGE = "Scaled {role} ReplicaSet {name} (revision {revision}) from {old} to {new}"

SERVICE_REFERENCE_REASON = "ServiceReferenceError"
SERVICE_MANAGED_ELSEWHERE_MESSAGE = 'Service "{name}" is managed by another Rollout'

RECONCILIATION_ERROR_REASON = "ReconciliationError"

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600

Condition = dict[str, Any]


def format_time(moment: datetime) -> str:
    """Render a time the way ``metav1.Time`` serialises it: UTC, whole seconds, ``Z``.

    A naive datetime is taken to be UTC already.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime | None:
    """Parse an RFC 3339 timestamp from the API; ``None`` when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime) -> Condition:
    """A condition stamped with ``now`` as both its update and transition time."""
    stamp = format_time(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def get_condition(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    """The first condition of ``type_``, or ``None``."""
    for condition in conditions or ():
        if condition.get("type") == type_:
            return condition
    return None


def remove_condition(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> list[Condition]:
    """A copy of ``conditions`` without any condition of ``type_``."""
    return [dict(c) for c in conditions or () if c.get("type") != type_]


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None, new: Mapping[str, Any], now: datetime
) -> list[Condition]:
    """Set ``new`` into a copy of ``conditions`` with Argo's rules.

    - A condition of the same type with the same status *and* reason is left exactly as it
      is (message and times included): the result equals the input.
    - Otherwise the old one is dropped and ``new`` appended, with ``lastUpdateTime`` = now;
      ``lastTransitionTime`` is kept from the old condition when the status did not change,
      else it is now.

    ``new`` needs ``type``, ``status``, ``reason`` and ``message``; its times are ignored.
    Callers tell "changed" from the result by comparing it with the input.
    """
    current = get_condition(conditions, new["type"])
    if (
        current is not None
        and current.get("status") == new["status"]
        and current.get("reason") == new["reason"]
    ):
        return [dict(c) for c in conditions or ()]
    condition = new_condition(new["type"], new["status"], new["reason"], new.get("message", ""), now)
    if current is not None and current.get("status") == new["status"]:
        condition["lastTransitionTime"] = current.get("lastTransitionTime", condition["lastTransitionTime"])
    return [*remove_condition(conditions, new["type"]), condition]


def rollout_completed(new_status: Mapping[str, Any]) -> bool:
    """Argo's ``RolloutCompleted``: the stable hash is set and equals the current pod hash."""
    stable = new_status.get("stableRS") or ""
    return stable != "" and stable == (new_status.get("currentPodHash") or "")


def rollout_healthy(rollout: Mapping[str, Any], new_status: Mapping[str, Any]) -> bool:
    """Argo's ``RolloutHealthy``: every replica updated and available, generation observed,
    and the strategy finished (blue-green: services on the current hash; canary: all steps
    run, current hash stable, old replicas gone)."""
    spec = rollout.get("spec") or {}
    strategy = spec.get("strategy") or {}
    replicas = _replicas(spec)
    completed = True
    blue_green = strategy.get("blueGreen")
    canary = strategy.get("canary")
    current = new_status.get("currentPodHash") or ""
    if blue_green is not None:
        bg_status = new_status.get("blueGreen") or {}
        active_done = (bg_status.get("activeSelector") or "") == current
        preview_done = True
        if blue_green.get("previewService"):
            preview_done = (bg_status.get("previewSelector") or "") == current
        completed = active_done and preview_done
    if canary is not None:
        step_count = len(canary.get("steps") or [])
        index = new_status.get("currentStepIndex")
        all_steps = True if step_count == 0 or index is None else index == step_count
        stable_is_current = rollout_completed(new_status)
        old_gone = (new_status.get("replicas") or 0) == replicas
        completed = all_steps and stable_is_current and old_gone
    generation = str((rollout.get("metadata") or {}).get("generation") or 0)
    observed = (rollout.get("status") or {}).get("observedGeneration") or ""
    return (
        (new_status.get("updatedReplicas") or 0) == replicas
        and (new_status.get("availableReplicas") or 0) == replicas
        and observed == generation
        and completed
    )


def rollout_progressing(rollout: Mapping[str, Any], new_status: Mapping[str, Any]) -> bool:
    """Argo's ``RolloutProgressing``: did this sync make progress compared with the old status?"""
    old = rollout.get("status") or {}
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    strategy_progress = False
    if strategy.get("blueGreen") is not None:
        old_bg, new_bg = old.get("blueGreen") or {}, new_status.get("blueGreen") or {}
        strategy_progress = (old_bg.get("activeSelector") or "") != (new_bg.get("activeSelector") or "") or (
            old_bg.get("previewSelector") or ""
        ) != (new_bg.get("previewSelector") or "")
    if strategy.get("canary") is not None:
        stable_changed = (new_status.get("stableRS") or "") != (old.get("stableRS") or "")
        old_index, new_index = old.get("currentStepIndex"), new_status.get("currentStepIndex")
        step_changed = old_index is not None and new_index is not None and old_index != new_index
        hash_changed = (new_status.get("currentStepHash") or "") != (old.get("currentStepHash") or "")
        strategy_progress = stable_changed or step_changed or hash_changed

    def count(status: Mapping[str, Any], key: str) -> int:
        return int(status.get(key) or 0)

    old_old = count(old, "replicas") - count(old, "updatedReplicas")
    new_old = count(new_status, "replicas") - count(new_status, "updatedReplicas")
    return (
        count(new_status, "updatedReplicas") != count(old, "updatedReplicas")
        or new_old < old_old
        or count(new_status, "readyReplicas") > count(old, "readyReplicas")
        or count(new_status, "availableReplicas") > count(old, "availableReplicas")
        or strategy_progress
    )


def rollout_timed_out(rollout: Mapping[str, Any], new_status: Mapping[str, Any], now: datetime) -> bool:
    """Argo's ``RolloutTimedOut``: the Progressing condition is older than the deadline.

    No Progressing condition, or one with reason ``RolloutAborted``, never times out; one that
    already says ``ProgressDeadlineExceeded`` stays timed out.
    """
    condition = get_condition(new_status.get("conditions"), PROGRESSING)
    if condition is None or condition.get("reason") == ROLLOUT_ABORTED_REASON:
        return False
    if condition.get("reason") == TIMED_OUT_REASON:
        return True
    last_update = parse_time(condition.get("lastUpdateTime"))
    if last_update is None:
        last_update = datetime(1, 1, 1, tzinfo=UTC)
    deadline = (rollout.get("spec") or {}).get("progressDeadlineSeconds")
    if deadline is None:
        deadline = DEFAULT_PROGRESS_DEADLINE_SECONDS
    moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return last_update + timedelta(seconds=int(deadline)) < moment


def _replicas(spec: Mapping[str, Any]) -> int:
    """``spec.replicas`` with Argo's default of 1 when unset."""
    value = spec.get("replicas")
    return 1 if value is None else int(value)
