"""What a Service proxy decides, without any I/O: where a Service listens and where a connection goes.

kube-proxy (iptables mode) sends each new connection to one of a Service port's *ready*
endpoints, chosen uniformly at random, so the share of traffic a set of pods carries is the
share of ready endpoints they hold. With ``sessionAffinity: ClientIP`` a client IP keeps its
endpoint while that endpoint stays ready and the client connects again within the timeout
(``sessionAffinityConfig.clientIP.timeoutSeconds``, 10800 by default), the timer restarting
with every connection.

This module holds those rules as plain functions and small classes over Service and
Endpoints objects (JSON dicts), so they can be tested without sockets:

- :func:`service_listeners`: the addresses a Service is served on (cluster IP, node port,
  load-balancer address), per Service port;
- :func:`port_backends`: the ready and known endpoints of one Service port, from Endpoints;
- :class:`AffinityTable` and :class:`Balancer`: the per-connection choice.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Obj = dict[str, Any]

#: Where node ports and load-balancer addresses are served: this machine's loopback.
NODE_IP = "127.0.0.1"
#: kube-proxy's default ClientIP affinity timeout (3 hours).
DEFAULT_AFFINITY_TIMEOUT = 10800.0
PROXIED_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


class Endpoint(NamedTuple):
    """One backend: a pod IP and the port its container serves the Service port on."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


class ListenAddress(NamedTuple):
    """One socket a Service is served on, and the Service port (by name) it carries."""

    host: str
    port: int
    port_name: str
    #: "cluster-ip", "node-port" or "load-balancer" (for log lines)
    role: str


@dataclass(frozen=True)
class PortBackends:
    """The endpoints of one Service port: those to balance over, and all that exist."""

    ready: tuple[Endpoint, ...] = ()
    #: ready and not-ready endpoints: a connection to one that is not here has lost its pod
    known: frozenset[Endpoint] = field(default_factory=frozenset)


@dataclass(frozen=True)
class SkippedPort:
    """A Service port no proxy serves (UDP, SCTP), for a log line."""

    port_name: str
    port: int
    protocol: str


def is_proxied(service: Mapping[str, Any]) -> bool:
    """Whether kube-proxy would program this Service: a cluster IP that is not ``None``."""
    spec = service.get("spec") or {}
    if spec.get("type", "ClusterIP") not in PROXIED_TYPES:
        return False
    cluster_ip = spec.get("clusterIP")
    return bool(cluster_ip) and cluster_ip != "None"


def service_listeners(service: Mapping[str, Any]) -> tuple[list[ListenAddress], list[SkippedPort]]:
    """The sockets a Service is served on, and the ports left out because they are not TCP.

    Every TCP port listens on ``clusterIP:port``; NodePort and LoadBalancer Services also on
    ``127.0.0.1:nodePort``, and LoadBalancer Services on ``127.0.0.1:port`` (their
    load-balancer address). Headless and ExternalName Services get nothing.
    """
    if not is_proxied(service):
        return [], []
    spec = service.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    listeners: list[ListenAddress] = []
    skipped: list[SkippedPort] = []
    for port in spec.get("ports") or []:
        name = str(port.get("name") or "")
        number = _int(port.get("port"))
        protocol = str(port.get("protocol") or "TCP")
        if protocol != "TCP":
            skipped.append(SkippedPort(name, number, protocol))
            continue
        if number:
            listeners.append(ListenAddress(str(spec["clusterIP"]), number, name, "cluster-ip"))
        node_port = _int(port.get("nodePort"))
        if kind in ("NodePort", "LoadBalancer") and node_port:
            listeners.append(ListenAddress(NODE_IP, node_port, name, "node-port"))
        if kind == "LoadBalancer" and number:
            listeners.append(ListenAddress(NODE_IP, number, name, "load-balancer"))
    return listeners, skipped


