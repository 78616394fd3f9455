"""Unit tests for the pod-template/step hashes and the status merge patch."""

from __future__ import annotations

from controller.core.hashing import POD_TEMPLATE_HASH_LABEL, fnv32a, pod_template_hash, safe_encode, step_hash
from controller.core.plan import Plan, apply_merge_patch, status_merge_patch

TEMPLATE = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}


def test_fnv32a_matches_reference_vectors() -> None:
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968


def test_hash_is_stable_safe_and_ignores_its_own_label() -> None:
    h = pod_template_hash(TEMPLATE)
    assert h == pod_template_hash(dict(TEMPLATE))
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    labelled = {**TEMPLATE, "metadata": {"labels": {"app": "a", POD_TEMPLATE_HASH_LABEL: h}}}
    assert pod_template_hash(labelled) == h
    changed = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": "i:2"}]}}
    assert pod_template_hash(changed) != h
    assert pod_template_hash(TEMPLATE, 1) != h
    assert safe_encode("0123") == "4567"


def test_step_hash_changes_with_steps() -> None:
    assert step_hash([{"setWeight": 10}]) != step_hash([{"setWeight": 20}])
    assert step_hash(None) == step_hash(None)


def test_status_patch_follows_go_omitempty() -> None:
    old = {"abort": False, "replicas": 2, "canary": {}, "currentStepIndex": 0}
    assert status_merge_patch(old, {"replicas": 2, "canary": {}, "currentStepIndex": 0}) is None
    patch = status_merge_patch(old, {"replicas": 3, "canary": {}})
    assert patch == {"status": {"replicas": 3, "currentStepIndex": None}}
    assert apply_merge_patch({"status": old}, patch)["status"] == {
        "abort": False,
        "replicas": 3,
        "canary": {},
    }


def test_plan_changes_nothing() -> None:
    assert Plan(events=(("Normal", "X", "y"),), requeue_after=3.0).changes_nothing
    assert not Plan(scale=(("rs", 1),)).changes_nothing
