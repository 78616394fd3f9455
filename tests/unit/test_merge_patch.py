"""JSON merge patch (RFC 7386): the RFC's examples, and its properties checked by hypothesis."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localcluster.apiserver.patch.merge import merge_patch


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON documents (``True`` is not ``1``; object key order is irrelevant)."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


# RFC 7386, Appendix A: (original, patch, result)
RFC_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC_APPENDIX_A)
def test_rfc7386_appendix_a(original: Any, patch: Any, expected: Any) -> None:
    assert same_json(merge_patch(original, patch), expected)


def test_rfc7386_section_3_example() -> None:
    original = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    assert merge_patch(original, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }


def test_patches_a_deployment_like_kubectl_patch_type_merge() -> None:
    deployment = {
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}, {"name": "log"}]}},
        },
    }
    patch = {
        "metadata": {"labels": {"tier": None, "team": "a"}},
        "spec": {
            "replicas": 3,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
        },
    }
    result = merge_patch(deployment, patch)
    assert result["metadata"] == {"name": "web", "labels": {"app": "web", "team": "a"}}
    assert result["spec"]["replicas"] == 3
    # Lists are replaced whole: the second container is gone.
    assert result["spec"]["template"]["spec"]["containers"] == [{"name": "web", "image": "nginx:1.27"}]


def test_nulls_inside_arrays_are_kept() -> None:
    assert merge_patch({}, {"a": [None, {"b": None}]}) == {"a": [None, {"b": None}]}


def test_result_does_not_share_values_with_inputs() -> None:
    original = {"keep": {"x": [1]}, "change": {"y": 1}}
    patch = {"change": {"z": {"deep": [1]}}, "new": [{"k": "v"}]}
    result = merge_patch(original, patch)
    result["keep"]["x"].append(2)
    result["change"]["z"]["deep"].append(2)
    result["new"][0]["k"] = "changed"
    assert original == {"keep": {"x": [1]}, "change": {"y": 1}}
    assert patch == {"change": {"z": {"deep": [1]}}, "new": [{"k": "v"}]}


# -- properties ---------------------------------------------------------------------------

keys = st.text(alphabet="abcxyz", min_size=1, max_size=3)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)
# Values that a merge patch can produce: no null as an object member value.
null_free_scalars = st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4)
null_free_values = st.recursive(
    null_free_scalars,
    lambda inner: st.lists(json_values, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


def diff(source: Any, target: Any) -> Any:
    """The merge patch that turns ``source`` into ``target`` (which holds no null members)."""
    if not isinstance(target, dict):
        return target
    if not isinstance(source, dict):
        return copy.deepcopy(target)
    patch: dict[str, Any] = {key: None for key in source if key not in target}
    for key, value in target.items():
        if key not in source or not same_json(source[key], value):
            patch[key] = diff(source.get(key), value)
    return patch


@given(json_values, null_free_values)
def test_applying_the_diff_of_a_to_b_gives_b(source: Any, target: Any) -> None:
    assert same_json(merge_patch(source, diff(source, target)), target)


@given(json_values, json_values)
def test_merge_patch_is_idempotent(original: Any, patch: Any) -> None:
    once = merge_patch(original, patch)
    assert same_json(merge_patch(once, patch), once)


@given(json_values, json_values)
def test_inputs_are_never_mutated(original: Any, patch: Any) -> None:
    original_copy, patch_copy = copy.deepcopy(original), copy.deepcopy(patch)
    merge_patch(original, patch)
    assert same_json(original, original_copy)
    assert same_json(patch, patch_copy)


@given(json_values, json_values.filter(lambda value: not isinstance(value, dict)))
def test_a_non_object_patch_replaces_the_target(original: Any, patch: Any) -> None:
    assert same_json(merge_patch(original, patch), patch)


@given(json_values, st.dictionaries(keys, json_values, max_size=4))
def test_object_patch_sets_each_member_and_null_removes_it(original: Any, patch: dict[str, Any]) -> None:
    result = merge_patch(original, patch)
    assert isinstance(result, dict)
    for key, value in patch.items():
        if value is None:
            assert key not in result
        elif not isinstance(value, dict):
            assert same_json(result[key], value)
    if isinstance(original, dict):
        for key, value in original.items():
            if key not in patch:
                assert same_json(result[key], value)
