# ruff: noqa: RUF001 - the tree uses Argo's Greek alpha for AnalysisRuns
"""Golden output of ``get rollout`` and ``list rollouts`` for canary states, with a fixed clock.

The expected text is what ``kubectl argo rollouts get rollout --no-color`` prints for the same
objects (its header block, tree prefixes, icons, status words, INFO tags and AGE units), except
that trailing spaces are dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.cli import info as i
from controller.cli.render import (
    human_duration,
    list_line,
    list_lines,
    list_row,
    plain,
    render_rollout,
    rollout_lines,
    styled,
)
from tests.unit import cli_fixtures as f

HEALTHY = """\
Name:            frontend
Namespace:       shop
Status:          ✔ Healthy
Strategy:        Canary
  Step:          4/4
  SetWeight:     100
  ActualWeight:  100
Images:          argoproj/rollouts-demo:green (stable)
Replicas:
  Desired:       5
  Current:       5
  Updated:       5
  Ready:         5
  Available:     5

NAME                                 KIND        STATUS        AGE  INFO
⟳ frontend                           Rollout     ✔ Healthy     7d
├──# revision:2
│  └──⧉ frontend-6b9c8d7f5           ReplicaSet  ✔ Healthy     60m  stable
│     ├──□ frontend-6b9c8d7f5-a1b2c  Pod         ✔ Running     58m  ready:1/1
│     ├──□ frontend-6b9c8d7f5-d3e4f  Pod         ✔ Running     58m  ready:1/1
│     ├──□ frontend-6b9c8d7f5-g5h6j  Pod         ✔ Running     58m  ready:1/1
│     ├──□ frontend-6b9c8d7f5-k7l8m  Pod         ✔ Running     57m  ready:1/1
│     └──□ frontend-6b9c8d7f5-n9p0q  Pod         ✔ Running     57m  ready:1/1
└──# revision:1
   └──⧉ frontend-58f8c9b7d           ReplicaSet  • ScaledDown  7d
"""

PAUSED = """\
Name:            frontend
Namespace:       shop
Status:          ॥ Paused
Message:         CanaryPauseStep
Strategy:        Canary
  Step:          1/4
  SetWeight:     20
  ActualWeight:  20
Images:          argoproj/rollouts-demo:blue (stable)
                 argoproj/rollouts-demo:green (canary)
Replicas:
  Desired:       5
  Current:       5
  Updated:       1
  Ready:         5
  Available:     5

NAME                                 KIND        STATUS     AGE   INFO
⟳ frontend                           Rollout     ॥ Paused   7d
├──# revision:2
│  └──⧉ frontend-6b9c8d7f5           ReplicaSet  ✔ Healthy  100s  canary
│     └──□ frontend-6b9c8d7f5-x1y2z  Pod         ✔ Running  98s   ready:1/1
└──# revision:1
   └──⧉ frontend-58f8c9b7d           ReplicaSet  ✔ Healthy  7d    stable
      ├──□ frontend-58f8c9b7d-a1b2c  Pod         ✔ Running  2d    ready:1/1
      ├──□ frontend-58f8c9b7d-b2c3d  Pod         ✔ Running  2d    ready:1/1,restarts:2
      ├──□ frontend-58f8c9b7d-c3d4e  Pod         ✔ Running  2d    ready:1/1
      └──□ frontend-58f8c9b7d-d4e5f  Pod         ✔ Running  2d    ready:1/1
"""

PROGRESSING = """\
Name:            frontend
Namespace:       shop
Status:          ◌ Progressing
Message:         more replicas need to be updated
Strategy:        Canary
  Step:          2/4
  SetWeight:     60
  ActualWeight:  40
Images:          argoproj/rollouts-demo:blue (stable)
                 argoproj/rollouts-demo:green (canary)
Replicas:
  Desired:       5
  Current:       6
  Updated:       3
  Ready:         5
  Available:     5

NAME                                 KIND        STATUS               AGE    INFO
⟳ frontend                           Rollout     ◌ Progressing        7d
├──# revision:2
│  └──⧉ frontend-6b9c8d7f5           ReplicaSet  ◌ Progressing        5m     canary
│     ├──□ frontend-6b9c8d7f5-x1y2z  Pod         ✔ Running            4m50s  ready:1/1
│     ├──□ frontend-6b9c8d7f5-w9v8u  Pod         ✔ Running            20s    ready:1/1
│     └──□ frontend-6b9c8d7f5-t7s6r  Pod         ◌ ContainerCreating  5s     ready:0/1
└──# revision:1
   └──⧉ frontend-58f8c9b7d           ReplicaSet  ✔ Healthy            7d     stable
      ├──□ frontend-58f8c9b7d-a1b2c  Pod         ✔ Running            24h    ready:1/1
      ├──□ frontend-58f8c9b7d-b2c3d  Pod         ✔ Running            24h    ready:1/1
      └──□ frontend-58f8c9b7d-c3d4e  Pod         ✔ Running            24h    ready:1/1
