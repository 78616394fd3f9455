"""Operations on the values expressions work with, with expr-lang's rules (see :mod:`.evaluate`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from controller.analysis.expr.errors import EvalError
from controller.analysis.goformat import format_value, go_type


def is_number(v: Any) -> bool:
    """An int or a float, but not a bool."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def mismatch(op: str, a: Any, b: Any) -> EvalError:
    return EvalError(f"invalid operation: {op} (mismatched types {go_type(a)} and {go_type(b)})")


def equal(a: Any, b: Any, *, strict: bool = False) -> bool:
    """expr-lang's equality: numbers by value, lists and maps deeply; with ``strict``, values of
    different kinds (other than nil) are an error rather than unequal."""
    if is_number(a) and is_number(b):
        return bool(a == b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a == b
    if strict:
        raise mismatch("==", a, b)
    return False


def truth(op: str, v: Any, other: Any = True) -> bool:
    if not isinstance(v, bool):
        raise (
            mismatch(op, v, other)
            if op not in ("!", "not")
            else EvalError(f"invalid operation: {op} {go_type(v)} (a boolean is needed)")
        )
    return v


def go_mod(a: int, b: int) -> int:
    if b == 0:
        raise EvalError("integer divide by zero")
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def power(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def compare(op: str, a: Any, b: Any) -> bool:
    ok = (
        (is_number(a) and is_number(b))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, datetime) and isinstance(b, datetime))
        or (isinstance(a, timedelta) and isinstance(b, timedelta))
    )
    if not ok:
        raise mismatch(op, a, b)
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def arith(op: str, a: Any, b: Any) -> Any:
    if is_number(a) and is_number(b):
        both_int = isinstance(a, int) and isinstance(b, int)
        if op == "+":
            return a + b if both_int else float(a) + float(b)
        if op == "-":
            return a - b if both_int else float(a) - float(b)
        if op == "*":
            return a * b if both_int else float(a) * float(b)
        if op == "/":
            return divide(float(a), float(b))
        if op == "%":
            if not both_int:
                raise mismatch("%", a, b)
            return go_mod(a, b)
        return power(float(a), float(b))
    if op == "+":
        if isinstance(a, str) and isinstance(b, str):
            return a + b
        if isinstance(a, list) and isinstance(b, list):
            return a + b
        if isinstance(a, datetime) and isinstance(b, timedelta):
            return a + b
        if isinstance(a, timedelta) and isinstance(b, datetime | timedelta):
            return a + b
    if op == "-":
        if isinstance(a, datetime) and isinstance(b, datetime | timedelta):
            return a - b
        if isinstance(a, timedelta) and isinstance(b, timedelta):
            return a - b
    if op == "*" and isinstance(a, timedelta) and is_number(b):
        return a * float(b)
    raise mismatch(op, a, b)


def contains(container: Any, item: Any) -> bool:
    if isinstance(container, list):
        return any(equal(item, x) for x in container)
    if isinstance(container, Mapping):
        return item in container if isinstance(item, str) else False
    if container is None:
        return False
    raise EvalError(f"operator in not defined on {go_type(container)}")


def strings(op: str, a: Any, b: Any) -> tuple[str, str]:
    if not isinstance(a, str) or not isinstance(b, str):
        raise mismatch(op, a, b)
    return a, b


def fetch(obj: Any, key: Any, optional: bool) -> Any:
    if obj is None:
        if optional:
            return None
        raise EvalError(f"cannot fetch {format_value(key)} from <nil>")
    if isinstance(obj, Mapping):
        if not isinstance(key, str):
            raise EvalError(f"cannot fetch {format_value(key)} from {go_type(obj)}: a map key is a string")
        return obj.get(key)
    if isinstance(obj, list | str):
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        if not isinstance(key, int) or isinstance(key, bool):
            raise EvalError(f"cannot fetch {format_value(key)} from {go_type(obj)}: an index is an integer")
        n = len(obj)
        i = key + n if key < 0 else key
        if not 0 <= i < n:
            raise EvalError(f"index out of range: {key} (array length is {n})")
        return obj[i]
    raise EvalError(f"cannot fetch {format_value(key)} from {go_type(obj)}")


def iterable(name: str, v: Any) -> list[Any]:
    if isinstance(v, list):
        return v
    if isinstance(v, Mapping):
        return list(v.values())
    raise EvalError(f"cannot use {go_type(v)} as the list of {name}()")


def parse_go_float(v: str) -> float:
    """Go's ``strconv.ParseFloat``: decimal, exponent, ``NaN``, ``Inf``/``+Inf``/``-Inf`` (any case)."""
    text = v
    lowered = text.lower()
    if lowered in ("nan",):
        return math.nan
    if lowered in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf
    if lowered in ("-inf", "-infinity"):
        return -math.inf
    if not re.fullmatch(
        r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?0[xX][0-9a-fA-F.]+([pP][+-]?\d+)?", text
    ):
        raise EvalError(f'strconv.ParseFloat: parsing "{v}": invalid syntax')
    return float.fromhex(text) if "x" in lowered else float(text)
