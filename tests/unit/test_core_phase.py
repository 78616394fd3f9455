"""Rollout phase/message and conditions, as Argo Rollouts computes them.

The phase table holds Argo's own cases (``utils/rollout/rolloututil_test.go``: TestRolloutStatus*,
TestIsUnpausing, Test_isGenerationObserved) plus the states a canary and a blue-green rollout
pass through, so Argo CD's Rollout health check reads the same verdict from our status.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.core import conditions as cond
from controller.core.phase import RolloutPhase, calculate_phase, is_fully_promoted, rollout_phase

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def canary(**status: Any) -> dict[str, Any]:
    """Argo's ``newCanaryRollout``: 5 replicas, steps 10% / pause 60s / 20%, mid-update."""
    base: dict[str, Any] = {
        "currentStepIndex": 1,
        "replicas": 4,
        "readyReplicas": 1,
        "updatedReplicas": 3,
        "availableReplicas": 2,
    }
    base.update(status)
    return {
        "metadata": {"name": "can-guestbook", "namespace": "test"},
        "spec": {
            "replicas": 5,
            "strategy": {
                "canary": {"steps": [{"setWeight": 10}, {"pause": {"duration": 60}}, {"setWeight": 20}]}
            },
        },
        "status": base,
    }


def blue_green(**status: Any) -> dict[str, Any]:
    """Argo's ``newBlueGreenRollout``: 5 replicas, mid-update."""
    ro = canary(**status)
    ro["metadata"]["name"] = "bg-guestbook"
    ro["spec"]["strategy"] = {"blueGreen": {"activeService": "active"}}
    return ro


HEALTHY = {"replicas": 5, "updatedReplicas": 5, "availableReplicas": 5, "readyReplicas": 5}
PROMOTED = {**HEALTHY, "stableRS": "abc1234", "currentPodHash": "abc1234"}


def with_spec(ro: dict[str, Any], **spec: Any) -> dict[str, Any]:
    ro = copy.deepcopy(ro)
    ro["spec"].update(spec)
    return ro


def with_condition(ro: dict[str, Any], type_: str, reason: str, message: str) -> dict[str, Any]:
    ro = copy.deepcopy(ro)
    ro["status"].setdefault("conditions", []).append(
        {"type": type_, "status": "False", "reason": reason, "message": message}
    )
    return ro


