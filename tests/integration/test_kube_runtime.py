"""controller.kube against a running localcluster: client verbs, informers (and 410 recovery), leader election."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from controller.kube import (
    ApiClient,
    Backoff,
    Conflict,
    Informer,
    LeaderElectionConfig,
    LeaderElector,
    NotFound,
    load_kubeconfig,
    resource_path,
)
from tests.conftest import Cluster, start_cluster, stop_cluster

T = TypeVar("T")
Obj = dict[str, Any]


def run(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(fn())


@contextlib.asynccontextmanager
async def client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_kubeconfig(cluster.kubeconfig), timeout=10) as api:
        yield api


def configmap(name: str, namespace: str, **labels: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"v": "1"},
    }


async def eventually(check: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(coro: Awaitable[None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``coro`` as a task for the block; cancel it (and wait) afterwards."""
    task: asyncio.Task[None] = asyncio.ensure_future(coro)
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class Events:
    """What an informer's handlers were told, as (verb, name, resourceVersion)."""

    def __init__(self, informer: Informer) -> None:
        self.seen: list[tuple[str, str]] = []
        informer.add_handler(
            on_add=lambda o: self.seen.append(("add", o["metadata"]["name"])),
            on_update=lambda old, new: self.seen.append(("update", new["metadata"]["name"])),
            on_delete=lambda o: self.seen.append(("delete", o["metadata"]["name"])),
        )


# -- the client --------------------------------------------------------------------------------------


def test_client_verbs_against_the_cluster(cluster: Cluster, namespace: str) -> None:
    cms = resource_path("v1", "configmaps", namespace=namespace)

    async def main() -> ApiClient:
        async with client(cluster) as api:
            made = await api.create(
                cms, configmap("one", namespace, app="web"), field_manager="rollouts-test"
            )
            await api.create(cms, configmap("two", namespace, app="db"))
            listed = await api.list(cms, label_selector="app=web")
            assert [i["metadata"]["name"] for i in listed["items"]] == ["one"]
            named = await api.list(cms, field_selector="metadata.name=two")
            assert [i["metadata"]["name"] for i in named["items"]] == ["two"]

            path = f"{cms}/one"
            stale = dict(made, data={"v": "stale"})
            updated = await api.replace(path, dict(made, data={"v": "2"}))
            with pytest.raises(Conflict):
                await api.replace(path, stale)  # made's resourceVersion is old now
            merged = await api.patch(path, {"data": {"m": "merge"}})
            jsoned = await api.patch(
                path, [{"op": "replace", "path": "/data/v", "value": "3"}], patch_type="json"
            )
            strategic = await api.patch(path, {"metadata": {"labels": {"s": "1"}}}, patch_type="strategic")
            applied = await api.patch(
                path,
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "one"},
                    "data": {"owned": "yes"},
                },
                patch_type="apply",
                field_manager="rollouts-test",
                force=True,
            )
            assert updated["data"]["v"] == "2"
            assert merged["data"] == {"v": "2", "m": "merge"}
            assert jsoned["data"]["v"] == "3"
            assert strategic["metadata"]["labels"] == {"app": "web", "s": "1"}
            assert applied["data"]["owned"] == "yes"

            # a watch from the list's version sees what happened after it
            since = listed["metadata"]["resourceVersion"]
            events = []
            async for event in api.watch(
                cms, resource_version=since, timeout_seconds=1, field_selector="metadata.name=one"
            ):
                events.append((event.type, event.object["data"].get("v")))
            assert events[0] == ("MODIFIED", "2") and events[-1][0] == "MODIFIED" and len(events) == 5

            await api.delete(path, propagation="Background")
            with pytest.raises(NotFound):
                await api.get(path)
            return api

    api = run(main)
    assert api.requests[("POST", "201")] == 2
    assert api.requests[("PUT", "409")] == 1
    assert api.requests[("PATCH", "200")] == 4
    assert api.requests[("GET", "404")] == 1


