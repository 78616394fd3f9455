"""``antiAffinity`` in both planners (and the ``RolloutUpdated`` event canaries now record).

A new ReplicaSet gets a pod anti-affinity term against the stable ReplicaSet's hash, required or
preferred with the weight; the term never changes the pod-template hash; as in Argo Rollouts it
stays on the ReplicaSet once that becomes stable (it then names a hash whose pods are gone) and is
generated again when the controller next updates that ReplicaSet, or when an undo brings back a
ReplicaSet whose term names an older stable hash; an invalid ``antiAffinity`` is ``InvalidSpec``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.core import conditions as c
from controller.core.antiaffinity import remove_injected, replica_set_affinity
from controller.core.bluegreen import plan_bluegreen
from controller.core.canary import plan_canary
from controller.core.ephemeral import EPHEMERAL_METADATA_ANNOTATION
from controller.core.hashing import POD_TEMPLATE_HASH_LABEL
from controller.core.revisions import find_new_replica_set
from controller.core.snapshot import Snapshot, new_replica_set
from tests.unit.test_core_bluegreen import ACTIVE, PREVIEW, BlueGreenWorld, bg_rollout, service
from tests.unit.test_core_bluegreen import hash_of as bg_hash_of
from tests.unit.test_core_canary import World, hash_of, seed_rollout

REQUIRED: dict[str, Any] = {"requiredDuringSchedulingIgnoredDuringExecution": {}}
PREFERRED = {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 40}}
NODE_AFFINITY = {
    "requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]
    }
}


def term(stable: str) -> dict[str, Any]:
    return {
        "labelSelector": {
            "matchExpressions": [{"key": POD_TEMPLATE_HASH_LABEL, "operator": "In", "values": [stable]}]
        },
        "namespaces": ["demo"],
        "topologyKey": "kubernetes.io/hostname",
    }


def affinity_of(world: World, pod_hash: str) -> Any:
    rs = world.rss[f"{world.rollout['metadata']['name']}-{pod_hash}"]
    return rs["spec"]["template"]["spec"].get("affinity")


def updated_canary(anti: dict[str, Any], image: str = "demo:green") -> World:
    world = World(seed_rollout(antiAffinity=anti))
    world.reconcile()
    world.set_image(image)
    world.reconcile()
    return world


def promote(world: World) -> None:
    world.patch_status({"promoteFull": True})
    world.reconcile()


# --- injection ---------------------------------------------------------------------------------


def test_the_first_replica_set_has_no_anti_affinity_there_is_nothing_stable_to_avoid() -> None:
    world = World(seed_rollout(antiAffinity=REQUIRED))
    world.reconcile()
    assert affinity_of(world, hash_of("demo:blue")) is None


def test_a_new_canary_replica_set_must_avoid_the_stable_pods_nodes() -> None:
    world = updated_canary(REQUIRED)
    blue, green = hash_of("demo:blue"), hash_of("demo:green")
    assert affinity_of(world, green) == {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(blue)]}
    }
    # the term is no part of the hash: the ReplicaSet is named after the Rollout template's hash
    assert world.status["currentPodHash"] == green
    assert world.rollout["spec"]["template"]["spec"].get("affinity") is None  # the Rollout is untouched


def test_preferred_anti_affinity_is_added_after_the_templates_own_rules_with_its_weight() -> None:
    own_pref = {
        "weight": 5,
        "podAffinityTerm": {"topologyKey": "zone", "labelSelector": {"matchLabels": {"a": "b"}}},
    }
    rollout = seed_rollout(antiAffinity=PREFERRED)
    rollout["spec"]["template"]["spec"]["affinity"] = {
        "nodeAffinity": NODE_AFFINITY,
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [own_pref]},
    }
    world = World(rollout)
    world.reconcile()
    blue = world.status["currentPodHash"]
    world.set_image("demo:green")
    world.reconcile()
    green = world.status["currentPodHash"]
    assert affinity_of(world, blue) == rollout["spec"]["template"]["spec"]["affinity"]
    assert affinity_of(world, green) == {
        "nodeAffinity": NODE_AFFINITY,
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                own_pref,
                {"weight": 40, "podAffinityTerm": term(blue)},
            ]
        },
    }


def test_a_new_blue_green_replica_set_avoids_the_active_pods_nodes() -> None:
    world = BlueGreenWorld(
        bg_rollout(antiAffinity=PREFERRED, autoPromotionEnabled=False),
        services={ACTIVE: service(ACTIVE), PREVIEW: service(PREVIEW)},
    )
    world.reconcile()
    blue, green = bg_hash_of("demo:blue"), bg_hash_of("demo:green")
    assert world.rss[f"web-{blue}"]["spec"]["template"]["spec"].get("affinity") is None
    world.set_image("demo:green")
    world.reconcile()
    assert world.status["currentPodHash"] == green
    assert world.rss[f"web-{green}"]["spec"]["template"]["spec"]["affinity"] == {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 40, "podAffinityTerm": term(blue)}]
        }
    }


# --- after completion ---------------------------------------------------------------------------


def test_completion_leaves_the_term_until_the_replica_set_is_next_updated_as_argo_does() -> None:
    world = updated_canary(REQUIRED)
    blue, green = hash_of("demo:blue"), hash_of("demo:green")
    promote(world)
    assert world.status["stableRS"] == green
    # promotion alone does not rewrite the (now stable) ReplicaSet's template
    assert affinity_of(world, green) == {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(blue)]}
    }
    assert world.plan().update_replica_sets == ()
    # the next update of that ReplicaSet generates its affinity again: no term, it is stable now
    world.rollout["spec"]["minReadySeconds"] = 3
    world.rollout["metadata"]["generation"] += 1
    plan = world.plan()
    assert dict(plan.update_replica_sets)[f"frontend-{green}"] == {
        "spec": {"minReadySeconds": 3, "template": {"spec": {"affinity": None}}}
    }
    world.apply(plan)
    assert affinity_of(world, green) is None
    assert world.status["currentPodHash"] == green  # the hash did not move with the template


def test_an_undo_points_the_old_replica_sets_term_at_the_current_stable_hash() -> None:
    world = updated_canary(REQUIRED)  # green avoids blue
    promote(world)
    world.set_image("demo:yellow")  # yellow avoids green
    world.reconcile()
    promote(world)
    blue, green, yellow = hash_of("demo:blue"), hash_of("demo:green"), hash_of("demo:yellow")
    assert world.status["stableRS"] == yellow
    world.set_image("demo:green")  # undo: green's ReplicaSet comes back, its term names blue
    plan = world.plan()
    patch = dict(plan.update_replica_sets)[f"frontend-{green}"]
    assert patch["metadata"] == {"annotations": {"rollout.argoproj.io/revision": "4"}}
    assert patch["spec"]["template"]["spec"]["affinity"] == {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(yellow)]}
    }
    assert plan.create_replica_sets == ()  # the old ReplicaSet is reused, not a new one made
    assert blue != yellow


# --- finding the new ReplicaSet by its template ---------------------------------------------------


def test_a_replica_set_with_injected_metadata_and_term_still_matches_the_rollout_template() -> None:
    """When the hash label does not match (another hashing, an adopted ReplicaSet), the template
    comparison ignores what the controller injected, as Argo's ``FindNewReplicaSet`` does."""
    rollout = seed_rollout(antiAffinity=REQUIRED)
    rollout["status"] = {"stableRS": "older"}
    rs = new_replica_set(rollout, "otherhash", 2)
    rs["spec"]["template"]["spec"]["affinity"] = replica_set_affinity(rollout, "otherhash")
    rs["spec"]["template"]["metadata"]["labels"]["role"] = "canary"
    rs["metadata"]["annotations"][EPHEMERAL_METADATA_ANNOTATION] = '{"labels":{"role":"canary"}}'
    assert (
        find_new_replica_set({"frontend-otherhash": rs}, hash_of("demo:blue"), rollout)
        == "frontend-otherhash"
    )
    rs["spec"]["template"]["metadata"]["labels"]["extra"] = "x"  # a real difference still counts
    assert find_new_replica_set({"frontend-otherhash": rs}, hash_of("demo:blue"), rollout) is None


