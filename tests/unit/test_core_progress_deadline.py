"""Table tests for the progress deadline: Argo's ``requeueStuckRollout`` timer, the
``ProgressDeadlineExceeded`` condition it makes the controller write on time, and
``progressDeadlineAbort``. Stepped in the simulated world of ``test_core_canary``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from controller.core import conditions as c
from controller.core.plan import WARNING
from tests.unit.test_core_canary import World, cond, deployed, hash_of

GREEN_RS = f"frontend-{hash_of('demo:green')}"
TIMED_OUT_MESSAGE = f'ReplicaSet "{GREEN_RS}" has timed out progressing.'


def stuck(deadline: int | None = None, *, abort: bool = False) -> World:
    """A deployed Rollout updated to an image whose pods never become available."""
    world = deployed()
    spec = world.rollout["spec"]
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    if abort:
        spec["progressDeadlineAbort"] = True
    world.rollout["metadata"]["generation"] += 1
    world.reconcile()
    world.set_image("demo:green")
    world.reconcile(pods=0)
    assert world.counts() == {"demo:blue": 2, "demo:green": 1}
    return world


def time_left(world: World, deadline: int) -> float:
    progressing = cond(world, c.PROGRESSING)
    last = c.parse_time(progressing["lastUpdateTime"])
    assert last is not None
    return (last + timedelta(seconds=deadline) - world.now).total_seconds()


@pytest.mark.parametrize("deadline", [None, 30, 120, 600, 3600])
def test_stuck_rollout_requeues_for_its_deadline(deadline: int | None) -> None:
    world = stuck(deadline)
    seconds = 600 if deadline is None else deadline
    plan = world.plan()
    assert plan.changes_nothing
    # Argo: lastUpdateTime + progressDeadlineSeconds - now, plus 1s against clock skew
    assert plan.requeue_after == time_left(world, seconds) + 1
    assert cond(world, c.PROGRESSING)["status"] == c.TRUE
    assert world.status["phase"] == "Progressing"
    # waking when asked: the deadline has passed, the condition and phase say so
    assert plan.requeue_after is not None
    world.now += timedelta(seconds=plan.requeue_after)
    plan = world.plan()
    world.apply(plan)
    progressing = cond(world, c.PROGRESSING)
    assert (progressing["status"], progressing["reason"]) == (c.FALSE, c.TIMED_OUT_REASON)
    assert progressing["message"] == TIMED_OUT_MESSAGE
    assert world.status["phase"] == "Degraded"
    assert world.status["message"] == f"{c.TIMED_OUT_REASON}: {TIMED_OUT_MESSAGE}"
    assert "abort" not in world.status
    # timed out: no more deadline timer, nothing more to write
    plan = world.plan()
    assert plan.changes_nothing and plan.requeue_after is None


def test_deadline_timer_only_on_reconciles_that_write_no_status() -> None:
    world = deployed()
    world.rollout["spec"]["progressDeadlineSeconds"] = 60
    world.rollout["metadata"]["generation"] += 1
    world.reconcile()
    world.set_image("demo:green")
    plans = world.reconcile(pods=0)
    # as Argo's persistRolloutStatus: a status patch re-syncs by itself, so no timer then
    assert all(p.requeue_after is None for p in plans if p.status_patch is not None)
    assert plans[-1].status_patch is None and plans[-1].requeue_after is not None


def test_not_timed_out_one_second_early() -> None:
    world = stuck(60)
    world.now += timedelta(seconds=time_left(world, 60) - 1)
    plan = world.plan()
    assert plan.changes_nothing
    assert plan.requeue_after == 2.0  # 1s left, plus Argo's 1s
    world.now += timedelta(seconds=0.5)
    assert world.plan().requeue_after == 1.0  # under a second left: look again in 1s


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        (lambda w: w.rollout["spec"].__setitem__("paused", True), "spec.paused"),
        (lambda w: w.patch_status({"abort": True}), "aborted"),
    ],
)
def test_no_deadline_timer_when_paused_or_aborted(setup: Callable[[World], None], why: str) -> None:
    world = stuck(60)
    setup(world)
    world.reconcile(pods=0)
    world.now += timedelta(hours=2)
    plan = world.plan()
    assert plan.changes_nothing and plan.requeue_after is None, why
    assert cond(world, c.PROGRESSING)["reason"] != c.TIMED_OUT_REASON


def test_no_deadline_timer_when_healthy_or_at_indefinite_pause() -> None:
    world = deployed()
    world.now += timedelta(hours=2)
    assert world.plan().requeue_after is None  # healthy
    world.rollout["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}, {"pause": {}}]
    world.rollout["metadata"]["generation"] += 1
    world.reconcile()
    world.set_image("demo:green")
    world.reconcile()
    assert world.status["phase"] == "Paused"
    plan = world.plan()
    assert plan.changes_nothing and plan.requeue_after is None


def test_timed_out_rollout_recovers_when_pods_come_up() -> None:
    world = stuck(30)
    world.now += timedelta(seconds=60)
    world.apply(world.plan())
    assert world.status["phase"] == "Degraded"
    world.settle()
    world.reconcile()
    assert world.status["currentStepIndex"] == 1
    assert world.status["phase"] == "Paused"
    assert cond(world, c.PROGRESSING)["reason"] == c.ROLLOUT_PAUSED_REASON


def test_progress_deadline_abort_aborts_the_update() -> None:
    world = stuck(60, abort=True)
    world.now += timedelta(seconds=time_left(world, 60) + 1)
    plan = world.plan()
    assert (WARNING, c.ROLLOUT_ABORTED_REASON, TIMED_OUT_MESSAGE) in plan.events
    world.apply(plan)
    status = world.status
    assert status["abort"] is True and status["abortedAt"] == c.format_time(world.now)
    assert cond(world, c.PROGRESSING)["reason"] == c.TIMED_OUT_REASON
    assert status["phase"] == "Degraded"
    # the next reconciles go back to stable, as a user abort does
    plans = world.reconcile(pods=0)
    aborted = "Rollout aborted update to revision 2"
    assert (WARNING, c.ROLLOUT_ABORTED_REASON, aborted) in [e for p in plans for e in p.events]
    assert world.counts() == {"demo:blue": 2, "demo:green": 0}
    status = world.status
    assert status["currentStepIndex"] == 0
    assert status["phase"] == "Degraded"
    assert status["message"] == f"{c.ROLLOUT_ABORTED_REASON}: {aborted}"
    plan = world.plan()
    assert plan.changes_nothing and plan.requeue_after is None


def test_progress_deadline_abort_set_after_the_timeout() -> None:
    world = stuck(60)
    world.now += timedelta(seconds=120)
    world.apply(world.plan())
    assert "abort" not in world.status
    world.rollout["spec"]["progressDeadlineAbort"] = True
    world.rollout["metadata"]["generation"] += 1
    plan = world.plan()
    assert (WARNING, c.ROLLOUT_ABORTED_REASON, TIMED_OUT_MESSAGE) in plan.events
    world.apply(plan)
    assert world.status["abort"] is True


# --- minReadySeconds ----------------------------------------------------------------------------


@pytest.mark.parametrize(("min_ready", "expected"), [(None, 0), (0, 0), (30, 30)])
def test_new_replica_sets_carry_min_ready_seconds(min_ready: int | None, expected: int) -> None:
    world = deployed()
    if min_ready is not None:
        world.rollout["spec"]["minReadySeconds"] = min_ready
    world.set_image("demo:green")
    world.reconcile(pods=0)
    created = world.rss[GREEN_RS]
    assert created["spec"]["minReadySeconds"] == expected
