"""Serving the demo app on one exact address, and stopping it promptly."""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Callable

from aiohttp import web

from localcluster.demoapp.app import make_app
from localcluster.demoapp.behaviour import Behaviour

__all__ = ["STOP_GRACE_S", "DemoServer", "serve"]

#: How long :meth:`DemoServer.stop` lets requests in flight finish before cancelling them
#: (aiohttp waits this long twice: for the handler, then for its cancellation).
STOP_GRACE_S = 0.2


class DemoServer:
    """A running demo app: where it listens, and how to stop it."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        """Wrap a started `runner` listening on `host`:`port`."""
        self._runner = runner
        self._stopped = False
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.10.0.5:8080``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Close the listener and every connection, in well under a second.

        Idle connections close at once; a request in flight gets :data:`STOP_GRACE_S` to
        finish, then is cancelled (its access-log line shows status 499). Stopping twice is
        harmless.
        """
        if self._stopped:
            return
        self._stopped = True
        await self._runner.cleanup()

    def __repr__(self) -> str:
        """``DemoServer(http://host:port)``."""
        return f"DemoServer({self.url}{', stopped' if self._stopped else ''})"


async def serve(
    behaviour: Behaviour,
    *,
    host: str,
    port: int,
    pod: str,
    image: str,
    log: Callable[[str], None],
    rng: random.Random | None = None,
) -> DemoServer:
    """Start listening on host:port (e.g. 127.10.0.5:8080); returns a handle.

    The socket is bound to exactly that address with ``SO_REUSEADDR`` (port 0 picks a free
    port: see :attr:`DemoServer.port`). Raises :class:`OSError` naming the address when it
    cannot be bound, e.g. when the port is taken.
    """
    sock = _listen(host, port)
    app = make_app(behaviour, pod=pod, image=image, log=log, rng=rng)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=STOP_GRACE_S)
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
    except BaseException:
        await runner.cleanup()
        sock.close()
        raise
    bound_port = int(sock.getsockname()[1])
    log(f"demo app {behaviour.version} ({behaviour.color}) of pod {pod} listening on {host}:{bound_port}")
    return DemoServer(runner, host, bound_port)


def _listen(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket bound to exactly `host`:`port`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        in_use = exc.errno == errno.EADDRINUSE
        reason = "the port is already in use" if in_use else (exc.strerror or str(exc))
        raise OSError(exc.errno, f"demo app cannot listen on {host}:{port}: {reason}") from exc
    return sock
