"""ServiceProxy: kube-proxy for localcluster, on loopback addresses.

Every ClusterIP, NodePort and LoadBalancer Service with a cluster IP is served on
``clusterIP:port`` for each of its TCP ports (cluster IPs come from ``127.96.0.0/12``, which
Linux routes to the loopback interface, so no set-up is needed), NodePort and LoadBalancer
Services also on ``127.0.0.1:nodePort``, and LoadBalancer Services on ``127.0.0.1:port``,
the address this proxy writes into ``status.loadBalancer.ingress`` (best effort: a port below
1024 needs privileges, and a port another program holds stays unbound). Headless and
ExternalName Services, and UDP and SCTP ports, get no proxy (a log line says so).

The proxy follows Services and their Endpoints: listeners open, close and change route as
Services change; each new connection goes to a uniformly random ready endpoint of the current
Endpoints (:mod:`localcluster.proxy.balancer`), with ``sessionAffinity: ClientIP`` honoured;
how connections are pumped and ended is in :mod:`localcluster.proxy.tcp`.
"""

from __future__ import annotations

import copy
import errno
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from localcluster.apiserver.objects import WriteOptions
from localcluster.controllers.base import Controller, key_of, split_key
from localcluster.proxy.balancer import (
    NODE_IP,
    ListenAddress,
    affinity_timeout,
    is_proxied,
    port_backends,
    service_listeners,
)
from localcluster.proxy.tcp import Listener, Route
from localcluster.store import Event, Obj

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects

log = logging.getLogger("localcluster.proxy")

MANAGER = "service-proxy"
#: What a LoadBalancer Service's status says: its traffic arrives on this machine's loopback.
LOAD_BALANCER_INGRESS = [{"ip": NODE_IP, "ipMode": "VIP"}]
#: Retry delays for a listener that could not be bound: taken by someone else, or not allowed.
RETRY_IN_USE = 1.0
RETRY_OTHER = 10.0


@dataclass
class _Served:
    """What one Service has open: a route per port name, a listener per address."""

    routes: dict[str, Route] = field(default_factory=dict)
    listeners: dict[tuple[str, int], Listener] = field(default_factory=dict)
    #: addresses that failed to bind, with the error (logged once per failure)
    failed: dict[tuple[str, int], str] = field(default_factory=dict)
    skipped_logged: set[tuple[str, int, str]] = field(default_factory=set)


class ServiceProxy(Controller):
    """Serves every Service's cluster IP and node ports over its ready endpoints."""

    name = "service-proxy"
    watches = ("/services", "/endpoints")

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self._served: dict[str, _Served] = {}
        self._services_rt = self.rt("", "v1", "services")

    def keys_for(self, event: Event) -> list[str]:
        # A Service and its Endpoints share namespace and name: both wake the Service's key.
        meta = event.obj["metadata"]
        return [key_of(str(meta.get("namespace", "")), str(meta["name"]))]

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        service = self.store.get("/services", namespace, name)
        if service is not None:
            self._sync_load_balancer_status(service)
        if service is None or not is_proxied(service):
            self._forget(key)
            return None
        served = self._served.setdefault(key, _Served())
        wanted, skipped = service_listeners(service)
        for port in skipped:
            mark = (port.port_name, port.port, port.protocol)
            if mark not in served.skipped_logged:
                served.skipped_logged.add(mark)
                log.info(
                    "service %s port %s/%s is not proxied: only TCP is supported",
                    key,
                    port.port,
                    port.protocol,
                )
        self._update_routes(served, service, self.store.get("/endpoints", namespace, name))
        wanted_by_addr = {(a.host, a.port): a for a in wanted}
        for addr in [a for a in served.listeners if a not in wanted_by_addr]:
            served.listeners.pop(addr).close()
            log.info("service %s: stopped listening on %s:%d", key, *addr)
        for addr in [a for a in served.failed if a not in wanted_by_addr]:
            del served.failed[addr]
        retry: float | None = None
        for addr, wanted_addr in wanted_by_addr.items():
            listener = served.listeners.get(addr)
            route = served.routes[wanted_addr.port_name]
            if listener is not None:
                listener.route = route
                listener.address = wanted_addr
                continue
            delay = await self._open(key, served, wanted_addr, route)
            if delay is not None:
                retry = delay if retry is None else min(retry, delay)
        return retry

    def _update_routes(self, served: _Served, service: Obj, endpoints: Obj | None) -> None:
        """Give each TCP Service port the current endpoints; retire the routes of removed ports."""
        affinity = affinity_timeout(service)
        names = [
            str(p.get("name") or "")
            for p in (service.get("spec") or {}).get("ports") or []
            if str(p.get("protocol") or "TCP") == "TCP"
        ]
        for gone in [n for n in served.routes if n not in names]:
            served.routes.pop(gone).retire()
        for port_name in names:
            route = served.routes.get(port_name)
            if route is None:
                route = served.routes[port_name] = Route(port_name)
            route.update(port_backends(endpoints, port_name), affinity)

    async def _open(self, key: str, served: _Served, address: ListenAddress, route: Route) -> float | None:
        """Open one listener; on failure, log once and say when to try again (None: never)."""
        listener = Listener(address, route)
        addr = (address.host, address.port)
        try:
            await listener.open()
        except OSError as e:
            if served.failed.get(addr) != str(e):
                served.failed[addr] = str(e)
                hint = (
                    " (the cluster IP is not a loopback address; use the node port)"
                    if e.errno == errno.EADDRNOTAVAIL
                    else ""
                )
                log.warning(
                    "service %s: cannot listen on %s:%d (%s): %s%s", key, *addr, address.role, e, hint
                )
            if e.errno == errno.EADDRNOTAVAIL:
                return None
            return RETRY_IN_USE if e.errno == errno.EADDRINUSE else RETRY_OTHER
        if self._served.get(key) is not served:  # the Service went while the socket was bound
            listener.close()
            return None
        served.failed.pop(addr, None)
        served.listeners[addr] = listener
        log.info("service %s: listening on %s:%d (%s)", key, *addr, address.role)
        return None

    def _forget(self, key: str) -> None:
        served = self._served.pop(key, None)
        if served is None:
            return
        for listener in served.listeners.values():
            listener.close()
        for route in served.routes.values():
            route.retire()
        if served.listeners:
            log.info("service %s: stopped listening on %d addresses", key, len(served.listeners))

    def _sync_load_balancer_status(self, service: Obj) -> None:
        """``status.loadBalancer.ingress`` is 127.0.0.1 for LoadBalancer Services, empty for others."""
        spec = service.get("spec") or {}
        status: dict[str, Any] = service.get("status") or {}
        current = (status.get("loadBalancer") or {}).get("ingress")
        if spec.get("type") == "LoadBalancer":
            if current == LOAD_BALANCER_INGRESS:
                return
            wanted: dict[str, Any] = {"ingress": copy.deepcopy(LOAD_BALANCER_INGRESS)}
        elif current == LOAD_BALANCER_INGRESS:
            wanted = {}  # no longer a LoadBalancer: the address this proxy gave goes
        else:
            return
        body = copy.deepcopy(service)
        body["status"] = dict(copy.deepcopy(status), loadBalancer=wanted)
        meta = service["metadata"]
        self.objects.update(
            self._services_rt,
            str(meta.get("namespace", "")),
            str(meta["name"]),
            body,
            WriteOptions(manager=MANAGER, subresource="status"),
        )

    async def stop(self) -> None:
        """Close every listener and drop every connection."""
        for served in self._served.values():
            for listener in served.listeners.values():
                listener.close()
            for route in served.routes.values():
                route.abort()
        self._served.clear()
