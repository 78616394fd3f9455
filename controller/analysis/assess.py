"""The pure decisions of an AnalysisRun reconcile, in Argo's order (analysis/analysis.go).

A reconcile is::

    tasks = due_measurements(spec, status, now)        # what to measure, resume or terminate now
    results = <the providers measure, concurrently>     # I/O, in controller.runtime.analysis
    status = record_measurements(spec, status, results, now, secrets)
    outcome = assess(spec, status, now)                 # metric and run phases, GC, next requeue

:func:`metric_phase` is Argo's ``assessMetricStatus``; :func:`assess` is ``assessRunStatus``
plus the phase transition, ``completedAt``, measurement trimming and the next reconcile time.
Nothing here reads the clock or does I/O: ``now`` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

from controller.analysis.args import redact
from controller.analysis.spec import RunSpec
from controller.analysis.status import (
    ERROR,
    FAILED,
    INCONCLUSIVE,
    PENDING,
    RUNNING,
    SUCCESSFUL,
    Measurement,
    MetricResult,
    RunStatus,
    RunSummary,
    is_worse,
)
from controller.api.analysis import Metric, int_value
from controller.api.values import DurationError, parse_go_duration

#: retry interval after an Error measurement, and for metrics without an interval (DefaultErrorRetryInterval)
ERROR_RETRY_INTERVAL: Final = timedelta(seconds=10)
RUN_TERMINATED: Final = "Run Terminated"
METRIC_TERMINATED: Final = "Metric Terminated"

NORMAL, WARNING = "Normal", "Warning"

#: what a task asks of a provider
RUN, RESUME, TERMINATE = "run", "resume", "terminate"


@dataclass(frozen=True)
class Task:
    """One metric to act on in this reconcile."""

    metric: str
    #: RUN (a new measurement), RESUME or TERMINATE (the in-flight ``incomplete`` one)
    action: str
    incomplete: Measurement | None = None


@dataclass(frozen=True)
class TaskResult:
    """What a provider returned for a task, with the metadata of a metric's first result."""

    task: Task
    measurement: Measurement
    #: provider metadata for a new MetricResult (e.g. the resolved Prometheus query)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    """The outcome of assessing a run after this reconcile's measurements."""

    status: RunStatus
    #: seconds until the run should be looked at again (None: only on change)
    requeue_after: float | None
    #: ``(type, reason, message)`` Events to record on the run
    events: tuple[tuple[str, str, str], ...] = ()
    #: ``(metric, limit)`` for metrics whose measurements were trimmed (their providers may clean up)
    trimmed: tuple[tuple[str, int], ...] = ()


def is_terminating(spec: RunSpec, status: RunStatus) -> bool:
    """Argo's ``IsTerminating``: termination requested, or a non-dry-run metric ended badly."""
    if spec.terminate:
        return True
    return any(not r.dry_run and r.phase in (FAILED, ERROR, INCONCLUSIVE) for r in status.metric_results)


def _duration(text: str) -> timedelta | None:
    try:
        return timedelta(seconds=parse_go_duration(text))
    except DurationError:
        return None


def _retry_interval(metric: Metric, last: Measurement) -> timedelta | None:
    """How long after ``last`` the next measurement is due (None: an interval that does not parse)."""
    if last.phase == ERROR or not metric.interval:
        return ERROR_RETRY_INTERVAL
    return _duration(metric.interval)


def _count_reached(metric: Metric, result: MetricResult) -> bool:
    count = metric.effective_count
    return count is not None and result.count >= count


# -- 1. what to measure ------------------------------------------------------------------------


def due_measurements(spec: RunSpec, status: RunStatus, now: datetime) -> list[Task]:
    """Argo's ``generateMetricTasks``: the measurements to take, resume or terminate now."""
    terminating = is_terminating(spec, status)
    tasks: list[Task] = []
    for metric in spec.metrics:
        result = status.result(metric.name)
        if result is not None and result.completed:
            continue
        last = result.last if result is not None else None
        if last is not None and last.finished_at is None:
            if last.resume_at is not None and last.resume_at > now:
                continue
            tasks.append(Task(metric.name, TERMINATE if terminating else RESUME, last))
            continue
        if terminating:
            continue
        if last is None:
            if metric.initial_delay:
                delay = _duration(metric.initial_delay)
                if status.started_at is None or delay is None or status.started_at + delay > now:
                    continue
            tasks.append(Task(metric.name, RUN))
            continue
        assert result is not None
        if _count_reached(metric, result):
            continue
        interval = _retry_interval(metric, last)
        if interval is None:
            continue
        assert last.finished_at is not None
        if now > last.finished_at + interval:
            tasks.append(Task(metric.name, RUN))
    return tasks


# -- 2. recording what the providers said ------------------------------------------------------


