"""The errors of talking to the Kubernetes API, in two kinds (as kopf's ``_cogs/clients/errors.py``).

- :class:`ApiError` and its subclasses when the server answered with an error, built from its
  ``v1 Status``: :class:`Unauthorized` (401), :class:`Forbidden` (403), :class:`NotFound`
  (404), :class:`Conflict` (409), :class:`Expired` (410: a resourceVersion or continue token
  too old to serve), :class:`Invalid` (422) and :class:`TooManyRequests` (429);
- :class:`Unreachable` when no answer came (connection refused, TLS failure, timeout, a stream
  cut short).

Other codes (5xx included) are a plain :class:`ApiError` with ``code`` set.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any


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


class Expired(ApiError):  # noqa: N818 - the names the API's reasons use
    """410: the resourceVersion (of a watch) or continue token (of a list) is too old; re-list."""


class Invalid(ApiError):  # noqa: N818 - the names the API's reasons use
    """422: the object failed validation; ``status['details']['causes']`` says which fields."""


class TooManyRequests(ApiError):  # noqa: N818 - the names the API's reasons use
    """429: the server is throttling (priority and fairness); retried by the client first."""


_BY_CODE: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Expired,
    422: Invalid,
    429: TooManyRequests,
}


def error_from_status(status: Mapping[str, Any], default_code: int = 500) -> ApiError:
    """The typed error for a ``v1 Status`` object (a response body, or a watch ERROR event)."""
    code = int(status.get("code") or default_code)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    return _BY_CODE.get(code, ApiError)(code, reason or f"HTTP {code}", message, status)


def error_from_response(code: int, body: bytes) -> ApiError:
    """The typed error for an error response, from its ``v1 Status`` when it has one."""
    status: Any = None
    with contextlib.suppress(ValueError):
        status = json.loads(body)
    if isinstance(status, dict) and status.get("kind") == "Status":
        return error_from_status(status, code)
    message = body.decode(errors="replace").strip()[:500]
    return _BY_CODE.get(code, ApiError)(code, f"HTTP {code}", message, None)
