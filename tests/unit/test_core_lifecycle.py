"""The planner beyond steps: undo (revision sync), rollbackWindow, workloadRef migration, restartAt.

Uses the simulated world of ``test_core_canary`` (plans applied as the runtime applies them,
pods that come up at once) and, for restarts, hand-built pods.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from controller.core import conditions as c
from controller.core.canary import plan_canary
from controller.core.restart import needs_restart, plan_restart
from controller.core.snapshot import Snapshot, revision_of
from controller.core.workload import WORKLOAD_GENERATION_ANNOTATION
from tests.unit.test_core_canary import T0, World, deployed, hash_of, seed_rollout

# --- undo: a reused ReplicaSet becomes the newest revision ---------------------------------------


def revisions(world: World) -> dict[str, int]:
    return {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: revision_of(rs) for rs in world.rss.values()
    }


def test_undo_to_an_older_template_reuses_its_replica_set_as_the_newest_revision() -> None:
    world = deployed("demo:blue")
    world.set_image("demo:green")
    world.reconcile()
    world.patch_status({"pauseConditions": None})  # promote through the 2m pause
    world.reconcile()
    world.now += timedelta(minutes=3)
    world.reconcile()
    assert world.status["stableRS"] == hash_of("demo:green")
    assert revisions(world) == {"demo:blue": 1, "demo:green": 2}
    # undo: the template of revision 1 copied back (what `rollouts undo` patches)
    world.set_image("demo:blue")
    world.reconcile()
    assert revisions(world)["demo:blue"] == 3
    assert world.status["currentPodHash"] == hash_of("demo:blue")
    # without a rollback window an undo is a normal update: it walks the steps (paused at step 1)
    assert world.status["currentStepIndex"] == 1
    assert world.status["phase"] == "Paused"


def test_min_ready_seconds_change_is_copied_into_the_new_replica_set() -> None:
    world = deployed()
    world.rollout["spec"]["minReadySeconds"] = 5
    world.rollout["metadata"]["generation"] += 1
    plan = world.plan()
    (name, patch) = plan.update_replica_sets[0]
    assert name == f"frontend-{hash_of('demo:blue')}"
    assert patch == {"spec": {"minReadySeconds": 5}}
    world.apply(plan)
    assert world.plan().update_replica_sets == ()


# --- rollbackWindow ------------------------------------------------------------------------------


def promoted(world: World, image: str) -> None:
    world.set_image(image)
    world.reconcile()
    world.patch_status({"promoteFull": True})
    world.reconcile()
    assert world.status["stableRS"] == hash_of(image)


def test_rollback_within_the_window_skips_the_steps() -> None:
    world = World(seed_rollout(revisionHistoryLimit=10))
    world.rollout["spec"]["rollbackWindow"] = {"revisions": 2}
    world.reconcile()
    promoted(world, "demo:green")
    world.set_image("demo:blue")  # back to revision 1: one revision (green) in between
    plans = world.reconcile()
    assert any(e[:2] == ("Normal", "SkipSteps") for p in plans for e in p.events)
    assert world.status["currentStepIndex"] == 3
    assert world.status["stableRS"] == hash_of("demo:blue")
    assert world.status["phase"] == "Healthy"


def test_rollback_outside_the_window_walks_the_steps() -> None:
    world = World(seed_rollout())
    world.rollout["spec"]["rollbackWindow"] = {"revisions": 1}
    world.reconcile()
    promoted(world, "demo:green")
    promoted(world, "demo:yellow")
    world.set_image("demo:blue")  # two revisions in between, window 1
    world.reconcile()
    assert world.status["currentStepIndex"] == 1
    assert world.status["phase"] == "Paused"


# --- workloadRef ---------------------------------------------------------------------------------


def deployment(replicas: int = 2, image: str = "demo:blue", generation: int = 1) -> dict[str, Any]:
    template = copy.deepcopy(seed_rollout(image)["spec"]["template"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "frontend", "namespace": "demo", "generation": generation},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "frontend"}},
            "template": template,
        },
    }


def ref_rollout(scale_down: str | None = None, kind: str = "Deployment") -> dict[str, Any]:
    rollout = seed_rollout()
    del rollout["spec"]["template"]
    del rollout["spec"]["selector"]
    ref: dict[str, Any] = {"apiVersion": "apps/v1", "kind": kind, "name": "frontend"}
    if scale_down is not None:
        ref["scaleDown"] = scale_down
    rollout["spec"]["workloadRef"] = ref
    return rollout


def test_workload_ref_takes_template_and_selector_from_the_deployment() -> None:
    world = World(ref_rollout(), workload=deployment())
    plan = world.plan()
    rs = plan.create_replica_sets[0]
    assert rs["spec"]["template"]["spec"]["containers"][0]["image"] == "demo:blue"
    assert rs["metadata"]["name"] == f"frontend-{hash_of('demo:blue')}"
    assert plan.rollout_annotations == {
        WORKLOAD_GENERATION_ANNOTATION: "1",
        "rollout.argoproj.io/revision": "1",
    }
    assert plan.workload_scale is None  # scaleDown defaults to never
    world.reconcile()
    assert world.status["workloadObservedGeneration"] == "1"
    assert world.status["selector"] == "app=frontend"
    assert world.status["phase"] == "Healthy"
    assert world.workload is not None and world.workload["spec"]["replicas"] == 2


def test_a_deployment_template_change_is_a_canary_update() -> None:
    world = World(ref_rollout(), workload=deployment())
    world.reconcile()
    world.workload = deployment(image="demo:green", generation=2)
    world.reconcile()
    assert world.rollout["metadata"]["annotations"][WORKLOAD_GENERATION_ANNOTATION] == "2"
    assert world.status["workloadObservedGeneration"] == "2"
    assert world.status["currentPodHash"] == hash_of("demo:green")
    assert world.status["phase"] == "Paused"
    assert world.counts() == {"demo:blue": 1, "demo:green": 1}


def test_scale_down_onsuccess_scales_the_deployment_to_zero_once_healthy() -> None:
    world = World(ref_rollout("onsuccess"), workload=deployment())
    first = world.plan()
    assert first.workload_scale is None  # not healthy yet
    world.reconcile()
    assert world.status["phase"] == "Healthy"
    assert world.workload is not None and world.workload["spec"]["replicas"] == 0


def test_scale_down_progressively_follows_the_rollouts_ready_pods() -> None:
    world = World(ref_rollout("progressively"), workload=deployment(replicas=2))
    seen = []
    for _ in range(10):
        plan = world.plan()
        world.apply(plan)
        assert world.workload is not None
        seen.append(world.workload["spec"]["replicas"])
        world.settle(pods=1)  # one pod at a time becomes ready
        world.now += timedelta(seconds=1)
    assert seen[0] == 2 and 1 in seen and seen[-1] == 0
    assert seen == sorted(seen, reverse=True)  # never scaled back up


def test_scale_down_applies_only_to_the_first_revision() -> None:
    world = World(ref_rollout("onsuccess"), workload=deployment())
    world.reconcile()
    assert world.workload is not None
    world.workload["spec"]["replicas"] = 3  # the user scaled the old Deployment back up
    world.workload = {**deployment(replicas=3, image="demo:green", generation=3)}
    world.reconcile()
    world.patch_status({"promoteFull": True})
    world.reconcile()
    assert world.status["phase"] == "Healthy"
    assert world.workload["spec"]["replicas"] == 3


def test_a_missing_workload_is_an_invalid_spec_until_it_appears() -> None:
    world = World(ref_rollout())
    plan = world.plan()
    assert plan.create_replica_sets == ()
    assert plan.status_patch is not None
    status = plan.status_patch["status"]
    assert status["phase"] == "Degraded"
    assert 'Deployment "frontend" not found' in status["message"]
    assert plan.events[0][:2] == ("Warning", "InvalidSpec")
    world.apply(plan)
    world.workload = deployment()
    world.reconcile()
    assert world.status["phase"] == "Healthy"
    assert c.get_condition(world.status.get("conditions"), c.INVALID_SPEC) is None


def test_an_unsupported_workload_kind_is_an_invalid_spec() -> None:
    world = World(ref_rollout(kind="StatefulSet"), workload=deployment())
    plan = world.plan()
    assert plan.status_patch is not None
    assert "workload of type apps/StatefulSet is not supported" in plan.status_patch["status"]["message"]


def test_template_and_workload_ref_together_are_rejected() -> None:
    rollout = ref_rollout()
    rollout["spec"]["template"] = seed_rollout()["spec"]["template"]
    plan = World(rollout, workload=deployment()).plan()
    assert plan.status_patch is not None
    assert "template must be empty for workload reference rollout" in plan.status_patch["status"]["message"]


# --- restartAt -----------------------------------------------------------------------------------


def pods_of(world: World, created: str = "2026-01-01T11:00:00Z") -> list[dict[str, Any]]:
    """One Ready pod per replica of each ReplicaSet, created at ``created``."""
    pods = []
    for rs in world.rss.values():
        for i in range(int(rs["spec"]["replicas"])):
            pods.append(
                {
                    "metadata": {
                        "name": f"{rs['metadata']['name']}-{i}",
                        "creationTimestamp": created,
                        "ownerReferences": [{"uid": rs["metadata"].get("uid", rs["metadata"]["name"])}],
                    },
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                }
            )
    return pods


def with_uids(world: World) -> World:
    for rs in world.rss.values():
        rs["metadata"]["uid"] = rs["metadata"]["name"]
    return world


def restart_snapshot(world: World, pods: list[dict[str, Any]]) -> Snapshot:
    snap = world.snapshot()
    return Snapshot(
        rollout=snap.rollout,
        replica_sets=snap.replica_sets,
        now=snap.now,
        pods=tuple(pods),
    )


def test_restart_removes_one_pod_at_a_time_with_default_max_unavailable() -> None:
    world = with_uids(World(seed_rollout()))
    world.rollout["spec"]["replicas"] = 4
    world.reconcile()
    with_uids(world)
    world.rollout["spec"]["restartAt"] = c.format_time(world.now - timedelta(seconds=1))
    assert needs_restart(world.rollout, world.now)
    plan = plan_canary(restart_snapshot(world, pods_of(world)))
    assert len(plan.delete_pods) == 1  # 25% of 4
    assert plan.requeue_after is not None
    assert plan.status_patch is not None
    assert plan.status_patch["status"]["message"] == "rollout is restarting"
    assert "restartedAt" not in plan.status_patch["status"]


def test_restart_sets_restarted_at_when_every_pod_is_newer() -> None:
    world = with_uids(deployed())
    restart_at = c.format_time(world.now - timedelta(seconds=5))
    world.rollout["spec"]["restartAt"] = restart_at
    fresh = pods_of(world, created=c.format_time(world.now))
    plan = plan_canary(restart_snapshot(world, fresh))
    assert plan.delete_pods == ()
    assert plan.status_patch is not None
    assert plan.status_patch["status"]["restartedAt"] == restart_at
    world.apply(plan)
    assert world.status["phase"] == "Healthy"
    assert not needs_restart(world.rollout, world.now)


def test_restart_waits_while_a_replica_set_is_not_fully_available() -> None:
    world = with_uids(deployed())
    world.rollout["spec"]["restartAt"] = c.format_time(world.now - timedelta(seconds=1))
    next(iter(world.rss.values()))["status"]["availableReplicas"] = 1
    plan = plan_canary(restart_snapshot(world, pods_of(world)))
    assert plan.delete_pods == ()


def test_restart_at_in_the_future_requeues_for_it() -> None:
    world = deployed()
    world.rollout["spec"]["restartAt"] = c.format_time(world.now + timedelta(seconds=30))
    plan = plan_canary(world.snapshot())
    assert plan.delete_pods == ()
    assert plan.requeue_after is not None and 29 <= plan.requeue_after <= 30


def test_plan_restart_budget_and_order() -> None:
    rollout = seed_rollout()
    rollout["spec"]["replicas"] = 4
    rollout["spec"]["restartAt"] = "2026-01-01T12:00:00Z"
    stable = {
        "metadata": {"name": "s", "uid": "s", "creationTimestamp": "2026-01-01T10:00:00Z"},
        "spec": {"replicas": 2},
    }
    new = {
        "metadata": {"name": "n", "uid": "n", "creationTimestamp": "2026-01-01T11:00:00Z"},
        "spec": {"replicas": 2},
    }

    def pod(
        name: str, owner: str, created: str = "2026-01-01T11:30:00Z", ready: bool = True, **meta: Any
    ) -> dict[str, Any]:
        status = "True" if ready else "False"
        return {
            "metadata": {
                "name": name,
                "creationTimestamp": created,
                "ownerReferences": [{"uid": owner}],
                **meta,
            },
            "status": {"conditions": [{"type": "Ready", "status": status}]},
        }

    pods = [pod("n-1", "n"), pod("n-2", "n"), pod("s-1", "s"), pod("s-2", "s"), pod("x-1", "other")]
    kwargs: dict[str, Any] = {"stable_name": "s", "new_name": "n", "now": T0}
    # maxUnavailable 2: two at once, stable first
    result = plan_restart(rollout, [stable, new], pods, max_unavailable=2, **kwargs)
    assert result.delete_pods == ("s-1", "s-2") and not result.finished
    # maxUnavailable 0 still restarts one
    assert plan_restart(rollout, [stable, new], pods, max_unavailable=0, **kwargs).delete_pods == ("s-1",)
    # a pod already down uses the budget
    down = [pod("n-1", "n", ready=False), *pods[1:]]
    assert plan_restart(rollout, [stable, new], down, max_unavailable=1, **kwargs).delete_pods == ()
    # the last old pods removed now: finished (Argo sets restartedAt once none is left to remove)
    last = [pod("n-1", "n", created="2026-01-01T12:00:01Z"), pod("n-2", "n", created="2026-01-01T12:00:01Z")]
    last += [pod("s-1", "s", created="2026-01-01T12:00:01Z"), pod("s-2", "s")]
    result = plan_restart(rollout, [stable, new], last, max_unavailable=1, **kwargs)
    assert result.delete_pods == ("s-2",) and result.finished
