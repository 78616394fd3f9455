"""JSON merge patch (RFC 7386), the ``application/merge-patch+json`` patch type.

The algorithm, as the RFC states it::

    define MergePatch(Target, Patch):
      if Patch is an Object:
        if Target is not an Object:
          Target = {}  # ignore the contents and set it to an empty Object
        for each Name/Value pair in Patch:
          if Value is null:
            if Name exists in Target:
              remove the Name/Value pair from Target
          else:
            Target[Name] = MergePatch(Target[Name], Value)
        return Target
      else:
        return Patch

Arrays are never merged: an array in the patch replaces the target value whole, nulls
inside it included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localcluster.apiserver.jsoncopy import deep_copy

__all__ = ["merge_patch"]


def merge_patch(original: Any, patch: Any) -> Any:
    """Apply the JSON merge patch ``patch`` to ``original`` and return the result.

    Neither argument is modified, and the result shares no mutable value with them.
    """
    return _merge_into(deep_copy(original), patch)


def _merge_into(target: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``target``, which the caller owns and which may be changed."""
    if not isinstance(patch, Mapping):
        return deep_copy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = _merge_into(result.get(name), value)
    return result