"""

DEGRADED = """\
Name:            frontend
Namespace:       shop
Status:          ✖ Degraded
Message:         RolloutAborted: Rollout aborted update to revision 2
Strategy:        Canary
  Step:          0/4
  SetWeight:     0
  ActualWeight:  0
Images:          argoproj/rollouts-demo:blue (stable)
Replicas:
  Desired:       5
  Current:       5
  Updated:       0
  Ready:         5
  Available:     5

NAME                                 KIND        STATUS        AGE    INFO
⟳ frontend                           Rollout     ✖ Degraded    7d
├──# revision:2
│  └──⧉ frontend-6b9c8d7f5           ReplicaSet  • ScaledDown  6m40s  canary
└──# revision:1
   └──⧉ frontend-58f8c9b7d           ReplicaSet  ✔ Healthy     7d     stable
      ├──□ frontend-58f8c9b7d-a1b2c  Pod         ✔ Running     24h    ready:1/1
      ├──□ frontend-58f8c9b7d-b2c3d  Pod         ✔ Running     24h    ready:1/1
      ├──□ frontend-58f8c9b7d-c3d4e  Pod         ✔ Running     24h    ready:1/1
      ├──□ frontend-58f8c9b7d-d4e5f  Pod         ✔ Running     24h    ready:1/1
      └──□ frontend-58f8c9b7d-e5f6g  Pod         ✔ Running     24h    ready:1/1
"""

ANALYSIS = """\
Name:            frontend
Namespace:       shop
Status:          ॥ Paused
Message:         CanaryPauseStep
Strategy:        Canary
  Step:          1/4
  SetWeight:     20
  ActualWeight:  20
Images:          argoproj/rollouts-demo:blue (stable)
                 argoproj/rollouts-demo:green (canary)
Replicas:
  Desired:       5
  Current:       5
  Updated:       1
  Ready:         5
  Available:     5

NAME                                 KIND         STATUS     AGE   INFO
⟳ frontend                           Rollout      ॥ Paused   7d
├──# revision:2
│  ├──⧉ frontend-6b9c8d7f5           ReplicaSet   ✔ Healthy  100s  canary
│  │  └──□ frontend-6b9c8d7f5-x1y2z  Pod          ✔ Running  98s   ready:1/1
│  └──α frontend-6b9c8d7f5-2-1       AnalysisRun  ◌ Running  60s   ✔ 3
└──# revision:1
   ├──⧉ frontend-58f8c9b7d           ReplicaSet   ✔ Healthy  7d    stable
   │  ├──□ frontend-58f8c9b7d-a1b2c  Pod          ✔ Running  2d    ready:1/1
   │  ├──□ frontend-58f8c9b7d-b2c3d  Pod          ✔ Running  2d    ready:1/1,restarts:2
   │  ├──□ frontend-58f8c9b7d-c3d4e  Pod          ✔ Running  2d    ready:1/1
   │  └──□ frontend-58f8c9b7d-d4e5f  Pod          ✔ Running  2d    ready:1/1
   └──α frontend-58f8c9b7d-1-1       AnalysisRun  ✖ Failed   116m  ✔ 4,✖ 2,? 1,⚠ 1
