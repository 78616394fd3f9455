"""The reconciler's half of ephemeral metadata, against fake caches and a recording fake API:
the Rollout's pods are listed only when ephemeral metadata is configured, the ReplicaSet is
patched before its pods, and a pod gone meanwhile is no error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from controller.core.ephemeral import EPHEMERAL_METADATA_ANNOTATION
from controller.core.hashing import pod_template_hash
from controller.kube import NotFound
from tests.unit.test_runtime_reconciler import FakeApi, make_rollout, reconciler, run

Obj = dict[str, Any]
STABLE = {"labels": {"role": "stable"}, "annotations": {"team": "web"}}


class PodApi(FakeApi):
    """The fake API, answering LIST with the given pods; PATCH of a missing pod is a 404."""

    def __init__(self, rollout: Obj, pods: list[Obj], missing: frozenset[str] = frozenset()) -> None:
        super().__init__(rollout)
        self.pods, self.missing = pods, missing
        self.selectors: list[str | None] = []

    async def list(self, path: str, *, label_selector: str | None = None) -> Obj:
        self._record("list", path, None)
        self.selectors.append(label_selector)
        return {"items": self.pods}

    async def patch(self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None) -> Obj:
        self._record("patch", path, body)
        if path.rsplit("/", 1)[-1] in self.missing:
            raise NotFound(404, "NotFound", f"pods {path.rsplit('/', 1)[-1]!r} not found")
        return dict(body)


def deployed(strategy: Obj | None = None) -> tuple[Obj, Obj, str]:
    """A canary Rollout fully promoted to its one ReplicaSet (2 pods, all available)."""
    rollout = make_rollout(strategy=strategy)
    pod_hash = pod_template_hash(rollout["spec"]["template"])
    rollout["status"] = {"stableRS": pod_hash, "currentPodHash": pod_hash, "currentStepIndex": 2}
    rollout["metadata"]["annotations"] = {"rollout.argoproj.io/revision": "1"}
    labels = {"app": "web", "rollouts-pod-template-hash": pod_hash}
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"web-{pod_hash}",
            "namespace": "ns",
            "uid": "rs-uid",
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": labels,
            "annotations": {"rollout.argoproj.io/revision": "1"},
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Rollout",
                    "name": "web",
                    "uid": "uid-1",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": dict(labels)}, "spec": rollout["spec"]["template"]["spec"]},
        },
        "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2},
    }
    return rollout, rs, pod_hash


def pod(name: str, labels: Mapping[str, str], owner: str = "rs-uid") -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": dict(labels),
            "ownerReferences": [{"kind": "ReplicaSet", "uid": owner, "controller": True}],
        }
    }


def test_stable_metadata_goes_onto_the_replica_set_first_then_onto_each_existing_pod() -> None:
    canary = {"stableService": "", "steps": [{"setWeight": 50}, {"pause": {}}], "stableMetadata": STABLE}
    rollout, rs, pod_hash = deployed({"canary": canary})
    labels = rs["spec"]["template"]["metadata"]["labels"]
    pods = [pod("web-a", labels), pod("web-b", labels), pod("other", {"app": "web"}, owner="someone-else")]
    api = PodApi(rollout, pods, missing=frozenset({"web-b"}))
    run(reconciler(api, rollout, rs).sync("ns/web"))
    assert api.selectors == ["app=web"]
    patches = [(path.rsplit("/", 1)[-1], body) for verb, path, body in api.calls if verb == "patch"]
    names = [name for name, _ in patches]
    assert names[:3] == [f"web-{pod_hash}", "web-a", "web-b"]  # the ReplicaSet before its pods
    rs_patch = patches[0][1]
    assert rs_patch["spec"] == {
        "template": {"metadata": {"labels": {"role": "stable"}, "annotations": {"team": "web"}}}
    }
    assert json.loads(rs_patch["metadata"]["annotations"][EPHEMERAL_METADATA_ANNOTATION]) == STABLE
    pod_patch = {"metadata": {"labels": {"role": "stable"}, "annotations": {"team": "web"}}}
    assert patches[1][1] == pod_patch and patches[2][1] == pod_patch
    assert "other" not in names  # not a pod of the Rollout's ReplicaSet


def test_without_ephemeral_metadata_the_pods_are_not_even_listed() -> None:
    rollout, rs, _ = deployed()
    api = PodApi(rollout, [])
    run(reconciler(api, rollout, rs).sync("ns/web"))
    assert not any(verb == "list" for verb, _ in api.verbs())