def port_backends(endpoints: Mapping[str, Any] | None, port_name: str, protocol: str = "TCP") -> PortBackends:
    """The endpoints of the Service port named ``port_name`` (``""`` for a lone unnamed port).

    Endpoints ports are matched to the Service port by name and protocol, as kube-proxy does;
    the port number is the resolved target port the endpoints controller wrote.
    """
    if not endpoints:
        return PortBackends()
    ready: dict[Endpoint, None] = {}
    known: set[Endpoint] = set()
    for subset in endpoints.get("subsets") or []:
        ports = [
            _int(p.get("port"))
            for p in subset.get("ports") or []
            if str(p.get("name") or "") == port_name and str(p.get("protocol") or "TCP") == protocol
        ]
        for number in ports:
            if not number:
                continue
            for address in subset.get("addresses") or []:
                if address.get("ip"):
                    endpoint = Endpoint(str(address["ip"]), number)
                    ready[endpoint] = None
                    known.add(endpoint)
            for address in subset.get("notReadyAddresses") or []:
                if address.get("ip"):
                    known.add(Endpoint(str(address["ip"]), number))
    return PortBackends(tuple(ready), frozenset(known))


def affinity_timeout(service: Mapping[str, Any]) -> float | None:
    """Seconds a ClientIP affinity lasts, or None when the Service has no session affinity."""
    spec = service.get("spec") or {}
    if spec.get("sessionAffinity") != "ClientIP":
        return None
    config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
    seconds = config.get("timeoutSeconds")
    return float(seconds) if isinstance(seconds, int) and seconds > 0 else DEFAULT_AFFINITY_TIMEOUT


class AffinityTable:
    """Client IP -> the endpoint it was sent to and when it last connected.

    An entry expires ``timeout`` seconds after the client's last new connection. Expired
    entries are dropped as they are met, and all at once when the table has doubled in size
    since it was last swept, so a stream of distinct clients cannot grow it forever.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._entries: dict[str, tuple[Endpoint, float]] = {}
        self._sweep_at = 1024

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, client_ip: str, now: float) -> Endpoint | None:
        """The endpoint ``client_ip`` is pinned to, if its affinity has not expired."""
        entry = self._entries.get(client_ip)
        if entry is None:
            return None
        if now - entry[1] > self.timeout:
            del self._entries[client_ip]
            return None
        return entry[0]

    def remember(self, client_ip: str, endpoint: Endpoint, now: float) -> None:
        """Pin ``client_ip`` to ``endpoint`` from ``now`` (a new connection restarts the timer)."""
        self._entries[client_ip] = (endpoint, now)
        if len(self._entries) >= self._sweep_at:
            self.sweep(now)
            self._sweep_at = max(1024, 2 * len(self._entries))

    def forget_except(self, endpoints: Iterable[Endpoint]) -> None:
        """Drop the pins to endpoints that are no longer ready."""
        keep = set(endpoints)
        self._entries = {ip: e for ip, e in self._entries.items() if e[0] in keep}

    def sweep(self, now: float) -> None:
        self._entries = {ip: e for ip, e in self._entries.items() if now - e[1] <= self.timeout}


class Balancer:
    """Picks the endpoint of each new connection to one Service port."""

    def __init__(
        self,
        backends: PortBackends | None = None,
        *,
        affinity: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._rng = rng or random.Random()
        self.backends = backends or PortBackends()
        self._ready = list(self.backends.ready)
        self._ready_set = frozenset(self._ready)
        self.affinity: AffinityTable | None = AffinityTable(affinity) if affinity is not None else None

    def update(self, backends: PortBackends, affinity: float | None) -> None:
        """New endpoints (or affinity settings) for the connections that come from now on."""
        self.backends = backends
        self._ready = list(backends.ready)
        self._ready_set = frozenset(self._ready)
        if affinity is None:
            self.affinity = None
        elif self.affinity is None or self.affinity.timeout != affinity:
            # kube-proxy rewrites its rules when the timeout changes: the old pins go.
            self.affinity = AffinityTable(affinity)
        else:
            self.affinity.forget_except(self._ready)

    def pick(self, client_ip: str, now: float) -> Endpoint | None:
        """The endpoint for a new connection from ``client_ip``; None when none is ready."""
        ready = self._ready
        if not ready:
            return None
        table = self.affinity
        if table is None:
            return ready[self._rng.randrange(len(ready))]
        pinned = table.lookup(client_ip, now)
        if pinned is None or pinned not in self._ready_set:
            pinned = ready[self._rng.randrange(len(ready))]
        table.remember(client_ip, pinned, now)
        return pinned


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
