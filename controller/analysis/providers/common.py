"""Pieces the HTTP providers share: header lists, URL checks, OAuth2 client-credentials tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from controller.kube.http import HttpClient, HttpFailure


def header_map(raw: Any) -> dict[str, str]:
    """``[{key, value}, ...]`` as a dict (later entries win, as Go's ``Header.Set``)."""
    headers: dict[str, str] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and item.get("key"):
                headers[str(item["key"])] = str(item.get("value") or "")
    return headers


def is_url(text: str) -> bool:
    """A URL with a scheme and a host (Argo's ``IsUrl``)."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc)


class AuthError(Exception):
    """Credentials could not be obtained."""


async def oauth2_token(
    http: HttpClient, oauth2: Mapping[str, Any], *, timeout_seconds: float, insecure: bool
) -> str:
    """An access token from ``tokenUrl`` by the client-credentials grant; raises :class:`AuthError`."""
    token_url = str(oauth2.get("tokenUrl") or "")
    if not is_url(token_url):
        raise AuthError("authentication.oauth2.tokenUrl must be a URL")
    form = {
        "grant_type": "client_credentials",
        "client_id": str(oauth2.get("clientId") or ""),
        "client_secret": str(oauth2.get("clientSecret") or ""),
    }
    scopes = oauth2.get("scopes")
    if isinstance(scopes, list) and scopes:
        form["scope"] = " ".join(str(s) for s in scopes)
    result = await http.request(
        "POST", token_url, form=form, timeout_seconds=timeout_seconds, insecure=insecure
    )
    if isinstance(result, HttpFailure):
        raise AuthError(f"oauth2: {result.message}")
    if not result.ok:
        raise AuthError(f"oauth2: the token endpoint answered {result.status}")
    try:
        token = result.json().get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise AuthError("oauth2: the token endpoint's answer has no access_token")
    return token
