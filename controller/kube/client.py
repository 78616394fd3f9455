"""A small asynchronous client of the Kubernetes REST API (aiohttp), returning raw JSON dicts.

Verbs: :meth:`ApiClient.get`, :meth:`~ApiClient.list`, :meth:`~ApiClient.watch`,
:meth:`~ApiClient.create`, :meth:`~ApiClient.replace`, :meth:`~ApiClient.patch` (merge, JSON,
strategic and server-side apply), :meth:`~ApiClient.patch_status`, :meth:`~ApiClient.delete`,
and :meth:`~ApiClient.request` underneath them all.

Errors come in two kinds (see :mod:`controller.kube.errors`), and aiohttp's exceptions never
leak past this module: :class:`ApiError` and its subclasses when the server answered with an
error, :class:`Unreachable` when no answer came.

Retries: a 429 is retried for every verb (the server did not act on the request); a 502, 503
or 504, and any 5xx carrying ``Retry-After``, is retried for the idempotent verbs only (GET,
HEAD, PUT, DELETE, OPTIONS: a POST or PATCH may have been applied). ``Retry-After`` seconds are
honoured (capped), otherwise the delay is a jittered exponential back-off. A plain 500 is not
retried: it is usually the same answer again. Connection errors are not retried here; the
informer and the elector have loops of their own.

Metrics: :attr:`ApiClient.requests` counts every HTTP exchange by ``(method, code)``, with code
``"<error>"`` when no answer came (client-go's ``rest_client_requests_total`` labels), and an
``on_request(method, code, seconds)`` callback can feed a histogram.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import email.utils
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import aiohttp

from controller.kube.config import KubeConfig
from controller.kube.errors import (
    ApiError,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    KubeError,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unreachable,
    error_from_response,
    error_from_status,
)

__all__ = [
    "ApiClient",
    "ApiError",
    "Conflict",
    "Expired",
    "Forbidden",
    "Invalid",
    "KubeError",
    "NotFound",
    "PatchType",
    "Propagation",
    "RetryPolicy",
    "TooManyRequests",
    "Unauthorized",
    "Unreachable",
    "WatchEvent",
    "error_from_response",
    "resource_path",
]

USER_AGENT = "rollouts"
log = logging.getLogger(__name__)

PatchType = Literal["merge", "json", "strategic", "apply"]
Propagation = Literal["Foreground", "Background", "Orphan"]
#: ``on_request(method, code, seconds)``: one call per HTTP exchange, code ``"<error>"`` if none
RequestObserver = Callable[[str, str, float], None]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: 5xx codes retried (idempotent verbs only) even without Retry-After
TRANSIENT_CODES = frozenset({502, 503, 504})


def resource_path(
    api_version: str,
    plural: str,
    *,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """The REST path: ``resource_path("apps/v1", "deployments", namespace="ns", name="web")``."""
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [root]
    if namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name:
        parts.append(name)
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch: ``type`` is ADDED, MODIFIED, DELETED or BOOKMARK; ``object`` raw JSON."""

    type: str
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        """The object's ``metadata.resourceVersion`` ('' when absent)."""
        return str((self.object.get("metadata") or {}).get("resourceVersion") or "")


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long :class:`ApiClient` waits before sending a refused request again."""

    #: retries after the first attempt (0: never retry)
    max_retries: int = 3
    #: back-off before the first retry when the server gave no Retry-After, in seconds
    backoff_initial: float = 0.2
    #: the longest back-off, in seconds
    backoff_cap: float = 5.0
    #: the longest Retry-After honoured, in seconds (a longer one is cut to this)
    max_retry_after: float = 30.0
    #: the random source for jitter, in [0, 1)
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, method: str, code: int, retry_after: str | None, attempt: int) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``; None: do not retry."""
        if attempt >= self.max_retries:
            return None
        after = parse_retry_after(retry_after)
        throttled = code == 429
        transient = code >= 500 and (code in TRANSIENT_CODES or after is not None)
        if not throttled and not (transient and method in IDEMPOTENT_METHODS):
            return None
        if after is not None:
            # a little jitter so that throttled clients do not all come back at the same instant
            return min(after, self.max_retry_after) * (1.0 + 0.2 * self.rng())
        base = min(self.backoff_cap, self.backoff_initial * 2.0**attempt)
        return base / 2 + base / 2 * self.rng()


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _decode_event(line: bytes, path: str) -> WatchEvent:
    try:
        raw = json.loads(line)
    except ValueError as e:
        raise ApiError(200, "BadResponse", f"the watch of {path} sent a line that is not JSON") from e
    if not isinstance(raw, dict) or not isinstance(raw.get("object"), dict) or "type" not in raw:
        raise ApiError(200, "BadResponse", f"the watch of {path} sent a line that is not an event")
    if raw["type"] == "ERROR":
        raise error_from_status(raw["object"])
    return WatchEvent(str(raw["type"]), raw["object"])


