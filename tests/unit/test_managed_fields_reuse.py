"""Field ownership (``managedFields``) comes out the same whether or not the write path reuses
what earlier writes worked out (decoded entries, encoded field sets): any sequence of writes by
several managers gives the same objects as when every write starts from scratch."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from localcluster.apiserver import objects as objects_module
from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.patch import apply, fieldset
from localcluster.apiserver.registry import Registry
from localcluster.store import Store

MANAGERS = ["kubectl", "controller", "kubelet"]
# (manager index, subresource or "", merge patch)
Write = tuple[int, str, dict[str, Any]]


def forget() -> None:
    """What the write path remembers between writes, dropped."""
    apply._DECODED.clear()
    apply._encoded.cache_clear()


def run(writes: list[Write], *, from_scratch: bool) -> dict[str, Any]:
    forget()
    with ticking_clock():
        return _run(writes, from_scratch=from_scratch)


def _run(writes: list[Write], *, from_scratch: bool) -> dict[str, Any]:
    store = Store(None)
    objects = Objects(store, Registry())
    objects.ensure_namespace("ns")
    pods = objects.registry.lookup("", "v1", "pods")
    assert pods is not None
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "demo:1"}]},
    }
    objects.create(pods, "ns", pod, WriteOptions(manager="creator"))
    for manager, subresource, patch in writes:
        if from_scratch:
            forget()
        opts = WriteOptions(
            manager=MANAGERS[manager], subresource=subresource or None, field_validation="Ignore"
        )
        with contextlib.suppress(ApiError):  # an invalid write changes nothing, either way
            objects.patch(pods, "ns", "p", "merge", patch, opts)
    stored = store.get(pods.key, "ns", "p")
    assert stored is not None
    # The uid is random: everything else must match.
    return dict(stored, metadata={k: v for k, v in stored["metadata"].items() if k != "uid"})


@contextlib.contextmanager
def ticking_clock() -> Iterator[None]:
    """Each write a second later than the one before, from the same start in every run."""
    seconds = itertools.count()

    def now() -> str:
        second = next(seconds)
        return f"2026-11-28T12:{second // 60 % 60:02d}:{second % 60:02d}Z"

    real = objects_module.now_rfc3339
    objects_module.now_rfc3339 = now
    try:
        yield
    finally:
        objects_module.now_rfc3339 = real


LABEL_KEYS = st.sampled_from(["app", "tier", "team"])
PATCHES = st.one_of(
    st.builds(
        lambda k, v: ("", {"metadata": {"labels": {k: v}}}), LABEL_KEYS, st.sampled_from(["a", "b", None])
    ),
    st.builds(
        lambda i: ("", {"spec": {"containers": [{"name": "app", "image": f"demo:{i}"}]}}), st.integers(1, 3)
    ),
    st.builds(
        lambda phase, ready: (
            "status",
            {"status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}},
        ),
        st.sampled_from(["Pending", "Running"]),
        st.sampled_from(["True", "False"]),
    ),
    st.builds(
        lambda ip: ("status", {"status": {"podIP": ip, "podIPs": [{"ip": ip}]}}),
        st.sampled_from(["127.10.0.1", "127.10.0.2"]),
    ),
)
WRITES = st.lists(st.builds(lambda m, p: (m, p[0], p[1]), st.integers(0, 2), PATCHES), max_size=12)


def test_a_typical_sequence_gives_the_same_ownership() -> None:
    writes: list[Write] = [
        (2, "status", {"status": {"phase": "Pending"}}),
        (2, "status", {"status": {"phase": "Running", "podIP": "127.10.0.1"}}),
        (2, "status", {"status": {"phase": "Running", "podIP": "127.10.0.1"}}),
        (0, "", {"metadata": {"labels": {"tier": "front"}}}),
        (1, "", {"metadata": {"labels": {"tier": "back"}}}),
        (2, "status", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    ]
    reused = run(writes, from_scratch=False)
    assert [m["manager"] for m in reused["metadata"]["managedFields"]] == ["creator", "controller", "kubelet"]
    assert reused == run(writes, from_scratch=True)


@settings(max_examples=150, deadline=None)
@given(WRITES)
def test_any_sequence_gives_the_same_objects_as_writes_from_scratch(writes: list[Write]) -> None:
    reused = run(writes, from_scratch=False)
    # What is remembered about the stored list is what parsing its JSON gives.
    raw = reused["metadata"]["managedFields"]
    assert apply._decode(raw) == apply._parse(raw)
    assert reused == run(writes, from_scratch=True)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.sampled_from([0.0, 1.0, 1.5])
    | st.sampled_from(["", "a"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(JSON, JSON)
def test_the_shortcut_for_unchanged_values_only_skips_equal_json(a: Any, b: Any) -> None:
    """Comparing old and new skips a value only when it is the same JSON (``true`` is not ``1``)."""
    if fieldset._identical(a, b):
        assert fieldset.json_equal(a, b)
    assert fieldset._identical(a, a)


def reference_fields_v1(paths: frozenset[fieldset.Path]) -> dict[str, Any]:
    """FieldsV1 as the API server lays it out, worked out the plain way: at each level "." first
    when the node is owned itself, then children by field name, key, value, index."""
    out: dict[str, Any] = {}
    firsts = {path[0] for path in paths if path}
    if () in paths and firsts:
        out["."] = {}
    for element in sorted(firsts, key=fieldset.element_order):
        below = frozenset(path[1:] for path in paths if path and path[0] == element)
        out[f"{element[0]}:{element[1]}"] = reference_fields_v1(below)
    return out


ELEMENTS = st.sampled_from(
    [
        ("f", "spec"),
        ("f", "status"),
        ("f", "a"),
        ("k", '{"name":"web"}'),
        ("k", '{"name":"db"}'),
        ("v", '"x"'),
        ("i", "0"),
        ("i", "10"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.frozensets(st.lists(ELEMENTS, min_size=1, max_size=4).map(tuple), max_size=8))
def test_field_sets_encode_in_the_api_servers_order_and_decode_back(paths: frozenset[fieldset.Path]) -> None:
    encoded = fieldset.encode_fields_v1(paths)
    assert json.dumps(encoded) == json.dumps(reference_fields_v1(paths))
    assert fieldset.decode_fields_v1(encoded) == paths
