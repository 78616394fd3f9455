"""The API client's verbs, watch framing, retries and request counts, against a scripted HTTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from controller.kube import (
    ApiClient,
    ApiError,
    Expired,
    KubeConfig,
    NotFound,
    RetryPolicy,
    TooManyRequests,
    WatchEvent,
    resource_path,
)

CM = "/api/v1/namespaces/ns/configmaps"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Script:
    """Replies to send, in order, per (method, path); every request is recorded."""

    replies: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.replies.setdefault((method, path), []).extend(replies)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                request.headers.get("Content-Type", ""),
                json.loads(raw) if raw else None,
            )
        )
        queue = self.replies.get((request.method, request.path)) or []
        if not queue:
            return status(404, "NotFound", "no reply scripted")
        return await (queue.pop(0) if len(queue) > 1 else queue[0])(request)


def status(code: int, reason: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message}
    return web.json_response({**body, "code": code}, status=code, headers=headers)


def ok(body: Any = None) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.json_response(body if body is not None else {"kind": "ConfigMap"})

    return reply


def fail(code: int, reason: str = "", *, retry_after: str | None = None) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        return status(code, reason or f"E{code}", f"scripted {code}", headers)

    return reply


def stream(*chunks: bytes) -> Reply:
    """A chunked watch response sending ``chunks`` as separate writes."""

    async def reply(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for chunk in chunks:
            await resp.write(chunk)
            await asyncio.sleep(0.01)
        await resp.write_eof()
        return resp

    return reply


def line(etype: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": etype, "object": obj}).encode() + b"\n"


def cm(name: str, rv: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


@asynccontextmanager
async def serving(script: Script, **client_args: Any) -> AsyncIterator[ApiClient]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client_args.setdefault("retry", RetryPolicy(backoff_initial=0.001, backoff_cap=0.01))
    try:
        async with ApiClient(KubeConfig(server=f"http://127.0.0.1:{port}", token="t"), **client_args) as api:
            yield api
    finally:
        await runner.cleanup()


def run(script: Script, fn: Callable[[ApiClient], Awaitable[Any]], **client_args: Any) -> Any:
    async def main() -> Any:
        async with serving(script, **client_args) as api:
            return await fn(api)

    return asyncio.run(main())


# -- paths and verbs -------------------------------------------------------------------------------


def test_resource_path_for_core_and_group_kinds() -> None:
    assert resource_path("v1", "configmaps") == "/api/v1/configmaps"
    assert resource_path("v1", "configmaps", namespace="ns", name="a") == f"{CM}/a"
    assert (
        resource_path("argoproj.io/v1alpha1", "rollouts", namespace="ns", name="r", subresource="status")
        == "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/r/status"
    )


def test_list_sends_selectors_version_and_paging() -> None:
    script = Script()
    script.on("GET", CM, ok({"kind": "ConfigMapList", "metadata": {"resourceVersion": "9"}, "items": []}))

    async def calls(api: ApiClient) -> dict[str, Any]:
        await api.list(CM)
        return await api.list(
            CM,
            label_selector="app=web",
            field_selector="metadata.name=a",
            resource_version="0",
            limit=50,
            continue_token="next",
        )

    out = run(script, calls)
    assert out["metadata"]["resourceVersion"] == "9"
    assert script.seen[0].query == {}
    assert script.seen[1].query == {
        "labelSelector": "app=web",
        "fieldSelector": "metadata.name=a",
        "resourceVersion": "0",
        "limit": "50",
        "continue": "next",
    }


def test_writes_send_the_right_content_types_and_options() -> None:
    script = Script()
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        script.on(method, CM, ok())
        script.on(method, f"{CM}/a", ok())
        script.on(method, f"{CM}/a/status", ok())

    async def calls(api: ApiClient) -> None:
        await api.create(CM, cm("a", ""), field_manager="rollouts")
        await api.replace(f"{CM}/a", cm("a", "5"))
        await api.patch(f"{CM}/a", {"data": {"k": "v"}})
        await api.patch(f"{CM}/a", [{"op": "add", "path": "/data/k", "value": "v"}], patch_type="json")
        await api.patch(f"{CM}/a", {"data": {"k": "v"}}, patch_type="strategic")
        await api.patch(f"{CM}/a", cm("a", ""), patch_type="apply", field_manager="rollouts", force=True)
        await api.patch_status(f"{CM}/a", {"status": {"phase": "Healthy"}})
        await api.delete(f"{CM}/a", propagation="Foreground")
        await api.delete(f"{CM}/a")

    run(script, calls)
    got = [(s.method, s.path, s.content_type, s.query) for s in script.seen]
    assert got == [
        ("POST", CM, "application/json", {"fieldManager": "rollouts"}),
        ("PUT", f"{CM}/a", "application/json", {}),
        ("PATCH", f"{CM}/a", "application/merge-patch+json", {}),
        ("PATCH", f"{CM}/a", "application/json-patch+json", {}),
        ("PATCH", f"{CM}/a", "application/strategic-merge-patch+json", {}),
        ("PATCH", f"{CM}/a", "application/apply-patch+yaml", {"fieldManager": "rollouts", "force": "true"}),
        ("PATCH", f"{CM}/a/status", "application/merge-patch+json", {}),
        ("DELETE", f"{CM}/a", "application/json", {}),
        ("DELETE", f"{CM}/a", "", {}),
    ]
    assert script.seen[3].body == [{"op": "add", "path": "/data/k", "value": "v"}]
    assert script.seen[7].body["propagationPolicy"] == "Foreground"
    assert script.seen[8].body is None


def test_patch_arguments_are_checked_before_sending() -> None:
    script = Script()

    async def calls(api: ApiClient) -> None:
        with pytest.raises(ValueError, match="field_manager"):
            await api.patch(f"{CM}/a", {}, patch_type="apply")
        with pytest.raises(ValueError, match="force"):
            await api.patch(f"{CM}/a", {}, force=True)
        with pytest.raises(ValueError, match="unknown patch type"):
            await api.patch(f"{CM}/a", {}, patch_type="xml")  # type: ignore[arg-type]

    run(script, calls)
    assert script.seen == []


# -- watch -----------------------------------------------------------------------------------------


def test_watch_splits_lines_across_chunks_and_surfaces_bookmarks() -> None:
    events = line("ADDED", cm("a", "11")) + line("MODIFIED", cm("a", "12"))
    bookmark = line("BOOKMARK", {"kind": "ConfigMap", "metadata": {"resourceVersion": "15"}})
    script = Script()
    # cut the bytes mid-line, and send the last event without a trailing newline
    script.on(
        "GET",
        CM,
        stream(events[:30], events[30:70], events[70:] + bookmark, line("DELETED", cm("a", "16"))[:-1]),
    )

    async def calls(api: ApiClient) -> list[WatchEvent]:
        return [
            e async for e in api.watch(CM, resource_version="10", timeout_seconds=5, label_selector="x=y")
        ]

    got = run(script, calls)
    assert [(e.type, e.resource_version) for e in got] == [
        ("ADDED", "11"),
        ("MODIFIED", "12"),
        ("BOOKMARK", "15"),
        ("DELETED", "16"),
    ]
    assert script.seen[0].query == {
        "watch": "true",
        "resourceVersion": "10",
        "timeoutSeconds": "5",
        "allowWatchBookmarks": "true",
        "labelSelector": "x=y",
    }


def test_watch_error_events_raise_typed_errors_after_earlier_events() -> None:
    expired = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version: 1"}
    script = Script()
    script.on("GET", CM, stream(line("ADDED", cm("a", "2")), line("ERROR", expired)))
    script.on("GET", "/api/v1/namespaces/ns/secrets", stream(line("ERROR", {"code": 500, "message": "etcd"})))

    async def calls(api: ApiClient) -> tuple[list[str], BaseException, BaseException]:
        seen: list[str] = []

        async def follow(path: str, rv: str | None, bookmarks: bool) -> None:
            async for event in api.watch(
                path, resource_version=rv, timeout_seconds=5, allow_bookmarks=bookmarks
            ):
                seen.append(event.type)

        with pytest.raises(Expired) as gone:
            await follow(CM, "1", False)
        with pytest.raises(ApiError) as other:
            await follow("/api/v1/namespaces/ns/secrets", None, True)
        return seen, gone.value, other.value

    seen, gone, other = run(script, calls)
    assert seen == ["ADDED"]
    assert isinstance(gone, Expired) and gone.code == 410 and "too old" in str(gone)
    assert type(other) is ApiError and other.code == 500
    assert "allowWatchBookmarks" not in script.seen[0].query
    assert "resourceVersion" not in script.seen[1].query


def test_a_watch_closed_early_releases_its_connection() -> None:
    script = Script()
    script.on("GET", CM, stream(*(line("ADDED", cm(f"o{i}", str(i))) for i in range(50))))

    async def calls(api: ApiClient) -> list[str]:
        names = []
        async with aclosing(api.watch(CM, resource_version=None, timeout_seconds=5)) as events:
            async for event in events:
                names.append(event.object["metadata"]["name"])
                if len(names) == 2:
                    break
        # the client is still usable
        await api.watch(CM, resource_version=None, timeout_seconds=5).aclose()
        return names

    assert run(script, calls) == ["o0", "o1"]


# -- retries and counts ----------------------------------------------------------------------------


def test_429_is_retried_for_any_verb_honouring_retry_after() -> None:
    script = Script()
    script.on("POST", CM, fail(429, "TooManyRequests", retry_after="0"), ok({"kind": "ConfigMap"}))
    observed: list[tuple[str, str]] = []

    async def calls(api: ApiClient) -> dict[str, Any]:
        return await api.create(CM, cm("a", ""))

    out = run(script, calls, on_request=lambda m, c, s: observed.append((m, c)))
    assert out == {"kind": "ConfigMap"}
    assert observed == [("POST", "429"), ("POST", "200")]


def test_5xx_is_retried_for_idempotent_verbs_only() -> None:
    script = Script()
    script.on("GET", f"{CM}/a", fail(503), fail(504), ok())
    script.on("PATCH", f"{CM}/a", fail(503), ok())
    script.on("GET", f"{CM}/plain500", fail(500), ok())
    script.on("GET", f"{CM}/hinted500", fail(500, retry_after="0"), ok())

    async def calls(api: ApiClient) -> ApiClient:
        await api.get(f"{CM}/a")
        with pytest.raises(ApiError) as patched:
            await api.patch(f"{CM}/a", {"data": {}})
        assert patched.value.code == 503
        with pytest.raises(ApiError) as plain:
            await api.get(f"{CM}/plain500")
        assert plain.value.code == 500
        await api.get(f"{CM}/hinted500")
        return api

    api = run(script, calls)
    assert [(s.method, s.path.rsplit("/", 1)[1]) for s in script.seen] == [
        ("GET", "a"),
        ("GET", "a"),
        ("GET", "a"),
        ("PATCH", "a"),
        ("GET", "plain500"),
        ("GET", "hinted500"),
        ("GET", "hinted500"),
    ]
    assert api.requests == {
        ("GET", "503"): 1,
        ("GET", "504"): 1,
        ("GET", "200"): 2,
        ("PATCH", "503"): 1,
        ("GET", "500"): 2,
    }


def test_retries_give_up_after_max_retries_with_the_last_error() -> None:
    script = Script()
    script.on("GET", f"{CM}/a", fail(429, "TooManyRequests"))
    policy = RetryPolicy(max_retries=2, backoff_initial=0.001)

    async def calls(api: ApiClient) -> None:
        await api.get(f"{CM}/a")

    with pytest.raises(TooManyRequests):
        run(script, calls, retry=policy)
    assert len(script.seen) == 3


def test_unreachable_and_not_found_are_counted() -> None:
    script = Script()

    async def calls(api: ApiClient) -> ApiClient:
        with pytest.raises(NotFound):
            await api.get(f"{CM}/missing")
        return api

    api = run(script, calls)
    assert api.requests == {("GET", "404"): 1}


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(
        max_retries=3, backoff_initial=0.2, backoff_cap=5.0, max_retry_after=30, rng=lambda: 0.5
    )
    assert policy.delay("GET", 503, None, 0) == pytest.approx(0.15)  # 0.2 halved plus half-jitter
    assert policy.delay("GET", 503, None, 2) == pytest.approx(0.6)
    assert policy.delay("GET", 503, None, 3) is None  # out of retries
    assert policy.delay("POST", 429, "2", 0) == pytest.approx(2.2)
    assert policy.delay("POST", 429, "600", 0) == pytest.approx(33.0)  # capped, then jittered
    assert policy.delay("POST", 503, "1", 0) is None
    assert policy.delay("DELETE", 502, None, 0) is not None
    assert policy.delay("GET", 404, None, 0) is None
    assert policy.delay("GET", 500, "Wed, 21 Oct 2015 07:28:00 GMT", 0) == pytest.approx(0.0)
