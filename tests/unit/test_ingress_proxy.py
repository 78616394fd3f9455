"""The IngressProxy over an in-memory store, with real HTTP on loopback: forwarding, status, classes.

The backends are this test's own aiohttp servers on 127.0.0.1, listed in hand-written
Endpoints of selector-less Services, so no kubelet is needed.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import gzip
import json
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.registry import Registry
from localcluster.proxy.ingress import INGRESS_CLASSES, TABLE, IngressProxy
from localcluster.store import Obj, Store

NS = "default"
HOST = "shop.example.com"


async def echo(name: str, request: web.Request) -> web.StreamResponse:
    """Answers with what it received, as JSON; ``/gzip`` answers a gzip body; ``/cookies`` sets two."""
    if request.path == "/gzip":
        return web.Response(body=gzip.compress(b"zipped"), headers={"Content-Encoding": "gzip"})
    if request.path == "/cookies":
        response = web.Response(text="ok")
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        return response
    body = await request.read()
    return web.json_response(
        {
            "name": name,
            "method": request.method,
            "path_qs": request.path_qs,
            "headers": {k: v for k, v in request.headers.items()},
            "body": body.decode(errors="replace"),
            "length": len(body),
        }
    )


@asynccontextmanager
async def backend(name: str) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", functools.partial(echo, name))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Harness:
    def __init__(self) -> None:
        self.store = Store(None)
        self.objects = Objects(self.store, Registry())
        self.objects.ensure_namespace(NS)
        self.proxy = IngressProxy(self.objects, rng=random.Random(5))

    def rt(self, group: str, plural: str) -> Any:
        return self.proxy.rt(group, "v1", plural)

    def put(self, group: str, plural: str, body: Obj) -> None:
        rt = self.rt(group, plural)
        namespace = NS if rt.namespaced else ""
        current = self.store.get(rt.key, namespace, body["metadata"]["name"])
        if current is None:
            self.objects.create(rt, namespace, body, WriteOptions(manager="test"))
        else:
            updated = copy.deepcopy(body)
            updated["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.objects.update(
                rt, namespace, body["metadata"]["name"], updated, WriteOptions(manager="test")
            )

    def service(self, name: str, *ports: int) -> None:
        self.put(
            "", "services", {"metadata": {"name": name}, "spec": {"ports": [{"name": "http", "port": 80}]}}
        )
        subsets = [
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": p}]} for p in ports
        ]
        self.put("", "endpoints", {"metadata": {"name": name}, "subsets": subsets})

    def ingress(
        self, name: str, service: str, *, annotations: dict[str, str] | None = None, **spec: Any
    ) -> None:
        path = {
            "path": "/",
            "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": {"number": 80}}},
        }
        body = {
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {
                "ingressClassName": "nginx",
                "rules": [{"host": HOST, "http": {"paths": [path]}}],
                **spec,
            },
        }
        self.put("networking.k8s.io", "ingresses", body)

    def status(self, name: str) -> Any:
        ing = self.store.get("networking.k8s.io/ingresses", NS, name) or {}
        return (ing.get("status") or {}).get("loadBalancer")

    async def sync(self) -> None:
        await self.proxy.reconcile(TABLE)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.proxy.port}{path}"


def run(body: Callable[[Harness, aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        h = Harness()
        await h.proxy.listen(0)
        await h.proxy.start()
        try:
            async with aiohttp.ClientSession(auto_decompress=False) as client:
                await body(h, client)
        finally:
            await h.proxy.close()

    asyncio.run(main())


async def get(client: aiohttp.ClientSession, h: Harness, path: str = "/", **headers: str) -> tuple[int, Any]:
    async with client.get(h.url(path), headers={"Host": HOST, **headers}) as resp:
        text = await resp.text()
        return resp.status, (json.loads(text) if resp.content_type == "application/json" else text)


def test_the_nginx_ingress_class_is_created_once_and_an_existing_one_is_kept() -> None:
    async def body(h: Harness, client: aiohttp.ClientSession) -> None:
        klass = h.store.get(INGRESS_CLASSES, "", "nginx")
        assert klass is not None
        assert klass["spec"]["controller"] == "k8s.io/ingress-nginx"
        h.put(
            "networking.k8s.io", "ingressclasses", {**klass, "metadata": {**klass["metadata"], "labels": {}}}
        )
        await h.proxy.start()  # a second start (a restart) leaves the user's version alone
        assert (h.store.get(INGRESS_CLASSES, "", "nginx") or {})["metadata"].get("labels") in (None, {})

    run(body)


def test_forwarding_passes_the_request_and_adds_nginx_headers() -> None:
    async def body(h: Harness, client: aiohttp.ClientSession) -> None:
        async with backend("echo") as port:
            h.service("echo", port)
            h.ingress("web", "echo")
            await h.sync()
            headers = {
                "Host": f"{HOST}:8080",
                "X-Forwarded-For": "203.0.113.9",
                "Connection": "keep-alive, X-Hop",
                "X-Hop": "dropped",
                "X-Custom": "kept",
            }
            async with client.post(h.url("/a%20b/c?q=1&q=2"), data=b"x" * 70_000, headers=headers) as resp:
                assert resp.status == 200
                seen = await resp.json()
            assert seen["method"] == "POST"
            assert seen["path_qs"] == "/a%20b/c?q=1&q=2"
            assert seen["length"] == 70_000
            assert seen["headers"]["Content-Length"] == "70000"  # not re-chunked
            assert "Transfer-Encoding" not in seen["headers"]
            sent = seen["headers"]
            assert sent["Host"] == f"{HOST}:8080"
            assert sent["X-Forwarded-Host"] == f"{HOST}:8080"
            assert sent["X-Real-IP"] == "127.0.0.1"
            assert sent["X-Forwarded-For"] == "127.0.0.1"
            assert sent["X-Original-Forwarded-For"] == "203.0.113.9"
            assert sent["X-Forwarded-Proto"] == "http"
            assert sent["X-Forwarded-Port"] == str(h.proxy.port)
            assert len(sent["X-Request-ID"]) == 32
            assert sent["X-Custom"] == "kept"
            assert "X-Hop" not in sent

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(3):
                    yield b"chunk"

            async with client.put(h.url("/up"), data=chunks(), headers={"Host": HOST}) as resp:
                assert (await resp.json())["body"] == "chunkchunkchunk"

    run(body)


def test_responses_pass_through_unchanged() -> None:
    async def body(h: Harness, client: aiohttp.ClientSession) -> None:
        async with backend("echo") as port:
            h.service("echo", port)
            h.ingress("web", "echo")
            await h.sync()
            async with client.get(h.url("/gzip"), headers={"Host": HOST}) as resp:
                assert resp.headers["Content-Encoding"] == "gzip"
                assert gzip.decompress(await resp.read()) == b"zipped"
            async with client.get(h.url("/cookies"), headers={"Host": HOST}) as resp:
                assert resp.headers.getall("Set-Cookie") == ["a=1", "b=2"]

    run(body)


def test_404_503_and_a_failed_endpoint_retried_on_the_next() -> None:
    async def body(h: Harness, client: aiohttp.ClientSession) -> None:
        async with backend("live") as port:
            assert (await get(client, h))[0] == 404  # nothing served yet
            h.service("web")  # no endpoints
            h.ingress("web", "web")
            await h.sync()
            assert (await get(client, h))[0] == 503
            h.service("web", unused_port(), port)  # one refuses connections, one answers
            await h.proxy.reconcile("backends")
            answers = [await get(client, h) for _ in range(6)]
            assert [status for status, _ in answers] == [200] * 6
            h.service("web", unused_port())
            await h.proxy.reconcile("backends")
            assert (await get(client, h))[0] == 502
            h.service("web", port)
            await h.proxy.reconcile("backends")
            assert (await get(client, h, "/x", Host="other.example.com"))[0] == 404

    run(body)


def test_canary_by_header_and_weight_through_the_proxy() -> None:
    async def body(h: Harness, client: aiohttp.ClientSession) -> None:
        async with backend("stable") as stable_port, backend("canary") as canary_port:
            h.service("stable", stable_port)
            h.service("canary", canary_port)
            h.ingress("stable", "stable")
            prefix = "nginx.ingress.kubernetes.io/"
            h.ingress(
                "canary",
                "canary",
                annotations={
                    prefix + "canary": "true",
                    prefix + "canary-weight": "20",
                    prefix + "canary-by-header": "X-Canary",
                },
            )
            await h.sync()
            names = [(await get(client, h))[1]["name"] for _ in range(400)]
            assert 40 <= names.count("canary") <= 120, names.count("canary")  # 20% of 400, +- 5 sigma
            assert {(await get(client, h, **{"X-Canary": "always"}))[1]["name"] for _ in range(20)} == {
                "canary"
            }
            assert {(await get(client, h, **{"X-Canary": "never"}))[1]["name"] for _ in range(20)} == {
                "stable"
            }
            # a canary without endpoints is skipped, as ingress-nginx skips an upstream without peers
            h.service("canary")
            await h.proxy.reconcile("backends")
            assert {(await get(client, h, **{"X-Canary": "always"}))[1]["name"] for _ in range(5)} == {
                "stable"
            }

    run(body)


def test_status_shows_the_address_while_served_and_loses_it_after() -> None:
    async def body(h: Harness, client: aiohttp.ClientSession) -> None:
        h.service("web")
        h.ingress("web", "web")
        await h.sync()
        wanted = {"ingress": [{"ip": "127.0.0.1", "ports": [{"port": h.proxy.port, "protocol": "TCP"}]}]}
        assert h.status("web") == wanted
        generation = (h.store.get("networking.k8s.io/ingresses", NS, "web") or {})["metadata"]["generation"]
        await h.sync()  # nothing changed: nothing written
        assert h.status("web") == wanted
        h.ingress("web", "web", ingressClassName="traefik")
        await h.sync()
        assert h.status("web") == {}
        ing = h.store.get("networking.k8s.io/ingresses", NS, "web") or {}
        assert ing["metadata"]["generation"] == generation + 1  # the spec change, not the status writes

    run(body)