def record_measurements(
    spec: RunSpec,
    status: RunStatus,
    results: Sequence[TaskResult],
    now: datetime,
    secrets: Sequence[str] = (),
) -> RunStatus:
    """The status with each new or updated measurement in place and its metric's counters updated.

    A completed measurement without ``finishedAt`` gets ``now``; secret values are masked out of
    every message and value. A metric's first result starts Running, with the provider's metadata.
    """
    for tr in results:
        name = tr.task.metric
        m = tr.measurement
        if m.completed and m.finished_at is None:
            m = replace(m, finished_at=now)
        if tr.task.action == TERMINATE and m.phase == SUCCESSFUL:
            m = replace(m, message=METRIC_TERMINATED)
        if secrets:
            m = replace(m, message=redact(m.message, secrets), value=redact(m.value, secrets))
        result = status.result(name) or MetricResult(
            name=name, phase=RUNNING, dry_run=name in spec.dry_run, metadata=dict(tr.metadata)
        )
        if m.completed:
            result = result.record(m)
        if tr.task.incomplete is None or not result.measurements:
            result = replace(result, measurements=(*result.measurements, m))
        else:
            result = replace(result, measurements=(*result.measurements[:-1], m))
        status = status.with_result(result)
    return status


# -- 3. phases -----------------------------------------------------------------------------------


def failure_inconclusive_or_error(metric: Metric, result: MetricResult) -> tuple[str, str]:
    """Argo's ``assessMetricFailureInconclusiveOrError``: a limit exceeded, and which (later checks win)."""
    phase, message = "", ""
    failure_limit = int_value(metric.failure_limit)
    if failure_limit >= 0 and result.failed > failure_limit:
        phase, message = FAILED, f"failed ({result.failed}) > failureLimit ({failure_limit})"
    inconclusive_limit = int_value(metric.inconclusive_limit)
    if result.inconclusive > inconclusive_limit:
        phase = INCONCLUSIVE
        message = f"inconclusive ({result.inconclusive}) > inconclusiveLimit ({inconclusive_limit})"
    error_limit = int_value(metric.consecutive_error_limit)
    if result.consecutive_error > error_limit:
        phase = ERROR
        message = f"consecutiveErrors ({result.consecutive_error}) > consecutiveErrorLimit ({error_limit})"
    return phase, message


def metric_phase(metric: Metric, result: MetricResult, terminating: bool) -> str:
    """Argo's ``assessMetricStatus``: the phase of one metric, from its counters and limits."""
    if result.completed:
        return result.phase
    if not result.measurements:
        return SUCCESSFUL if terminating else PENDING
    if not result.measurements[-1].completed:
        return RUNNING
    phase, _ = failure_inconclusive_or_error(metric, result)
    if phase:
        return phase
    success_limit = int_value(metric.consecutive_success_limit)
    if success_limit > 0 and result.consecutive_success >= success_limit:
        return SUCCESSFUL
    if _count_reached(metric, result):
        failure_applicable = int_value(metric.failure_limit) >= 0
        success_applicable = success_limit > 0
        if failure_applicable and success_applicable:
            return INCONCLUSIVE  # neither limit was reached within count
        if success_applicable:
            return FAILED  # consecutiveSuccessLimit not reached within count
        return SUCCESSFUL
    return SUCCESSFUL if terminating else RUNNING


def _summary_add(summary: RunSummary, phase: str) -> RunSummary:
    if phase == ERROR:
        return replace(summary, error=summary.error + 1)
    if phase == FAILED:
        return replace(summary, failed=summary.failed + 1)
    if phase == INCONCLUSIVE:
        return replace(summary, inconclusive=summary.inconclusive + 1)
    return replace(summary, successful=summary.successful + 1)