"""

LIST = """\
NAME         STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE
web          Canary     Healthy       4/4   100         5/5    5        5           5
api-gateway  Canary     Paused        1/4   20          5/5    5        1           5
frontend     Canary     Progressing   2/4   60          5/6    5        3           5
checkout     Canary     Degraded      0/4   0           5/5    5        0           5
"""

LIST_ALL = """\
TIMESTAMP             NAMESPACE  NAME         STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE
2024-05-01T12:00:00Z  shop       web          Canary     Healthy       4/4   100         5/5    5        5           5
2024-05-01T12:00:00Z  shop       api-gateway  Canary     Paused        1/4   20          5/5    5        1           5
2024-05-01T12:00:00Z  shop       frontend     Canary     Progressing   2/4   60          5/6    5        3           5
2024-05-01T12:00:00Z  shop       checkout     Canary     Degraded      0/4   0           5/5    5        0           5
"""


@pytest.mark.parametrize(
    ("state", "expected"),
    [("healthy", HEALTHY), ("paused", PAUSED), ("progressing", PROGRESSING), ("degraded", DEGRADED)],
)
def test_tree_of_each_canary_state(state: str, expected: str) -> None:
    ro, rss, pods = getattr(f, state)()
    assert render_rollout(ro, rss, pods, [], f.NOW) == expected


def test_tree_with_analysis_runs_under_their_revisions() -> None:
    ro, rss, pods = f.paused()
    runs = [
        f.analysis_run("frontend-6b9c8d7f5-2-1", 2, "Running", 60, successful=3),
        f.analysis_run(
            "frontend-58f8c9b7d-1-1", 1, "Failed", 7000, successful=4, failed=2, inconclusive=1, error=1
        ),
    ]
    assert render_rollout(ro, rss, pods, runs, f.NOW) == ANALYSIS


def test_objects_of_other_owners_are_left_out() -> None:
    ro, rss, pods = f.healthy()
    stranger = f.replica_set("zzzzzzzzz", 9, 1, 1, "nginx", 10)
    stranger["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    stray_run = f.analysis_run("other-run", 2, "Running", 5)
    stray_run["metadata"]["ownerReferences"] = []
    assert render_rollout(ro, [*rss, stranger], pods, [stray_run], f.NOW) == HEALTHY


def test_list_table_has_argos_columns() -> None:
    rows = [list_row(getattr(f, s)()[0]) for s in ("healthy", "paused", "progressing", "degraded")]
    for row, name in zip(rows, ["web", "api-gateway", "frontend", "checkout"], strict=True):
        row["name"] = name
    assert plain(list_lines(rows)) == LIST
    assert plain(list_lines(rows, namespaces=True, timestamp="2024-05-01T12:00:00Z")) == LIST_ALL
    watched = plain([list_line(rows[0])])
    assert watched == "web         Canary     Healthy       4/4   100         5/5    5        5           5\n"


def test_list_row_of_a_rollout_the_controller_has_not_seen_yet() -> None:
    ro = f.rollout({}, generation=3)
    ro["status"] = {"observedGeneration": "2"}
    row = list_row(ro)
    assert (row["status"], row["step"], row["setWeight"], row["ready"]) == ("Progressing", "-", "20", "0/0")


def test_colours_follow_argos_mapping() -> None:
    ro, rss, pods = f.paused()
    text = styled(rollout_lines(i.rollout_info(ro, rss, pods), f.NOW))
    spans = {text.plain[s.start : s.end]: str(s.style) for s in text.spans}
    assert spans["canary"] == "yellow"
    assert spans["stable"] == "green"
    assert spans["✔"] == "green"
    assert spans["frontend-6b9c8d7f5"] == "yellow"  # the canary ReplicaSet's name
    assert text.plain == render_rollout(ro, rss, pods, [], f.NOW)


def test_json_form_of_the_tree() -> None:
    ro, rss, pods = f.paused()
    data = i.rollout_info(ro, rss, pods).to_dict()
    assert data["status"] == "Paused"
    assert data["step"] == "1/4"
    assert [rs["name"] for rs in data["replicaSets"]] == ["frontend-6b9c8d7f5", "frontend-58f8c9b7d"]
    assert data["replicaSets"][1]["pods"][1]["restarts"] == 2
    assert data["created"] == "2024-04-24T12:00:00Z"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-0.5, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (7 * 86400 + 3600, "7d1h"),
        (30 * 86400, "30d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_read_as_kubectl_prints_them(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("waiting", "icon"),
    [("ContainerCreating", "◌"), ("ImagePullBackOff", "⚠"), ("CrashLoopBackOff", "✖"), ("ErrImagePull", "⚠")],
)
def test_pod_status_words_and_icons(waiting: str, icon: str) -> None:
    info = i.pod_info(f.pod("abc", "x", 10, waiting=waiting))
    assert (info.status, info.icon, info.ready) == (waiting, icon, "0/1")


def test_terminating_and_exited_pods() -> None:
    pod = f.pod("abc", "x", 10)
    pod["metadata"]["deletionTimestamp"] = f.ago(1)
    assert i.pod_info(pod).status == "Terminating"
    exited = f.pod("abc", "y", 10)
    exited["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 3}}
    assert (i.pod_info(exited).status, i.pod_info(exited).icon) == ("ExitCode:3", "✖")


def test_scale_down_delay_is_shown_on_old_replica_sets() -> None:
    ro, rss, pods = f.healthy()
    rss[1]["metadata"]["annotations"]["scale-down-deadline"] = "2024-05-01T12:00:25Z"
    assert "ScaledDown  7d   delay:25s" in render_rollout(ro, rss, pods, [], f.NOW)
    later = datetime(2024, 5, 1, 12, 1, tzinfo=UTC)
    assert "delay:passed" in render_rollout(ro, rss, pods, [], later)