PHASES: list[tuple[str, dict[str, Any], tuple[str, str]]] = [
    # -- Argo: TestRolloutStatusDegraded / Paused / Progressing / Healthy
    ("ProgressDeadlineExceeded is degraded",
     with_condition(canary(), "Progressing", "ProgressDeadlineExceeded", "timed out"),
     ("Degraded", "ProgressDeadlineExceeded: timed out")),
    ("manually paused", with_spec(canary(), paused=True), ("Paused", "manually paused")),
    ("more replicas need to be updated",
     canary(updatedReplicas=4, availableReplicas=4, replicas=5),
     ("Progressing", "more replicas need to be updated")),
    ("updated replicas are still becoming available",
     canary(updatedReplicas=5, availableReplicas=4, replicas=5),
     ("Progressing", "updated replicas are still becoming available")),
    ("old replicas are pending termination",
     canary(updatedReplicas=5, availableReplicas=5, replicas=7),
     ("Progressing", "old replicas are pending termination")),
    ("active service cutover pending",
     blue_green(**HEALTHY, stableRS="abc1234", currentPodHash="def5678", blueGreen={"activeSelector": "abc1234"}),
     ("Progressing", "active service cutover pending")),
    ("waiting for analysis to complete",
     with_spec(blue_green(**HEALTHY, stableRS="abc1234", currentPodHash="def5678",
                          blueGreen={"activeSelector": "def5678"}),
               strategy={"blueGreen": {"postPromotionAnalysis": {}}}),
     ("Progressing", "waiting for analysis to complete")),
    ("waiting for post-promotion verification to complete",
     blue_green(**HEALTHY, stableRS="abc1234", currentPodHash="def5678", blueGreen={"activeSelector": "def5678"}),
     ("Progressing", "waiting for post-promotion verification to complete")),
    ("newly created rollout with hashes but no updated replicas",
     {**with_spec(canary(), replicas=None), "status": {"observedGeneration": "0", "stableRS": "abc1234",
                                                       "currentPodHash": "abc1234"}},
     ("Progressing", "more replicas need to be updated")),
    ("rollout is restarting",
     with_spec(canary(**PROMOTED), restartAt="2025-03-01T11:59:00Z"),
     ("Progressing", "rollout is restarting")),
    ("healthy canary", canary(**PROMOTED), ("Healthy", "")),
    ("healthy blue-green", blue_green(**PROMOTED, blueGreen={"activeSelector": "abc1234"}), ("Healthy", "")),
    ("restart finished",
     with_spec(canary(**PROMOTED, restartedAt="2025-03-01T11:59:00Z"), restartAt="2025-03-01T11:59:00Z"),
     ("Healthy", "")),
    # -- degraded and paused states
    ("InvalidSpec wins over everything",
     with_spec(with_condition(canary(), "InvalidSpec", "InvalidSpec", "The Rollout \"x\" is invalid"), paused=True),
     ("Degraded", "InvalidSpec: The Rollout \"x\" is invalid")),
    ("aborted",
     with_condition(canary(abort=True, pauseConditions=[{"reason": "CanaryPauseStep"}]), "Progressing",
                    "RolloutAborted", "Rollout aborted update to revision 2"),
     ("Degraded", "RolloutAborted: Rollout aborted update to revision 2")),
    ("aborted by analysis",
     with_condition(canary(abort=True), "Progressing", "RolloutAborted",
                    "Rollout aborted update to revision 2: Metric \"success-rate\" assessed Failed"),
     ("Degraded", "RolloutAborted: Rollout aborted update to revision 2: Metric \"success-rate\" assessed Failed")),
    ("canary pause step",
     canary(pauseConditions=[{"reason": "CanaryPauseStep", "startTime": "2025-03-01T11:00:00Z"}],
            controllerPause=True),
     ("Paused", "CanaryPauseStep")),
    ("blue-green waiting for promotion",
     blue_green(pauseConditions=[{"reason": "BlueGreenPause"}], controllerPause=True),
     ("Paused", "BlueGreenPause")),
    ("inconclusive analysis",
     canary(pauseConditions=[{"reason": "InconclusiveAnalysisRun"}], controllerPause=True),
     ("Paused", "InconclusiveAnalysisRun")),
    ("a retried rollout's stale Progressing reason no longer degrades",
     with_condition(canary(**PROMOTED), "Progressing", "RolloutRetry", "Retrying Rollout after abort"),
     ("Healthy", "")),
    # -- strategy details
    ("canary mid-steps with everything available",
     canary(**HEALTHY, stableRS="abc1234", currentPodHash="def5678"),
     ("Progressing", "waiting for all steps to complete")),
    ("basic canary with an old pod still running",
     canary(**{**PROMOTED, "replicas": 6}),
     ("Progressing", "old replicas are pending termination")),
    ("traffic-routed canary keeps old pods during scale-down delay",
     with_spec(canary(**{**PROMOTED, "replicas": 10}), strategy={"canary": {"trafficRouting": {"nginx": {}}}}),
     ("Healthy", "")),
    ("blue-green post-promotion analysis finished, stable not yet marked",
     with_spec(blue_green(**HEALTHY, stableRS="abc1234", currentPodHash="def5678",
                          blueGreen={"activeSelector": "def5678",
                                     "postPromotionAnalysisRunStatus": {"name": "x", "status": "Successful"}}),
               strategy={"blueGreen": {"postPromotionAnalysis": {}}}),
     ("Progressing", "waiting for post-promotion verification to complete")),
    ("blue-green post-promotion analysis still running",
     with_spec(blue_green(**HEALTHY, stableRS="abc1234", currentPodHash="def5678",
                          blueGreen={"activeSelector": "def5678",
                                     "postPromotionAnalysisRunStatus": {"name": "x", "status": "Running"}}),
               strategy={"blueGreen": {"postPromotionAnalysis": {}}}),
     ("Progressing", "waiting for analysis to complete")),
    ("first canary deploy: no stable yet", canary(**HEALTHY, currentPodHash="abc1234"),
     ("Progressing", "waiting for all steps to complete")),
    ("zero replicas", with_spec(canary(replicas=0, updatedReplicas=0, availableReplicas=0, **{
        "stableRS": "a", "currentPodHash": "a"}), replicas=0), ("Healthy", "")),
]  # fmt: skip


@pytest.mark.parametrize(("name", "ro", "expected"), PHASES, ids=[p[0] for p in PHASES])
def test_calculate_phase(name: str, ro: dict[str, Any], expected: tuple[str, str]) -> None:
    assert calculate_phase(ro) == expected
    # With no status.phase written yet, a client computes the same thing.
    assert rollout_phase(ro) == expected


def test_phase_values_are_argos() -> None:
    assert [p.value for p in RolloutPhase] == ["Healthy", "Progressing", "Paused", "Degraded"]
    phase, _ = calculate_phase(canary(**PROMOTED))
    assert phase == "Healthy"
    assert phase is RolloutPhase.HEALTHY