def assess(spec: RunSpec, status: RunStatus, now: datetime) -> Assessment:
    """Argo's ``assessRunStatus`` and what follows it in ``reconcileAnalysisRun``.

    Sets ``startedAt``, every metric's phase, the run and dry-run summaries, the run's phase and
    message (the message only changes with the phase), ``completedAt``; trims measurements to
    their retention limit; and works out when to look again.
    """
    events: list[tuple[str, str, str]] = []
    if status.started_at is None:
        status = replace(status, started_at=now)
    terminating = is_terminating(spec, status)
    worst, worst_message = "", RUN_TERMINATED if spec.terminate else ""
    everything_completed = True
    summary, dry_summary = RunSummary(), RunSummary()
    for metric in spec.metrics:
        dry = metric.name in spec.dry_run
        if dry:
            dry_summary = replace(dry_summary, count=dry_summary.count + 1)
        else:
            summary = replace(summary, count=summary.count + 1)
        result = status.result(metric.name)
        if result is None:
            everything_completed = False  # not started yet (an initial delay)
            continue
        phase = metric_phase(metric, result, terminating)
        if phase != result.phase:
            if phase in (SUCCESSFUL, FAILED, ERROR, INCONCLUSIVE):
                kind = WARNING if phase in (FAILED, ERROR) else NORMAL
                events.append((kind, f"Metric{phase}", f"Metric '{metric.name}' Completed. Result: {phase}"))
            last = result.last
            result = replace(
                result, phase=phase, message=last.message if last is not None else result.message
            )
            status = status.with_result(result)
        if not result.completed:
            everything_completed = False
            continue
        limit_phase, limit_message = failure_inconclusive_or_error(metric, result)
        if not dry:
            if not worst or is_worse(worst, phase):
                worst = phase
                if limit_message:
                    worst_message = f'Metric "{metric.name}" assessed {phase} due to {limit_message}'
                    if result.message:
                        worst_message += f': "Error Message: {result.message}"'
            summary = _summary_add(summary, limit_phase)
        else:
            worst = worst or SUCCESSFUL
            if limit_message:
                status = status.with_result(
                    replace(result, message=f"Metric assessed {phase} due to {limit_message}")
                )
            dry_summary = _summary_add(dry_summary, limit_phase)
    status = replace(status, run_summary=summary, dry_run_summary=dry_summary)
    worst_message = worst_message.strip()
    if terminating:
        new_phase, new_message = (worst or SUCCESSFUL), worst_message
    elif not everything_completed or not worst:
        new_phase, new_message = RUNNING, ""
    else:
        new_phase, new_message = worst, worst_message
    if new_phase != status.phase:
        status = replace(status, phase=new_phase, message=new_message)
        if status.completed:
            status = replace(status, completed_at=now)
            kind = WARNING if new_phase in (FAILED, ERROR) else NORMAL
            events.append((kind, f"AnalysisRun{new_phase}", f"Analysis Completed. Result: {new_phase}"))
    status, trimmed = trim_measurements(spec, status)
    requeue = next_reconcile(spec, status, now)
    if not status.completed and not terminating and is_terminating(spec, status):
        requeue = 0.0  # a metric just ended the run: stop the others now (Argo: the next sync)
    return Assessment(status, requeue, tuple(events), trimmed)


def trim_measurements(spec: RunSpec, status: RunStatus) -> tuple[RunStatus, tuple[tuple[str, int], ...]]:
    """Argo's ``garbageCollectMeasurements``: keep each metric's latest ``limit`` measurements."""
    trimmed: list[tuple[str, int]] = []
    results = []
    for result in status.metric_results:
        limit = spec.retention_limit(result.name)
        if len(result.measurements) > limit and spec.metric(result.name) is not None:
            result = replace(result, measurements=result.measurements[-limit:])
            trimmed.append((result.name, limit))
        results.append(result)
    return replace(status, metric_results=tuple(results)), tuple(trimmed)


def next_reconcile(spec: RunSpec, status: RunStatus, now: datetime) -> float | None:
    """Argo's ``calculateNextReconcileTime``: seconds until the earliest metric is due (None: none is)."""
    if status.completed:
        return None
    earliest: datetime | None = None

    def consider(when: datetime) -> None:
        nonlocal earliest
        if earliest is None or when < earliest:
            earliest = when

    for metric in spec.metrics:
        result = status.result(metric.name)
        if result is not None and result.completed:
            continue
        last = result.last if result is not None else None
        if last is None:
            if metric.initial_delay:
                delay = _duration(metric.initial_delay)
                if delay is not None:
                    consider((status.started_at or now) + delay)
            continue
        if last.finished_at is None:
            if last.resume_at is not None:
                consider(last.resume_at)
            continue
        assert result is not None
        if _count_reached(metric, result):
            continue
        if last.phase != ERROR and not metric.interval:
            continue
        interval = _retry_interval(metric, last)
        if interval is not None:
            consider(last.finished_at + interval)
    if earliest is None:
        return None
    return max(0.0, (earliest - now).total_seconds())


# -- time to live --------------------------------------------------------------------------------


def ttl_deadline(spec: RunSpec, status: RunStatus) -> datetime | None:
    """When a completed run should be deleted under ``ttlStrategy`` (None: keep it)."""
    ttl = spec.ttl_strategy
    if not ttl or not status.completed or status.completed_at is None:
        return None
    seconds: list[int] = []
    if status.phase == SUCCESSFUL and isinstance(ttl.get("secondsAfterSuccess"), int):
        seconds.append(ttl["secondsAfterSuccess"])
    if status.phase == FAILED and isinstance(ttl.get("secondsAfterFailure"), int):
        seconds.append(ttl["secondsAfterFailure"])
    if not seconds and isinstance(ttl.get("secondsAfterCompletion"), int):
        seconds.append(ttl["secondsAfterCompletion"])
    if not seconds:
        return None
    return status.completed_at + timedelta(seconds=seconds[0])


# -- a whole reconcile, for tests and simulations ------------------------------------------------


def reconcile(
    spec: RunSpec,
    status: RunStatus,
    now: datetime,
    measure: Callable[[Task], TaskResult],
    secrets: Sequence[str] = (),
) -> Assessment:
    """One reconcile with a synchronous ``measure``: due tasks, their results, the assessment."""
    if status.completed:
        return Assessment(status, None)
    tasks = due_measurements(spec, status, now)
    status = record_measurements(spec, status, [measure(t) for t in tasks], now, secrets)
    return assess(spec, status, now)
