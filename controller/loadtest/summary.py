"""What a load test measured: one :class:`Result` per request, and the pure :class:`Summary` of them.

Nothing here does I/O or reads a clock, so the maths is tested on made-up results.

- **Share per version**: every answered request (whatever its status) is labelled with the
  ``version`` of its JSON body (else ``color``, else the first line of the body), and each
  label's share is its fraction of the answered requests: it shows where traffic went.
- **Errors**: answers with status 400 or more (by status, ``HTTP 500``) and requests that got
  no answer (by what went wrong: ``connection refused``, ``timeout``, ...).
- **Latency** percentiles are nearest-rank over the answered requests.
- **Achieved rps** is finished requests over the time the test has been sending.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Result:
    """One request: when it started (seconds into the test), how long it took, what came back."""

    started: float
    latency: float
    #: HTTP status, or None when no answer came
    status: int | None = None
    #: what the answer says it is (``version``, else ``color``, else its first line)
    version: str | None = None
    color: str | None = None
    #: the kind of failure (``HTTP 500``, ``connection refused``, ``timeout``), None for success
    error: str | None = None
    #: the failure's full message, for the one-line error when nothing answered
    detail: str | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class VersionShare:
    """How much of the answered traffic one version served, and how much of it failed."""

    version: str
    requests: int
    percent: float
    errors: int
    color: str | None = None

    @property
    def error_percent(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Summary:
    """The state of a load test at one moment (live) or at its end."""

    target: str
    elapsed: float
    target_rps: float
    duration: float
    requests: int
    answered: int
    errors: int
    errors_by_kind: tuple[tuple[str, int], ...] = ()
    versions: tuple[VersionShare, ...] = ()
    #: latency percentiles and maximum, in seconds (None before any answer)
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max_latency: float | None = None
    #: the message of the first failure, e.g. ``Cannot connect to host 127.0.0.1:1``
    first_error: str | None = None

    @property
    def rps(self) -> float:
        """Requests finished per second of sending."""
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def error_percent(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0

    @property
    def reachable(self) -> bool:
        """Whether anything answered (an HTTP error is an answer)."""
        return self.answered > 0

    def to_dict(self) -> dict[str, Any]:
        """The summary as ``rollouts load-test -o json`` prints it (latencies in milliseconds)."""

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000.0, 3)

        return {
            "target": self.target,
            "duration": round(self.elapsed, 3),
            "requests": self.requests,
            "answered": self.answered,
            "rps": round(self.rps, 2),
            "targetRps": self.target_rps,
            "versions": [
                {
                    "version": v.version,
                    "color": v.color,
                    "requests": v.requests,
                    "percent": round(v.percent, 2),
                    "errors": v.errors,
                }
                for v in self.versions
            ],
            "errors": {
                "count": self.errors,
                "percent": round(self.error_percent, 2),
                "byKind": dict(self.errors_by_kind),
            },
            "latencyMs": {
                "p50": ms(self.p50),
                "p90": ms(self.p90),
                "p99": ms(self.p99),
                "max": ms(self.max_latency),
            },
        }


def label_body(body: bytes) -> tuple[str, str | None]:
    """(version, color) of an answer: from its JSON ``version``/``color``, else its first line."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and (data.get("version") is not None or data.get("color") is not None):
        color = str(data["color"]) if data.get("color") is not None else None
        version = str(data["version"]) if data.get("version") is not None else color
        return version or "", color
    text = body.decode(errors="replace").strip()
    first = text.splitlines()[0].strip() if text else ""
    return (first[:60] if first else "(empty)"), None


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile ``p`` (0-100) of values sorted ascending; None when empty."""
    if not sorted_values:
        return None
    if p <= 0:
        return sorted_values[0]
    rank = math.ceil(p / 100.0 * len(sorted_values))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(
    results: Iterable[Result], *, target: str, elapsed: float, target_rps: float, duration: float
) -> Summary:
    """Summarize the results recorded so far."""
    items = list(results)
    answered = [r for r in items if r.answered]
    failures = [r for r in items if r.error is not None]
    by_kind = Counter(r.error for r in failures if r.error is not None)
    per_version: Counter[str] = Counter()
    version_errors: Counter[str] = Counter()
    colors: dict[str, str] = {}
    for r in answered:
        label = r.version if r.version is not None else ""
        per_version[label] += 1
        if r.error is not None:
            version_errors[label] += 1
        if r.color and label not in colors:
            colors[label] = r.color
    versions = tuple(
        VersionShare(
            version=label,
            requests=count,
            percent=100.0 * count / len(answered),
            errors=version_errors[label],
            color=colors.get(label),
        )
        for label, count in sorted(per_version.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    latencies = sorted(r.latency for r in answered)
    return Summary(
        target=target,
        elapsed=elapsed,
        target_rps=target_rps,
        duration=duration,
        requests=len(items),
        answered=len(answered),
        errors=len(failures),
        errors_by_kind=tuple(sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))),
        versions=versions,
        p50=percentile(latencies, 50),
        p90=percentile(latencies, 90),
        p99=percentile(latencies, 99),
        max_latency=latencies[-1] if latencies else None,
        first_error=next((r.detail or r.error for r in failures if not r.answered), None),
    )