def test_removing_the_injected_term_keeps_the_templates_own_rules() -> None:
    rollout = seed_rollout(antiAffinity=REQUIRED)
    rollout["status"] = {"stableRS": "abc"}
    own = {"labelSelector": {"matchLabels": {"tier": "db"}}, "topologyKey": "zone"}
    rollout["spec"]["template"]["spec"]["affinity"] = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [own]}
    }
    injected = replica_set_affinity(rollout, "new")
    assert injected == {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [own, term("abc")]}
    }
    assert remove_injected(injected, rollout) == rollout["spec"]["template"]["spec"]["affinity"]
    # with no rules of its own the template's affinity goes altogether
    del rollout["spec"]["template"]["spec"]["affinity"]
    only_injected = replica_set_affinity(rollout, "new")
    assert only_injected == {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("abc")]}
    }
    assert remove_injected(only_injected, rollout) is None


# --- validation ---------------------------------------------------------------------------------

INVALID = [
    ({}, "AntiAffinity must have exactly one strategy listed"),
    ({**REQUIRED, **PREFERRED}, "AntiAffinity must have exactly one strategy listed"),
    (
        {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 0}},
        "AntiAffinity weight must be between 1-100",
    ),
    (
        {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 101}},
        "AntiAffinity weight must be between 1-100",
    ),
]


@pytest.mark.parametrize(("anti", "message"), INVALID)
@pytest.mark.parametrize("strategy", ["canary", "blueGreen"])
def test_an_invalid_anti_affinity_is_invalid_spec_and_creates_nothing(
    anti: dict[str, Any], message: str, strategy: str
) -> None:
    if strategy == "canary":
        plan = plan_canary(Snapshot(rollout=seed_rollout(antiAffinity=anti)))
    else:
        rollout = bg_rollout(antiAffinity=anti)
        plan = plan_bluegreen(
            Snapshot(rollout=rollout, active_service=service(ACTIVE), preview_service=service(PREVIEW))
        )
    assert plan.create_replica_sets == () and plan.scale == ()
    assert plan.status_patch is not None
    status = plan.status_patch["status"]
    invalid = c.get_condition(status["conditions"], c.INVALID_SPEC)
    assert invalid is not None and message in invalid["message"], invalid
    assert status["phase"] == "Degraded"
    assert any(reason == c.INVALID_SPEC_REASON and message in text for _, reason, text in plan.events)


# --- RolloutUpdated ------------------------------------------------------------------------------


def test_a_canary_records_rollout_updated_once_per_new_revision_as_blue_green_does() -> None:
    world = World(seed_rollout())
    first = world.reconcile()
    world.set_image("demo:green")
    second = world.reconcile()
    world.now += timedelta(seconds=1)

    def updated(plans: list[Any]) -> list[str]:
        return [msg for plan in plans for _, reason, msg in plan.events if reason == c.ROLLOUT_UPDATED_REASON]

    assert updated(first) == ["Rollout updated to revision 1"]
    assert updated(second) == ["Rollout updated to revision 2"]
    assert world.rollout["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "2"
