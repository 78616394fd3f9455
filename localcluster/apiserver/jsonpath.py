"""The kubectl JSONPath subset used by CRD ``additionalPrinterColumns`` and ``--for=jsonpath``.

Supported: an optional ``{...}`` wrapper and ``$`` root; ``.field`` (``\\.`` escapes a dot in a
key), ``['key']`` / ``["key"]``, ``..field`` (recursive descent), ``[n]`` / ``[-n]``, slices
``[a:b:c]``, ``[*]`` and ``.*``, unions ``[0,2]`` / ``['a','b']``, and filters
``[?(@.type=="Ready")]`` with ``== != < > <= >=`` against a literal or another ``@`` path, or
``[?(@.field)]`` for presence. Missing keys and out-of-range indices yield nothing (like
``AllowMissingKeys(true)``); a JSON null reached by the last step is a result, ``None``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["JsonPathError", "evaluate", "parse"]


class JsonPathError(ValueError):
    """A malformed JSONPath expression."""


@dataclass(frozen=True)
class _Step:
    kind: str  # field | recurse | index | slice | wildcard | union | filter
    names: tuple[Any, ...] = ()
    filter: _Filter | None = None


@dataclass(frozen=True)
class _Filter:
    left: tuple[_Step, ...]
    op: str | None = None
    right: tuple[_Step, ...] | None = None
    literal: Any = None


_TERMINATORS = set(".[](),=!<>{}\"'|& \t\r\n")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> JsonPathError:
        return JsonPathError(f"{what} at position {self.pos} in {self.text!r}")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def skip_space(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def path(self, stop: str = "") -> tuple[_Step, ...]:
        steps: list[_Step] = []
        while self.pos < len(self.text) and self.peek() not in stop:
            ch = self.peek()
            if self.peek(2) == "..":
                self.pos += 2
                steps.append(_Step("recurse", (self.name(),)))
            elif ch == ".":
                self.pos += 1
                if self.peek() == "*":
                    self.pos += 1
                    steps.append(_Step("wildcard"))
                elif self.peek() == "[" or self.pos >= len(self.text) or self.peek() in stop:
                    continue  # "." alone means the current node
                else:
                    steps.append(_Step("field", (self.name(),)))
            elif ch == "[":
                steps.append(self.bracket())
            elif not steps and ch not in _TERMINATORS:
                steps.append(_Step("field", (self.name(),)))  # a bare leading name
            else:
                raise self.fail(f"unexpected {ch!r}")
        return tuple(steps)

    def name(self) -> str:
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.peek()
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch in _TERMINATORS:
                break
            out.append(ch)
            self.pos += 1
        if not out:
            raise self.fail("expected a field name")
        return "".join(out)

    def bracket(self) -> _Step:
        self.pos += 1
        self.skip_space()
        if self.peek(2) == "?(":
            self.pos += 2
            flt = self.filter()
            self.expect(")")
            self.expect("]")
            return _Step("filter", filter=flt)
        if self.peek() == "*":
            self.pos += 1
            self.expect("]")
            return _Step("wildcard")
        parts: list[Any] = []
        while True:
            self.skip_space()
            if self.peek() in ("'", '"'):
                parts.append(self.quoted())
            else:
                start = self.pos
                while self.pos < len(self.text) and self.peek() not in ",]":
                    self.pos += 1
                raw = self.text[start : self.pos].strip()
                parts.append(self.slice_or_index(raw))
            self.skip_space()
            if self.peek() == "]":
                self.pos += 1
                break
            self.expect(",")
        if len(parts) == 1 and isinstance(parts[0], tuple):
            return _Step("slice", parts[0])
        if any(isinstance(p, tuple) for p in parts):
            raise self.fail("a slice cannot be part of a union")
        return _Step("union", tuple(parts))

    def slice_or_index(self, raw: str) -> int | tuple[int | None, ...]:
        try:
            if ":" in raw:
                pieces = raw.split(":")
                if len(pieces) > 3:
                    raise ValueError(raw)
                return tuple(int(p) if p.strip() else None for p in pieces)
            return int(raw)
        except ValueError:
            raise self.fail(f"invalid array index {raw!r}") from None

    def quoted(self) -> str:
        quote = self.peek()
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text) and self.peek() != quote:
            if self.peek() == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            out.append(self.peek())
            self.pos += 1
        self.expect(quote)
        return "".join(out)

    def expect(self, token: str) -> None:
        self.skip_space()
        if self.peek(len(token)) != token:
            raise self.fail(f"expected {token!r}")
        self.pos += len(token)

    def filter(self) -> _Filter:
        self.skip_space()
        self.expect("@")
        left = self.path(stop=" \t)=!<>")
        self.skip_space()
        op = next((o for o in ("==", "!=", "<=", ">=", "<", ">") if self.peek(len(o)) == o), None)
        if op is None:
            return _Filter(left)
        self.pos += len(op)
        self.skip_space()
        if self.peek() == "@":
            self.pos += 1
            return _Filter(left, op, right=self.path(stop=" \t)"))
        return _Filter(left, op, literal=self.literal())

    def literal(self) -> Any:
        if self.peek() in ("'", '"'):
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and self.peek() not in " \t)":
            self.pos += 1
        raw = self.text[start : self.pos]
        if raw in ("true", "false"):
            return raw == "true"
        if raw == "null":
            return None
        try:
            return int(raw)
        except ValueError:
            pass
        try:
            return float(raw)
        except ValueError:
            raise self.fail(f"invalid literal {raw!r}") from None


@functools.lru_cache(maxsize=512)
def parse(expr: str) -> tuple[_Step, ...]:
    """Compile ``expr``; raises :class:`JsonPathError` when it is malformed."""
    text = expr.strip()
    if text.startswith("{"):
        if not text.endswith("}") or text.count("{") != 1:
            raise JsonPathError(f"unclosed action or unsupported template in {expr!r}")
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    if not text:
        return ()
    parser = _Parser(text)
    return parser.path()


def evaluate(expr: str, obj: Any) -> list[Any]:
    """All values ``expr`` selects in ``obj`` (empty when nothing matches)."""
    return _run(parse(expr), [obj])


def _run(steps: tuple[_Step, ...], nodes: list[Any]) -> list[Any]:
    for step in steps:
        nodes = [out for node in nodes if node is not None for out in _apply(step, node)]
    return nodes


def _children(node: Any) -> list[Any]:
    if isinstance(node, Mapping):
        return [node[k] for k in sorted(node)]
    if isinstance(node, list):
        return list(node)
    return []


def _apply(step: _Step, node: Any) -> list[Any]:
    kind = step.kind
    if kind == "field":
        return [node[step.names[0]]] if isinstance(node, Mapping) and step.names[0] in node else []
    if kind == "wildcard":
        return _children(node)
    if kind == "recurse":
        found: list[Any] = []
        stack = [node]
        while stack:
            cur = stack.pop()
            if isinstance(cur, Mapping) and step.names[0] in cur:
                found.append(cur[step.names[0]])
            stack.extend(reversed(_children(cur)))
        return found
    if kind == "union":
        return [node[name] for name in step.names if _has(node, name)]
    if kind == "slice":
        if not isinstance(node, list):
            return []
        start, stop, *rest = (*step.names, None)
        stride = rest[0] if rest and rest[0] else 1
        return node[slice(start, stop, stride)]
    assert step.filter is not None
    return [item for item in _children(node) if isinstance(node, list) and _keep(step.filter, item)]


def _has(node: Any, name: Any) -> bool:
    if isinstance(name, int):
        return isinstance(node, list) and -len(node) <= name < len(node)
    return isinstance(node, Mapping) and name in node


def _keep(flt: _Filter, item: Any) -> bool:
    left = _run(flt.left, [item])
    if flt.op is None:
        return bool(left) and left[0] is not None and left[0] is not False
    right = _run(flt.right, [item]) if flt.right is not None else [flt.literal]
    if not left or not right:
        return False
    return _compare(left[0], flt.op, right[0])


def _compare(a: Any, op: str, b: Any) -> bool:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if op in ("==", "!="):
        same = a == b if numeric or type(a) is type(b) else False
        return same if op == "==" else not same
    if not numeric and not (isinstance(a, str) and isinstance(b, str)):
        return False
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)
