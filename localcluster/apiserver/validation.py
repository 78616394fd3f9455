"""Schema validation, unknown-field detection, pruning and defaulting, with the server's messages.

``validate`` reports what the API server's OpenAPI validation of custom resources reports, as
:class:`FieldError` values whose ``str()`` is the server's text (``spec.replicas: Invalid value:
"string": spec.replicas in body must be of type integer: "string"``) and whose ``cause()`` is
the ``status.details.causes[]`` entry. ``unknown_fields``/``prune``/``apply_defaults`` follow
structural-schema rules for CRD schemas (a node keeps unknown fields only with
``x-kubernetes-preserve-unknown-fields``) and the looser built-in rules below a ``$ref``.
"""

from __future__ import annotations

import base64
import binascii
import collections
import copy
import datetime as dt
import functools
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from localcluster.apiserver.jsoncopy import deep_copy
from localcluster.apiserver.schema import Schema, builtin_schema
from localcluster.apiserver.selectors import (
    go_quote,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
)

INVALID = "FieldValueInvalid"
REQUIRED = "FieldValueRequired"
NOT_SUPPORTED = "FieldValueNotSupported"
TYPE_INVALID = "FieldValueTypeInvalid"
DUPLICATE = "FieldValueDuplicate"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
FORBIDDEN = "FieldValueForbidden"

_TITLES = {INVALID: "Invalid value", TYPE_INVALID: "Invalid value", REQUIRED: "Required value"}
_TITLES |= {NOT_SUPPORTED: "Unsupported value", DUPLICATE: "Duplicate value", TOO_LONG: "Too long"}
_TITLES |= {TOO_MANY: "Too many", FORBIDDEN: "Forbidden"}
_NO_VALUE = (REQUIRED, FORBIDDEN, TOO_LONG)
OMIT: Any = object()  # FieldError.value when the message shows no value


class GoLiteral(str):
    """A value rendered verbatim in messages (e.g. a Go struct dump)."""


@dataclass(frozen=True)
class FieldError:
    """One field error; ``type`` is the cause reason (``FieldValueInvalid``...), ``message`` the detail."""

    path: str
    type: str
    message: str = ""
    value: Any = OMIT

    @property
    def body(self) -> str:
        """The message without the field, as in ``status.details.causes[].message``."""
        text = _TITLES.get(self.type, self.type)
        if self.type not in _NO_VALUE and self.value is not OMIT:
            text += ": " + go_value(self.value, top=True)
        return f"{text}: {self.message}" if self.message else text

    def cause(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.body, "field": self.path}

    def __str__(self) -> str:
        return f"{self.path}: {self.body}"


def go_float(value: float) -> str:
    """Go's ``%v`` of a float64 (shortest digits, exponent outside [1e-4, 1e6))."""
    if value != value or value in (float("inf"), float("-inf")):
        return {float("inf"): "+Inf", float("-inf"): "-Inf"}.get(value, "NaN")
    dec = Decimal(repr(value)).normalize()
    sign, digits, exp = dec.as_tuple()
    assert isinstance(exp, int)
    point = len(digits) + exp - 1
    if value == 0:
        return "0"
    if point < -4 or point >= 6:
        mant = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
        return f"{'-' if sign else ''}{mant}e{'-' if point < 0 else '+'}{abs(point):02d}"
    return format(dec, "f")


def go_value(value: Any, *, top: bool = False) -> str:
    """Go's rendering of an unstructured value in field errors (``%v``/``%q``/``%#v``)."""
    if isinstance(value, GoLiteral):
        return str(value)
    if value is None:
        return "null" if top else "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{go_quote(str(k))}:{go_value(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[]interface {}{" + ", ".join(go_value(v) for v in value) + "}"
    return str(value)


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_JSON_TYPES = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
}


def _json_type(value: Any) -> str:
    return next((name for t, name in _JSON_TYPES.items() if isinstance(value, t)), "object")


