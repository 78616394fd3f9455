"""Label and field selectors, parsed, validated and matched as the Kubernetes API server does.

Label selectors use the full string syntax (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``,
``a in (x,y)``, ``a notin (x)``, ``a>1``, ``a<1``; comma means AND) and the server's error
messages (``unable to parse requirement: ...``, ``found 'x', expected: ...``). Field selectors
support ``=``, ``==`` and ``!=`` over the fields each resource exposes.

The name-format checks the server applies to label keys and values (qualified names,
RFC 1123 subdomains and labels, RFC 1035 labels) live here too, with the server's wording.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "go_quote",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_valid_label_value",
    "label_selector_from_dict",
]


class SelectorError(ValueError):
    """A selector the server would reject (HTTP 400); ``str()`` is the server's message."""


# -- name formats ----------------------------------------------------------------------------

_QNAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QNAME_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _check(value: str, max_len: int, pattern: str, msg: str, *examples: str) -> list[str]:
    errs = [f"must be no more than {max_len} characters"] if len(value) > max_len else []
    if re.fullmatch(pattern, value) is None:
        errs.append(_regex_error(msg, pattern, *examples))
    return errs


_ALNUM_ENDS = "and must start and end with an alphanumeric character"


def is_dns1123_subdomain(value: str) -> list[str]:
    msg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    return _check(value, 253, _DNS1123_SUBDOMAIN, msg + _ALNUM_ENDS, "example.com")


def is_dns1123_label(value: str) -> list[str]:
    if re.fullmatch(_DNS1123_SUBDOMAIN, value) and "." in value and len(value) <= 63:
        return ["must not contain dots"]
    msg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    return _check(value, 63, _DNS1123_LABEL, msg + _ALNUM_ENDS, "my-name", "123-abc")


def is_dns1035_label(value: str) -> list[str]:
    msg = (
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
        "start with an alphabetic character, and end with an alphanumeric character"
    )
    return _check(value, 63, _DNS1035_LABEL, msg, "my-name", "abc-123")


def is_qualified_name(value: str) -> list[str]:
    """Label keys, annotation keys, finalizers: ``[dns-subdomain/]name``."""
    parts = value.split("/")
    errs: list[str] = []
    if len(parts) > 2:
        example = " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        return [
            "a qualified name " + _regex_error(_QNAME_MSG, _QNAME, "MyName", "my.name", "123-abc") + example
        ]
    if len(parts) == 2:
        prefix = parts[0]
        errs = (
            [f"prefix part {m}" for m in is_dns1123_subdomain(prefix)]
            if prefix
            else ["prefix part must be non-empty"]
        )
    name = parts[-1]
    if not name:
        errs.append("name part must be non-empty")
    errs += [f"name part {m}" for m in _check(name, 63, _QNAME, _QNAME_MSG, "MyName", "my.name", "123-abc")]
    return errs


def is_valid_label_value(value: str) -> list[str]:
    msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    return _check(value, 63, _LABEL_VALUE, msg + _ALNUM_ENDS, "MyValue", "my_value", "12345")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def go_quote(value: str) -> str:
    """Go's ``%q``/``strconv.Quote`` of a string (printable Unicode kept as is)."""

    def one(ch: str) -> str:
        if ch in _ESCAPES:
            return _ESCAPES[ch]
        if ch.isprintable():
            return ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return '"' + "".join(one(ch) for ch in value) + '"'


def _go_strings(values: Iterable[str]) -> str:
    """Go's ``%#v`` of a ``[]string``."""
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


def _invalid(path: str, value: str, msgs: list[str]) -> str:
    return f"{path}: Invalid value: {go_quote(value)}: {'; '.join(msgs)}"


def _aggregate(errors: list[str]) -> str:
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# -- label selectors ---------------------------------------------------------------------------

_BINARY_OPS = ("in", "notin", "=", "==", "!=", "gt", "lt")
_SYMBOL_OPS = {"gt": ">", "lt": "<"}
_SPECIAL = set("=!(),<>")
_WHITESPACE = set(" \t\r\n")
_SYMBOL_TOKENS = {")", ",", "!", "==", "=", ">", "<", "!=", "("}


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector. ``operator`` is one of ``=``, ``==``, ``!=``, ``in``,
    ``notin``, ``exists``, ``!`` (does not exist), ``gt``, ``lt``; values are sorted."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op, present = self.operator, self.key in labels
        if op in ("in", "=", "=="):
            return present and labels[self.key] in self.values
        if op in ("notin", "!="):
            return not present or labels[self.key] not in self.values
        if op == "exists":
            return present
        if op == "!":
            return not present
        if not present or len(self.values) != 1:
            return False
        have, want = _parse_int(labels[self.key]), _parse_int(self.values[0])
        if have is None or want is None:
            return False
        return have > want if op == "gt" else have < want

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return "!" + self.key
        joined = ",".join(self.values)
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({joined})"
        return f"{self.key}{_SYMBOL_OPS.get(self.operator, self.operator)}{joined}"