def _query(
    label_selector: str | None,
    field_selector: str | None,
    resource_version: str | None,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    if resource_version is not None:
        params["resourceVersion"] = resource_version
    return params


class ApiClient:
    """``async with ApiClient(config) as api: svc = await api.get("/api/v1/...")``."""

    def __init__(
        self,
        config: KubeConfig,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        on_request: RequestObserver | None = None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.on_request = on_request
        #: HTTP exchanges by (method, code); code "<error>" when no answer came
        self.requests: Counter[tuple[str, str]] = Counter()
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
        """Close the connections; TLS ones need a moment to shut down cleanly (aiohttp's advice),
        otherwise their transports are torn down later by the garbage collector, with warnings."""
        if self._session is not None:
            await self._session.close()
            self._session = None
            await asyncio.sleep(0.25)

    # -- transport ---------------------------------------------------------------------------------

    def _unreachable(self, e: BaseException) -> Unreachable:
        server = self.config.server
        if isinstance(e, aiohttp.ClientConnectorCertificateError):
            return Unreachable(server, f"TLS certificate not trusted ({e.certificate_error})")
        if isinstance(e, aiohttp.ClientConnectorError):
            return Unreachable(server, str(e.os_error or e))
        if isinstance(e, TimeoutError):
            return Unreachable(server, f"no answer within {self.timeout:g}s")
        return Unreachable(server, str(e) or type(e).__name__)

    def _observe(self, method: str, code: str, started: float) -> None:
        self.requests[(method, code)] += 1
        if self.on_request is not None:
            self.on_request(method, code, time.monotonic() - started)

    @contextlib.asynccontextmanager
    async def _response(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A successful (< 400) response, after any retries; error statuses raise typed errors."""
        session = self._open()
        url = f"{self.config.server}/{path.lstrip('/')}"
        headers: dict[str, str] = {}
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type or "application/json"
        extra: dict[str, Any] = {}
        if self.config.tls_server_name:
            extra["server_hostname"] = self.config.tls_server_name
        if client_timeout is not None:
            extra["timeout"] = client_timeout
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                resp = await session.request(method, url, params=params, data=data, headers=headers, **extra)
            except (aiohttp.ClientError, TimeoutError) as e:
                self._observe(method, "<error>", started)
                raise self._unreachable(e) from e
            self._observe(method, str(resp.status), started)
            if resp.status < 400:
                break
            try:
                payload = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as e:
                raise self._unreachable(e) from e
            finally:
                resp.release()
            delay = self.retry.delay(method, resp.status, resp.headers.get("Retry-After"), attempt)
            if delay is None:
                raise error_from_response(resp.status, payload)
            attempt += 1
            log.debug("%s %s answered %d; retry %d in %.2fs", method, path, resp.status, attempt, delay)
            await asyncio.sleep(delay)
        try:
            yield resp
        finally:
            resp.release()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """One request (retried as the module docstring says); the decoded JSON answer, or a typed error."""
        async with self._response(method, path, params=params, body=body, content_type=content_type) as resp:
            try:
                payload = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as e:
                raise self._unreachable(e) from e
            status = resp.status
        try:
            decoded = json.loads(payload) if payload else {}
        except ValueError as e:
            raise ApiError(status, "BadResponse", f"the API answered {path} with non-JSON") from e
        if not isinstance(decoded, dict):
            raise ApiError(status, "BadResponse", f"the API answered {path} with a non-object")
        return decoded

    # -- reads -------------------------------------------------------------------------------------

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET ``path`` (e.g. ``/api/v1/namespaces/default/services/web``)."""
        return await self.request("GET", path, params=params)

    async def list(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """GET a collection: ``{"kind": "...List", "metadata": {"resourceVersion", "continue"}, "items"}``."""
        params = _query(label_selector, field_selector, resource_version)
        if limit is not None:
            params["limit"] = str(limit)
        if continue_token:
            params["continue"] = continue_token
        return await self.request("GET", path, params=params)

    async def watch(
        self,
        path: str,
        *,
        resource_version: str | None,
        timeout_seconds: float,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Watch a collection from ``resource_version``: one :class:`WatchEvent` per line.

        The stream ends after ``timeout_seconds`` (the server closes it); an ERROR event raises
        its typed error (410: :class:`Expired`, re-list). Use ``contextlib.aclosing`` to stop early.
        """
        params = _query(label_selector, field_selector, resource_version or None)
        params["watch"] = "true"
        params["timeoutSeconds"] = str(max(1, round(timeout_seconds)))
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=timeout_seconds + self.timeout
        )
        async with self._response("GET", path, params=params, client_timeout=timeout) as resp:
            buffer = bytearray()
            chunks = resp.content.iter_any().__aiter__()
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except (aiohttp.ClientError, TimeoutError) as e:
                    raise self._unreachable(e) from e
                buffer.extend(chunk)
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    if line.strip():
                        yield _decode_event(line, path)
            if buffer.strip():
                yield _decode_event(bytes(buffer), path)

    # -- writes ------------------------------------------------------------------------------------

    async def create(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]:
        """POST ``body`` to the collection ``path``; the created object."""
        params = {"fieldManager": field_manager} if field_manager else None
        return await self.request("POST", path, params=params, body=body)

    async def replace(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]:
        """PUT ``body`` at ``path`` (with ``metadata.resourceVersion``: 409 :class:`Conflict` if stale)."""
        params = {"fieldManager": field_manager} if field_manager else None
        return await self.request("PUT", path, params=params, body=body)

    async def patch(
        self,
        path: str,
        body: Mapping[str, Any] | builtins.list[Any],
        *,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """PATCH ``path``: JSON merge, JSON patch (a list of ops), strategic merge or server-side apply.

        ``apply`` needs ``field_manager``; ``force`` (take fields other managers own) is apply-only.
        """
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(
                f"unknown patch type {patch_type!r}; use one of {', '.join(PATCH_CONTENT_TYPES)}"
            )
        if patch_type == "apply" and not field_manager:
            raise ValueError("a server-side apply patch needs a field_manager")
        if force and patch_type != "apply":
            raise ValueError("force applies only to server-side apply patches")
        params: dict[str, str] = {}
        if field_manager:
            params["fieldManager"] = field_manager
        if force:
            params["force"] = "true"
        return await self.request(
            "PATCH", path, params=params or None, body=body, content_type=PATCH_CONTENT_TYPES[patch_type]
        )

    async def patch_status(
        self,
        path: str,
        body: Mapping[str, Any] | builtins.list[Any],
        *,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """PATCH the ``status`` subresource of the object at ``path``."""
        return await self.patch(
            f"{path.rstrip('/')}/status",
            body,
            patch_type=patch_type,
            field_manager=field_manager,
            force=force,
        )

    async def delete(self, path: str, *, propagation: Propagation | None = None) -> dict[str, Any]:
        """DELETE ``path``; the answer is the object (still finalizing) or a ``Success`` Status.

        DELETE is retried on 5xx, so a retried delete may end in :class:`NotFound`: treat that as done.
        """
        body = None
        if propagation is not None:
            body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        return await self.request("DELETE", path, body=body)