def test_patch_status_writes_only_the_status(cluster: Cluster, namespace: str) -> None:
    ingresses = resource_path("networking.k8s.io/v1", "ingresses", namespace=namespace)
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
    }

    async def main() -> Obj:
        async with client(cluster) as api:
            await api.create(ingresses, body)
            return await api.patch_status(
                f"{ingresses}/web",
                {
                    "status": {"loadBalancer": {"ingress": [{"ip": "10.9.8.7"}]}},
                    "spec": {"defaultBackend": {"service": {"name": "other", "port": {"number": 80}}}},
                },
            )

    patched = run(main)
    assert patched["status"]["loadBalancer"]["ingress"] == [{"ip": "10.9.8.7"}]
    assert patched["spec"]["defaultBackend"]["service"]["name"] == "web"  # spec untouched via /status


# -- informers ---------------------------------------------------------------------------------------


def test_informer_sees_adds_updates_and_deletes_in_its_selection(cluster: Cluster, namespace: str) -> None:
    cms = resource_path("v1", "configmaps", namespace=namespace)

    async def main() -> tuple[list[tuple[str, str]], Informer]:
        async with client(cluster) as api:
            await api.create(cms, configmap("early", namespace, app="web"))
            await api.create(cms, configmap("elsewhere", namespace, app="db"))
            informer = Informer(api, "v1", "configmaps", namespace=namespace, label_selector="app=web")
            events = Events(informer)
            async with running(informer.run()):
                await asyncio.wait_for(informer.wait_synced(), 10)
                assert informer.keys() == [f"{namespace}/early"]
                await api.create(cms, configmap("late", namespace, app="web"))
                await api.patch(f"{cms}/early", {"data": {"v": "2"}})
                await api.delete(f"{cms}/late")
                # leaving the selection is a delete; entering it an add
                await api.patch(f"{cms}/early", {"metadata": {"labels": {"app": "gone"}}})
                await api.patch(f"{cms}/elsewhere", {"metadata": {"labels": {"app": "web"}}})
                await eventually(lambda: len(events.seen) >= 6, what="six events")
                written = await api.get(f"{cms}/elsewhere")
                await eventually(lambda: informer.resource_version == written["metadata"]["resourceVersion"])
            return events.seen, informer

    seen, informer = run(main)
    assert seen == [
        ("add", "early"),
        ("add", "late"),
        ("update", "early"),
        ("delete", "late"),
        ("delete", "early"),
        ("add", "elsewhere"),
    ]
    assert informer.keys() == [f"{namespace}/elsewhere"]
    assert informer.lists == 1


def test_informer_watches_all_namespaces_when_given_none(cluster: Cluster, namespace: str) -> None:
    async def main() -> list[str]:
        async with client(cluster) as api:
            informer = Informer(api, "v1", "configmaps", label_selector=f"test={namespace}")
            async with running(informer.run()):
                await asyncio.wait_for(informer.wait_synced(), 10)
                await api.create(
                    resource_path("v1", "configmaps", namespace=namespace),
                    configmap("x", namespace, test=namespace),
                )
                await eventually(lambda: len(informer) == 1)
            return informer.keys()

    assert run(main) == [f"{namespace}/x"]


def test_informer_relists_after_410_when_the_server_restarts(tmp_path: Path) -> None:
    # Long bookmark intervals: the informer must not learn the newest version from a bookmark.
    env = {"LOCALCLUSTER_BOOKMARK_INTERVAL": "3600"}
    state = tmp_path / "state"
    first = start_cluster(state, env=env)
    clusters = [first]
    cms = resource_path("v1", "configmaps", namespace="default")

    async def main() -> tuple[list[tuple[str, str]], Informer]:
        async with client(first) as api:
            await api.create(cms, configmap("before", "default"))
            informer = Informer(
                api, "v1", "configmaps", namespace="default", backoff=Backoff(initial=0.05, cap=0.5)
            )
            events = Events(informer)
            async with running(informer.run()):
                await asyncio.wait_for(informer.wait_synced(), 10)
                # a write the informer does not watch moves the store past the informer's version
                await api.create(
                    resource_path("v1", "secrets", namespace="default"),
                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
                )
                # the restart drops the watch history: the informer's version is now too old
                await asyncio.to_thread(stop_cluster, first)
                port = int(first.url.rsplit(":", 1)[1])
                second = await asyncio.to_thread(start_cluster, state, port=port, env=env)
                clusters.append(second)
                assert second.url == first.url  # same port: the kubeconfig (and client) still work
                await api.delete(f"{cms}/before")
                await api.create(cms, configmap("after", "default"))
                await eventually(lambda: informer.keys() == ["default/after"], 20, "the cache to recover")
            return events.seen, informer

    try:
        seen, informer = run(main)
    finally:
        for c in clusters:
            stop_cluster(c)
    assert informer.lists >= 2  # a 410 made it list again
    assert seen[0] == ("add", "before")
    assert ("delete", "before") in seen and seen[-1] == ("add", "after")


