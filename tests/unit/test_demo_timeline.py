"""The demo's timeline: markers from Rollout changes, traffic per second, traffic windows."""

from __future__ import annotations

from typing import Any

from controller.demo.scenarios.weighted import binomial_band
from controller.demo.timeline import describe_step, rollout_markers, routing_markers, traffic_samples, window
from controller.loadtest import Result

STEPS = [{"setWeight": 50}, {"pause": {"duration": "5s"}}, {"setWeight": 100}]


def rollout(generation: int = 2, **status: Any) -> dict[str, Any]:
    base = {"observedGeneration": str(generation), "phase": "Progressing", "currentStepIndex": 0}
    return {
        "metadata": {"name": "web", "generation": generation},
        "spec": {"strategy": {"canary": {"steps": STEPS}}},
        "status": {**base, **status},
    }


def kinds(markers: list[Any]) -> list[tuple[str, str]]:
    return [(m.kind, m.label) for m in markers]


def test_steps_are_described_in_a_few_words() -> None:
    assert describe_step({"setWeight": 50}) == "setWeight 50"
    assert describe_step({"pause": {"duration": "2m"}}) == "pause 2m"
    assert describe_step({"pause": {}}) == "pause (until promoted)"
    assert (
        describe_step({"analysis": {"templates": [{"templateName": "success-rate"}]}})
        == "analysis success-rate"
    )


def test_a_step_reached_a_pause_and_its_end_are_marked() -> None:
    at_one = rollout(currentStepIndex=1)
    paused = rollout(currentStepIndex=1, pauseConditions=[{"reason": "CanaryPauseStep"}], phase="Paused")
    assert kinds(rollout_markers(rollout(), at_one, 3.0)) == [("step", "step 2/3: pause 5s")]
    marks = rollout_markers(at_one, paused, 4.0)
    assert (
        kinds(marks) == [("pause", "paused")] and marks[0].detail == "CanaryPauseStep" and marks[0].at == 4.0
    )
    resumed = rollout(currentStepIndex=2)
    assert kinds(rollout_markers(paused, resumed, 9.0)) == [
        ("step", "step 3/3: setWeight 100"),
        ("resume", "resumed"),
    ]


def test_completion_and_health_are_marked() -> None:
    done = rollout(currentStepIndex=3, phase="Healthy", stableRS="a", currentPodHash="a")
    marks = kinds(rollout_markers(rollout(currentStepIndex=2), done, 1.0))
    assert marks == [("step", "all 3 steps done"), ("phase", "Healthy")]


def test_an_abort_is_marked_once_without_the_step_reset() -> None:
    paused = rollout(
        currentStepIndex=1, pauseConditions=[{"reason": "CanaryPauseStep"}], message="CanaryPauseStep"
    )
    aborted = rollout(
        currentStepIndex=0,
        abort=True,
        message="RolloutAborted: Rollout aborted update to revision 2",
        phase="Degraded",
    )
    marks = rollout_markers(paused, aborted, 5.0)
    assert kinds(marks) == [("resume", "resumed"), ("abort", "aborted"), ("phase", "Degraded")]
    assert "RolloutAborted" in marks[1].detail
    # the abort patch alone (the controller has not written its message yet): no stale detail
    just_patched = rollout(
        currentStepIndex=1, abort=True, message="CanaryPauseStep", pauseConditions=[{"reason": "x"}]
    )
    assert rollout_markers(paused, just_patched, 5.0)[0].detail == ""


def test_analysis_results_are_marked_by_run() -> None:
    def with_run(status: str) -> dict[str, Any]:
        return rollout(
            currentStepIndex=1,
            canary={"currentStepAnalysisRunStatus": {"name": "web-abc-2-1", "status": status}},
        )

    assert kinds(rollout_markers(rollout(currentStepIndex=1), with_run("Running"), 1.0)) == [
        ("analysis", "analysis Running")
    ]
    marks = rollout_markers(with_run("Running"), with_run("Failed"), 2.0)
    assert kinds(marks) == [("analysis", "analysis Failed")] and marks[0].detail == "web-abc-2-1"


