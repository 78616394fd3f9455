"""The demo app as an aiohttp application: what every demo container serves.

Routes:

- ``GET /`` — an HTML page in the app's colour (:mod:`.page`);
- ``GET /color`` (``POST`` too: the rollouts-demo page posts its settings; the body is
  ignored) — ``{"color", "version", "pod", "image"}`` as JSON, plus ``"upstream"`` when the
  app has upstreams and ``"error"`` when it fails;
- ``GET /healthz``, ``GET /readyz`` — ``ok``, never delayed and never failing;
- ``GET /metrics`` — ``http_requests_total{code,method,path}`` and
  ``http_request_duration_seconds{method,path}`` in the Prometheus text format, from a
  registry of this app's own.

For ``/color`` (:data:`FAULTY_PATHS`; the page at ``/`` is static, as in the real image, so a
readiness probe on it never flaps), each request first waits the behaviour's
latency, then draws one number from the app's random generator and answers 500 when it is
below the error rate; otherwise it calls every upstream's ``/color`` (concurrently, each
within :data:`UPSTREAM_TIMEOUT_S`) and answers 502 naming the upstreams that failed, or 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from localcluster.demoapp.behaviour import Behaviour
from localcluster.demoapp.page import render_page

__all__ = [
    "FAULTY_PATHS",
    "HOPS_HEADER",
    "MAX_HOPS",
    "REGISTRY",
    "UPSTREAM_TIMEOUT_S",
    "color_url",
    "make_app",
]

logger = logging.getLogger("localcluster.demoapp")

#: The paths that the error rate and latency apply to.
FAULTY_PATHS = frozenset({"/color"})
#: How long one upstream call may take, in seconds.
UPSTREAM_TIMEOUT_S = 2.0
#: Header counting how many demo apps a request has passed through (stops upstream loops).
HOPS_HEADER = "X-Demoapp-Hops"
#: A request that has passed through more apps than this is answered 508 (Loop Detected).
MAX_HOPS = 8
#: Histogram buckets, in seconds: fine below 100 ms, and up to past the slow images' 2 s.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Metrics:
    """The Prometheus metrics of one app, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by status code, method and route.",
            ["code", "method", "path"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route.",
            ["method", "path"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )


@dataclass
class _Context:
    """Everything the handlers of one app share."""

    behaviour: Behaviour
    pod: str
    image: str
    log: Callable[[str], None]
    rng: random.Random
    metrics: _Metrics = field(default_factory=_Metrics)
    session: aiohttp.ClientSession | None = None


_CONTEXT = web.AppKey("demoapp_context", _Context)
#: The app's own Prometheus registry (``app[REGISTRY]``), for callers that want to read it.
REGISTRY = web.AppKey("demoapp_registry", CollectorRegistry)


def make_app(
    behaviour: Behaviour,
    *,
    pod: str,
    image: str,
    log: Callable[[str], None],
    rng: random.Random | None = None,
) -> web.Application:
    """An aiohttp application serving `behaviour` as pod `pod` of image `image`.

    Each request is written to `log` as one access-log line; `rng` (a fresh generator when
    omitted) decides which requests fail, one draw per ``/`` or ``/color`` request.
    """
    context = _Context(
        behaviour=behaviour,
        pod=pod,
        image=image,
        log=log,
        rng=rng if rng is not None else random.Random(),
    )
    app = web.Application(middlewares=[_observe])
    app[_CONTEXT] = context
    app[REGISTRY] = context.metrics.registry
    app.router.add_get("/", _index)
    app.router.add_get("/color", _color)
    app.router.add_post("/color", _color)
    app.router.add_get("/healthz", _ok)
    app.router.add_get("/readyz", _ok)
    app.router.add_get("/metrics", _metrics)
    if behaviour.upstreams:
        app.cleanup_ctx.append(_client_session)
    return app


def color_url(upstream: str) -> str:
    """The URL called for `upstream`: its ``/color`` when it names no path, else itself."""
    parts = urlsplit(upstream)
    if parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, "/color", parts.query, ""))
    return upstream


