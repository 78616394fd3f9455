"""A measurement's phase from its value, as Argo's ``evaluate.EvaluateResult``.

- neither condition set: Successful;
- only ``successCondition``: Successful when it holds, else Failed;
- only ``failureCondition``: Failed when it holds, else Successful;
- both: Failed when the failure condition holds, Successful when only the success condition
  holds, Inconclusive when neither does;
- a condition that does not compile or fails on this value: Error, with its message.
"""

from __future__ import annotations

from typing import Any

from controller.analysis.expr import ExprError, evaluate_condition
from controller.analysis.status import ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL


def evaluate_result(result: Any, success_condition: str, failure_condition: str) -> tuple[str, str]:
    """``(phase, message)``: the message is the expression's error when the phase is Error."""
    success = failure = False
    try:
        if success_condition:
            success = evaluate_condition(success_condition, result)
        if failure_condition:
            failure = evaluate_condition(failure_condition, result)
    except ExprError as e:
        return ERROR, str(e)
    if not success_condition and not failure_condition:
        return SUCCESSFUL, ""
    if success_condition and not failure_condition:
        failure = not success
    elif failure_condition and not success_condition:
        success = not failure
    if failure:
        return FAILED, ""
    if not success:
        return INCONCLUSIVE, ""
    return SUCCESSFUL, ""
