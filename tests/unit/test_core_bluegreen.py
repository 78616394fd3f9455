"""Table tests for the blue-green planner, stepping a simulated world.

The world (a subclass of ``test_core_canary.World``) applies each plan the way the runtime does
(create, update, scale with the desired-replicas annotation, Service selectors with the
managed-by annotation, AnalysisRuns, the status merge patch), lets pods become available, and
plans again. It also watches traffic: every time the active Service's selector changes, the
ReplicaSet it now selects must have all of the Rollout's pods available (no failed requests at
the switch), and the ReplicaSet the active Service selects is never scaled below full size.
(Pods here become available at once, or ``pods`` at a time, and vanish the moment their
ReplicaSet shrinks.)
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import conditions as c
from controller.core.bluegreen import plan_bluegreen
from controller.core.bluegreen_replicas import SCALE_DOWN_DEADLINE_ANNOTATION
from controller.core.canary import MANAGED_BY_ANNOTATION
from controller.core.hashing import POD_TEMPLATE_HASH_LABEL, pod_template_hash
from controller.core.plan import Plan
from controller.core.snapshot import DESIRED_REPLICAS_ANNOTATION, Snapshot, spec_replicas
from tests.unit.test_core_analysis import TEMPLATE
from tests.unit.test_core_canary import T0, World

ACTIVE, PREVIEW = "web-active", "web-preview"


def bg_rollout(image: str = "demo:blue", replicas: int = 3, **blue_green: Any) -> dict[str, Any]:
    strategy = {"activeService": ACTIVE, "previewService": PREVIEW, **blue_green}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "demo", "uid": "u-1", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": {"blueGreen": strategy},
        },
    }


def service(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "demo"}, "spec": {"selector": {"app": "web"}}}


def hash_of(image: str) -> str:
    return pod_template_hash(bg_rollout(image)["spec"]["template"])


@dataclass
class BlueGreenWorld(World):
    """The canary test world, planning with ``plan_bluegreen`` and watching the active Service."""

    #: (seconds since T0, what went wrong) for every moment the active Service's pods fell short
    traffic_faults: list[tuple[float, str]] = field(default_factory=list)
    #: every hash the active Service was switched to, in order
    active_history: list[str] = field(default_factory=list)

    def snapshot(self) -> Snapshot:
        bg = self.rollout["spec"]["strategy"]["blueGreen"]
        return Snapshot(
            rollout=copy.deepcopy(self.rollout),
            replica_sets=tuple(copy.deepcopy(rs) for rs in self.rss.values()),
            active_service=copy.deepcopy(self.services.get(bg.get("activeService", ""))),
            preview_service=copy.deepcopy(self.services.get(bg.get("previewService", ""))),
            now=self.now,
            workload=copy.deepcopy(self.workload),
            analysis_runs=tuple(copy.deepcopy(r) for r in self.runs.values()),
            analysis_templates=copy.deepcopy(self.templates),
        )

    def plan(self) -> Plan:
        return plan_bluegreen(self.snapshot())

    def apply(self, plan: Plan) -> None:
        before = self.selected(ACTIVE)
        super().apply(plan)
        desired = str(self.rollout["spec"].get("replicas", 1))
        for name, _ in plan.scale:  # the runtime writes the desired-replicas annotation with the size
            self.rss[name]["metadata"].setdefault("annotations", {})[DESIRED_REPLICAS_ANNOTATION] = desired
        after = self.selected(ACTIVE)
        if after != before and after is not None:
            self.active_history.append(after)
            rs = self.rs_by_hash(after)
            available = int(((rs or {}).get("status") or {}).get("availableReplicas") or 0)
            if available < int(desired):
                self.traffic_faults.append(
                    (self.elapsed(), f"switched to {after} with {available} available")
                )
        self.check_active()

    def settle(self, pods: int | None = None) -> None:
        super().settle(pods)
        self.check_active()

    def check_active(self) -> None:
        """The ReplicaSet behind the active Service is never scaled below the desired count (in
        this world pods go away the moment their ReplicaSet shrinks)."""
        selected = self.selected(ACTIVE)
        rs = None if selected is None else self.rs_by_hash(selected)
        want = int(self.rollout["spec"].get("replicas", 1))
        if rs is not None and self.established and spec_replicas(rs) < want:
            self.traffic_faults.append((self.elapsed(), f"active {selected} scaled to {spec_replicas(rs)}"))

    def elapsed(self) -> float:
        return (self.now - T0).total_seconds()

    def selected(self, svc_name: str) -> str | None:
        svc = self.services.get(svc_name)
        if svc is None:
            return None
        value = svc["spec"]["selector"].get(POD_TEMPLATE_HASH_LABEL)
        return None if value is None else str(value)

    def rs_by_hash(self, pod_hash: str) -> dict[str, Any] | None:
        return next(
            (
                rs
                for rs in self.rss.values()
                if rs["metadata"]["labels"].get(POD_TEMPLATE_HASH_LABEL) == pod_hash
            ),
            None,
        )

    def counts(self) -> dict[str, int]:
        return {
            rs["spec"]["template"]["spec"]["containers"][0]["image"]: spec_replicas(rs)
            for rs in self.rss.values()
        }

    def wait_out(self, plans: list[Plan] | None = None, limit: int = 20) -> list[Plan]:
        """Follow requeues: move the clock to each requested time and reconcile, until none is asked."""
        seen: list[Plan] = list(plans or [])
        for _ in range(limit):
            plan = self.plan()
            if plan.requeue_after is None or not plan.changes_nothing:
                if plan.changes_nothing:
                    return seen
                seen += self.reconcile()
                continue
            self.now += timedelta(seconds=plan.requeue_after + 0.5)
            seen += self.reconcile()
        return seen


def bg_world(image: str = "demo:blue", replicas: int = 3, **blue_green: Any) -> BlueGreenWorld:
    world = BlueGreenWorld(bg_rollout(image, replicas, **blue_green))
    world.services = {ACTIVE: service(ACTIVE), PREVIEW: service(PREVIEW)}
    world.templates = {"success-rate": copy.deepcopy(TEMPLATE)}
    return world


def deployed(image: str = "demo:blue", replicas: int = 3, **blue_green: Any) -> BlueGreenWorld:
    world = bg_world(image, replicas, **blue_green)
    world.reconcile()
    assert world.status["phase"] == "Healthy", world.status
    return world


def cond(world: World, type_: str) -> dict[str, Any]:
    found = c.get_condition(world.status.get("conditions"), type_)
    assert found is not None, type_
    return dict(found)


def reasons(plans: list[Plan]) -> list[str]:
    return [e[1] for p in plans for e in p.events]


def events(plans: list[Plan]) -> list[tuple[str, str, str]]:
    return [e for p in plans for e in p.events]


def deadline(world: BlueGreenWorld, image: str) -> str | None:
    rs = world.rs_by_hash(hash_of(image))
    assert rs is not None
    return (rs["metadata"].get("annotations") or {}).get(SCALE_DOWN_DEADLINE_ANNOTATION)


# --- first deploy ------------------------------------------------------------------------------


def test_first_deploy_goes_straight_to_active_without_a_pause() -> None:
    world = bg_world(autoPromotionEnabled=False)
    plan = world.plan()
    assert len(plan.create_replica_sets) == 1
    rs = plan.create_replica_sets[0]
    h = hash_of("demo:blue")
    assert rs["metadata"]["name"] == f"web-{h}" and rs["spec"]["replicas"] == 0
    assert plan.scale == ((f"web-{h}", 3),)  # created at 0, then scaled up in the same plan
    assert plan.service_selectors == ((PREVIEW, {POD_TEMPLATE_HASH_LABEL: h}),)
    assert plan.status_patch is not None
    status = plan.status_patch["status"]
    assert status["stableRS"] == h and status["currentPodHash"] == h
    assert status["blueGreen"] == {"previewSelector": h}
    assert status["phase"] == "Progressing" and status["message"] == "more replicas need to be updated"
    assert "RolloutCompleted" in [e[1] for e in plan.events]
    assert plan.rollout_annotations == {"rollout.argoproj.io/revision": "1"}
    plans = [plan]
    world.apply(plan)
    world.settle()
    plans += world.reconcile()
    assert world.selected(ACTIVE) == h and world.selected(PREVIEW) == h
    assert MANAGED_BY_ANNOTATION in world.services[ACTIVE]["metadata"]["annotations"]
    assert world.status["phase"] == "Healthy" and "pauseConditions" not in world.status
    assert world.status["blueGreen"] == {"activeSelector": h, "previewSelector": h}
    assert world.status["selector"] == f"app=web,{POD_TEMPLATE_HASH_LABEL}={h}"
    assert world.status["HPAReplicas"] == world.status["availableReplicas"] == 3
    for type_ in (c.HEALTHY, c.COMPLETED, c.AVAILABLE):
        assert cond(world, type_)["status"] == c.TRUE
    assert cond(world, c.PROGRESSING)["reason"] == c.NEW_RS_AVAILABLE_REASON
    switch = [e for e in events(plans) if e[1] == "SwitchService"]
    assert switch == [
        ("Normal", "SwitchService", f"Switched selector for service '{PREVIEW}' from '' to '{h}'"),
        ("Normal", "SwitchService", f"Switched selector for service '{ACTIVE}' from '' to '{h}'"),
    ]
    assert world.traffic_faults == []


# --- update, pause, promote, switch, scale-down ---------------------------------------------------


def test_manual_promotion_walks_the_blue_green_sequence() -> None:
    world = deployed(autoPromotionEnabled=False)
    blue, green = hash_of("demo:blue"), hash_of("demo:green")
    world.set_image("demo:green")
    # 1: the new ReplicaSet at 0, the preview Service on it, the status reset
    plan = world.plan()
    assert [rs["spec"]["replicas"] for rs in plan.create_replica_sets] == [0]
    assert plan.service_selectors == ((PREVIEW, {POD_TEMPLATE_HASH_LABEL: green}),)
    assert plan.scale == ()
    world.apply(plan)
    assert world.status["currentPodHash"] == green and world.status["stableRS"] == blue
    # 2: scaled up at full size beside blue, then paused before the switch
    plans = world.reconcile()
    assert world.counts() == {"demo:blue": 3, "demo:green": 3}
    assert world.selected(ACTIVE) == blue and world.selected(PREVIEW) == green
    assert world.status["pauseConditions"][0]["reason"] == c.PAUSE_BLUE_GREEN
    assert world.status["controllerPause"] is True
    assert world.status["phase"] == "Paused" and world.status["message"] == c.PAUSE_BLUE_GREEN
    assert cond(world, c.PAUSED)["status"] == c.TRUE
    assert ("Normal", "RolloutPaused", "Rollout is paused (BlueGreenPause)") in events(plans)
    # counts follow the active ReplicaSet, as Argo's
    assert world.status["availableReplicas"] == 3 and world.status["replicas"] == 6
    assert world.status["selector"] == f"app=web,{POD_TEMPLATE_HASH_LABEL}={blue}"
    world.now += timedelta(hours=2)
    assert world.plan().changes_nothing and world.plan().requeue_after is None  # waits for a human
    # 3: promote ({"status":{"pauseConditions":null}}) -> switch, green becomes stable
    world.patch_status({"pauseConditions": None})
    promote = world.reconcile()
    assert world.selected(ACTIVE) == green
    assert world.status["stableRS"] == green and world.status["phase"] == "Healthy"
    assert "controllerPause" not in world.status and "pauseConditions" not in world.status
    assert any(e[1] == "RolloutCompleted" and "Completed blue-green update" in e[2] for e in events(promote))
    # 4: blue keeps its pods for scaleDownDelaySeconds (30), with the deadline annotation
    assert world.counts() == {"demo:blue": 3, "demo:green": 3}
    due = c.parse_time(deadline(world, "demo:blue"))
    assert due is not None and due - world.now <= timedelta(seconds=30)
    plan = world.plan()
    assert plan.changes_nothing and plan.requeue_after is not None and 0 < plan.requeue_after <= 30
    world.now = due - timedelta(seconds=1)
    assert world.plan().changes_nothing  # not yet
    world.now = due + timedelta(seconds=1)
    world.reconcile()
    assert world.counts() == {"demo:blue": 0, "demo:green": 3}
    assert deadline(world, "demo:blue") is None  # removed with the scale-down, as Argo's
    assert world.traffic_faults == []


def test_auto_promotion_switches_at_once_when_the_new_replicas_are_up() -> None:
    world = deployed()
    world.set_image("demo:green")
    plans = world.reconcile(pods=1)
    assert world.selected(ACTIVE) == hash_of("demo:green")
    assert world.status["stableRS"] == hash_of("demo:green")
    assert c.ROLLOUT_PAUSED_REASON not in reasons(plans)
    assert world.traffic_faults == []


def test_auto_promotion_seconds_pauses_then_promotes_with_a_requeue() -> None:
    world = deployed(autoPromotionSeconds=45)
    world.set_image("demo:green")
    plans = world.reconcile()
    assert world.status["message"] == c.PAUSE_BLUE_GREEN
    start = c.parse_time(world.status["pauseConditions"][0]["startTime"])
    assert start is not None
    assert [p.requeue_after for p in plans if p.requeue_after] and min(
        p.requeue_after for p in plans if p.requeue_after
    ) <= 45
    world.now = start + timedelta(seconds=20)
    plan = world.plan()
    assert plan.changes_nothing and plan.requeue_after == 25.0
    world.now = start + timedelta(seconds=46)
    world.reconcile()
    assert world.selected(ACTIVE) == hash_of("demo:green")
    assert world.status["phase"] == "Healthy" and "pauseConditions" not in world.status


def test_preview_replica_count_runs_a_small_preview_then_scales_up_before_the_switch() -> None:
    world = deployed(replicas=4, previewReplicaCount=1, autoPromotionEnabled=False)
    world.set_image("demo:green")
    world.reconcile()
    assert world.counts() == {"demo:blue": 4, "demo:green": 1}
    assert world.status["phase"] == "Paused"
    assert "scaleUpPreviewCheckPoint" not in world.status["blueGreen"]
    world.patch_status({"pauseConditions": None})
    plans = world.reconcile(pods=1)
    assert world.counts() == {"demo:blue": 4, "demo:green": 4}
    assert world.selected(ACTIVE) == hash_of("demo:green")
    # the checkpoint was set on the way, and cleared once promoted
    patches = [p.status_patch["status"] for p in plans if p.status_patch]
    assert any((s.get("blueGreen") or {}).get("scaleUpPreviewCheckPoint") is True for s in patches)
    assert "scaleUpPreviewCheckPoint" not in world.status["blueGreen"]
    assert world.traffic_faults == []


# --- abort, retry, promote --full ---------------------------------------------------------------


def paused_update(**blue_green: Any) -> BlueGreenWorld:
    world = deployed(autoPromotionEnabled=False, **blue_green)
    world.set_image("demo:green")
    world.reconcile()
    assert world.status["phase"] == "Paused"
    return world


def test_abort_keeps_the_stable_active_and_scales_the_preview_down_after_the_delay() -> None:
    world = paused_update(abortScaleDownDelaySeconds=10)
    world.patch_status({"abort": True})
    plans = world.reconcile()
    status = world.status
    assert status["abort"] is True and status["abortedAt"]
    assert status["phase"] == "Degraded"
    assert status["message"] == f"{c.ROLLOUT_ABORTED_REASON}: Rollout aborted update to revision 2"
    assert "pauseConditions" not in status
    assert world.selected(ACTIVE) == hash_of("demo:blue")
    assert ("Warning", "RolloutAborted", "Rollout aborted update to revision 2") in events(plans)
    assert world.counts()["demo:green"] == 3  # kept until abortScaleDownDelaySeconds
    assert deadline(world, "demo:green") is not None
    world.wait_out()
    assert world.counts() == {"demo:blue": 3, "demo:green": 0}
    assert world.plan().changes_nothing
    assert world.traffic_faults == []


def test_abort_with_zero_delay_never_scales_the_preview_down() -> None:
    world = paused_update(abortScaleDownDelaySeconds=0)
    world.patch_status({"abort": True})
    world.reconcile()
    world.now += timedelta(hours=1)
    world.reconcile()
    assert world.counts() == {"demo:blue": 3, "demo:green": 3}
    assert world.status["phase"] == "Degraded"


def test_retry_after_abort_brings_the_preview_back_and_pauses_again() -> None:
    world = paused_update()
    world.patch_status({"abort": True})
    world.reconcile()
    world.wait_out()
    assert world.counts()["demo:green"] == 0
    world.patch_status({"abort": False})  # kubectl argo rollouts retry rollout
    plans = world.reconcile()
    assert world.counts() == {"demo:blue": 3, "demo:green": 3}
    assert world.status["phase"] == "Paused" and "abortedAt" not in world.status
    assert deadline(world, "demo:green") is None
    assert any(
        cnd.get("reason") == c.ROLLOUT_RETRY_REASON
        for p in plans
        if p.status_patch
        for cnd in p.status_patch["status"].get("conditions") or ()
    )


def test_promote_full_skips_the_pause_and_the_preview_size() -> None:
    world = paused_update(previewReplicaCount=1)
    assert world.counts()["demo:green"] == 1
    world.patch_status({"promoteFull": True})
    world.reconcile()
    assert world.selected(ACTIVE) == hash_of("demo:green")
    assert world.counts()["demo:green"] == 3
    assert world.status["stableRS"] == hash_of("demo:green")
    assert "promoteFull" not in world.status and "pauseConditions" not in world.status
    assert world.traffic_faults == []


# --- analysis ------------------------------------------------------------------------------------

ANALYSIS = {
    "templates": [{"templateName": "success-rate"}],
    "args": [{"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}}],
}


def finish(world: BlueGreenWorld, name: str, phase: str, message: str = "") -> None:
    world.runs[name]["status"] = {"phase": phase, **({"message": message} if message else {})}


def run_name(world: BlueGreenWorld, key: str) -> str:
    return str((world.status["blueGreen"].get(key) or {}).get("name") or "")


def test_pre_promotion_analysis_gates_the_switch_and_success_promotes() -> None:
    world = deployed(prePromotionAnalysis=ANALYSIS)
    assert world.runs == {}  # none on the first deploy
    world.set_image("demo:green")
    world.reconcile()
    name = run_name(world, "prePromotionAnalysisRunStatus")
    assert name == f"web-{hash_of('demo:green')}-2-pre"
    run = world.runs[name]
    assert run["metadata"]["labels"]["rollout-type"] == "PrePromotion"
    assert run["spec"]["args"] == [{"name": "hash", "value": hash_of("demo:green")}]
    assert world.selected(ACTIVE) == hash_of("demo:blue")
    world.now += timedelta(minutes=5)
    assert world.plan().changes_nothing  # still waiting for the analysis
    finish(world, name, "Successful")
    plans = world.reconcile()
    assert world.selected(ACTIVE) == hash_of("demo:green")
    assert world.status["phase"] == "Healthy"
    assert (
        "Normal",
        "AnalysisRunSuccessful",
        f"PrePromotion Analysis Run '{name}' Status New: 'Successful' Previous: ''",
    ) in events(plans)


@pytest.mark.parametrize("phase", ["Failed", "Error"])
def test_failed_pre_promotion_analysis_aborts_and_never_switches(phase: str) -> None:
    world = deployed(prePromotionAnalysis=ANALYSIS)
    world.set_image("demo:green")
    world.reconcile()
    finish(world, run_name(world, "prePromotionAnalysisRunStatus"), phase, "error rate too high")
    world.reconcile()
    world.wait_out()
    assert world.status["abort"] is True and world.status["phase"] == "Degraded"
    assert world.status["message"].endswith("Rollout aborted update to revision 2: error rate too high")
    assert world.selected(ACTIVE) == hash_of("demo:blue")
    assert world.counts() == {"demo:blue": 3, "demo:green": 0}
    assert world.traffic_faults == []


def test_inconclusive_pre_promotion_analysis_pauses_until_promoted_and_reruns() -> None:
    world = deployed(prePromotionAnalysis=ANALYSIS)
    world.set_image("demo:green")
    world.reconcile()
    first = run_name(world, "prePromotionAnalysisRunStatus")
    finish(world, first, "Inconclusive")
    world.reconcile()
    assert world.status["phase"] == "Paused" and world.status["message"] == c.PAUSE_INCONCLUSIVE_ANALYSIS
    assert world.selected(ACTIVE) == hash_of("demo:blue")
    world.patch_status({"pauseConditions": None})
    world.reconcile()
    second = run_name(world, "prePromotionAnalysisRunStatus")
    assert second == f"{first}.1"
    finish(world, second, "Successful")
    world.reconcile()
    assert world.selected(ACTIVE) == hash_of("demo:green") and world.status["phase"] == "Healthy"


def test_post_promotion_analysis_success_marks_stable_and_then_blue_goes() -> None:
    world = deployed(postPromotionAnalysis=ANALYSIS)
    world.set_image("demo:green")
    world.reconcile()
    green = hash_of("demo:green")
    assert world.selected(ACTIVE) == green
    assert world.status["stableRS"] == hash_of("demo:blue")
    assert world.status["message"] == "waiting for analysis to complete"
    name = run_name(world, "postPromotionAnalysisRunStatus")
    assert name == f"web-{green}-2-post"
    world.now += timedelta(minutes=5)
    world.reconcile()
    assert world.counts() == {"demo:blue": 3, "demo:green": 3}  # blue is the way back meanwhile
    finish(world, name, "Successful")
    world.reconcile()
    assert world.status["stableRS"] == green and world.status["phase"] == "Healthy"
    world.wait_out()
    assert world.counts() == {"demo:blue": 0, "demo:green": 3}
    assert world.traffic_faults == []


def test_failed_post_promotion_analysis_switches_back_to_stable() -> None:
    world = deployed(postPromotionAnalysis=ANALYSIS)
    world.set_image("demo:green")
    world.reconcile()
    finish(world, run_name(world, "postPromotionAnalysisRunStatus"), "Failed", "5xx above 5%")
    plans = world.reconcile()
    blue = hash_of("demo:blue")
    assert world.selected(ACTIVE) == blue
    assert world.status["phase"] == "Degraded" and world.status["message"].endswith("5xx above 5%")
    assert world.status["stableRS"] == blue
    assert any(e[1] == "SwitchService" and e[2].endswith(f"to '{blue}'") for e in events(plans))
    world.wait_out()
    assert world.counts() == {"demo:blue": 3, "demo:green": 0}
    assert world.traffic_faults == []


# --- fast rollback, spec.paused, revision limits -------------------------------------------------


def test_undo_within_the_scale_down_delay_is_a_fast_rollback_without_pause() -> None:
    world = deployed(autoPromotionEnabled=False, scaleDownDelaySeconds=600)
    world.set_image("demo:green")
    world.reconcile()
    world.patch_status({"pauseConditions": None})
    world.reconcile()
    assert world.selected(ACTIVE) == hash_of("demo:green")
    assert deadline(world, "demo:blue") is not None and world.counts()["demo:blue"] == 3
    world.set_image("demo:blue")  # kubectl argo rollouts undo
    plans = world.reconcile()
    assert world.selected(ACTIVE) == hash_of("demo:blue")
    assert world.status["stableRS"] == hash_of("demo:blue") and world.status["phase"] == "Healthy"
    assert c.ROLLOUT_PAUSED_REASON not in reasons(plans)
    assert deadline(world, "demo:blue") is None
    blue = world.rs_by_hash(hash_of("demo:blue"))
    assert blue is not None and blue["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "3"
    assert deadline(world, "demo:green") is not None  # green now waits out its own delay
    assert world.traffic_faults == []


def test_undo_after_the_delay_is_a_normal_update_with_a_pause() -> None:
    world = deployed(autoPromotionEnabled=False)
    world.set_image("demo:green")
    world.reconcile()
    world.patch_status({"pauseConditions": None})
    world.reconcile()
    world.wait_out()
    assert world.counts()["demo:blue"] == 0
    world.set_image("demo:blue")
    world.reconcile()
    assert world.status["phase"] == "Paused" and world.selected(ACTIVE) == hash_of("demo:green")


def test_spec_paused_holds_the_switch_and_the_pause() -> None:
    world = deployed()
    world.rollout["spec"]["paused"] = True
    world.set_image("demo:green")
    world.reconcile()
    assert world.selected(ACTIVE) == hash_of("demo:blue")
    assert world.selected(PREVIEW) == hash_of("demo:blue")  # not switched while paused
    assert world.status["phase"] == "Paused" and world.status["message"] == "manually paused"
    world.rollout["spec"]["paused"] = False
    world.rollout["metadata"]["generation"] += 1
    world.reconcile()
    assert world.selected(ACTIVE) == hash_of("demo:green") and world.status["phase"] == "Healthy"


def test_scale_down_delay_revision_limit_keeps_only_the_newest_old_replica_sets() -> None:
    world = deployed(scaleDownDelaySeconds=600, scaleDownDelayRevisionLimit=1)
    for colour in ("green", "red"):
        world.set_image(f"demo:{colour}")
        world.reconcile()
    assert world.counts() == {"demo:blue": 0, "demo:green": 3, "demo:red": 3}
    assert world.traffic_faults == []


def test_scale_down_delay_zero_scales_the_old_replica_set_down_at_once() -> None:
    world = deployed(scaleDownDelaySeconds=0)
    world.set_image("demo:green")
    world.reconcile()
    assert world.counts() == {"demo:blue": 0, "demo:green": 3}
    assert world.traffic_faults == []


def test_restart_at_recreates_pods_within_max_unavailable() -> None:
    world = deployed(replicas=4, maxUnavailable=1)
    world.rollout["spec"]["restartAt"] = c.format_time(world.now + timedelta(seconds=5))
    world.rollout["metadata"]["generation"] += 1
    plan = world.plan()
    assert plan.requeue_after is not None and plan.requeue_after <= 5
    world.now += timedelta(seconds=10)
    rs = next(iter(world.rss.values()))
    rs["metadata"]["uid"] = "rs-uid"

    def pod(i: int, created: datetime) -> dict[str, Any]:
        return {
            "metadata": {
                "name": f"p{i}",
                "creationTimestamp": c.format_time(created),
                "ownerReferences": [{"uid": "rs-uid"}],
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }

    pods = tuple(pod(i, T0) for i in range(4))
    plan = plan_bluegreen(dataclasses.replace(world.snapshot(), pods=pods))
    assert plan.delete_pods == ("p0",)  # blueGreen.maxUnavailable 1 of 4: one pod at a time
    assert plan.requeue_after is not None
    done = tuple(pod(i, world.now) for i in range(4))
    plan = plan_bluegreen(dataclasses.replace(world.snapshot(), pods=done))
    assert plan.status_patch is not None
    assert plan.status_patch["status"]["restartedAt"] == world.rollout["spec"]["restartAt"]


def test_scaling_resizes_the_active_and_the_preview_replica_sets() -> None:
    world = deployed(autoPromotionEnabled=False)
    world.rollout["spec"]["replicas"] = 5
    world.rollout["metadata"]["generation"] += 1
    world.reconcile()
    assert world.counts() == {"demo:blue": 5}
    assert world.status["HPAReplicas"] == 5 and world.status["phase"] == "Healthy"
    world.set_image("demo:green")
    world.reconcile()
    world.rollout["spec"]["replicas"] = 2
    world.rollout["metadata"]["generation"] += 1
    world.reconcile()
    assert world.counts() == {"demo:blue": 2, "demo:green": 2}
    assert world.status["phase"] == "Paused"
    world.patch_status({"pauseConditions": None})
    world.reconcile()
    assert world.selected(ACTIVE) == hash_of("demo:green") and world.status["phase"] == "Healthy"
    assert world.traffic_faults == []


def test_workload_ref_takes_the_template_from_a_deployment() -> None:
    rollout = bg_rollout()
    template = rollout["spec"].pop("template")
    rollout["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    world = bg_world()
    world.rollout = rollout
    world.workload = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "generation": 4},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
    }
    world.reconcile()
    assert world.status["phase"] == "Healthy" and world.status["workloadObservedGeneration"] == "4"
    assert world.selected(ACTIVE) == hash_of("demo:blue")
    assert world.rollout["metadata"]["annotations"]["rollout.argoproj.io/workload-generation"] == "4"


# --- invalid spec and missing references -------------------------------------------------------


def test_a_missing_active_service_is_an_invalid_spec_and_is_retried() -> None:
    world = bg_world()
    del world.services[ACTIVE]
    plan = world.plan()
    assert not plan.create_replica_sets and plan.requeue_after == 20.0
    world.apply(plan)
    invalid = cond(world, c.INVALID_SPEC)
    assert invalid["message"] == (
        'The Rollout "web" is invalid: spec.strategy.blueGreen.activeService: '
        f'Invalid value: "{ACTIVE}": services "{ACTIVE}" not found'
    )
    assert world.status["phase"] == "Degraded"
    world.services[ACTIVE] = service(ACTIVE)  # created later: the next look proceeds
    world.reconcile()
    assert c.get_condition(world.status.get("conditions"), c.INVALID_SPEC) is None
    assert world.status["phase"] == "Healthy"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"activeService": PREVIEW}, "same service for the active and preview services"),
        ({"activeService": ""}, "spec.strategy.blueGreen.activeService: Required value"),
        (
            {"prePromotionAnalysis": {"templates": [{"templateName": "nope"}]}},
            'AnalysisTemplate "nope" not found',
        ),
    ],
)
def test_invalid_blue_green_specs(change: dict[str, Any], expected: str) -> None:
    world = bg_world(**change)
    plan = world.plan()
    assert plan.create_replica_sets == () and plan.scale == ()
    world.apply(plan)
    assert expected in cond(world, c.INVALID_SPEC)["message"]


def test_a_service_managed_by_another_rollout_or_selecting_other_pods_is_invalid() -> None:
    world = bg_world()
    world.services[ACTIVE]["metadata"]["annotations"] = {MANAGED_BY_ANNOTATION: "other"}
    world.apply(world.plan())
    assert f'Service "{ACTIVE}" is managed by another Rollout' in cond(world, c.INVALID_SPEC)["message"]
    world = bg_world()
    world.services[PREVIEW]["spec"]["selector"]["tier"] = "db"
    world.apply(world.plan())
    assert (
        f'Service "{PREVIEW}" has unmatch label "tier" in rollout' in cond(world, c.INVALID_SPEC)["message"]
    )


def test_plan_bluegreen_rejects_a_canary() -> None:
    rollout = bg_rollout()
    rollout["spec"]["strategy"] = {"canary": {"steps": []}}
    with pytest.raises(ValueError, match="blueGreen"):
        plan_bluegreen(Snapshot(rollout=rollout, now=T0))


# --- idempotence ---------------------------------------------------------------------------------

ACTIONS = st.lists(
    st.sampled_from(
        ["image", "undo", "promote", "full", "abort", "retry", "wait", "pause", "unpause", "partial"]
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(
    ACTIONS,
    st.sampled_from(
        [{}, {"autoPromotionEnabled": False}, {"previewReplicaCount": 1, "autoPromotionEnabled": False}]
    ),
)
def test_plan_is_idempotent_once_settled(actions: list[str], extra: dict[str, Any]) -> None:
    world = deployed(**extra)
    images = iter(f"demo:v{i}" for i in range(100))
    previous = "demo:blue"
    for action in actions:
        current = world.rollout["spec"]["template"]["spec"]["containers"][0]["image"]
        if action == "image":
            previous = current
            world.set_image(next(images))
        elif action == "undo":
            world.set_image(previous)
            previous = current
        elif action == "promote":
            world.patch_status({"pauseConditions": None})
        elif action == "full":
            world.patch_status({"promoteFull": True})
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
        assert plan_bluegreen(snap) == plan_bluegreen(snap)  # deterministic
        again = world.plan()
        assert again.changes_nothing, again
        assert world.traffic_faults == []
        assert world.selected(PREVIEW) in (None, world.status["currentPodHash"]) or world.rollout["spec"].get(
            "paused"
        )
