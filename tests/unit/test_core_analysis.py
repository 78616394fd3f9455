"""The planner with analysis: step runs, background runs, abort on failure, pause on inconclusive.

The simulated world of ``test_core_canary`` holds the AnalysisRuns the plans create; a test plays
the AnalysisRun controller by setting a run's ``status.phase``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from controller.core import conditions as c
from controller.core.canary import plan_canary
from tests.unit.test_core_canary import World, hash_of, seed_rollout

TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": {"name": "success-rate", "namespace": "demo"},
    "spec": {
        "args": [{"name": "hash"}],
        "metrics": [
            {
                "name": "success-rate",
                "interval": "5s",
                "successCondition": "result[0] >= 0.95",
                "provider": {"prometheus": {"address": "http://prom", "query": "q{hash='{{args.hash}}'}"}},
            }
        ],
    },
}
ANALYSIS = {
    "templates": [{"templateName": "success-rate"}],
    "args": [{"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}],
}


def analysis_world(steps: list[dict[str, Any]], **canary: Any) -> World:
    rollout = seed_rollout(**canary)
    rollout["spec"]["strategy"]["canary"]["steps"] = steps
    world = World(rollout, templates={"success-rate": TEMPLATE})
    world.reconcile()
    assert world.status["phase"] == "Healthy"
    world.set_image("demo:green")
    return world


def finish(world: World, name: str, phase: str, message: str = "") -> None:
    run = world.runs[name]
    run["status"] = {"phase": phase, **({"message": message} if message else {})}


def step_run(world: World) -> str:
    status = world.status["canary"].get("currentStepAnalysisRunStatus") or {}
    return str(status.get("name") or "")


def test_the_first_deploy_creates_no_run() -> None:
    rollout = seed_rollout()
    rollout["spec"]["strategy"]["canary"]["steps"] = [{"analysis": ANALYSIS}]
    world = World(rollout, templates={"success-rate": TEMPLATE})
    world.reconcile()
    assert world.runs == {}
    assert world.status["phase"] == "Healthy"


def test_a_step_run_is_created_labelled_and_owned_then_successful_continues() -> None:
    world = analysis_world([{"setWeight": 50}, {"analysis": ANALYSIS}, {"setWeight": 100}])
    world.reconcile()
    green = hash_of("demo:green")
    assert list(world.runs) == [f"frontend-{green}-2-1"]
    run = world.runs[f"frontend-{green}-2-1"]
    labels = run["metadata"]["labels"]
    assert labels["rollout-type"] == "Step" and labels["step-index"] == "1"
    assert labels["rollouts-pod-template-hash"] == green and labels["app"] == "frontend"
    assert run["metadata"]["ownerReferences"][0]["kind"] == "Rollout"
    assert run["spec"]["args"] == [{"name": "hash", "value": green}]
    assert world.status["currentStepIndex"] == 1
    assert world.status["canary"]["currentStepAnalysisRunStatus"] == {
        "name": run["metadata"]["name"],
        "status": "",
    }
    assert world.counts() == {"demo:blue": 1, "demo:green": 1}  # waits at the analysis step
    finish(world, run["metadata"]["name"], "Successful")
    plans = world.reconcile()
    assert any(e[1] == "AnalysisRunSuccessful" for p in plans for e in p.events)
    assert world.status["phase"] == "Healthy"
    assert world.status["stableRS"] == green


def test_a_failed_step_run_aborts_with_its_message() -> None:
    world = analysis_world([{"setWeight": 50}, {"analysis": ANALYSIS}, {"setWeight": 100}])
    world.reconcile()
    name = step_run(world)
    message = 'Metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)'
    finish(world, name, "Failed", message)
    plans = world.reconcile()
    assert world.status["abort"] is True
    assert world.status["phase"] == "Degraded"
    assert message in world.status["message"]
    assert world.counts() == {"demo:blue": 2, "demo:green": 0}  # 100% back on stable
    warnings = [e for p in plans for e in p.events if e[0] == "Warning"]
    assert ("Warning", "AnalysisRunFailed") in [e[:2] for e in warnings]
    assert any(e[1] == "RolloutAborted" and message in e[2] for e in warnings)
    # the message stays while aborted
    world.reconcile()
    assert message in world.status["message"]


def test_retry_after_a_failed_analysis_runs_it_again_under_a_new_name() -> None:
    world = analysis_world([{"setWeight": 50}, {"analysis": ANALYSIS}, {"setWeight": 100}])
    world.reconcile()
    first = step_run(world)
    finish(world, first, "Failed", "bad")
    world.reconcile()
    world.patch_status({"abort": False})  # rollouts retry rollout
    world.reconcile()
    second = step_run(world)
    assert second == f"{first}.1"
    finish(world, second, "Successful")
    world.reconcile()
    assert world.status["phase"] == "Healthy"


def test_an_inconclusive_run_pauses_until_promoted() -> None:
    world = analysis_world([{"setWeight": 50}, {"analysis": ANALYSIS}, {"setWeight": 100}])
    world.reconcile()
    finish(world, step_run(world), "Inconclusive", "inconclusive (1) > inconclusiveLimit (0)")
    world.reconcile()
    assert world.status["phase"] == "Paused"
    assert world.status["pauseConditions"][0]["reason"] == c.PAUSE_INCONCLUSIVE_ANALYSIS
    assert "abort" not in world.status or not world.status["abort"]
    # promote on an inconclusive step: kubectl argo rollouts skips the step
    world.patch_status({"pauseConditions": None, "currentStepIndex": 2})
    world.reconcile()
    assert world.status["phase"] == "Healthy"


def test_background_analysis_starts_at_its_step_and_ends_with_the_update() -> None:
    background = {**ANALYSIS, "startingStep": 1}
    world = analysis_world(
        [{"setWeight": 50}, {"pause": {"duration": "1m"}}, {"setWeight": 100}], analysis=background
    )
    world.reconcile()
    assert world.status["currentStepIndex"] == 1
    (name,) = world.runs
    assert world.runs[name]["metadata"]["labels"]["rollout-type"] == "Background"
    assert world.status["canary"]["currentBackgroundAnalysisRunStatus"]["name"] == name
    world.now += timedelta(minutes=2)
    world.reconcile()
    assert world.status["phase"] == "Healthy"
    assert world.runs[name]["spec"].get("terminate") is True  # ended with the update


def test_a_failing_background_run_aborts_mid_pause() -> None:
    world = analysis_world([{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}], analysis=ANALYSIS)
    world.reconcile()
    assert world.status["phase"] == "Paused"
    (name,) = world.runs
    finish(world, name, "Failed", "error rate too high")
    world.reconcile()
    assert world.status["abort"] is True
    assert "error rate too high" in world.status["message"]
    assert world.counts() == {"demo:blue": 2, "demo:green": 0}


def test_a_missing_template_is_an_invalid_spec() -> None:
    rollout = seed_rollout()
    rollout["spec"]["strategy"]["canary"]["steps"] = [{"analysis": {"templates": [{"templateName": "nope"}]}}]
    world = World(rollout)
    plan = plan_canary(world.snapshot())
    assert plan.status_patch is not None
    message = plan.status_patch["status"]["message"]
    assert 'AnalysisTemplate "nope" not found' in message
    assert "spec.strategy.canary.steps[0].analysis.templates[0].templateName" in message


def test_a_new_template_terminates_the_old_run_and_old_runs_are_collected() -> None:
    world = analysis_world([{"setWeight": 50}, {"analysis": ANALYSIS}, {"setWeight": 100}])
    world.rollout["spec"]["analysis"] = {"successfulRunHistoryLimit": 1, "unsuccessfulRunHistoryLimit": 1}
    world.reconcile()
    first = step_run(world)
    world.set_image("demo:yellow")  # a new update while the run is going
    world.reconcile()
    assert world.runs[first]["spec"].get("terminate") is True
    second = step_run(world)
    assert second != first
    finish(world, first, "Successful")
    finish(world, second, "Successful")
    world.reconcile()
    assert world.status["phase"] == "Healthy"
    # successfulRunHistoryLimit 1: only the newest successful run is kept
    assert list(world.runs) == [second]
