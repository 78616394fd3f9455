"""JSON patch (RFC 6902), the ``application/json-patch+json`` patch type.

Operations are applied by the ``jsonpatch`` library, one at a time, so that a failure can
name the operation (its index and ``op``) that caused it. Two details follow the
Kubernetes API server rather than the library's defaults:

* ``test`` compares JSON values, not Python values: ``true`` does not equal ``1``, while
  ``1`` and ``1.0`` are the same JSON number;
* a patch may hold at most :data:`MAX_OPERATIONS` operations.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import jsonpatch
import jsonpointer

from localcluster.apiserver.patch import PatchError

__all__ = ["MAX_OPERATIONS", "json_equal", "json_patch", "json_type"]

MAX_OPERATIONS = 10000
"""The most operations one JSON patch may hold (the Kubernetes API server's limit)."""


def json_patch(original: Any, operations: Any) -> Any:
    """Apply the RFC 6902 ``operations`` to ``original`` and return the result.

    Neither argument is modified. Raises :class:`PatchError` when the body is not a list of
    operations, an operation is malformed, a path does not exist or a ``test`` fails; the
    message names the operation by index and ``op``.
    """
    ops = _validated_operations(operations)
    document = copy.deepcopy(original)
    for index, operation in enumerate(ops):
        document = _apply_one(document, index, operation)
    return document


def _validated_operations(operations: Any) -> list[dict[str, Any]]:
    """Check the body's outer shape and return a private copy of its operations."""
    if not isinstance(operations, list):
        raise PatchError(f"a JSON patch must be a list of operations, not {json_type(operations)}")
    if len(operations) > MAX_OPERATIONS:
        raise PatchError(
            f"the JSON patch has {len(operations)} operations, more than the allowed {MAX_OPERATIONS}"
        )
    checked: list[dict[str, Any]] = []
    for index, operation in enumerate(operations):
        if not isinstance(operation, Mapping):
            raise PatchError(f"operation {index}: must be an object, not {json_type(operation)}")
        op = operation.get("op")
        if not isinstance(op, str):
            raise PatchError(f"operation {index}: missing or invalid 'op' member")
        checked.append(copy.deepcopy(dict(operation)))
    return checked


def _apply_one(document: Any, index: int, operation: dict[str, Any]) -> Any:
    """Apply one operation in place (``document`` is private); failures become PatchError."""
    label = f"operation {index} ({operation['op']} {operation.get('path', '')!s})"
    try:
        return _Patch([operation]).apply(document, in_place=True)
    except jsonpatch.JsonPatchTestFailed as err:
        raise PatchError(f"{label}: test failed: {err}") from err
    except jsonpatch.InvalidJsonPatch as err:
        raise PatchError(f"{label}: invalid operation: {err}") from err
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
        raise PatchError(f"{label}: {_reason(err)}") from err
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise PatchError(f"{label}: cannot apply: {_reason(err)}") from err


def _reason(err: Exception) -> str:
    """The library's explanation, or a generic one where it gives none."""
    text = str(err)
    return (
        text
        if text not in ("", "None")
        else f"the operation does not apply to this document ({type(err).__name__})"
    )


def json_equal(left: Any, right: Any) -> bool:
    """True when two decoded JSON values are equal as JSON (booleans are not numbers)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if _is_array(left) and _is_array(right):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if type(left) is not type(right):
        return False
    return bool(left == right)


def _is_array(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def json_type(value: Any) -> str:
    """The JSON name of a value's type with its article (``an object``), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    return "an array" if _is_array(value) else type(value).__name__


class _StrictTestOperation(jsonpatch.TestOperation):  # type: ignore[misc,unused-ignore]
    """``test`` with JSON equality instead of Python equality."""

    def apply(self, obj: Any) -> Any:
        try:
            subobj, part = self.pointer.to_last(obj)
            value = subobj if part is None else self.pointer.walk(subobj, part)
        except jsonpointer.JsonPointerException as err:
            raise jsonpatch.JsonPatchTestFailed(str(err)) from err
        if "value" not in self.operation:
            raise jsonpatch.InvalidJsonPatch("the operation does not contain a 'value' member")
        expected = self.operation["value"]
        if not json_equal(value, expected):
            raise jsonpatch.JsonPatchTestFailed(
                f"{value!r} ({json_type(value)}) is not equal to tested value {expected!r} "
                f"({json_type(expected)})"
            )
        return obj


class _Patch(jsonpatch.JsonPatch):  # type: ignore[misc,unused-ignore]
    """The library's JsonPatch with the strict ``test`` operation."""

    operations = MappingProxyType({**jsonpatch.JsonPatch.operations, "test": _StrictTestOperation})
