"""An AnalysisRun's spec, resolved and checked as Argo's controller does before measuring.

:func:`read_run_spec` resolves ``{{args.*}}`` in every metric (secret arguments as placeholders),
validates the metrics (utils/analysis ``ValidateMetrics``) and matches the ``dryRun`` and
``measurementRetention`` rules to metric names. Anything wrong raises :class:`RunSpecError`
whose message is what the run's ``status.message`` says when it ends in Error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from controller.analysis.args import ArgsError, resolve_metric, with_placeholders
from controller.api.analysis import Metric, int_value
from controller.api.problems import Reader, SpecError
from controller.api.values import DurationError, parse_go_duration

#: measurements kept per metric without a measurementRetention rule (DefaultMeasurementHistoryLimit)
DEFAULT_MEASUREMENT_HISTORY_LIMIT: Final = 10
#: providers this controller can measure with
SUPPORTED_PROVIDERS: Final = frozenset({"prometheus", "web", "job"})


class RunSpecError(ValueError):
    """The run cannot be measured; the message is the run's Error message."""


@dataclass(frozen=True)
class RunSpec:
    """What a reconcile needs from ``spec``."""

    #: metrics with arguments resolved (secret ones as placeholders): safe to show
    metrics: tuple[Metric, ...]
    #: the metrics as written (``{{args.*}}`` unresolved), resolved again with secrets to measure
    raw_metrics: tuple[Mapping[str, Any], ...] = ()
    args: tuple[Mapping[str, Any], ...] = ()
    terminate: bool = False
    #: names of the metrics in dry-run mode
    dry_run: frozenset[str] = frozenset()
    #: metric name -> measurements to keep
    retention: Mapping[str, int] = field(default_factory=dict)
    ttl_strategy: Mapping[str, Any] | None = None

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def retention_limit(self, name: str) -> int:
        """How many measurements of metric ``name`` to keep."""
        limit = self.retention.get(name, 0)
        return limit if limit > 0 else DEFAULT_MEASUREMENT_HISTORY_LIMIT


def _objects(raw: Any) -> list[Mapping[str, Any]]:
    return [item for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []


def read_run_spec(run: Mapping[str, Any]) -> RunSpec:
    """The checked spec of an AnalysisRun object; raises :class:`RunSpecError`."""
    spec = run.get("spec") if isinstance(run.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    raw_metrics = tuple(_objects(spec.get("metrics")))
    args = tuple(_objects(spec.get("args")))
    try:
        placeholder_args = with_placeholders(args)
        resolved = [resolve_metric(m, placeholder_args) for m in raw_metrics]
    except ArgsError as e:
        raise RunSpecError(f"Unable to resolve metric arguments: {e}") from None
    reader = Reader()
    metrics = tuple(Metric.read(reader, m, f"spec.metrics[{i}]") for i, m in enumerate(resolved))
    try:
        reader.raise_if_problems()
    except SpecError as e:
        raise RunSpecError(f"Analysis spec invalid: {e}") from None
    problem = validate_metrics(metrics)
    if problem:
        raise RunSpecError(f"Analysis spec invalid: {problem}")
    dry_run = _match_rules(
        "dryRun", [str(d.get("metricName", "")) for d in _objects(spec.get("dryRun"))], metrics
    )
    retention: dict[str, int] = {}
    rules = _objects(spec.get("measurementRetention"))
    matched = _match_rules("measurementRetention", [str(r.get("metricName", "")) for r in rules], metrics)
    for rule in rules:
        pattern = str(rule.get("metricName", ""))
        for m in metrics:
            if m.name in matched and _matches(pattern, m.name):
                retention[m.name] = int_value(rule.get("limit"))
    ttl = spec.get("ttlStrategy")
    return RunSpec(
        metrics=metrics,
        raw_metrics=raw_metrics,
        args=args,
        terminate=spec.get("terminate") is True,
        dry_run=frozenset(dry_run),
        retention=retention,
        ttl_strategy=ttl if isinstance(ttl, Mapping) else None,
    )


def _matches(pattern: str, name: str) -> bool:
    """Go's ``regexp.MatchString``: the pattern found anywhere in the name (a bad pattern: no match)."""
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


def _match_rules(field_name: str, patterns: Sequence[str], metrics: Sequence[Metric]) -> set[str]:
    """Names of the metrics the rules match; every rule must match at least one."""
    names: set[str] = set()
    for i, pattern in enumerate(patterns):
        hits = [m.name for m in metrics if _matches(pattern, m.name)]
        if not hits:
            raise RunSpecError(
                f"Analysis spec invalid: {field_name}[{i}]: Rule didn't match any metric name(s)"
            )
        names.update(hits)
    return names


def validate_metrics(metrics: Sequence[Metric]) -> str | None:
    """Argo's ``ValidateMetrics``: the first problem found, or None."""
    if not metrics:
        return "no metrics specified"
    seen: set[str] = set()
    for i, metric in enumerate(metrics):
        if metric.name in seen:
            return f"metrics[{i}]: duplicate name '{metric.name}'"
        seen.add(metric.name)
        problem = validate_metric(metric)
        if problem:
            return f"metrics[{i}]: {problem}"
    return None


def validate_metric(metric: Metric) -> str | None:
    """Argo's ``ValidateMetric`` (with v1.8's ``consecutiveSuccessLimit`` and ``failureLimit: -1``)."""
    count = int_value(metric.count)
    failure_limit = int_value(metric.failure_limit)
    inconclusive_limit = int_value(metric.inconclusive_limit)
    success_limit = int_value(metric.consecutive_success_limit)
    if count > 0:
        if count < failure_limit:
            return "count must be >= failureLimit"
        if count < inconclusive_limit:
            return "count must be >= inconclusiveLimit"
        if count < success_limit:
            return "count must be >= consecutiveSuccessLimit"
    if count > 1 and not metric.interval:
        return "interval must be specified when count > 1"
    for key, value in (("interval", metric.interval), ("startDelay", metric.initial_delay)):
        if value:
            try:
                parse_go_duration(value)
            except DurationError as e:
                return f"invalid {key} string: {e}"
    if failure_limit < -1:
        return "failureLimit must be >= -1"
    if inconclusive_limit < 0:
        return "inconclusiveLimit must be >= 0"
    if int_value(metric.consecutive_error_limit) < 0:
        return "consecutiveErrorLimit must be >= 0"
    if success_limit < 0:
        return "consecutiveSuccessLimit must be >= 0"
    if failure_limit == -1 and success_limit == 0:
        return "failureLimit and consecutiveSuccessLimit cannot both be disabled (failureLimit -1, consecutiveSuccessLimit 0)"
    providers = [k for k, v in metric.provider.items() if v is not None and (k != "plugin" or v)]
    if not providers:
        return "no provider specified"
    if len(providers) > 1 or (metric.provider.get("plugin") and len(metric.provider["plugin"]) > 1):
        return "multiple providers specified"
    return None
