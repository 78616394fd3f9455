"""Table tests for the basic-canary planner, stepping a simulated world.

The world applies each plan the way the runtime will (create, scale, delete, service
selectors, status merge patch), then lets pods become available, then plans again.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import conditions as c
from controller.core.canary import MANAGED_BY_ANNOTATION, plan_canary
from controller.core.hashing import POD_TEMPLATE_HASH_LABEL, pod_template_hash
from controller.core.plan import Plan, apply_merge_patch
from controller.core.snapshot import Snapshot, name_of, spec_replicas

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def seed_rollout(image: str = "demo:blue", **canary: Any) -> dict[str, Any]:
    """The seed's frontend Rollout: 2 replicas, setWeight 50, pause 2m, then 100%."""
    strategy = {
        "steps": [{"setWeight": 50}, {"pause": {"duration": "2m"}}, {"setWeight": 100}],
        **canary,
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "frontend", "namespace": "demo", "uid": "u-1", "generation": 1},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "frontend"}},
            "template": {
                "metadata": {"labels": {"app": "frontend"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": {"canary": strategy},
        },
    }


@dataclass
class World:
    """A tiny cluster: one Rollout, its ReplicaSets and Services, and a clock."""

    rollout: dict[str, Any]
    rss: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: datetime = T0
    min_available_seen: int | None = None
    established: bool = False
    #: the object ``spec.workloadRef`` names (a Deployment), when there is one
    workload: dict[str, Any] | None = None
    #: AnalysisRuns by name, and the AnalysisTemplates of the namespace by name
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Ingresses of the namespace by name (traffic routing)
    ingresses: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def snapshot(self) -> Snapshot:
        canary = self.rollout["spec"]["strategy"]["canary"]
        return Snapshot(
            rollout=copy.deepcopy(self.rollout),
            replica_sets=tuple(copy.deepcopy(rs) for rs in self.rss.values()),
            canary_service=copy.deepcopy(self.services.get(canary.get("canaryService", ""))),
            stable_service=copy.deepcopy(self.services.get(canary.get("stableService", ""))),
            now=self.now,
            workload=copy.deepcopy(self.workload),
            analysis_runs=tuple(copy.deepcopy(r) for r in self.runs.values()),
            analysis_templates=copy.deepcopy(self.templates),
            ingresses=copy.deepcopy(self.ingresses),
        )

    def plan(self) -> Plan:
        return plan_canary(self.snapshot())

    def apply(self, plan: Plan) -> None:
        if plan.rollout_annotations:
            self.rollout = apply_merge_patch(
                self.rollout, {"metadata": {"annotations": plan.rollout_annotations}}
            )
        for name in plan.delete_replica_sets:
            del self.rss[name]
        for rs in plan.create_replica_sets:
            created = copy.deepcopy(rs)
            created["metadata"]["creationTimestamp"] = c.format_time(self.now)
            created["metadata"]["generation"] = 1
            created["status"] = {"replicas": 0, "observedGeneration": 1}
            self.rss[name_of(created)] = created
        for name, patch in plan.update_replica_sets:
            self.rss[name] = apply_merge_patch(self.rss[name], patch)
        if plan.workload_scale is not None:
            assert self.workload is not None
            self.workload["spec"]["replicas"] = plan.workload_scale
        for name, count in plan.scale:
            rs = self.rss[name]
            rs["spec"]["replicas"] = count
            status = rs["status"]
            for key in ("replicas", "readyReplicas", "availableReplicas"):
                status[key] = min(int(status.get(key) or 0), count)  # pods go away at once
        for svc_name, selector in plan.service_selectors:
            svc = self.services[svc_name]
            svc["spec"]["selector"].update(selector)
            svc["metadata"].setdefault("annotations", {})[MANAGED_BY_ANNOTATION] = self.rollout["metadata"][
                "name"
            ]
        for ingress in plan.create_ingresses:
            self.ingresses[name_of(ingress)] = copy.deepcopy(ingress)
        for name, patch in plan.patch_ingresses:
            self.ingresses[name] = apply_merge_patch(self.ingresses[name], patch)
        for run in plan.create_analysis_runs:
            created = copy.deepcopy(run)
            created["metadata"]["creationTimestamp"] = c.format_time(self.now)
            self.runs[name_of(created)] = created
        for name in plan.terminate_analysis_runs:
            self.runs[name]["spec"]["terminate"] = True
        for name in plan.delete_analysis_runs:
            del self.runs[name]
        if plan.status_patch is not None:
            self.rollout = apply_merge_patch(self.rollout, plan.status_patch)
        self._observe()

    def settle(self, pods: int | None = None) -> None:
        """Pods come up: each RS gains up to ``pods`` available pods (all when None)."""
        for rs in self.rss.values():
            want = spec_replicas(rs)
            status = rs["status"]
            have = int(status.get("availableReplicas") or 0)
            got = want if pods is None else min(want, have + pods)
            status.update(replicas=got, readyReplicas=got, availableReplicas=got)
        self._observe()

    def _observe(self) -> None:
        available = sum(int(rs["status"].get("availableReplicas") or 0) for rs in self.rss.values())
        if available >= int(self.rollout["spec"]["replicas"]):
            self.established = True
        if self.established:
            seen = self.min_available_seen
            self.min_available_seen = available if seen is None else min(seen, available)

    def reconcile(self, *, pods: int | None = None, limit: int = 40) -> list[Plan]:
        """Plan, apply, let pods come up, until a plan changes nothing."""
        plans = []
        for _ in range(limit):
            plan = self.plan()
            plans.append(plan)
            self.apply(plan)
            self.settle(pods)
            self.now += timedelta(seconds=1)
            if plan.changes_nothing:
                return plans
        raise AssertionError(f"no quiet state after {limit} plans: {plans[-1]}")

    # --- user actions --------------------------------------------------------------------------
    def set_image(self, image: str) -> None:
        self.rollout["spec"]["template"]["spec"]["containers"][0]["image"] = image
        self.rollout["metadata"]["generation"] += 1

    def patch_status(self, patch: dict[str, Any]) -> None:
        self.rollout = apply_merge_patch(self.rollout, {"status": patch})

    def counts(self) -> dict[str, int]:
        return {
            rs["spec"]["template"]["spec"]["containers"][0]["image"]: spec_replicas(rs)
            for rs in self.rss.values()
        }

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.rollout.get("status") or {})


