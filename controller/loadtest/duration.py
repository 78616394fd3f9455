"""Go-style durations (``300ms``, ``10s``, ``2m``, ``1h30m``), as kubectl and Argo Rollouts write them."""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # micro sign
    "μs": 1e-6,  # Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration; a bare number is seconds. Raises ValueError naming the input.

    As Go's ``time.ParseDuration``: an optional sign, then one or more number+unit parts
    (``1h2m3.5s``); ``0`` needs no unit.
    """
    s = text.strip()
    body = s[1:] if s[:1] in ("+", "-") else s
    sign = -1.0 if s[:1] == "-" else 1.0
    if not body:
        raise ValueError(f'invalid duration "{text}"')
    if re.fullmatch(r"\d+(\.\d*)?|\.\d+", body):
        return sign * float(body)
    total = 0.0
    pos = 0
    for match in _PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(body):
        raise ValueError(f'invalid duration "{text}" (use e.g. 30s, 2m, 1m30s, 500ms)')
    return sign * total


def format_duration(seconds: float) -> str:
    """A short human form: ``850ms``, ``12.5s``, ``2m5s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"