def _type_ok(actual: str, value: Any, allowed: frozenset[str]) -> bool:
    if not allowed or actual in allowed:
        return True
    if actual == "integer" and "number" in allowed:
        return True
    return actual == "number" and "integer" in allowed and float(value).is_integer()


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


def _format_ok(fmt: str, text: str) -> bool:
    try:
        if fmt == "date-time":
            return _DATE_TIME.fullmatch(text) is not None
        if fmt == "date":
            dt.date.fromisoformat(text)
            return len(text) == 10
        if fmt == "byte":
            base64.b64decode(text, validate=True)
        elif fmt == "ipv4":
            ipaddress.IPv4Address(text)
        elif fmt == "ipv6":
            ipaddress.IPv6Address(text)
        elif fmt == "cidr":
            ipaddress.ip_network(text, strict=False)
        elif fmt == "uuid":
            return _UUID.fullmatch(text) is not None
    except (ValueError, binascii.Error):
        return False
    return True


def _type_list(s: Schema) -> list[str]:
    raw = s.node.get("type")
    if s.int_or_string:
        return ["integer", "string"]
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [t for t in raw if isinstance(t, str) and t != "null"]
    return sorted(s.types)


class _Errors(list[FieldError]):
    def add(self, path: str, kind: str, message: str = "", value: Any = OMIT) -> None:
        self.append(FieldError(path, kind, message, value))


def validate(obj: Any, schema: Schema, *, path: str = "") -> list[FieldError]:
    """Errors of ``obj`` against ``schema`` (types, required, enum, bounds, lengths, patterns,
    item/property counts, list-type map/set uniqueness, nullable, allOf/anyOf/oneOf/not).

    A null object field that is not ``nullable`` counts as unset (the server drops or defaults it
    before validating); null list items and null roots are type errors."""
    errs = _Errors()
    _validate(obj, schema, path, errs)
    return list(errs)


def _validate(value: Any, s: Schema, path: str, errs: _Errors) -> None:
    node, allowed, actual = s.node, s.types, _json_type(value)
    if value is None and node.get("nullable") is True:
        return
    type_ok = not allowed if value is None else _type_ok(actual, value, allowed)
    if not type_ok:
        want = ",".join(_type_list(s))
        errs.add(path, TYPE_INVALID, f"{path} in body must be of type {want}: {go_quote(actual)}", actual)
    enum = node.get("enum")
    if isinstance(enum, list) and value is not None and not any(_json_equal(value, e) for e in enum):
        shown = ", ".join(go_quote(e if isinstance(e, str) else _json_text(e)) for e in enum)
        errs.add(path, NOT_SUPPORTED, f"supported values: {shown}", value)
    if not type_ok or value is None:
        return
    if isinstance(value, str):
        _check_string(value, node, path, errs)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, node, path, errs)
    elif isinstance(value, list):
        _check_array(value, s, path, errs)
    elif isinstance(value, Mapping):
        _check_object(value, s, path, errs)
    if not s.int_or_string:
        _check_combinators(value, s, path, errs)


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _check_string(value: str, node: Mapping[str, Any], path: str, errs: _Errors) -> None:
    fmt, low, high, pattern = (node.get(k) for k in ("format", "minLength", "maxLength", "pattern"))
    if isinstance(fmt, str) and not _format_ok(fmt, value):
        errs.add(path, TYPE_INVALID, f"{path} in body must be of type {fmt}: {go_quote(value)}", value)
    if isinstance(low, int) and len(value) < low:
        errs.add(path, INVALID, f"{path} in body should be at least {low} chars long", value)
    if isinstance(high, int) and len(value) > high:
        errs.add(path, TOO_LONG, f"may not be longer than {high}", value)
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            matched = True
        if not matched:
            errs.add(path, INVALID, f"{path} in body should match '{pattern}'", value)


