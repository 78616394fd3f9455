"""The proxy's TCP forwarding, in process over loopback sockets: what a client of a Service sees."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from localcluster.proxy.balancer import Endpoint, ListenAddress, PortBackends
from localcluster.proxy.tcp import Listener, Route

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def random_host(prefix: str) -> str:
    return f"{prefix}.{random.randrange(1, 255)}.{random.randrange(1, 255)}"


async def backend(handler: Handler) -> tuple[asyncio.Server, Endpoint]:
    """A server on a random pod-range address (port 0 never collides)."""
    server = await asyncio.start_server(handler, random_host("127.10"), 0)
    host, port = server.sockets[0].getsockname()[:2]
    return server, Endpoint(host, port)


async def listener(route: Route) -> Listener:
    for _ in range(20):
        lst = Listener(ListenAddress(random_host("127.97"), 0, "", "cluster-ip"), route)
        try:
            await lst.open()
            return lst
        except OSError:
            continue
    raise AssertionError("no free address to listen on")


def ready(*endpoints: Endpoint) -> PortBackends:
    return PortBackends(tuple(endpoints), frozenset(endpoints))


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def connect(lst: Listener) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(lst.address.host, lst.bound_port)


async def finish(
    *,
    writers: tuple[asyncio.StreamWriter, ...] = (),
    routes: tuple[Route, ...] = (),
    listeners: tuple[Listener, ...] = (),
    servers: tuple[asyncio.Server, ...] = (),
) -> None:
    """Close everything and let the loop see it closed (no transport left for the GC)."""
    for writer in writers:
        writer.close()
    for route in routes:
        route.abort()
    for lst in listeners:
        lst.close()
    for server in servers:
        server.close()
    await asyncio.sleep(0.05)
    for server in servers:
        await server.wait_closed()


def run(coro: Awaitable[Any]) -> Any:
    async def with_timeout() -> Any:
        return await asyncio.wait_for(coro, 20)

    return asyncio.run(with_timeout())


def test_bytes_flow_both_ways_intact_with_a_slow_reader() -> None:
    async def main() -> None:
        server, endpoint = await backend(echo)
        route = Route("")
        route.update(ready(endpoint), None)
        lst = await listener(route)
        reader, writer = await connect(lst)
        payload = random.randbytes(8 * 1024 * 1024)

        async def send() -> None:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()  # half-close: the echo server still answers

        sender = asyncio.create_task(send())
        received = bytearray()
        while chunk := await reader.read(1 << 20):
            received += chunk
            await asyncio.sleep(0.001)  # a slow client: flow control must hold the data, not drop it
        await sender
        assert bytes(received) == payload
        await finish(writers=(writer,), routes=(route,), listeners=(lst,), servers=(server,))

    run(main())


def test_no_ready_endpoint_resets_the_connection_at_once() -> None:
    async def main() -> None:
        lst = await listener(Route(""))
        reader, writer = await connect(lst)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 1.0)
        await finish(writers=(writer,), listeners=(lst,))

    run(main())


def test_an_endpoint_that_refuses_resets_the_client() -> None:
    async def main() -> None:
        sock = socket.socket()
        sock.bind((random_host("127.10"), 0))  # bound, never listening: connections are refused
        host, port = sock.getsockname()
        route = Route("")
        route.update(ready(Endpoint(host, port)), None)
        lst = await listener(route)
        reader, writer = await connect(lst)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 1.0)
        await finish(writers=(writer,), routes=(route,), listeners=(lst,))
        sock.close()

    run(main())


async def http_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each line after the delay it names (in ms), keeping the connection open."""
    while line := await reader.readline():
        await asyncio.sleep(int(line) / 1000)
        writer.write(b"done " + line)
        await writer.drain()
    writer.close()


def test_connection_to_a_vanished_endpoint_closes_once_idle_not_mid_request() -> None:
    async def main() -> None:
        server, endpoint = await backend(http_like)
        route = Route("")
        route.update(ready(endpoint), None)
        lst = await listener(route)
        idle_r, idle_w = await connect(lst)
        idle_w.write(b"0\n")
        assert await idle_r.readline() == b"done 0\n"
        busy_r, busy_w = await connect(lst)
        busy_w.write(b"0\n")
        assert await busy_r.readline() == b"done 0\n"
        busy_w.write(b"400\n")  # a slow request in flight
        await asyncio.sleep(0.05)

        route.update(PortBackends(), None)  # the pod left the Endpoints
        assert await asyncio.wait_for(idle_r.read(), 0.5) == b""  # idle keep-alive: closed
        assert await asyncio.wait_for(busy_r.readline(), 2) == b"done 400\n"  # in flight: answered
        assert await asyncio.wait_for(busy_r.read(), 0.5) == b""  # then closed
        await finish(writers=(idle_w, busy_w), routes=(route,), listeners=(lst,), servers=(server,))

    run(main())


def test_connection_to_an_endpoint_that_turns_unready_keeps_working() -> None:
    async def main() -> None:
        server, endpoint = await backend(http_like)
        route = Route("")
        route.update(ready(endpoint), None)
        lst = await listener(route)
        reader, writer = await connect(lst)
        writer.write(b"0\n")
        assert await reader.readline() == b"done 0\n"
        route.update(PortBackends((), frozenset({endpoint})), None)  # not ready, still listed
        await asyncio.sleep(0.3)
        writer.write(b"0\n")
        assert await asyncio.wait_for(reader.readline(), 1) == b"done 0\n"
        # ... but a new connection is refused: no endpoint is ready
        new_r, new_w = await connect(lst)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(new_r.read(), 1.0)
        await finish(writers=(writer, new_w), routes=(route,), listeners=(lst,), servers=(server,))

    run(main())


def test_a_closed_listener_refuses_new_connections_and_abort_drops_open_ones() -> None:
    async def main() -> None:
        server, endpoint = await backend(echo)
        route = Route("")
        route.update(ready(endpoint), None)
        lst = await listener(route)
        reader, writer = await connect(lst)
        writer.write(b"x")
        assert await reader.read(1) == b"x"
        port = lst.bound_port
        lst.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(lst.address.host, port)
        route.abort()
        assert await asyncio.wait_for(reader.read(), 1) == b""
        assert not route.connections
        await finish(writers=(writer,), servers=(server,))

    run(main())
