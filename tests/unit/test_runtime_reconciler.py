"""The reconciler against fake caches and a recording fake API (no server)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from controller.core.plan import apply_merge_patch
from controller.kube import Conflict, VersionTracker
from controller.runtime.reconciler import (
    INSTANCE_ID_LABEL,
    OWNER_INDEX,
    STALE_REQUEUE,
    Reconciler,
    instance_matches,
    owner_uid_index,
    rollout_key_of_replica_set,
    service_index,
)

Obj = dict[str, Any]
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_rollout(*, rv: str = "5", strategy: Obj | None = None, labels: dict[str, str] | None = None) -> Obj:
    canary: Obj = {"stableService": "web", "steps": [{"setWeight": 50}, {"pause": {}}]}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "uid": "uid-1",
            "resourceVersion": rv,
            "generation": 1,
            "labels": labels or {},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "demo:blue"}]},
            },
            "strategy": strategy or {"canary": canary},
        },
    }


class FakeCache:
    """``get`` by key and one index, like an Informer."""

    def __init__(self, *objs: Obj, index: str = "", fn: Any = None) -> None:
        self.objs = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in objs}
        self.index, self.fn = index, fn

    def get(self, key: str) -> Obj | None:
        return self.objs.get(key)

    def by_index(self, name: str, value: str) -> list[Obj]:
        assert name == self.index
        return [o for o in self.objs.values() if value in self.fn(o)]


class FakeApi:
    """Records every write; ``patch_status`` answers the patched object with a newer resourceVersion."""

    def __init__(self, rollout: Obj | None = None) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.rollout = rollout
        self.fail_on: str | None = None

    def _record(self, verb: str, path: str, body: Any) -> None:
        self.calls.append((verb, path, copy.deepcopy(body)))
        if self.fail_on == verb:
            raise Conflict(409, "Conflict", "the object has been modified")

    async def create(self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None) -> Obj:
        self._record("create", path, body)
        return dict(body)

    async def patch(self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None) -> Obj:
        self._record("patch", path, body)
        return dict(body)

    async def patch_status(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> Obj:
        self._record("patch_status", path, body)
        assert self.rollout is not None
        result = apply_merge_patch(self.rollout, body)
        result["metadata"] = {**result["metadata"], "resourceVersion": "9"}
        return result

    async def delete(self, path: str) -> Obj:
        self._record("delete", path, None)
        return {}

    def verbs(self) -> list[tuple[str, str]]:
        return [(verb, path) for verb, path, _ in self.calls]


def reconciler(api: FakeApi, rollout: Obj | None, *rss: Obj, services: tuple[Obj, ...] = ()) -> Reconciler:
    rollouts = FakeCache(*([rollout] if rollout else []))
    replica_sets = FakeCache(*rss, index=OWNER_INDEX, fn=owner_uid_index)
    return Reconciler(api, rollouts, replica_sets, FakeCache(*services), clock=lambda: NOW)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_new_rollout_gets_its_first_replica_set_status_and_events() -> None:
    rollout = make_rollout()
    api = FakeApi(rollout)
    r = reconciler(api, rollout)
    assert run(r.sync("ns/web")) is None
    verbs = api.verbs()
    assert verbs[0] == ("create", "/apis/apps/v1/namespaces/ns/replicasets")
    assert ("patch_status", "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/web") in verbs
    created = api.calls[0][2]
    assert created["spec"]["replicas"] == 2
    assert created["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    events = [body for verb, path, body in api.calls if path.endswith("/events")]
    assert events, "events are recorded"
    for event in events:
        assert event["involvedObject"]["kind"] == "Rollout"
        assert event["involvedObject"]["uid"] == "uid-1"
        assert event["source"] == {"component": "rollouts-controller"}
        assert event["type"] == "Normal"
    assert {e["reason"] for e in events} >= {"NewReplicaSetCreated"}
    # the status write is remembered: the cached copy (rv 5) is now stale
    assert r.versions.last_written("ns/web") == "9"


def test_a_stale_cache_is_not_acted_on() -> None:
    rollout = make_rollout(rv="5")
    api = FakeApi(rollout)
    r = reconciler(api, rollout)
    r.versions.record_write("ns/web", "7")
    assert run(r.sync("ns/web")) == STALE_REQUEUE
    assert api.calls == []


def test_a_gone_rollout_is_forgotten() -> None:
    api = FakeApi()
    versions = VersionTracker()
    versions.record_write("ns/web", "3")
    r = reconciler(api, None)
    r.versions = versions
    assert run(r.sync("ns/web")) is None
    assert api.calls == []
    assert versions.last_written("ns/web") is None


def test_an_unsupported_rollout_gets_one_warning_not_a_crash() -> None:
    canary = {
        "canaryService": "web-canary",
        "stableService": "web",
        "trafficRouting": {"istio": {"virtualService": {"name": "web"}}},
    }
    rollout = make_rollout(strategy={"canary": canary})
    api = FakeApi(rollout)
    r = reconciler(api, rollout)
    assert run(r.sync("ns/web")) is None
    assert run(r.sync("ns/web")) is None
    events = [body for _, path, body in api.calls if path.endswith("/events")]
    assert len(events) == 1
    assert events[0]["type"] == "Warning"
    assert events[0]["reason"] == "UnsupportedSpec"


def test_another_instance_rollout_is_left_alone() -> None:
    rollout = make_rollout(labels={INSTANCE_ID_LABEL: "blue-team"})
    api = FakeApi(rollout)
    assert run(reconciler(api, rollout).sync("ns/web")) is None
    assert api.calls == []
    assert instance_matches(rollout, "blue-team")
    assert not instance_matches(make_rollout(), "blue-team")


def owned_rs(name: str, pod_hash: str, replicas: int, available: int, revision: int) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": f"2024-05-01T10:0{revision}:00Z",
            "labels": {"app": "web", "rollouts-pod-template-hash": pod_hash},
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
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
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available},
    }


def test_the_service_selector_is_patched_with_the_managed_by_annotation() -> None:
    rollout = make_rollout()
    api = FakeApi(rollout)
    first = reconciler(api, rollout)
    run(first.sync("ns/web"))
    pod_hash = api.calls[0][2]["metadata"]["labels"]["rollouts-pod-template-hash"]
    # the next round: the RS exists and is available, the status says stable = it
    status = apply_merge_patch(rollout, next(b for v, _, b in api.calls if v == "patch_status"))["status"]
    settled = {**rollout, "status": status}
    rs = owned_rs(f"web-{pod_hash}", pod_hash, 2, 2, 1)
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"selector": {"app": "web"}},
    }
    api2 = FakeApi(settled)
    run(reconciler(api2, settled, rs, services=(svc,)).sync("ns/web"))
    patches = [(path, body) for verb, path, body in api2.calls if verb == "patch"]
    assert (
        "/api/v1/namespaces/ns/services/web",
        {
            "metadata": {"annotations": {"argo-rollouts.argoproj.io/managed-by-rollouts": "web"}},
            "spec": {"selector": {"rollouts-pod-template-hash": pod_hash}},
        },
    ) in patches


def test_a_conflict_propagates_for_the_worker_to_retry() -> None:
    rollout = make_rollout()
    api = FakeApi(rollout)
    api.fail_on = "patch_status"
    with pytest.raises(Conflict):
        run(reconciler(api, rollout).sync("ns/web"))


def test_index_and_mapping_functions() -> None:
    rs = owned_rs("web-abc", "abc", 1, 1, 1)
    assert list(owner_uid_index(rs)) == ["ns/uid-1"]
    assert rollout_key_of_replica_set(rs) == "ns/web"
    orphan = {"metadata": {"name": "x", "namespace": "ns"}}
    assert list(owner_uid_index(orphan)) == []
    assert rollout_key_of_replica_set(orphan) is None
    deployment_owned = copy.deepcopy(rs)
    deployment_owned["metadata"]["ownerReferences"][0].update(apiVersion="apps/v1", kind="Deployment")
    assert rollout_key_of_replica_set(deployment_owned) is None
    rollout = make_rollout()
    rollout["spec"]["strategy"]["canary"]["canaryService"] = "web-canary"
    assert set(service_index(rollout)) == {"ns/web", "ns/web-canary"}


class CollidingApi(FakeApi):
    """``create`` of a ReplicaSet answers 409 AlreadyExists; ``get`` returns ``existing``."""

    def __init__(self, rollout: Obj, existing: Obj) -> None:
        super().__init__(rollout)
        self.existing = existing

    async def create(self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None) -> Obj:
        if path.endswith("/replicasets"):
            self._record("create", path, body)
            raise Conflict(
                409, "AlreadyExists", f'replicasets.apps "{body["metadata"]["name"]}" already exists'
            )
        return await super().create(path, body, field_manager=field_manager)

    async def get(self, path: str) -> Obj:
        self._record("get", path, None)
        return self.existing


def test_a_replica_set_name_taken_by_another_owner_bumps_the_collision_count() -> None:
    rollout = make_rollout()
    foreign = {
        "metadata": {
            "name": "web-x",
            "ownerReferences": [{"kind": "Deployment", "uid": "d-1", "controller": True}],
        }
    }
    api = CollidingApi(rollout, foreign)
    with pytest.raises(Conflict):
        run(reconciler(api, rollout).sync("ns/web"))
    status_patches = [body for verb, _, body in api.calls if verb == "patch_status"]
    assert status_patches == [{"status": {"collisionCount": 1}}]


def test_a_replica_set_name_taken_by_our_own_replica_set_is_adopted_as_created() -> None:
    rollout = make_rollout()
    ours = {
        "metadata": {
            "name": "web-x",
            "ownerReferences": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "uid": "uid-1", "controller": True}
            ],
        }
    }
    api = CollidingApi(rollout, ours)
    run(reconciler(api, rollout).sync("ns/web"))
    status_patches = [body for verb, _, body in api.calls if verb == "patch_status"]
    assert len(status_patches) == 1 and "collisionCount" not in status_patches[0]["status"]


def test_a_repeated_event_is_counted_on_the_first_one() -> None:
    rollout = make_rollout()
    api = FakeApi(rollout)
    r = reconciler(api, rollout)
    events = [("Normal", "RolloutPaused", "Rollout is paused (CanaryPauseStep)")]
    run(r._record_events(rollout, events, NOW))
    run(r._record_events(rollout, events, NOW))
    run(r._record_events(rollout, [("Normal", "RolloutResumed", "Rollout is resumed")], NOW))
    writes = [(verb, path, body) for verb, path, body in api.calls if "/events" in path]
    assert [verb for verb, _, _ in writes] == ["create", "patch", "create"]
    first_name = writes[0][2]["metadata"]["name"]
    assert writes[1][1].endswith(f"/events/{first_name}")
    assert writes[1][2]["count"] == 2
