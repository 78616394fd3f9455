"""``rollouts history``: revisions from ReplicaSets, stable/abort times from the Rollout's Events."""

from __future__ import annotations

from typing import Any

from controller.cli.history import history_lines, revision_history
from controller.cli.render import plain
from tests.unit import cli_fixtures as f


def event(reason: str, message: str, seconds_ago: float, **involved: Any) -> dict[str, Any]:
    return {
        "reason": reason,
        "message": message,
        "lastTimestamp": f.ago(seconds_ago),
        "involvedObject": {"kind": "Rollout", "name": "frontend", "uid": f.UID, **involved},
    }


def test_revisions_with_their_images_and_moments() -> None:
    ro, rss, _ = f.degraded()
    rss.insert(0, f.replica_set("1a2b3c4d5", 3, 0, 0, "argoproj/rollouts-demo:yellow", 30))
    ro["status"]["currentPodHash"] = "1a2b3c4d5"
    events = [
        event(
            "RolloutCompleted",
            "Rollout completed update to revision 1 (58f8c9b7d): Initial deploy",
            7 * 86400,
        ),
        event("RolloutAborted", "Rollout aborted update to revision 2", 40),
        event("RolloutAborted", "Rollout aborted update to revision 2", 300),
        event("ScalingReplicaSet", "Scaled up ReplicaSet frontend-1a2b3c4d5 (revision 3) from 0 to 1", 25),
        event("RolloutCompleted", "Rollout completed update to revision 2 (6b9c8d7f5): x", 5, name="other"),
    ]
    rows = revision_history(ro, rss, events)
    assert [(r.revision, r.images, r.pods, r.current, r.stable) for r in rows] == [
        (3, ("argoproj/rollouts-demo:yellow",), 0, True, False),
        (2, ("argoproj/rollouts-demo:bad-red",), 0, False, False),
        (1, (f.BLUE,), 5, False, True),
    ]
    assert [len(r.stable_at) for r in rows] == [0, 0, 1]  # the other Rollout's event is not counted
    assert [len(r.aborted_at) for r in rows] == [0, 2, 0]
    assert plain(history_lines(rows, f.NOW)).splitlines() == [
        "REVISION  REPLICASET          PODS  IMAGES                          CREATED    BECAME STABLE  "
        "ABORTED          STATUS",
        "3         frontend-1a2b3c4d5  0     argoproj/rollouts-demo:yellow   30s ago    -              "
        "-                current (canary)",
        "2         frontend-6b9c8d7f5  0     argoproj/rollouts-demo:bad-red  6m40s ago  -              "
        "5m ago, 40s ago  -",
        "1         frontend-58f8c9b7d  5     argoproj/rollouts-demo:blue     7d ago     7d ago         "
        "-                stable",
    ]


def test_a_rollback_matches_the_completion_by_pod_hash() -> None:
    ro, rss, _ = f.healthy()
    rss[0]["metadata"]["annotations"]["rollout.argoproj.io/revision"] = "4"  # revision 2 re-used as 4
    events = [event("RolloutCompleted", "Rollout completed update to revision 2 (6b9c8d7f5): done", 600)]
    rows = revision_history(ro, rss, events)
    assert rows[0].revision == 4
    assert [m.isoformat() for m in rows[0].stable_at] == ["2024-05-01T11:50:00+00:00"]
    assert rows[0].to_dict()["becameStable"] == ["2024-05-01T11:50:00Z"]


def test_an_expired_event_is_said_to_be_unknown() -> None:
    ro, rss, _ = f.healthy()
    text = plain(history_lines(revision_history(ro, rss, []), f.NOW))
    assert "? (event expired)" in text.splitlines()[1]
    assert text.splitlines()[1].endswith("current, stable")
