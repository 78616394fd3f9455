"""What a demo run saw, as plain data: markers on a clock, and the traffic per second (pure).

The clock is seconds since the run started. :func:`rollout_markers` turns two successive
states of a Rollout into the markers a person would note (a step reached, a pause, an
analysis result, an abort, a canary weight, a blue-green preview or switch, Healthy);
:func:`traffic_samples` buckets the load test's requests
into one :class:`Sample` per second; :func:`window` sums the requests started in a span, which
is what the scenarios' traffic assertions read.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.core.phase import rollout_phase
from controller.loadtest import Result

Obj = Mapping[str, Any]

#: marker kinds, in the report's legend order
MARKER_KINDS = (
    "setup",
    "update",
    "step",
    "weight",
    "preview",
    "pause",
    "resume",
    "promote",
    "switch",
    "scaledown",
    "analysis",
    "abort",
    "sync",
    "phase",
)


@dataclass(frozen=True)
class Marker:
    """Something that happened at ``at`` seconds into the run."""

    at: float
    kind: str
    label: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at": round(self.at, 3), "kind": self.kind, "label": self.label, "detail": self.detail}


@dataclass(frozen=True)
class Sample:
    """The requests started during one second (``at`` .. ``at + width``) and how they ended."""

    at: float
    width: float
    by_version: Mapping[str, int] = field(default_factory=dict)
    #: requests that failed: an HTTP 5xx answer or no answer at all
    errors: int = 0
    #: requests that got no answer (connection refused, timeout, ...)
    unanswered: int = 0

    @property
    def requests(self) -> int:
        return sum(self.by_version.values()) + self.unanswered

    @property
    def error_percent(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": round(self.at, 3),
            "width": self.width,
            "versions": dict(self.by_version),
            "errors": self.errors,
            "unanswered": self.unanswered,
        }


@dataclass(frozen=True)
class Window:
    """The traffic of a span of time: requests per version and failures."""

    since: float
    until: float
    by_version: Mapping[str, int]
    errors: int
    unanswered: int
    #: run time of the last request each version answered in the span
    last_seen: Mapping[str, float] = field(default_factory=dict)
    #: failed answers per version (HTTP 5xx)
    errors_by_version: Mapping[str, int] = field(default_factory=dict)
    #: run time of the first request each version answered in the span
    first_seen: Mapping[str, float] = field(default_factory=dict)

    @property
    def answered(self) -> int:
        return sum(self.by_version.values())

    @property
    def requests(self) -> int:
        return self.answered + self.unanswered

    def percent(self, version: str) -> float:
        """Share of the answered requests that ``version`` answered (0 when none answered)."""
        return 100.0 * self.by_version.get(version, 0) / self.answered if self.answered else 0.0

    @property
    def error_percent(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0

    def describe(self) -> str:
        """``green 48% (96), blue 52% (104); errors 0%`` — for narration and failures."""
        parts = [
            f"{v} {self.percent(v):.0f}% ({n})"
            for v, n in sorted(self.by_version.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        shares = ", ".join(parts) if parts else "no answers"
        return f"{shares}; errors {self.error_percent:.0f}% of {self.requests} requests"


def _failed(result: Result) -> bool:
    return result.error is not None


def traffic_samples(results: Iterable[Result], *, offset: float, width: float = 1.0) -> list[Sample]:
    """One sample per ``width`` seconds of run time, from the first request to the last.

    ``offset`` is the run time at which the load test started (results count from there).
    """
    buckets: dict[int, tuple[Counter[str], int, int]] = {}
    for r in results:
        index = math.floor((offset + r.started) / width)
        versions, errors, unanswered = buckets.get(index, (Counter(), 0, 0))
        if r.answered:
            versions[r.version or "?"] += 1
        else:
            unanswered += 1
        buckets[index] = (versions, errors + (1 if _failed(r) else 0), unanswered)
    if not buckets:
        return []
    first, last = min(buckets), max(buckets)
    samples = []
    for index in range(first, last + 1):
        versions, errors, unanswered = buckets.get(index, (Counter(), 0, 0))
        samples.append(
            Sample(
                at=index * width, width=width, by_version=dict(versions), errors=errors, unanswered=unanswered
            )
        )
    return samples


def window(results: Iterable[Result], *, offset: float, since: float, until: float) -> Window:
    """The requests started between run times ``since`` and ``until``."""
    versions: Counter[str] = Counter()
    version_errors: Counter[str] = Counter()
    last_seen: dict[str, float] = {}
    first_seen: dict[str, float] = {}
    errors = unanswered = 0
    for r in results:
        at = offset + r.started
        if not since <= at < until:
            continue
        if r.answered:
            label = r.version or "?"
            versions[label] += 1
            last_seen[label] = max(at, last_seen.get(label, at))
            first_seen[label] = min(at, first_seen.get(label, at))
            if _failed(r):
                version_errors[label] += 1
        else:
            unanswered += 1
        if _failed(r):
            errors += 1
    return Window(
        since, until, dict(versions), errors, unanswered, last_seen, dict(version_errors), first_seen
    )


# -- markers from Rollout changes ------------------------------------------------------------------


def describe_step(step: Mapping[str, Any]) -> str:
    """A canary step in a few words: ``setWeight 50``, ``pause 2m``, ``pause (until promoted)``."""
    if "setWeight" in step:
        return f"setWeight {step['setWeight']}"
    if "pause" in step:
        duration = (step.get("pause") or {}).get("duration")
        return f"pause {duration}" if duration not in (None, "") else "pause (until promoted)"
    if "analysis" in step:
        names = [t.get("templateName", "?") for t in (step.get("analysis") or {}).get("templates") or []]
        return f"analysis {', '.join(names)}"
    if "experiment" in step:
        return "experiment"
    keys = [k for k in step if step.get(k) is not None]
    return keys[0] if keys else "step"


def steps_of(rollout: Obj) -> list[Mapping[str, Any]]:
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    return [s for s in canary.get("steps") or [] if isinstance(s, Mapping)]


def _status(rollout: Obj | None) -> Mapping[str, Any]:
    return (rollout or {}).get("status") or {}


def _step_run(rollout: Obj | None) -> tuple[str, str]:
    run = (_status(rollout).get("canary") or {}).get("currentStepAnalysisRunStatus") or {}
    return str(run.get("name") or ""), str(run.get("status") or "")


def _canary_weight(status: Mapping[str, Any]) -> int | None:
    """``status.canary.weights.canary.weight`` (traffic routing only; None when not set)."""
    weight = (((status.get("canary") or {}).get("weights") or {}).get("canary") or {}).get("weight")
    return None if weight is None else int(weight)


def routing_markers(old: Obj, new: Obj, at: float, version_of: Callable[[str], str] = str) -> list[Marker]:
    """What the Services and the Ingress were told: a blue-green preview or switch, a canary weight.

    ``version_of`` names a pod-template hash (``green``); the hash itself by default.
    """
    markers: list[Marker] = []
    before, after = _status(old), _status(new)
    strategy = (new.get("spec") or {}).get("strategy") or {}
    bg_before, bg_after = before.get("blueGreen") or {}, after.get("blueGreen") or {}
    active_before = str(bg_before.get("activeSelector") or "")
    active, preview = str(bg_after.get("activeSelector") or ""), str(bg_after.get("previewSelector") or "")
    services = strategy.get("blueGreen") or {}
    if active and preview and preview != str(bg_before.get("previewSelector") or "") and preview != active:
        service = services.get("previewService") or "the preview Service"
        markers.append(
            Marker(at, "preview", f"preview → {version_of(preview)}", f"{service} selects revision {preview}")
        )
    if active_before and active and active != active_before:
        service = services.get("activeService") or "the active Service"
        markers.append(
            Marker(at, "switch", f"active → {version_of(active)}", f"{service} selects revision {active}")
        )
    weight, weight_before = _canary_weight(after), _canary_weight(before)
    if weight is not None and weight != (weight_before or 0):
        service = (strategy.get("canary") or {}).get("canaryService") or "the canary"
        markers.append(Marker(at, "weight", f"weight {weight}%", f"{weight}% of the requests to {service}"))
    return markers


def rollout_markers(
    old: Obj | None, new: Obj, at: float, *, version_of: Callable[[str], str] = str
) -> list[Marker]:
    """The markers the change from ``old`` to ``new`` makes (``old`` None: the first sight)."""
    markers: list[Marker] = []
    before, after = _status(old), _status(new)
    steps = steps_of(new)
    index = after.get("currentStepIndex")
    if (
        old is not None
        and index is not None
        and index != before.get("currentStepIndex")
        and not after.get("abort")
    ):
        i = int(index)
        if i < len(steps):
            markers.append(Marker(at, "step", f"step {i + 1}/{len(steps)}: {describe_step(steps[i])}"))
        elif i > 0 and int(before.get("currentStepIndex") or 0) < i:
            markers.append(Marker(at, "step", f"all {len(steps)} steps done"))
    paused = bool(after.get("pauseConditions"))
    was_paused = bool(before.get("pauseConditions"))
    if paused and not was_paused:
        reasons = ", ".join(str(c.get("reason") or "") for c in after.get("pauseConditions") or [])
        markers.append(Marker(at, "pause", "paused", reasons))
    elif was_paused and not paused and old is not None:
        markers.append(Marker(at, "resume", "resumed"))
    if after.get("abort") and not before.get("abort"):
        message = str(after.get("message") or "")
        markers.append(Marker(at, "abort", "aborted", message if "abort" in message.lower() else ""))
    if old is not None:
        markers.extend(routing_markers(old, new, at, version_of))
    run_name, run_status = _step_run(new)
    old_name, old_status = _step_run(old)
    if run_name and run_status and (run_name, run_status) != (old_name, old_status):
        markers.append(Marker(at, "analysis", f"analysis {run_status}", run_name))
    phase, message = rollout_phase(new)
    old_phase = rollout_phase(old)[0] if old is not None else ""
    if phase != old_phase and phase in ("Healthy", "Degraded"):
        markers.append(Marker(at, "phase", phase, message))
    return markers


def first_at(markers: Sequence[Marker], kind: str, *, after: float = -math.inf) -> Marker | None:
    """The first marker of ``kind`` at or after ``after``."""
    return next((m for m in markers if m.kind == kind and m.at >= after), None)
