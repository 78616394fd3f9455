"""Canary and blue-green replica arithmetic, checked against Argo Rollouts' own test tables.

Case names in quotes are the ``name`` fields (or function names) of Argo's Go tests in
``utils/replicaset/canary_test.go`` and ``utils/replicaset/replicaset_test.go``, so a failure
points at the Argo case it disagrees with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.replicas import (
    _RS,
    CanaryCounts,
    TrafficWeights,
    _scale_down_basis,
    approximate_weighted_counts,
    at_desired_canary_counts,
    basic_canary_counts,
    canary_counts_for_rollout,
    canary_replicas_or_weight,
    current_step,
    desired_weight,
    max_surge_value,
    max_unavailable_value,
    new_rs_new_replicas,
    resolve_fenceposts,
    resolve_int_or_percent,
    traffic_routed_canary_counts,
    weight_to_replicas,
)

# --- raw objects shaped like Argo's test fixtures (newRollout / newRS in canary_test.go) ------


def rollout(
    replicas: int | None,
    set_weight: int,
    max_surge: Any = 0,
    max_unavailable: Any = 0,
    *,
    current: str = "canary",
    stable: str = "stable",
    set_canary_scale: dict[str, Any] | None = None,
    routed: bool = False,
    **status: Any,
) -> dict[str, Any]:
    """A canary Rollout with one step, like Argo's ``newRollout`` helper."""
    step: dict[str, Any] = {"setWeight": set_weight}
    if set_canary_scale is not None:
        step["setCanaryScale"] = set_canary_scale
    canary: dict[str, Any] = {"maxSurge": max_surge, "maxUnavailable": max_unavailable, "steps": [step]}
    if routed:
        canary["trafficRouting"] = {}
    return {
        "metadata": {"name": "ro", "generation": 1},
        "spec": {"replicas": replicas, "strategy": {"canary": canary}},
        "status": {"stableRS": stable, "currentPodHash": current, **status},
    }


def rs(
    name: str, spec: int, available: int, created: int | None = None, pod_hash: str | None = None
) -> dict[str, Any]:
    """A ReplicaSet named and labelled ``name``, like Argo's ``newRS``."""
    status: dict[str, Any] = {"availableReplicas": available}
    if created is not None:
        status["replicas"] = created
    return {
        "metadata": {
            "name": name,
            "labels": {"rollouts-pod-template-hash": name if pod_hash is None else pod_hash},
        },
        "spec": {"replicas": spec},
        "status": status,
    }


# --- int-or-percent and fenceposts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        (5, 10, True, 5),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("25", 10, True, 3),  # Argo's default is the string "25": still a percentage
        ("0%", 10, True, 0),
        ("100%", 7, False, 7),
        ("33%", 3, True, 1),
        ("33%", 3, False, 0),
        (None, 4, True, 1),  # the default ("25") applies
        (None, 4, False, 1),
    ],
)
def test_resolve_int_or_percent(value: Any, total: int, round_up: bool, expected: int) -> None:
    assert resolve_int_or_percent(value, total, round_up=round_up, default="25") == expected


@pytest.mark.parametrize("bad", ["oops", "2.5%", " 5%", "", "%"])
def test_resolve_int_or_percent_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid int-or-percent"):
        resolve_int_or_percent(bad, 10, round_up=True, default="25")