@pytest.mark.parametrize(
    ("name", "generation", "observed", "expected"),
    [
        ("observed generation is not updated", 2, "1", ("Progressing", "waiting for rollout spec update to be observed")),
        ("v0.9 legacy hash is not a generation", 2, "7d66d4485f", ("Progressing", "more replicas need to be updated")),
        ("v0.9 all-numeric hash", 2, "1366344857", ("Progressing", "more replicas need to be updated")),
        ("test status.generation equal to spec.generation", 10, "10", ("Progressing", "more replicas need to be updated")),
        ("test status.generation less than spec.generation", 11, "10",
         ("Progressing", "waiting for rollout spec update to be observed")),
        ("numeric observedGeneration sent as a JSON number", 3, 2,
         ("Progressing", "waiting for rollout spec update to be observed")),
    ],
)  # fmt: skip
def test_rollout_phase_generation(
    name: str, generation: int, observed: Any, expected: tuple[str, str]
) -> None:
    """TestRolloutStatusProgressing (generation cases) and Test_isGenerationObserved."""
    ro = with_spec(canary(), replicas=None)
    ro["metadata"]["generation"] = generation
    ro["status"] = {"stableRS": "abc1234", "currentPodHash": "abc1234", "observedGeneration": observed}
    assert rollout_phase(ro) == expected


def test_rollout_phase_prefers_written_status_and_detects_unpausing() -> None:
    """TestIsUnpausing: a written phase is shown as is until the pause conditions are cleared."""
    ro = canary(phase="Paused", message="canary pause", controllerPause=True,
                pauseConditions=[{"reason": "CanaryPauseStep"}])  # fmt: skip
    assert rollout_phase(ro) == ("Paused", "canary pause")
    ro["status"]["pauseConditions"] = None
    assert rollout_phase(ro) == ("Progressing", "waiting for rollout to unpause")


@pytest.mark.parametrize(
    ("annotation", "observed", "expected"),
    [
        (
            "2",
            "1",
            ("Progressing", "waiting for rollout spec update to be observed for the reference workload"),
        ),
        ("2", "2", ("Healthy", "")),
        ("2", "222222222222222222", ("Healthy", "")),  # out of int32 range: Argo treats it as observed
        (None, "1", ("Healthy", "")),
    ],
)
def test_rollout_phase_workload_ref(annotation: str | None, observed: str, expected: tuple[str, str]) -> None:
    """TestRolloutStatusProgressing / Healthy workloadRef cases."""
    ro = with_spec(
        canary(**PROMOTED, workloadObservedGeneration=observed), workloadRef={"kind": "Deployment"}
    )
    if annotation is not None:
        ro["metadata"]["annotations"] = {"rollout.argoproj.io/workload-generation": annotation}
    assert rollout_phase(ro) == expected


def test_is_fully_promoted() -> None:
    """TestIsFullyPromoted."""
    assert is_fully_promoted({"status": {"stableRS": "abc123", "currentPodHash": "abc123"}})
    assert not is_fully_promoted({"status": {"stableRS": "abc123", "currentPodHash": "def456"}})


# --- conditions ---------------------------------------------------------------------------------


def test_condition_strings_are_argos() -> None:
    assert (cond.PROGRESSING, cond.AVAILABLE, cond.PAUSED, cond.HEALTHY, cond.COMPLETED) == (
        "Progressing", "Available", "Paused", "Healthy", "Completed",
    )  # fmt: skip
    assert (cond.INVALID_SPEC, cond.REPLICA_FAILURE) == ("InvalidSpec", "ReplicaFailure")
    assert cond.TIMED_OUT_REASON == "ProgressDeadlineExceeded"
    assert cond.NEW_RS_AVAILABLE_REASON == "NewReplicaSetAvailable"
    assert (
        cond.REPLICA_SET_PROGRESSING_MESSAGE.format(name="web-5d4f")
        == 'ReplicaSet "web-5d4f" is progressing.'
    )
    assert (
        cond.REPLICA_SET_TIMED_OUT_MESSAGE.format(name="web-5d4f")
        == 'ReplicaSet "web-5d4f" has timed out progressing.'
    )
    assert cond.ROLLOUT_ABORTED_MESSAGE.format(revision=2) == "Rollout aborted update to revision 2"
    assert cond.ANALYSIS_RUN_FAILED_MESSAGE.format(run="r", rollout="ro") == (
        "AnalysisRun 'r' owned by the Rollout '\"ro\"' failed."
    )


