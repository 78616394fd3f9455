"""``rollouts plan``: the step tables the controller's own planner produces, against hand-computed ones.

The hand computations follow Argo's basic-canary maths (no traffic router): with R replicas and
weight W, the canary count is chosen among floor/ceil(R*W/100) over a total of R, or R+1 when
maxSurge allows a surge pod, picking the share closest to W (a floor/ceil tie keeps the
larger). maxSurge defaults to 25% of R rounded up, maxUnavailable to 25% rounded down.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.cli.files import duration, plan_lines
from controller.cli.render import plain
from controller.core.simulate import SimulationError, simulate_update


def rollout(replicas: int, steps: list[dict[str, Any]], **canary: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            "strategy": {"canary": {"steps": steps, **canary}},
        },
    }


def table(size: int, steps: list[dict[str, Any]], replicas: int | None = None) -> list[tuple[Any, ...]]:
    simulation = simulate_update(rollout(size, steps), replicas=replicas)
    return [
        (
            s.description,
            s.stable_pods,
            s.canary_pods,
            s.canary_traffic,
            s.wait_seconds,
            s.waits_for,
            s.starts_at,
        )
        for s in simulation.steps
    ]


def test_two_replicas_half_and_half_then_wait_for_promotion() -> None:
    # 50% of 2 is exactly 1: one canary pod, one stable pod; the pause waits for a promotion
    assert table(2, [{"setWeight": 50}, {"pause": {}}]) == [
        ("setWeight: 50", 1, 1, 50, 0.0, "", 0.0),
        ("pause", 1, 1, 50, 0.0, "promotion", 0.0),
    ]


def test_ten_replicas_closest_share_with_surge() -> None:
    # 33% of 10: 4/10=40%, 3/10=30%, 4/11=36.4%, 3/11=27.3% -> 3/10 is closest (30%)
    # 66% of 10: 7/10=70%, 6/10=60%, 7/11=63.6%, 6/11=54.5% -> 7/11 (a surge pod): stable 4
    steps = [
        {"setWeight": 33},
        {"pause": {"duration": "30s"}},
        {"setWeight": 66},
        {"pause": {"duration": 60}},
    ]
    assert table(10, steps) == [
        ("setWeight: 33", 7, 3, 30, 0.0, "", 0.0),
        ("pause: 30s", 7, 3, 30, 30.0, "", 0.0),
        ("setWeight: 66", 4, 7, 63, 0.0, "", 30.0),
        ("pause: 60", 4, 7, 63, 60.0, "", 30.0),
    ]
    simulation = simulate_update(rollout(10, steps))
    assert simulation.total_seconds == 90.0
    assert simulation.promoted_pods == 10
    assert not simulation.open_ended


def test_a_tie_rounds_up_and_surges() -> None:
    # 50% of 3 = 1.5, a tie: the ceiling 2 of 3 (66.7%) is far from 50%; with one surge pod
    # 2 of 4 is exactly 50%: two canary pods next to two stable pods
    assert table(3, [{"setWeight": 50}]) == [("setWeight: 50", 2, 2, 50, 0.0, "", 0.0)]


def test_exact_weights_and_open_ended_waits() -> None:
    steps = [
        {"setWeight": 20},
        {"pause": {}},
        {"setWeight": 40},
        {"pause": {"duration": "1m"}},
        {"analysis": {"templates": [{"templateName": "success-rate"}]}},
    ]
    # 20% of 5 = 1, 40% of 5 = 2: exact
    assert table(5, steps) == [
        ("setWeight: 20", 4, 1, 20, 0.0, "", 0.0),
        ("pause", 4, 1, 20, 0.0, "promotion", 0.0),
        ("setWeight: 40", 3, 2, 40, 0.0, "", 0.0),
        ("pause: 1m", 3, 2, 40, 60.0, "", 0.0),
        ("analysis: success-rate", 3, 2, 40, 0.0, "analysis", 60.0),
    ]
    simulation = simulate_update(rollout(5, steps))
    assert simulation.total_seconds == 60.0
    assert [s.number for s in simulation.waits] == [2, 5]


def test_replicas_override() -> None:
    # 25% of 4 = 1 exactly
    assert table(2, [{"setWeight": 25}], replicas=4) == [("setWeight: 25", 3, 1, 25, 0.0, "", 0.0)]


def test_no_surge_moves_one_pod_at_a_time() -> None:
    # maxSurge 0 / maxUnavailable 1: 10% of 10 = 1 canary; 50% = 5/5; each pod is its own round
    simulation = simulate_update(
        rollout(10, [{"setWeight": 10}, {"setWeight": 50}], maxSurge=0, maxUnavailable=1)
    )
    assert [(s.stable_pods, s.canary_pods) for s in simulation.steps] == [(9, 1), (5, 5)]
    assert simulation.steps[1].scaling_rounds == 8  # 4 pods moved, each a scale-down and a scale-up
    assert simulation.scaling_rounds == 20  # ... and 10 moves in all


def test_no_steps_goes_straight_to_the_new_revision() -> None:
    simulation = simulate_update(rollout(3, []))
    assert simulation.steps == ()
    assert simulation.promoted_pods == 3
    assert simulation.total_seconds == 0.0


def test_table_text() -> None:
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "2m"}}]
    text = plain(plan_lines(simulate_update(rollout(5, steps))))
    assert text.splitlines()[:9] == [
        'Rollout "web": 5 replicas, canary without traffic routing (traffic follows ready pods)',
        "",
        "STEP  ACTION         SET-WEIGHT  STABLE  CANARY  CANARY-TRAFFIC  WAIT            STARTS-AFTER",
        "1/4   setWeight: 20  20          4       1       20%             -               0s",
        "2/4   pause          20          4       1       20%             until promoted  0s",
        "3/4   setWeight: 60  60          2       3       60%             -               0s",
        "4/4   pause: 2m      60          2       3       60%             2m              0s",
        "done  promoted       100         0       5       100%            -               2m",
        "",
    ]
    assert text.splitlines()[9].startswith("Expected total time: 2m of timed pauses, plus pod start-up in ")
    assert "plus the waits at step 2 (until promoted)." in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r["spec"]["strategy"]["canary"].update(
                canaryService="c",
                stableService="s",
                trafficRouting={"istio": {"virtualService": {"name": "v"}}},
            ),
            "istio is not supported",
        ),
        (lambda r: r["spec"].update(paused=True), "spec.paused: true"),
        (lambda r: r["spec"]["strategy"]["canary"]["steps"].append({"setWeight": 120}), "is not valid"),
        (lambda r: r.update(kind="Deployment"), "expected a Rollout"),
    ],
)
def test_what_cannot_be_planned_says_why(change: Any, message: str) -> None:
    manifest = rollout(2, [{"setWeight": 50}])
    change(manifest)
    with pytest.raises(SimulationError, match=message):
        simulate_update(manifest)


def test_durations() -> None:
    assert [duration(s) for s in (0, 59, 60, 90, 3600, 3725)] == ["0s", "59s", "1m", "1m30s", "1h", "1h2m5s"]


def test_json_form() -> None:
    data = simulate_update(rollout(2, [{"setWeight": 50}, {"pause": {"duration": 10}}])).to_dict()
    assert data["steps"][0] | {"scalingRounds": 0} == {
        "step": 1,
        "description": "setWeight: 50",
        "kind": "setWeight",
        "setWeight": 50,
        "stablePods": 1,
        "canaryPods": 1,
        "canaryTraffic": 50,
        "waitSeconds": 0.0,
        "waitsFor": "",
        "startsAt": 0.0,
        "scalingRounds": 0,
    }
    assert data["totalSeconds"] == 10.0
    assert data["promoted"] == {"stablePods": 0, "canaryPods": 2, "canaryTraffic": 100}


def test_nginx_routed_canary_traffic_is_the_ingress_weight() -> None:
    manifest = rollout(
        2,
        [
            {"setWeight": 10},
            {"setWeight": 30},
            {"pause": {"duration": "30s"}},
            {"setWeight": 60},
            {"pause": {}},
        ],
        canaryService="web-canary",
        stableService="web",
        trafficRouting={"nginx": {"stableIngress": "web"}},
    )
    simulation = simulate_update(manifest)
    assert "ingress-nginx" in simulation.strategy
    # hand-computed: the canary gets ceil(weight x 2) pods, the stable keeps 2; traffic is the weight
    assert [(s.stable_pods, s.canary_pods, s.canary_traffic) for s in simulation.steps] == [
        (2, 1, 10),
        (2, 1, 30),
        (2, 1, 30),
        (2, 2, 60),
        (2, 2, 60),
    ]
    assert simulation.total_seconds == 30


def test_blue_green_phases() -> None:
    manifest = rollout(3, [])
    manifest["spec"]["strategy"] = {
        "blueGreen": {
            "activeService": "web",
            "previewService": "web-preview",
            "autoPromotionEnabled": False,
            "previewReplicaCount": 1,
            "scaleDownDelaySeconds": 30,
        }
    }
    simulation = simulate_update(manifest)
    assert simulation.strategy.startswith("blue-green")
    rows = [
        (s.kind, s.stable_pods, s.canary_pods, s.canary_traffic, s.wait_seconds, s.waits_for)
        for s in simulation.steps
    ]
    assert rows == [
        ("preview", 3, 1, 0, 0.0, ""),
        ("pause", 3, 3, 0, 0.0, "promotion"),
        ("switch", 3, 3, 100, 0.0, ""),
        ("scale-down", 0, 3, 100, 30.0, ""),
    ]
    assert simulation.total_seconds == 30
    text = plain(plan_lines(simulation))
    assert "blue-green (the active Service moves all traffic at once)" in text


def test_blue_green_auto_promotion_seconds_is_a_timed_wait() -> None:
    manifest = rollout(2, [])
    manifest["spec"]["strategy"] = {
        "blueGreen": {"activeService": "web", "autoPromotionSeconds": 20, "scaleDownDelaySeconds": 10}
    }
    simulation = simulate_update(manifest)
    pause = next(s for s in simulation.steps if s.kind == "pause")
    assert (pause.wait_seconds, pause.waits_for) == (20.0, "")
    assert simulation.total_seconds == 30
