"""Where an Ingress backend's requests go: the ready endpoints of a Service port, in turn.

ingress-nginx does not send traffic to a Service's cluster IP: it reads the Service's
endpoints and balances over the pod addresses itself (round-robin by default). So does this
proxy, from the same Endpoints the Service proxies use (:func:`localcluster.proxy.balancer.port_backends`).
A backend names its Service port by number or by name; a Service or port that does not exist,
or an ExternalName Service, has no endpoints (ingress-nginx then answers 503).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localcluster.proxy.balancer import Endpoint, port_backends
from localcluster.proxy.ingress_rules import BackendRef


def service_port_name(service: Mapping[str, Any] | None, port: int | str) -> tuple[str, str] | None:
    """(name, protocol) of the Service port a backend names by number or name; None if absent."""
    if not service:
        return None
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    for p in spec.get("ports") or []:
        matches = p.get("port") == port if isinstance(port, int) else p.get("name") == port
        if matches:
            return str(p.get("name") or ""), str(p.get("protocol") or "TCP")
    return None


def backend_endpoints(
    ref: BackendRef, service: Mapping[str, Any] | None, endpoints: Mapping[str, Any] | None
) -> tuple[Endpoint, ...]:
    """The ready endpoints of the backend's Service port (empty when there are none)."""
    found = service_port_name(service, ref.port)
    if found is None:
        return ()
    name, protocol = found
    if protocol != "TCP":
        return ()
    return port_backends(endpoints, name, protocol).ready


class RoundRobin:
    """The endpoints of one backend, handed out in turn (ingress-nginx's default balancing)."""

    __slots__ = ("_next", "endpoints")

    def __init__(self, endpoints: tuple[Endpoint, ...] = ()) -> None:
        self.endpoints = endpoints
        self._next = 0

    def update(self, endpoints: tuple[Endpoint, ...]) -> None:
        if endpoints != self.endpoints:
            self.endpoints = endpoints
            self._next = self._next % len(endpoints) if endpoints else 0

    def __bool__(self) -> bool:
        return bool(self.endpoints)

    def pick(self) -> Endpoint | None:
        endpoints = self.endpoints
        if not endpoints:
            return None
        i = self._next % len(endpoints)
        self._next = i + 1
        return endpoints[i]
