"""A small generic asynchronous HTTP client (aiohttp) for metric providers.

Only :mod:`controller.kube` may import aiohttp, so providers (Prometheus, web) speak HTTP through
:class:`HttpClient`. It never raises for what happens on the wire: :meth:`HttpClient.request`
returns an :class:`HttpResponse` (any status, body read up to a limit) or an :class:`HttpFailure`
(no answer: connection refused, DNS, TLS, timeout, a body too large), each with a one-line
message naming the method and URL. Timeouts are per request; ``insecure`` skips TLS verification;
basic auth and bearer tokens become an ``Authorization`` header.

One client holds two connection pools (verifying, and not verifying TLS) and should be closed
with :meth:`HttpClient.close` (or used as an async context manager).
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp

USER_AGENT: Final = "rollouts-analysis"
#: the largest body read (a metric answer is small; a huge one is a misconfiguration)
MAX_BODY: Final = 16 * 1024 * 1024


@dataclass(frozen=True)
class HttpResponse:
    """An answer: status code, headers and body."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body decoded as JSON; raises ValueError if it is not JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class HttpFailure:
    """No answer came; ``message`` says why (``POST http://x/y: connection refused``)."""

    message: str


HttpResult = HttpResponse | HttpFailure


class HttpClient:
    """``async with HttpClient() as http: result = await http.request("GET", url, timeout_seconds=5)``."""

    def __init__(self, *, limit: int = 100) -> None:
        self.limit = limit
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _session(self, insecure: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(insecure)
        if session is None or session.closed:
            ssl_arg: ssl.SSLContext | bool = False if insecure else ssl.create_default_context()
            session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(ssl=ssl_arg, limit=self.limit),
            )
            self._sessions[insecure] = session
        return session

    async def close(self) -> None:
        """Close the connection pools (TLS ones need a moment to shut down cleanly)."""
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await session.close()
        if sessions:
            await asyncio.sleep(0.1)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        timeout_seconds: float = 10.0,
        insecure: bool = False,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        max_body: int = MAX_BODY,
    ) -> HttpResult:
        """One request; never raises for network problems (see the module docstring)."""
        method = method.upper()
        send_headers: dict[str, str] = {}
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            send_headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urlencode(form).encode()
            send_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = body.encode() if isinstance(body, str) else body
        if basic_auth is not None:
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
            send_headers["Authorization"] = f"Basic {token}"
        if bearer_token:
            send_headers["Authorization"] = f"Bearer {bearer_token}"
        send_headers.update(headers or {})
        where = f"{method} {url}"
        try:
            session = self._session(insecure)
            async with session.request(
                method,
                url,
                data=data,
                headers=send_headers,
                timeout=aiohttp.ClientTimeout(total=timeout_seconds),
                allow_redirects=True,
            ) as resp:
                content = await resp.content.read(max_body + 1)
                if len(content) > max_body:
                    return HttpFailure(f"{where}: the answer is larger than {max_body} bytes")
                return HttpResponse(resp.status, content, {k: v for k, v in resp.headers.items()})
        except TimeoutError:
            return HttpFailure(f"{where}: no answer within {timeout_seconds:g}s (timeout)")
        except aiohttp.InvalidURL:
            return HttpFailure(f"{where}: invalid URL")
        except aiohttp.ClientConnectorCertificateError as e:
            return HttpFailure(f"{where}: TLS certificate not trusted ({e.certificate_error})")
        except aiohttp.ClientConnectorError as e:
            return HttpFailure(f"{where}: {e.os_error.strerror or e.os_error}")
        except aiohttp.ClientError as e:
            return HttpFailure(f"{where}: {str(e) or type(e).__name__}")
        except (ValueError, OSError) as e:
            return HttpFailure(f"{where}: {e}")
