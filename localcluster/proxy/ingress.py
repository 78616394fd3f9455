"""IngressProxy: ingress-nginx for localcluster, one HTTP port on 127.0.0.1.

It serves the ``networking.k8s.io/v1`` Ingresses of the class ``nginx`` (see
:func:`localcluster.proxy.ingress_rules.is_served`) on one port of ``127.0.0.1`` — chosen by
the server (``--ingress-port``, else the previous run's, else any free one) and written into
``server.json`` and into each served Ingress's ``status.loadBalancer.ingress`` (``ip:
127.0.0.1`` and the port), so ``kubectl get ingress`` shows the ADDRESS. At start it creates
the IngressClass ``nginx`` (controller ``k8s.io/ingress-nginx``) when there is none, so that
manifests written for ingress-nginx apply unchanged.

Each request is routed by host and path (:mod:`.ingress_rules`), then, when the backend has a
canary Ingress, sent to the canary or not by ingress-nginx's header / cookie / weight rules,
then to the next ready endpoint of the chosen Service port in turn (:mod:`.ingress_backends`;
the endpoints directly, not the cluster IP, as ingress-nginx does), and forwarded
(:mod:`.ingress_http`). No path: 404. A backend with no ready endpoint: 503 (a canary with
none is skipped, as ingress-nginx skips a canary upstream without endpoints).

The proxy follows Ingresses, IngressClasses, and the Services and Endpoints its backends
name; a change is in effect for the next request.
"""

from __future__ import annotations

import copy
import logging
import random
import socket
from typing import TYPE_CHECKING, Any

from aiohttp import web

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import WriteOptions
from localcluster.controllers.base import Controller
from localcluster.proxy.balancer import NODE_IP
from localcluster.proxy.ingress_backends import RoundRobin, backend_endpoints
from localcluster.proxy.ingress_http import Forwarder, error_response
from localcluster.proxy.ingress_rules import (
    CLASS_NAME,
    CONTROLLER,
    BackendRef,
    RouteTable,
    build_table,
    ingress_key,
    is_served,
    request_host,
    routes_to_canary,
)
from localcluster.store import Event, Obj

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects

log = logging.getLogger("localcluster.proxy")

MANAGER = "ingress-nginx"
INGRESSES = "networking.k8s.io/ingresses"
INGRESS_CLASSES = "networking.k8s.io/ingressclasses"
#: Work keys: rebuild the route table (Ingresses, classes), or re-read the backends' endpoints.
TABLE = "table"
BACKENDS = "backends"
#: nginx's keep-alive timeout for client connections.
CLIENT_KEEPALIVE = 75.0
#: Seconds before a failed status write is tried again.
RETRY_STATUS = 1.0


def load_balancer_status(host: str, port: int) -> list[dict[str, Any]]:
    """What a served Ingress's ``status.loadBalancer.ingress`` says: this proxy's address and port."""
    return [{"ip": host, "ports": [{"port": port, "protocol": "TCP"}]}]


def default_ingress_class() -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {
            "name": CLASS_NAME,
            "labels": {
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/component": "controller",
                "app.kubernetes.io/managed-by": "localcluster",
            },
        },
        "spec": {"controller": CONTROLLER},
    }


def _is_ours(current: Any, host: str) -> bool:
    """An address this proxy wrote (on any port): one entry, our IP, with ports."""
    return (
        isinstance(current, list)
        and len(current) == 1
        and isinstance(current[0], dict)
        and current[0].get("ip") == host
        and "ports" in current[0]
    )