def results() -> list[Result]:
    return [
        Result(0.1, 0.01, status=200, version="blue"),
        Result(0.6, 0.01, status=200, version="green"),
        Result(1.2, 0.01, status=500, version="bad", error="HTTP 500"),
        Result(1.5, 0.01, error="connection refused"),
        Result(3.4, 0.01, status=200, version="blue"),
    ]


def test_traffic_is_bucketed_per_second_of_run_time_with_gaps_filled() -> None:
    samples = traffic_samples(results(), offset=10.0)
    assert [s.at for s in samples] == [10.0, 11.0, 12.0, 13.0]
    assert samples[0].by_version == {"blue": 1, "green": 1} and samples[0].errors == 0
    assert samples[1].by_version == {"bad": 1} and samples[1].errors == 2 and samples[1].unanswered == 1
    assert samples[1].requests == 2 and samples[1].error_percent == 100.0
    assert samples[2].requests == 0


def test_a_window_sums_the_requests_started_in_it() -> None:
    seen = window(results(), offset=10.0, since=10.5, until=12.0)
    assert seen.by_version == {"green": 1, "bad": 1}
    assert seen.errors == 2 and seen.unanswered == 1 and seen.requests == 3
    assert seen.percent("green") == 50.0 and seen.errors_by_version == {"bad": 1}
    assert seen.last_seen == {"green": 10.6, "bad": 11.2}
    assert seen.describe() == "bad 50% (1), green 50% (1); errors 67% of 3 requests"
    assert window([], offset=0, since=0, until=1).describe() == "no answers; errors 0% of 0 requests"


def blue_green(active: str, preview: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "generation": 2},
        "spec": {"strategy": {"blueGreen": {"activeService": "web-active", "previewService": "web-preview"}}},
        "status": {"blueGreen": {"activeSelector": active, "previewSelector": preview}},
    }


def routed(weight: int | None) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if weight is not None:
        status["canary"] = {"weights": {"canary": {"weight": weight}, "stable": {"weight": 100 - weight}}}
    return {
        "metadata": {"name": "web", "generation": 2},
        "spec": {"strategy": {"canary": {"canaryService": "web-canary", "steps": STEPS}}},
        "status": status,
    }


def test_blue_green_preview_then_switch_are_marked_with_the_version_names() -> None:
    names = {"aaa": "blue", "bbb": "green"}.__getitem__
    preview = routing_markers(blue_green("aaa", "aaa"), blue_green("aaa", "bbb"), 3.0, names)
    assert kinds(preview) == [("preview", "preview → green")]
    assert "web-preview" in preview[0].detail
    switch = routing_markers(blue_green("aaa", "bbb"), blue_green("bbb", "bbb"), 9.0, names)
    assert kinds(switch) == [("switch", "active → green")]
    assert "web-active" in switch[0].detail


def test_a_first_blue_green_deploy_marks_no_preview_and_no_switch() -> None:
    assert routing_markers(blue_green("", ""), blue_green("aaa", "aaa"), 1.0) == []


def test_canary_weights_are_marked_when_they_change() -> None:
    assert kinds(routing_markers(routed(None), routed(0), 1.0)) == []
    assert kinds(routing_markers(routed(0), routed(10), 1.0)) == [("weight", "weight 10%")]
    assert kinds(routing_markers(routed(10), routed(10), 2.0)) == []
    assert kinds(routing_markers(routed(30), routed(0), 3.0)) == [("weight", "weight 0%")]


def test_the_binomial_band_of_a_weighted_split() -> None:
    low, high = binomial_band(600, 10)  # 60 expected, sigma sqrt(54) = 7.35
    assert round(low, 1) == 30.6 and round(high, 1) == 89.4
    low, high = binomial_band(1000, 30, sigmas=2)
    assert round(low, 1) == 271.0 and round(high, 1) == 329.0
