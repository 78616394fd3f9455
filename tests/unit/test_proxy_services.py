"""The ServiceProxy controller over an in-memory store: listeners and status as Services change."""

from __future__ import annotations

import asyncio
import copy
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.registry import Registry
from localcluster.proxy.services import LOAD_BALANCER_INGRESS, ServiceProxy
from localcluster.store import Obj, Store

NS = "default"


def free_cluster_ip() -> str:
    """A loopback address no other test or server listens on (127.98/16 is not the service range)."""
    return f"127.98.{random.randrange(1, 255)}.{random.randrange(1, 255)}"


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


class Harness:
    def __init__(self) -> None:
        self.store = Store(None)
        self.objects = Objects(self.store, Registry())
        self.objects.ensure_namespace(NS)
        self.proxy = ServiceProxy(self.objects)
        self.services = self.proxy.rt("", "v1", "services")

    async def service(self, **spec: Any) -> Obj:
        body = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, **spec}}
        current = self.store.get("/services", NS, "web")
        if current is None:
            self.objects.create(self.services, NS, body, WriteOptions(manager="test"))
        else:
            updated = copy.deepcopy(current)
            updated["spec"].update(spec)
            self.objects.update(self.services, NS, "web", updated, WriteOptions(manager="test"))
        return await self.reconcile()

    async def reconcile(self) -> Obj:
        await self.proxy.reconcile(f"{NS}/web")
        return self.store.get("/services", NS, "web") or {}


def run(fn: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        await fn()
        await asyncio.sleep(0.01)

    asyncio.run(main())


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_listeners_follow_port_changes_and_service_deletion() -> None:
    async def body() -> None:
        h = Harness()
        ip = free_cluster_ip()
        await h.service(clusterIP=ip, ports=[{"name": "http", "port": 8080, "protocol": "TCP"}])
        assert not refused(ip, 8080)
        await h.service(ports=[{"name": "http", "port": 8081, "protocol": "TCP"}])
        assert refused(ip, 8080)
        assert not refused(ip, 8081)
        h.objects.delete(h.services, NS, "web")
        await h.reconcile()
        assert refused(ip, 8081)
        await h.proxy.stop()

    run(body)


def test_udp_ports_are_not_proxied() -> None:
    async def body() -> None:
        h = Harness()
        ip = free_cluster_ip()
        await h.service(clusterIP=ip, ports=[{"name": "dns", "port": 5353, "protocol": "UDP"}])
        assert refused(ip, 5353)
        await h.proxy.stop()

    run(body)


def test_load_balancer_status_is_set_and_cleared_with_the_type() -> None:
    async def body() -> None:
        h = Harness()
        ip = free_cluster_ip()
        port = unused_port()
        svc = await h.service(clusterIP=ip, type="LoadBalancer", ports=[{"port": port, "protocol": "TCP"}])
        assert svc["status"]["loadBalancer"] == {"ingress": LOAD_BALANCER_INGRESS}
        assert not refused("127.0.0.1", port)  # served on its load-balancer address
        managers = {m["manager"]: m.get("subresource") for m in svc["metadata"]["managedFields"]}
        assert managers["service-proxy"] == "status"
        rv = svc["metadata"]["resourceVersion"]
        assert (await h.reconcile())["metadata"]["resourceVersion"] == rv  # written only when it changes

        svc = await h.service(type="ClusterIP")
        assert svc["status"]["loadBalancer"] == {}
        assert all(not p.get("nodePort") for p in svc["spec"]["ports"])
        assert refused("127.0.0.1", port)  # the load-balancer address is no longer served
        await h.proxy.stop()

    run(body)


def test_stop_closes_every_listener() -> None:
    async def body() -> None:
        h = Harness()
        ip = free_cluster_ip()
        await h.service(clusterIP=ip, ports=[{"port": 8080, "protocol": "TCP"}])
        assert not refused(ip, 8080)
        await h.proxy.stop()
        assert refused(ip, 8080)

    run(body)
