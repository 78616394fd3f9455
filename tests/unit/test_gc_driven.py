"""The garbage collector, driven by changes: owner deletion (background, foreground, orphan),
dangling references, namespace termination, kinds served later, and that a change costs
work on the objects it concerns, not a sweep over everything.

The collector runs on its own store's change feed, in process, as in the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.registry import Registry, ResourceType
from localcluster.controllers.gc import GarbageCollector
from localcluster.store import Obj, Store

OPTS = WriteOptions(manager="test")


class CountingCollector(GarbageCollector):
    sweeps = 0

    def sweep(self) -> None:
        self.sweeps += 1
        super().sweep()


class Cluster:
    def __init__(self) -> None:
        self.store = Store(None)
        self.objects = Objects(self.store, Registry())
        self.objects.ensure_namespace("ns")
        self.gc = CountingCollector(self.objects)

    def rt(self, group: str, version: str, plural: str) -> ResourceType:
        found = self.objects.registry.lookup(group, version, plural)
        assert found is not None
        return found

    @property
    def cm(self) -> ResourceType:
        return self.rt("", "v1", "configmaps")

    def configmap(
        self, name: str, *owners: Obj, finalizers: list[str] | None = None, namespace: str = "ns"
    ) -> Obj:
        meta: dict[str, Any] = {"name": name}
        if owners:
            meta["ownerReferences"] = [ref(o) for o in owners]
        if finalizers:
            meta["finalizers"] = finalizers
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
        return self.objects.create(self.cm, namespace, body, OPTS).obj

    def get(self, name: str, namespace: str = "ns") -> Obj | None:
        return self.store.get(self.cm.key, namespace, name)

    def delete(self, name: str, propagation: str | None = None) -> None:
        self.objects.delete(self.cm, "ns", name, propagation=propagation)


def ref(owner: Obj, kind: str = "ConfigMap", api_version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (5 s at most) until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.005)


def with_collector(scenario: Callable[[Cluster], Awaitable[None]]) -> None:
    """Run ``scenario`` on a fresh cluster whose collector runs (and has done its first sweep)."""

    async def main() -> None:
        cluster = Cluster()
        task = asyncio.create_task(cluster.gc.run())
        try:
            await until(lambda: cluster.gc.sweeps == 1, "the start-up sweep ran")
            await scenario(cluster)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(main())


def test_deleting_an_owner_collects_its_dependents_down_the_chain() -> None:
    async def scenario(cluster: Cluster) -> None:
        owner = cluster.configmap("owner")
        child = cluster.configmap("child", owner)
        cluster.configmap("grandchild", child)
        cluster.configmap("bystander")
        cluster.delete("owner")
        await until(lambda: cluster.get("grandchild") is None, "the grandchild is collected")
        assert cluster.get("child") is None
        assert cluster.get("bystander") is not None

    with_collector(scenario)


def test_a_dependent_with_another_live_owner_only_loses_the_reference() -> None:
    async def scenario(cluster: Cluster) -> None:
        first, second = cluster.configmap("first"), cluster.configmap("second")
        cluster.configmap("shared", first, second)
        cluster.delete("first")

        def refs() -> list[str]:
            shared = cluster.get("shared")
            assert shared is not None, "the dependent of a live owner was deleted"
            return [r["name"] for r in shared["metadata"].get("ownerReferences") or []]

        await until(lambda: refs() == ["second"], "the reference to the deleted owner is dropped")

    with_collector(scenario)


def test_a_reference_to_an_owner_that_never_existed_is_collected() -> None:
    async def scenario(cluster: Cluster) -> None:
        ghost = {"metadata": {"name": "ghost", "uid": "not-a-real-uid"}}
        cluster.configmap("dangling", ghost)
        # An owner of that name with another uid is not the owner either.
        cluster.configmap("ghost")
        await until(lambda: cluster.get("dangling") is None, "the dangling dependent is collected")
        assert cluster.get("ghost") is not None

    with_collector(scenario)


def test_orphan_propagation_keeps_dependents_without_the_reference() -> None:
    async def scenario(cluster: Cluster) -> None:
        owner = cluster.configmap("owner")
        cluster.configmap("kept", owner)
        cluster.delete("owner", propagation="Orphan")
        await until(lambda: cluster.get("owner") is None, "the owner is deleted")
        kept = cluster.get("kept")
        assert kept is not None
        assert "ownerReferences" not in kept["metadata"]

    with_collector(scenario)


def test_foreground_deletion_removes_dependents_first() -> None:
    async def scenario(cluster: Cluster) -> None:
        owner = cluster.configmap("owner")
        cluster.configmap("quick", owner)
        cluster.configmap("held", owner, finalizers=["example.com/hold"])
        cluster.delete("owner", propagation="Foreground")
        await until(lambda: cluster.get("quick") is None, "the dependent without finalizers is gone")
        # The dependent with a finalizer is being deleted; the owner waits for it.
        held = cluster.get("held")
        assert held is not None and held["metadata"].get("deletionTimestamp")
        still = cluster.get("owner")
        assert still is not None and "foregroundDeletion" in still["metadata"]["finalizers"]
        cluster.objects.remove_finalizer(cluster.cm, held, "example.com/hold")
        await until(lambda: cluster.get("owner") is None, "the owner goes once its dependents are gone")

    with_collector(scenario)


def test_a_terminating_namespace_is_emptied_then_removed() -> None:
    async def scenario(cluster: Cluster) -> None:
        cluster.objects.ensure_namespace("doomed")
        cluster.configmap("a", namespace="doomed")
        held = cluster.configmap("b", namespace="doomed", finalizers=["example.com/hold"])
        ns_rt = cluster.rt("", "v1", "namespaces")
        cluster.objects.delete(ns_rt, "", "doomed")
        await until(lambda: cluster.get("a", "doomed") is None, "the namespace's objects are deleted")
        assert cluster.store.get(ns_rt.key, "", "doomed") is not None  # held by b's finalizer
        cluster.objects.remove_finalizer(cluster.cm, held, "example.com/hold")
        await until(lambda: cluster.store.get(ns_rt.key, "", "doomed") is None, "the empty namespace goes")

    with_collector(scenario)


def test_references_to_a_kind_served_later_are_judged_once_it_is() -> None:
    async def scenario(cluster: Cluster) -> None:
        gone = {"metadata": {"name": "w", "uid": "uid-of-a-widget-long-gone"}}
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "of-widget", "ownerReferences": [ref(gone, "Widget", "example.com/v1")]},
        }
        cluster.objects.create(cluster.cm, "ns", body, OPTS)
        cluster.configmap("flush")  # a later change, handled after the one above
        await until(lambda: cluster.gc.pending is False, "the collector caught up")
        assert cluster.get("of-widget") is not None  # an unknown kind: never collect for it
        crd_rt = cluster.rt("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {
                    "plural": "widgets",
                    "singular": "widget",
                    "kind": "Widget",
                    "listKind": "WidgetList",
                },
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
        cluster.objects.create(crd_rt, "", crd, OPTS)
        await until(
            lambda: cluster.get("of-widget") is None, "the dependent of a Widget that is gone is collected"
        )

    with_collector(scenario)


def test_changes_do_not_make_the_collector_sweep_everything() -> None:
    async def scenario(cluster: Cluster) -> None:
        owners = [cluster.configmap(f"owner-{i}") for i in range(20)]
        for i, owner in enumerate(owners):
            cluster.configmap(f"child-{i}", owner)
        for i in range(0, 20, 2):
            cluster.delete(f"owner-{i}")
        await until(lambda: cluster.get("child-18") is None, "the children of deleted owners are collected")
        assert all(cluster.get(f"child-{i}") is None for i in range(0, 20, 2))
        assert all(cluster.get(f"child-{i}") is not None for i in range(1, 20, 2))
        assert cluster.gc.sweeps == 1  # only the one at start

    with_collector(scenario)


def test_a_full_sweep_finishes_what_happened_while_the_collector_was_down() -> None:
    c = Cluster()
    owner = c.configmap("owner")
    c.configmap("child", owner)
    c.delete("owner")  # nobody collects yet
    assert c.get("child") is not None

    async def main() -> None:
        task = asyncio.create_task(c.gc.run())
        try:
            await until(lambda: c.get("child") is None, "the start-up sweep collects the orphaned child")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(main())
