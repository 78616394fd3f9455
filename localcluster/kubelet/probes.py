"""Readiness, liveness and startup probes, as the kubelet runs them.

A probe is checked every ``periodSeconds`` after ``initialDelaySeconds``, each check given
``timeoutSeconds``; its result turns to success after ``successThreshold`` successes in a
row and to failure after ``failureThreshold`` failures in a row.

Handlers: ``httpGet`` (to the pod IP or ``host``; the port by number or by the container
port's name; ``HTTP`` or ``HTTPS`` without certificate checks; success is a status in
200-399, redirects are not followed), ``tcpSocket`` (a connection is success), ``exec``
(exit status 0 is success; run in the container's environment and directory for a
subprocess container — **for a demo-app container, which has no process to run commands
in, ``exec`` always succeeds**), and ``grpc`` (checked as a TCP connection to the port).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

USER_AGENT = "kube-probe/1.32"

#: Runs an ``exec`` probe's command with a timeout (see :func:`.runtimes.run_exec`).
ExecRunner = Callable[[Sequence[str], float], Awaitable["ProbeResult"]]


@dataclass(frozen=True)
class ProbeSpec:
    """A container probe with the API server's defaults filled in."""

    handler: Mapping[str, Any]
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


def parse_probe(raw: Any) -> ProbeSpec | None:
    """The probe of a container spec (``readinessProbe`` etc.), or None when absent."""
    if not isinstance(raw, Mapping):
        return None

    def number(key: str, default: float, minimum: float) -> float:
        value = raw.get(key)
        return max(float(value), minimum) if isinstance(value, (int, float)) and value else default

    return ProbeSpec(
        handler=raw,
        initial_delay=number("initialDelaySeconds", 0.0, 0.0),
        period=number("periodSeconds", 10.0, 1.0),
        timeout=number("timeoutSeconds", 1.0, 1.0),
        success_threshold=int(number("successThreshold", 1, 1)),
        failure_threshold=int(number("failureThreshold", 3, 1)),
    )


def resolve_port(port: Any, container: Mapping[str, Any]) -> int | None:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    text = str(port or "")
    if text.isdigit():
        return int(text)
    for declared in container.get("ports") or []:
        if declared.get("name") == text and declared.get("containerPort"):
            return int(declared["containerPort"])
    return None


@dataclass(frozen=True)
class ProbeResult:
    """One check's outcome; ``message`` says why it failed, as the kubelet's ``Unhealthy`` events do."""

    ok: bool
    message: str = ""


SUCCESS = ProbeResult(True)


@dataclass
class Prober:
    """Runs single checks of a container's probes."""

    pod_ip: str
    container: Mapping[str, Any]
    session: Callable[[], aiohttp.ClientSession]
    exec_runner: ExecRunner | None = None

    async def check(self, probe: ProbeSpec) -> ProbeResult:
        """One check of ``probe``."""
        handler = probe.handler
        if isinstance(handler.get("httpGet"), Mapping):
            return await self._http(handler["httpGet"], probe.timeout)
        if isinstance(handler.get("tcpSocket"), Mapping):
            get = handler["tcpSocket"]
            return await self._tcp(str(get.get("host") or self.pod_ip), get.get("port"), probe.timeout)
        if isinstance(handler.get("grpc"), Mapping):
            return await self._tcp(self.pod_ip, handler["grpc"].get("port"), probe.timeout)
        if isinstance(handler.get("exec"), Mapping):
            command = [str(c) for c in handler["exec"].get("command") or []]
            if self.exec_runner is None:
                return SUCCESS  # a demo-app container has no process to run commands in
            if not command:
                return ProbeResult(False, "no command given")
            return await self.exec_runner(command, probe.timeout)
        return ProbeResult(False, "the probe has no handler")

    async def _http(self, get: Mapping[str, Any], seconds: float) -> ProbeResult:
        port = resolve_port(get.get("port"), self.container)
        if port is None:
            return ProbeResult(False, f"port {get.get('port')!r} is not a container port")
        scheme = str(get.get("scheme") or "HTTP").lower()
        host = str(get.get("host") or self.pod_ip)
        path = str(get.get("path") or "/")
        if not path.startswith("/"):
            path = "/" + path
        url = f"{scheme}://{host}:{port}{path}"
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        for header in get.get("httpHeaders") or []:
            headers[str(header.get("name"))] = str(header.get("value") or "")
        verify: ssl.SSLContext | bool = scheme != "https"
        try:
            async with self.session().get(
                url,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=seconds),
                allow_redirects=False,
                ssl=verify,
            ) as response:
                if 200 <= response.status < 400:
                    return SUCCESS
                return ProbeResult(False, f"HTTP probe failed with statuscode: {response.status}")
        except TimeoutError:
            return ProbeResult(False, f'Get "{url}": context deadline exceeded')
        except (OSError, aiohttp.ClientError, ValueError) as e:
            return ProbeResult(False, f'Get "{url}": {_reason(e)}')

    async def _tcp(self, host: str, port_value: Any, seconds: float) -> ProbeResult:
        port = resolve_port(port_value, self.container)
        if port is None:
            return ProbeResult(False, f"port {port_value!r} is not a container port")
        try:
            async with asyncio.timeout(seconds):
                _, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            return ProbeResult(False, f"dial tcp {host}:{port}: i/o timeout")
        except OSError as e:
            return ProbeResult(False, f"dial tcp {host}:{port}: {_reason(e)}")
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return SUCCESS


def _reason(error: BaseException) -> str:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connect: connection refused"
        cause = cause.__cause__ or cause.__context__
    return str(error) or type(error).__name__


async def run_probe(
    probe: ProbeSpec,
    check: Callable[[ProbeSpec], Awaitable[ProbeResult]],
    on_change: Callable[[bool], None],
    *,
    initial: bool,
    on_failure: Callable[[str], None] | None = None,
) -> None:
    """Check ``probe`` forever, calling ``on_change`` each time its result flips from ``initial``.

    ``on_failure`` hears every failed check's message (for the ``Unhealthy`` events).
    """
    await asyncio.sleep(probe.initial_delay)
    result, successes, failures = initial, 0, 0
    while True:
        outcome = await check(probe)
        if outcome.ok:
            successes, failures = successes + 1, 0
        else:
            successes, failures = 0, failures + 1
            if on_failure is not None:
                on_failure(outcome.message)
        if not result and successes >= probe.success_threshold:
            result = True
            on_change(True)
        elif result and failures >= probe.failure_threshold:
            result = False
            on_change(False)
        await asyncio.sleep(probe.period)
