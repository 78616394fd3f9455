"""Strategic merge patch, the ``application/strategic-merge-patch+json`` patch type.

This applies a patch the way the Kubernetes API server does for built-in kinds (the
``k8s.io/apimachinery`` ``strategicpatch`` package), driven by the ``x-kubernetes-patch-strategy``
and ``x-kubernetes-patch-merge-key`` of the kind's :class:`Schema`:

* maps merge recursively and ``null`` deletes a key; where the schema says nothing the patch
  behaves like a JSON merge patch (lists replaced whole);
* a list with strategy ``merge`` merges objects by their merge key and primitives as a set;
  any other list is replaced whole;
* directives: ``$patch`` (``replace``/``delete``/``merge`` on a map, ``replace``/``delete`` as a
  list element), ``$retainKeys``, ``$setElementOrder/<field>`` and
  ``$deleteFromPrimitiveList/<field>``. They never appear in the result.

Element order follows the API server: the patch's elements take the patch's order (or the
``$setElementOrder`` list's), elements only on the server keep their relative order, and the
two are interleaved so that a server-only element stays before a patched element it preceded
in the live list. Elements new to the list therefore come before the server-only elements
that follow them, unless ``$setElementOrder`` places them (kubectl always sends it).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from localcluster.apiserver.patch import PatchError
from localcluster.apiserver.patch.json_patch import json_type
from localcluster.apiserver.schema import Schema

__all__ = ["strategic_merge_patch"]

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"

JsonMap = dict[str, Any]
Identity = Callable[[Any], Hashable]


MISSING: Any = object()
"""Marks a value that is not there (unlike JSON ``null``)."""


def strategic_merge_patch(original: Mapping[str, Any], patch: Mapping[str, Any], schema: Schema) -> JsonMap:
    """Apply the strategic merge ``patch`` to the object ``original`` described by ``schema``.

    Neither argument is modified and the result shares no mutable value with them. Raises
    :class:`PatchError` (with the path where it happened) for a patch that cannot be applied.
    """
    if not isinstance(patch, Mapping):
        raise PatchError(f"a strategic merge patch must be a JSON object, not {json_type(patch)}")
    if not isinstance(original, Mapping):
        raise PatchError(f"the patched value must be a JSON object, not {json_type(original)}")
    return _merge_map(copy.deepcopy(dict(original)), copy.deepcopy(dict(patch)), schema, "")


# -- maps -----------------------------------------------------------------------------------


def _merge_map(original: JsonMap, patch: JsonMap, schema: Schema, path: str) -> JsonMap:
    """Merge a patch map into a map (both private to this module) and return the result."""
    if PATCH in patch:
        return _map_directive(original, patch, schema, path)
    result = dict(original)
    _retain_keys(result, patch, path)
    done = _set_element_orders(result, patch, schema, path)
    deletions: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if key in done or key == RETAIN_KEYS or key.startswith(SET_ELEMENT_ORDER):
            continue
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            deletions.append((key, value))
        else:
            _merge_field(result, key, value, schema, path)
    for key, value in deletions:
        _delete_from_primitive_list(result, key, value, path)
    return result


def _map_directive(original: JsonMap, patch: JsonMap, schema: Schema, path: str) -> JsonMap:
    """Apply ``$patch`` on a map: ``replace`` it by the patch, ``delete`` it (to ``{}``), ``merge``."""
    directive = patch[PATCH]
    rest = {key: value for key, value in patch.items() if key != PATCH}
    if directive == "replace":
        return _merge_map({}, rest, schema, path)
    if directive == "delete":
        return {}
    if directive == "merge":
        return _merge_map(original, rest, schema, path)
    raise PatchError(f"unknown $patch directive {directive!r}: expected replace, delete or merge", path)


def _merge_field(result: JsonMap, key: str, value: Any, schema: Schema, path: str) -> None:
    """Merge the patch ``value`` of field ``key`` into ``result``."""
    field = _field_schema(schema, key)
    where = _child(path, key)
    current = result.get(key, MISSING)
    if value is None:
        result.pop(key, None)
    elif current is MISSING or _container(current) != _container(value):
        fresh = _fresh(value, field, where)
        if fresh is MISSING:
            result.pop(key, None)
        else:
            result[key] = fresh
    elif isinstance(value, dict):
        base = {} if "replace" in field.patch_strategies else current
        result[key] = _merge_map(base, value, field, where)
    elif isinstance(value, list):
        result[key] = _merge_list_field(current, value, field, where)
    else:
        result[key] = value


def _fresh(value: Any, field: Schema, path: str) -> Any:
    """The value a patch value gives where there was none: directives applied, nulls dropped.

    A map marked ``$patch: delete`` gives nothing (MISSING).
    """
    if isinstance(value, dict):
        if value.get(PATCH, None) == "delete":
            return MISSING
        return _merge_map({}, value, field, path)
    if isinstance(value, list):
        return _merge_list_field([], value, field, path)
    return value


def _retain_keys(result: JsonMap, patch: JsonMap, path: str) -> None:
    """Apply ``$retainKeys``: drop every field of ``result`` not named in it.

    Every field the patch sets must be named in the list.
    """
    if RETAIN_KEYS not in patch:
        return
    keep = patch[RETAIN_KEYS]
    if not isinstance(keep, list) or not all(isinstance(name, str) for name in keep):
        raise PatchError("$retainKeys must be a list of field names", _child(path, RETAIN_KEYS))
    for key, value in patch.items():
        is_directive = key == RETAIN_KEYS or key.startswith((SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST))
        if value is not None and not is_directive and key not in keep:
            raise PatchError(f"field {key!r} is set by the patch but missing from $retainKeys", path)
    for key in [key for key in result if key not in keep]:
        del result[key]


def _delete_from_primitive_list(result: JsonMap, key: str, values: Any, path: str) -> None:
    """Apply ``$deleteFromPrimitiveList/<field>``: remove those values from the list field."""
    field = _directive_target(key, DELETE_FROM_PRIMITIVE_LIST, path)
    where = _child(path, key)
    if not isinstance(values, list):
        raise PatchError(
            f"{DELETE_FROM_PRIMITIVE_LIST}<field> must be a list, not {json_type(values)}", where
        )
    current = result.get(field)
    if not isinstance(current, list):
        return
    if _element_kind(current + values, where) == "object":
        raise PatchError(f"{DELETE_FROM_PRIMITIVE_LIST}<field> applies to lists of primitives only", where)
    doomed = {_scalar_id(value) for value in values}
    result[field] = [item for item in current if _scalar_id(item) not in doomed]


def _directive_target(key: str, prefix: str, path: str) -> str:
    """The field a ``prefix<field>`` directive key names."""
    field = key[len(prefix) :]
    if not field:
        raise PatchError(f"malformed directive {key!r}: no field name after {prefix!r}", path)
    return field


# -- lists ----------------------------------------------------------------------------------


def _merge_list_field(current: list[Any], patch: list[Any], field: Schema, path: str) -> list[Any]:
    """Merge a patch list into the list field described by ``field``."""
    if "merge" in field.patch_strategies:
        return _merge_list(current, patch, field.items, field.patch_merge_key, path)
    if field.items.is_empty:
        return patch
    kept = (_fresh(item, field.items, _index(path, i)) for i, item in enumerate(patch))
    return [item for item in kept if item is not MISSING]


def _merge_list(
    current: list[Any], patch: list[Any], items: Schema, merge_key: str | None, path: str
) -> list[Any]:
    """Merge two lists with strategy ``merge``: objects by ``merge_key``, primitives as a set."""
    if not current and not patch:
        return []
    kind = _element_kind(current + patch, path)
    if kind != "object":
        merged = _unique(current + patch)
        return _arrange(merged, patch, current, _identity(None, path))
    if merge_key is None:
        raise PatchError("cannot merge a list of objects that has no patch merge key", path)
    replaced, current, patch = _list_directives(current, patch, merge_key, path)
    if replaced is not None:
        return [_fresh(item, items, _index(path, i)) for i, item in enumerate(replaced)]
    merged = _merge_elements(current, patch, items, merge_key, path)
    return _arrange(merged, patch, current, _identity(merge_key, path))


def _list_directives(
    current: list[Any], patch: list[Any], merge_key: str, path: str
) -> tuple[list[Any] | None, list[Any], list[Any]]:
    """Apply the ``$patch`` elements of a patch list.

    Returns (the replacement list if ``$patch: replace`` is present, else None; the current
    list without deleted elements; the patch list without directive elements).
    """
    plain: list[Any] = []
    replace = False
    for i, item in enumerate(patch):
        if PATCH not in item:
            plain.append(item)
            continue
        directive = item[PATCH]
        if directive == "delete":
            if merge_key not in item:
                raise PatchError(f"$patch: delete element lacks merge key {merge_key!r}", _index(path, i))
            doomed = _scalar_id(item[merge_key])
            current = [old for old in current if merge_key not in old or _scalar_id(old[merge_key]) != doomed]
        elif directive == "replace":
            replace = True
        else:
            raise PatchError(
                f"unknown $patch directive {directive!r} in a list element: expected delete or replace",
                _index(path, i),
            )
    return (plain if replace else None), current, plain


def _merge_elements(
    current: list[Any], patch: list[Any], items: Schema, merge_key: str, path: str
) -> list[Any]:
    """Merge each patch element into the element with the same merge key, or append it."""
    merged = list(current)
    for i, item in enumerate(patch):
        where = _index(path, i)
        if merge_key not in item:
            raise PatchError(f"list element lacks merge key {merge_key!r}", where)
        wanted = _scalar_id(item[merge_key])
        found = next(
            (j for j, old in enumerate(merged) if merge_key in old and _scalar_id(old[merge_key]) == wanted),
            None,
        )
        if found is None:
            merged.append(_merge_map({}, item, items, where))
        else:
            merged[found] = _merge_map(merged[found], item, items, where)
    return merged


def _set_element_orders(result: JsonMap, patch: JsonMap, schema: Schema, path: str) -> set[str]:
    """Apply every ``$setElementOrder/<field>`` of the patch, merging that field's list too.

    Returns the fields it merged, which the caller must not merge again.
    """
    done: set[str] = set()
    for key in [key for key in patch if key.startswith(SET_ELEMENT_ORDER)]:
        field_name = _directive_target(key, SET_ELEMENT_ORDER, path)
        order = patch[key]
        if not isinstance(order, list):
            raise PatchError(
                f"{SET_ELEMENT_ORDER}<field> must be a list, not {json_type(order)}", _child(path, key)
            )
        done.add(field_name)
        _order_field(result, field_name, order, patch.get(field_name, MISSING), schema, path)
    return done


def _order_field(
    result: JsonMap, name: str, order: list[Any], incoming: Any, schema: Schema, path: str
) -> None:
    """Merge the patch list ``incoming`` (maybe MISSING) into field ``name``, then order it."""
    field = _field_schema(schema, name)
    where = _child(path, name)
    current = result.get(name, MISSING)
    for value, whose in ((current, "the object's"), (incoming, "the patch's")):
        if value is not MISSING and not isinstance(value, list):
            raise PatchError(f"{SET_ELEMENT_ORDER}{name} given but {whose} value is not a list", where)
    merge_key = field.patch_merge_key
    if merge_key is not None and not all(isinstance(item, dict) and merge_key in item for item in order):
        raise PatchError(f"every {SET_ELEMENT_ORDER}{name} entry must be an object with {merge_key!r}", where)
    identity = _identity(merge_key, where)
    if isinstance(incoming, list):
        _check_follows_order(incoming, order, identity, where)
    if current is MISSING and incoming is MISSING:
        return
    if incoming is MISSING:
        merged = current
    else:
        merged = _merge_list_field([] if current is MISSING else current, incoming, field, where)
    server = [] if current is MISSING else current
    result[name] = _arrange(merged, order, server, identity)


def _check_follows_order(patch: list[Any], order: list[Any], identity: Identity, path: str) -> None:
    """Check that the patch list's elements appear in ``$setElementOrder`` in the same order."""
    if not order or not patch:
        return
    ids = [identity(item) for item in patch if not (isinstance(item, dict) and PATCH in item)]
    position = 0
    for wanted in (identity(item) for item in order):
        if position < len(ids) and ids[position] == wanted:
            position += 1
    if position < len(ids):
        raise PatchError(f"the order of the patch list does not match {SET_ELEMENT_ORDER}<field>", path)