# TestResolveFenceposts. Argo passes nil straight to resolveFenceposts, where nil means 0 (the
# 25% defaults are applied one level up, by GetMaxSurgeOrDefault), so nil is written as 0 here.
@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("0%", "0%", 0, (0, 1)),
        ("39%", "39%", 10, (4, 3)),
        ("oops", "39%", 10, (0, 0)),
        ("55%", "urg", 10, (0, 0)),
        (0, "39%", 10, (0, 3)),
        ("39%", 0, 10, (4, 0)),
        (0, 0, 10, (0, 1)),
    ],
)
def test_resolve_fenceposts(surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(replicas=desired, max_surge=surge, max_unavailable=unavailable) == expected


@pytest.mark.parametrize(
    ("name", "replicas", "surge", "expected"),
    [("maxSurge with int", 10, 5, 5), ("maxSurge with percents", 10, "50%", 5)],
)
def test_max_surge(name: str, replicas: int, surge: Any, expected: int) -> None:
    """TestMaxSurge (maxUnavailable is 1 throughout)."""
    assert max_surge_value(replicas=replicas, max_surge=surge, max_unavailable=1) == expected


@pytest.mark.parametrize(
    ("name", "replicas", "unavailable", "expected"),
    [
        ("maxUnavailable less than replicas", 10, 5, 5),
        ("maxUnavailable equal replicas", 10, 10, 10),
        ("maxUnavailable greater than replicas", 5, 10, 5),
        ("maxUnavailable with replicas is 0", 0, 10, 0),
        ("maxUnavailable less than replicas with percents", 10, "50%", 5),
        ("maxUnavailable equal replicas with percents", 10, "100%", 10),
        ("maxUnavailable greater than replicas with percents", 5, "100%", 5),
    ],
)
def test_max_unavailable(name: str, replicas: int, unavailable: Any, expected: int) -> None:
    """TestMaxUnavailable (maxSurge is 1 throughout)."""
    assert max_unavailable_value(replicas=replicas, max_surge=1, max_unavailable=unavailable) == expected


def test_max_unavailable_blue_green_defaults() -> None:
    """TestMaxUnavailable "maxUnavailable with BlueGreen deployment strategy": 1 replica, 25%."""
    assert max_unavailable_value(replicas=1, max_surge=None, max_unavailable=None, blue_green=True) == 0
    assert max_unavailable_value(replicas=8, max_surge=None, max_unavailable=None, blue_green=True) == 2


# --- TestApproximateWeightedNewStableReplicaCounts (every row) --------------------------------

APPROXIMATE = [
    # replicas, weight, maxSurge, canary, stable
    (0, 0, 0, 0, 0), (0, 50, 0, 0, 0), (0, 100, 0, 0, 0),
    (0, 0, 1, 0, 0), (0, 50, 1, 0, 0), (0, 100, 1, 0, 0),
    (1, 0, 0, 0, 1), (1, 1, 0, 0, 1), (1, 49, 0, 0, 1), (1, 50, 0, 1, 0), (1, 99, 0, 1, 0), (1, 100, 0, 1, 0),
    (1, 0, 1, 0, 1), (1, 1, 1, 1, 1), (1, 49, 1, 1, 1), (1, 50, 1, 1, 1), (1, 99, 1, 1, 1), (1, 100, 1, 1, 0),
    (2, 0, 0, 0, 2), (2, 1, 0, 1, 1), (2, 50, 0, 1, 1), (2, 99, 0, 1, 1), (2, 100, 0, 2, 0),
    (2, 0, 1, 0, 2), (2, 1, 1, 1, 2), (2, 50, 1, 1, 1), (2, 99, 1, 2, 1), (2, 100, 1, 2, 0),
    (3, 10, 0, 1, 2), (3, 25, 0, 1, 2), (3, 33, 0, 1, 2), (3, 34, 0, 1, 2), (3, 49, 0, 1, 2), (3, 50, 0, 2, 1),
    (3, 10, 1, 1, 3), (3, 25, 1, 1, 3), (3, 33, 1, 1, 2), (3, 34, 1, 1, 2), (3, 49, 1, 2, 2), (3, 50, 1, 2, 2),
    (10, 0, 1, 0, 10), (10, 1, 0, 1, 9), (10, 14, 0, 1, 9), (10, 15, 0, 2, 8), (10, 16, 0, 2, 8),
    (10, 99, 0, 9, 1), (10, 100, 1, 10, 0),
    (10, 0, 1, 0, 10), (10, 1, 1, 1, 10), (10, 18, 1, 2, 9), (10, 19, 1, 2, 9), (10, 20, 1, 2, 8),
    (10, 23, 1, 2, 8), (10, 24, 1, 3, 8), (10, 25, 1, 3, 8), (10, 99, 1, 10, 1), (10, 100, 1, 10, 0),
]  # fmt: skip


@pytest.mark.parametrize(("replicas", "weight", "surge", "canary", "stable"), APPROXIMATE)
def test_approximate_weighted_counts(
    replicas: int, weight: int, surge: int, canary: int, stable: int
) -> None:
    assert approximate_weighted_counts(replicas, weight, surge) == CanaryCounts(canary, stable)


# --- TestCalculateReplicaCountsForCanary (every case) -----------------------------------------


@dataclass(frozen=True)
class Case:
    """One row of Argo's table: the rollout, the two ReplicaSets and the expected targets."""

    name: str
    replicas: int
    weight: int
    surge: Any
    unavailable: Any
    stable: tuple[int, int]  # spec, available
    canary: tuple[int, int]
    expect_stable: int
    expect_canary: int
    older: tuple[int, int] | None = None
    status: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, Any] | None = None
    routed: bool = False
    canary_extra: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("Do not add extra RSs in scaleDownCount when .Spec.Replica < AvailableReplicas",
         10, 100, 3, 0, (7, 8), (6, 3), 7, 6),
    Case("Use max surge int to scale up canary", 10, 20, 2, 0, (10, 10), (0, 0), 10, 2),
    Case("Use max surge percentage to scale up canary", 10, 20, "20%", 0, (10, 10), (0, 0), 10, 2),
    Case("Scale down extra stable replicas", 10, 20, "20%", 0, (10, 10), (2, 2), 8, 2),
    Case("Do not go past max surge", 10, 30, 2, 0, (10, 10), (0, 0), 10, 2),
    Case("Use max unavailable int to scale down stableRS", 10, 20, 0, 2, (10, 10), (0, 0), 8, 0),
    Case("Use max surge percentage to scale down stableRS", 10, 20, 0, "20%", (10, 10), (0, 0), 8, 0),
    Case("Do not go past max unavailable", 10, 30, 0, 2, (10, 10), (0, 0), 8, 0),
    Case("Use Max Surge and Max Unavailable", 10, 50, 2, 1, (10, 10), (0, 0), 9, 2),
    Case("Scale canaryRS to zero on setWeight of 0%", 10, 0, 1, 1, (10, 10), (1, 1), 10, 0),
    Case("Scale stable to zero on setWeight of 100%", 10, 100, 1, 1, (1, 1), (10, 10), 0, 10),
    Case("Do not scale newRS down to zero on non-zero weight", 1, 20, 1, 0, (1, 1), (0, 0), 1, 1),
    Case("Do not scale canaryRS down to zero on non-100 weight", 1, 90, 1, 0, (1, 1), (0, 0), 1, 1),
    Case("Scale up Stable before newRS", 10, 30, 1, 0, (1, 1), (0, 0), 7, 1, older=(3, 3)),
    Case("Scale down newRS and stable", 10, 30, 0, 3, (8, 5), (4, 4), 7, 3),
    Case("Scale down stable and canary available", 10, 100, 1, 0, (10, 2), (10, 8), 2, 9),
    Case("Do not scale down newRS or stable when older RS count >= scaleDownCount",
         10, 30, 0, 1, (8, 6), (4, 2), 8, 4, older=(3, 3)),
    Case("Do not round past maxSurge with uneven setWeight divisor", 10, 5, 0, 1, (10, 10), (0, 0), 9, 0),
    Case("Do not round past maxSurge with uneven setWeight divisor (part 2)",
         10, 5, 0, 1, (9, 9), (0, 0), 9, 1),
    Case("Use maxUnavailable of 1 when percentage of maxUnavailable and maxSurge result in 0 replicas",
         10, 10, "0%", "0%", (10, 10), (0, 0), 9, 0),
    Case("For canary replicas, use setCanaryScale.replicas when specified along with trafficRouting "
         "(and ignore setWeight)", 1, 100, 0, 0, (1, 1), (0, 0), 1, 9, scale={"replicas": 9}, routed=True),
    Case("Use setCanaryScale.weight for canary replicas when specified with trafficRouting (and ignore setWeight)",
         4, 100, 0, 0, (4, 4), (0, 0), 4, 8, scale={"weight": 200}, routed=True),
    Case("Ignore setCanaryScale replicas/weight when matchTrafficWeight is true", 10, 20, "20%", 0,
         (10, 10), (0, 0), 10, 2, scale={"replicas": 9, "weight": 100, "matchTrafficWeight": True}, routed=True),
    Case("Ignore setCanaryScale when trafficRouting is missing and use setWeight for replicas", 10, 20, "20%", 0,
         (10, 10), (0, 0), 10, 2, scale={"replicas": 9, "weight": 100}),
    Case("honor maxSurge during scale up when stableRS unavailable", 4, 100, 1, 0, (4, 1), (0, 0), 4, 1),
    Case("scale down to maxunavailable without exceeding maxSurge", 3, 99, 0, 2, (3, 3), (0, 0), 1, 0),
    Case("scale down to maxunavailable without exceeding maxSurge (part 2)", 3, 99, 0, 2, (1, 1), (0, 0), 1, 2),
    Case("honor maxUnavailable during scale down stableRS unavailable", 4, 100, 1, 0, (4, 1), (1, 1), 3, 1),
    Case("honor maxUnavailable when aborting or reducing weight part 1", 4, 0, 1, 0, (0, 0), (4, 4), 1, 4),
    Case("honor maxUnavailable when aborting or reducing weight part 2", 4, 0, 1, 0, (1, 0), (4, 4), 1, 4),
    Case("honor maxUnavailable when aborting or reducing weight part 3", 4, 0, 1, 0, (1, 1), (4, 4), 1, 3),
    Case("promote full does not consider weight", 4, 1, 4, 4, (4, 4), (0, 0), 0, 4, status={"promoteFull": True}),
    Case("promote full still honors maxSurge/maxUnavailable", 4, 1, 3, 0, (4, 4), (0, 0), 4, 3,
         status={"promoteFull": True}),
    Case("aborted with abortScaleDownDelaySeconds:0 and setCanaryScale", 1, 0, 0, 0, (1, 1), (1, 1), 1, 1,
         status={"abort": True}, scale={"replicas": 1}, routed=True,
         canary_extra={"abortScaleDownDelaySeconds": 0}),
    Case("aborted with abortScaleDownDelaySeconds>0 and setCanaryScale", 1, 0, 0, 0, (1, 1), (1, 1), 1, 0,
         status={"abort": True}, scale={"replicas": 1}, routed=True,
         canary_extra={"abortScaleDownDelaySeconds": 30}),
    Case("Honor MinPodsPerReplicaSet when using trafficRouting and starting canary", 10, 5, 0, 0,
         (10, 10), (0, 0), 10, 2, routed=True, canary_extra={"minPodsPerReplicaSet": 2}),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_calculate_replica_counts_for_canary(case: Case) -> None:
    ro = rollout(
        case.replicas,
        case.weight,
        case.surge,
        case.unavailable,
        set_canary_scale=case.scale,
        routed=case.routed,
        **case.status,
    )
    ro["spec"]["strategy"]["canary"].update(case.canary_extra)
    stable_rs = rs("stable", *case.stable)
    canary_rs = rs("canary", *case.canary)
    older = [rs("older", *case.older)] if case.older else []
    counts = canary_counts_for_rollout(ro, canary_rs, stable_rs, older)
    assert counts == CanaryCounts(canary=case.expect_canary, stable=case.expect_stable)


