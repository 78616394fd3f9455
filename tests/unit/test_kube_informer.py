"""The informer's cache and handlers, driven by a scripted list/watch client (no server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from controller.kube import Backoff, Expired, Informer, Unreachable, WatchEvent

Obj = dict[str, Any]


def cm(name: str, rv: str, **labels: str) -> Obj:
    meta: Obj = {"name": name, "namespace": "ns", "resourceVersion": rv}
    if labels:
        meta["labels"] = labels
    return {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta}


def page(rv: str, *items: Obj, cont: str = "") -> Obj:
    meta = {"resourceVersion": rv, **({"continue": cont} if cont else {})}
    # items of a real list carry no kind/apiVersion
    bare = [{k: v for k, v in i.items() if k not in ("kind", "apiVersion")} for i in items]
    return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta, "items": bare}


Step = WatchEvent | BaseException


@dataclass
class FakeApi:
    """Answers lists from ``pages`` and watches from ``streams``, in order; records the calls."""

    pages: list[Obj] = field(default_factory=list)
    streams: list[list[Step]] = field(default_factory=list)
    list_calls: list[dict[str, Any]] = field(default_factory=list)
    watch_calls: list[dict[str, Any]] = field(default_factory=list)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    async def list(self, path: str, **kwargs: Any) -> dict[str, Any]:
        self.list_calls.append({"path": path, **kwargs})
        return self.pages.pop(0)

    async def watch(self, path: str, **kwargs: Any) -> AsyncGenerator[WatchEvent, None]:
        self.watch_calls.append({"path": path, **kwargs})
        if not self.streams:
            self.idle.set()
            await asyncio.Event().wait()  # a quiet watch: blocks until cancelled
        for step in self.streams.pop(0):
            if isinstance(step, BaseException):
                raise step
            yield step


@dataclass
class Recorder:
    events: list[tuple[str, str, str]] = field(default_factory=list)

    def attach(self, informer: Informer) -> None:
        informer.add_handler(
            on_add=lambda o: self.events.append(("add", o["metadata"]["name"], rv(o))),
            on_update=lambda old, new: self.events.append(
                ("update", new["metadata"]["name"], f"{rv(old)}>{rv(new)}")
            ),
            on_delete=lambda o: self.events.append(("delete", o["metadata"]["name"], rv(o))),
        )


def rv(obj: Obj) -> str:
    return str(obj["metadata"].get("resourceVersion", ""))


def informer_for(api: FakeApi, **kwargs: Any) -> Informer:
    return Informer(
        api, "v1", "configmaps", namespace="ns", backoff=Backoff(initial=0.001, cap=0.01), **kwargs
    )


def run_until_idle(
    api: FakeApi, informer: Informer, then: Callable[[], Coroutine[Any, Any, None]] | None = None
) -> None:
    """Run the informer until it sits in a quiet watch, then stop it."""

    async def main() -> None:
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(api.idle.wait(), 5)
        if then is not None:
            await then()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def test_list_then_watch_keeps_the_cache_and_calls_handlers() -> None:
    api = FakeApi(
        pages=[page("10", cm("a", "5"), cm("b", "6"))],
        streams=[
            [
                WatchEvent("ADDED", cm("c", "11")),
                WatchEvent("MODIFIED", cm("a", "12")),
                WatchEvent("DELETED", cm("b", "13")),
                WatchEvent("BOOKMARK", {"kind": "ConfigMap", "metadata": {"resourceVersion": "20"}}),
                WatchEvent("DELETED", cm("never-seen", "21")),
            ]
        ],
    )
    informer = informer_for(api, label_selector="app=web")
    seen = Recorder()
    seen.attach(informer)
    assert not informer.has_synced
    run_until_idle(api, informer)
    assert informer.has_synced
    assert seen.events == [
        ("add", "a", "5"),
        ("add", "b", "6"),
        ("add", "c", "11"),
        ("update", "a", "5>12"),
        ("delete", "b", "13"),
    ]
    assert informer.keys() == ["ns/a", "ns/c"]
    assert informer.get("ns/a") == cm("a", "12")
    assert "ns/b" not in informer and len(informer) == 2
    # the list's items had kind/apiVersion filled in
    assert informer.get("ns/c") is not None and informer.objects()[0]["kind"] == "ConfigMap"
    # watched from the list's version; re-watched from the last event's (the stream had ended)
    assert [c["resource_version"] for c in api.watch_calls] == ["10", "21"]
    assert informer.resource_version == "21"
    assert api.list_calls[0]["path"] == "/api/v1/namespaces/ns/configmaps"
    assert api.list_calls[0]["label_selector"] == "app=web"
    assert api.watch_calls[0]["label_selector"] == "app=web" and api.watch_calls[0]["allow_bookmarks"]


def test_a_bookmark_moves_the_resource_version_without_handlers() -> None:
    api = FakeApi(
        pages=[page("10")],
        streams=[[WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "42"}})]],
    )
    informer = informer_for(api)
    seen = Recorder()
    seen.attach(informer)
    run_until_idle(api, informer)
    assert seen.events == []
    assert [c["resource_version"] for c in api.watch_calls] == ["10", "42"]


def test_410_relists_and_reports_what_changed_while_away() -> None:
    api = FakeApi(
        pages=[
            page("10", cm("keep", "1"), cm("change", "2"), cm("vanish", "3")),
            page("50", cm("keep", "1"), cm("change", "40"), cm("new", "45")),
        ],
        streams=[[Expired(410, "Expired", "too old resource version: 10 (30)")]],
    )
    informer = informer_for(api)
    seen = Recorder()
    seen.attach(informer)
    run_until_idle(api, informer)
    assert informer.lists == 2
    assert seen.events[3:] == [
        ("delete", "vanish", "3"),  # the last copy we had
        ("update", "change", "2>40"),
        ("add", "new", "45"),
    ]
    assert informer.keys() == ["ns/change", "ns/keep", "ns/new"]
    assert [c["resource_version"] for c in api.watch_calls] == ["10", "50"]


def test_an_unreachable_server_rewatches_from_the_same_version_without_relisting() -> None:
    api = FakeApi(
        pages=[page("10", cm("a", "5"))],
        streams=[
            [WatchEvent("MODIFIED", cm("a", "11")), Unreachable("https://x", "connection reset")],
            [Unreachable("https://x", "connection refused")],
        ],
    )
    informer = informer_for(api)
    run_until_idle(api, informer)
    assert informer.lists == 1
    assert [c["resource_version"] for c in api.watch_calls] == ["10", "11", "11"]
    assert informer.get("ns/a") == cm("a", "11")


def test_lists_follow_continue_tokens() -> None:
    api = FakeApi(pages=[page("7", cm("a", "1"), cont="tok"), page("7", cm("b", "2"))])
    informer = informer_for(api, page_size=1)
    run_until_idle(api, informer)
    assert informer.keys() == ["ns/a", "ns/b"]
    assert [(c["limit"], c["continue_token"]) for c in api.list_calls] == [(1, None), (1, "tok")]


def test_a_failing_handler_does_not_stop_the_informer_or_other_handlers() -> None:
    api = FakeApi(pages=[page("10", cm("a", "1"))], streams=[[WatchEvent("ADDED", cm("b", "11"))]])
    informer = informer_for(api)

    def broken(obj: Obj) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(on_add=broken)
    seen = Recorder()
    seen.attach(informer)
    run_until_idle(api, informer)
    assert [e[1] for e in seen.events] == ["a", "b"]


def test_indices_follow_changes() -> None:
    api = FakeApi(
        pages=[page("10", cm("a", "1", app="web"), cm("b", "2", app="web"), cm("c", "3", app="db"))],
        streams=[
            [WatchEvent("MODIFIED", cm("b", "11", app="db")), WatchEvent("DELETED", cm("c", "12", app="db"))]
        ],
    )
    informer = informer_for(api)
    informer.add_index("app", lambda o: [o["metadata"].get("labels", {}).get("app", "")])
    run_until_idle(api, informer)
    assert [o["metadata"]["name"] for o in informer.by_index("app", "web")] == ["a"]
    assert [o["metadata"]["name"] for o in informer.by_index("app", "db")] == ["b"]
    assert informer.by_index("app", "none") == []


def test_a_handler_added_after_sync_is_told_about_cached_objects() -> None:
    api = FakeApi(pages=[page("10", cm("a", "1"))])
    informer = informer_for(api)
    seen = Recorder()

    async def later() -> None:
        seen.attach(informer)

    run_until_idle(api, informer, later)
    assert seen.events == [("add", "a", "1")]


def test_resync_sends_every_cached_object_as_an_update() -> None:
    api = FakeApi(pages=[page("10", cm("a", "1"))])
    informer = informer_for(api, resync_period=0.02)
    seen = Recorder()
    seen.attach(informer)

    async def wait() -> None:
        await asyncio.sleep(0.1)

    run_until_idle(api, informer, wait)
    resyncs = [e for e in seen.events if e[0] == "update"]
    assert resyncs and set(resyncs) == {("update", "a", "1>1")}


def test_wait_synced_returns_after_the_first_list() -> None:
    api = FakeApi(pages=[page("3", cm("a", "1"))])
    informer = informer_for(api)

    async def main() -> int:
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(informer.wait_synced(), 5)
        size = len(informer)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return size

    assert asyncio.run(main()) == 1