def _check_number(value: float, node: Mapping[str, Any], path: str, errs: _Errors) -> None:
    for key, sign, word in (("minimum", 1, "greater"), ("maximum", -1, "less")):
        bound = node.get(key)
        if not isinstance(bound, int | float) or isinstance(bound, bool):
            continue
        exclusive = node.get("exclusive" + key.capitalize()) is True
        if (value - bound) * sign < 0 or (exclusive and value == bound):
            rel = f"{word} than" if exclusive else f"{word} than or equal to"
            errs.add(path, INVALID, f"{path} in body should be {rel} {go_float(float(bound))}", value)
    step = node.get("multipleOf")
    if isinstance(step, int | float) and step > 0 and Decimal(str(value)) % Decimal(str(step)) != 0:
        errs.add(path, INVALID, f"{path} in body should be a multiple of {go_float(float(step))}", value)


def _check_array(value: list[Any], s: Schema, path: str, errs: _Errors) -> None:
    low, high = s.node.get("minItems"), s.node.get("maxItems")
    if isinstance(low, int) and len(value) < low:
        errs.add(path, INVALID, f"{path} in body should have at least {low} items", len(value))
    if isinstance(high, int) and len(value) > high:
        errs.add(path, TOO_MANY, f"must have at most {high} items", len(value))
    if s.node.get("uniqueItems") is True and len({_json_text(v) for v in value}) != len(value):
        errs.add(path, INVALID, f"{path} in body shouldn't contain duplicates", "")
    seen: set[str] = set()
    for i, item in enumerate(value):
        key: Any = None
        if s.list_type == "set":
            key = item
        elif s.list_type == "map" and s.list_map_keys and isinstance(item, Mapping):
            key = {k: item[k] for k in s.list_map_keys if k in item}
        if key is not None:
            if _json_text(key) in seen:
                errs.add(f"{path}[{i}]", DUPLICATE, "", key)
            seen.add(_json_text(key))
        _validate(item, s.items, f"{path}[{i}]", errs)


def _check_object(value: Mapping[str, Any], s: Schema, path: str, errs: _Errors) -> None:
    # A null field that is not nullable counts as unset: the server drops (or defaults) it before validating.
    def unset(name: str, child: Schema | None) -> bool:
        return name not in value or (
            value[name] is None and (child is None or child.node.get("nullable") is not True)
        )

    for name in s.required:
        if unset(name, s.field(name)):
            errs.add(_child(path, name), REQUIRED)
    low, high = s.node.get("minProperties"), s.node.get("maxProperties")
    if isinstance(low, int) and len(value) < low:
        errs.add(path, INVALID, f"{path} in body should have at least {low} properties", len(value))
    if isinstance(high, int) and len(value) > high:
        errs.add(path, TOO_MANY, f"must have at most {high} items", len(value))
    props, extra = s.properties, s.additional_properties
    for name, sub in value.items():
        child = s.field(name) if name in props else extra
        if child is None or unset(name, child):
            continue
        known = _clean_key("validate", child, False, path, name, sub)
        if known is not None and _CLEAN.get(known) is child:
            continue
        before = len(errs)
        _validate(sub, child, _child(path, name), errs)
        if known is not None and len(errs) == before:
            _remember_clean(known, child)


def _check_combinators(value: Any, s: Schema, path: str, errs: _Errors) -> None:
    def subs(key: str) -> list[Schema]:
        raw = s.node.get(key)
        return [Schema(r, s.defs) for r in raw if isinstance(r, Mapping)] if isinstance(raw, list) else []

    def passes(sub: Schema) -> bool:
        return not validate(value, sub, path=path)

    for sub in subs("allOf"):
        _validate(value, sub, path, errs)
    if subs("anyOf") and not any(passes(sub) for sub in subs("anyOf")):
        errs.add(path, INVALID, f"{path} in body must validate at least one schema (anyOf)", "")
    if subs("oneOf") and sum(passes(sub) for sub in subs("oneOf")) != 1:
        errs.add(path, INVALID, f"{path} in body must validate one and only one schema (oneOf)", "")
    not_ = s.node.get("not")
    if isinstance(not_, Mapping) and passes(Schema(not_, s.defs)):
        errs.add(path, INVALID, f"{path} in body must not validate the schema (not)", "")


