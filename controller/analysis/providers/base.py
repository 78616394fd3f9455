"""What a metric provider is: ``run`` a measurement, ``resume`` or ``terminate`` one in flight,
``garbage_collect`` what old measurements left behind, and ``metadata`` for a metric's result.

A provider never raises for a failed measurement: it returns a :class:`Measurement` in phase
Error with a message (Argo's ``MarkMeasurementError``). Providers that answer at once (web,
Prometheus) finish the measurement in ``run``; the job provider returns it Running and finishes
it in ``resume``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from controller.analysis.status import ERROR, Measurement
from controller.api.analysis import Metric

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ProviderError(Exception):
    """A provider cannot be made for a metric (unsupported, or misconfigured)."""


@dataclass(frozen=True)
class RunRef:
    """The AnalysisRun a measurement belongs to."""

    name: str
    namespace: str
    uid: str

    @classmethod
    def of(cls, run: Mapping[str, Any]) -> RunRef:
        meta = run.get("metadata") or {}
        return cls(str(meta.get("name") or ""), str(meta.get("namespace") or ""), str(meta.get("uid") or ""))

    def owner_reference(self) -> dict[str, Any]:
        """A controller ownerReference to this run (for Jobs it creates)."""
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisRun",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass(frozen=True)
class MetricContext:
    """A metric to measure: its view (arguments resolved, secrets included) and its run's counters."""

    run: RunRef
    metric: Metric
    #: measurements of this metric so far (``count + error``), for unique Job names
    taken: int = 0

    def provider_config(self, name: str) -> Mapping[str, Any]:
        value = self.metric.provider.get(name)
        return value if isinstance(value, Mapping) else {}


def mark_error(measurement: Measurement, message: str, now: datetime) -> Measurement:
    """The measurement in phase Error with ``message`` (finished now, if it was not)."""
    return replace(
        measurement,
        phase=ERROR,
        message=message,
        finished_at=measurement.finished_at or now,
    )


class Provider(Protocol):
    """A metric provider (metric/provider.go ``Provider``)."""

    #: ``Prometheus``, ``Web``, ``Job``
    kind: str

    def metadata(self, metric: Metric) -> dict[str, str]:
        """Metadata recorded on a metric's result when it is first measured."""
        ...

    async def run(self, ctx: MetricContext) -> Measurement:
        """Take a new measurement."""
        ...

    async def resume(self, ctx: MetricContext, measurement: Measurement) -> Measurement:
        """Look at an in-flight measurement again."""
        ...

    async def terminate(self, ctx: MetricContext, measurement: Measurement) -> Measurement:
        """Stop an in-flight measurement because the run is ending."""
        ...

    async def garbage_collect(self, run: RunRef, metric: Metric, limit: int) -> None:
        """Clean up after measurements beyond the latest ``limit``."""
        ...


class ImmediateProvider:
    """Shared parts of providers that finish every measurement in ``run`` (web, Prometheus)."""

    kind = ""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock

    def metadata(self, metric: Metric) -> dict[str, str]:
        return {}

    async def resume(self, ctx: MetricContext, measurement: Measurement) -> Measurement:
        return measurement

    async def terminate(self, ctx: MetricContext, measurement: Measurement) -> Measurement:
        return measurement

    async def garbage_collect(self, run: RunRef, metric: Metric, limit: int) -> None:
        return None
