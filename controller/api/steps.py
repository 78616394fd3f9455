"""Canary steps as typed objects (``CanaryStep``, pkg/apis/rollouts/v1alpha1/types.go).

Each step sets exactly one kind. A step that sets none, or several, is read as an
:class:`UnknownStep` holding the raw JSON; :func:`controller.api.validation.validate_rollout`
reports it with Argo's message, and the controller never acts on an invalid spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from controller.api.analysis import RolloutAnalysis
from controller.api.meta import PodMetadata
from controller.api.problems import Reader, child
from controller.api.values import DurationError, parse_go_duration, pause_duration_seconds

#: the step kinds, in the order Argo's types declare them (``plugin`` since v1.8)
STEP_KINDS: Final = (
    "setWeight",
    "pause",
    "experiment",
    "analysis",
    "setCanaryScale",
    "setHeaderRoute",
    "setMirrorRoute",
    "plugin",
)

#: Argo's ``InvalidDurationMessage`` (pkg/apis/rollouts/validation/validation.go)
INVALID_DURATION_MESSAGE: Final = "Duration needs to be greater than 0"


@dataclass(frozen=True)
class SetWeight:
    """``setWeight``: the percentage of traffic (or of replicas, without a router) for the canary."""

    weight: int


@dataclass(frozen=True)
class Pause:
    """``pause``: wait ``duration`` seconds, or (None) until promoted.

    Seconds are whole, as Argo truncates them (``RolloutPause.DurationSeconds``).
    """

    duration: float | None = None

    @property
    def indefinite(self) -> bool:
        """Whether this pause waits for a promotion (``pause: {}``)."""
        return self.duration is None


@dataclass(frozen=True)
class Analysis(RolloutAnalysis):
    """``analysis``: run an AnalysisRun and wait for its result."""


@dataclass(frozen=True)
class SetCanaryScale:
    """``setCanaryScale``: size the canary apart from its traffic weight (traffic routing only)."""

    weight: int | None = None
    replicas: int | None = None
    match_traffic_weight: bool = False


@dataclass(frozen=True)
class StringMatch:
    """Exactly one of ``exact``, ``prefix``, ``regex`` (validation checks it)."""

    exact: str = ""
    prefix: str = ""
    regex: str = ""

    @classmethod
    def read(cls, r: Reader, raw: Mapping[str, Any] | None, path: str) -> StringMatch | None:
        """Read a match (None when absent)."""
        if raw is None:
            return None
        return cls(r.string(raw, "exact", path), r.string(raw, "prefix", path), r.string(raw, "regex", path))


@dataclass(frozen=True)
class HeaderRoutingMatch:
    """One header condition of a header route."""

    header_name: str
    header_value: StringMatch | None = None


@dataclass(frozen=True)
class SetHeaderRoute:
    """``setHeaderRoute``: send requests matching headers to the canary; no ``match`` removes the route."""

    name: str = ""
    match: tuple[HeaderRoutingMatch, ...] = ()


@dataclass(frozen=True)
class RouteMatch:
    """One ``setMirrorRoute.match`` entry: its conditions are AND-ed."""

    method: StringMatch | None = None
    path: StringMatch | None = None
    headers: Mapping[str, StringMatch] = field(default_factory=dict)


@dataclass(frozen=True)
class SetMirrorRoute:
    """``setMirrorRoute``: mirror ``percentage`` of matching traffic to the canary."""

    name: str = ""
    match: tuple[RouteMatch, ...] = ()
    percentage: int | None = None


@dataclass(frozen=True)
class ExperimentTemplate:
    """One ReplicaSet an experiment step runs (``specRef``: ``stable`` or ``canary``)."""

    name: str
    spec_ref: str
    replicas: int | None = None
    weight: int | None = None
    metadata: PodMetadata = field(default_factory=PodMetadata)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Experiment:
    """``experiment``: run ReplicaSets (and analyses) side by side; the experiment issue deepens it."""

    #: seconds (a Go duration in the spec); None runs until the analyses finish
    duration: float | None = None
    templates: tuple[ExperimentTemplate, ...] = ()
    #: ``analyses[]`` as raw JSON
    analyses: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Plugin:
    """``plugin``: a step carried out by a step plugin; ``config`` is the plugin's own JSON."""

    name: str
    config: Any = None