# -- unknown fields, pruning, defaulting ---------------------------------------------------------

_META_FIELDS = ("apiVersion", "kind", "metadata")


@functools.cache
def _object_meta() -> Schema:
    cm = builtin_schema("v1", "ConfigMap")
    meta = cm.field("metadata") if cm is not None else None
    return meta or Schema.any()


def _structural_child(s: Schema, name: str, structural: bool, top: bool) -> tuple[Schema | None, bool]:
    """(schema of field ``name``, whether it follows structural rules); None means unknown."""
    props = s.properties
    if name in props:
        raw = props[name]
        return s.field(name), structural and not (isinstance(raw, Mapping) and "$ref" in raw)
    extra_raw = s.node.get("additionalProperties")
    extra = s.additional_properties
    if extra is not None:
        return extra, structural and isinstance(extra_raw, Mapping) and "$ref" not in extra_raw
    if not structural:
        return s.field(name), False
    if s.embedded_resource or top:
        if name in ("apiVersion", "kind"):
            return Schema({"type": "string"}), True
        if name == "metadata":
            return _object_meta(), False
    return None, True


def _preserves(s: Schema, structural: bool) -> bool:
    if structural:
        return s.node.get("x-kubernetes-preserve-unknown-fields") is True
    return s.preserves_unknown_fields


#: (parent path, field) of the fields whose checks are remembered: most writes carry the same
#: ``spec`` and ``metadata.managedFields`` again (a status write, a patch of a label).
_REMEMBERED_FIELDS = frozenset({("", "spec"), ("metadata", "managedFields")})
#: (check, id of the field's schema, structural, its path, its JSON) -> that schema, for values that
#: passed the check (no unknown fields; no errors). Schemas are immutable and kept alive here,
#: so a hit means the same check of the same value against the same schema.
_CLEAN: collections.OrderedDict[tuple[str, int, bool, str, str], Schema] = collections.OrderedDict()
_CLEAN_KEPT = 2048


def _clean_key(
    check: str, schema: Schema, structural: bool, path: str, name: str, value: Any
) -> tuple[str, int, bool, str, str] | None:
    """The key under which a field's passing ``check`` is remembered (None: not a remembered field)."""
    if (path, name) not in _REMEMBERED_FIELDS or not isinstance(value, dict | list):
        return None
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return (check, id(schema), structural, f"{path}.{name}", text)


def _remember_clean(key: tuple[str, int, bool, str, str], schema: Schema) -> None:
    _CLEAN[key] = schema
    _CLEAN.move_to_end(key)
    if len(_CLEAN) > _CLEAN_KEPT:
        _CLEAN.popitem(last=False)


def _walk(
    value: Any, s: Schema | None, structural: bool, path: str, found: list[str], top: bool = False
) -> Any:
    """A copy of ``value`` without the fields ``s`` doesn't know; their paths go to ``found``.

    ``s`` None is "no schema at all" (structural pruning then drops every field below)."""
    keep = s is not None and _preserves(s, structural)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, sub in value.items():
            cpath = _child(path, name)
            child, child_structural = (
                (None, True) if s is None else _structural_child(s, name, structural, top)
            )
            if child is not None:
                known = _clean_key("walk", child, child_structural, path, name, sub)
                if known is not None and _CLEAN.get(known) is child:
                    out[name] = deep_copy(sub)  # nothing unknown in it: its copy is its walk
                    continue
                before = len(found)
                out[name] = _walk(sub, child, child_structural, cpath, found)
                if known is not None and len(found) == before:
                    _remember_clean(known, child)
            elif keep:
                out[name] = deep_copy(sub)
            else:
                found.append("." + cpath)
        return out
    if isinstance(value, list):
        items = s.items if s is not None and (not structural or "items" in s.node) else None
        if items is None and keep:
            return deep_copy(value)
        return [_walk(item, items, structural, f"{path}[{i}]", found) for i, item in enumerate(value)]
    return value