# The examples in the doc comment above CalculateReplicaCountsForBasicCanary. All but one still
# hold; "replicas 10 currentWeight 5 ... should return newRS 1 stableRS 9" predates the
# weight approximation: the code now keeps all 10 stable pods (1 of 11 is closer to 5% than
# 1 of 10), and the code is what we follow.
@pytest.mark.parametrize(
    ("replicas", "weight", "unavailable", "surge", "canary", "stable"),
    [(10, 10, 1, 1, 1, 9), (10, 30, 0, 3, 3, 10), (10, 30, 5, 0, 0, 7), (10, 5, 1, 1, 1, 10),
     (1, 5, 0, 1, 1, 1), (1, 95, 0, 1, 1, 1)],
)  # fmt: skip
def test_doc_comment_examples(
    replicas: int, weight: int, unavailable: int, surge: int, canary: int, stable: int
) -> None:
    counts = basic_canary_counts(
        replicas=replicas, set_weight=weight, max_surge=surge, max_unavailable=unavailable,
        canary_rs_replicas=0, canary_available=0, stable_rs_replicas=replicas, stable_available=replicas,
    )  # fmt: skip
    assert counts == CanaryCounts(canary, stable)


def test_new_deployment_goes_straight_to_full() -> None:
    """TestCalculateReplicaCountsForNewDeployment: new and stable are the same ReplicaSet."""
    ro = rollout(10, 10, 0, 1)
    counts = canary_counts_for_rollout(ro, rs("stable", 10, 0), rs("stable", 10, 0), [])
    assert counts == CanaryCounts(canary=10, stable=0)


