"""Field sets for server-side apply: paths into an object, their FieldsV1 form, and the walks
over values by schema (the fields a value sets, what differs, removing fields, merging).

A path is a tuple of elements; an element is ``(kind, text)``:

- ``("f", name)``: a field of a map;
- ``("k", '{"name":"web"}')``: the element of a ``list-type: map`` list with these key fields
  (compact JSON, keys sorted, as in FieldsV1);
- ``("v", '"a"')``: the element of a ``list-type: set`` list with this value (JSON);
- ``("i", "3")``: a list index (never produced here; accepted when read from FieldsV1).

A field set is a frozenset of paths. A path in the set is owned itself; its prefixes are owned
only when they are in the set too (FieldsV1 writes that as ``".": {}``).
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localcluster.apiserver.patch import PatchError
from localcluster.apiserver.schema import Schema

Element = tuple[str, str]
Path = tuple[Element, ...]
FieldSet = frozenset[Path]


class _Missing(enum.Enum):
    MISSING = "missing"


MISSING = _Missing.MISSING
"""Marks an absent value (as opposed to a JSON null, which is ``None``)."""

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


# --- JSON values -------------------------------------------------------------------------


def _go_numbers(value: Any) -> Any:
    """``value`` with integral floats as ints, so they print as Go prints float64 (``80``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, Mapping):
        return {k: _go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    return value


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it: keys sorted, ``<>&`` escaped."""
    text = json.dumps(_go_numbers(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def json_equal(a: Any, b: Any) -> bool:
    """Deep equality of JSON values: numbers by value, but ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, Mapping):
        return (
            isinstance(b, Mapping) and a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    return type(a) is type(b) and bool(a == b)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value, with every mapping as a plain dict."""
    if isinstance(value, Mapping):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def _go_string(value: Any) -> str:
    """A value as structured-merge-diff prints it in paths (``"web"``, ``80``, ``true``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(_go_numbers(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_go_string(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "".join(f"{k}={_go_string(v)}" for k, v in value.items())
    return str(value)


# --- path elements -----------------------------------------------------------------------


def element_string(element: Element) -> str:
    """The element as the API server prints paths: ``.image``, ``[name="web"]``, ``[="a"]``."""
    kind, text = element
    if kind == "f":
        return "." + text
    if kind == "k":
        fields = json.loads(text)
        return "[" + ",".join(f"{k}={_go_string(v)}" for k, v in fields.items()) + "]"
    if kind == "v":
        return f"[={_go_string(json.loads(text))}]"
    return f"[{text}]"


def path_string(path: Path) -> str:
    """``.spec.template.spec.containers[name="web"].image``."""
    return "".join(element_string(e) for e in path)


def _value_order(value: Any) -> tuple[int, Any]:
    # numbers < strings < booleans < lists < maps < null, as structured-merge-diff orders values
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list | Mapping):
        return (3 if isinstance(value, list) else 4, go_json(value))
    return (5, "")


@functools.lru_cache(maxsize=16384)
def element_order(element: Element) -> tuple[int, Any]:
    """Sort key of elements: fields by name, then keys, then values, then indexes."""
    kind, text = element
    if kind == "f":
        return (0, text)
    if kind == "k":
        fields = json.loads(text)
        return (1, tuple((k, _value_order(v)) for k, v in sorted(fields.items())))
    if kind == "v":
        return (2, _value_order(json.loads(text)))
    return (3, int(text))


def iteration_order(path: Path) -> tuple[tuple[int, tuple[int, Any]], ...]:
    """Sort key listing a set as the API server does: at each level, owned leaves first."""
    last = len(path) - 1
    return tuple((0 if i == last else 1, element_order(e)) for i, e in enumerate(path))


def _key_default(item_schema: Schema, key: str) -> Any:
    sub = item_schema.field(key)
    if sub is not None and "default" in sub.node:
        return sub.node["default"]
    if key == "protocol":  # ports lists: the default the built-in OpenAPI declares
        return "TCP"
    return MISSING


def item_element(list_schema: Schema, item: Any, index: int, path: Path) -> Element:
    """The path element of ``item`` in a ``list-type: map`` or ``set`` list at ``path``."""
    keys = list_schema.list_map_keys
    if list_schema.list_type != "map" or not keys:
        return ("v", go_json(item))
    where = path_string(path)
    if not isinstance(item, Mapping):
        raise PatchError(
            f"element {index}: associative list with keys has an element that is not a map", where
        )
    fields: dict[str, Any] = {}
    for key in keys:
        value = item[key] if key in item else _key_default(list_schema.items, key)
        if value is MISSING:
            raise PatchError(
                f'element {index}: associative list with keys has an element that omits key field "{key}" '
                "(and doesn't have default value)",
                where,
            )
        if isinstance(value, Mapping | list):
            raise PatchError(f'element {index}: key field "{key}" must be a scalar', where)
        fields[key] = value
    return ("k", go_json(fields))


def index_items(list_schema: Schema, items: list[Any], path: Path, *, strict: bool) -> dict[Element, Any]:
    """The items of a granular list by element, in list order. A repeated element is an error
    when ``strict`` (an applied configuration), else later repeats are ignored."""
    found: dict[Element, Any] = {}
    for index, item in enumerate(items):
        element = item_element(list_schema, item, index, path)
        if element in found:
            if strict:
                raise PatchError(f"duplicate entries for key {element_string(element)}", path_string(path))
            continue
        found[element] = item
    return found


def child_schema(schema: Schema, element: Element) -> Schema:
    """The schema one element down: a field's, or a list's items'."""
    if element[0] == "f":
        return schema.field(element[1]) or Schema.any()
    return schema.items


def is_granular(value: Any, schema: Schema) -> bool:
    """True for maps and lists whose parts are owned separately (not atomic)."""
    if isinstance(value, Mapping):
        return schema.map_type != "atomic"
    if isinstance(value, list):
        return schema.list_type != "atomic"
    return False


# --- FieldsV1 ----------------------------------------------------------------------------


@dataclass
class _Node:
    member: bool = False
    children: dict[Element, _Node] = field(default_factory=dict)


def _trie(paths: Iterable[Path]) -> _Node:
    root = _Node()
    for path in paths:
        node = root
        for element in path:
            child = node.children.get(element)
            if child is None:
                child = node.children[element] = _Node()
            node = child
        if path:
            node.member = True
    return root


#: In the plain-dict trie encode_fields_v1 builds, the key marking a node that is itself in the set.
_MEMBER: Any = None


def _render(node: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    children = [element for element in node if element is not _MEMBER]
    if children and _MEMBER in node:
        out["."] = {}
    for element in sorted(children, key=element_order):
        kind, text = element
        out[f"{kind}:{text}"] = _render(node[element])  # f:replicas, k:{"name":"web"}
    return out


def encode_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The FieldsV1 JSON of a field set."""
    root: dict[Any, Any] = {}  # element -> subtree; _MEMBER -> True where a path ends
    for path in paths:
        node = root
        for element in path:
            child = node.get(element)
            if child is None:
                child = node[element] = {}
            node = child
        if path:
            node[_MEMBER] = True
    return _render(root)


def _parse_element(text: str) -> Element:
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("f", "k", "v", "i"):
        raise ValueError(f"unknown FieldsV1 key {text!r}")
    if kind == "k":
        fields = json.loads(rest)
        if not isinstance(fields, dict) or not fields:
            raise ValueError(f"bad FieldsV1 key {text!r}")
        return ("k", go_json(fields))
    if kind == "v":
        return ("v", go_json(json.loads(rest)))
    if kind == "i":
        return ("i", str(int(rest)))
    return ("f", rest)


def decode_fields_v1(raw: Mapping[str, Any]) -> FieldSet:
    """The field set of a FieldsV1 JSON object; ValueError if it is malformed."""
    found: set[Path] = set()
    todo: list[tuple[Path, Mapping[str, Any]]] = [((), raw)]
    while todo:
        prefix, node = todo.pop()
        for key, child in node.items():
            if not isinstance(child, Mapping):
                raise ValueError(f"FieldsV1 value at {key!r} is not an object")
            if key == ".":
                if prefix:
                    found.add(prefix)
                continue
            path = (*prefix, _parse_element(key))
            if child:
                todo.append((path, child))
            else:
                found.add(path)
    return frozenset(found)


# --- walks ---------------------------------------------------------------------------------


def _null_is_leaf(schema: Schema) -> bool:
    types = schema.types
    granular_map = "object" in types and schema.map_type != "atomic"
    granular_list = "array" in types and schema.list_type != "atomic"
    return not (granular_map or granular_list)


def field_set(value: Any, schema: Schema) -> FieldSet:
    """Every field ``value`` sets: leaves, atomic values, list elements and map entries that
    are not declared struct fields (a declared field is owned only through its children)."""
    found: set[Path] = set()
    _collect(value, schema, (), found)
    return frozenset(found)


def _collect(value: Any, schema: Schema, path: Path, found: set[Path]) -> None:
    if isinstance(value, Mapping) and is_granular(value, schema):
        declared = schema.properties
        for key, child in value.items():
            child_path = (*path, ("f", key))
            _collect(child, schema.field(key) or Schema.any(), child_path, found)
            if key not in declared:
                found.add(child_path)
    elif isinstance(value, list) and is_granular(value, schema):
        for element, item in index_items(schema, value, path, strict=False).items():
            child_path = (*path, element)
            _collect(item, schema.items, child_path, found)
            found.add(child_path)
    elif path and (value is not None or _null_is_leaf(schema)):
        found.add(path)


@dataclass(frozen=True)
class Diff:
    """How two values differ: fields only in the new one, changed leaves, fields only in the old."""

    added: FieldSet
    modified: FieldSet
    removed: FieldSet


@dataclass
class _DiffSets:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def compare(old: Any, new: Any, schema: Schema) -> Diff:
    """The difference between ``old`` and ``new``. Maps and list elements that appear or
    disappear are themselves added or removed, as well as everything in them."""
    sets = _DiffSets()
    _compare(old, new, schema, (), sets)
    return Diff(frozenset(sets.added), frozenset(sets.modified), frozenset(sets.removed))


def _descends(old: Any, new: Any, schema: Schema) -> bool:
    present = [v for v in (old, new) if v is not MISSING]
    if not all(is_granular(v, schema) for v in present):
        return False
    if len({type(v) is list for v in present}) != 1:
        return False
    return any(len(v) > 0 for v in present)


def _identical(old: Any, new: Any) -> bool:
    """True when ``old`` and ``new`` are the same JSON, spelled the same way (then nothing in
    them differs, and the walk below can skip them). False does not mean they differ."""
    if old is new:
        return True
    if type(old) is not type(new) or old != new:  # C-speed; ``True == 1`` is caught by the types
        return False
    if isinstance(old, dict | list):  # equal as Python values: check bools and numbers too
        return json.dumps(old) == json.dumps(new)
    return True


def _compare(old: Any, new: Any, schema: Schema, path: Path, sets: _DiffSets) -> None:
    if _descends(old, new, schema):
        sample = new if new is not MISSING else old
        if isinstance(sample, Mapping):
            old_map = old if old is not MISSING else {}
            new_map = new if new is not MISSING else {}
            for key in {**old_map, **new_map}:
                old_value, new_value = old_map.get(key, MISSING), new_map.get(key, MISSING)
                if old_value is not MISSING and new_value is not MISSING and _identical(old_value, new_value):
                    continue
                sub = schema.field(key) or Schema.any()
                _compare(old_value, new_value, sub, (*path, ("f", key)), sets)
        else:
            old_items = index_items(schema, old, path, strict=False) if old is not MISSING else {}
            new_items = index_items(schema, new, path, strict=False) if new is not MISSING else {}
            for element in {**old_items, **new_items}:
                old_value, new_value = old_items.get(element, MISSING), new_items.get(element, MISSING)
                if old_value is not MISSING and new_value is not MISSING and _identical(old_value, new_value):
                    continue
                _compare(old_value, new_value, schema.items, (*path, element), sets)
    elif path and old is not MISSING and new is not MISSING and not json_equal(old, new):
        sets.modified.add(path)
    if path and old is MISSING:
        sets.added.add(path)
    elif path and new is MISSING:
        sets.removed.add(path)


class SchemaIndex:
    """Schemas by path, resolved once each."""

    def __init__(self, root: Schema) -> None:
        self._cache: dict[Path, Schema] = {(): root}

    def at(self, path: Path) -> Schema:
        found = self._cache.get(path)
        if found is None:
            found = child_schema(self.at(path[:-1]), path[-1])
            self._cache[path] = found
        return found


def with_named_parents(paths: Iterable[Path], index: SchemaIndex) -> FieldSet:
    """``paths`` plus every declared struct field that holds one of them, so that owning
    ``.spec.replicas`` counts as owning ``.spec`` too."""
    found = set(paths)
    for path in list(found):
        for depth in range(len(path) - 1):
            kind, name = path[depth]
            if kind == "f" and name in index.at(path[:depth]).properties:
                found.add(path[: depth + 1])
    return frozenset(found)


def remove_paths(value: Any, paths: Iterable[Path], schema: Schema) -> Any:
    """``value`` without the fields at ``paths`` (each with everything under it). A map or list
    that the removal empties goes too."""
    root = _trie(paths)
    if not root.children:
        return value
    kept = _remove(value, root, schema, ())
    return {} if kept is MISSING else kept


def _remove(value: Any, node: _Node, schema: Schema, path: Path) -> Any:
    if not is_granular(value, schema):
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, child in value.items():
            sub = node.children.get(("f", key))
            if sub is None:
                out[key] = child
            elif not sub.member:
                kept = _remove(child, sub, schema.field(key) or Schema.any(), (*path, ("f", key)))
                if kept is not MISSING:
                    out[key] = kept
        return MISSING if value and not out else out
    items: list[Any] = []
    for index, item in enumerate(value):
        element = item_element(schema, item, index, path)
        sub = node.children.get(element)
        if sub is None:
            items.append(item)
        elif not sub.member:
            kept = _remove(item, sub, schema.items, (*path, element))
            if kept is not MISSING:
                items.append(kept)
    return MISSING if value and not items else items


def merge_applied(live: Any, applied: Any, schema: Schema, path: Path = ()) -> Any:
    """``applied`` merged into ``live`` (which may be MISSING): maps field by field, keyed
    lists and sets element by element, anything else replaced. Nulls are kept."""
    if isinstance(applied, Mapping) and is_granular(applied, schema):
        base: Mapping[str, Any] = live if isinstance(live, Mapping) else {}
        out = dict(base)
        for key, value in applied.items():
            sub = schema.field(key) or Schema.any()
            out[key] = merge_applied(base.get(key, MISSING), value, sub, (*path, ("f", key)))
        return out
    if isinstance(applied, list) and is_granular(applied, schema):
        return _merge_list(live if isinstance(live, list) else [], applied, schema, path)
    return copy_json(applied)


def _merge_list(live: list[Any], applied: list[Any], schema: Schema, path: Path) -> list[Any]:
    """Elements merged by key. Elements both have come in the applied order; live-only
    elements keep their place, applied-only ones go where the applied list has them."""
    item_schema, theirs = schema.items, index_items(schema, live, path, strict=False)
    ours = index_items(schema, applied, path, strict=True)
    live_order, applied_order = list(theirs), list(ours)
    shared = iter([e for e in applied_order if e in theirs])
    next_shared = next(shared, None)
    out: list[Any] = []
    li = ai = 0
    while li < len(live_order) or ai < len(applied_order):
        if li < len(live_order) and ai < len(applied_order):
            element = live_order[li]
            if element == applied_order[ai]:
                out.append(merge_applied(theirs[element], ours[element], item_schema, (*path, element)))
                li, ai, next_shared = li + 1, ai + 1, next(shared, None)
                continue
            if element in ours and element != next_shared:
                li += 1  # comes later, where the applied list has it
                continue
        if li < len(live_order) and live_order[li] not in ours:
            out.append(theirs[live_order[li]])
            li += 1
        elif ai < len(applied_order):
            element = applied_order[ai]
            mine = merge_applied(theirs.get(element, MISSING), ours[element], item_schema, (*path, element))
            out.append(mine)
            ai += 1
            if element == next_shared:
                next_shared = next(shared, None)
        else:
            li += 1
    return out
