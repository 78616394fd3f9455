"""Raw objects for the CLI's pure tests: a canary Rollout in each state, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

Obj = dict[str, Any]

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
UID = "11111111-2222-3333-4444-555555555555"
STEPS: list[Obj] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "30s"}}]


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rollout(status: Obj, *, replicas: int = 5, steps: list[Obj] | None = None, generation: int = 2) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": "frontend",
            "namespace": "shop",
            "uid": UID,
            "generation": generation,
            "creationTimestamp": ago(7 * 86400),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "frontend"}},
            "template": {
                "metadata": {"labels": {"app": "frontend"}},
                "spec": {"containers": [{"name": "frontend", "image": "argoproj/rollouts-demo:green"}]},
            },
            "strategy": {"canary": {"steps": STEPS if steps is None else steps}},
        },
        "status": {"observedGeneration": str(generation), **status},
    }


def replica_set(
    pod_hash: str, revision: int, replicas: int, available: int, image: str, age_seconds: float, **extra: Any
) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"frontend-{pod_hash}",
            "namespace": "shop",
            "uid": f"rs-{pod_hash}",
            "generation": 3,
            "labels": {"app": "frontend", "rollouts-pod-template-hash": pod_hash},
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Rollout", "name": "frontend", "uid": UID, "controller": True}],
            "creationTimestamp": ago(age_seconds),
        },
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "frontend", "image": image}]}},
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
            "observedGeneration": 3,
            **extra,
        },
    }


def pod(
    pod_hash: str,
    suffix: str,
    age_seconds: float,
    *,
    ready: bool = True,
    restarts: int = 0,
    waiting: str = "",
) -> Obj:
    state: Obj = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": ago(age_seconds)}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"frontend-{pod_hash}-{suffix}",
            "namespace": "shop",
            "uid": f"pod-{suffix}",
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": f"frontend-{pod_hash}", "uid": f"rs-{pod_hash}"}
            ],
            "creationTimestamp": ago(age_seconds),
        },
        "spec": {"containers": [{"name": "frontend"}]},
        "status": {
            "phase": "Running" if not waiting else "Pending",
            "containerStatuses": [
                {"name": "frontend", "ready": ready and not waiting, "restartCount": restarts, "state": state}
            ],
        },
    }


def analysis_run(name: str, revision: int, phase: str, age_seconds: float, **counts: int) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Rollout", "name": "frontend", "uid": UID, "controller": True}],
            "creationTimestamp": ago(age_seconds),
        },
        "spec": {"metrics": [{"name": "success-rate"}]},
        "status": {"phase": phase, "metricResults": [{"name": "success-rate", **counts}]},
    }


BLUE = "argoproj/rollouts-demo:blue"
GREEN = "argoproj/rollouts-demo:green"


def healthy() -> tuple[Obj, list[Obj], list[Obj]]:
    """Fully promoted to green (revision 2); blue (revision 1) scaled down."""
    ro = rollout(
        {
            "phase": "Healthy",
            "currentPodHash": "6b9c8d7f5",
            "stableRS": "6b9c8d7f5",
            "currentStepIndex": 4,
            "replicas": 5,
            "updatedReplicas": 5,
            "readyReplicas": 5,
            "availableReplicas": 5,
        }
    )
    rss = [
        replica_set("6b9c8d7f5", 2, 5, 5, GREEN, 3600),
        replica_set("58f8c9b7d", 1, 0, 0, BLUE, 7 * 86400),
    ]
    pods = [
        pod("6b9c8d7f5", s, 3500 - n * 10)
        for n, s in enumerate(("a1b2c", "d3e4f", "g5h6j", "k7l8m", "n9p0q"))
    ]
    return ro, rss, pods


def paused() -> tuple[Obj, list[Obj], list[Obj]]:
    """At step 1 (pause {}): one green canary pod, four blue stable pods."""
    ro = rollout(
        {
            "phase": "Paused",
            "message": "CanaryPauseStep",
            "currentPodHash": "6b9c8d7f5",
            "stableRS": "58f8c9b7d",
            "currentStepIndex": 1,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": ago(95)}],
            "controllerPause": True,
            "replicas": 5,
            "updatedReplicas": 1,
            "readyReplicas": 5,
            "availableReplicas": 5,
        }
    )
    rss = [
        replica_set("6b9c8d7f5", 2, 1, 1, GREEN, 100),
        replica_set("58f8c9b7d", 1, 4, 4, BLUE, 7 * 86400),
    ]
    pods = [pod("6b9c8d7f5", "x1y2z", 98)] + [
        pod("58f8c9b7d", s, 2 * 86400, restarts=2 if s == "b2c3d" else 0)
        for s in ("a1b2c", "b2c3d", "c3d4e", "d4e5f")
    ]
    return ro, rss, pods


def progressing() -> tuple[Obj, list[Obj], list[Obj]]:
    """Step 2 (setWeight 60): the canary scaling up, one pod still pulling its image."""
    ro = rollout(
        {
            "phase": "Progressing",
            "message": "more replicas need to be updated",
            "currentPodHash": "6b9c8d7f5",
            "stableRS": "58f8c9b7d",
            "currentStepIndex": 2,
            "replicas": 6,
            "updatedReplicas": 3,
            "readyReplicas": 5,
            "availableReplicas": 5,
        }
    )
    rss = [
        replica_set("6b9c8d7f5", 2, 3, 2, GREEN, 300),
        replica_set("58f8c9b7d", 1, 3, 3, BLUE, 7 * 86400),
    ]
    pods = [
        pod("6b9c8d7f5", "x1y2z", 290),
        pod("6b9c8d7f5", "w9v8u", 20),
        pod("6b9c8d7f5", "t7s6r", 5, waiting="ContainerCreating"),
        pod("58f8c9b7d", "a1b2c", 86400),
        pod("58f8c9b7d", "b2c3d", 86400),
        pod("58f8c9b7d", "c3d4e", 86400),
    ]
    return ro, rss, pods


def degraded() -> tuple[Obj, list[Obj], list[Obj]]:
    """Aborted at step 2: the canary scaled down, every pod back on blue."""
    ro = rollout(
        {
            "phase": "Degraded",
            "message": "RolloutAborted: Rollout aborted update to revision 2",
            "abort": True,
            "abortedAt": ago(40),
            "currentPodHash": "6b9c8d7f5",
            "stableRS": "58f8c9b7d",
            "currentStepIndex": 0,
            "replicas": 5,
            "updatedReplicas": 0,
            "readyReplicas": 5,
            "availableReplicas": 5,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "RolloutAborted",
                    "message": "Rollout aborted update to revision 2",
                }
            ],
        }
    )
    rss = [
        replica_set("6b9c8d7f5", 2, 0, 0, "argoproj/rollouts-demo:bad-red", 400),
        replica_set("58f8c9b7d", 1, 5, 5, BLUE, 7 * 86400),
    ]
    pods = [pod("58f8c9b7d", s, 86400) for s in ("a1b2c", "b2c3d", "c3d4e", "d4e5f", "e5f6g")]
    return ro, rss, pods
