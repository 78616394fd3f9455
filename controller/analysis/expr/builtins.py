"""The builtin functions of expr-lang that conditions need (the predicate ones are in :mod:`.evaluate`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from controller.analysis.expr.errors import EvalError
from controller.analysis.expr.values import is_number, iterable, parse_go_float, strings
from controller.analysis.goformat import format_value, go_type

#: a function callable from expressions: ``fn(args) -> value`` (raise EvalError to fail)
Function = Callable[[Sequence[Any]], Any]


def _nargs(name: str, args: Sequence[Any], lo: int, hi: int | None = None) -> None:
    hi = lo if hi is None else hi
    if len(args) < lo:
        raise EvalError(f"not enough arguments to call {name}")
    if len(args) > hi:
        raise EvalError(f"too many arguments to call {name}")


def _number_arg(name: str, v: Any) -> float | int:
    if not is_number(v):
        raise EvalError(f"invalid argument for {name} (type {go_type(v)})")
    return v  # type: ignore[no-any-return]


def _numbers(name: str, args: Sequence[Any]) -> list[float | int]:
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
    return [_number_arg(name, v) for v in values]


def _len(args: Sequence[Any]) -> Any:
    _nargs("len", args, 1)
    v = args[0]
    if isinstance(v, str | list | Mapping):
        return len(v)
    raise EvalError(f"invalid argument for len (type {go_type(v)})")


def _abs(args: Sequence[Any]) -> Any:
    _nargs("abs", args, 1)
    return abs(_number_arg("abs", args[0]))


def _round_fn(name: str, fn: Callable[[float], float]) -> Function:
    def call(args: Sequence[Any]) -> Any:
        _nargs(name, args, 1)
        return fn(float(_number_arg(name, args[0])))

    return call


def _go_round(x: float) -> float:
    """Go's math.Round: half away from zero."""
    if math.isnan(x) or math.isinf(x):
        return x
    return math.copysign(math.floor(abs(x) + 0.5), x)


def _max(args: Sequence[Any]) -> Any:
    values = _numbers("max", args)
    if not values:
        raise EvalError("not enough arguments to call max")
    return max(values)


def _min(args: Sequence[Any]) -> Any:
    values = _numbers("min", args)
    if not values:
        raise EvalError("not enough arguments to call min")
    return min(values)


def _sum(args: Sequence[Any]) -> Any:
    _nargs("sum", args, 1)
    values = [_number_arg("sum", v) for v in iterable("sum", args[0])]
    return sum(values) if all(isinstance(v, int) for v in values) else float(sum(values))


def _mean(args: Sequence[Any]) -> Any:
    values = _numbers("mean", args)
    return float(sum(values)) / len(values) if values else 0.0


def _median(args: Sequence[Any]) -> Any:
    values = sorted(_numbers("median", args))
    if not values:
        return 0.0
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def _int(args: Sequence[Any]) -> Any:
    _nargs("int", args, 1)
    v = args[0]
    if isinstance(v, bool):
        raise EvalError("invalid operation: int(bool)")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise EvalError(f"cannot convert {format_value(v)} to int")
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip(), 10)
        except ValueError:
            raise EvalError(f'strconv.Atoi: parsing "{v}": invalid syntax') from None
    raise EvalError(f"invalid operation: int({go_type(v)})")


def _float(args: Sequence[Any]) -> Any:
    _nargs("float", args, 1)
    v = args[0]
    if is_number(v):
        return float(v)
    if isinstance(v, str):
        return parse_go_float(v)
    raise EvalError(f"invalid operation: float({go_type(v)})")


def _string(args: Sequence[Any]) -> Any:
    _nargs("string", args, 1)
    return format_value(args[0])


def _str_fn(name: str, fn: Callable[..., Any], lo: int = 1, hi: int | None = None) -> Function:
    def call(args: Sequence[Any]) -> Any:
        _nargs(name, args, lo, hi)
        for a in args:
            if not isinstance(a, str):
                raise EvalError(f"invalid argument for {name} (type {go_type(a)})")
        return fn(*args)

    return call


def _join(args: Sequence[Any]) -> Any:
    _nargs("join", args, 1, 2)
    items, sep = args[0], (args[1] if len(args) > 1 else "")
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items) or not isinstance(sep, str):
        raise EvalError("join needs a list of strings and a separator")
    return sep.join(items)


def _first(args: Sequence[Any]) -> Any:
    _nargs("first", args, 1)
    items = iterable("first", args[0])
    return items[0] if items else None


def _last(args: Sequence[Any]) -> Any:
    _nargs("last", args, 1)
    items = iterable("last", args[0])
    return items[-1] if items else None


def _keys(args: Sequence[Any]) -> Any:
    _nargs("keys", args, 1)
    if not isinstance(args[0], Mapping):
        raise EvalError(f"invalid argument for keys (type {go_type(args[0])})")
    return list(args[0].keys())


def _values(args: Sequence[Any]) -> Any:
    _nargs("values", args, 1)
    if not isinstance(args[0], Mapping):
        raise EvalError(f"invalid argument for values (type {go_type(args[0])})")
    return list(args[0].values())


def _index_of(last: bool) -> Function:
    def call(args: Sequence[Any]) -> Any:
        name = "lastIndexOf" if last else "indexOf"
        _nargs(name, args, 2)
        s, sub = strings(name, args[0], args[1])
        return s.rfind(sub) if last else s.find(sub)

    return call


BUILTINS: Final[dict[str, Function]] = {
    "len": _len,
    "abs": _abs,
    "ceil": _round_fn("ceil", lambda x: float(math.ceil(x)) if math.isfinite(x) else x),
    "floor": _round_fn("floor", lambda x: float(math.floor(x)) if math.isfinite(x) else x),
    "round": _round_fn("round", _go_round),
    "max": _max,
    "min": _min,
    "sum": _sum,
    "mean": _mean,
    "median": _median,
    "int": _int,
    "float": _float,
    "string": _string,
    "upper": _str_fn("upper", str.upper),
    "lower": _str_fn("lower", str.lower),
    "trim": _str_fn("trim", lambda s, chars=None: s.strip(chars), 1, 2),
    "trimPrefix": _str_fn("trimPrefix", lambda s, p=" ": s[len(p) :] if s.startswith(p) else s, 1, 2),
    "trimSuffix": _str_fn("trimSuffix", lambda s, p=" ": s[: -len(p)] if p and s.endswith(p) else s, 1, 2),
    "split": _str_fn("split", lambda s, sep: s.split(sep) if sep else list(s), 2),
    "hasPrefix": _str_fn("hasPrefix", str.startswith, 2),
    "hasSuffix": _str_fn("hasSuffix", str.endswith, 2),
    "indexOf": _index_of(False),
    "lastIndexOf": _index_of(True),
    "join": _join,
    "first": _first,
    "last": _last,
    "keys": _keys,
    "values": _values,
}
