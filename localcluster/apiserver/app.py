"""The aiohttp application: authentication, routing, and errors answered as Status objects."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from localcluster.apiserver import discovery, errors, prometheus_sd
from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.handlers import ObjectHandlers, json_response
from localcluster.apiserver.objects import Objects

log = logging.getLogger("localcluster.apiserver")

# Paths the real API server lets anyone read (the system:public-info-viewer role).
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _status_response(err: ApiError) -> web.Response:
    return json_response(err.status(), err.code)


def make_app(objects: Objects, *, token: str, server_address: str) -> web.Application:
    """The API server application. ``token`` is the bearer token every request must carry."""
    handlers = ObjectHandlers(objects, objects.registry)
    registry = objects.registry
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        try:
            if request.path not in PUBLIC_PATHS:
                given = request.headers.get("Authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    raise ApiError(401, "Unauthorized", "Unauthorized")
            response = await handler(request)
        except ApiError as e:
            response = _status_response(e)
        except web.HTTPException:
            raise
        except Exception as e:
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            response = _status_response(ApiError(500, "InternalError", f"Internal error occurred: {e}"))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s [%s] -> %s (%.1f ms)",
                request.method,
                request.path_qs,
                request.headers.get("Content-Type", ""),
                response.status,
                (time.monotonic() - started) * 1000,
            )
        return response

    async def route(request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if request.method != "GET" and (len(parts) < 3 or parts[0] not in ("api", "apis")):
            raise errors.method_not_allowed(f"{request.method} is not allowed on {request.path}")
        if not parts:
            return json_response(
                {"paths": sorted({"/api", "/api/v1", "/apis", "/version", "/healthz", "/openapi/v3"})}
            )
        head = parts[0]
        if head in ("healthz", "livez", "readyz") and len(parts) == 1:
            return web.Response(text="ok")
        if head == "version" and len(parts) == 1:
            return json_response(discovery.version_info())
        if head == "openapi":
            return _openapi(parts[1:])
        if request.path == prometheus_sd.PATH:
            return json_response(prometheus_sd.http_sd(objects, request.query))
        if head == "api":
            if len(parts) == 1:
                return json_response(discovery.api_versions(server_address))
            if parts[1] != "v1":
                raise _not_found()
            if len(parts) == 2:
                return _found(discovery.resource_list(registry, "", "v1"))
            return await handlers.dispatch(request, "", "v1", parts[2:])
        if head == "apis":
            if len(parts) == 1:
                return json_response(discovery.api_group_list(registry))
            if len(parts) == 2:
                return _found(discovery.api_group(registry, parts[1]))
            if len(parts) == 3:
                return _found(discovery.resource_list(registry, parts[1], parts[2]))
            return await handlers.dispatch(request, parts[1], parts[2], parts[3:])
        raise _not_found()

    def _openapi(rest: list[str]) -> web.Response:
        if rest == ["v3"]:
            return json_response(discovery.openapi_index(registry))
        if len(rest) >= 3 and rest[0] == "v3":
            tail = rest[1:]
            if tail[0] == "api" and len(tail) == 2:
                return _found(discovery.openapi_document(registry, "", tail[1]))
            if tail[0] == "apis" and len(tail) == 3:
                return _found(discovery.openapi_document(registry, tail[1], tail[2]))
        # /openapi/v2 is deliberately absent: kubectl then uses v3 (see docs/localcluster.md).
        raise _not_found()

    app = web.Application(middlewares=[middleware], client_max_size=8 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", route)
    return app


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _found(body: dict[str, Any] | None) -> web.Response:
    if body is None:
        raise _not_found()
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), content_type="application/json"
    )
