"""Status for a canary Rollout: Argo's ``calculateRolloutConditions``, pause bookkeeping
(``pauseContext.CalculatePauseStatus``) and the paused/retry conditions
(``checkPausedConditions``), over raw status dicts. Pure: time comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.core import conditions as c
from controller.core.plan import NORMAL, WARNING, Event

Status = dict[str, Any]


@dataclass
class PauseContext:
    """What this reconcile decided about pauses and abort (Argo's ``pauseContext``)."""

    old: Mapping[str, Any]
    add_reasons: list[str] = field(default_factory=list)
    remove_reasons: list[str] = field(default_factory=list)
    clear: bool = False
    remove_abort: bool = False
    #: ``AddAbort`` (``progressDeadlineAbort``): abort now, with a fresh ``abortedAt``
    add_abort: bool = False

    def aborted(self) -> bool:
        """``IsAborted``: abort was added, or the status says abort and nothing removed it."""
        return not self.remove_abort and (self.add_abort or bool(self.old.get("abort")))

    def condition(self, reason: str) -> Mapping[str, Any] | None:
        """The existing pause condition with ``reason``."""
        return next((p for p in self.old.get("pauseConditions") or () if p.get("reason") == reason), None)

    def apply(self, status: Status, now: datetime) -> None:
        """``CalculatePauseStatus``: write abort, abortedAt, pauseConditions, controllerPause."""
        if self.add_abort:
            status["abort"] = True
            status["abortedAt"] = c.format_time(now)
            return
        if self.aborted():
            status["abort"] = True
            status["abortedAt"] = self.old.get("abortedAt") or c.format_time(now)
            return
        if self.clear:
            return
        controller_pause = bool(self.old.get("controllerPause"))
        kept: list[dict[str, Any]] = []
        seen: set[str] = set()
        for pause in self.old.get("pauseConditions") or ():
            if pause.get("reason") not in self.remove_reasons:
                kept.append(dict(pause))
            seen.add(str(pause.get("reason")))
        for reason in self.add_reasons:
            if reason not in seen:
                kept.append({"reason": reason, "startTime": c.format_time(now)})
                seen.add(reason)
                controller_pause = True
        if kept:
            status["controllerPause"] = controller_pause
            status["pauseConditions"] = kept


def paused_conditions(
    rollout: Mapping[str, Any], conditions: Sequence[Mapping[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Argo's ``checkPausedConditions``, folded into this reconcile's conditions.

    Progressing becomes Unknown/RolloutPaused or RolloutResumed as the pause starts or ends,
    Unknown/RolloutRetry when an abort was cleared; Paused mirrors the pause.
    """
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    result = [dict(x) for x in conditions]
    progressing = c.get_condition(result, c.PROGRESSING)
    paused_reason = progressing is not None and progressing.get("reason") == c.ROLLOUT_PAUSED_REASON
    is_paused = bool(status.get("pauseConditions")) or bool(spec.get("paused"))
    if status.get("abort"):
        pass  # aborted: Progressing says RolloutAborted, whatever the pause (else they alternate)
    elif is_paused and not paused_reason:
        result = _set(
            result, c.PROGRESSING, c.UNKNOWN, c.ROLLOUT_PAUSED_REASON, c.ROLLOUT_PAUSED_MESSAGE, now
        )
    elif not is_paused and paused_reason:
        result = _set(
            result, c.PROGRESSING, c.UNKNOWN, c.ROLLOUT_RESUMED_REASON, c.ROLLOUT_RESUMED_MESSAGE, now
        )
    aborted_before = progressing is not None and progressing.get("reason") == c.ROLLOUT_ABORTED_REASON
    if not status.get("abort") and aborted_before:
        result = _set(result, c.PROGRESSING, c.UNKNOWN, c.ROLLOUT_RETRY_REASON, c.ROLLOUT_RETRY_MESSAGE, now)
    paused = c.get_condition(result, c.PAUSED)
    paused_true = paused is not None and paused.get("status") == c.TRUE
    if is_paused != paused_true and not aborted_before:
        result = _set(
            result,
            c.PAUSED,
            c.TRUE if is_paused else c.FALSE,
            c.ROLLOUT_PAUSED_REASON,
            c.ROLLOUT_PAUSED_MESSAGE,
            now,
        )
    return result


def _set(
    conditions: Sequence[Mapping[str, Any]], type_: str, status: str, reason: str, message: str, now: datetime
) -> list[dict[str, Any]]:
    new = {"type": type_, "status": status, "reason": reason, "message": message}
    return c.set_condition(conditions, new, now)


def rollout_conditions(
    rollout: Mapping[str, Any],
    new_status: Status,
    *,
    aborted: bool,
    new_rs_name: str | None,
    all_available: int,
    revision: int,
    now: datetime,
    abort_message: str = "",
) -> tuple[list[dict[str, Any]], list[Event], bool]:
    """Argo's ``calculateRolloutConditions`` for a canary: Healthy, Progressing, Available,
    Completed, with the RolloutAborted and RolloutNotCompleted events.

    The flag is Argo's ``AddAbort``: the progress deadline passed (or had passed) and
    ``spec.progressDeadlineAbort`` is set, so this reconcile aborts the update."""
    spec = rollout.get("spec") or {}
    old = rollout.get("status") or {}
    events: list[Event] = []
    add_abort = False
    conds: list[dict[str, Any]] = [dict(x) for x in new_status.get("conditions") or ()]
    is_paused = bool(old.get("pauseConditions")) or bool(spec.get("paused"))
    healthy = c.rollout_healthy(rollout, new_status)
    became_unhealthy = False
    if not is_paused and healthy:
        conds = _set(conds, c.HEALTHY, c.TRUE, c.ROLLOUT_HEALTHY_REASON, c.ROLLOUT_HEALTHY_MESSAGE, now)
    elif c.get_condition(old.get("conditions"), c.HEALTHY) is not None:
        before = conds
        conds = _set(conds, c.HEALTHY, c.FALSE, c.ROLLOUT_HEALTHY_REASON, c.ROLLOUT_NOT_HEALTHY_MESSAGE, now)
        became_unhealthy = conds != before
    if aborted:
        message = c.ROLLOUT_ABORTED_MESSAGE.format(revision=revision)
        if abort_message:
            message = f"{message}: {abort_message}"
        before = conds
        conds = _set(conds, c.PROGRESSING, c.FALSE, c.ROLLOUT_ABORTED_REASON, message, now)
        if conds != before:
            events.append((WARNING, c.ROLLOUT_ABORTED_REASON, message))
    elif not is_paused:
        # while paused, Progressing keeps the Unknown/RolloutPaused that paused_conditions set
        # (older Argo returned early when paused; newer Argo overwrites it and re-sets it on
        # the next sync, which never settles)
        conds, timed_out = _progress(rollout, new_status, conds, healthy, became_unhealthy, new_rs_name, now)
        if timed_out is not None and spec.get("progressDeadlineAbort"):
            add_abort = True
            events.append((WARNING, c.ROLLOUT_ABORTED_REASON, timed_out))
    replicas = _replicas(spec)
    if all_available >= replicas:
        conds = _set(conds, c.AVAILABLE, c.TRUE, c.AVAILABLE_REASON, c.AVAILABLE_MESSAGE, now)
    else:
        conds = _set(conds, c.AVAILABLE, c.FALSE, c.AVAILABLE_REASON, c.NOT_AVAILABLE_MESSAGE, now)
    conds = c.remove_condition(conds, c.REPLICA_FAILURE)
    if c.rollout_completed(new_status):
        reason = c.ROLLOUT_COMPLETED_REASON
        conds = _set(conds, c.COMPLETED, c.TRUE, reason, reason, now)
    else:
        reason = c.ROLLOUT_COMPLETED_REASON
        before = conds
        conds = _set(conds, c.COMPLETED, c.FALSE, reason, reason, now)
        if conds != before:
            message = c.ROLLOUT_NOT_COMPLETED_MESSAGE.format(
                revision=revision, pod_hash=new_status.get("currentPodHash") or ""
            )
            events.append((NORMAL, c.ROLLOUT_NOT_COMPLETED_REASON, message))
    return conds, events, add_abort


def _progress(
    rollout: Mapping[str, Any],
    new_status: Status,
    conds: list[dict[str, Any]],
    healthy: bool,
    became_unhealthy: bool,
    new_rs_name: str | None,
    now: datetime,
) -> tuple[list[dict[str, Any]], str | None]:
    """The Progressing condition when not aborted, and the timeout message when timed out."""
    name = str((rollout.get("metadata") or {}).get("name") or "")
    current = c.get_condition((rollout.get("status") or {}).get("conditions"), c.PROGRESSING)
    if healthy:
        message = c.REPLICA_SET_COMPLETED_MESSAGE.format(name=new_rs_name or "")
        return _set(conds, c.PROGRESSING, c.TRUE, c.NEW_RS_AVAILABLE_REASON, message, now), None
    if c.rollout_progressing(rollout, new_status) or became_unhealthy:
        message = (
            c.REPLICA_SET_PROGRESSING_MESSAGE.format(name=new_rs_name)
            if new_rs_name
            else c.ROLLOUT_PROGRESSING_MESSAGE.format(name=name)
        )
        reason = c.REPLICA_SET_UPDATED_REASON
        stable = new_status.get("stableRS") or ""
        if stable == (new_status.get("currentPodHash") or "") and became_unhealthy:
            reason, message = c.REPLICA_SET_NOT_AVAILABLE_REASON, c.NOT_AVAILABLE_MESSAGE
        condition = c.new_condition(c.PROGRESSING, c.TRUE, reason, message, now)
        if current is not None and current.get("status") == c.TRUE:
            condition["lastTransitionTime"] = current.get(
                "lastTransitionTime", condition["lastTransitionTime"]
            )
        return [*c.remove_condition(conds, c.PROGRESSING), condition], None
    if not _indefinite_step(rollout) and c.rollout_timed_out(rollout, new_status, now):
        message = (
            c.REPLICA_SET_TIMED_OUT_MESSAGE.format(name=new_rs_name)
            if new_rs_name
            else c.ROLLOUT_TIMED_OUT_MESSAGE.format(name=name)
        )
        return _set(conds, c.PROGRESSING, c.FALSE, c.TIMED_OUT_REASON, message, now), message
    return conds, None


def stuck_requeue(rollout: Mapping[str, Any], new_status: Mapping[str, Any], now: datetime) -> float | None:
    """Argo's ``requeueStuckRollout``: seconds until a progress check is due, or ``None``.

    None without a Progressing condition, or when the rollout is healthy, already timed out,
    paused, aborted, or at an indefinite step (pause, analysis, experiment). Otherwise the
    time left until ``lastUpdateTime + progressDeadlineSeconds``, plus Argo's 1s against
    clock skew; when less than a second is left, 1s (Argo requeues at once, rate-limited).
    The caller asks only when the status is unchanged (as Argo's ``persistRolloutStatus``).
    """
    current = c.get_condition(new_status.get("conditions"), c.PROGRESSING)
    if current is None:
        return None
    spec = rollout.get("spec") or {}
    view = {**rollout, "status": new_status}
    paused = bool(new_status.get("pauseConditions")) or bool(spec.get("paused"))
    if (
        c.rollout_healthy(view, new_status)
        or current.get("reason") == c.TIMED_OUT_REASON
        or paused
        or new_status.get("abort")
        or _indefinite_step(view)
    ):
        return None
    last = c.parse_time(current.get("lastUpdateTime")) or datetime(1, 1, 1, tzinfo=UTC)
    deadline = spec.get("progressDeadlineSeconds")
    seconds = c.DEFAULT_PROGRESS_DEADLINE_SECONDS if deadline is None else int(deadline)
    moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    after = (last + timedelta(seconds=seconds) - moment).total_seconds()
    return after + 1.0 if after >= 1.0 else 1.0


def _indefinite_step(rollout: Mapping[str, Any]) -> bool:
    """Argo's ``isIndefiniteStep``: the current step is a pause, analysis or experiment."""
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    steps = canary.get("steps") or []
    index = int((rollout.get("status") or {}).get("currentStepIndex") or 0)
    if index >= len(steps):
        return False
    step = steps[index]
    return any(step.get(k) is not None for k in ("pause", "analysis", "experiment"))


def _replicas(spec: Mapping[str, Any]) -> int:
    value = spec.get("replicas")
    return 1 if value is None else int(value)


def format_selector(selector: Mapping[str, Any]) -> str:
    """``metav1.FormatLabelSelector``: ``k=v`` pairs, then expressions, comma-separated."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or ():
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or ()))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    text = ",".join(sorted(parts))
    return text or "<none>"


def step_string(step: Mapping[str, Any]) -> str:
    """Argo's ``CanaryStepString`` for the steps this planner runs."""
    if step.get("setWeight") is not None:
        return f"setWeight: {step['setWeight']}"
    if step.get("pause") is not None:
        duration = (step.get("pause") or {}).get("duration")
        return "pause" if duration is None else f"pause: {duration}"
    return next(iter(step), "")
