"""The phase decisions of an AnalysisRun, table by table, with a fixed clock.

Each table follows one function of Argo's analysis/analysis.go: ``assessMetricStatus``
(:func:`metric_phase`), ``assessRunStatus`` (:func:`assess`), ``generateMetricTasks``
(:func:`due_measurements`), ``calculateNextReconcileTime`` (:func:`next_reconcile`), the counter
updates of ``runMeasurements`` (:func:`record_measurements`) and ``garbageCollectMeasurements``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.analysis.assess import (
    RESUME,
    RUN,
    TERMINATE,
    Task,
    TaskResult,
    assess,
    due_measurements,
    metric_phase,
    next_reconcile,
    reconcile,
    record_measurements,
    ttl_deadline,
)
from controller.analysis.spec import RunSpec, RunSpecError, read_run_spec
from controller.analysis.status import Measurement, MetricResult, RunStatus, RunSummary
from controller.api.analysis import Metric
from controller.api.problems import Reader

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def metric(name: str = "m", **fields: Any) -> Metric:
    raw = {"name": name, "provider": {"web": {"url": "http://x"}}, **fields}
    return Metric.read(Reader(), raw, name)


def result(*phases: str, name: str = "m", in_flight: bool = False, **changes: Any) -> MetricResult:
    """A result whose measurements ended in ``phases`` (one per 10 s from T0), counters to match."""
    r = MetricResult(name=name, phase="Running")
    for i, phase in enumerate(phases):
        m = Measurement(phase=phase, started_at=at(10 * i), finished_at=at(10 * i))
        r = replace(r.record(m), measurements=(*r.measurements, m))
    if in_flight:
        r = replace(
            r, measurements=(*r.measurements, Measurement(phase="Running", started_at=at(10 * len(phases))))
        )
    return replace(r, **changes)


def spec(*metrics: Metric, **fields: Any) -> RunSpec:
    return RunSpec(metrics=metrics, **fields)


# -- assessMetricStatus ----------------------------------------------------------------------------

METRIC_PHASE = [
    # (what, metric fields, result, terminating, phase)
    ("no measurement yet", {}, result(), False, "Pending"),
    ("no measurement, terminating", {}, result(), True, "Successful"),
    ("a measurement in flight", {}, result(in_flight=True), False, "Running"),
    ("one failure over failureLimit 0", {"interval": "1m"}, result("Failed"), False, "Failed"),
    (
        "failures within failureLimit",
        {"interval": "1m", "failureLimit": 1},
        result("Failed"),
        False,
        "Running",
    ),
    (
        "failures over failureLimit",
        {"interval": "1m", "failureLimit": 1},
        result("Failed", "Failed"),
        False,
        "Failed",
    ),
    (
        "failureLimit -1 ignores failures",
        {"interval": "1m", "failureLimit": -1, "consecutiveSuccessLimit": 2},
        result("Failed", "Failed", "Failed"),
        False,
        "Running",
    ),
    ("one inconclusive over 0", {"interval": "1m"}, result("Inconclusive"), False, "Inconclusive"),
    (
        "inconclusive within limit",
        {"interval": "1m", "inconclusiveLimit": 1},
        result("Inconclusive"),
        False,
        "Running",
    ),
    ("5 errors in a row > 4 (default)", {"interval": "1m"}, result(*["Error"] * 5), False, "Error"),
    ("4 errors in a row = limit 4", {"interval": "1m"}, result(*["Error"] * 4), False, "Running"),
    (
        "consecutiveErrorLimit 0",
        {"interval": "1m", "consecutiveErrorLimit": 0},
        result("Error"),
        False,
        "Error",
    ),
    (
        "errors broken by a success",
        {"interval": "1m"},
        result("Error", "Error", "Error", "Successful", "Error"),
        False,
        "Running",
    ),
    (
        "consecutiveSuccessLimit reached",
        {"interval": "1m", "consecutiveSuccessLimit": 3, "failureLimit": 2},
        result("Failed", "Successful", "Successful", "Successful"),
        False,
        "Successful",
    ),
    (
        "consecutive successes broken",
        {"interval": "1m", "consecutiveSuccessLimit": 2, "failureLimit": 3},
        result("Successful", "Failed", "Successful"),
        False,
        "Running",
    ),
    (
        "count reached",
        {"interval": "1m", "count": 3, "failureLimit": 1},
        result("Successful", "Failed", "Successful"),
        False,
        "Successful",
    ),
    (
        "count reached, both limits applicable: Inconclusive",
        {"interval": "1m", "count": 3, "consecutiveSuccessLimit": 3, "failureLimit": 1},
        result("Successful", "Failed", "Successful"),
        False,
        "Inconclusive",
    ),
    (
        "count reached, only consecutiveSuccessLimit: Failed",
        {"interval": "1m", "count": 3, "consecutiveSuccessLimit": 3, "failureLimit": -1},
        result("Successful", "Failed", "Successful"),
        False,
        "Failed",
    ),
    (
        "limits are checked before count",
        {"interval": "1m", "count": 2},
        result("Successful", "Failed"),
        False,
        "Failed",
    ),
    (
        "errors do not count towards count",
        {"interval": "1m", "count": 2},
        result("Successful", "Error"),
        False,
        "Running",
    ),
    ("no interval: one measurement", {}, result("Successful"), False, "Successful"),
    ("indefinite metric runs on", {"interval": "1m"}, result("Successful"), False, "Running"),
    ("indefinite metric, terminating", {"interval": "1m"}, result("Successful"), True, "Successful"),
    ("a completed phase stays", {"interval": "1m"}, result("Successful", phase="Failed"), True, "Failed"),
    (
        "the last limit checked wins (Error over Failed)",
        {"interval": "1m"},
        result("Successful", failed=1, consecutive_error=5),
        False,
        "Error",
    ),
]


@pytest.mark.parametrize(
    ("fields", "res", "terminating", "phase"),
    [row[1:] for row in METRIC_PHASE],
    ids=[row[0] for row in METRIC_PHASE],
)
def test_metric_phase(fields: dict[str, Any], res: MetricResult, terminating: bool, phase: str) -> None:
    assert metric_phase(metric(**fields), res, terminating) == phase


# -- assessRunStatus -------------------------------------------------------------------------------


def test_all_metrics_successful_completes_the_run() -> None:
    a, b = metric("a"), metric("b")
    status = RunStatus(metric_results=(result("Successful", name="a"), result("Successful", name="b")))
    out = assess(spec(a, b), status, at(5))
    assert out.status.phase == "Successful"
    assert out.status.message == ""
    assert out.status.started_at == at(5)
    assert out.status.completed_at == at(5)
    assert out.status.run_summary == RunSummary(count=2, successful=2)
    assert out.requeue_after is None
    assert ("Normal", "AnalysisRunSuccessful", "Analysis Completed. Result: Successful") in out.events
    assert ("Normal", "MetricSuccessful", "Metric 'a' Completed. Result: Successful") in out.events


def test_run_stays_running_while_a_metric_is_incomplete() -> None:
    a, b = metric("a"), metric("b", interval="10s")
    status = RunStatus(
        started_at=T0, metric_results=(result("Successful", name="a"), result("Successful", name="b"))
    )
    out = assess(spec(a, b), status, at(1))
    assert out.status.phase == "Running"
    assert out.status.result("a").phase == "Successful"  # type: ignore[union-attr]
    assert out.status.completed_at is None
    assert out.requeue_after == pytest.approx(9.0)  # b's next measurement: finished T0 + 10 s


def test_a_metric_not_started_keeps_the_run_running() -> None:
    a, b = metric("a"), metric("b", initialDelay="30s")
    status = RunStatus(started_at=T0, metric_results=(result("Successful", name="a"),))
    out = assess(spec(a, b), status, at(1))
    assert out.status.phase == "Running"
    assert out.requeue_after == pytest.approx(29.0)  # b's initial delay


def test_worst_phase_wins_with_argo_message() -> None:
    a, b = metric("a"), metric("b")
    failed = result("Failed", name="a", phase="Running")
    failed = replace(failed, measurements=(replace(failed.measurements[0], message="5xx too high"),))
    status = RunStatus(started_at=T0, metric_results=(failed, result("Inconclusive", name="b")))
    out = assess(spec(a, b), status, at(1))
    assert out.status.phase == "Failed"
    assert out.status.message == (
        'Metric "a" assessed Failed due to failed (1) > failureLimit (0): "Error Message: 5xx too high"'
    )
    assert out.status.run_summary == RunSummary(count=2, failed=1, inconclusive=1)
    assert ("Warning", "AnalysisRunFailed", "Analysis Completed. Result: Failed") in out.events
    assert ("Warning", "MetricFailed", "Metric 'a' Completed. Result: Failed") in out.events
    assert ("Normal", "MetricInconclusive", "Metric 'b' Completed. Result: Inconclusive") in out.events


def test_dry_run_metric_does_not_decide_the_run() -> None:
    a, b = metric("a"), metric("b")
    status = RunStatus(
        started_at=T0,
        metric_results=(result("Successful", name="a"), result("Failed", name="b", dry_run=True)),
    )
    out = assess(spec(a, b, dry_run=frozenset({"b"})), status, at(1))
    assert out.status.phase == "Successful"
    assert out.status.run_summary == RunSummary(count=1, successful=1)
    assert out.status.dry_run_summary == RunSummary(count=1, failed=1)
    assert out.status.result("b").message == "Metric assessed Failed due to failed (1) > failureLimit (0)"  # type: ignore[union-attr]


def test_a_failed_dry_run_metric_does_not_terminate_the_others() -> None:
    a, b = metric("a", interval="10s"), metric("b")
    status = RunStatus(
        started_at=T0,
        metric_results=(
            result("Successful", name="a"),
            result("Failed", name="b", phase="Failed", dry_run=True),
        ),
    )
    out = assess(spec(a, b, dry_run=frozenset({"b"})), status, at(1))
    assert out.status.phase == "Running"
    assert due_measurements(spec(a, b, dry_run=frozenset({"b"})), out.status, at(11)) == [Task("a", RUN)]


def test_terminate_with_nothing_measured_is_successful() -> None:
    out = assess(spec(metric("a", initialDelay="1m"), terminate=True), RunStatus(started_at=T0), at(1))
    assert out.status.phase == "Successful"
    assert out.status.message == "Run Terminated"


def test_terminate_ends_an_indefinite_metric_successfully() -> None:
    a = metric("a", interval="10s")
    status = RunStatus(
        started_at=T0, phase="Running", metric_results=(result("Successful", "Successful", name="a"),)
    )
    out = assess(spec(a, terminate=True), status, at(15))
    assert out.status.phase == "Successful"
    assert out.status.message == "Run Terminated"
    assert out.status.result("a").phase == "Successful"  # type: ignore[union-attr]


def test_a_failing_metric_terminates_the_others_on_the_next_pass() -> None:
    """As in Argo: the failure is seen in one pass, the other metrics stop in the next."""
    a, b = metric("a", interval="10s"), metric("b", interval="10s")
    status = RunStatus(
        started_at=T0,
        phase="Running",
        metric_results=(result("Failed", name="a"), result("Successful", name="b")),
    )
    first = assess(spec(a, b), status, at(1))
    assert first.status.result("a").phase == "Failed"  # type: ignore[union-attr]
    assert first.status.phase == "Running"
    assert first.requeue_after == 0.0  # look again at once
    assert due_measurements(spec(a, b), first.status, at(30)) == []  # nothing new is measured
    second = assess(spec(a, b), first.status, at(1))
    assert second.status.result("b").phase == "Successful"  # type: ignore[union-attr]
    assert second.status.phase == "Failed"
    assert second.status.message == 'Metric "a" assessed Failed due to failed (1) > failureLimit (0)'


def test_message_changes_only_with_the_phase() -> None:
    a = metric("a", interval="10s")
    status = RunStatus(
        started_at=T0, phase="Running", message="kept", metric_results=(result("Successful", name="a"),)
    )
    assert assess(spec(a), status, at(1)).status.message == "kept"


# -- generateMetricTasks ---------------------------------------------------------------------------

DUE = [
    # (what, metric fields, status, now, tasks)
    ("first measurement", {}, RunStatus(), 0, [Task("m", RUN)]),
    ("initial delay: run not started", {"initialDelay": "30s"}, RunStatus(), 100, []),
    ("initial delay not over", {"initialDelay": "30s"}, RunStatus(started_at=T0), 29, []),
    ("initial delay over", {"initialDelay": "30s"}, RunStatus(started_at=T0), 31, [Task("m", RUN)]),
    ("interval not over", {"interval": "10s"}, RunStatus(metric_results=(result("Successful"),)), 10, []),
    (
        "interval over",
        {"interval": "10s"},
        RunStatus(metric_results=(result("Successful"),)),
        10.5,
        [Task("m", RUN)],
    ),
    (
        "error retry after 10 s",
        {"interval": "1m"},
        RunStatus(metric_results=(result("Error"),)),
        10.5,
        [Task("m", RUN)],
    ),
    ("error retry, not yet", {"interval": "1m"}, RunStatus(metric_results=(result("Error"),)), 9, []),
    ("error retry without interval", {}, RunStatus(metric_results=(result("Error"),)), 11, [Task("m", RUN)]),
    (
        "count reached",
        {"interval": "1s", "count": 1},
        RunStatus(metric_results=(result("Successful"),)),
        100,
        [],
    ),
    (
        "completed metric",
        {"interval": "1s"},
        RunStatus(metric_results=(result("Successful", phase="Successful"),)),
        100,
        [],
    ),
]


@pytest.mark.parametrize(
    ("fields", "status", "now", "tasks"), [row[1:] for row in DUE], ids=[row[0] for row in DUE]
)
def test_due_measurements(fields: dict[str, Any], status: RunStatus, now: float, tasks: list[Task]) -> None:
    assert due_measurements(spec(metric(**fields)), status, at(now)) == tasks


def test_in_flight_measurement_is_resumed_or_terminated() -> None:
    res = result("Successful", in_flight=True)
    flying = res.measurements[-1]
    m = metric(interval="10s")
    assert due_measurements(spec(m), RunStatus(metric_results=(res,)), at(11)) == [Task("m", RESUME, flying)]
    assert due_measurements(spec(m, terminate=True), RunStatus(metric_results=(res,)), at(11)) == [
        Task("m", TERMINATE, flying)
    ]
    waiting = replace(res, measurements=(*res.measurements[:-1], replace(flying, resume_at=at(20))))
    assert due_measurements(spec(m), RunStatus(metric_results=(waiting,)), at(11)) == []
    assert next_reconcile(spec(m), RunStatus(metric_results=(waiting,)), at(11)) == pytest.approx(9.0)


def test_terminating_takes_no_new_measurements() -> None:
    m = metric(interval="10s")
    assert (
        due_measurements(spec(m, terminate=True), RunStatus(metric_results=(result("Successful"),)), at(100))
        == []
    )


# -- calculateNextReconcileTime --------------------------------------------------------------------


def test_next_reconcile_is_the_earliest_due_metric() -> None:
    fast, slow, errs = (
        metric("fast", interval="5s"),
        metric("slow", interval="1m"),
        metric("errs", interval="1m"),
    )
    status = RunStatus(
        started_at=T0,
        metric_results=(
            result("Successful", name="fast"),
            result("Successful", name="slow"),
            result("Error", name="errs"),
        ),
    )
    assert next_reconcile(spec(fast, slow, errs), status, at(2)) == pytest.approx(3.0)
    assert next_reconcile(spec(slow, errs), status, at(2)) == pytest.approx(8.0)  # error retry: 10 s
    assert next_reconcile(spec(slow), status, at(90)) == 0.0  # overdue: now
    done = replace(status, phase="Successful")
    assert next_reconcile(spec(fast), done, at(2)) is None
    assert (
        next_reconcile(
            spec(metric("once")), RunStatus(metric_results=(result("Successful", name="once"),)), at(2)
        )
        is None
    )


# -- runMeasurements: recording ----------------------------------------------------------------------


def _measured(phase: str, when: float, message: str = "", value: str = "") -> Measurement:
    return Measurement(phase=phase, started_at=at(when), finished_at=at(when), message=message, value=value)


def test_record_counts_each_phase() -> None:
    m = metric(interval="1s")
    status = RunStatus()
    for i, phase in enumerate(["Successful", "Successful", "Error", "Failed", "Inconclusive", "Successful"]):
        status = record_measurements(
            spec(m), status, [TaskResult(Task("m", RUN), _measured(phase, i))], at(i)
        )
    r = status.result("m")
    assert r is not None
    assert (r.count, r.successful, r.failed, r.inconclusive, r.error) == (5, 3, 1, 1, 1)
    assert (r.consecutive_error, r.consecutive_success) == (0, 1)
    assert [x.phase for x in r.measurements] == [
        "Successful",
        "Successful",
        "Error",
        "Failed",
        "Inconclusive",
        "Successful",
    ]


def test_record_first_result_and_secret_masking() -> None:
    m = metric(interval="1s")
    tr = TaskResult(
        Task("m", RUN),
        Measurement(phase="Error", started_at=T0, message="401 for token s3cr3t", value="s3cr3t"),
        {"ResolvedPrometheusQuery": "up"},
    )
    status = record_measurements(spec(m, dry_run=frozenset({"m"})), RunStatus(), [tr], at(1), ["s3cr3t"])
    r = status.result("m")
    assert r is not None
    assert r.dry_run and r.phase == "Running" and r.metadata == {"ResolvedPrometheusQuery": "up"}
    assert r.measurements[0].message == "401 for token *****"
    assert r.measurements[0].value == "*****"
    assert r.measurements[0].finished_at == at(1)  # completed without finishedAt: now


def test_record_resume_and_terminate_replace_the_in_flight_measurement() -> None:
    m = metric(interval="1s")
    res = result("Successful", in_flight=True)
    flying = res.measurements[-1]
    status = RunStatus(metric_results=(res,))
    done = record_measurements(
        spec(m),
        status,
        [TaskResult(Task("m", TERMINATE, flying), replace(flying, phase="Successful"))],
        at(30),
    )
    r = done.result("m")
    assert r is not None
    assert len(r.measurements) == 2
    assert r.measurements[-1].message == "Metric Terminated"
    assert r.count == 2


# -- garbageCollectMeasurements and ttl ----------------------------------------------------------------


def test_measurements_are_trimmed_to_their_retention() -> None:
    a, b = metric("a", interval="1s"), metric("b", interval="1s")
    status = RunStatus(
        started_at=T0,
        metric_results=(result(*["Successful"] * 12, name="a"), result(*["Successful"] * 12, name="b")),
    )
    out = assess(spec(a, b, retention={"b": 3}), status, at(200))
    assert len(out.status.result("a").measurements) == 10  # type: ignore[union-attr]
    assert len(out.status.result("b").measurements) == 3  # type: ignore[union-attr]
    assert out.status.result("b").count == 12  # type: ignore[union-attr]
    assert out.trimmed == (("a", 10), ("b", 3))


@pytest.mark.parametrize(
    ("ttl", "phase", "after"),
    [
        ({"secondsAfterCompletion": 60}, "Successful", 60),
        ({"secondsAfterCompletion": 60, "secondsAfterSuccess": 5}, "Successful", 5),
        ({"secondsAfterCompletion": 60, "secondsAfterFailure": 7}, "Failed", 7),
        ({"secondsAfterCompletion": 60, "secondsAfterFailure": 7}, "Error", 60),
        ({"secondsAfterSuccess": 5}, "Failed", None),
    ],
)
def test_ttl_deadline(ttl: dict[str, int], phase: str, after: int | None) -> None:
    status = RunStatus(phase=phase, completed_at=T0)
    deadline = ttl_deadline(spec(metric(), ttl_strategy=ttl), status)
    assert deadline == (None if after is None else at(after))


# -- whole reconciles -----------------------------------------------------------------------------------


def test_a_run_from_start_to_end() -> None:
    """interval 10 s, count 3, failureLimit 1: Successful, Failed, Successful -> Successful."""
    run = {
        "metadata": {"name": "r", "namespace": "ns"},
        "spec": {
            "metrics": [
                {
                    "name": "ok",
                    "interval": "10s",
                    "count": 3,
                    "failureLimit": 1,
                    "successCondition": "result == true",
                    "provider": {"web": {"url": "http://example/{{args.path}}"}},
                }
            ],
            "args": [{"name": "path", "value": "health"}],
        },
    }
    s = read_run_spec(run)
    answers = iter(["Successful", "Failed", "Successful"])
    clock = {"now": T0}

    def measure(task: Task) -> TaskResult:
        return TaskResult(task, _measured(next(answers), (clock["now"] - T0).total_seconds()))

    status = RunStatus()
    phases = []
    for second in (0, 5, 10.5, 21, 31.5):
        clock["now"] = at(second)
        out = reconcile(s, status, at(second), measure)
        status = RunStatus.from_dict(out.status.to_dict())  # through JSON, as the API stores it
        phases.append(
            (status.phase, status.result("ok").count if status.result("ok") else 0, out.requeue_after)
        )
    assert phases == [
        ("Running", 1, 10.0),
        ("Running", 1, 5.0),
        ("Running", 2, 10.0),  # 10 s after the measurement, kept precise in memory
        ("Successful", 3, None),
        ("Successful", 3, None),
    ]
    assert status.result("ok").phase == "Successful"  # type: ignore[union-attr]


def test_status_round_trips_through_json() -> None:
    status = RunStatus(
        phase="Running",
        message="m",
        started_at=T0,
        run_summary=RunSummary(count=1),
        dry_run_summary=RunSummary(),
        metric_results=(
            replace(
                result("Successful", "Error", in_flight=True), metadata={"k": "v"}, dry_run=True, message="x"
            ),
        ),
    )
    raw = status.to_dict()
    assert RunStatus.from_dict(raw) == status
    assert raw["runSummary"] == {"count": 1}
    assert raw["dryRunSummary"] == {}
    assert raw["startedAt"] == "2024-05-01T12:00:00Z"
    assert "consecutiveError" in raw["metricResults"][0]


# -- the spec ---------------------------------------------------------------------------------------------

SPEC_ERRORS = [
    ({"metrics": []}, "Analysis spec invalid: no metrics specified"),
    (
        {"metrics": [{"name": "a", "provider": {}}]},
        "Analysis spec invalid: metrics[0]: no provider specified",
    ),
    (
        {"metrics": [{"name": "a", "provider": {"web": {}, "prometheus": {}}}]},
        "Analysis spec invalid: metrics[0]: multiple providers specified",
    ),
    (
        {"metrics": [{"name": "a", "count": 2, "provider": {"web": {}}}]},
        "Analysis spec invalid: metrics[0]: interval must be specified when count > 1",
    ),
    (
        {
            "metrics": [
                {"name": "a", "count": 2, "interval": "1s", "failureLimit": 3, "provider": {"web": {}}}
            ]
        },
        "Analysis spec invalid: metrics[0]: count must be >= failureLimit",
    ),
    (
        {"metrics": [{"name": "a", "interval": "5 minutes", "provider": {"web": {}}}]},
        "Analysis spec invalid: metrics[0]: invalid interval string",
    ),
    (
        {"metrics": [{"name": "a", "failureLimit": -1, "provider": {"web": {}}}]},
        "cannot both be disabled",
    ),
    (
        {"metrics": [{"name": "a", "provider": {"web": {}}}, {"name": "a", "provider": {"web": {}}}]},
        "Analysis spec invalid: metrics[1]: duplicate name 'a'",
    ),
    (
        {"metrics": [{"name": "a", "provider": {"web": {}}}], "dryRun": [{"metricName": "b.*"}]},
        "Analysis spec invalid: dryRun[0]: Rule didn't match any metric name(s)",
    ),
    (
        {"metrics": [{"name": "a", "provider": {"web": {"url": "{{args.url}}"}}}], "args": [{"name": "url"}]},
        'Unable to resolve metric arguments: argument "url" was not supplied',
    ),
    (
        {"metrics": [{"name": "a", "provider": {"web": {"url": "{{ args.nope }}"}}}]},
        "Unable to resolve metric arguments: failed to resolve {{ args.nope }}",
    ),
]


@pytest.mark.parametrize(("raw", "message"), SPEC_ERRORS)
def test_spec_errors_end_the_run_with_argo_messages(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(RunSpecError) as raised:
        read_run_spec({"spec": raw})
    assert message in str(raised.value)


def test_spec_reading() -> None:
    s = read_run_spec(
        {
            "spec": {
                "metrics": [
                    {
                        "name": "total-5xx",
                        "count": "{{args.n}}",
                        "interval": "1s",
                        "provider": {"web": {"url": "{{args.u}}"}},
                    },
                    {
                        "name": "total-4xx",
                        "provider": {
                            "web": {"url": "http://x", "headers": [{"key": "A", "value": "{{args.tok}}"}]}
                        },
                    },
                ],
                "args": [
                    {"name": "n", "value": "3"},
                    {"name": "u", "value": 'http://x/?q="a"\n'},
                    {"name": "tok", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
                "dryRun": [{"metricName": "4xx"}],
                "measurementRetention": [{"metricName": ".*", "limit": 20}],
                "terminate": True,
            }
        }
    )
    assert s.terminate
    assert s.dry_run == frozenset({"total-4xx"})  # a regular expression found anywhere in the name
    assert s.retention == {"total-5xx": 20, "total-4xx": 20}
    five, four = s.metrics
    assert five.effective_count == 3
    assert five.provider["web"]["url"] == 'http://x/?q="a"\n'  # quotes and newlines survive
    assert four.provider["web"]["headers"][0]["value"] == "*****"  # a secret is never resolved here


# -- the worked example of docs/analysis.md ----------------------------------------------------------

EXAMPLE_METRIC = {
    "name": "success-rate",
    "interval": "1m",
    "count": 5,
    "failureLimit": 1,
    "successCondition": "len(result) == 0 || result[0] >= 0.95",
    "failureCondition": "len(result) > 0 && result[0] < 0.90",
    "provider": {"prometheus": {"address": "http://prometheus.monitoring:9090", "query": "q"}},
}


def _example(answers: list[list[float] | None]) -> list[tuple[str, str]]:
    """(run phase, run message) after each minute, with the query answering ``answers``."""
    from controller.analysis.conditions import evaluate_result

    s = read_run_spec({"spec": {"metrics": [EXAMPLE_METRIC]}})
    m = s.metrics[0]
    status, out = RunStatus(), []
    for minute, answer in enumerate(answers):
        now = at(61 * minute)  # a little over a minute apart: the interval has passed

        def measure(task: Task, answer: list[float] | None = answer, now: datetime = now) -> TaskResult:
            if answer is None:
                return TaskResult(
                    task, Measurement(phase="Error", started_at=now, message="connection refused")
                )
            phase, _ = evaluate_result(answer, m.success_condition, m.failure_condition)
            return TaskResult(task, Measurement(phase=phase, started_at=now, finished_at=now))

        status = reconcile(s, status, now, measure).status
        out.append((status.phase, status.message))
    return out


def test_worked_example_inconclusive() -> None:
    assert _example([[0.99], [0.93]])[-1] == (
        "Inconclusive",
        'Metric "success-rate" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)',
    )


def test_worked_example_failed_and_successful() -> None:
    assert _example([[0.99], [0.85], [0.99]])[-1] == ("Running", "")
    assert _example([[0.99], [0.85], [0.85]])[-1] == (
        "Failed",
        'Metric "success-rate" assessed Failed due to failed (2) > failureLimit (1)',
    )
    assert _example([[0.99], [0.85], [0.99], [], [0.97]])[-1] == ("Successful", "")


def test_worked_example_errors() -> None:
    phases = _example([None] * 5)
    assert [p for p, _ in phases] == ["Running"] * 4 + ["Error"]
    assert phases[-1][1] == (
        'Metric "success-rate" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): '
        '"Error Message: connection refused"'
    )
