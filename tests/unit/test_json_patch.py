"""JSON patch (RFC 6902): the RFC's examples, error reporting, and properties."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from localcluster.apiserver.patch import PatchError
from localcluster.apiserver.patch.json_patch import MAX_OPERATIONS, json_patch


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON documents (``True`` is not ``1``; object key order is irrelevant)."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


# RFC 6902, Appendix A examples that succeed: (document, patch, result)
RFC_APPENDIX_A = {
    "A.1 add an object member": (
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    "A.2 add an array element": (
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    "A.3 remove an object member": (
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
    ),
    "A.4 remove an array element": (
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    "A.5 replace a value": (
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    "A.6 move a value": (
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    "A.7 move an array element": (
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    "A.8 test a value (success)": (
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    "A.10 add a nested member object": (
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    "A.11 ignore unrecognized elements": (
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    "A.14 ~ escape ordering": (
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
    ),
    "A.16 add an array value": (
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
}


@pytest.mark.parametrize(
    ("document", "patch", "expected"), RFC_APPENDIX_A.values(), ids=RFC_APPENDIX_A.keys()
)
def test_rfc6902_appendix_a(document: Any, patch: Any, expected: Any) -> None:
    assert same_json(json_patch(document, patch), expected)


@pytest.mark.parametrize(
    ("document", "patch", "fragment"),
    [
        pytest.param(
            {"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "test failed", id="A.9"
        ),
        pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], "baz", id="A.12"),
        pytest.param(
            {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], "test failed", id="A.15"
        ),
    ],
)
def test_rfc6902_appendix_a_errors(document: Any, patch: Any, fragment: str) -> None:
    with pytest.raises(PatchError, match=fragment) as caught:
        json_patch(document, patch)
    assert f"operation 0 ({patch[0]['op']}" in str(caught.value)


def test_kubectl_style_patch_on_a_deployment() -> None:
    deployment = {
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a/b"]},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}},
        },
    }
    ops = [
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27"},
        {"op": "add", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "web"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "copy", "from": "/spec/replicas", "path": "/metadata/labels/replicas"},
    ]
    result = json_patch(deployment, ops)
    assert result["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert result["metadata"] == {
        "name": "web",
        "labels": {"app": "web", "app.kubernetes.io/name": "web", "replicas": 1},
        "finalizers": [],
    }


@pytest.mark.parametrize(
    ("operations", "fragment"),
    [
        pytest.param(
            {"op": "add", "path": "/a", "value": 1},
            "must be a list of operations, not an object",
            id="object",
        ),
        pytest.param("[]", "not a string", id="string"),
        pytest.param(None, "not null", id="null"),
        pytest.param([1], "operation 0: must be an object, not a number", id="non-object-op"),
        pytest.param([{"path": "/a"}], "operation 0: missing or invalid 'op'", id="missing-op"),
        pytest.param([{"op": ["add"], "path": "/a"}], "operation 0: missing or invalid 'op'", id="list-op"),
        pytest.param(
            [{"op": "frobnicate", "path": "/a"}],
            r"operation 0 \(frobnicate /a\).*frobnicate",
            id="unknown-op",
        ),
        pytest.param([{"op": "add", "value": 1}], r"operation 0 \(add \).*path", id="missing-path"),
        pytest.param([{"op": "add", "path": "/b"}], r"operation 0 \(add /b\).*value", id="missing-value"),
        pytest.param(
            [{"op": "test", "path": "/a"}], r"operation 0 \(test /a\).*value", id="test-missing-value"
        ),
        pytest.param([{"op": "copy", "path": "/b"}], r"operation 0 \(copy /b\).*from", id="missing-from"),
        pytest.param(
            [{"op": "add", "path": "a", "value": 1}], r"operation 0 \(add a\).*start with /", id="bad-pointer"
        ),
        pytest.param(
            [{"op": "remove", "path": "/missing"}], r"operation 0 \(remove /missing\)", id="remove-missing"
        ),
        pytest.param(
            [{"op": "replace", "path": "/missing", "value": 1}],
            r"operation 0 \(replace",
            id="replace-missing",
        ),
        pytest.param(
            [{"op": "add", "path": "/list/5", "value": 1}], r"operation 0 \(add /list/5\)", id="index-too-big"
        ),
        pytest.param(
            [{"op": "add", "path": "/list/01", "value": 1}],
            r"operation 0 \(add /list/01\)",
            id="leading-zero",
        ),
        pytest.param(
            [{"op": "remove", "path": "/list/-"}], r"operation 0 \(remove /list/-\)", id="remove-end"
        ),
        pytest.param(
            [{"op": "move", "from": "/obj", "path": "/obj/x"}],
            r"operation 0 \(move /obj/x\)",
            id="move-into-child",
        ),
        pytest.param(
            [{"op": "add", "path": "/a/b", "value": 1}], r"operation 0 \(add /a/b\)", id="into-scalar"
        ),
        pytest.param(
            [{"op": "test", "path": "/flag", "value": 1}],
            r"operation 0 \(test /flag\): test failed",
            id="bool-vs-1",
        ),
        pytest.param([{"op": "test", "path": "/a", "value": True}], r"test failed", id="1-vs-true"),
        pytest.param([{"op": "test", "path": "/list", "value": [True]}], r"test failed", id="nested-bool"),
        pytest.param(
            [{"op": "test", "path": "/nope", "value": None}], r"test failed", id="test-missing-path"
        ),
    ],
)
def test_failures_name_the_operation_and_reason(operations: Any, fragment: str) -> None:
    document = {"a": 1, "flag": True, "list": [1], "obj": {}}
    with pytest.raises(PatchError, match=fragment):
        json_patch(document, operations)


def test_failure_in_a_later_operation_names_its_index_and_leaves_the_input_alone() -> None:
    document = {"a": {"b": 1}}
    ops = [{"op": "add", "path": "/a/c", "value": 2}, {"op": "remove", "path": "/a/zzz"}]
    with pytest.raises(PatchError, match=r"^operation 1 \(remove /a/zzz\)"):
        json_patch(document, ops)
    assert document == {"a": {"b": 1}}


def test_test_operation_compares_json_numbers_by_value() -> None:
    document = {"n": 1, "list": [1.0, {"x": 2}]}
    ops = [
        {"op": "test", "path": "/n", "value": 1.0},
        {"op": "test", "path": "/list", "value": [1, {"x": 2.0}]},
        {"op": "test", "path": "", "value": {"list": [1, {"x": 2}], "n": 1}},
    ]
    assert json_patch(document, ops) == document


def test_too_many_operations_are_refused() -> None:
    ops = [{"op": "test", "path": "", "value": {}}] * (MAX_OPERATIONS + 1)
    with pytest.raises(PatchError, match="more than the allowed"):
        json_patch({}, ops)


def test_values_from_the_patch_are_copied_not_shared() -> None:
    value = {"inner": [1]}
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/v", "value": value},
        {"op": "add", "path": "/v/inner/-", "value": 2},
    ]
    result = json_patch({}, ops)
    assert result == {"v": {"inner": [1, 2]}}
    assert value == {"inner": [1]}
    assert ops[0]["value"] == {"inner": [1]}


def test_empty_patch_returns_an_equal_copy() -> None:
    document = {"a": [1, {"b": 2}]}
    result = json_patch(document, [])
    assert result == document
    assert result is not document
    assert result["a"] is not document["a"]


def test_add_at_the_root_replaces_the_document() -> None:
    assert json_patch({"a": 1}, [{"op": "add", "path": "", "value": [1, 2]}]) == [1, 2]


# -- properties ---------------------------------------------------------------------------

keys = st.text(alphabet="ab/~c", min_size=1, max_size=3)
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)
documents = st.dictionaries(keys, json_values, max_size=4)


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointers(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every (pointer, value) inside a document, the root included."""
    found = [(prefix, value)]
    if isinstance(value, dict):
        for key, child in value.items():
            found += pointers(child, f"{prefix}/{escape(key)}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += pointers(child, f"{prefix}/{index}")
    return found


def containers(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    return [(pointer, child) for pointer, child in pointers(value, prefix) if isinstance(child, dict | list)]


@given(documents, keys, json_values, st.data())
def test_add_then_remove_restores_the_document(
    document: Any, key: str, value: Any, data: st.DataObject
) -> None:
    pointer, target = data.draw(st.sampled_from(containers(document)))
    if isinstance(target, dict):
        assume(key not in target)
        path = f"{pointer}/{escape(key)}"
    else:
        path = f"{pointer}/{data.draw(st.integers(0, len(target)))}"
    added = json_patch(document, [{"op": "add", "path": path, "value": value}])
    assert same_json(json_patch(added, [{"op": "test", "path": path, "value": value}]), added)
    assert same_json(json_patch(added, [{"op": "remove", "path": path}]), document)


@given(documents, st.data())
def test_test_succeeds_on_every_existing_value(document: Any, data: st.DataObject) -> None:
    pointer, value = data.draw(st.sampled_from(pointers(document)))
    assert same_json(json_patch(document, [{"op": "test", "path": pointer, "value": value}]), document)


@given(documents, st.data())
def test_copy_makes_an_equal_value(document: Any, data: st.DataObject) -> None:
    source, value = data.draw(st.sampled_from(pointers(document)))
    ops = [
        {"op": "copy", "from": source, "path": "/copied"},
        {"op": "test", "path": "/copied", "value": value},
    ]
    assume(source != "")  # the jsonpatch library cannot copy the whole document
    assert same_json(json_patch(document, ops)["copied"], value)


@given(documents, json_values, st.data())
def test_inputs_are_never_mutated(document: Any, value: Any, data: st.DataObject) -> None:
    pointer, _ = data.draw(st.sampled_from(pointers(document)))
    ops = [
        {"op": "replace", "path": pointer, "value": value},
        {"op": "add", "path": "/fresh", "value": {"nested": [value]}},
        {"op": "add", "path": "/fresh/nested/-", "value": 1},
    ]
    saved_document, saved_ops = copy.deepcopy(document), copy.deepcopy(ops)
    with contextlib.suppress(PatchError):  # a non-object root makes the later adds fail
        json_patch(document, ops)
    assert same_json(document, saved_document)
    assert same_json(ops, saved_ops)
