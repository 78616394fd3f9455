"""The store's indexes (names by namespace, dependents by owner uid, objects by label) answer
exactly what a scan of every object would, after any sequence of writes, and after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from localcluster.apiserver.selectors import LabelSelector, label_selector_from_dict
from localcluster.store import Store

Obj = dict[str, Any]


def obj(
    namespace: str, name: str, labels: dict[str, str] | None = None, owners: list[str] | None = None
) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    if labels is not None:
        meta["labels"] = labels
    if owners is not None:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"rs-{u}", "uid": u} for u in owners
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}


def names(items: list[Obj]) -> list[tuple[str, str]]:
    return [(str(o["metadata"].get("namespace", "")), str(o["metadata"]["name"])) for o in items]


def test_lists_are_ordered_by_namespace_and_name_whatever_the_order_of_creation() -> None:
    store = Store(None)
    for ns, name in [("b", "x"), ("a", "z"), ("a", "b"), ("b", "a"), ("a", "m")]:
        store.put("/pods", obj(ns, name))
    assert names(store.list("/pods")) == [("a", "b"), ("a", "m"), ("a", "z"), ("b", "a"), ("b", "x")]
    assert names(store.list("/pods", "b")) == [("b", "a"), ("b", "x")]
    assert store.list("/pods", "c") == []
    store.delete("/pods", "a", "m")
    assert names(store.list("/pods", "a")) == [("a", "b"), ("a", "z")]
    assert store.any_in("/pods", "b") and not store.any_in("/pods", "c")
    store.delete("/pods", "b", "a")
    store.delete("/pods", "b", "x")
    assert not store.any_in("/pods", "b")
    assert names(store.list("/pods")) == [("a", "b"), ("a", "z")]


def test_dependents_follow_owner_references_through_reown_and_delete() -> None:
    store = Store(None)
    store.put("/pods", obj("ns", "p1", owners=["u1"]))
    store.put("/pods", obj("ns", "p2", owners=["u1", "u2"]))
    store.put("/configmaps", obj("ns", "c1", owners=["u1"]))

    def dependents(uid: str) -> list[tuple[str, str]]:
        return [(resource, str(o["metadata"]["name"])) for resource, o in store.dependents(uid)]

    assert dependents("u1") == [("/configmaps", "c1"), ("/pods", "p1"), ("/pods", "p2")]
    assert dependents("u2") == [("/pods", "p2")]
    store.put("/pods", obj("ns", "p1", owners=["u2"]))  # re-owned
    assert dependents("u1") == [("/configmaps", "c1"), ("/pods", "p2")]
    assert dependents("u2") == [("/pods", "p1"), ("/pods", "p2")]
    store.put("/pods", obj("ns", "p2"))  # orphaned
    assert dependents("u2") == [("/pods", "p1")]
    store.delete("/pods", "ns", "p1")
    assert dependents("u2") == []
    assert dependents("u1") == [("/configmaps", "c1")]
    # The objects returned are the stored ones, as they are now.
    store.put("/configmaps", obj("ns", "c1", labels={"v": "2"}, owners=["u1"]))
    assert store.dependents("u1")[0][1]["metadata"]["labels"] == {"v": "2"}


def test_label_lookups_follow_relabelling() -> None:
    store = Store(None)
    store.put("/pods", obj("ns", "a", {"app": "web", "tier": "front"}))
    store.put("/pods", obj("ns", "b", {"app": "db"}))
    store.put("/pods", obj("other", "c", {"app": "web"}))
    assert names(store.list("/pods", "ns", label=("app", ["web"]))) == [("ns", "a")]
    assert names(store.list("/pods", None, label=("app", ["web"]))) == [("ns", "a"), ("other", "c")]
    assert names(store.list("/pods", "ns", label=("app", None))) == [("ns", "a"), ("ns", "b")]
    assert names(store.list("/pods", "ns", label=("app", ["web", "db"]))) == [("ns", "a"), ("ns", "b")]
    store.put("/pods", obj("ns", "a", {"app": "db"}))  # relabelled
    assert store.list("/pods", "ns", label=("app", ["web"])) == []
    assert store.list("/pods", "ns", label=("tier", None)) == []
    assert names(store.select("/pods", "ns", LabelSelector.parse("app=db"))) == [("ns", "a"), ("ns", "b")]
    assert store.select("/pods", "ns", label_selector_from_dict(None)) == []  # selects nothing
    assert len(store.select("/pods", None, LabelSelector.parse(""))) == 3  # selects everything


def test_indexes_are_rebuilt_from_the_database_on_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    store.put("/pods", obj("ns", "p", {"app": "web"}, owners=["u1"]))
    store.put("/pods", obj("ns", "q", {"app": "db"}))
    store.close()
    again = Store(tmp_path / "store.db")
    assert names(again.list("/pods", "ns", label=("app", ["web"]))) == [("ns", "p")]
    assert [o["metadata"]["name"] for _, o in again.dependents("u1")] == ["p"]
    assert names(again.list("/pods")) == [("ns", "p"), ("ns", "q")]
    again.close()


# -- any sequence of writes -------------------------------------------------------------------------

NAMESPACES = st.sampled_from(["", "a", "b"])
NAMES = st.sampled_from(["n1", "n2", "n3", "n4"])
RESOURCES = st.sampled_from(["/pods", "apps/replicasets"])
KEYS = st.sampled_from(["app", "tier", "x.io/y"])
VALUES = st.sampled_from(["", "web", "db"])
LABELS = st.none() | st.dictionaries(KEYS, VALUES, max_size=3)
OWNERS = st.none() | st.lists(st.sampled_from(["u1", "u2", "u3"]), max_size=3, unique=True)
WRITES = st.lists(
    st.tuples(st.booleans(), RESOURCES, NAMESPACES, NAMES, LABELS, OWNERS), min_size=1, max_size=40
)


def matching_label(o: Obj, key: str, values: list[str] | None) -> bool:
    labels = o["metadata"].get("labels") or {}
    return key in labels and (values is None or labels[key] in values)


@settings(max_examples=200, deadline=None)
@given(WRITES)
def test_index_answers_equal_a_scan_after_any_writes(writes: list[Any]) -> None:
    store = Store(None)
    model: dict[tuple[str, str, str], Obj] = {}
    for delete, resource, ns, name, labels, owners in writes:
        if delete:
            store.delete(resource, ns, name)
            model.pop((resource, ns, name), None)
        else:
            model[(resource, ns, name)] = store.put(resource, obj(ns, name, labels, owners))
    for resource in ("/pods", "apps/replicasets"):
        scan = sorted((k[1], k[2]) for k in model if k[0] == resource)
        assert names(store.list(resource)) == scan
        for ns in ("", "a", "b"):
            assert names(store.list(resource, ns)) == [k for k in scan if k[0] == ns]
            assert store.any_in(resource, ns) == any(k[0] == ns for k in scan)
            for key in ("app", "tier", "x.io/y"):
                for values in (None, ["web"], ["", "db"]):
                    expected = [
                        (k[1], k[2])
                        for k, o in sorted(model.items())
                        if k[0] == resource and k[1] == ns and matching_label(o, key, values)
                    ]
                    assert names(store.list(resource, ns, label=(key, values))) == expected
    for uid in ("u1", "u2", "u3"):
        expected_deps = sorted(
            k
            for k, o in model.items()
            if any(r["uid"] == uid for r in o["metadata"].get("ownerReferences") or [])
        )
        found = [
            (r, str(o["metadata"].get("namespace", "")), str(o["metadata"]["name"]))
            for r, o in store.dependents(uid)
        ]
        assert found == expected_deps


SELECTORS = st.lists(
    st.tuples(
        KEYS,
        st.sampled_from(["=", "!=", "in", "notin", "exists", "!"]),
        st.lists(VALUES, min_size=1, max_size=2),
    ),
    max_size=3,
)


def selector_text(reqs: list[tuple[str, str, list[str]]]) -> str:
    parts = []
    for key, op, values in reqs:
        if op == "exists":
            parts.append(key)
        elif op == "!":
            parts.append("!" + key)
        elif op in ("in", "notin"):
            parts.append(f"{key} {op} ({','.join(values)})")
        else:
            parts.append(f"{key}{op}{values[0]}")
    return ",".join(parts)


@settings(max_examples=300, deadline=None)
@given(SELECTORS, st.lists(st.dictionaries(KEYS, VALUES, max_size=3), max_size=6))
def test_select_through_the_index_equals_matching_every_object(
    reqs: list[tuple[str, str, list[str]]], label_sets: list[dict[str, str]]
) -> None:
    selector = LabelSelector.parse(selector_text(reqs))
    store = Store(None)
    for i, labels in enumerate(label_sets):
        store.put("/pods", obj("ns", f"p{i}", labels))
    expected = [o for o in store.list("/pods", "ns") if selector.matches(o["metadata"].get("labels"))]
    assert store.select("/pods", "ns", selector) == expected
    hint = selector.index_hint()
    if hint is not None:  # every match carries the hinted label
        key, values = hint
        assert all(matching_label(o, key, list(values) if values is not None else None) for o in expected)
