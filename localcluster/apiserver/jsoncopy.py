"""Deep copies of decoded JSON values (API objects), at C speed.

Every write copies the object it works on a few times (the patch engines, the subresource
rules, defaulting, field ownership): ``copy.deepcopy`` walks it in Python. A pickle round trip
copies dicts, lists, strings, numbers, booleans and None exactly as ``deepcopy`` does (values
shared inside the object stay shared, nothing is shared with the original) in C, about 2.5
times faster on a Rollout.
"""

from __future__ import annotations

import pickle
from typing import TypeVar, cast

T = TypeVar("T")


def deep_copy(value: T) -> T:
    """A deep copy of ``value``, a decoded JSON value."""
    return cast(T, pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL)))
