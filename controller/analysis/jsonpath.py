"""The Kubernetes JSONPath the web provider's ``jsonPath`` uses (``{$.data.ok}``), over decoded JSON.

Supported inside the ``{...}`` braces: ``$`` (the whole document), ``.field`` and ``['field']``,
``[n]`` (negative from the end), ``[*]`` and ``.*``, ``..field`` (recursive descent), and filters
``[?(@.field == "x")]`` (``== != < > <= >=`` against a string or number literal, or
``[?(@.field)]`` for presence). As client-go's JSONPath without ``AllowMissingKeys``, a missing
key or index is an error; :func:`find` returns every match in document order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


class JsonPathError(ValueError):
    """The path does not parse, or the document does not have what it names."""


@dataclass(frozen=True)
class _Step:
    kind: str  # field | index | all | recurse | filter
    key: Any = None
    op: str = ""
    path: tuple[_Step, ...] = ()
    literal: Any = None


_FIELD: Final = re.compile(r"[^.\[\]()\s{}=!<>,]+")
_FILTER: Final = re.compile(r"\?\(@((?:\.[^\s=!<>)]+|\['[^']*'\])*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*\)")


def parse(path: str) -> tuple[_Step, ...]:
    """The steps of a ``{...}`` JSONPath; raises :class:`JsonPathError`."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    return _steps(text, path)


def _steps(text: str, original: str) -> tuple[_Step, ...]:
    steps: list[_Step] = []
    i = 0
    while i < len(text):
        if text.startswith("..", i):
            m = _FIELD.match(text, i + 2)
            if not m:
                raise JsonPathError(f"a field name must follow '..' in {original!r}")
            steps.append(_Step("recurse", m.group(0)))
            i = m.end()
        elif text[i] == ".":
            if text.startswith(".*", i):
                steps.append(_Step("all"))
                i += 2
                continue
            m = _FIELD.match(text, i + 1)
            if not m:
                raise JsonPathError(f"a field name must follow '.' in {original!r}")
            steps.append(_Step("field", m.group(0)))
            i = m.end()
        elif text[i] == "[":
            end = _closing(text, i, original)
            inner = text[i + 1 : end].strip()
            steps.append(_bracket(inner, original))
            i = end + 1
        else:
            m = _FIELD.match(text, i)
            if not m or steps:
                raise JsonPathError(f"unexpected {text[i]!r} at position {i} in {original!r}")
            steps.append(_Step("field", m.group(0)))
            i = m.end()
    return tuple(steps)


def _closing(text: str, start: int, original: str) -> int:
    depth, quote = 0, ""
    for j in range(start, len(text)):
        c = text[j]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j
    raise JsonPathError(f"unclosed '[' in {original!r}")


def _bracket(inner: str, original: str) -> _Step:
    if inner == "*":
        return _Step("all")
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _Step("field", inner[1:-1])
    if re.fullmatch(r"-?[0-9]+", inner):
        return _Step("index", int(inner))
    m = _FILTER.fullmatch(inner)
    if m:
        sub = _steps(m.group(1), original)
        literal: Any = None
        if m.group(2):
            raw = m.group(3).strip()
            if raw[:1] in "'\"" and raw[-1:] == raw[:1]:
                literal = raw[1:-1]
            else:
                try:
                    literal = json.loads(raw)
                except ValueError:
                    raise JsonPathError(f"cannot read the literal {raw!r} in {original!r}") from None
        return _Step("filter", op=m.group(2) or "", path=sub, literal=literal)
    raise JsonPathError(f"unsupported JSONPath element [{inner}] in {original!r}")


def _walk(values: list[Any], step: _Step, strict: bool) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if step.kind == "field":
            if isinstance(value, Mapping) and step.key in value:
                out.append(value[step.key])
            elif strict:
                raise JsonPathError(f"{step.key} is not found")
        elif step.kind == "index":
            if isinstance(value, list) and -len(value) <= step.key < len(value):
                out.append(value[step.key])
            elif strict:
                raise JsonPathError(f"array index out of bounds: index {step.key}")
        elif step.kind == "all":
            if isinstance(value, Mapping):
                out.extend(value[k] for k in sorted(value))
            elif isinstance(value, list):
                out.extend(value)
        elif step.kind == "recurse":
            out.extend(_descend(value, step.key))
        else:
            items = (
                value
                if isinstance(value, list)
                else list(value.values())
                if isinstance(value, Mapping)
                else []
            )
            out.extend(item for item in items if _passes(item, step))
    return out


def _descend(value: Any, key: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, Mapping):
        if key in value:
            found.append(value[key])
        for k in sorted(value):
            found.extend(_descend(value[k], key))
    elif isinstance(value, list):
        for item in value:
            found.extend(_descend(item, key))
    return found


def _passes(item: Any, step: _Step) -> bool:
    values = [item]
    for sub in step.path:
        values = _walk(values, sub, strict=False)
    if not step.op:
        return bool(values)
    if not values:
        return False
    left, right = values[0], step.literal
    if step.op in ("==", "!="):
        same = (left == right and type(left) is not bool) or (isinstance(left, bool) and left is right)
        return same if step.op == "==" else not same
    try:
        if step.op == "<":
            return bool(left < right)
        if step.op == ">":
            return bool(left > right)
        if step.op == "<=":
            return bool(left <= right)
        return bool(left >= right)
    except TypeError:
        return False


def find(path: str, document: Any) -> list[Any]:
    """Every value ``path`` selects in ``document``; raises :class:`JsonPathError`."""
    values = [document]
    for step in parse(path):
        values = _walk(values, step, strict=True)
    return values