def test_stable_rs_edge_cases() -> None:
    """TestCalculateReplicaCountsForCanaryStableRSdEdgeCases: no stable, or stable is new."""
    ro = rollout(10, 10, 0, 1, current="", stable="")
    new = rs("stable", 9, 9)
    assert canary_counts_for_rollout(ro, new, None, []) == CanaryCounts(10, 0)
    assert canary_counts_for_rollout(ro, new, new, []) == CanaryCounts(10, 0)


def test_scale_down_of_fully_promoted_rollout_counts_the_rs_twice() -> None:
    """When stable *is* the new ReplicaSet, Argo passes it as both, and its scale-down
    accounting sees it twice; this reproduces that result rather than an idealised one."""
    common: dict[str, Any] = {"replicas": 5, "set_weight": 100, "max_surge": 0, "max_unavailable": 1}
    same = basic_canary_counts(
        **common,
        canary_rs_replicas=10,
        canary_available=2,
        stable_rs_replicas=None,
        stable_available=0,
        stable_is_canary=True,
    )
    assert same == CanaryCounts(canary=3, stable=2)
    absent = basic_canary_counts(
        **common, canary_rs_replicas=10, canary_available=2, stable_rs_replicas=None, stable_available=0
    )
    assert absent == CanaryCounts(canary=5, stable=0)


