"""A small asynchronous client of the Kubernetes REST API (aiohttp), returning raw JSON dicts.

Errors come in two kinds, and aiohttp's exceptions never leak past this module:

- :class:`ApiError` (and :class:`NotFound`, :class:`Conflict`, :class:`Unauthorized`,
  :class:`Forbidden`) when the server answered with an error, built from its ``v1 Status``;
- :class:`Unreachable` when no answer came (connection refused, TLS failure, timeout).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp

from controller.kube.config import KubeConfig

USER_AGENT = "rollouts"


class KubeError(Exception):
    """Anything that went wrong talking to the API."""


class Unreachable(KubeError):  # noqa: N818 - the names the API's reasons use
    """The API server could not be reached or did not answer in time."""

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(f"cannot reach the Kubernetes API at {server}: {reason}")
        self.server = server
        self.reason = reason


class ApiError(KubeError):
    """The API answered with an error status; ``status`` is its ``v1 Status`` (or a made-up one)."""

    def __init__(self, code: int, reason: str, message: str, status: Mapping[str, Any] | None = None) -> None:
        super().__init__(message or f"{code} {reason}")
        self.code = code
        self.reason = reason
        self.message = message
        self.status: Mapping[str, Any] = status or {}


class Unauthorized(ApiError):  # noqa: N818 - the names the API's reasons use
    """401: no or wrong credentials."""


class Forbidden(ApiError):  # noqa: N818 - the names the API's reasons use
    """403: authenticated, but not allowed."""


class NotFound(ApiError):  # noqa: N818 - the names the API's reasons use
    """404: the object (or the resource type) does not exist."""


class Conflict(ApiError):  # noqa: N818 - the names the API's reasons use
    """409: a stale resourceVersion, or an object that already exists."""


_BY_CODE: dict[int, type[ApiError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict}


def error_from_response(code: int, body: bytes) -> ApiError:
    """The typed error for an error response, from its ``v1 Status`` when it has one."""
    status: Any = None
    with contextlib.suppress(ValueError):
        status = json.loads(body)
    if isinstance(status, dict) and status.get("kind") == "Status":
        reason = str(status.get("reason") or "")
        message = str(status.get("message") or "")
        code = int(status.get("code") or code)
    else:
        reason = ""
        message = body.decode(errors="replace").strip()[:500]
        status = None
    return _BY_CODE.get(code, ApiError)(code, reason or f"HTTP {code}", message, status)


class ApiClient:
    """``async with ApiClient(config) as api: svc = await api.get("/api/v1/...")``."""

    def __init__(self, config: KubeConfig, *, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                    **self.config.auth_headers(),
                },
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(ssl=self.config.ssl_context()),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None
    ) -> dict[str, Any]:
        """One request; the decoded JSON answer, or a typed error."""
        session = self._open()
        extra: dict[str, Any] = {}
        if self.config.tls_server_name:
            extra["server_hostname"] = self.config.tls_server_name
        try:
            url = f"{self.config.server}/{path.lstrip('/')}"
            async with session.request(method, url, params=params, json=body, **extra) as resp:
                payload = await resp.read()
                if resp.status >= 400:
                    raise error_from_response(resp.status, payload)
        except aiohttp.ClientConnectorCertificateError as e:
            raise Unreachable(
                self.config.server, f"TLS certificate not trusted ({e.certificate_error})"
            ) from e
        except aiohttp.ClientConnectorError as e:
            raise Unreachable(self.config.server, str(e.os_error or e)) from e
        except TimeoutError as e:
            raise Unreachable(self.config.server, f"no answer within {self.timeout:g}s") from e
        except aiohttp.ClientError as e:
            raise Unreachable(self.config.server, str(e) or type(e).__name__) from e
        try:
            decoded = json.loads(payload) if payload else {}
        except ValueError as e:
            raise ApiError(resp.status, "BadResponse", f"the API answered {path} with non-JSON") from e
        if not isinstance(decoded, dict):
            raise ApiError(resp.status, "BadResponse", f"the API answered {path} with a non-object")
        return decoded

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET ``path`` (e.g. ``/api/v1/namespaces/default/services/web``)."""
        return await self.request("GET", path, params=params)
