"""The arithmetic of Deployments and ReplicaSets: surge/unavailable rounding, the pod-template
hash, scale-down order, rolling-update steps and proportional scaling."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.registry import Registry, ResourceType
from localcluster.controllers import deployment_status as ds
from localcluster.controllers.deployment import DeploymentController
from localcluster.controllers.pod_order import is_pod_available, pods_to_delete
from localcluster.controllers.replicaset import ReplicaSetController
from localcluster.controllers.rollout_math import (
    HASH_LABEL,
    REVISION,
    REVISION_HISTORY,
    RSState,
    ScaleRS,
    equal_ignore_hash,
    fnv32a,
    format_time,
    is_scaling_event,
    max_surge,
    max_unavailable,
    new_replica_set,
    parse_time,
    plan_proportional,
    plan_rolling_step,
    pod_template_hash,
    resolve_fenceposts,
    safe_encode,
    scaled_value,
    set_new_rs_annotations,
)
from localcluster.store import Store

NOW = 1_700_000_000.0

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
    "spec": {
        "containers": [
            {"name": "web", "image": "argoproj/rollouts-demo:blue", "ports": [{"containerPort": 8080}]}
        ]
    },
}


def deployment(
    replicas: int = 10, surge: Any = "25%", unavailable: Any = "25%", kind: str = "RollingUpdate"
) -> dict[str, Any]:
    strategy: dict[str, Any] = {"type": kind}
    if kind == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "strategy": strategy,
            "template": TEMPLATE,
            "selector": {"matchLabels": {"app": "web"}},
        },
    }


# -- int or percent ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "total", "up", "down"),
    [
        ("25%", 10, 3, 2),  # the documented defaults: surge rounds up, unavailable down
        ("25%", 4, 1, 1),
        ("25%", 1, 1, 0),
        ("25%", 2, 1, 0),
        ("30%", 10, 3, 3),  # the documentation's 30% example
        ("33%", 3, 1, 0),
        ("100%", 3, 3, 3),
        ("0%", 10, 0, 0),
        ("50%", 0, 0, 0),
        (5, 10, 5, 5),
        (0, 10, 0, 0),
        (None, 10, 0, 0),
    ],
)
def test_int_or_percent_rounds_surge_up_and_unavailable_down(
    value: Any, total: int, up: int, down: int
) -> None:
    assert scaled_value(value, total, round_up=True) == up
    assert scaled_value(value, total, round_up=False) == down


@pytest.mark.parametrize("bad", ["5", "abc%", "%", "1.5%"])
def test_strings_that_are_not_percentages_are_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="IntOrString"):
        scaled_value(bad, 10, round_up=True)


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),
        ("25%", "25%", 1, (1, 0)),
        (0, 0, 3, (0, 1)),  # both zero: unavailable becomes 1
        ("0%", "25%", 3, (0, 1)),  # 25% of 3 rounds down to zero: unavailable becomes 1
        (1, 0, 3, (1, 0)),
        (None, None, 5, (0, 1)),
    ],
)
def test_fenceposts(surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected


def test_max_surge_and_unavailable_of_deployments() -> None:
    assert (max_surge(deployment(10)), max_unavailable(deployment(10))) == (3, 2)
    assert (max_surge(deployment(3, kind="Recreate")), max_unavailable(deployment(3, kind="Recreate"))) == (
        0,
        0,
    )
    assert max_unavailable(deployment(0)) == 0
    assert max_unavailable(deployment(2, surge=0, unavailable=5)) == 2  # never above replicas
    no_params = deployment(4)
    del no_params["spec"]["strategy"]["rollingUpdate"]
    assert (max_surge(no_params), max_unavailable(no_params)) == (1, 1)  # the 25% defaults


# -- pod-template-hash ------------------------------------------------------------------------


def test_fnv32a_known_vectors() -> None:
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_uses_the_generated_name_alphabet() -> None:
    assert safe_encode("0123456789") == "456789bcdf"


def test_hash_is_pinned_so_replica_set_names_survive_upgrades() -> None:
    # If this changes, every existing Deployment gets a new ReplicaSet (a rollout) on upgrade.
    assert pod_template_hash(TEMPLATE) == pod_template_hash(
        {"spec": TEMPLATE["spec"], "metadata": TEMPLATE["metadata"]}
    )
    assert pod_template_hash(TEMPLATE) == "766bd8b7dd"


def test_hash_changes_with_the_template_and_the_collision_count() -> None:
    green = {
        **TEMPLATE,
        "spec": {
            "containers": [{**TEMPLATE["spec"]["containers"][0], "image": "argoproj/rollouts-demo:green"}]
        },
    }
    hashes = {
        pod_template_hash(TEMPLATE),
        pod_template_hash(green),
        pod_template_hash(TEMPLATE, 1),
        pod_template_hash(TEMPLATE, 2),
    }
    assert len(hashes) == 4
    assert all(1 <= len(h) <= 10 and set(h) <= set("456789bcdf") for h in hashes)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6), st.randoms())
def test_hash_does_not_depend_on_key_order(template: dict[str, Any], rnd: random.Random) -> None:
    items = list(template.items())
    rnd.shuffle(items)
    assert pod_template_hash(dict(items)) == pod_template_hash(template)


def test_template_equality_ignores_the_hash_label_and_empty_fields() -> None:
    with_hash = new_replica_set(deployment(), "abc", 1)["spec"]["template"]
    assert with_hash["metadata"]["labels"] == {"app": "web", HASH_LABEL: "abc"}
    assert equal_ignore_hash(with_hash, TEMPLATE)
    assert equal_ignore_hash({**TEMPLATE, "spec": {**TEMPLATE["spec"], "volumes": []}}, TEMPLATE)
    changed = {
        **TEMPLATE,
        "metadata": {"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
    }
    assert not equal_ignore_hash(changed, TEMPLATE)


def test_new_replica_set_manifest() -> None:
    rs = new_replica_set(deployment(), "abc", 3)
    assert rs["metadata"]["name"] == "web-abc"
    assert rs["metadata"]["labels"] == {"app": "web", HASH_LABEL: "abc"}
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", HASH_LABEL: "abc"}}
    assert rs["metadata"]["ownerReferences"][0] | {} == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": "d-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert "pod-template-hash" not in TEMPLATE["metadata"]["labels"]  # the Deployment's is untouched


# -- revisions --------------------------------------------------------------------------------


def test_a_new_replica_set_gets_the_next_revision_and_replica_annotations() -> None:
    d = deployment(4)
    d["metadata"]["annotations"] = {
        "kubernetes.io/change-cause": "v2",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
    }
    rs = new_replica_set(d, "abc", 1)
    assert set_new_rs_annotations(d, rs, 3, exists=False)
    assert rs["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "v2",
        REVISION: "3",
        "deployment.kubernetes.io/desired-replicas": "4",
        "deployment.kubernetes.io/max-replicas": "5",
    }
    assert not set_new_rs_annotations(d, rs, 3, exists=True)


def test_a_replica_set_rolled_back_to_keeps_its_old_revisions() -> None:
    rs = new_replica_set(deployment(), "abc", 1)
    rs["metadata"]["annotations"] = {REVISION: "1"}
    assert set_new_rs_annotations(deployment(), rs, 3, exists=True)
    assert rs["metadata"]["annotations"][REVISION] == "3"
    assert rs["metadata"]["annotations"][REVISION_HISTORY] == "1"
    set_new_rs_annotations(deployment(), rs, 5, exists=True)
    assert rs["metadata"]["annotations"][REVISION_HISTORY] == "1,3"


def test_scaling_event_is_seen_in_the_desired_replicas_annotation() -> None:
    rs = new_replica_set(deployment(3), "abc", 3)
    set_new_rs_annotations(deployment(3), rs, 1, exists=False)
    assert not is_scaling_event(deployment(3), [rs])
    assert is_scaling_event(deployment(5), [rs])
    rs["spec"]["replicas"] = 0  # inactive ReplicaSets do not count
    assert not is_scaling_event(deployment(5), [rs])


# -- pods -------------------------------------------------------------------------------------


def pod(
    name: str,
    *,
    node: str = "localcluster",
    phase: str = "Running",
    ready: bool = True,
    age: float = 100,
    ready_for: float | None = None,
    restarts: int = 0,
    cost: int | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": name, "creationTimestamp": format_time(NOW - age)}
    if cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    ready_since = format_time(NOW - (ready_for if ready_for is not None else age))
    return {
        "metadata": meta,
        "spec": {"nodeName": node} if node else {},
        "status": {
            "phase": phase,
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_since}
            ],
            "containerStatuses": [{"name": "c", "restartCount": restarts}],
        },
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            pod("unscheduled", node="", phase="Pending", ready=False),
            pod("scheduled", phase="Pending", ready=False),
        ),
        (pod("pending", phase="Pending", ready=False), pod("running", ready=False)),
        (pod("not-ready", ready=False), pod("ready")),
        (pod("cheap", cost=-5), pod("dear", cost=10)),
        (pod("ready-recently", ready_for=2), pod("ready-long", ready_for=1000)),
        (pod("crashy", restarts=4), pod("steady", restarts=0)),
        (pod("newer", age=10), pod("older", age=1000)),
    ],
)
def test_scale_down_deletes_the_least_valuable_pod_first(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    for pods in ([first, second], [second, first]):
        assert pods_to_delete(pods, 1, pods, NOW) == [first]


def test_scale_down_prefers_pods_on_crowded_nodes() -> None:
    crowded, quiet = pod("crowded", node="a"), pod("quiet", node="b")
    related = [crowded, quiet, pod("sibling-1", node="a"), pod("sibling-2", node="a")]
    assert pods_to_delete([quiet, crowded], 1, related, NOW) == [crowded]


def test_availability_waits_for_min_ready_seconds() -> None:
    just_ready = pod("p", ready_for=3)
    assert is_pod_available(just_ready, 0, NOW)
    assert not is_pod_available(just_ready, 5, NOW)
    assert is_pod_available(just_ready, 2, NOW)
    assert not is_pod_available(pod("q", ready=False), 0, NOW)


def test_timestamps_round_trip() -> None:
    assert parse_time(format_time(NOW)) == NOW
    assert parse_time("2024-05-01T10:00:00.250Z") == parse_time("2024-05-01T10:00:00Z") + 0.25  # type: ignore[operator]
    assert parse_time("garbage") is None


# -- rolling update steps ---------------------------------------------------------------------


def test_rolling_update_step_by_step() -> None:
    # replicas 3, maxSurge 1, maxUnavailable 0: one new pod at a time, old go as new become available.
    old = RSState("old", 3, 3, 3, (1.0, "old"))
    assert plan_rolling_step(3, 1, 0, RSState("new", 0, 0, 0, (2.0, "new")), [old]) == {"new": 1}
    # the new pod is not available yet: nothing may move
    assert plan_rolling_step(3, 1, 0, RSState("new", 1, 1, 0, (2.0, "new")), [old]) == {}
    # it is: one old one goes
    assert plan_rolling_step(3, 1, 0, RSState("new", 1, 1, 1, (2.0, "new")), [old]) == {"old": 2}
    # the old pod is still there (the ReplicaSet controller has not deleted it): no surge yet
    old_shrinking = RSState("old", 2, 3, 3, (1.0, "old"))
    assert plan_rolling_step(3, 1, 0, RSState("new", 1, 1, 1, (2.0, "new")), [old_shrinking]) == {}


def test_unavailable_old_pods_are_cleaned_up_first() -> None:
    # replicas 4, maxSurge 1, maxUnavailable 1; the old ReplicaSet has 2 broken pods.
    old = RSState("old", 4, 4, 2, (1.0, "old"))
    new = RSState("new", 1, 1, 0, (2.0, "new"))
    assert plan_rolling_step(4, 1, 1, new, [old]) == {"old": 3}


def test_oldest_replica_sets_are_scaled_down_first() -> None:
    older = RSState("a-older", 2, 2, 2, (1.0, "a-older"))
    newer = RSState("b-newer", 2, 2, 2, (2.0, "b-newer"))
    new = RSState("new", 4, 4, 4, (3.0, "new"))
    assert plan_rolling_step(4, 1, 1, new, [newer, older]) == {"a-older": 0, "b-newer": 0}
    # 3 of the 6 available pods may go: all of the older ReplicaSet, then one of the newer.
    new = RSState("new", 2, 2, 2, (3.0, "new"))
    assert plan_rolling_step(4, 1, 1, new, [newer, older]) == {"a-older": 0, "b-newer": 1}


def test_new_replica_set_scaled_down_when_replicas_shrink() -> None:
    assert plan_rolling_step(2, 1, 0, RSState("new", 3, 3, 3), []) == {"new": 2}


@dataclass
class SimRS:
    name: str
    spec: int
    pods: list[bool] = field(default_factory=list)  # availability of each pod
    status_available: int = 0  # what its (possibly stale) status says
    order: float = 0.0

    def state(self) -> RSState:
        return RSState(self.name, self.spec, len(self.pods), self.status_available, (self.order, self.name))

    def sync(self) -> None:
        """The ReplicaSet controller: unavailable pods go first; new pods start unavailable."""
        self.pods.sort()
        while len(self.pods) > self.spec:
            self.pods.pop(0)
        while len(self.pods) < self.spec:
            self.pods.append(False)
        self.status_available = sum(self.pods)


def _step(desired: int, surge: int, unavailable: int, new: SimRS, olds: list[SimRS]) -> None:
    plan = plan_rolling_step(desired, surge, unavailable, new.state(), [o.state() for o in olds])
    for rs in [new, *olds]:
        rs.spec = plan.get(rs.name, rs.spec)


@settings(max_examples=300, deadline=None)
@given(
    desired=st.integers(min_value=1, max_value=12),
    surge=st.one_of(
        st.integers(min_value=0, max_value=4), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])
    ),
    unavailable=st.one_of(
        st.integers(min_value=0, max_value=4), st.sampled_from(["0%", "10%", "25%", "50%"])
    ),
    olds=st.integers(min_value=1, max_value=2),
    actions=st.lists(st.tuples(st.sampled_from(["deploy", "sync", "ready"]), st.integers(0, 2)), max_size=80),
)
def test_rolling_update_keeps_within_surge_and_availability(
    desired: int, surge: Any, unavailable: Any, olds: int, actions: list[tuple[str, int]]
) -> None:
    max_s, max_u = resolve_fenceposts(surge, unavailable, desired)
    max_u = min(max_u, desired)
    # Old ReplicaSets at full availability (split when there are two), a new one at zero.
    sizes = [desired // olds + (1 if i < desired % olds else 0) for i in range(olds)]
    old_rss = [SimRS(f"old{i}", n, [True] * n, n, float(i)) for i, n in enumerate(sizes)]
    new = SimRS("new", 0, [], 0, 10.0)
    everything = [new, *old_rss]

    def check() -> None:
        assert sum(len(rs.pods) for rs in everything) <= desired + max_s
        assert sum(sum(rs.pods) for rs in everything) >= desired - max_u

    for action, index in actions:
        rs = everything[index % len(everything)]
        if action == "deploy":
            _step(desired, max_s, max_u, new, old_rss)
        elif action == "sync":
            rs.sync()
        elif False in new.pods:
            new.pods[new.pods.index(False)] = True
        check()
    # Left to run, the rollout completes.
    for _ in range(6 * desired + 10):
        _step(desired, max_s, max_u, new, old_rss)
        check()
        for rs in everything:
            rs.sync()
            check()
        new.pods = [True] * len(new.pods)
        new.status_available = len(new.pods)
        check()
    assert (new.spec, len(new.pods), sum(new.pods)) == (desired, desired, desired)
    assert all(rs.spec == 0 and not rs.pods for rs in old_rss)


# -- proportional scaling ---------------------------------------------------------------------


def test_proportional_scaling_documented_example() -> None:
    # The Kubernetes documentation: 10 replicas, maxSurge 3, a rollout blocked with the old
    # ReplicaSet at 8 and the new at 5; scaled to 15: 3 more for the old, 2 for the new.
    old = ScaleRS("old", 8, (1.0, "old"), 13)
    new = ScaleRS("new", 5, (2.0, "new"), 13)
    assert plan_proportional(15, 3, [new, old], 13) == {"old": 11, "new": 7}


def test_proportional_scaling_to_zero() -> None:
    active = [ScaleRS("a", 3, (1.0, "a"), 5), ScaleRS("b", 2, (2.0, "b"), 5)]
    assert plan_proportional(0, 0, active, 5) == {"a": 0, "b": 0}


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=4),
    desired=st.integers(min_value=1, max_value=40),
    surge=st.integers(min_value=0, max_value=5),
)
def test_proportional_scaling_lands_on_the_allowed_total(sizes: list[int], desired: int, surge: int) -> None:
    before = sum(sizes)
    active = [ScaleRS(f"rs{i}", n, (float(i), f"rs{i}"), before) for i, n in enumerate(sizes)]
    after = plan_proportional(desired, surge, active, before)
    assert all(v >= 0 for v in after.values())
    # the leftover goes to the largest ReplicaSet, clamped at 0 as in Kubernetes' scale(): then
    # (e.g. four ReplicaSets of 1 scaled to 1 + surge 1) it lands above the total, never below,
    # and the rolling update's scale-down takes the rest on the next sync
    largest = min(active, key=lambda rs: (-rs.replicas, rs.order)).name
    if after[largest] == 0 and desired + surge < before:
        assert desired + surge <= sum(after.values()) <= before
    else:
        assert sum(after.values()) == desired + surge
    if desired + surge > before:
        assert all(after[rs.name] >= rs.replicas for rs in active)
    else:
        assert all(after[rs.name] <= rs.replicas for rs in active)


# -- status -----------------------------------------------------------------------------------


def rs_with(replicas: int, ready: int, available: int) -> dict[str, Any]:
    status = {"replicas": replicas, "readyReplicas": ready, "availableReplicas": available}
    return {"metadata": {"name": "web-abc"}, "spec": {"replicas": replicas}, "status": status}


def test_status_omits_zero_counts_and_tracks_availability() -> None:
    d = deployment(2, surge=1, unavailable=0)
    status = ds.calculate_status(d, [rs_with(2, 0, 0)], rs_with(2, 0, 0), NOW)
    assert status["unavailableReplicas"] == 2
    assert "availableReplicas" not in status and "readyReplicas" not in status
    assert ds.get_condition(status, "Available")["reason"] == "MinimumReplicasUnavailable"  # type: ignore[index]
    done = ds.calculate_status(d, [rs_with(2, 2, 2)], rs_with(2, 2, 2), NOW)
    assert "unavailableReplicas" not in done
    assert done["observedGeneration"] == 1
    assert ds.get_condition(done, "Available")["status"] == "True"  # type: ignore[index]


def test_progressing_condition_through_a_rollout() -> None:
    d = deployment(2, surge=1, unavailable=0)
    d["spec"]["progressDeadlineSeconds"] = 600
    d["status"] = {
        "conditions": [ds.new_condition("Progressing", "True", ds.NEW_RS_CREATED, "created", NOW - 50)]
    }
    moving = ds.rollout_status(d, [rs_with(2, 1, 1)], rs_with(2, 1, 1), NOW)
    cond = ds.get_condition(moving, "Progressing")
    assert cond is not None
    assert (cond["reason"], cond["lastUpdateTime"], cond["lastTransitionTime"]) == (
        ds.RS_UPDATED,
        format_time(NOW),
        format_time(NOW - 50),
    )
    d["status"] = moving
    done = ds.rollout_status(d, [rs_with(2, 2, 2)], rs_with(2, 2, 2), NOW + 1)
    assert ds.get_condition(done, "Progressing")["reason"] == ds.NEW_RS_AVAILABLE  # type: ignore[index]
    assert ds.deployment_complete(d, done)


def test_progress_deadline_exceeded() -> None:
    d = deployment(2, surge=1, unavailable=0)
    d["spec"]["progressDeadlineSeconds"] = 10
    d["status"] = {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "unavailableReplicas": 2,
        "conditions": [ds.new_condition("Progressing", "True", ds.RS_UPDATED, "moving", NOW - 5)],
    }
    stuck = [rs_with(2, 0, 0)]
    assert (
        ds.get_condition(ds.rollout_status(d, stuck, stuck[0], NOW), "Progressing")["reason"] == ds.RS_UPDATED
    )  # type: ignore[index]
    assert ds.progress_check_after(d, ds.rollout_status(d, stuck, stuck[0], NOW), NOW) == pytest.approx(6.0)
    late = ds.rollout_status(d, stuck, stuck[0], NOW + 6)
    cond = ds.get_condition(late, "Progressing")
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", ds.TIMED_OUT)
    assert cond["message"] == 'ReplicaSet "web-abc" has timed out progressing.'


# -- the controllers over an in-memory store (no server, no kubelet) -----------------------------


def in_memory() -> Objects:
    objects = Objects(Store(None), Registry())
    objects.ensure_namespace("ns")
    return objects


def rt(objects: Objects, group: str, plural: str) -> ResourceType:
    found = objects.registry.lookup(group, "v1", plural)
    assert found is not None
    return found


def test_replica_failure_condition_while_pods_cannot_be_created(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = in_memory()
    rs = new_replica_set(deployment(), "abc", 2)
    del rs["metadata"]["ownerReferences"]
    objects.create(rt(objects, "apps", "replicasets"), "ns", rs, WriteOptions())
    controller = ReplicaSetController(objects)
    real_create = objects.create

    def failing_create(kind: ResourceType, namespace: str, body: Any, opts: WriteOptions) -> Any:
        if kind.kind == "Pod":
            raise ApiError(403, "Forbidden", 'pods "web-abc-x" is forbidden: exceeded quota')
        return real_create(kind, namespace, body, opts)

    monkeypatch.setattr(objects, "create", failing_create)
    assert asyncio.run(controller.reconcile("ns/web-abc")) == 5.0  # retried
    stored = objects.store.get("apps/replicasets", "ns", "web-abc")
    assert stored is not None
    (cond,) = stored["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("ReplicaFailure", "True", "FailedCreate")
    assert "exceeded quota" in cond["message"]
    events = objects.store.list("/events", "ns")
    assert [(e["type"], e["reason"]) for e in events] == [("Warning", "FailedCreate")]
    asyncio.run(controller.reconcile("ns/web-abc"))
    assert objects.store.list("/events", "ns")[0]["count"] == 2  # the repeat is counted, not duplicated

    monkeypatch.setattr(objects, "create", real_create)
    assert asyncio.run(controller.reconcile("ns/web-abc")) is None
    stored = objects.store.get("apps/replicasets", "ns", "web-abc")
    assert stored is not None
    assert stored["status"] == {"replicas": 2, "fullyLabeledReplicas": 2, "observedGeneration": 1}
    rv = stored["metadata"]["resourceVersion"]
    asyncio.run(controller.reconcile("ns/web-abc"))  # nothing changed: nothing written
    assert objects.store.get("apps/replicasets", "ns", "web-abc")["metadata"]["resourceVersion"] == rv  # type: ignore[index]


def test_hash_collision_bumps_the_collision_count() -> None:
    objects = in_memory()
    created = objects.create(rt(objects, "apps", "deployments"), "ns", deployment(2), WriteOptions()).obj
    template = created["spec"]["template"]
    squatter = new_replica_set(created, pod_template_hash(template), 0)
    del squatter["metadata"]["ownerReferences"]
    squatter["metadata"]["labels"] = {"other": "app"}
    squatter["spec"]["selector"] = {"matchLabels": {"other": "app"}}
    squatter["spec"]["template"]["metadata"]["labels"] = {"other": "app"}
    objects.create(rt(objects, "apps", "replicasets"), "ns", squatter, WriteOptions())
    controller = DeploymentController(objects)
    asyncio.run(controller.reconcile("ns/web"))
    d = objects.store.get("apps/deployments", "ns", "web")
    assert d is not None and d["status"]["collisionCount"] == 1
    asyncio.run(controller.reconcile("ns/web"))
    names = {rs["metadata"]["name"] for rs in objects.store.list("apps/replicasets", "ns")}
    assert names == {f"web-{pod_template_hash(template)}", f"web-{pod_template_hash(template, 1)}"}