def test_traffic_routing_keeps_stable_full() -> None:
    """TestCalculateReplicaCountsForCanaryTrafficRouting."""
    assert canary_counts_for_rollout(rollout(10, 10, 0, 1, routed=True), None, None) == CanaryCounts(1, 10)


@pytest.mark.parametrize(
    ("weight", "abort", "current", "expected"),
    [
        (10, False, TrafficWeights(10, 90), CanaryCounts(1, 9)),  # verify we scale down stable
        (20, False, TrafficWeights(10, 90), CanaryCounts(2, 9)),  # desired canary (20) > actual (10)
        (20, True, TrafficWeights(20, 80), CanaryCounts(2, 10)),  # abort: canary kept while it has traffic
        (20, True, TrafficWeights(10, 90), CanaryCounts(1, 10)),  # abort: canary follows its traffic down
    ],
)
def test_dynamic_stable_scale(
    weight: int, abort: bool, current: TrafficWeights, expected: CanaryCounts
) -> None:
    """TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale (all four blocks)."""
    ro = rollout(10, weight, 0, 1, routed=True, abort=abort)
    ro["spec"]["strategy"]["canary"]["dynamicStableScale"] = True
    assert canary_counts_for_rollout(ro, None, None, [], current) == expected


def test_traffic_routed_numeric_form() -> None:
    assert traffic_routed_canary_counts(replicas=10, weight=5, min_pods_per_replica_set=2) == CanaryCounts(
        2, 10
    )
    assert traffic_routed_canary_counts(replicas=4, weight=0, canary_replicas=3) == CanaryCounts(3, 4)
    dynamic = traffic_routed_canary_counts(
        replicas=10, weight=0, dynamic_stable_scale=True, min_pods_per_replica_set=3
    )
    assert dynamic == CanaryCounts(0, 10)


@pytest.mark.parametrize(("weight", "expected"), [(0, 0), (20, 2), (25, 3), (33, 4), (99, 10), (100, 10)])
def test_weight_to_replicas(weight: int, expected: int) -> None:
    """TestTrafficWeightToReplicas (10 replicas)."""
    assert weight_to_replicas(10, weight) == expected


def test_current_step_and_set_weight() -> None:
    """TestGetCurrentCanaryStep and TestGetCurrentSetWeight."""
    ro = rollout(10, 10, 0, 1, current="", stable="")
    assert current_step(ro) == ({"setWeight": 10}, 0)
    ro["status"]["currentStepIndex"] = 1
    assert current_step(ro) == (None, 1)
    steps = ro["spec"]["strategy"]["canary"]["steps"]
    assert desired_weight(steps, 1) == 100
    assert desired_weight(steps, 0) == 10
    assert desired_weight(steps, 0, aborted=True) == 0
    assert desired_weight([{"pause": {}}, {"setWeight": 40}], 0) == 0
    assert desired_weight([], None) == 100
    ro["spec"]["strategy"]["canary"]["steps"] = []
    assert current_step(ro) == (None, None)