class IngressProxy(Controller):
    """Serves the Ingresses of the class ``nginx`` on one HTTP port of 127.0.0.1."""

    name = "ingress-proxy"
    watches = (INGRESSES, INGRESS_CLASSES, "/services", "/endpoints")

    def __init__(
        self,
        objects: Objects,
        *,
        host: str = NODE_IP,
        rng: random.Random | None = None,
        forwarder: Forwarder | None = None,
    ) -> None:
        super().__init__(objects)
        self.host = host
        self.port = 0
        self.rng = rng or random.Random()
        self.table = RouteTable()
        self.forwarder = forwarder or Forwarder()
        self._balancers: dict[BackendRef, RoundRobin] = {}
        #: (namespace, name) of the Services the table's backends name
        self._services: set[tuple[str, str]] = set()
        self._runner: web.ServerRunner | None = None

    # -- listening -----------------------------------------------------------------------

    async def listen(self, port: int = 0) -> int:
        """Start serving HTTP on ``host:port`` (0: any free port); returns the port bound.

        Raises OSError, naming the address, when it cannot be bound.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
        except OSError as e:
            sock.close()
            raise OSError(
                e.errno, f"cannot listen for Ingress traffic on {self.host}:{port}: {e.strerror}"
            ) from e
        self.port = int(sock.getsockname()[1])
        server = web.Server(
            self.handle, access_log=None, keepalive_timeout=CLIENT_KEEPALIVE, auto_decompress=False
        )
        self._runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, backlog=1024).start()
        log.info("ingress: serving class %s on http://%s:%d", CLASS_NAME, self.host, self.port)
        return self.port

    async def close(self) -> None:
        """Stop listening and close the connections to endpoints (safe to call twice)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.forwarder.close()

    async def stop(self) -> None:
        await self.close()

    # -- requests ------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        route = self.table.route(request_host(request.headers.get("Host")), request.path)
        if route.backend is None:
            return error_response(404)
        chosen = self._balancers.get(route.backend)
        if not chosen:
            return error_response(503)
        canary = self.table.canaries.get(route.backend)
        if canary is not None:
            alternative = self._balancers.get(canary.backend)
            if alternative and routes_to_canary(
                canary.policy, request.headers.get, request.headers.get("Cookie"), self.rng
            ):
                chosen = alternative
        return await self.forwarder.forward(request, chosen.pick, ingress_port=self.port)

    # -- following the cluster -----------------------------------------------------------

    async def start(self) -> None:
        if self.store.get(INGRESS_CLASSES, "", CLASS_NAME) is None:
            rt = self.rt("networking.k8s.io", "v1", "ingressclasses")
            self.objects.create(rt, "", default_ingress_class(), WriteOptions(manager=MANAGER))
            log.info("ingress: created IngressClass %s (controller %s)", CLASS_NAME, CONTROLLER)

    def initial_keys(self) -> list[str]:
        return [TABLE]

    def keys_for(self, event: Event) -> list[str]:
        if event.resource in (INGRESSES, INGRESS_CLASSES):
            return [TABLE]
        if (event.namespace, str(event.obj["metadata"]["name"])) in self._services:
            return [BACKENDS]
        return []

    async def reconcile(self, key: str) -> float | None:
        if key == TABLE:
            classes = {str(c["metadata"]["name"]): c for c in self.store.list(INGRESS_CLASSES)}
            served = [i for i in self.store.list(INGRESSES) if is_served(i, classes)]
            self.table = build_table(served)
            self._refresh_backends()
            return RETRY_STATUS if self._sync_statuses() else None
        self._refresh_backends()
        return None

    def _refresh_backends(self) -> None:
        refs = self.table.backends()
        for gone in [ref for ref in self._balancers if ref not in refs]:
            del self._balancers[gone]
        for ref in refs:
            service = self.store.get("/services", ref.namespace, ref.service)
            endpoints = self.store.get("/endpoints", ref.namespace, ref.service)
            balancer = self._balancers.get(ref)
            if balancer is None:
                balancer = self._balancers[ref] = RoundRobin()
            balancer.update(backend_endpoints(ref, service, endpoints))
        self._services = {(ref.namespace, ref.service) for ref in refs}

    def _sync_statuses(self) -> bool:
        """Served Ingresses show this proxy's address; one no longer served loses it.

        Returns whether a write failed (the table key is then worked on again a second later).
        """
        if not self.port:
            return False
        failed = False
        wanted = load_balancer_status(self.host, self.port)
        rt = self.rt("networking.k8s.io", "v1", "ingresses")
        for ingress in self.store.list(INGRESSES):
            status: dict[str, Any] = ingress.get("status") or {}
            current = (status.get("loadBalancer") or {}).get("ingress")
            if ingress_key(ingress) in self.table.ingresses:
                if current == wanted:
                    continue
                load_balancer: dict[str, Any] = {"ingress": copy.deepcopy(wanted)}
            elif _is_ours(current, self.host):
                load_balancer = {}
            else:
                continue
            body = copy.deepcopy(ingress)
            body["status"] = dict(copy.deepcopy(status), loadBalancer=load_balancer)
            meta = ingress["metadata"]
            try:
                self.objects.update(
                    rt,
                    str(meta.get("namespace", "")),
                    str(meta["name"]),
                    body,
                    WriteOptions(manager=MANAGER, subresource="status"),
                )
            except ApiError as e:
                log.warning("ingress: cannot write the status of %s: %s", ingress_key(ingress), e)
                failed = True
        return failed
