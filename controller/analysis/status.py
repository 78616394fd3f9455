"""Typed, immutable views of an AnalysisRun's status, read from and written back to raw JSON.

Field names and omissions follow Argo's ``AnalysisRunStatus`` (analysis_types.go): zero counters,
empty messages and absent times are left out, ``runSummary`` is always written, times are RFC 3339
with whole seconds (``metav1.Time``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

PENDING: Final = "Pending"
RUNNING: Final = "Running"
SUCCESSFUL: Final = "Successful"
FAILED: Final = "Failed"
ERROR: Final = "Error"
INCONCLUSIVE: Final = "Inconclusive"
COMPLETED: Final = frozenset({SUCCESSFUL, FAILED, ERROR, INCONCLUSIVE})
#: best to worst (utils/analysis/helpers.go analysisStatusOrder)
PHASE_ORDER: Final = (SUCCESSFUL, RUNNING, PENDING, INCONCLUSIVE, ERROR, FAILED)


def is_worse(current: str, new: str) -> bool:
    """Whether ``new`` ranks worse than ``current`` (unknown phases rank as Successful)."""

    def rank(phase: str) -> int:
        return PHASE_ORDER.index(phase) if phase in PHASE_ORDER else 0

    return rank(new) > rank(current)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime (None when absent or unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    """``2024-05-01T12:00:00Z``: whole seconds in UTC, as ``metav1.Time`` serialises."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _str_map(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items()}


@dataclass(frozen=True)
class Measurement:
    """One measurement of a metric."""

    phase: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    value: str = ""
    message: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: when an in-flight measurement should be looked at again
    resume_at: datetime | None = None

    @property
    def completed(self) -> bool:
        return self.phase in COMPLETED

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Measurement:
        return cls(
            phase=str(raw.get("phase") or ""),
            started_at=parse_time(raw.get("startedAt")),
            finished_at=parse_time(raw.get("finishedAt")),
            value=str(raw.get("value") or ""),
            message=str(raw.get("message") or ""),
            metadata=_str_map(raw.get("metadata")),
            resume_at=parse_time(raw.get("resumeAt")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase}
        if self.message:
            out["message"] = self.message
        if self.started_at is not None:
            out["startedAt"] = format_time(self.started_at)
        if self.finished_at is not None:
            out["finishedAt"] = format_time(self.finished_at)
        if self.value:
            out["value"] = self.value
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        if self.resume_at is not None:
            out["resumeAt"] = format_time(self.resume_at)
        return out


_COUNTERS: Final = (
    ("count", "count"),
    ("successful", "successful"),
    ("failed", "failed"),
    ("inconclusive", "inconclusive"),
    ("error", "error"),
    ("consecutive_error", "consecutiveError"),
    ("consecutive_success", "consecutiveSuccess"),
)


@dataclass(frozen=True)
class MetricResult:
    """The results of one metric: its phase, counters and (the retained) measurements."""

    name: str
    phase: str = RUNNING
    measurements: tuple[Measurement, ...] = ()
    message: str = ""
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    consecutive_success: int = 0
    dry_run: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.phase in COMPLETED

    @property
    def last(self) -> Measurement | None:
        """The latest measurement (started or completed)."""
        return self.measurements[-1] if self.measurements else None

    def record(self, m: Measurement) -> MetricResult:
        """The counters after a completed measurement (analysis.go runMeasurements)."""
        if m.phase == SUCCESSFUL:
            return replace(
                self,
                successful=self.successful + 1,
                count=self.count + 1,
                consecutive_error=0,
                consecutive_success=self.consecutive_success + 1,
            )
        if m.phase == FAILED:
            return replace(
                self, failed=self.failed + 1, count=self.count + 1, consecutive_error=0, consecutive_success=0
            )
        if m.phase == INCONCLUSIVE:
            return replace(
                self,
                inconclusive=self.inconclusive + 1,
                count=self.count + 1,
                consecutive_error=0,
                consecutive_success=0,
            )
        if m.phase == ERROR:
            return replace(
                self,
                error=self.error + 1,
                consecutive_error=self.consecutive_error + 1,
                consecutive_success=0,
            )
        return self

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> MetricResult:
        measurements = tuple(
            Measurement.from_dict(m) for m in raw.get("measurements") or () if isinstance(m, Mapping)
        )
        counters = {attr: _int(raw, key) for attr, key in _COUNTERS}
        return cls(
            name=str(raw.get("name") or ""),
            phase=str(raw.get("phase") or ""),
            measurements=measurements,
            message=str(raw.get("message") or ""),
            dry_run=raw.get("dryRun") is True,
            metadata=_str_map(raw.get("metadata")),
            **counters,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "phase": self.phase}
        if self.measurements:
            out["measurements"] = [m.to_dict() for m in self.measurements]
        if self.message:
            out["message"] = self.message
        for attr, key in _COUNTERS:
            if getattr(self, attr):
                out[key] = getattr(self, attr)
        if self.dry_run:
            out["dryRun"] = True
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass(frozen=True)
class RunSummary:
    """How many metrics ended in each phase (``runSummary`` / ``dryRunSummary``)."""

    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0

    @classmethod
    def from_dict(cls, raw: Any) -> RunSummary | None:
        if not isinstance(raw, Mapping):
            return None
        return cls(*(_int(raw, k) for k in ("count", "successful", "failed", "inconclusive", "error")))

    def to_dict(self) -> dict[str, int]:
        fields = {
            "count": self.count,
            "successful": self.successful,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "error": self.error,
        }
        return {k: v for k, v in fields.items() if v}


@dataclass(frozen=True)
class RunStatus:
    """An AnalysisRun's status."""

    phase: str = ""
    message: str = ""
    metric_results: tuple[MetricResult, ...] = ()
    started_at: datetime | None = None
    completed_at: datetime | None = None
    run_summary: RunSummary | None = None
    dry_run_summary: RunSummary | None = None

    @property
    def completed(self) -> bool:
        return self.phase in COMPLETED

    def result(self, name: str) -> MetricResult | None:
        """The result of metric ``name``, if it has one yet."""
        return next((r for r in self.metric_results if r.name == name), None)

    def with_result(self, result: MetricResult) -> RunStatus:
        """This status with ``result`` replacing the one of the same name (or appended)."""
        results = list(self.metric_results)
        for i, r in enumerate(results):
            if r.name == result.name:
                results[i] = result
                return replace(self, metric_results=tuple(results))
        return replace(self, metric_results=(*results, result))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> RunStatus:
        raw = raw or {}
        return cls(
            phase=str(raw.get("phase") or ""),
            message=str(raw.get("message") or ""),
            metric_results=tuple(
                MetricResult.from_dict(r) for r in raw.get("metricResults") or () if isinstance(r, Mapping)
            ),
            started_at=parse_time(raw.get("startedAt")),
            completed_at=parse_time(raw.get("completedAt")),
            run_summary=RunSummary.from_dict(raw.get("runSummary")),
            dry_run_summary=RunSummary.from_dict(raw.get("dryRunSummary")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase}
        if self.message:
            out["message"] = self.message
        if self.metric_results:
            out["metricResults"] = [r.to_dict() for r in self.metric_results]
        if self.started_at is not None:
            out["startedAt"] = format_time(self.started_at)
        if self.run_summary is not None:
            out["runSummary"] = self.run_summary.to_dict()
        if self.dry_run_summary is not None:
            out["dryRunSummary"] = self.dry_run_summary.to_dict()
        if self.completed_at is not None:
            out["completedAt"] = format_time(self.completed_at)
        return out