@pytest.mark.parametrize(
    ("name", "steps", "status", "routed", "expected"),
    [
        ("test full promote rollout", [], {"promoteFull": True}, False, (None, 100)),
        ("test canary step weight", [{"setWeight": 10}, {"setCanaryScale": {"weight": 20}}],
         {"currentStepIndex": 1, "stableRS": "stable-rs"}, True, (None, 20)),
        ("test canary step replicas", [{"setWeight": 10}, {"setCanaryScale": {"replicas": 5}}],
         {"currentStepIndex": 1, "stableRS": "stable-rs"}, True, (5, 0)),
        ("test get current step weight", [], {"abort": True}, False, (None, 100)),
    ],
)  # fmt: skip
def test_canary_replicas_or_weight(
    name: str,
    steps: list[dict[str, Any]],
    status: dict[str, Any],
    routed: bool,
    expected: tuple[int | None, int],
) -> None:
    """TestGetCanaryReplicasOrWeight."""
    canary: dict[str, Any] = {"steps": steps}
    if routed:
        canary["trafficRouting"] = {}
    ro = {"spec": {"strategy": {"canary": canary}}, "status": status}
    assert canary_replicas_or_weight(ro) == expected


@pytest.mark.parametrize(
    ("name", "weight", "new", "stable", "expected"),
    [
        ("we are at desired replica counts and availability", 50, (2, 2, 2), (2, 2, 2), True),
        ("new replicaset is not at desired counts or availability", 50, (2, 1, 2), (2, 2, 2), False),
        ("stable replicaset is not at desired counts or availability", 75, (3, 3, 3), (2, 2, 2), False),
        (
            "stable replicaset is not at desired availability but is at correct count",
            75,
            (3, 3, 1),
            (1, 0, 1),
            True,
        ),
        ("test that when status field lags behind spec.replicas we fail", 50, (2, 2, 2), (2, 2, 3), False),
    ],
)
def test_at_desired_replica_counts(
    name: str, weight: int, new: tuple[int, int, int], stable: tuple[int, int, int], expected: bool
) -> None:
    """TestAtDesiredReplicaCountsForCanary (basic canary, so its setCanaryScale is ignored)."""
    ro = rollout(4, weight, 1, 1, current="current", set_canary_scale={"weight": 2, "replicas": 2})
    new_rs = rs("newRS", *new, pod_hash="")
    stable_rs = rs("stableRS", *stable, pod_hash="")
    assert (
        at_desired_canary_counts(ro, new_rs, stable_rs, [], TrafficWeights(weight, 100 - weight)) is expected
    )


@pytest.mark.parametrize(
    ("name", "replica_set", "ignore", "expected"),
    [
        ("test rs is nil", None, False, 0),
        ("test expected replicas is less than actual replicas", _RS(3, 5), False, 3),
        ("test ignore availability", _RS(3, 2), True, 3),
        ("test not ignore availability", _RS(3, 2), False, 2),
    ],
)
def test_replicas_for_scale_down(name: str, replica_set: _RS | None, ignore: bool, expected: int) -> None:
    """TestGetReplicasForScaleDown."""
    assert _scale_down_basis(replica_set, ignore_availability=ignore) == expected


def test_new_rs_new_replicas_strategies() -> None:
    """TestNewRSNewReplicas: blue-green without preview count is full size; no strategy errors."""
    bg = {"spec": {"replicas": 1, "strategy": {"blueGreen": {}}}, "status": {}}
    assert new_rs_new_replicas(bg, [], rs("x", 0, 0)) == 1
    with pytest.raises(ValueError, match="no rollout strategy"):
        new_rs_new_replicas({"spec": {"strategy": {}}}, [], rs("x", 0, 0))


