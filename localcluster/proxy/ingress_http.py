"""HTTP forwarding for the ingress proxy: one request to one backend endpoint, as nginx proxies it.

- The request goes out over HTTP/1.1 with pooled keep-alive connections to the endpoints
  (60 s idle, as ingress-nginx's upstream keep-alive), method, path and query byte for byte,
  the body streamed, and the client's headers minus the hop-by-hop ones. ``Host`` is passed as
  the client sent it; the headers ingress-nginx sets by default are added: ``X-Real-IP`` and
  ``X-Forwarded-For`` (the client's address — like ingress-nginx without
  ``use-forwarded-headers``, an incoming ``X-Forwarded-For`` is not trusted, and is passed on
  as ``X-Original-Forwarded-For``), ``X-Forwarded-Host``, ``X-Forwarded-Port``,
  ``X-Forwarded-Proto``/``X-Forwarded-Scheme``/``X-Scheme`` (``http``) and ``X-Request-ID``
  (the client's, else a new random one).
- The response's status, headers (minus hop-by-hop) and body are passed back as they come,
  streamed, not decompressed, with no redirect followed and no cookie kept.
- A connection that cannot be made is retried on the next endpoint, up to 3 tries in all
  (``proxy-next-upstream: error timeout``, ``proxy-next-upstream-tries: 3``); so is a pooled
  connection the endpoint closed, for a request without a body. Then ``502``; no response
  header within 60 s (``proxy-read-timeout``) is ``504``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from localcluster.proxy.balancer import Endpoint

log = logging.getLogger("localcluster.proxy")

#: Headers about one connection, never forwarded (RFC 9110 section 7.6.1, and what nginx drops).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Headers the proxy sets itself, so a client cannot pass its own.
_SET_BY_PROXY = frozenset(
    {
        "x-real-ip",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-proto",
        "x-forwarded-scheme",
        "x-scheme",
        "x-original-forwarded-for",
        "expect",
    }
)
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
KEEPALIVE_TIMEOUT = 60.0
TRIES = 3
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_REASONS = {
    404: "Not Found",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def error_response(status: int) -> web.Response:
    """The small HTML page nginx-style proxies answer with when they cannot forward."""
    reason = _REASONS.get(status, "Error")
    body = (
        f"<html><head><title>{status} {reason}</title></head>"
        f"<body><h1>{status} {reason}</h1><hr><p>localcluster ingress (ingress-nginx rules)</p>"
        "</body></html>\n"
    )
    return web.Response(status=status, reason=reason, text=body, content_type="text/html")


def _connection_tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def upstream_headers(request: web.BaseRequest, *, ingress_port: int) -> CIMultiDict[str]:
    """The headers sent to the endpoint: the client's, minus hop-by-hop, plus nginx's own."""
    drop = HOP_BY_HOP | _SET_BY_PROXY | _connection_tokens(request.headers.get("Connection"))
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        if name.lower() not in drop:
            headers.add(name, value)
    client = request.remote or ""
    host = request.headers.get("Host", "")
    original_for = request.headers.get("X-Forwarded-For")
    if "x-request-id" not in headers:
        headers["X-Request-ID"] = secrets.token_hex(16)
    headers["X-Real-IP"] = client
    headers["X-Forwarded-For"] = client
    headers["X-Forwarded-Host"] = host
    headers["X-Forwarded-Port"] = str(ingress_port)
    headers["X-Forwarded-Proto"] = "http"
    headers["X-Forwarded-Scheme"] = "http"
    headers["X-Scheme"] = "http"
    if original_for:
        headers["X-Original-Forwarded-For"] = original_for
    return headers


class Forwarder:
    """The client side of the proxy: one pooled session for every endpoint."""

    def __init__(
        self,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        tries: int = TRIES,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.tries = tries
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1024, keepalive_timeout=KEEPALIVE_TIMEOUT),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
                ),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(
        self,
        request: web.BaseRequest,
        pick: Callable[[], Endpoint | None],
        *,
        ingress_port: int,
    ) -> web.StreamResponse:
        """Send ``request`` to an endpoint ``pick`` gives (the next one on a failed connection)."""
        headers = upstream_headers(request, ingress_port=ingress_port)
        has_body = request.body_exists
        retry_disconnect = request.method in _IDEMPOTENT and not has_body
        session = self._client()
        last_error = ""
        for _ in range(max(1, self.tries)):
            endpoint = pick()
            if endpoint is None:
                return error_response(503)
            url = URL(f"http://{endpoint.ip}:{endpoint.port}{request.raw_path}", encoded=True)
            try:
                upstream = await session.request(
                    request.method,
                    url,
                    headers=headers,
                    data=request.content if has_body else None,
                    allow_redirects=False,
                )
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as e:
                last_error = str(e) or "connection timed out"
                continue
            except aiohttp.ServerDisconnectedError as e:
                last_error = str(e) or "server disconnected"
                if retry_disconnect:
                    continue
                break
            except (TimeoutError, aiohttp.ServerTimeoutError):
                log.debug("ingress: endpoint %s did not answer within %ss", endpoint, self.read_timeout)
                return error_response(504)
            except aiohttp.ClientError as e:
                last_error = str(e)
                break
            async with upstream:
                return await self._relay(request, upstream)
        log.debug("ingress: no endpoint could be reached for %s: %s", request.path, last_error)
        return error_response(502)

    async def _relay(self, request: web.BaseRequest, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        drop = HOP_BY_HOP | _connection_tokens(upstream.headers.get("Connection"))
        for name, value in upstream.headers.items():
            if name.lower() not in drop:
                response.headers.add(name, value)
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (TimeoutError, aiohttp.ClientError) as e:
            # The endpoint failed halfway: the client must see a cut response, not a complete one.
            log.debug("ingress: response from %s cut: %s", upstream.url, e)
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write_eof()
        return response
