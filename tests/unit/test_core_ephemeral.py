"""Ephemeral metadata (``canaryMetadata``/``stableMetadata``, ``previewMetadata``/``activeMetadata``)
in both planners, stepping the simulated worlds of the canary and blue-green tests with pods.

The worlds here also run pods: each ReplicaSet has as many as its ``status.replicas``, created
from its pod template as it is at that moment (named, never renamed: a pod patched in place keeps
its name), and the plan's pod patches are applied to them as the API server applies merge patches.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from controller.core.ephemeral import EPHEMERAL_METADATA_ANNOTATION
from controller.core.hashing import POD_TEMPLATE_HASH_LABEL
from controller.core.plan import Plan, apply_merge_patch
from controller.core.revisions import uninjected_template
from controller.core.snapshot import Snapshot
from tests.unit.test_core_bluegreen import ACTIVE, PREVIEW, BlueGreenWorld, bg_rollout, service
from tests.unit.test_core_bluegreen import hash_of as bg_hash_of
from tests.unit.test_core_canary import World, hash_of, seed_rollout

CANARY_META = {"labels": {"role": "canary", "track": "canary"}, "annotations": {"stage": "trying"}}
STABLE_META = {"labels": {"role": "stable"}, "annotations": {"stage": "serving"}}
PREVIEW_META = {"labels": {"role": "preview"}}
ACTIVE_META = {"labels": {"role": "active"}, "annotations": {"serving": "yes"}}


class PodsMixin:
    """Pods for a test world (mixed in before ``World``/``BlueGreenWorld``)."""

    pods: dict[str, dict[str, Any]]
    pod_patches: list[tuple[str, dict[str, Any]]]
    rss: dict[str, dict[str, Any]]
    serial: int

    def snapshot(self) -> Snapshot:
        snap: Snapshot = super().snapshot()  # type: ignore[misc]
        return dataclasses.replace(snap, pods=tuple(copy.deepcopy(p) for p in self.pods.values()))

    def apply(self, plan: Plan) -> None:
        super().apply(plan)  # type: ignore[misc]
        for name, rs in self.rss.items():
            rs["metadata"].setdefault("uid", f"uid-{name}")
        for name, patch in plan.patch_pods:
            self.pods[name] = apply_merge_patch(self.pods[name], patch)
            self.pod_patches.append((name, patch))
        self.run_pods()

    def settle(self, pods: int | None = None) -> None:
        super().settle(pods)  # type: ignore[misc]
        self.run_pods()

    def run_pods(self) -> None:
        """Each ReplicaSet's pods follow its ``status.replicas``; new ones copy its template."""
        for name, rs in self.rss.items():
            uid = rs["metadata"]["uid"]
            mine = sorted(
                n for n, pod in self.pods.items() if pod["metadata"]["ownerReferences"][0]["uid"] == uid
            )
            want = int(rs["status"].get("replicas") or 0)
            while len(mine) > want:
                del self.pods[mine.pop()]
            while len(mine) < want:
                self.serial += 1
                pod_name = f"{name}-{self.serial:03d}"
                meta = rs["spec"]["template"].get("metadata") or {}
                self.pods[pod_name] = {
                    "metadata": {
                        "name": pod_name,
                        "labels": dict(meta.get("labels") or {}),
                        "annotations": dict(meta.get("annotations") or {}),
                        "ownerReferences": [
                            {"kind": "ReplicaSet", "name": name, "uid": uid, "controller": True}
                        ],
                    }
                }
                mine.append(pod_name)

    def pods_of(self, pod_hash: str) -> dict[str, dict[str, Any]]:
        """The pods of the ReplicaSet of ``pod_hash`` by name: ``{"labels", "annotations"}``."""
        return {
            name: {"labels": pod["metadata"]["labels"], "annotations": pod["metadata"]["annotations"]}
            for name, pod in self.pods.items()
            if pod["metadata"]["labels"].get(POD_TEMPLATE_HASH_LABEL) == pod_hash
        }

    def template_meta(self, pod_hash: str) -> dict[str, Any]:
        rs = next(
            r for r in self.rss.values() if r["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] == pod_hash
        )
        return dict(rs["spec"]["template"].get("metadata") or {})

    def recorded(self, pod_hash: str) -> Any:
        rs = next(
            r for r in self.rss.values() if r["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] == pod_hash
        )
        raw = (rs["metadata"].get("annotations") or {}).get(EPHEMERAL_METADATA_ANNOTATION)
        return None if raw is None else json.loads(raw)


@dataclass
class CanaryPods(PodsMixin, World):
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    pod_patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    serial: int = 0


@dataclass
class BlueGreenPods(PodsMixin, BlueGreenWorld):
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    pod_patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    serial: int = 0


def role(pods: dict[str, dict[str, Any]]) -> set[str | None]:
    return {pod["labels"].get("role") for pod in pods.values()}


def canary_world(**canary: Any) -> CanaryPods:
    rollout = seed_rollout(canaryMetadata=CANARY_META, stableMetadata=STABLE_META, **canary)
    world = CanaryPods(rollout)
    world.reconcile()
    return world


def bluegreen_world(**blue_green: Any) -> BlueGreenPods:
    rollout = bg_rollout(previewMetadata=PREVIEW_META, activeMetadata=ACTIVE_META, **blue_green)
    world = BlueGreenPods(rollout, services={ACTIVE: service(ACTIVE), PREVIEW: service(PREVIEW)})
    world.reconcile()
    return world


# --- canary ------------------------------------------------------------------------------------


def test_the_first_replica_set_and_its_pods_get_the_stable_metadata() -> None:
    world = canary_world()
    blue = hash_of("demo:blue")
    pods = world.pods_of(blue)
    assert len(pods) == 2
    for pod in pods.values():
        assert pod["labels"] == {"app": "frontend", POD_TEMPLATE_HASH_LABEL: blue, "role": "stable"}
        assert pod["annotations"] == {"stage": "serving"}
    assert world.recorded(blue) == STABLE_META
    # the metadata is not part of the pod-template hash: the ReplicaSet is named after the Rollout's
    assert f"frontend-{blue}" in world.rss


def test_a_canary_replica_set_is_created_with_the_canary_metadata_and_the_stable_pods_keep_theirs() -> None:
    world = canary_world()
    blue, green = hash_of("demo:blue"), hash_of("demo:green")
    world.set_image("demo:green")
    plans = world.reconcile()
    created = next(rs for plan in plans for rs in plan.create_replica_sets)
    assert created["metadata"]["name"] == f"frontend-{green}"
    assert created["spec"]["template"]["metadata"]["labels"] == {
        "app": "frontend",
        POD_TEMPLATE_HASH_LABEL: green,
        "role": "canary",
        "track": "canary",
    }
    assert created["spec"]["template"]["metadata"]["annotations"] == {"stage": "trying"}
    assert EPHEMERAL_METADATA_ANNOTATION not in created["metadata"]["labels"]
    assert json.loads(created["metadata"]["annotations"][EPHEMERAL_METADATA_ANNOTATION]) == CANARY_META
    # paused at 50%: one canary pod, one stable pod, each with its role
    assert world.status["phase"] == "Paused"
    assert role(world.pods_of(green)) == {"canary"} and role(world.pods_of(blue)) == {"stable"}
    assert all(p["annotations"] == {"stage": "trying"} for p in world.pods_of(green).values())
    assert world.pod_patches == []  # nothing had to be patched: each pod was born with its role


def test_promotion_swaps_canary_metadata_for_stable_metadata_on_the_template_and_the_live_pods() -> None:
    world = canary_world()
    blue, green = hash_of("demo:blue"), hash_of("demo:green")
    world.set_image("demo:green")
    world.reconcile()
    canary_pod = next(iter(world.pods_of(green)))
    world.patch_status({"pauseConditions": None})
    world.reconcile()
    world.now += timedelta(minutes=3)
    world.reconcile()
    assert world.status["stableRS"] == green
    pods = world.pods_of(green)
    assert canary_pod in pods  # the same pod, relabelled in place
    for pod in pods.values():
        assert pod["labels"] == {"app": "frontend", POD_TEMPLATE_HASH_LABEL: green, "role": "stable"}
        assert pod["annotations"] == {"stage": "serving"}
    assert world.template_meta(green) == {
        "labels": {"app": "frontend", POD_TEMPLATE_HASH_LABEL: green, "role": "stable"},
        "annotations": {"stage": "serving"},
    }
    assert world.recorded(green) == STABLE_META
    # the canary pod's patch sets the stable values and removes the canary-only keys
    patches = dict(world.pod_patches)
    assert patches[canary_pod] == {
        "metadata": {
            "labels": {"role": "stable", "track": None},
            "annotations": {"stage": "serving"},
        }
    }
    # the old stable ReplicaSet (now scaled down) no longer carries the injected metadata
    assert world.template_meta(blue)["labels"] == {"app": "frontend", POD_TEMPLATE_HASH_LABEL: blue}
    assert world.recorded(blue) is None
    # and the pod-template hash never moved: still the Rollout template's, naming the ReplicaSet
    assert world.status["currentPodHash"] == green
    assert set(world.rss) == {f"frontend-{blue}", f"frontend-{green}"}


def test_a_pod_left_with_the_old_role_is_relabelled_on_a_later_reconcile() -> None:
    """An earlier reconcile updated the ReplicaSet but did not reach one pod (a crash, a failed
    patch): the pod still gets the stable metadata and loses the canary keys."""
    world = canary_world()
    green = hash_of("demo:green")
    world.set_image("demo:green")
    world.reconcile()
    world.patch_status({"promoteFull": True})
    world.reconcile()
    assert world.status["stableRS"] == green
    name = next(iter(world.pods_of(green)))
    world.pods[name]["metadata"]["labels"].update(role="canary", track="canary")  # as if never patched
    plan = world.plan()
    assert dict(plan.patch_pods)[name] == {"metadata": {"labels": {"role": "stable", "track": None}}}
    world.apply(plan)
    assert world.plan().patch_pods == ()


def test_only_one_role_configured_touches_only_its_keys() -> None:
    world = CanaryPods(seed_rollout(canaryMetadata={"labels": {"canary": "true"}}))
    world.reconcile()
    blue = hash_of("demo:blue")
    assert world.recorded(blue) is None  # no stableMetadata: nothing injected, nothing recorded
    world.set_image("demo:green")
    world.reconcile()
    green = hash_of("demo:green")
    assert {p["labels"].get("canary") for p in world.pods_of(green).values()} == {"true"}
    world.patch_status({"promoteFull": True})
    world.reconcile()
    assert all("canary" not in p["labels"] for p in world.pods_of(green).values())
    assert world.recorded(green) is None


def test_no_ephemeral_metadata_means_no_pod_work_at_all() -> None:
    world = CanaryPods(seed_rollout())
    world.reconcile()
    world.set_image("demo:green")
    plans = world.reconcile()
    assert all(plan.patch_pods == () for plan in plans)
    assert all(
        EPHEMERAL_METADATA_ANNOTATION not in (rs["metadata"].get("annotations") or {})
        for rs in world.rss.values()
    )


# --- blue-green -------------------------------------------------------------------------------


def test_blue_green_preview_pods_carry_the_preview_metadata_until_promotion_then_the_active() -> None:
    world = bluegreen_world(autoPromotionEnabled=False)
    blue, green = bg_hash_of("demo:blue"), bg_hash_of("demo:green")
    assert role(world.pods_of(blue)) == {"active"}
    assert all(p["annotations"] == {"serving": "yes"} for p in world.pods_of(blue).values())
    world.set_image("demo:green")
    world.reconcile()
    assert world.status["phase"] == "Paused"
    assert world.selected(PREVIEW) == green and world.selected(ACTIVE) == blue
    assert role(world.pods_of(green)) == {"preview"} and role(world.pods_of(blue)) == {"active"}
    assert all(p["annotations"] == {} for p in world.pods_of(green).values())
    preview_pods = set(world.pods_of(green))
    world.patch_status({"pauseConditions": None})  # promote
    world.reconcile()
    assert world.status["stableRS"] == green and world.selected(ACTIVE) == green
    assert set(world.pods_of(green)) == preview_pods  # relabelled in place, not replaced
    for pod in world.pods_of(green).values():
        assert pod["labels"]["role"] == "active" and pod["annotations"] == {"serving": "yes"}
    assert world.template_meta(green)["labels"]["role"] == "active"
    assert world.recorded(green) == ACTIVE_META
    # the previous active ReplicaSet's template loses the active metadata (Argo leaves its
    # remaining pods alone: they go with the scale-down)
    assert "role" not in world.template_meta(blue)["labels"]
    assert world.recorded(blue) is None


def test_blue_green_hash_is_unchanged_by_ephemeral_metadata() -> None:
    world = bluegreen_world()
    plain = BlueGreenPods(bg_rollout(), services={ACTIVE: service(ACTIVE), PREVIEW: service(PREVIEW)})
    plain.reconcile()
    assert world.status["currentPodHash"] == plain.status["currentPodHash"] == bg_hash_of("demo:blue")
    assert set(world.rss) == set(plain.rss)


def test_the_stable_template_without_injected_metadata_is_the_rollouts_for_an_undo() -> None:
    """Copying the stable ReplicaSet's template back (``undo``) must not carry its role labels:
    :func:`uninjected_template` gives the Rollout's template, so the undo is a fast rollback to
    the stable ReplicaSet instead of a new revision with ``role: stable`` baked in."""
    world = canary_world(antiAffinity={"requiredDuringSchedulingIgnoredDuringExecution": {}})
    blue = hash_of("demo:blue")
    original = copy.deepcopy(world.rollout["spec"]["template"])
    world.set_image("demo:green")
    world.reconcile()
    stable_rs = world.rss[f"frontend-{blue}"]
    assert stable_rs["spec"]["template"]["metadata"]["labels"]["role"] == "stable"
    template = uninjected_template(stable_rs, world.rollout)
    del template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL]  # as undo drops the hash label
    assert template == original
    world.rollout["spec"]["template"] = template
    world.rollout["metadata"]["generation"] += 1
    plans = world.reconcile()
    assert all(plan.create_replica_sets == () for plan in plans)
    assert any(reason == "SkipSteps" for plan in plans for _, reason, _ in plan.events)
    assert world.status["currentPodHash"] == world.status["stableRS"] == blue
    assert role(world.pods_of(blue)) == {"stable"}