@pytest.mark.parametrize(
    ("name", "active", "current", "checkpoint", "promote_full", "expected"),
    [
        ("No active rs is set", "", "foo", False, False, 10),
        ("Active rs is the new RS", "foo", "foo", False, False, 10),
        ("Rollout's currentPodHash doesn't match up", "bar", "baz", True, False, 1),
        ("Rollout is unpaused and ready to scale up", "bar", "foo", True, False, 10),
        ("The rollout should use the preview value", "bar", "foo", False, False, 1),
        ("Ignore preview replica count during promote full", "bar", "foo", False, True, 10),
    ],
)
def test_new_rs_new_replicas_with_preview_replica_count(
    name: str, active: str, current: str, checkpoint: bool, promote_full: bool, expected: int
) -> None:
    """TestNewRSNewReplicasWitPreviewReplicaCount."""
    ro = {
        "spec": {"replicas": 10, "strategy": {"blueGreen": {"previewReplicaCount": 1}}},
        "status": {
            "blueGreen": {"scaleUpPreviewCheckPoint": checkpoint, "activeSelector": active},
            "currentPodHash": current,
            "promoteFull": promote_full,
        },
    }
    foo, bar = rs("foo", 0, 0), rs("bar", 0, 0)
    assert new_rs_new_replicas(ro, [foo, bar], foo) == expected


def test_new_rs_new_replicas_canary_uses_other_replica_sets() -> None:
    """The canary branch finds the stable by hash and drains the others first."""
    ro = rollout(10, 30, 1, 0)
    new, stable, older = rs("canary", 0, 0), rs("stable", 1, 1), rs("older", 3, 3)
    assert new_rs_new_replicas(ro, [older, stable, new], new) == 1


# --- the seed's example: 2 replicas at setWeight 50 with the default 25%/25% ----------------


def reconcile(
    replicas: int, weight: int, surge: Any, unavailable: Any, canary: list[int], stable: list[int]
) -> CanaryCounts:
    """One basic-canary decision for ReplicaSets given as [spec, available]."""
    return basic_canary_counts(
        replicas=replicas,
        set_weight=weight,
        max_surge=surge,
        max_unavailable=unavailable,
        canary_rs_replicas=canary[0],
        canary_available=canary[1],
        stable_rs_replicas=stable[0],
        stable_available=stable[1],
    )


def simulate(
    replicas: int, weight: int, surge: Any, unavailable: Any, canary: int, stable: int
) -> list[tuple[int, int]]:
    """Reconcile, let every pod become available, repeat until nothing changes.

    Returns the (canary, stable) targets of every reconcile that changed something.
    """
    state = ([canary, canary], [stable, stable])
    steps: list[tuple[int, int]] = []
    for _ in range(100):
        counts = reconcile(replicas, weight, surge, unavailable, *state)
        if (counts.canary, counts.stable) == (state[0][0], state[1][0]):
            return steps
        steps.append((counts.canary, counts.stable))
        state = ([counts.canary, counts.canary], [counts.stable, counts.stable])
    raise AssertionError("did not converge")


def test_seed_two_replicas_half_weight_with_default_surge() -> None:
    """2 replicas, setWeight 50, maxSurge/maxUnavailable unset (25%): surge resolves to 1
    (rounded up), unavailable to 0 (rounded down). The canary is surged first, then one stable
    pod goes once the canary pod is available: 1 canary + 1 stable, never below 2 available."""
    assert max_surge_value(replicas=2, max_surge=None, max_unavailable=None) == 1
    assert max_unavailable_value(replicas=2, max_surge=None, max_unavailable=None) == 0
    assert simulate(2, 50, None, None, canary=0, stable=2) == [(1, 2), (1, 1)]
    # While the canary pod is not yet available nothing else moves.
    waiting = basic_canary_counts(
        replicas=2, set_weight=50, max_surge=None, max_unavailable=None,
        canary_rs_replicas=1, canary_available=0, stable_rs_replicas=2, stable_available=2,
    )  # fmt: skip
    assert waiting == CanaryCounts(1, 2)
    # Promotion to 100% from there: surge one more canary, then drop the last stable pod.
    assert simulate(2, 100, None, None, canary=1, stable=1) == [(2, 1), (2, 0)]


def test_ten_replicas_walk_through_weights() -> None:
    """10 replicas with 25%/25% (surge 3, unavailable 2) stepping 20 -> 50 -> 100: each step
    surges the canary as far as it may, and trims the stable by what availability allows."""
    assert simulate(10, 20, "25%", "25%", canary=0, stable=10) == [(2, 8)]
    assert simulate(10, 50, "25%", "25%", canary=2, stable=8) == [(5, 6), (5, 5)]
    assert simulate(10, 100, "25%", "25%", canary=5, stable=5) == [(8, 3), (10, 0)]


