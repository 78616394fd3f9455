"""The condition language: Argo's documented conditions evaluate as expr-lang evaluates them,
and bad expressions fail with a clear message instead of running anything.

The corpus of good conditions is taken from the conditions in Argo Rollouts' analysis
documentation (features/analysis.md and the provider pages) and the shapes providers give
``result``: a float or a list of floats (Prometheus), decoded JSON (web), ``None`` (no data).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.analysis.conditions import evaluate_result
from controller.analysis.expr import CompileError, EvalError, ExprError, evaluate_condition, evaluate_time
from controller.analysis.goformat import format_float_f, format_value, json_go

NAN, INF = math.nan, math.inf

#: (condition, result, expected) — conditions as Argo's docs write them
DOC_CORPUS: list[tuple[str, Any, bool]] = [
    ("result[0] >= 0.95", [0.97], True),
    ("result[0] >= 0.95", [0.5], False),
    ("result[0] <= 0.95", [0.5], True),
    ("result[0] >= 10", [12.0], True),
    ("result == 'true'", "true", True),
    ("result == 'true'", "false", False),
    ("isNaN(result) || result >= 0.95", NAN, True),
    ("isNaN(result) || result >= 0.95", 0.2, False),
    ("result >= 0.95", NAN, False),
    ("result < 0.95", NAN, False),
    ("result >= 0.95", INF, True),
    ("isInf(result)", INF, True),
    ("isInf(result)", -INF, True),
    ("len(result) == 0 || result[0] >= 0.95", [], True),
    ("len(result) > 0 && result[0] >= 0.95", [], False),
    ("len(result) > 0 && result[0] >= 0.95", [0.99], True),
    ("default(result, 0) < 0.05", None, True),
    ("default(result, 0) < 0.05", 0.2, False),
    ("result <= 0.01", 0.001, True),
    ("result.ok && result.successPercent >= 0.90", {"ok": True, "successPercent": 0.95}, True),
    ("result.ok && result.successPercent >= 0.90", {"ok": False, "successPercent": 0.95}, False),
    ("result.successRate >= 0.95", {"successRate": 0.99}, True),
    ("all(result[0].Values, {# <= 0.01})", [{"Values": [0.001, 0.002]}], True),
    ("all(result[0].Values, {# <= 0.01})", [{"Values": [0.001, 0.2]}], False),
    ("asInt(result) <= 0", "0", True),
    ("asInt(result) >= 1", 3.7, True),
    ("asFloat(result) >= 0.5", "0.75", True),
    ("asFloat(result) >= 0.5", "NaN", False),
    ("isNil(result)", None, True),
    ("isNil(result)", [], False),
    ("result == true", True, True),
    ("result", True, True),
]

#: (condition, result, expected) — the rest of the language the brief lists
LANGUAGE: list[tuple[str, Any, bool]] = [
    ("result[0] >= 0.95 and result[1] >= 0.95", [0.97, 0.96], True),
    ("result[0] >= 0.95 or result[1] >= 0.95", [0.1, 0.96], True),
    ("not (result[0] > 1)", [0.5], True),
    ("!(result[0] > 1) && !false", [0.5], True),
    ("all(result, {# > 0.9})", [0.95, 0.99], True),
    ("all(result, # > 0.9)", [0.95, 0.5], False),
    ("any(result, # > 0.9)", [0.95, 0.5], True),
    ("none(result, # > 0.9)", [0.1, 0.5], True),
    ("one(result, # > 0.9)", [0.95, 0.5], True),
    ("count(result, # > 0.9) == 2", [0.95, 0.99, 0.2], True),
    ("len(filter(result, # > 0.9)) == 1", [0.95, 0.2], True),
    ("map(result, # * 2)[1] == 4", [1, 2], True),
    ("all(result, .ok)", [{"ok": True}, {"ok": True}], True),
    ('result["k"] == "v"', {"k": "v"}, True),
    ("result.missing == nil", {"k": "v"}, True),
    ("result.__class__ == nil", {}, True),  # only ever a map key: no Python attribute is reached
    ("result?.a?.b == nil", {}, True),
    ("result.a.b.c == 3", {"a": {"b": {"c": 3.0}}}, True),
    ("result[-1] == 3", [1, 2, 3], True),
    ("result[1:] == [2, 3]", [1, 2, 3], True),
    ("(result[0] + result[1]) / 2 > 0.9", [0.9, 1.0], True),
    ("result * 100 - 5 == 95", 1.0, True),
    ("7 % 3 == 1 && 2 ** 10 == 1024 && 2 ^ 3 == 8", 0, True),
    ("7 / 2 == 3.5", 0, True),
    ("1 / 0 > 1e308", 0, True),
    ("-result[0] < 0", [1.5], True),
    ("result in [1, 2, 3]", 2.0, True),
    ("'b' in result", ["a", "b"], True),
    ("'k' in result", {"k": 1}, True),
    ("result not in [1, 2]", 3, True),
    ("result contains 'ell'", "hello", True),
    ("result startsWith 'he' and result endsWith 'lo'", "hello", True),
    ("result matches '^h.*o$'", "hello", True),
    ("result not matches '^x'", "hello", True),
    ("result > 1 ? true : false", 2, True),
    ("(result ?? 0.5) > 0.4", None, True),
    ("1..3 == [1, 2, 3]", 0, True),
    ("len('héllo') == 5", 0, True),
    ("abs(result) == 2 and max(result, 1) == 1", -2, True),
    ("sum(result) == 6 and mean(result) == 2", [1, 2, 3], True),
    ("int('42') == 42 and float('0.5') == 0.5 and string(1.5) == '1.5'", 0, True),
    ("upper(result) == 'OK' and lower('A') == 'a' and trim(' x ') == 'x'", "ok", True),
    ("first(result) == 1 and last(result) == 3", [1, 2, 3], True),
    ("len(keys(result)) == 2", {"a": 1, "b": 2}, True),
    ('"a\\tb" == "a" + "\\t" + "b"', 0, True),
    ("`raw\\n` == 'raw\\\\n'", 0, True),
    ("1_000 == 1000 and 0x10 == 16 and 1e3 == 1000.0 and .5 == 0.5", 0, True),
    ("result == 1", 1.0, True),
    ("result != nil", 0.0, True),
    ("true == true and false != true", 0, True),
]


@pytest.mark.parametrize(("condition", "result", "expected"), DOC_CORPUS + LANGUAGE)
def test_condition_evaluates_as_expr_lang(condition: str, result: Any, expected: bool) -> None:
    assert evaluate_condition(condition, result) is expected


#: (condition, result, error type, a fragment of the message)
BAD: list[tuple[str, Any, type[ExprError], str]] = [
    ("result[0] >=", [1.0], CompileError, "unexpected end of expression (1:13)"),
    ("result[0] >= 0.95 &&", [1.0], CompileError, "unexpected end"),
    ("result[0] >= 0.95 & result[1]", [1.0], CompileError, "unrecognized character"),
    ("foo > 1", 0, CompileError, "unknown name foo"),
    ("eval('1')", 0, CompileError, "unknown func eval"),
    ("__import__('os')", 0, CompileError, "unknown func __import__"),
    ("result.__class__ == nil", "x", EvalError, "cannot fetch __class__ from string"),
    ("all(result)", [1], CompileError, "needs a predicate"),
    ("# > 1", 0, CompileError, "pointer accessor outside predicate"),
    ("'abc", 0, CompileError, "literal not terminated"),
    ("result.", {}, CompileError, "expected a field name"),
    ("(result > 1", 1, CompileError, "expected ')'"),
    ("result > 1)", 1, CompileError, "unexpected token )"),
    ("result.upper()", "x", CompileError, "methods are not supported"),
    ("", 0, CompileError, "empty"),
    ("12abc > 1", 0, CompileError, "bad number syntax"),
    ("result > 'a'", 1.0, EvalError, "mismatched types float64 and string"),
    ("result < 0.05", None, EvalError, "mismatched types <nil> and float64"),
    ("result && true", [1.0], EvalError, "mismatched types []float64 and bool"),
    ("!result", 1.0, EvalError, "a boolean is needed"),
    ("result[5] > 1", [1.0], EvalError, "index out of range: 5 (array length is 1)"),
    ("result[0] > 1", 1.0, EvalError, "cannot fetch 0 from float64"),
    ("result.a > 1", None, EvalError, "cannot fetch a from <nil>"),
    ("result == 'true'", True, EvalError, "mismatched types bool and string"),
    ("result", [1.0], EvalError, "expected bool, but got []float64"),
    ("result + 1", 1.0, EvalError, "expected bool, but got float64"),
    ("result % 2 == 0", 1.5, EvalError, "mismatched types float64 and int"),
    ("1 % 0 == 0", 0, EvalError, "integer divide by zero"),
    ("asInt(result) > 1", "x1", EvalError, "invalid syntax"),
    ("asFloat(result) > 1", [1], EvalError, "asFloat() not supported on []interface {}"),
    ("isNaN(result)", [1.0], EvalError, "cannot use []float64 as argument"),
    ("len(result) > 0", 1.0, EvalError, "invalid argument for len (type float64)"),
    ("all(result, # + 1)", [1], EvalError, "predicate should return boolean"),
    ("len(0..10000000) > 0", 0, EvalError, "more than 100000 elements"),
]


@pytest.mark.parametrize(("condition", "result", "error", "message"), BAD)
def test_bad_expression_fails_with_a_clear_message(
    condition: str, result: Any, error: type[ExprError], message: str
) -> None:
    with pytest.raises(error) as raised:
        evaluate_condition(condition, result)
    assert message in str(raised.value), str(raised.value)


def test_hostile_expressions_end_fast() -> None:
    started = time.monotonic()
    # a float power, as expr-lang's: +Inf at once, not a huge Python integer
    assert evaluate_condition("2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 > 0", 1.0) is True
    for condition in (
        "all(0..99999, all(0..99999, # >= 0))",  # 10^10 steps: cut off by the step budget
        "(" * 150 + "true" + ")" * 150,  # nesting deeper than the parser allows
        "result" + " + result" * 6000,  # longer than an expression may be
    ):
        with pytest.raises(ExprError):
            evaluate_condition(condition, 1.0)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("success", "failure", "result", "phase"),
    [
        ("", "", 0.1, "Successful"),  # no conditions: Successful (the code, not the doc's Inconclusive)
        ("result > 0.5", "", 0.9, "Successful"),
        ("result > 0.5", "", 0.1, "Failed"),
        ("", "result > 0.5", 0.9, "Failed"),
        ("", "result > 0.5", 0.1, "Successful"),
        ("result > 0.9", "result < 0.5", 0.95, "Successful"),
        ("result > 0.9", "result < 0.5", 0.4, "Failed"),
        ("result > 0.9", "result < 0.5", 0.7, "Inconclusive"),
        ("result >= 0.95", "result < 0.95", NAN, "Inconclusive"),
        ("result > 0", "result > 0", 1.0, "Failed"),  # both true: failure wins
        ("result > ", "", 1.0, "Error"),
        ("", "result.x > 1", 1.0, "Error"),
    ],
)
def test_measurement_phase_from_conditions(success: str, failure: str, result: Any, phase: str) -> None:
    got, message = evaluate_result(result, success, failure)
    assert got == phase
    assert bool(message) == (phase == "Error")


def test_range_query_times() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert evaluate_time("now()", now) == now
    assert evaluate_time('now() - duration("1h")', now) == now - timedelta(hours=1)
    assert evaluate_time('now() - duration("90s") + duration("30s")', now) == now - timedelta(minutes=1)
    with pytest.raises(ExprError, match="unknown unit"):
        evaluate_time('now() - duration("5 minutes")', now)
    with pytest.raises(ExprError, match="expected a time"):
        evaluate_time('duration("5m")', now)
    with pytest.raises(CompileError, match="unknown name result"):
        evaluate_time("result", now)


@pytest.mark.parametrize(
    ("value", "f", "v", "j"),
    [
        (0.95, "0.95", "0.95", "0.95"),
        (1.0, "1", "1", "1"),
        (1e-07, "0.0000001", "1e-07", "1e-7"),
        (1234567.0, "1234567", "1.234567e+06", "1234567"),
        (1e21, "1000000000000000000000", "1e+21", "1e+21"),
        (NAN, "NaN", "NaN", "NaN"),
        (INF, "+Inf", "+Inf", "+Inf"),
    ],
)
def test_values_print_as_go_prints_them(value: float, f: str, v: str, j: str) -> None:
    assert format_float_f(value) == f
    assert format_value(value) == v
    assert json_go(value) == j


def test_json_values_print_as_go_json() -> None:
    assert (
        json_go({"ok": True, "n": 3.0, "list": [1.5, None, "x"]}) == '{"list":[1.5,null,"x"],"n":3,"ok":true}'
    )
    assert format_value([1.0, "a", True]) == "[1 a true]"
