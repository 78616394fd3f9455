"""Evaluation of a parsed condition over plain values: no Python ``eval``, bounded work.

Values are what providers produce and JSON decodes to: ``None``, ``bool``, ``int``, ``float``,
``str``, ``list``, ``dict`` (plus ``datetime``/``timedelta`` from ``now()``/``duration()``). The
rules follow expr-lang's: ``int`` op ``int`` stays ``int`` except ``/`` (always float, so ``1/0``
is ``+Inf``); ``%`` needs integers; ``**`` is a float power; ``==`` compares numbers by value;
comparing or combining values of different kinds is an error, as are ``&&``/``||``/``!`` on
anything but booleans, a field of ``nil``, and an index out of range (negative indexes count from
the end). A map's missing key reads as ``nil``.

Every node visited counts against :data:`MAX_STEPS` and ranges are capped, so a hostile
expression fails fast instead of running long.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from controller.analysis.expr.builtins import BUILTINS, Function
from controller.analysis.expr.errors import CompileError, EvalError
from controller.analysis.expr.parser import (
    PREDICATE_FUNCTIONS,
    ArrayLiteral,
    Binary,
    Call,
    Conditional,
    Literal,
    MapLiteral,
    Member,
    Name,
    Node,
    Pointer,
    Slice,
    Unary,
    parse,
)
from controller.analysis.expr.values import (
    arith,
    compare,
    contains,
    equal,
    fetch,
    is_number,
    iterable,
    mismatch,
    strings,
    truth,
)
from controller.analysis.goformat import format_value, go_type

__all__ = ["MAX_RANGE", "MAX_STEPS", "Function", "Program", "compile_expression", "run"]

MAX_STEPS: Final = 200_000
MAX_RANGE: Final = 100_000


@dataclass(frozen=True)
class Program:
    """A compiled expression: its source and syntax tree, checked against the names it may use."""

    source: str
    tree: Node
    names: frozenset[str] = field(default_factory=frozenset)


def compile_expression(source: str, variables: frozenset[str], functions: frozenset[str]) -> Program:
    """Parse ``source`` and check every name it uses; raises :class:`CompileError`."""
    tree = parse(source)
    _check_names(tree, variables, functions | _BUILTIN_NAMES)
    return Program(source, tree, variables)


def _check_names(node: Node, variables: frozenset[str], functions: frozenset[str]) -> None:
    if isinstance(node, Name):
        if node.name not in variables:
            raise CompileError(f"unknown name {node.name}")
    elif isinstance(node, Call):
        if node.name not in functions:
            raise CompileError(f"unknown func {node.name}")
        if node.name in PREDICATE_FUNCTIONS and node.predicate is None:
            raise CompileError(f"{node.name}() needs a predicate, as in {node.name}(list, {{# > 0}})")
        for arg in node.args:
            _check_names(arg, variables, functions)
        if node.predicate is not None:
            _check_names(node.predicate, variables, functions)
    else:
        for child in _children(node):
            _check_names(child, variables, functions)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Member):
        return (node.obj, node.key)
    if isinstance(node, Slice):
        return tuple(n for n in (node.obj, node.start, node.end) if n is not None)
    if isinstance(node, Conditional):
        return (node.cond, node.then, node.otherwise)
    if isinstance(node, ArrayLiteral):
        return node.items
    if isinstance(node, MapLiteral):
        return tuple(n for pair in node.pairs for n in pair)
    return ()


def run(program: Program, variables: Mapping[str, Any], functions: Mapping[str, Function]) -> Any:
    """The value of ``program`` with these variables and functions; raises :class:`EvalError`."""
    return _Evaluator(variables, functions).eval(program.tree, ())


_BUILTIN_NAMES: Final = frozenset(BUILTINS) | PREDICATE_FUNCTIONS


# -- the evaluator -----------------------------------------------------------------------------


class _Evaluator:
    def __init__(self, variables: Mapping[str, Any], functions: Mapping[str, Function]) -> None:
        self.variables = variables
        self.functions = {**BUILTINS, **functions}
        self.steps = 0

    def eval(self, node: Node, scope: tuple[tuple[Any, int], ...]) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise EvalError(f"the expression took more than {MAX_STEPS} steps")
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            return self.variables.get(node.name)
        if isinstance(node, Pointer):
            element, index = scope[-1]
            if node.name == "":
                return element
            if node.name == "index":
                return index
            raise EvalError(f"unknown pointer #{node.name}")
        if isinstance(node, Unary):
            return self.unary(node, scope)
        if isinstance(node, Binary):
            return self.binary(node, scope)
        if isinstance(node, Member):
            return fetch(self.eval(node.obj, scope), self.eval(node.key, scope), node.optional)
        if isinstance(node, Slice):
            return self.slice(node, scope)
        if isinstance(node, Conditional):
            cond = truth("?:", self.eval(node.cond, scope))
            return self.eval(node.then if cond else node.otherwise, scope)
        if isinstance(node, ArrayLiteral):
            return [self.eval(item, scope) for item in node.items]
        if isinstance(node, MapLiteral):
            out: dict[str, Any] = {}
            for k, v in node.pairs:
                key = self.eval(k, scope)
                out[key if isinstance(key, str) else format_value(key)] = self.eval(v, scope)
            return out
        if isinstance(node, Call):
            return self.call(node, scope)
        raise EvalError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover - every node is above

    def unary(self, node: Unary, scope: tuple[tuple[Any, int], ...]) -> Any:
        v = self.eval(node.operand, scope)
        if node.op in ("!", "not"):
            return not truth(node.op, v)
        if not is_number(v):
            raise EvalError(f"invalid operation: {node.op} {go_type(v)}")
        return -v if node.op == "-" else v

    def binary(self, node: Binary, scope: tuple[tuple[Any, int], ...]) -> Any:
        op = node.op
        if op in ("and", "&&", "or", "||"):
            left = self.eval(node.left, scope)
            is_and = op in ("and", "&&")
            if not isinstance(left, bool):
                raise mismatch(op, left, True)
            if left is not is_and:  # false && ..., true || ...
                return left
            right = self.eval(node.right, scope)
            if not isinstance(right, bool):
                raise mismatch(op, left, right)
            return right
        if op == "??":
            left = self.eval(node.left, scope)
            return left if left is not None else self.eval(node.right, scope)
        a = self.eval(node.left, scope)
        b = self.eval(node.right, scope)
        if op == "==":
            return equal(a, b, strict=True)
        if op == "!=":
            return not equal(a, b, strict=True)
        if op in ("<", ">", "<=", ">="):
            return compare(op, a, b)
        if op in ("+", "-", "*", "/", "%", "**", "^"):
            return arith(op, a, b)
        if op == "in":
            return contains(b, a)
        if op == "..":
            if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool) or isinstance(b, bool):
                raise mismatch("..", a, b)
            if b - a + 1 > MAX_RANGE:
                raise EvalError(f"the range {a}..{b} has more than {MAX_RANGE} elements")
            return list(range(a, b + 1))
        s, t = strings(op, a, b)
        if op == "contains":
            return t in s
        if op == "startsWith":
            return s.startswith(t)
        if op == "endsWith":
            return s.endswith(t)
        try:
            return re.search(t, s) is not None
        except re.error as e:
            raise EvalError(f"error parsing regexp {t!r}: {e}") from None

    def slice(self, node: Slice, scope: tuple[tuple[Any, int], ...]) -> Any:
        obj = self.eval(node.obj, scope)
        if not isinstance(obj, list | str):
            raise EvalError(f"cannot slice {go_type(obj)}")
        n = len(obj)
        bounds = []
        for part, default in ((node.start, 0), (node.end, n)):
            v = default if part is None else self.eval(part, scope)
            if not isinstance(v, int) or isinstance(v, bool):
                raise EvalError(f"invalid slice index {format_value(v)}")
            bounds.append(max(0, min(n, v + n if v < 0 else v)))
        return obj[bounds[0] : max(bounds)]

    def call(self, node: Call, scope: tuple[tuple[Any, int], ...]) -> Any:
        if node.name in PREDICATE_FUNCTIONS:
            return self.predicate_call(node, scope)
        fn = self.functions.get(node.name)
        if fn is None:
            raise EvalError(f"unknown func {node.name}")
        return fn([self.eval(a, scope) for a in node.args])

    def predicate_call(self, node: Call, scope: tuple[tuple[Any, int], ...]) -> Any:
        name = node.name
        if len(node.args) != 1 or node.predicate is None:
            raise EvalError(f"{name}() takes a list and a predicate")
        items = iterable(name, self.eval(node.args[0], scope))
        pred = node.predicate

        def test(i: int, item: Any) -> bool:
            v = self.eval(pred, (*scope, (item, i)))
            if not isinstance(v, bool):
                raise EvalError(f"predicate should return boolean (got {go_type(v)})")
            return v

        if name == "all":
            return all(test(i, x) for i, x in enumerate(items))
        if name == "any":
            return any(test(i, x) for i, x in enumerate(items))
        if name == "none":
            return not any(test(i, x) for i, x in enumerate(items))
        if name == "one":
            return sum(1 for i, x in enumerate(items) if test(i, x)) == 1
        if name == "filter":
            return [x for i, x in enumerate(items) if test(i, x)]
        if name == "count":
            return sum(1 for i, x in enumerate(items) if test(i, x))
        if name == "map":
            return [self.eval(pred, (*scope, (x, i))) for i, x in enumerate(items)]
        indexes = [i for i, x in enumerate(items) if test(i, x)]
        if name == "find":
            return items[indexes[0]] if indexes else None
        if name == "findLast":
            return items[indexes[-1]] if indexes else None
        if name == "findIndex":
            return indexes[0] if indexes else -1
        return indexes[-1] if indexes else -1  # findLastIndex