def unknown_fields(obj: Any, schema: Schema) -> list[str]:
    """Paths (``.spec.foo``, ``.spec.containers[0].bogus``) of fields ``schema`` doesn't know."""
    found: list[str] = []
    _walk(obj, schema, "$ref" not in schema.raw, "", found, top=True)
    return found


def unknown_field_warnings(paths: list[str]) -> list[str]:
    """``fieldValidation=Warn`` warnings: ``unknown field "spec.foo"``."""
    return [f"unknown field {go_quote(p.lstrip('.'))}" for p in paths]


def strict_decoding_error(paths: list[str]) -> str:
    """``fieldValidation=Strict`` error message for the unknown fields at ``paths``."""
    return "strict decoding error: " + ", ".join(unknown_field_warnings(paths))


def prune(obj: Any, schema: Schema) -> Any:
    """A copy of ``obj`` without unknown fields (CRD pruning)."""
    return _walk(obj, schema, "$ref" not in schema.raw, "", [], top=True)


def apply_defaults(obj: Any, schema: Schema, *, in_place: bool = False) -> Any:
    """A copy of ``obj`` with schema ``default``s filled in where fields are missing (or null and
    not nullable), recursively, including inside defaulted values; other nulls of non-nullable
    fields are dropped, as the server does for custom resources. ``in_place``: ``obj`` itself
    (the caller's to change), with no copy."""
    return _default(obj if in_place else deep_copy(obj), schema)


def _default(value: Any, s: Schema) -> Any:
    if isinstance(value, dict):
        props = s.properties
        for name in props:
            sub = s.field(name)
            if sub is None or "default" not in sub.node:
                continue
            if name not in value or (value[name] is None and sub.node.get("nullable") is not True):
                value[name] = copy.deepcopy(sub.node["default"])
        extra = s.additional_properties
        for name in list(value):
            sub = s.field(name) if name in props else extra
            if sub is None:
                continue
            if value[name] is None and sub.node.get("nullable") is not True:
                if "default" in sub.node:
                    value[name] = copy.deepcopy(sub.node["default"])
                else:
                    del value[name]
                    continue
            value[name] = _default(value[name], sub)
    elif isinstance(value, list):
        items = s.items
        for i, item in enumerate(value):
            if item is None and items.node.get("nullable") is not True and "default" in items.node:
                value[i] = copy.deepcopy(items.node["default"])
            value[i] = _default(value[i], items)
    return value


# -- object metadata ------------------------------------------------------------------------------


def _path_segment(name: str) -> list[str]:
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in name]


_RBAC = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")
_NAME_RULES: dict[str, Callable[[str], list[str]]] = {
    "namespaces": is_dns1123_label,
    "services": is_dns1035_label,
    **dict.fromkeys(_RBAC, _path_segment),
}