# -- leader election ---------------------------------------------------------------------------------


def election(namespace: str, identity: str, *, release: bool = True) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        namespace=namespace,
        name="rollouts-controller",
        identity=identity,
        lease_duration=2,
        renew_deadline=1.5,
        retry_period=0.2,
        release_on_cancel=release,
    )


async def lease(api: ApiClient, namespace: str) -> Obj:
    return await api.get(
        resource_path("coordination.k8s.io/v1", "leases", namespace=namespace, name="rollouts-controller")
    )


async def watch_leaders(electors: list[LeaderElector], seconds: float) -> int:
    """Sample for ``seconds``; the most electors seen leading at one instant."""
    most = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        most = max(most, sum(e.is_leader for e in electors))
        await asyncio.sleep(0.01)
    return most


def test_two_electors_exactly_one_leads_and_the_other_takes_over_after_a_crash(
    cluster: Cluster, namespace: str
) -> None:
    async def main() -> tuple[float, Obj, Obj]:
        async with client(cluster) as api:
            a = LeaderElector(api, election(namespace, "a", release=False))
            b = LeaderElector(api, election(namespace, "b"))
            async with running(a.run()) as task_a, running(b.run()):
                await asyncio.wait_for(a.wait_until_leading(), 5)  # a starts first and wins
                assert await watch_leaders([a, b], 1.0) == 1
                assert a.is_leader and not b.is_leader and b.leader == "a"
                held = await lease(api, namespace)
                # a "crashes": its task dies without releasing the lease
                task_a.cancel()
                await asyncio.gather(task_a, return_exceptions=True)
                crashed = time.monotonic()
                await asyncio.wait_for(b.wait_until_leading(), 5)
                took = time.monotonic() - crashed
                return took, held, await lease(api, namespace)

    took, held, taken = run(main)
    spec = held["spec"]
    assert spec["holderIdentity"] == "a" and spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0 and spec["acquireTime"].endswith("Z") and spec["renewTime"]
    # b waited the lease out (from the last renewal it saw), then took it at its next retry
    assert 2 - 0.2 - 0.3 <= took <= 2 + 0.2 * 2.2 + 0.5
    assert taken["spec"]["holderIdentity"] == "b" and taken["spec"]["leaseTransitions"] == 1


def test_a_clean_release_hands_over_at_once(cluster: Cluster, namespace: str) -> None:
    async def main() -> tuple[float, Obj, list[str]]:
        async with client(cluster) as api:
            changes: list[str] = []
            a = LeaderElector(api, election(namespace, f"a-{uuid.uuid4().hex[:6]}"))
            b = LeaderElector(api, election(namespace, "b"), on_new_leader=changes.append)
            async with running(a.run()) as task_a:
                await asyncio.wait_for(a.wait_until_leading(), 5)
                async with running(b.run()):
                    await asyncio.sleep(0.5)
                    assert not b.is_leader
                    task_a.cancel()  # a clean shutdown: the lease is released
                    await asyncio.gather(task_a, return_exceptions=True)
                    released = time.monotonic()
                    await asyncio.wait_for(b.wait_until_leading(), 5)
                    took = time.monotonic() - released
                    return took, await lease(api, namespace), changes

    took, taken, changes = run(main)
    assert took < 0.2 * 2.2 + 0.3  # one retry period, not the 2 s lease
    assert taken["spec"]["holderIdentity"] == "b" and taken["spec"]["leaseTransitions"] == 1
    # b saw a lead, the lease released, itself lead (and, at the end, its own release)
    assert changes[0].startswith("a-") and changes[1:] == ["", "b", ""]