@dataclass(frozen=True)
class UnknownStep:
    """A step with no kind, or with several: kept raw; validation reports it."""

    raw: Mapping[str, Any]

    @property
    def kinds(self) -> tuple[str, ...]:
        """The step kinds it sets."""
        return step_kinds(self.raw)


Step = (
    SetWeight
    | Pause
    | Analysis
    | SetCanaryScale
    | SetHeaderRoute
    | SetMirrorRoute
    | Experiment
    | Plugin
    | UnknownStep
)


def step_kinds(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The kinds a raw step sets (a kind set to null does not count, as in Go)."""
    return tuple(k for k in STEP_KINDS if raw.get(k) is not None)


def read_step(r: Reader, raw: Mapping[str, Any], path: str) -> Step:
    """Read one ``steps[]`` entry."""
    kinds = step_kinds(raw)
    if len(kinds) != 1:
        return UnknownStep(raw)
    kind = kinds[0]
    here = child(path, kind)
    if kind == "setWeight":
        return SetWeight(r.integer(raw, "setWeight", path))
    body = r.obj(raw, kind, path)
    if body is None:
        return UnknownStep(raw)
    if kind == "pause":
        return _read_pause(r, body, here)
    if kind == "analysis":
        return Analysis.read(r, body, here)
    if kind == "setCanaryScale":
        return SetCanaryScale(
            r.opt_int(body, "weight", here),
            r.opt_int(body, "replicas", here),
            r.boolean(body, "matchTrafficWeight", here),
        )
    if kind == "setHeaderRoute":
        matches = tuple(
            HeaderRoutingMatch(
                r.string(m, "headerName", p),
                StringMatch.read(r, r.obj(m, "headerValue", p), child(p, "headerValue")),
            )
            for p, m in r.objects(body, "match", here)
        )
        return SetHeaderRoute(r.string(body, "name", here), matches)
    if kind == "setMirrorRoute":
        return SetMirrorRoute(
            r.string(body, "name", here),
            tuple(_read_route_match(r, m, p) for p, m in r.objects(body, "match", here)),
            r.opt_int(body, "percentage", here),
        )
    if kind == "experiment":
        return _read_experiment(r, body, here)
    return Plugin(r.string(body, "name", here), body.get("config"))


def _read_pause(r: Reader, body: Mapping[str, Any], path: str) -> Pause:
    raw = r.int_or_string(body, "duration", path)
    if raw is None:
        return Pause(None)
    try:
        return Pause(float(pause_duration_seconds(raw)))
    except DurationError:
        # Argo reads an unreadable duration as -1 and rejects it with this message
        r.report(child(path, "duration"), INVALID_DURATION_MESSAGE, value=raw)
        return Pause(-1.0)


def _read_route_match(r: Reader, raw: Mapping[str, Any], path: str) -> RouteMatch:
    headers: dict[str, StringMatch] = {}
    raw_headers = r.obj(raw, "headers", path)
    for name in raw_headers or {}:
        match = StringMatch.read(
            r, r.obj(raw_headers or {}, name, child(path, "headers")), child(path, "headers")
        )
        if match is not None:
            headers[name] = match
    return RouteMatch(
        StringMatch.read(r, r.obj(raw, "method", path), child(path, "method")),
        StringMatch.read(r, r.obj(raw, "path", path), child(path, "path")),
        headers,
    )


def _read_experiment(r: Reader, body: Mapping[str, Any], path: str) -> Experiment:
    duration = None
    if text := r.string(body, "duration", path):
        try:
            duration = parse_go_duration(text)
        except DurationError as e:
            r.report(child(path, "duration"), str(e), value=text)
    templates = tuple(
        ExperimentTemplate(
            name=r.string(t, "name", p),
            spec_ref=r.string(t, "specRef", p),
            replicas=r.opt_int(t, "replicas", p),
            weight=r.opt_int(t, "weight", p),
            metadata=PodMetadata.read(r, r.obj(t, "metadata", p), child(p, "metadata")),
            raw=t,
        )
        for p, t in r.objects(body, "templates", path)
    )
    analyses = tuple(a for _, a in r.objects(body, "analyses", path))
    return Experiment(duration, templates, analyses, body)