def validate_object_meta(
    obj: Mapping[str, Any], *, namespaced: bool, resource: str | None = None
) -> list[FieldError]:
    """``metadata`` checks of ValidateObjectMeta. ``resource`` (plural) picks the name rule: RFC 1123
    subdomain by default, label for namespaces, RFC 1035 label for services, path segment for RBAC."""
    meta = obj.get("metadata") or {}
    rule = _NAME_RULES.get(resource or "", is_dns1123_subdomain)
    errs = _Errors()

    def invalid(path: str, value: Any, msgs: list[str]) -> None:
        for msg in msgs:
            errs.add(path, INVALID, msg, value)

    name, generate = meta.get("name") or "", meta.get("generateName") or ""
    if generate:
        invalid(
            "metadata.generateName",
            generate,
            rule(generate[:-1] + "a" if generate.endswith("-") else generate),
        )
    if not name and not generate:
        errs.add("metadata.name", REQUIRED, "name or generateName is required")
    elif name:
        invalid("metadata.name", name, rule(name))
    namespace = meta.get("namespace") or ""
    if namespaced and not namespace:
        errs.add("metadata.namespace", REQUIRED)
    elif namespaced:
        invalid("metadata.namespace", namespace, is_dns1123_label(namespace))
    elif namespace:
        errs.add("metadata.namespace", FORBIDDEN, "not allowed on this type")
    for key, val in (meta.get("labels") or {}).items():
        invalid("metadata.labels", key, is_qualified_name(str(key)))
        invalid("metadata.labels", val, is_valid_label_value(str(val)))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        invalid("metadata.annotations", key, is_qualified_name(str(key).lower()))
    if sum(len(str(k)) + len(str(v)) for k, v in annotations.items()) > 256 * 1024:
        errs.add("metadata.annotations", TOO_LONG, "must have at most 262144 bytes")
    for fin in meta.get("finalizers") or []:
        invalid("metadata.finalizers", fin, is_qualified_name(str(fin)))
    return list(errs)


# -- CustomResourceDefinitions --------------------------------------------------------------------

_COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")
_COLUMN_FORMATS = ("int32", "int64", "float", "double", "byte", "date", "date-time", "password")


def _supported(values: tuple[str, ...]) -> str:
    return "supported values: " + ", ".join(go_quote(v) for v in values)


def _versions_value(versions: list[Mapping[str, Any]]) -> GoLiteral:
    kind = "apiextensions.CustomResourceDefinitionVersion"
    shown = ", ".join(
        f"{kind}{{Name:{go_quote(str(v.get('name', '')))}, Served:{str(bool(v.get('served'))).lower()}, "
        f"Storage:{str(bool(v.get('storage'))).lower()}, ...}}"
        for v in versions
    )
    return GoLiteral(f"[]{kind}{{{shown}}}")


def _json_path(errs: _Errors, value: str, path: str, under: tuple[str, ...] = (), what: str = "") -> None:
    if not value.startswith("."):
        errs.add(path, INVALID, "must be a simple json path starting with .", value)
    elif under and not value.startswith(under):
        errs.add(path, INVALID, f"should be a json path under {what}", value)


def _structural(raw: Any, path: str, errs: _Errors, root: bool = False) -> None:
    if not isinstance(raw, Mapping):
        return
    kind = raw.get("type")
    free = any(raw.get(f"x-kubernetes-{x}") is True for x in ("int-or-string", "preserve-unknown-fields"))
    if root and not kind:
        errs.add(f"{path}.type", REQUIRED, "must not be empty at the root")
    elif root and kind != "object":
        errs.add(f"{path}.type", INVALID, "must be object at the root", kind)
    elif not kind and not free:
        errs.add(f"{path}.type", REQUIRED, "must not be empty for specified object fields")
    for name, sub in (raw.get("properties") or {}).items():
        if not (root and name == "metadata"):
            _structural(sub, f"{path}.properties[{name}]", errs)
    _structural(raw.get("items"), f"{path}.items", errs)
    _structural(raw.get("additionalProperties"), f"{path}.additionalProperties", errs)


