"""The ``job`` provider: a ``batch/v1`` Job whose success or failure is the measurement.

``provider.job`` is ``{metadata: {labels, annotations}, spec: <JobSpec>}`` (metricproviders/job).
``run`` creates the Job in the run's namespace, named ``<run uid>.<metric>.<n>`` (``n`` counts
the metric's measurements), labelled ``analysisrun.argoproj.io/uid``, annotated with the run and
metric names and owned by the AnalysisRun; the measurement stays Running. ``resume`` reads the
Job: condition ``Complete`` makes it Successful, ``Failed`` makes it Failed. ``terminate``
deletes the Job (foreground) and ends the measurement Successful ("Metric Terminated").
``garbage_collect`` deletes the oldest Jobs of a metric beyond its retention limit; the rest go
with the AnalysisRun when it is deleted (owner references).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from controller.analysis.providers.base import Clock, MetricContext, RunRef, mark_error, utcnow
from controller.analysis.status import FAILED, RUNNING, SUCCESSFUL, Measurement
from controller.api.analysis import Metric
from controller.kube.client import resource_path
from controller.kube.errors import Conflict, KubeError, NotFound

JOB_NAME_KEY: Final = "job-name"
RUN_NAME_ANNOTATION: Final = "analysisrun.argoproj.io/name"
METRIC_NAME_ANNOTATION: Final = "analysisrun.argoproj.io/metric-name"
RUN_UID_LABEL: Final = "analysisrun.argoproj.io/uid"


class JobApi(Protocol):
    """The API calls the job provider makes (a subset of :class:`~controller.kube.ApiClient`)."""

    async def create(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]: ...

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> dict[str, Any]: ...

    async def delete(self, path: str, *, propagation: Any = None) -> dict[str, Any]: ...


#: ``lookup(namespace, name)``: the cached Job, or None (then the API is asked)
JobLookup = Callable[[str, str], Mapping[str, Any] | None]
#: ``jobs_of(namespace, run_uid)``: the cached Jobs a run created
JobsOfRun = Callable[[str, str], Sequence[Mapping[str, Any]]]


def job_name(run: RunRef, metric: str, taken: int) -> str:
    """``<run uid>.<metric>.<n>``: short enough for the job-name label of its pods."""
    return f"{run.uid}.{metric}.{taken + 1}"


def new_job(run: RunRef, metric: Metric, taken: int) -> dict[str, Any]:
    """The Job of a new measurement."""
    config = metric.provider.get("job")
    config = config if isinstance(config, Mapping) else {}
    meta = config.get("metadata") if isinstance(config.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    labels[RUN_UID_LABEL] = run.uid
    annotations[RUN_NAME_ANNOTATION] = run.name
    annotations[METRIC_NAME_ANNOTATION] = metric.name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(run, metric.name, taken),
            "namespace": run.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [run.owner_reference()],
        },
        "spec": dict(config.get("spec") or {}),
    }


def job_phase(job: Mapping[str, Any]) -> str | None:
    """Successful (condition Complete), Failed (condition Failed), or None while it runs."""
    phase = None
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("status", "True") != "True":
            continue
        if condition.get("type") == "Complete":
            phase = SUCCESSFUL
        elif condition.get("type") == "Failed":
            phase = FAILED
    return phase


def _controller_uid(obj: Mapping[str, Any]) -> str:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("uid") or "")
    return ""


def _age_order(job: Mapping[str, Any]) -> tuple[str, int]:
    """Oldest first: by creation time, then by the measurement number in the name."""
    meta = job.get("metadata") or {}
    suffix = str(meta.get("name") or "").rpartition(".")[2]
    return str(meta.get("creationTimestamp") or ""), int(suffix) if suffix.isdigit() else 0


class JobProvider:
    """Measures with a Job."""

    kind = "Job"

    def __init__(
        self,
        api: JobApi,
        *,
        lookup: JobLookup | None = None,
        jobs_of: JobsOfRun | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.api = api
        self.lookup = lookup
        self.jobs_of = jobs_of
        self.clock = clock

    def metadata(self, metric: Metric) -> dict[str, str]:
        return {}

    def _path(self, namespace: str, name: str | None = None) -> str:
        return resource_path("batch/v1", "jobs", namespace=namespace, name=name)

    async def run(self, ctx: MetricContext) -> Measurement:
        now = self.clock()
        measurement = Measurement(phase=RUNNING, started_at=now)
        job = new_job(ctx.run, ctx.metric, ctx.taken)
        name = job["metadata"]["name"]
        try:
            await self.api.create(self._path(ctx.run.namespace), job)
        except Conflict:
            try:
                existing = await self.api.get(self._path(ctx.run.namespace, name))
            except KubeError as e:
                return mark_error(measurement, f"job create (verify) {name} failed: {e}", self.clock())
            if _controller_uid(existing) != ctx.run.uid:
                return mark_error(
                    measurement, f"job {name} already exists and belongs to another run", self.clock()
                )
        except KubeError as e:
            return mark_error(measurement, f"job create {name} failed: {e}", self.clock())
        return Measurement(phase=RUNNING, started_at=now, metadata={JOB_NAME_KEY: name})

    async def resume(self, ctx: MetricContext, measurement: Measurement) -> Measurement:
        name = measurement.metadata.get(JOB_NAME_KEY)
        if not name:
            return mark_error(measurement, "job metadata reference missing", self.clock())
        job = self.lookup(ctx.run.namespace, name) if self.lookup is not None else None
        if job is None:
            try:
                job = await self.api.get(self._path(ctx.run.namespace, name))
            except KubeError as e:
                return mark_error(measurement, str(e), self.clock())
        phase = job_phase(job)
        if phase is None:
            return measurement
        return Measurement(
            phase=phase,
            started_at=measurement.started_at,
            finished_at=self.clock(),
            metadata=measurement.metadata,
        )

    async def _delete(self, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self.api.delete(self._path(namespace, name), propagation="Foreground")

    async def terminate(self, ctx: MetricContext, measurement: Measurement) -> Measurement:
        name = measurement.metadata.get(JOB_NAME_KEY)
        if not name:
            return mark_error(measurement, "job metadata reference missing", self.clock())
        try:
            await self._delete(ctx.run.namespace, name)
        except KubeError as e:
            return mark_error(measurement, f"job {name} could not be deleted: {e}", self.clock())
        return Measurement(
            phase=SUCCESSFUL,
            started_at=measurement.started_at,
            finished_at=self.clock(),
            metadata=measurement.metadata,
        )

    async def garbage_collect(self, run: RunRef, metric: Metric, limit: int) -> None:
        if self.jobs_of is None:
            return
        mine: list[Mapping[str, Any]] = [
            j
            for j in self.jobs_of(run.namespace, run.uid)
            if (j.get("metadata") or {}).get("annotations", {}).get(METRIC_NAME_ANNOTATION) == metric.name
        ]
        mine.sort(key=_age_order)
        for job in mine[: max(0, len(mine) - limit)]:
            await self._delete(run.namespace, str(job["metadata"]["name"]))
