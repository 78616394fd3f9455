"""The condition language of analysis metrics: the part of expr-lang/expr (the language Argo
Rollouts evaluates ``successCondition``/``failureCondition`` and Prometheus ``rangeQuery`` times
with) that analysis templates use, implemented here without any Python ``eval``.

- :func:`evaluate_condition` evaluates a condition with ``result`` and Argo's helper functions
  (``asInt``, ``asFloat``, ``isNaN``, ``isInf``, ``isNil``, ``default``) and requires a boolean;
- :func:`evaluate_time` evaluates a range-query bound such as ``now() - duration("5m")``.

Both raise :class:`ExprError` (:class:`CompileError` or :class:`EvalError`) with a one-line
message; compiled programs are cached by source text.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from controller.analysis.expr.builtins import Function
from controller.analysis.expr.errors import CompileError, EvalError, ExprError
from controller.analysis.expr.evaluate import Program, compile_expression, run
from controller.analysis.expr.values import is_number, parse_go_float
from controller.analysis.goformat import format_value, go_type
from controller.api.values import DurationError, parse_go_duration

__all__ = [
    "CompileError",
    "EvalError",
    "ExprError",
    "compile_condition",
    "evaluate_condition",
    "evaluate_time",
]

#: the names Argo's condition environment defines (utils/evaluate/evaluate.go)
CONDITION_FUNCTIONS: Final = frozenset({"asInt", "asFloat", "isNaN", "isInf", "isNil", "default"})
TIME_FUNCTIONS: Final = frozenset({"now", "duration"})


def _one(name: str, args: Sequence[Any], count: int = 1) -> None:
    if len(args) != count:
        raise EvalError(f"{name}() takes {count} argument{'s' if count > 1 else ''}, not {len(args)}")


def _as_int(args: Sequence[Any]) -> Any:
    _one("asInt", args)
    v = args[0]
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return -(2**63)  # what Go's int64(NaN/Inf) conversion gives on amd64
        return int(v)
    if is_number(v):
        return v
    if isinstance(v, str):
        text = v[1:] if v[:1] in "+-" else v
        if text.isdigit() and text.isascii():
            return int(v, 10)
        raise EvalError(f'strconv.ParseInt: parsing "{v}": invalid syntax')
    raise EvalError(f"asInt() not supported on {go_type(v)} {format_value(v)}")


def _as_float(args: Sequence[Any]) -> Any:
    _one("asFloat", args)
    v = args[0]
    if is_number(v):
        return float(v)
    if isinstance(v, str):
        return parse_go_float(v)
    raise EvalError(f"asFloat() not supported on {go_type(v)} {format_value(v)}")


def _float_arg(name: str, args: Sequence[Any]) -> float:
    _one(name, args)
    v = args[0]
    if not is_number(v):
        raise EvalError(f"cannot use {go_type(v)} as argument (type float64) to call {name}")
    return float(v)


def _is_nil(value: Any) -> bool:
    """Go's nil: no value, or a nil map/slice (a decoded ``null``); an empty list is not nil."""
    return value is None


def condition_functions(result: Any) -> dict[str, Function]:
    """Argo's helpers. As in Argo, ``isNil(x)`` and ``default(x, d)`` look at ``result`` itself,
    whatever ``x`` is: ``default(result, 0)`` is the intended use."""

    def is_nil(args: Sequence[Any]) -> Any:
        _one("isNil", args)
        return _is_nil(result)

    def default(args: Sequence[Any]) -> Any:
        _one("default", args, 2)
        return args[1] if _is_nil(result) else result

    return {
        "asInt": _as_int,
        "asFloat": _as_float,
        "isNaN": lambda args: math.isnan(_float_arg("isNaN", args)),
        "isInf": lambda args: math.isinf(_float_arg("isInf", args)),
        "isNil": is_nil,
        "default": default,
    }


@functools.lru_cache(maxsize=1024)
def compile_condition(source: str) -> Program:
    """Compile a ``successCondition``/``failureCondition``; raises :class:`CompileError`."""
    return compile_expression(source, frozenset({"result"}), CONDITION_FUNCTIONS)


def evaluate_condition(source: str, result: Any) -> bool:
    """Evaluate a condition for ``result``; it must give a boolean. Raises :class:`ExprError`."""
    program = compile_condition(source)
    value = run(program, {"result": result}, condition_functions(result))
    if not isinstance(value, bool):
        raise EvalError(f"expected bool, but got {go_type(value)}")
    return value


def _duration(args: Sequence[Any]) -> Any:
    _one("duration", args)
    if not isinstance(args[0], str):
        raise EvalError(f"duration() needs a string, not {go_type(args[0])}")
    try:
        return timedelta(seconds=parse_go_duration(args[0]))
    except DurationError as e:
        raise EvalError(str(e)) from None


@functools.lru_cache(maxsize=256)
def _compile_time(source: str) -> Program:
    return compile_expression(source, frozenset(), TIME_FUNCTIONS)


def evaluate_time(source: str, now: datetime) -> datetime:
    """Evaluate a time expression (``now() - duration("1h")``) with ``now()`` fixed to ``now``."""
    program = _compile_time(source)

    def now_fn(args: Sequence[Any]) -> Any:
        _one("now", args, 0)
        return now

    value = run(program, {}, {"now": now_fn, "duration": _duration})
    if not isinstance(value, datetime):
        raise EvalError(f"expected a time, but got {go_type(value)}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)