def validate_crd(crd: Mapping[str, Any]) -> list[FieldError]:
    """What the server rejects in an apiextensions.k8s.io/v1 CustomResourceDefinition (after defaulting)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = str(spec.get("group") or ""), str(names.get("plural") or "")
    name = str((crd.get("metadata") or {}).get("name") or "")
    errs = _Errors()
    if not name:
        errs.add("metadata.name", REQUIRED, "name or generateName is required")
    for msg in is_dns1123_subdomain(name) if name else []:
        errs.add("metadata.name", INVALID, msg, name)
    if name and name != f"{plural}.{group}":
        errs.add("metadata.name", INVALID, 'must be spec.names.plural+"."+spec.group', name)
    if not group:
        errs.add("spec.group", REQUIRED)
    elif msgs := is_dns1123_subdomain(group):
        errs.add("spec.group", INVALID, ",".join(msgs), group)
    elif "." not in group:
        errs.add("spec.group", INVALID, "should be a domain with at least one dot", group)
    scope = spec.get("scope") or ""
    if not scope:
        errs.add("spec.scope", REQUIRED)
    elif scope not in ("Cluster", "Namespaced"):
        errs.add("spec.scope", NOT_SUPPORTED, _supported(("Cluster", "Namespaced")), scope)
    for key in ("plural", "singular", "kind", "listKind"):
        value, mixed = str(names.get(key) or ""), key in ("kind", "listKind")
        if not value and key in ("plural", "kind"):
            errs.add(f"spec.names.{key}", REQUIRED)
        elif value and (msgs := is_dns1035_label(value.lower() if mixed else value)):
            prefix = "may have mixed case, but should otherwise match: " if mixed else ""
            errs.add(f"spec.names.{key}", INVALID, prefix + ",".join(msgs), value)
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errs.add("spec.names.listKind", INVALID, "kind and listKind may not be the same", names["kind"])
    for i, short in enumerate(names.get("shortNames") or []):
        if msgs := is_dns1035_label(str(short)):
            errs.add(f"spec.names.shortNames[{i}]", INVALID, ",".join(msgs), short)
    versions = [v for v in spec.get("versions") or [] if isinstance(v, Mapping)]
    for i, version in enumerate(versions):
        _validate_crd_version(version, f"spec.versions[{i}]", errs)
    if len({str(v.get("name")) for v in versions}) != len(versions):
        errs.add("spec.versions", INVALID, "must contain unique version names", _versions_value(versions))
    if sum(bool(v.get("storage")) for v in versions) != 1:
        msg = "must have exactly one version marked as storage version"
        errs.add("spec.versions", INVALID, msg, _versions_value(versions))
    return list(errs)


def _validate_crd_version(version: Mapping[str, Any], path: str, errs: _Errors) -> None:
    if msgs := is_dns1035_label(str(version.get("name") or "")):
        errs.add(f"{path}.name", INVALID, ",".join(msgs), version.get("name", ""))
    schema = (version.get("schema") or {}).get("openAPIV3Schema")
    if not schema:
        errs.add(f"{path}.schema.openAPIV3Schema", REQUIRED, "schemas are required")
    _structural(schema, f"{path}.schema.openAPIV3Schema", errs, root=True)
    scale = (version.get("subresources") or {}).get("scale")
    if isinstance(scale, Mapping):
        base = f"{path}.subresources.scale"
        for key, under in (("specReplicasPath", ".spec"), ("statusReplicasPath", ".status")):
            if not scale.get(key):
                errs.add(f"{base}.{key}", REQUIRED)
            else:
                _json_path(errs, str(scale[key]), f"{base}.{key}", (under + ".",), under)
        if scale.get("labelSelectorPath"):
            where = "either .spec or .status"
            _json_path(
                errs,
                str(scale["labelSelectorPath"]),
                f"{base}.labelSelectorPath",
                (".spec.", ".status."),
                where,
            )
    for i, col in enumerate(version.get("additionalPrinterColumns") or []):
        cpath = f"{path}.additionalPrinterColumns[{i}]"
        for key in ("name", "type", "jsonPath"):
            if not col.get(key):
                errs.add(f"{cpath}.{key}", REQUIRED)
        for key, allowed in (("type", _COLUMN_TYPES), ("format", _COLUMN_FORMATS)):
            if col.get(key) and col[key] not in allowed:
                errs.add(f"{cpath}.{key}", NOT_SUPPORTED, _supported(allowed), col[key])
        if col.get("jsonPath"):
            _json_path(errs, str(col["jsonPath"]), f"{cpath}.jsonPath")
