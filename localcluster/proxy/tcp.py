"""TCP forwarding for Service proxies: listeners, and connections pumped at the protocol level.

A :class:`Listener` accepts on one address (a cluster IP, a node port) and hands each
connection to its :class:`Route` (one Service port), whose balancer picks the endpoint once,
at accept, as kube-proxy's iptables rules do. Bytes then flow through two
:class:`asyncio.Protocol` objects that write what one side receives straight to the other
side's transport: no per-byte work, no task per chunk, and flow control both ways (a side
whose write buffer fills pauses reading on the other side).

What happens when things change, as with kube-proxy:

- no ready endpoint: the connection is reset at once (kube-proxy REJECTs it);
- an endpoint becomes not ready: its open connections carry on, new ones go elsewhere;
- an endpoint vanishes (its pod left the Endpoints, or the Service went): its connections are
  closed as soon as they are idle between a response and the next request, and at the
  latest after a grace period, so that a keep-alive client is not stuck on a pod that no
  longer serves the Service and no request in flight is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct

from localcluster.proxy.balancer import Balancer, Endpoint, ListenAddress, PortBackends

log = logging.getLogger("localcluster.proxy")

#: Longest a connection to a vanished endpoint may stay open while it is still busy.
DRAIN_GRACE = 30.0
#: How often a draining connection is checked for being idle.
DRAIN_CHECK = 0.05
_LINGER_RESET = struct.pack("ii", 1, 0)


def reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP RST (what a REJECTed or failed connection looks like to a client)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    assert isinstance(transport, asyncio.WriteTransport)
    transport.abort()


class Route:
    """One Service port: where its new connections go, and the connections it carries."""

    def __init__(self, port_name: str, balancer: Balancer | None = None) -> None:
        self.port_name = port_name
        self.balancer = balancer or Balancer()
        self.connections: set[Connection] = set()

    def update(self, backends: PortBackends, affinity: float | None) -> None:
        """Apply new endpoints: new connections use them; connections to vanished ones drain."""
        self.balancer.update(backends, affinity)
        for conn in list(self.connections):
            if conn.backend is not None and conn.backend not in backends.known:
                conn.drain()

    def retire(self) -> None:
        """The Service port is gone: drain every connection it carries."""
        for conn in list(self.connections):
            conn.drain()

    def abort(self) -> None:
        for conn in list(self.connections):
            conn.abort()


class Connection(asyncio.Protocol):
    """The client side of one proxied connection (and the owner of its backend side)."""

    def __init__(self, route: Route, loop: asyncio.AbstractEventLoop) -> None:
        self.route = route
        self.loop = loop
        self.backend: Endpoint | None = None
        self.client: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.closed = False
        #: chunks moved either way, and whether the last one went to the backend (a request
        #: waiting for its response): what a draining connection is judged idle by
        self.moves = 0
        self.awaiting = False
        self._client_eof = False
        self._backend_eof = False
        self._connecting: asyncio.Task[None] | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._drain_deadline = 0.0
        self._drain_seen = -1

    # -- client side -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.client = transport
        peer = transport.get_extra_info("peername")
        backend = self.route.balancer.pick(str(peer[0]) if peer else "", self.loop.time())
        if backend is None:
            self.closed = True
            reset(transport)
            return
        self.backend = backend
        transport.pause_reading()
        self.route.connections.add(self)
        self._connecting = self.loop.create_task(self._connect(backend))

    async def _connect(self, backend: Endpoint) -> None:
        try:
            await self.loop.create_connection(lambda: _Upstream(self), backend.ip, backend.port)
        except OSError as e:
            log.debug("connection to endpoint %s failed: %s", backend, e)
            if not self.closed and self.client is not None:
                self.closed = True
                self.route.connections.discard(self)
                reset(self.client)
        finally:
            self._connecting = None

    def upstream_made(self, transport: asyncio.Transport) -> None:
        if self.closed:
            transport.close()
            return
        self.upstream = transport
        assert self.client is not None
        self.client.resume_reading()

    def data_received(self, data: bytes) -> None:
        assert self.upstream is not None
        self.upstream.write(data)
        self.moves += 1
        self.awaiting = True

    def eof_received(self) -> bool:
        self._client_eof = True
        if self.upstream is not None and not self.upstream.is_closing() and self.upstream.can_write_eof():
            self.upstream.write_eof()
        if self._backend_eof:
            self.close()
            return False
        return True

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()
        if self.upstream is not None:
            self.upstream.close()
        elif self._connecting is not None:
            self._connecting.cancel()

    # -- backend side (called by _Upstream) --------------------------------------------

    def backend_eof(self) -> bool:
        self._backend_eof = True
        client = self.client
        if client is not None and not client.is_closing() and client.can_write_eof():
            client.write_eof()
        if self._client_eof:
            self.close()
            return False
        return True

    def upstream_lost(self) -> None:
        self._finish()
        if self.client is not None:
            self.client.close()

    # -- ending ------------------------------------------------------------------------

    def _finish(self) -> None:
        self.closed = True
        self.route.connections.discard(self)
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def close(self) -> None:
        """Close both sides, after what is buffered for each has been sent."""
        self._finish()
        for transport in (self.client, self.upstream):
            if transport is not None:
                transport.close()
        if self._connecting is not None:
            self._connecting.cancel()

    def abort(self) -> None:
        """Drop both sides at once (the proxy is stopping)."""
        self._finish()
        for transport in (self.client, self.upstream):
            if transport is not None:
                transport.abort()
        if self._connecting is not None:
            self._connecting.cancel()

    def drain(self, grace: float = DRAIN_GRACE) -> None:
        """Close this connection once it is idle after a response, or after ``grace`` seconds."""
        if self.closed or self._drain_timer is not None:
            return
        self._drain_deadline = self.loop.time() + grace
        self._drain_seen = -1
        self._check_drain()

    def _check_drain(self) -> None:
        self._drain_timer = None
        if self.closed:
            return
        idle = self.moves == self._drain_seen and not self.awaiting
        if idle or self.upstream is None or self.loop.time() >= self._drain_deadline:
            self.close()
            return
        self._drain_seen = self.moves
        self._drain_timer = self.loop.call_later(DRAIN_CHECK, self._check_drain)


class _Upstream(asyncio.Protocol):
    """The backend side of a proxied connection: forwards to the client's transport."""

    __slots__ = ("client", "conn")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        assert conn.client is not None
        self.client = conn.client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.conn.upstream_made(transport)

    def data_received(self, data: bytes) -> None:
        self.client.write(data)
        conn = self.conn
        conn.moves += 1
        conn.awaiting = False

    def eof_received(self) -> bool:
        return self.conn.backend_eof()

    def pause_writing(self) -> None:
        self.client.pause_reading()

    def resume_writing(self) -> None:
        self.client.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.upstream_lost()


class Listener:
    """One listening socket of a Service; its connections go through ``route``."""

    def __init__(self, address: ListenAddress, route: Route) -> None:
        self.address = address
        self.route = route
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.address.host, self.address.port)

    async def open(self) -> None:
        """Start listening; raises OSError when the address cannot be bound."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            self._accept, self.address.host, self.address.port, reuse_address=True, backlog=1024
        )

    @property
    def bound_port(self) -> int:
        """The port actually listened on (the address's, or the one the kernel chose for port 0)."""
        if self._server is None or not self._server.sockets:
            return 0
        return int(self._server.sockets[0].getsockname()[1])

    def _accept(self) -> Connection:
        assert self._loop is not None
        return Connection(self.route, self._loop)

    def close(self) -> None:
        """Stop listening (connections already accepted are the route's business)."""
        if self._server is not None:
            self._server.close()
            self._server = None
