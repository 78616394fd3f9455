"""Values printed as Argo (Go) prints them, so that status and messages read the same.

- :func:`format_float_f`: ``strconv.FormatFloat(f, 'f', -1, 64)``, how Prometheus' client prints a
  sample value (``0.95``, ``1``, ``NaN``, ``+Inf``; never an exponent);
- :func:`format_value`: ``fmt.Sprint`` (``%v``) of a decoded JSON value (``1e+06``, ``[1 2]``);
- :func:`json_go`: ``encoding/json`` output (floats as Go writes them, no spaces);
- :func:`go_type`: the Go type name of a decoded value (``float64``, ``[]interface {}``, ...),
  as expr-lang's error messages name them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any


def go_type(value: Any) -> str:
    """The Go type name of a value decoded from JSON (or computed by an expression)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, float) for v in value):
            return "[]float64"
        return "[]interface {}"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, datetime):
        return "time.Time"
    if isinstance(value, timedelta):
        return "time.Duration"
    return type(value).__name__


def _special(f: float) -> str | None:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return None


def format_float_f(f: float) -> str:
    """Shortest decimal without exponent (Go's ``'f'`` format with precision -1)."""
    special = _special(f)
    if special is not None:
        return special
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    text = format(Decimal(repr(f)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _shortest_exponent(f: float) -> tuple[str, int]:
    """Shortest significant digits of ``|f|`` and its decimal exponent (``1.5e-07`` -> ``("15", -7)``)."""
    # repr() gives the shortest digits that read back as the same float (as Go's -1 precision)
    _, digits, exponent = Decimal(repr(abs(f))).normalize().as_tuple()
    text = "".join(str(x) for x in digits)
    return text, int(exponent) + len(text) - 1


def _exp_format(f: float, min_exp_digits: int = 2) -> str:
    digits, exp = _shortest_exponent(f)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if f < 0 else ""
    exp_sign = "-" if exp < 0 else "+"
    return f"{sign}{mantissa}e{exp_sign}{abs(exp):0{min_exp_digits}d}"


def format_float_g(f: float) -> str:
    """``fmt.Sprint(f)`` (``%v`` is ``%g``): shortest digits, an exponent below 1e-4 or from 1e6 up."""
    special = _special(f)
    if special is not None:
        return special
    if f == 0:
        return "0"
    _, exp = _shortest_exponent(f)
    if exp < -4 or exp >= 6:
        return _exp_format(f)
    return format_float_f(f)


def format_value(value: Any) -> str:
    """``fmt.Sprint`` of a decoded value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_float_g(value)
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{format_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, timedelta):
        return _go_duration(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _go_duration(d: timedelta) -> str:
    total = d.total_seconds()
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = sign
    if hours:
        out += f"{int(hours)}h"
    if hours or minutes:
        out += f"{int(minutes)}m"
    out += format_float_f(round(seconds, 9)) + "s"
    return out


def _json_float(f: float) -> str:
    """A float as Go's encoding/json writes it: ``'f'`` unless tiny or huge, then ``1e-07``-style."""
    if f == 0:
        return "0"
    _, exp = _shortest_exponent(f)
    if exp < -6 or exp >= 21:
        text = _exp_format(f, min_exp_digits=1)
        return text
    return format_float_f(f)


def json_go(value: Any) -> str:
    """``json.Marshal`` of a decoded value (NaN and Inf, which JSON cannot hold, as Go's fmt does)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        special = _special(value)
        return special if special is not None else _json_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_go(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "{"
            + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{json_go(value[k])}" for k in sorted(value))
            + "}"
        )
    return json.dumps(str(value))