# --- properties --------------------------------------------------------------------------------

int_or_percent = st.one_of(st.integers(0, 10), st.integers(0, 100).map(lambda p: f"{p}%"))


def apply(counts: CanaryCounts, canary: list[int], stable: list[int]) -> tuple[list[int], list[int]]:
    """Scale both ReplicaSets; scaling down removes unavailable pods first, as Kubernetes does."""
    return [counts.canary, min(canary[1], counts.canary)], [counts.stable, min(stable[1], counts.stable)]


def check_safe(replicas: int, surge: Any, unavailable: Any, counts: CanaryCounts, available_before: int,
               canary: list[int], stable: list[int]) -> None:  # fmt: skip
    """Non-negative counts, within replicas + maxSurge, availability kept (after applying)."""
    max_surge = max_surge_value(replicas=replicas, max_surge=surge, max_unavailable=unavailable)
    max_unav = max_unavailable_value(replicas=replicas, max_surge=surge, max_unavailable=unavailable)
    assert counts.canary >= 0
    assert counts.stable >= 0
    assert counts.canary + counts.stable <= replicas + max_surge
    assert canary[1] + stable[1] >= min(available_before, replicas - max_unav)


@settings(max_examples=300, deadline=None)
@given(
    replicas=st.integers(1, 50),
    weights=st.lists(st.integers(0, 100), min_size=1, max_size=4),
    surge=int_or_percent,
    unavailable=int_or_percent,
    data=st.data(),
)
def test_basic_canary_converges_safely(
    replicas: int, weights: list[int], surge: Any, unavailable: Any, data: st.DataObject
) -> None:
    """From a fully available stable, walk through setWeight steps while pods become
    available a few at a time (then, if slow, all at once). Every reconcile is safe (see
    check_safe) and moves each ReplicaSet only toward its target; every step ends at Argo's
    weighted split with every pod available, so availability is at least replicas."""
    max_surge = max_surge_value(replicas=replicas, max_surge=surge, max_unavailable=unavailable)
    canary, stable = [0, 0], [replicas, replicas]  # [spec, available]
    for weight in weights:
        target = approximate_weighted_counts(replicas, weight, max_surge)
        for tick in range(8 * replicas + 40):
            counts = reconcile(replicas, weight, surge, unavailable, canary, stable)
            assert abs(counts.canary - target.canary) <= abs(canary[0] - target.canary)
            assert abs(counts.stable - target.stable) <= abs(stable[0] - target.stable)
            before = canary[1] + stable[1]
            canary, stable = apply(counts, canary, stable)
            check_safe(replicas, surge, unavailable, counts, before, canary, stable)
            slow = tick < 4 * replicas + 20
            canary[1] += data.draw(st.integers(0, canary[0] - canary[1])) if slow else canary[0] - canary[1]
            stable[1] += data.draw(st.integers(0, stable[0] - stable[1])) if slow else stable[0] - stable[1]
            if (canary, stable) == ([target.canary] * 2, [target.stable] * 2):
                break
        assert (canary, stable) == ([target.canary] * 2, [target.stable] * 2)
        assert canary[1] + stable[1] >= replicas


@settings(max_examples=300, deadline=None)
@given(
    replicas=st.integers(1, 30),
    steps=st.lists(st.tuples(st.integers(0, 100), st.integers(1, 5)), min_size=1, max_size=6),
    surge=int_or_percent,
    unavailable=int_or_percent,
    data=st.data(),
)
def test_basic_canary_is_safe_when_weight_changes_mid_way(
    replicas: int, steps: list[tuple[int, int]], surge: Any, unavailable: Any, data: st.DataObject
) -> None:
    """The weight changes (promote, abort, skip) before the previous step has converged."""
    canary, stable = [0, 0], [replicas, replicas]
    for weight, ticks in steps:
        for _ in range(ticks):
            counts = reconcile(replicas, weight, surge, unavailable, canary, stable)
            before = canary[1] + stable[1]
            canary, stable = apply(counts, canary, stable)
            check_safe(replicas, surge, unavailable, counts, before, canary, stable)
            canary[1] += data.draw(st.integers(0, canary[0] - canary[1]))
            stable[1] += data.draw(st.integers(0, stable[0] - stable[1]))
