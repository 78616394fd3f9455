"""An invalid Rollout spec: Argo's ``createInvalidRolloutCondition``, as a plan.

The only action is the ``InvalidSpec`` condition (status True, reason ``InvalidSpec``, the
first problem in Argo's words), ``observedGeneration``, the Degraded phase, and a Warning
event when the condition is new or its message changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controller.api import Problem, invalid_spec_message
from controller.core import conditions as c
from controller.core.phase import calculate_phase
from controller.core.plan import WARNING, Event, Plan, status_merge_patch
from controller.core.snapshot import Snapshot, name_of


def plan_invalid_spec(snapshot: Snapshot, problems: Sequence[Problem]) -> Plan:
    """The plan for a Rollout whose spec ``validate_rollout`` rejected."""
    rollout = snapshot.rollout
    old: dict[str, Any] = dict(rollout.get("status") or {})
    message = invalid_spec_message(name_of(rollout), problems)
    conditions = list(old.get("conditions") or ())
    previous = c.get_condition(conditions, c.INVALID_SPEC)
    events: list[Event] = []
    if previous is None or previous.get("message") != message:
        conditions = c.remove_condition(conditions, c.INVALID_SPEC)
        new = {"type": c.INVALID_SPEC, "status": c.TRUE, "reason": c.INVALID_SPEC_REASON, "message": message}
        conditions = c.set_condition(conditions, new, snapshot.now)
        events.append((WARNING, c.INVALID_SPEC_REASON, message))
    status = {
        **old,
        "conditions": conditions,
        "observedGeneration": str((rollout.get("metadata") or {}).get("generation") or 0),
    }
    phase, phase_message = calculate_phase({"spec": rollout.get("spec") or {}, "status": status})
    status["phase"], status["message"] = str(phase), phase_message
    return Plan(status_patch=status_merge_patch(old, status), events=tuple(events))