def deployed(image: str = "demo:blue", **canary: Any) -> World:
    world = World(seed_rollout(image, **canary))
    world.reconcile()
    return world


def cond(world: World, type_: str) -> dict[str, Any]:
    found = c.get_condition(world.status.get("conditions"), type_)
    assert found is not None, type_
    return dict(found)


def hash_of(image: str) -> str:
    return pod_template_hash(seed_rollout(image)["spec"]["template"])


# --- first deploy ------------------------------------------------------------------------------


def test_first_deploy_goes_to_full_size_and_skips_steps() -> None:
    world = World(seed_rollout())
    plan = world.plan()
    assert len(plan.create_replica_sets) == 1
    rs = plan.create_replica_sets[0]
    h = hash_of("demo:blue")
    assert rs["metadata"]["name"] == f"frontend-{h}"
    assert rs["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] == h
    assert rs["spec"]["template"]["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] == h
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "frontend", POD_TEMPLATE_HASH_LABEL: h}
    assert rs["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "1"
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Rollout"
    assert rs["metadata"]["ownerReferences"][0]["controller"] is True
    assert rs["spec"]["replicas"] == 2
    assert plan.status_patch is not None
    status = plan.status_patch["status"]
    assert status["stableRS"] == h and status["currentPodHash"] == h
    assert status["currentStepIndex"] == 3
    assert status["observedGeneration"] == "1"
    assert status["canary"] == {}
    world.apply(plan)
    world.settle()
    world.reconcile()
    assert world.status["phase"] == "Healthy"
    assert cond(world, c.HEALTHY)["status"] == c.TRUE
    assert cond(world, c.COMPLETED)["status"] == c.TRUE
    assert cond(world, c.AVAILABLE)["status"] == c.TRUE
    assert cond(world, c.PROGRESSING)["reason"] == c.NEW_RS_AVAILABLE_REASON
    assert world.status["replicas"] == world.status["availableReplicas"] == 2
    assert world.status["selector"] == "app=frontend"


# --- the seed's canary, step by step -------------------------------------------------------------


def test_seed_canary_walks_the_steps() -> None:
    world = deployed()
    world.set_image("demo:green")
    # 1: the template change resets status to step 0 and creates the new ReplicaSet in the same
    # pass (Argo: one reconcile later), at 1 pod (maxSurge 25% of 2, rounded up)
    plan = world.plan()
    assert [(name_of(rs), spec_replicas(rs)) for rs in plan.create_replica_sets] == [
        (f"frontend-{hash_of('demo:green')}", 1)
    ]
    assert not plan.scale
    assert plan.status_patch is not None
    assert plan.status_patch["status"]["currentPodHash"] == hash_of("demo:green")
    assert plan.status_patch["status"]["currentStepIndex"] == 0
    world.apply(plan)
    world.settle()
    # 2: setWeight 50 -> 1 canary, 1 stable, then the pause step begins
    plans = world.reconcile()
    assert world.counts() == {"demo:blue": 1, "demo:green": 1}
    assert world.status["currentStepIndex"] == 1
    assert world.status["pauseConditions"][0]["reason"] == c.PAUSE_CANARY_STEP
    assert world.status["controllerPause"] is True
    assert world.status["phase"] == "Paused" and world.status["message"] == c.PAUSE_CANARY_STEP
    assert (
        world.rss[f"frontend-{hash_of('demo:green')}"]["metadata"]["annotations"][
            "rollout.argoproj.io/revision"
        ]
        == "2"
    )
    pause_plans = [p for p in plans if p.requeue_after is not None]
    assert pause_plans and pause_plans[0].requeue_after == 120.0
    reasons = [e[1] for p in plans for e in p.events]
    assert c.ROLLOUT_STEP_COMPLETED_REASON in reasons and c.ROLLOUT_PAUSED_REASON in reasons
    # still paused one minute later, with the remaining time as requeue
    world.now = T0 + timedelta(minutes=30)
    start = c.parse_time(world.status["pauseConditions"][0]["startTime"])
    assert start is not None
    world.now = start + timedelta(seconds=60)
    plan = world.plan()
    assert plan.changes_nothing and plan.requeue_after == 60.0
    # after 2 minutes: the pause completes, setWeight 100, then full promotion
    world.now = start + timedelta(seconds=121)
    world.reconcile()
    assert world.counts() == {"demo:blue": 0, "demo:green": 2}
    assert world.status["currentStepIndex"] == 3
    assert world.status["stableRS"] == hash_of("demo:green")
    assert world.status["phase"] == "Healthy"
    assert "pauseConditions" not in world.status
    assert cond(world, c.HEALTHY)["status"] == c.TRUE
    assert cond(world, c.PAUSED)["status"] == c.FALSE
    assert world.min_available_seen == 2  # maxUnavailable 25% of 2 = 0


@pytest.mark.parametrize(
    ("pods", "expected_min"),
    [(None, 2), (1, 2)],
)
def test_available_pods_never_below_min_available(pods: int | None, expected_min: int) -> None:
    world = deployed()
    world.set_image("demo:green")
    world.reconcile(pods=pods)
    world.now += timedelta(minutes=3)
    world.reconcile(pods=pods)
    assert world.status["stableRS"] == hash_of("demo:green")
    assert world.min_available_seen is not None and world.min_available_seen >= expected_min


def test_ten_replicas_step_counts() -> None:
    rollout = seed_rollout()
    rollout["spec"]["replicas"] = 10
    rollout["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 20}, {"pause": {}}]
    world = World(rollout)
    world.reconcile()
    world.set_image("demo:green")
    world.reconcile(pods=1)
    assert world.counts() == {"demo:blue": 8, "demo:green": 2}
    assert world.min_available_seen is not None and world.min_available_seen >= 10 - 2


# --- indefinite pause and promote ----------------------------------------------------------------


def indefinite() -> World:
    world = deployed()
    world.rollout["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}, {"pause": {}}]
    world.rollout["metadata"]["generation"] += 1
    world.reconcile()
    world.set_image("demo:green")
    world.reconcile()
    return world


def test_indefinite_pause_waits_for_promote() -> None:
    world = indefinite()
    assert world.status["currentStepIndex"] == 1
    assert world.status["phase"] == "Paused"
    world.now += timedelta(hours=5)
    plan = world.plan()
    assert plan.changes_nothing and plan.requeue_after is None
    # kubectl argo rollouts promote: {"status":{"pauseConditions":null}}
    world.patch_status({"pauseConditions": None})
    plans = world.reconcile()
    events = [e for p in plans for e in p.events]
    assert any(e[1] == c.ROLLOUT_STEP_COMPLETED_REASON and "2/2" in e[2] for e in events)
    assert world.counts() == {"demo:blue": 0, "demo:green": 2}
    assert world.status["stableRS"] == hash_of("demo:green")
    assert world.status["phase"] == "Healthy"
    assert "controllerPause" not in world.status


def test_the_last_step_and_the_promotion_are_one_status_write() -> None:
    world = deployed()
    world.set_image("demo:green")
    world.reconcile()
    start = c.parse_time(world.status["pauseConditions"][0]["startTime"])
    assert start is not None
    world.now = start + timedelta(seconds=121)
    plans = [p for p in world.reconcile() if p.status_patch is not None]
    done = [
        p for p in plans if any(e[1] == c.ROLLOUT_STEP_COMPLETED_REASON and "3/3" in e[2] for e in p.events)
    ]
    assert len(done) == 1 and done[0] is plans[-1]  # no status write after it
    # the write that completes setWeight 100 also makes the new ReplicaSet stable (Argo needs one more)
    assert c.ROLLOUT_COMPLETED_REASON in [e[1] for e in done[0].events]
    assert done[0].status_patch is not None
    patch = done[0].status_patch["status"]
    assert patch["currentStepIndex"] == 3 and patch["stableRS"] == hash_of("demo:green")
    assert patch["phase"] == "Healthy"


def test_reaching_a_pause_step_starts_the_pause_in_the_same_write() -> None:
    world = deployed()
    world.set_image("demo:green")
    plans = [p for p in world.reconcile() if p.status_patch is not None]
    reached = [p for p in plans if p.status_patch and p.status_patch["status"].get("currentStepIndex") == 1]
    assert len(reached) == 1
    patch = reached[0].status_patch["status"]
    assert [p["reason"] for p in patch["pauseConditions"]] == [c.PAUSE_CANARY_STEP]
    assert patch["controllerPause"] is True and patch["phase"] == "Paused"
    assert reached[0].requeue_after == 120.0
    assert reached[0] is plans[-1]  # nothing more to write until the pause ends


def test_a_pause_step_after_a_pause_step_still_pauses() -> None:
    world = deployed()
    world.rollout["spec"]["strategy"]["canary"]["steps"] = [{"pause": {"duration": "10s"}}, {"pause": {}}]
    world.rollout["metadata"]["generation"] += 1
    world.reconcile()
    world.set_image("demo:green")
    world.reconcile()
    start = c.parse_time(world.status["pauseConditions"][0]["startTime"])
    assert start is not None and world.status["currentStepIndex"] == 0
    world.now = start + timedelta(seconds=11)
    world.reconcile()
    assert world.status["currentStepIndex"] == 1
    assert [p["reason"] for p in world.status["pauseConditions"]] == [c.PAUSE_CANARY_STEP]
    assert world.status["phase"] == "Paused"


def test_promote_full_skips_remaining_steps() -> None:
    world = indefinite()
    world.patch_status({"promoteFull": True})
    world.reconcile()
    assert world.status["stableRS"] == hash_of("demo:green")
    assert world.status["currentStepIndex"] == 2
    assert "promoteFull" not in world.status


# --- abort and retry -----------------------------------------------------------------------------


def test_abort_returns_to_stable_and_degrades() -> None:
    world = indefinite()
    world.patch_status({"abort": True})
    plans = world.reconcile()
    assert world.counts() == {"demo:blue": 2, "demo:green": 0}
    status = world.status
    assert status["abort"] is True and status["abortedAt"]
    assert status["currentStepIndex"] == 0
    assert status["phase"] == "Degraded"
    assert status["message"] == f"{c.ROLLOUT_ABORTED_REASON}: Rollout aborted update to revision 2"
    assert "pauseConditions" not in status
    assert status["stableRS"] == hash_of("demo:blue")
    assert any(
        e == ("Warning", c.ROLLOUT_ABORTED_REASON, "Rollout aborted update to revision 2")
        for p in plans
        for e in p.events
    )
    assert world.min_available_seen == 2
    # abortedAt is kept on later reconciles
    world.now += timedelta(minutes=1)
    assert world.plan().changes_nothing


def test_retry_restarts_at_step_zero() -> None:
    world = indefinite()
    world.patch_status({"abort": True})
    world.reconcile()
    world.patch_status({"abort": False})  # kubectl argo rollouts retry rollout
    world.reconcile()
    assert world.counts() == {"demo:blue": 1, "demo:green": 1}
    assert world.status["currentStepIndex"] == 1
    assert world.status["phase"] == "Paused"
    assert "abortedAt" not in world.status


# --- spec.paused, fast rollback, services, history -------------------------------------------------


def test_spec_paused_stops_scaling_and_advancing() -> None:
    world = deployed()
    world.rollout["spec"]["paused"] = True
    world.set_image("demo:green")
    world.reconcile()
    assert world.counts() == {"demo:blue": 2}
    assert world.status["phase"] == "Paused" and world.status["message"] == "manually paused"
    assert cond(world, c.PAUSED)["status"] == c.TRUE
    world.rollout["spec"]["paused"] = False
    world.reconcile()
    assert world.counts() == {"demo:blue": 1, "demo:green": 1}


def test_fast_rollback_to_stable_template_skips_steps() -> None:
    world = indefinite()
    world.set_image("demo:blue")
    plan = world.plan()
    assert ("Normal", "SkipSteps", "Rollback to stable") in plan.events
    assert plan.status_patch is not None
    assert plan.status_patch["status"]["currentStepIndex"] == 2
    world.apply(plan)
    world.reconcile()
    assert world.counts() == {"demo:blue": 2, "demo:green": 0}
    assert world.status["stableRS"] == hash_of("demo:blue")
    assert world.status["phase"] == "Healthy"


def service(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"selector": {"app": "frontend"}}}


def test_services_get_the_hash_selectors() -> None:
    world = World(seed_rollout(canaryService="fe-canary", stableService="fe-stable"))
    world.services = {"fe-canary": service("fe-canary"), "fe-stable": service("fe-stable")}
    first = world.plan()
    assert first.service_selectors == ()  # adopting: wait until the ReplicaSet is available
    world.reconcile()
    blue = hash_of("demo:blue")
    assert world.services["fe-stable"]["spec"]["selector"][POD_TEMPLATE_HASH_LABEL] == blue
    assert world.services["fe-canary"]["spec"]["selector"][POD_TEMPLATE_HASH_LABEL] == blue
    world.set_image("demo:green")
    world.reconcile()
    assert world.services["fe-canary"]["spec"]["selector"][POD_TEMPLATE_HASH_LABEL] == hash_of("demo:green")
    assert world.services["fe-stable"]["spec"]["selector"][POD_TEMPLATE_HASH_LABEL] == blue
    world.now += timedelta(minutes=3)
    world.reconcile()
    assert world.services["fe-stable"]["spec"]["selector"][POD_TEMPLATE_HASH_LABEL] == hash_of("demo:green")


def test_revision_history_limit_prunes_old_replica_sets() -> None:
    rollout = seed_rollout()
    rollout["spec"]["revisionHistoryLimit"] = 1
    rollout["spec"]["strategy"]["canary"]["steps"] = []
    world = World(rollout)
    world.reconcile()
    deleted: list[str] = []
    for colour in ("green", "red", "yellow"):
        world.set_image(f"demo:{colour}")
        deleted += [n for p in world.reconcile() for n in p.delete_replica_sets]
    assert deleted == [f"frontend-{hash_of('demo:blue')}", f"frontend-{hash_of('demo:green')}"]
    assert sorted(world.counts().items()) == [("demo:red", 0), ("demo:yellow", 2)]


# --- invalid spec --------------------------------------------------------------------------------


def test_invalid_spec_sets_condition_and_does_nothing_else() -> None:
    rollout = seed_rollout()
    rollout["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50, "pause": {}}]
    world = World(rollout)
    plan = world.plan()
    assert not plan.create_replica_sets and not plan.scale
    assert plan.status_patch is not None
    world.apply(plan)
    invalid = cond(world, c.INVALID_SPEC)
    assert invalid["status"] == c.TRUE and invalid["reason"] == "InvalidSpec"
    assert invalid["message"].startswith('The Rollout "frontend" is invalid: ')
    assert world.status["phase"] == "Degraded"
    assert world.status["message"] == f"InvalidSpec: {invalid['message']}"
    assert plan.events and plan.events[0][:2] == ("Warning", "InvalidSpec")
    assert world.plan().changes_nothing
    # fixing the spec removes the condition and the rollout proceeds
    world.rollout["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}]
    world.rollout["metadata"]["generation"] += 1
    world.reconcile()
    assert c.get_condition(world.status.get("conditions"), c.INVALID_SPEC) is None
    assert world.status["phase"] == "Healthy"


# --- idempotence ---------------------------------------------------------------------------------

ACTIONS = st.lists(
    st.sampled_from(["image", "promote", "abort", "retry", "wait", "pause", "unpause", "partial"]),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(ACTIONS)
def test_plan_is_idempotent_once_settled(actions: list[str]) -> None:
    world = deployed()
    images = iter(f"demo:v{i}" for i in range(100))
    for action in actions:
        if action == "image":
            world.set_image(next(images))
        elif action == "promote":
            world.patch_status({"pauseConditions": None})
        elif action == "abort":
            world.patch_status({"abort": True})
        elif action == "retry":
            world.patch_status({"abort": False})
        elif action == "wait":
            world.now += timedelta(minutes=3)
        elif action in ("pause", "unpause"):
            world.rollout["spec"]["paused"] = action == "pause"
            world.rollout["metadata"]["generation"] += 1
        world.reconcile(pods=1 if action == "partial" else None)
        snap = world.snapshot()
        assert plan_canary(snap) == plan_canary(snap)  # deterministic
        again = world.plan()
        assert again.changes_nothing, again
        assert world.min_available_seen is None or world.min_available_seen >= 2