def test_set_condition_new_and_transitions() -> None:
    first = cond.set_condition([], {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated",
                                    "message": 'Created new replica set "web-1"'}, NOW)  # fmt: skip
    assert first == [{
        "type": "Progressing", "status": "True", "lastUpdateTime": "2025-03-01T12:00:00Z",
        "lastTransitionTime": "2025-03-01T12:00:00Z", "reason": "NewReplicaSetCreated",
        "message": 'Created new replica set "web-1"',
    }]  # fmt: skip
    later = NOW + timedelta(minutes=5)
    # Same status, new reason: update time moves, transition time stays.
    second = cond.set_condition(first, {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                        "message": 'ReplicaSet "web-1" is progressing.'}, later)  # fmt: skip
    assert second[0]["lastUpdateTime"] == "2025-03-01T12:05:00Z"
    assert second[0]["lastTransitionTime"] == "2025-03-01T12:00:00Z"
    assert second[0]["reason"] == "ReplicaSetUpdated"
    # Same status and reason: nothing changes, not even the message.
    third = cond.set_condition(second, {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                        "message": "something else"}, later + timedelta(minutes=1))  # fmt: skip
    assert third == second
    # Status change: both times move.
    fourth = cond.set_condition(third, {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                        "message": "x"}, later + timedelta(minutes=2))  # fmt: skip
    assert fourth[0]["lastTransitionTime"] == fourth[0]["lastUpdateTime"] == "2025-03-01T12:07:00Z"


def test_set_condition_keeps_others_and_appends() -> None:
    available = cond.new_condition(
        "Available", "True", "AvailableReason", "Rollout has minimum availability", NOW
    )
    progressing = cond.new_condition("Progressing", "True", "ReplicaSetUpdated", "m", NOW)
    result = cond.set_condition(
        [progressing, available], {**progressing, "reason": "NewReplicaSetAvailable"}, NOW
    )
    assert [c["type"] for c in result] == ["Available", "Progressing"]
    assert cond.get_condition(result, "Progressing") == {**progressing, "reason": "NewReplicaSetAvailable"}
    assert cond.get_condition(result, "Paused") is None
    assert cond.remove_condition(result, "Available") == [result[1]]
    original = [dict(progressing)]
    cond.set_condition(original, {**progressing, "status": "False"}, NOW)
    assert original == [progressing]  # inputs are never mutated


def test_format_time_is_utc_seconds() -> None:
    assert (
        cond.format_time(datetime(2025, 3, 1, 13, 0, 0, 999, tzinfo=UTC) + timedelta(hours=0))
        == "2025-03-01T13:00:00Z"
    )
    assert cond.parse_time("2025-03-01T13:00:00Z") == datetime(2025, 3, 1, 13, 0, tzinfo=UTC)
    assert cond.parse_time("not a time") is None


def test_rollout_timed_out() -> None:
    ro = {"spec": {"progressDeadlineSeconds": 60}}
    progressing = cond.new_condition("Progressing", "True", "ReplicaSetUpdated", "m", NOW)
    status = {"conditions": [progressing]}
    assert not cond.rollout_timed_out(ro, status, NOW + timedelta(seconds=60))
    assert cond.rollout_timed_out(ro, status, NOW + timedelta(seconds=61))
    assert not cond.rollout_timed_out({"spec": {}}, status, NOW + timedelta(seconds=600))
    assert cond.rollout_timed_out({"spec": {}}, status, NOW + timedelta(seconds=601))
    aborted = {"conditions": [{**progressing, "reason": "RolloutAborted"}]}
    assert not cond.rollout_timed_out(ro, aborted, NOW + timedelta(days=1))
    already = {"conditions": [{**progressing, "reason": "ProgressDeadlineExceeded"}]}
    assert cond.rollout_timed_out(ro, already, NOW)
    assert not cond.rollout_timed_out(ro, {}, NOW)


def test_rollout_healthy_completed_progressing() -> None:
    ro = canary(**PROMOTED, observedGeneration="3", currentStepIndex=3)
    ro["metadata"]["generation"] = 3
    new_status = dict(ro["status"])
    assert cond.rollout_completed(new_status)
    assert cond.rollout_healthy(ro, new_status)
    assert not cond.rollout_healthy(ro, {**new_status, "currentStepIndex": 2})
    assert not cond.rollout_healthy(ro, {**new_status, "replicas": 6})
    assert not cond.rollout_completed({"stableRS": "", "currentPodHash": ""})
    assert not cond.rollout_progressing(ro, new_status)
    assert cond.rollout_progressing(ro, {**new_status, "availableReplicas": 6})
    assert cond.rollout_progressing(ro, {**new_status, "currentStepIndex": 2})
    bg = blue_green(**PROMOTED, observedGeneration="0", blueGreen={"activeSelector": "abc1234"})
    assert cond.rollout_healthy(bg, dict(bg["status"]))
    assert cond.rollout_progressing(bg, {**bg["status"], "blueGreen": {"activeSelector": "x"}})