def _arrange(merged: list[Any], wanted: list[Any], server: list[Any], identity: Identity) -> list[Any]:
    """Order a merged list as the API server does.

    Elements named in ``wanted`` take its order; the others keep the order of the ``server``
    list; then the two runs are interleaved, a server-only element going first only when it
    preceded the next wanted element in the server list.
    """
    if not merged:
        return merged
    wanted_at = _positions(wanted, identity)
    server_at = _positions(server, identity)
    ids = [identity(item) for item in merged]
    named = [(i, item) for i, item in zip(ids, merged, strict=True) if i in wanted_at]
    others = [(i, item) for i, item in zip(ids, merged, strict=True) if i not in wanted_at]
    named.sort(key=lambda pair: wanted_at[pair[0]])
    others.sort(key=lambda pair: server_at.get(pair[0], len(server)))
    arranged: list[Any] = []
    while named and others:
        left, right = server_at.get(others[0][0]), server_at.get(named[0][0])
        take = others if left is not None and right is not None and left < right else named
        arranged.append(take.pop(0)[1])
    return arranged + [item for _, item in others] + [item for _, item in named]


def _positions(items: list[Any], identity: Identity) -> dict[Hashable, int]:
    """The first index of each identity in ``items``."""
    positions: dict[Hashable, int] = {}
    for index, item in enumerate(items):
        positions.setdefault(identity(item), index)
    return positions


