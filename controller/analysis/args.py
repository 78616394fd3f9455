"""``{{args.NAME}}`` substitution in metrics, as Argo's utils/template ``ResolveQuotedArgs``.

A metric is serialised to JSON, every ``{{ tag }}`` in it is replaced by the value of the
argument the (trimmed) tag names, JSON-escaped so that quotes and newlines in a value cannot break
the document, and the result is decoded again. Every argument must have a value by then
(``argument "x" was not supplied``), and every tag must name one (``failed to resolve {{tag}}``).

Secret arguments (``valueFrom.secretKeyRef``) get their value only when a measurement is taken;
everywhere else — validation, status metadata, logs — they stand as :data:`SECRET_PLACEHOLDER`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

#: what a secret argument's value is replaced by wherever it may be seen
SECRET_PLACEHOLDER: Final = "*****"


class ArgsError(ValueError):
    """An argument is missing a value, or a template names one that does not exist."""


def secret_ref(arg: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``valueFrom.secretKeyRef`` of an argument, if it has one."""
    value_from = arg.get("valueFrom")
    if isinstance(value_from, Mapping):
        ref = value_from.get("secretKeyRef")
        if isinstance(ref, Mapping):
            return ref
    return None


def with_placeholders(args: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``args`` with each secret argument's value set to :data:`SECRET_PLACEHOLDER`."""
    out: list[dict[str, Any]] = []
    for arg in args:
        copy = dict(arg)
        if secret_ref(arg) is not None:
            copy.pop("valueFrom", None)
            copy["value"] = SECRET_PLACEHOLDER
        out.append(copy)
    return out


def arg_values(args: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``{"args.NAME": value}`` for every argument; raises :class:`ArgsError` if one has none."""
    values: dict[str, str] = {}
    for arg in args:
        name = str(arg.get("name") or "")
        value = arg.get("value")
        if value is None:
            raise ArgsError(f'argument "{name}" was not supplied')
        values[f"args.{name}"] = str(value)
    return values


def substitute(template: str, values: Mapping[str, str], *, quoted: bool = False) -> str:
    """Replace each ``{{tag}}`` in ``template`` by ``values[tag.strip()]`` (JSON-escaped if ``quoted``)."""
    out: list[str] = []
    pos = 0
    unresolved: str | None = None
    while True:
        start = template.find("{{", pos)
        if start < 0:
            out.append(template[pos:])
            break
        end = template.find("}}", start + 2)
        if end < 0:
            raise ArgsError(f"cannot find the end of the tag that starts at {template[start : start + 40]!r}")
        out.append(template[pos:start])
        tag = template[start + 2 : end]
        value = values.get(tag.strip())
        if value is None:
            unresolved = unresolved or tag
        else:
            out.append(json.dumps(value, ensure_ascii=False)[1:-1] if quoted else value)
        pos = end + 2
    if unresolved is not None:
        raise ArgsError(f"failed to resolve {{{{{unresolved}}}}}")
    return "".join(out)


def resolve_metric(metric: Mapping[str, Any], args: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``metric`` (raw JSON) with ``{{args.*}}`` resolved; raises :class:`ArgsError`."""
    values = arg_values(args)
    text = substitute(json.dumps(metric, ensure_ascii=False), values, quoted=True)
    try:
        resolved = json.loads(text)
    except ValueError as e:  # pragma: no cover - quoting keeps the document valid
        raise ArgsError(f"the metric is not valid JSON after resolving its arguments: {e}") from None
    if not isinstance(resolved, dict):  # pragma: no cover - a metric is an object
        raise ArgsError("a metric must be an object")
    return resolved


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value replaced by :data:`SECRET_PLACEHOLDER`."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, SECRET_PLACEHOLDER)
    return text