def _parse_int(text: str) -> int | None:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _new_requirement(key: str, op: str, values: list[str]) -> Requirement:
    """Validate like labels.NewRequirement (key already checked by the parser)."""
    errs: list[str] = []
    bad = f"values: Invalid value: {_go_strings(values)}: "
    if op in ("in", "notin") and not values:
        errs.append(bad + "for 'in', 'notin' operators, values set can't be empty")
    if op in ("gt", "lt"):
        if len(values) != 1:
            errs.append(bad + "for 'Gt', 'Lt' operators, exactly one value is required")
        gt_lt = ["for 'Gt', 'Lt' operators, the value must be an integer"]
        errs += [_invalid(f"values[{i}]", v, gt_lt) for i, v in enumerate(values) if _parse_int(v) is None]
    for i, value in enumerate(values):
        if msgs := is_valid_label_value(value):
            errs.append(_invalid(f"values[{i}][{key}]", value, msgs))
    if errs:
        raise SelectorError(_aggregate(errs))
    return Requirement(key, op, tuple(values))


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, literal); kind is "id", "eos", or the symbol/keyword itself."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append(("eos", ""))
            return tokens
        if text[i] in _SPECIAL:
            # Longest run of special characters that still forms a known token.
            j, best = i, ""
            while j < n and text[j] in _SPECIAL:
                if text[i : j + 1] in _SYMBOL_TOKENS:
                    best = text[i : j + 1]
                elif best:
                    break
                j += 1
            best = best or text[i]
            tokens.append((best, best))
            i += len(best)
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
            j += 1
        word = text[i:j]
        tokens.append((word if word in ("in", "notin") else "id", word))
        i = j


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, lit = self.tokens[self.pos]
        return ("id" if values and kind in ("in", "notin") else kind), lit

    def take(self, values: bool = True) -> tuple[str, str]:
        token = self.peek(values)
        self.pos += 1
        return token

    def parse(self) -> list[Requirement]:
        found: list[Requirement] = []
        while True:
            kind, lit = self.peek()
            if kind == "eos":
                return found
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                found.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            kind, lit = self.take()
            if kind == "eos":
                return found
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, key = self.take()
        negated = kind == "!"
        if negated:
            kind, key = self.take()
        if kind != "id":
            raise SelectorError(f"found '{key}', expected: identifier")
        msgs = is_qualified_name(key)
        if msgs:
            raise SelectorError(_invalid("<nil>", key, msgs))
        if negated:
            return Requirement(key, "!")
        if self.peek()[0] in ("eos", ","):
            return Requirement(key, "exists")
        kind, lit = self.take(values=False)
        ops = {"in": "in", "notin": "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt"}
        if kind not in ops:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPS)}")
        op = ops[kind]
        values = self.set_values() if op in ("in", "notin") else self.exact_value()
        return _new_requirement(key, op, sorted(values))

    def set_values(self) -> set[str]:
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        kind, lit = self.peek()
        if kind not in ("id", ",", ")"):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        want_value = True  # an empty entry, as in "(a,,b)" or "()", stands for ""
        while True:
            kind, lit = self.take()
            if kind == "id":
                values.add(lit)
                want_value = False
                nxt, nlit = self.peek()
                if nxt not in (",", ")"):
                    raise SelectorError(f"found '{nlit}', expected: ',' or ')'")
            elif kind in (",", ")"):
                if want_value:
                    values.add("")
                if kind == ")":
                    return values
                want_value = True
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in ("eos", ","):
            return {""}
        kind, lit = self.take()
        if kind != "id":
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


@dataclass(frozen=True)
class LabelSelector:
    """AND of requirements, sorted by key. ``nothing`` selectors (from a nil
    ``metav1.LabelSelector``) match no object."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @staticmethod
    def parse(text: str) -> LabelSelector:
        reqs = _Parser(text).parse()
        return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (matches every object)."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must have, when the selector pins it (for indexes)."""
        for r in self.requirements:
            if r.key == key:
                ok = r.operator in ("=", "==", "in") and len(r.values) == 1
                return r.values[0] if ok else None
        return None

    def index_hint(self) -> tuple[str, tuple[str, ...] | None] | None:
        """A label every match must carry, as ``(key, values)`` for the store's label index.

        ``values`` are the values the label may have (``None``: any). The selector must still
        be matched against what the index returns; None when no requirement narrows (no
        requirements, or only ``!=``, ``notin`` and ``!``). A selector that matches nothing
        gives no values.
        """
        if self.nothing:
            return ("", ())
        exists: str | None = None
        best: tuple[str, tuple[str, ...]] | None = None
        for r in self.requirements:
            if r.operator in ("=", "==", "in") and (best is None or len(r.values) < len(best[1])):
                best = (r.key, r.values)
            elif r.operator in ("exists", "gt", "lt") and exists is None:
                exists = r.key  # gt and lt need the label too
        if best is not None:
            return best
        return (exists, None) if exists is not None else None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_EXPR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """A ``metav1.LabelSelector``: None matches nothing, ``{}`` matches everything."""
    if sel is None:
        return LabelSelector(nothing=True)
    reqs: list[Requirement] = []
    for key, value in (sel.get("matchLabels") or {}).items():
        reqs.append(_checked(str(key), "=", [str(value)]))
    for expr in sel.get("matchExpressions") or []:
        op = _EXPR_OPS.get(str(expr.get("operator", "")))
        if op is None:
            raise SelectorError(f'"{expr.get("operator", "")}" is not a valid label selector operator')
        values = [str(v) for v in expr.get("values") or []]
        if op in ("exists", "!") and values:
            raise SelectorError(
                f"values: Invalid value: {_go_strings(values)}: values set must be empty for exists and does not exist"
            )
        reqs.append(_checked(str(expr.get("key", "")), op, values))
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def _checked(key: str, op: str, values: list[str]) -> Requirement:
    msgs = is_qualified_name(key)
    if msgs:
        raise SelectorError(_invalid("key", key, msgs))
    if op in ("exists", "!"):
        return Requirement(key, op)
    return _new_requirement(key, op, values if op == "=" else sorted(set(values)))


