"""Prometheus metrics of the controller, and the small HTTP endpoint serving them.

Each :class:`Metrics` has a registry of its own (two controllers in one test process do not
collide). :class:`MetricsServer` serves ``/metrics`` (the Prometheus text format) and
``/healthz`` (``ok``) from a daemon thread with the standard library's WSGI server; it is not
asyncio code, so aiohttp stays inside :mod:`controller.kube`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def strategy_of(rollout: Mapping[str, Any]) -> str:
    """``canary``, ``blueGreen`` or ``none``."""
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    return next((s for s in ("canary", "blueGreen") if strategy.get(s) is not None), "none")


class Metrics:
    """``rollout_info``, ``rollout_reconcile_seconds``, ``rollout_events_total``, API requests."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.info = Gauge(
            "rollout_info",
            "Information about a Rollout (1 per Rollout)",
            ["namespace", "name", "strategy", "phase"],
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            "rollout_reconcile_seconds",
            "Time one reconcile of a Rollout took",
            ["namespace", "name"],
            registry=self.registry,
        )
        self.events = Counter(
            "rollout_events_total", "Events recorded on Rollouts", ["type", "reason"], registry=self.registry
        )
        self.api_requests = Counter(
            "rollout_controller_api_requests_total",
            "HTTP requests to the Kubernetes API by verb and status code",
            ["verb", "code"],
            registry=self.registry,
        )
        self.api_seconds = Histogram(
            "rollout_controller_api_request_seconds",
            "Latency of HTTP requests to the Kubernetes API",
            ["verb"],
            registry=self.registry,
        )
        self._labels: dict[str, tuple[str, str, str, str]] = {}

    # -- the reconciler's Observer -----------------------------------------------------------

    def reconciled(self, rollout: Mapping[str, Any], seconds: float) -> None:
        """A reconcile ended with ``rollout`` (status as written); time it, refresh ``rollout_info``."""
        meta = rollout.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        self.reconcile_seconds.labels(namespace, name).observe(seconds)
        phase = str((rollout.get("status") or {}).get("phase") or "")
        labels = (namespace, name, strategy_of(rollout), phase)
        key = f"{namespace}/{name}"
        previous = self._labels.get(key)
        if previous is not None and previous != labels:
            self.info.remove(*previous)
        self._labels[key] = labels
        self.info.labels(*labels).set(1)

    def event(self, type_: str, reason: str) -> None:
        """An event was recorded."""
        self.events.labels(type_, reason).inc()

    def forget(self, key: str) -> None:
        """The Rollout ``key`` was deleted: drop its ``rollout_info`` series."""
        previous = self._labels.pop(key, None)
        if previous is not None:
            self.info.remove(*previous)

    # -- the ApiClient's on_request ----------------------------------------------------------

    def api_request(self, method: str, code: str, seconds: float) -> None:
        """One HTTP exchange with the API (``ApiClient(on_request=...)``)."""
        self.api_requests.labels(method, code).inc()
        self.api_seconds.labels(method).observe(seconds)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics: " + format, *args)


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``address:port`` from a daemon thread; :meth:`stop` ends it."""

    def __init__(self, metrics: Metrics, port: int, address: str = "0.0.0.0") -> None:
        self.metrics = metrics
        self._prometheus: WsgiApp = make_wsgi_app(metrics.registry)
        self._server: WSGIServer = make_server(address, port, self._app, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self._server.server_port)

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/metrics":
            return self._prometheus(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    def start(self) -> None:
        self._thread.start()
        log.info("action=serve-metrics port=%d paths=/metrics,/healthz", self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