def _identity(merge_key: str | None, path: str) -> Identity:
    """How list elements are told apart: objects by merge key, primitives by value."""

    def identity(item: Any) -> Hashable:
        if not isinstance(item, dict):
            return _scalar_id(item)
        if merge_key is None:
            raise PatchError("cannot order a list of objects that has no patch merge key", path)
        if merge_key not in item:
            raise PatchError(f"list element lacks merge key {merge_key!r}", path)
        return ("key", _scalar_id(item[merge_key]))

    return identity


def _unique(items: list[Any]) -> list[Any]:
    """The items without repeats (first occurrence kept)."""
    first: dict[Hashable, Any] = {}
    for item in items:
        first.setdefault(_scalar_id(item), item)
    return list(first.values())


# -- helpers --------------------------------------------------------------------------------


def _scalar_id(value: Any) -> Hashable:
    """A hashable identity for a JSON value, equal exactly when the values are equal as JSON."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    return ("json", json.dumps(value, sort_keys=True))


def _element_kind(items: list[Any], path: str) -> str:
    """The JSON kind shared by all list elements; PatchError if they differ or are lists."""
    kinds = {json_type(item) for item in items}
    if "an array" in kinds:
        raise PatchError("lists of lists cannot be merged", path)
    if len(kinds) > 1:
        raise PatchError(f"list elements are not all of one type: {', '.join(sorted(kinds))}", path)
    return "object" if kinds == {"an object"} else "primitive"


def _container(value: Any) -> str:
    """``object``, ``array`` or ``scalar``: values of different containers replace each other."""
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else "scalar"


def _field_schema(schema: Schema, name: str) -> Schema:
    """The schema of a field; unknown fields are treated as saying nothing."""
    field = schema.field(name)
    return field if field is not None else Schema.any()


_PLAIN_KEY = re.compile(r"^[^.\[\]\"]+$")


def _child(path: str, key: str) -> str:
    """``path`` extended by a map key, e.g. ``.spec.template``."""
    return f"{path}.{key}" if _PLAIN_KEY.match(key) else f"{path}[{json.dumps(key)}]"


def _index(path: str, index: int) -> str:
    """``path`` extended by a list index, e.g. ``.spec.containers[0]``."""
    return f"{path}[{index}]"