# -- field selectors ---------------------------------------------------------------------------

_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_POD_FIELDS = "spec.nodeName spec.restartPolicy spec.schedulerName spec.serviceAccountName spec.hostNetwork"
_EVENT_FIELDS = "involvedObject.kind involvedObject.namespace involvedObject.name involvedObject.uid"
_FIELDS: dict[str, frozenset[str]] = {
    plural: frozenset(names.split())
    for plural, names in {
        "pods": _POD_FIELDS + " spec.host status.phase status.podIP status.nominatedNodeName",
        "events": _EVENT_FIELDS + " involvedObject.apiVersion involvedObject.resourceVersion"
        " involvedObject.fieldPath reason reportingComponent source type",
        "secrets": "type",
        "namespaces": "status.phase",
        "replicasets": "status.replicas",
        "jobs": "status.successful",
        "nodes": "spec.unschedulable",
    }.items()
}
# Fields whose value does not sit at the JSON path of their name.
_ALIASES = {
    "spec.host": "spec.nodeName",
    "source": "source.component",
    "reportingComponent": "reportingController",
    "status.successful": "status.succeeded",
}


def _unescape(value: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _field_text(value: Any, default: str = "") -> str:
    if value is None:
        return default
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


# Selectable fields the server renders from a zero value when the object does not set them.
_ZERO = {
    "status.replicas": "0",
    "status.successful": "0",
    "spec.unschedulable": "false",
    "spec.hostNetwork": "false",
}


@dataclass(frozen=True)
class FieldSelector:
    """AND of ``(field, operator, value)`` terms; operator is ``=``, ``==`` or ``!=``."""

    terms: tuple[tuple[str, str, str], ...] = ()

    @staticmethod
    def parse(text: str) -> FieldSelector:
        terms = []
        for part in sorted(_split_terms(text)):
            if not part:
                continue
            for i in range(len(part)):
                op = next((o for o in ("!=", "==", "=") if part.startswith(o, i)), None)
                if op is not None:
                    terms.append((part[:i], op, _unescape(part[i + len(op) :])))
                    break
            else:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        return FieldSelector(tuple(terms))

    @property
    def empty(self) -> bool:
        return not self.terms

    def check_supported(self, resource: str, extra: Iterable[str] = ()) -> None:
        """Raise like the server for a field ``resource`` (plural or Kind) can't be selected by.

        ``extra`` adds fields, e.g. a CRD version's ``selectableFields`` (without leading dot).
        """
        plural = resource.lower() if resource.lower().endswith("s") else resource.lower() + "s"
        allowed = _COMMON_FIELDS | _FIELDS.get(plural, frozenset()) | {e.lstrip(".") for e in extra}
        for name, _, _ in self.terms:
            if name not in allowed:
                raise SelectorError(f"field label not supported: {name}")

    def requires_exact_match(self, name: str) -> str | None:
        for field, op, value in self.terms:
            if field == name and op != "!=":
                return value
        return None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for name, op, want in self.terms:
            equal = self.value_of(obj, name) == want
            if equal == (op == "!="):
                return False
        return True

    @staticmethod
    def value_of(obj: Mapping[str, Any], name: str) -> str:
        """The selectable value of field ``name`` in ``obj``, as the string the server compares."""
        if name == "status.podIP":
            status = obj.get("status") or {}
            ips = status.get("podIPs") or []
            if ips and isinstance(ips[0], Mapping):
                return _field_text(ips[0].get("ip"))
            return _field_text(status.get("podIP"))
        node: Any = obj
        for part in _ALIASES.get(name, name).split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return "" if isinstance(node, Mapping | list) else _field_text(node, _ZERO.get(name, ""))

    def __str__(self) -> str:
        def esc(v: str) -> str:
            return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")

        return ",".join(f"{f}{'!=' if op == '!=' else '='}{esc(v)}" for f, op, v in self.terms)
