"""Views of analysis: the references a Rollout makes, and AnalysisTemplate / ClusterAnalysisTemplate /
AnalysisRun objects (pkg/apis/rollouts/v1alpha1/analysis_types.go and types.go).

Metric fields that Argo types as IntOrString (``count``, ``failureLimit``, ...) stay ``int | str``
here: in a template they may still be ``"{{args.x}}"``, resolved only when a run is created.
Providers are kept as raw JSON; the analysis part of the controller reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Self

from controller.api.meta import ObjectMeta, PodMetadata
from controller.api.problems import Reader, child
from controller.api.values import parse_go_duration

#: utils/defaults/defaults.go DefaultConsecutiveErrorLimit
DEFAULT_CONSECUTIVE_ERROR_LIMIT: Final = 4
#: analysis phases (analysis_types.go AnalysisPhase)
ANALYSIS_PHASES: Final = ("Pending", "Running", "Successful", "Failed", "Error", "Inconclusive")
COMPLETED_PHASES: Final = frozenset({"Successful", "Failed", "Error", "Inconclusive"})

_GO_ATOI: Final = re.compile(r"[+-]?[0-9]+")


def int_value(value: int | str | None) -> int:
    """Go's ``IntOrString.IntValue()``: an int as is, a string through Atoi, 0 when that fails."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _GO_ATOI.fullmatch(value):
        return int(value)
    return 0


# -- what a Rollout says about analysis ------------------------------------------------------


@dataclass(frozen=True)
class AnalysisTemplateRef:
    """One ``templates[]`` entry: an AnalysisTemplate, or a ClusterAnalysisTemplate when cluster-scoped."""

    template_name: str
    cluster_scope: bool = False


@dataclass(frozen=True)
class ArgumentValueFrom:
    """``valueFrom`` of a Rollout-side argument: a pod template hash (``Stable``/``Latest``) or a field."""

    pod_template_hash_value: str | None = None
    field_path: str | None = None


@dataclass(frozen=True)
class AnalysisRunArgument:
    """An argument a Rollout passes to its AnalysisRuns."""

    name: str
    value: str | None = None
    value_from: ArgumentValueFrom | None = None


@dataclass(frozen=True)
class MeasurementRetention:
    """How many measurements to keep for one metric."""

    metric_name: str
    limit: int


@dataclass(frozen=True)
class RolloutAnalysis:
    """Argo's ``RolloutAnalysis``: the templates and arguments of an AnalysisRun a Rollout creates."""

    templates: tuple[AnalysisTemplateRef, ...] = ()
    args: tuple[AnalysisRunArgument, ...] = ()
    #: metric names run in dry-run mode (``*`` for all)
    dry_run: tuple[str, ...] = ()
    measurement_retention: tuple[MeasurementRetention, ...] = ()
    analysis_run_metadata: PodMetadata = field(default_factory=PodMetadata)

    @classmethod
    def read(cls, r: Reader, raw: Mapping[str, Any], path: str) -> Self:
        """Read a ``RolloutAnalysis`` (and, for subclasses, their extra fields)."""
        return cls(**_analysis_fields(r, raw, path))


@dataclass(frozen=True)
class BackgroundAnalysis(RolloutAnalysis):
    """``canary.analysis``: a run alongside the steps, from ``startingStep`` on (default 0)."""

    starting_step: int = 0

    @classmethod
    def read(cls, r: Reader, raw: Mapping[str, Any], path: str) -> Self:
        """Read ``canary.analysis``."""
        return cls(**_analysis_fields(r, raw, path), starting_step=r.integer(raw, "startingStep", path))


