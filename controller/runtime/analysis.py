"""The AnalysisRun controller: measures runs with their providers and writes their status.

:class:`AnalysisRunController` has its own informers (``argoproj.io/v1alpha1`` AnalysisRuns, all
namespaces or one, and the ``batch/v1`` Jobs labelled ``analysisrun.argoproj.io/uid``), a
:class:`~controller.kube.WorkQueue` and a pool of workers. One reconcile of a run
(:meth:`AnalysisRunController.sync`):

1. reads the run from the cache (skipping one of another controller instance, one being
   deleted, or a cached copy older than our own last write);
2. resolves and checks its spec (:func:`~controller.analysis.read_run_spec`); a bad spec ends
   the run in Error with Argo's message;
3. works out which metrics are due (:func:`~controller.analysis.due_measurements`), resolves
   secret arguments (``valueFrom.secretKeyRef``, read from the run's namespace now and never
   written anywhere), and runs, resumes or terminates those measurements **concurrently**;
4. records them and assesses the run (:func:`~controller.analysis.assess`);
5. writes ``status`` (one JSON patch, only when it changed), records Events, deletes Jobs of
   trimmed measurements, and returns when to look again — the next measurement is a scheduled
   requeue, never a sleep.

A completed run is left alone, except that a ``ttlStrategy`` deletes it when its time is up.
Job changes (completed or failed) requeue the run that owns the Job.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from controller.analysis.args import ArgsError, redact, resolve_metric, secret_ref
from controller.analysis.assess import (
    RESUME,
    RUN,
    Task,
    TaskResult,
    assess,
    due_measurements,
    record_measurements,
    ttl_deadline,
)
from controller.analysis.providers import MetricContext, ProviderError, Providers, RunRef, mark_error
from controller.analysis.providers.job import RUN_UID_LABEL, job_phase
from controller.analysis.spec import RunSpec, RunSpecError, read_run_spec
from controller.analysis.status import ERROR, Measurement, RunStatus
from controller.api.analysis import Metric
from controller.api.problems import Reader
from controller.kube import ApiClient, Informer, KubeError, NotFound, VersionTracker, WorkQueue, resource_path
from controller.kube import run_workers as run_worker_pool
from controller.kube.http import HttpClient
from controller.runtime.reconciler import INSTANCE_ID_LABEL

log = logging.getLogger(__name__)

API_VERSION: Final = "argoproj.io/v1alpha1"
COMPONENT: Final = "rollouts-controller"
#: index of the Job cache: ``namespace/uid`` of the AnalysisRun that created the Job
RUN_UID_INDEX: Final = "analysisrun-uid"
STALE_REQUEUE: Final = 0.2
#: Argo's --analysis-threads default
DEFAULT_WORKERS: Final = 30

Obj = dict[str, Any]


@dataclass(frozen=True)
class AnalysisOptions:
    """What the AnalysisRun controller is asked to do."""

    #: watch only this namespace (None: all namespaces)
    namespace: str | None = None
    #: only handle runs labelled with this instance id ('' : only unlabelled runs)
    instance_id: str = ""
    #: concurrent reconciles (each measures its due metrics concurrently)
    workers: int = DEFAULT_WORKERS
    #: Prometheus address for metrics that name none ('' : $ARGO_ROLLOUTS_PROMETHEUS_ADDRESS)
    prometheus_address: str = ""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def log_action(action: str, **fields: object) -> None:
    """One structured (logfmt) log line: ``action=measure analysisrun=ns/r metric=web phase=Failed``."""
    parts = [f"action={action}"]
    for k, v in fields.items():
        text = str(v)
        parts.append(f"{k}={text!r}" if (" " in text or not text) else f"{k}={text}")
    log.info(" ".join(parts))


def run_key_of_job(job: Mapping[str, Any]) -> str | None:
    """``namespace/name`` of the AnalysisRun controlling a Job, if any."""
    meta = job.get("metadata") or {}
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == "AnalysisRun" and ref.get("name"):
            return f"{meta.get('namespace', '')}/{ref['name']}"
    return None


def job_run_index(job: Obj) -> Iterable[str]:
    """Index function: ``namespace/uid`` of the run a Job belongs to (its label)."""
    meta = job.get("metadata") or {}
    uid = (meta.get("labels") or {}).get(RUN_UID_LABEL)
    return (f"{meta.get('namespace', '')}/{uid}",) if uid else ()


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class SecretError(Exception):
    """A secret argument could not be read."""


class AnalysisRunController:
    """``await AnalysisRunController(api, options).run()`` until cancelled."""

    def __init__(
        self,
        api: ApiClient,
        options: AnalysisOptions | None = None,
        *,
        runs: Informer | None = None,
        http: HttpClient | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.api = api
        self.options = options or AnalysisOptions()
        ns = self.options.namespace
        #: the AnalysisRun cache; pass one to share it (then its owner runs it)
        self.runs = runs if runs is not None else Informer(api, API_VERSION, "analysisruns", namespace=ns)
        self._runs_owned = runs is None
        self.jobs = Informer(api, "batch/v1", "jobs", namespace=ns, label_selector=RUN_UID_LABEL)
        self.jobs.add_index(RUN_UID_INDEX, job_run_index)
        self.queue = WorkQueue(name="analysisruns")
        self.versions = VersionTracker()
        self.http = http or HttpClient()
        self._http_owned = http is None
        self.clock = clock
        self.providers = Providers(
            self.http,
            api=api,
            job_lookup=lambda namespace, name: self.jobs.get(f"{namespace}/{name}"),
            jobs_of=lambda namespace, uid: self.jobs.by_index(RUN_UID_INDEX, f"{namespace}/{uid}"),
            prometheus_address=self.options.prometheus_address,
            clock=clock,
        )
        self.runs.add_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new), on_delete=self._forget
        )
        self.jobs.add_handler(
            on_add=self._job_changed,
            on_update=lambda old, new: self._job_changed(new),
            on_delete=self._job_changed,
        )

    # -- events from the caches ------------------------------------------------------------------

    def _enqueue(self, run: Obj) -> None:
        self.queue.add(_key(run))

    def _forget(self, run: Obj) -> None:
        self.versions.forget(_key(run))
        self.queue.add(_key(run))

    def _job_changed(self, job: Obj) -> None:
        key = run_key_of_job(job)
        if key is not None and job_phase(job) is not None:
            self.queue.add(key)

    # -- running -----------------------------------------------------------------------------------

    @property
    def informers(self) -> tuple[Informer, ...]:
        """The informers this controller runs itself."""
        return (self.runs, self.jobs) if self._runs_owned else (self.jobs,)

    async def run(self) -> None:
        """Fill the caches, then reconcile with the worker pool until cancelled."""
        tasks = [asyncio.create_task(i.run(), name=f"informer {i.name}") for i in self.informers]
        try:
            await asyncio.gather(*(i.wait_synced() for i in (self.runs, self.jobs)))
            log_action("analysis-caches-synced", analysisruns=len(self.runs), jobs=len(self.jobs))
            log_action(
                "start-analysis-workers",
                workers=self.options.workers,
                namespace=self.options.namespace or "*",
            )
            await run_worker_pool(self.queue, self.options.workers, self.sync, on_error=self._on_error)
        finally:
            self.queue.shutdown()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._http_owned:
                await self.http.close()

    def _on_error(self, key: str, error: Exception) -> None:
        if isinstance(error, KubeError):
            log_action(
                "analysis-error", analysisrun=key, error=str(error), retries=self.queue.num_requeues(key)
            )
        else:
            log.exception(
                "action=analysis-error analysisrun=%s: reconcile failed; it will be retried",
                key,
                exc_info=error,
            )

    # -- one reconcile ---------------------------------------------------------------------------

    async def sync(self, key: str) -> float | None:
        """Reconcile the AnalysisRun ``key``; the seconds after which to look again, or None."""
        run = self.runs.get(key)
        if run is None:
            self.versions.forget(key)
            return None
        meta = run.get("metadata") or {}
        if str((meta.get("labels") or {}).get(INSTANCE_ID_LABEL) or "") != self.options.instance_id:
            return None
        if self.versions.is_stale(key, run):
            return STALE_REQUEUE
        if meta.get("deletionTimestamp"):
            return None
        old = RunStatus.from_dict(run.get("status"))
        if old.completed:
            return await self._expire(key, run, old)
        now = self.clock()
        try:
            spec = read_run_spec(run)
        except RunSpecError as e:
            await self._end_in_error(key, run, old, str(e), now)
            return None
        tasks = due_measurements(spec, old, now)
        status = old
        secrets: list[str] = []
        if tasks:
            try:
                metrics, secrets = await self._resolve_metrics(spec, run, {t.metric for t in tasks})
            except (SecretError, ArgsError) as e:
                await self._end_in_error(key, run, old, f"Unable to resolve metric arguments: {e}", now)
                return None
            ref = RunRef.of(run)
            results = await asyncio.gather(
                *(self._measure(ref, spec, old, metrics[t.metric], t) for t in tasks)
            )
            status = record_measurements(spec, old, results, self.clock(), secrets)
            for result in results:
                m = result.measurement
                log_action(
                    "measure",
                    analysisrun=key,
                    metric=result.task.metric,
                    task=result.task.action,
                    phase=m.phase,
                    value=redact(m.value, secrets)[:200],
                    message=redact(m.message, secrets)[:300],
                )
        outcome = assess(spec, status, self.clock())
        for metric_name, limit in outcome.trimmed:
            await self._garbage_collect(run, spec, metric_name, limit)
        if outcome.status.to_dict() != (run.get("status") or {}):
            await self._write(key, run, outcome.status)
        await self._events(run, outcome.events)
        if outcome.status.phase != old.phase:
            log_action(
                "analysis-phase", analysisrun=key, phase=outcome.status.phase, message=outcome.status.message
            )
        if outcome.status.completed:
            deadline = ttl_deadline(spec, outcome.status)
            return None if deadline is None else max(0.0, (deadline - self.clock()).total_seconds())
        return outcome.requeue_after

    async def _end_in_error(
        self, key: str, run: Mapping[str, Any], old: RunStatus, message: str, now: datetime
    ) -> None:
        """The run cannot be measured: it ends in Error with ``message``."""
        status = replace(
            old, phase=ERROR, message=message, started_at=old.started_at or now, completed_at=now
        )
        await self._write(key, run, status)
        await self._events(run, [("Warning", "AnalysisRunError", "Analysis Completed. Result: Error")])
        log_action("analysis-error-phase", analysisrun=key, message=message)

    async def _measure(
        self, ref: RunRef, spec: RunSpec, status: RunStatus, metric: Metric, task: Task
    ) -> TaskResult:
        """One task through its provider; every failure becomes an Error measurement."""
        safe = spec.metric(task.metric) or metric
        result = status.result(task.metric)
        taken = result.count + result.error if result is not None else 0
        started = task.incomplete or Measurement(phase="Running", started_at=self.clock())
        try:
            provider = self.providers.get(metric)
        except ProviderError as e:
            return TaskResult(task, mark_error(started, str(e), self.clock()))
        ctx = MetricContext(ref, metric, taken)
        try:
            if task.action == RUN:
                measurement = await provider.run(ctx)
            elif task.action == RESUME:
                assert task.incomplete is not None
                measurement = await provider.resume(ctx, task.incomplete)
            else:
                assert task.incomplete is not None
                measurement = await provider.terminate(ctx, task.incomplete)
        except Exception as e:  # a provider bug must not stop the run: an Error measurement says what
            log.exception(
                "action=measure-failed analysisrun=%s/%s metric=%s", ref.namespace, ref.name, task.metric
            )
            measurement = mark_error(
                started, f"{provider.kind} provider failed: {type(e).__name__}", self.clock()
            )
        return TaskResult(task, measurement, provider.metadata(safe))

    async def _resolve_metrics(
        self, spec: RunSpec, run: Mapping[str, Any], names: set[str]
    ) -> tuple[dict[str, Metric], list[str]]:
        """The due metrics with every argument resolved (secrets read now), and the secret values."""
        namespace = str((run.get("metadata") or {}).get("namespace") or "")
        args: list[dict[str, Any]] = []
        secrets: list[str] = []
        cache: dict[str, Mapping[str, Any]] = {}
        for arg in spec.args:
            ref = secret_ref(arg)
            if ref is None:
                args.append(dict(arg))
                continue
            value = await self._secret_value(
                namespace, str(ref.get("name") or ""), str(ref.get("key") or ""), cache
            )
            secrets.append(value)
            args.append({"name": arg.get("name"), "value": value})
        metrics: dict[str, Metric] = {}
        for i, raw in enumerate(spec.raw_metrics):
            name = str(raw.get("name") or "")
            if name in names:
                metrics[name] = Metric.read(Reader(), resolve_metric(raw, args), f"spec.metrics[{i}]")
        return metrics, secrets

    async def _secret_value(
        self, namespace: str, name: str, key: str, cache: dict[str, Mapping[str, Any]]
    ) -> str:
        if name not in cache:
            try:
                cache[name] = await self.api.get(
                    resource_path("v1", "secrets", namespace=namespace, name=name)
                )
            except NotFound:
                raise SecretError(f'secrets "{name}" not found') from None
            except KubeError as e:
                raise SecretError(f'secret "{name}" could not be read: {e}') from None
        data = cache[name].get("data") or {}
        if key not in data:
            raise SecretError(f"key '{key}' does not exist in secret '{name}'")
        try:
            return base64.b64decode(str(data[key]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SecretError(f"key '{key}' of secret '{name}' is not base64-encoded UTF-8") from None

    async def _garbage_collect(
        self, run: Mapping[str, Any], spec: RunSpec, metric_name: str, limit: int
    ) -> None:
        metric = spec.metric(metric_name)
        if metric is None:
            return
        try:
            provider = self.providers.get(metric)
            await provider.garbage_collect(RunRef.of(run), metric, limit)
        except (ProviderError, KubeError) as e:
            log.warning(
                "analysisrun %s: could not clean up old measurements of %s: %s", _key(run), metric_name, e
            )

    async def _write(self, key: str, run: Mapping[str, Any], status: RunStatus) -> None:
        """Replace ``status`` (AnalysisRuns have no status subresource: it is part of the object)."""
        meta = run.get("metadata") or {}
        path = resource_path(
            API_VERSION, "analysisruns", namespace=meta.get("namespace"), name=meta.get("name")
        )
        patch = [{"op": "add", "path": "/status", "value": status.to_dict()}]
        written = await self.api.patch(path, patch, patch_type="json", field_manager=COMPONENT)
        self.versions.record_write(key, written)

    async def _expire(self, key: str, run: Mapping[str, Any], status: RunStatus) -> float | None:
        """A completed run: delete it once its ``ttlStrategy`` says so, else requeue for then."""
        spec_raw = run.get("spec") or {}
        ttl = spec_raw.get("ttlStrategy") if isinstance(spec_raw, Mapping) else None
        if not isinstance(ttl, Mapping):
            return None
        deadline = ttl_deadline(RunSpec(metrics=(), ttl_strategy=ttl), status)
        if deadline is None:
            return None
        remaining = (deadline - self.clock()).total_seconds()
        if remaining > 0:
            return remaining
        meta = run.get("metadata") or {}
        path = resource_path(
            API_VERSION, "analysisruns", namespace=meta.get("namespace"), name=meta.get("name")
        )
        with contextlib.suppress(NotFound):
            await self.api.delete(path)
        log_action("analysis-ttl-delete", analysisrun=key, phase=status.phase)
        return None

    async def _events(self, run: Mapping[str, Any], events: Sequence[tuple[str, str, str]]) -> None:
        for type_, reason, message in events:
            body = analysis_event(run, type_, reason, message, self.clock())
            path = resource_path("v1", "events", namespace=body["metadata"]["namespace"])
            try:
                await self.api.create(path, body)
            except Exception as e:  # an event is best effort
                log.warning("analysisrun %s: could not record event %s: %s", _key(run), reason, e)
                continue
            log_action("event", analysisrun=_key(run), type=type_, reason=reason, message=message)


def analysis_event(run: Mapping[str, Any], type_: str, reason: str, message: str, now: datetime) -> Obj:
    """A ``v1`` Event about an AnalysisRun."""
    meta = run.get("metadata") or {}
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    namespace = meta.get("namespace", "default")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name', '')}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": "AnalysisRun",
            "name": meta.get("name", ""),
            "namespace": namespace,
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": COMPONENT},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