def access_line(request: web.BaseRequest, status: int, seconds: float) -> str:
    """One common-log-like line: time, remote address, request line, status, duration."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    version = f"HTTP/{request.version.major}.{request.version.minor}"
    return (
        f'{now} {request.remote or "-"} "{request.method} {request.path_qs} {version}" '
        f"{status} {seconds * 1000:.1f}ms"
    )


@web.middleware
async def _observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request, and write its access-log line."""
    context = request.app[_CONTEXT]
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the server stopped (or the client left) before the answer
        raise
    finally:
        seconds = time.perf_counter() - start
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else "other"
        context.metrics.requests.labels(str(status), request.method, path).inc()
        context.metrics.duration.labels(request.method, path).observe(seconds)
        try:
            context.log(access_line(request, status, seconds))
        except Exception:
            logger.exception("the access-log callback of pod %s failed", context.pod)


async def _ok(request: web.Request) -> web.Response:
    """Health and readiness: always ``ok``."""
    return web.Response(text="ok")


async def _metrics(request: web.Request) -> web.Response:
    """This app's metrics in the Prometheus text format."""
    body = generate_latest(request.app[_CONTEXT].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


async def _color(request: web.Request) -> web.Response:
    """The app's colour as JSON."""
    status, payload = await _answer(request)
    return web.json_response(payload, status=status)


async def _index(request: web.Request) -> web.Response:
    """The app's colour as an HTML page."""
    status, payload = await _answer(request, faults=False)
    return web.Response(status=status, text=render_page(status, payload), content_type="text/html")


async def _answer(request: web.Request, *, faults: bool = True) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of one ``/`` or ``/color`` request; injected faults only with ``faults``."""
    context = request.app[_CONTEXT]
    behaviour = context.behaviour
    payload: dict[str, Any] = {
        "color": behaviour.color,
        "version": behaviour.version,
        "pod": context.pod,
        "image": context.image,
    }
    hops = _hops(request)
    if hops > MAX_HOPS:
        payload["error"] = f"request passed through more than {MAX_HOPS} demo apps: upstream loop?"
        return 508, payload
    if faults and behaviour.latency_ms > 0:
        await asyncio.sleep(behaviour.latency_ms / 1000.0)
    if faults and context.rng.random() < behaviour.error_rate:
        payload["error"] = f"injected error (error rate {behaviour.error_rate:g})"
        return 500, payload
    if behaviour.upstreams:
        session = context.session
        assert session is not None, "the client session starts with the app"
        results = await asyncio.gather(*(_call(session, url, hops + 1) for url in behaviour.upstreams))
        payload["upstream"] = [entry for entry, _ in results]
        errors = [error for _, error in results if error is not None]
        if errors:
            payload["error"] = "; ".join(errors)
            return 502, payload
    return 200, payload


async def _call(session: aiohttp.ClientSession, upstream: str, hops: int) -> tuple[Any, str | None]:
    """Ask `upstream` for its colour: (what to show of its answer, an error message or None)."""
    try:
        async with session.get(color_url(upstream), headers={HOPS_HEADER: str(hops)}) as response:
            raw = await response.read()
            status = response.status
    except TimeoutError:
        error = f"upstream {upstream} timed out after {UPSTREAM_TIMEOUT_S:g}s"
        return {"url": upstream, "error": error}, error
    except aiohttp.ClientError as exc:
        error = f"upstream {upstream} unreachable: {exc or type(exc).__name__}"
        return {"url": upstream, "error": error}, error
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw[:200].decode("utf-8", "replace")
    if 200 <= status < 300:
        return (body if isinstance(body, dict) else {"url": upstream, "status": status, "body": body}), None
    error = f"upstream {upstream} answered HTTP {status}"
    return {"url": upstream, "status": status, "error": error, "response": body}, error


def _hops(request: web.Request) -> int:
    """How many demo apps this request has already passed through."""
    try:
        return max(0, int(request.headers.get(HOPS_HEADER, "0")))
    except ValueError:
        return 0


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    """The HTTP client the app calls its upstreams with, open while the app runs."""
    context = app[_CONTEXT]
    timeout = aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        context.session = session
        try:
            yield
        finally:
            context.session = None