def _analysis_fields(r: Reader, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    templates = tuple(
        AnalysisTemplateRef(r.string(t, "templateName", p), r.boolean(t, "clusterScope", p))
        for p, t in r.objects(raw, "templates", path)
    )
    args = []
    for p, a in r.objects(raw, "args", path):
        value_from = None
        if (vf := r.obj(a, "valueFrom", p)) is not None:
            vf_path = child(p, "valueFrom")
            ref = r.obj(vf, "fieldRef", vf_path)
            value_from = ArgumentValueFrom(
                r.opt_string(vf, "podTemplateHashValue", vf_path),
                None if ref is None else r.string(ref, "fieldPath", child(vf_path, "fieldRef")),
            )
        args.append(AnalysisRunArgument(r.string(a, "name", p), r.opt_string(a, "value", p), value_from))
    return {
        "templates": templates,
        "args": tuple(args),
        "dry_run": _dry_run(r, raw, path),
        "measurement_retention": _retention(r, raw, path),
        "analysis_run_metadata": PodMetadata.read(
            r, r.obj(raw, "analysisRunMetadata", path), child(path, "analysisRunMetadata")
        ),
    }


def _dry_run(r: Reader, raw: Mapping[str, Any], path: str) -> tuple[str, ...]:
    return tuple(r.string(d, "metricName", p) for p, d in r.objects(raw, "dryRun", path))


def _retention(r: Reader, raw: Mapping[str, Any], path: str) -> tuple[MeasurementRetention, ...]:
    return tuple(
        MeasurementRetention(r.string(m, "metricName", p), r.integer(m, "limit", p))
        for p, m in r.objects(raw, "measurementRetention", path)
    )


# -- AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun -----------------------------------


@dataclass(frozen=True)
class Argument:
    """A template or run argument: a value, or ``valueFrom`` (secretKeyRef / fieldRef, raw)."""

    name: str
    value: str | None = None
    value_from: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Metric:
    """One metric of an analysis, with Argo's defaults applied."""

    name: str
    #: Go duration string between measurements; "" means a single measurement
    interval: str = ""
    initial_delay: str = ""
    count: int | str | None = None
    success_condition: str = ""
    failure_condition: str = ""
    failure_limit: int | str = 0
    inconclusive_limit: int | str = 0
    consecutive_error_limit: int | str = DEFAULT_CONSECUTIVE_ERROR_LIMIT
    #: 0 disables it
    consecutive_success_limit: int | str = 0
    #: ``{"prometheus": {...}}``, ``{"web": {...}}``, ``{"job": {...}}``, ...
    provider: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def read(cls, r: Reader, raw: Mapping[str, Any], path: str) -> Metric:
        """Read one ``metrics[]`` entry."""
        limits = {
            "failure_limit": (r.int_or_string(raw, "failureLimit", path), 0),
            "inconclusive_limit": (r.int_or_string(raw, "inconclusiveLimit", path), 0),
            "consecutive_error_limit": (
                r.int_or_string(raw, "consecutiveErrorLimit", path),
                DEFAULT_CONSECUTIVE_ERROR_LIMIT,
            ),
            "consecutive_success_limit": (r.int_or_string(raw, "consecutiveSuccessLimit", path), 0),
        }
        return cls(
            name=r.string(raw, "name", path),
            interval=r.string(raw, "interval", path),
            initial_delay=r.string(raw, "initialDelay", path),
            count=r.int_or_string(raw, "count", path),
            success_condition=r.string(raw, "successCondition", path),
            failure_condition=r.string(raw, "failureCondition", path),
            provider=r.obj(raw, "provider", path) or {},
            raw=raw,
            **{k: default if v is None else v for k, (v, default) in limits.items()},
        )

    @property
    def provider_name(self) -> str | None:
        """The provider this metric uses (``prometheus``, ``web``, ``job``, ...), if exactly one is set."""
        names = [k for k, v in self.provider.items() if v is not None]
        return names[0] if len(names) == 1 else None

    @property
    def effective_count(self) -> int | None:
        """Argo's ``Metric.EffectiveCount``: 1 with neither count nor interval; None (forever) with
        only an interval; otherwise the count."""
        if self.count is None or int_value(self.count) == 0:
            return None if self.interval else 1
        return int_value(self.count)

    def interval_seconds(self) -> float | None:
        """The interval in seconds (None without one); raises DurationError if it does not parse."""
        return parse_go_duration(self.interval) if self.interval else None

    def initial_delay_seconds(self) -> float | None:
        """The initial delay in seconds (None without one); raises DurationError if it does not parse."""
        return parse_go_duration(self.initial_delay) if self.initial_delay else None


def _arguments(r: Reader, raw: Mapping[str, Any], path: str) -> tuple[Argument, ...]:
    return tuple(
        Argument(r.string(a, "name", p), r.opt_string(a, "value", p), r.obj(a, "valueFrom", p))
        for p, a in r.objects(raw, "args", path)
    )


def _metrics(r: Reader, raw: Mapping[str, Any], path: str) -> tuple[Metric, ...]:
    return tuple(Metric.read(r, m, p) for p, m in r.objects(raw, "metrics", path))


@dataclass(frozen=True)
class AnalysisTemplateSpec:
    """The spec an AnalysisTemplate and a ClusterAnalysisTemplate share."""

    metrics: tuple[Metric, ...] = ()
    args: tuple[Argument, ...] = ()
    dry_run: tuple[str, ...] = ()
    measurement_retention: tuple[MeasurementRetention, ...] = ()
    #: other templates this one is composed of
    templates: tuple[AnalysisTemplateRef, ...] = ()

    @classmethod
    def read(cls, r: Reader, raw: Mapping[str, Any], path: str = "spec") -> AnalysisTemplateSpec:
        """Read a template spec."""
        return cls(
            metrics=_metrics(r, raw, path),
            args=_arguments(r, raw, path),
            dry_run=_dry_run(r, raw, path),
            measurement_retention=_retention(r, raw, path),
            templates=tuple(
                AnalysisTemplateRef(r.string(t, "templateName", p), r.boolean(t, "clusterScope", p))
                for p, t in r.objects(raw, "templates", path)
            ),
        )


@dataclass(frozen=True)
class AnalysisTemplate:
    """An ``AnalysisTemplate`` (namespaced)."""

    metadata: ObjectMeta
    spec: AnalysisTemplateSpec
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Self:
        """The view of a raw object; raises SpecError listing every field it cannot read."""
        r = Reader()
        view = cls(
            ObjectMeta.read(r, r.obj(obj, "metadata", "")),
            AnalysisTemplateSpec.read(r, r.obj(obj, "spec", "") or {}),
            obj,
        )
        r.raise_if_problems()
        return view


@dataclass(frozen=True)
class ClusterAnalysisTemplate(AnalysisTemplate):
    """A ``ClusterAnalysisTemplate``: the same spec, cluster-scoped (a Rollout refers to it with
    ``clusterScope: true``)."""


@dataclass(frozen=True)
class AnalysisRunSpec:
    """An AnalysisRun's spec: the merged metrics and resolved arguments of its templates."""

    metrics: tuple[Metric, ...] = ()
    args: tuple[Argument, ...] = ()
    terminate: bool = False
    dry_run: tuple[str, ...] = ()
    measurement_retention: tuple[MeasurementRetention, ...] = ()
    #: ``{secondsAfterCompletion, secondsAfterSuccess, secondsAfterFailure}``, raw
    ttl_strategy: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class AnalysisRunStatus:
    """An AnalysisRun's status; metric results stay raw for the analysis part to read."""

    phase: str = ""
    message: str = ""
    started_at: str | None = None
    completed_at: str | None = None
    metric_results: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class AnalysisRun:
    """An ``AnalysisRun``."""

    metadata: ObjectMeta
    spec: AnalysisRunSpec
    status: AnalysisRunStatus
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def completed(self) -> bool:
        """Whether the run has reached a final phase (``AnalysisPhase.Completed``)."""
        return self.status.phase in COMPLETED_PHASES

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> AnalysisRun:
        """The view of a raw object; raises SpecError listing every field it cannot read."""
        r = Reader()
        raw_spec = r.obj(obj, "spec", "") or {}
        spec = AnalysisRunSpec(
            metrics=_metrics(r, raw_spec, "spec"),
            args=_arguments(r, raw_spec, "spec"),
            terminate=r.boolean(raw_spec, "terminate", "spec"),
            dry_run=_dry_run(r, raw_spec, "spec"),
            measurement_retention=_retention(r, raw_spec, "spec"),
            ttl_strategy=r.obj(raw_spec, "ttlStrategy", "spec"),
        )
        raw_status = r.obj(obj, "status", "") or {}
        status = AnalysisRunStatus(
            phase=r.string(raw_status, "phase", "status"),
            message=r.string(raw_status, "message", "status"),
            started_at=r.opt_string(raw_status, "startedAt", "status"),
            completed_at=r.opt_string(raw_status, "completedAt", "status"),
            metric_results=tuple(m for _, m in r.objects(raw_status, "metricResults", "status")),
        )
        view = cls(ObjectMeta.read(r, r.obj(obj, "metadata", "")), spec, status, obj)
        r.raise_if_problems()
        return view
