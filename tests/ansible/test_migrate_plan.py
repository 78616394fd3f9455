"""The rollouts_migrate role's filters: what each Deployment needs, from what the cluster holds (pure)."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "roles" / "rollouts_migrate" / "filter_plugins" / "rollouts_migrate.py"


def load_plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rollouts_migrate_filters", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plugin = load_plugin()
Obj = dict[str, Any]


def deployment(name: str = "web", replicas: int | None = 2, labels: dict[str, str] | None = None) -> Obj:
    spec: Obj = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": name, "image": "argoproj/rollouts-demo:blue"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": labels or {},
            "uid": "u1",
            "resourceVersion": "7",
        },
        "spec": spec,
        "status": {"replicas": replicas, "availableReplicas": replicas},
    }


def rollout(name: str = "web", **spec: Any) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "shop", "generation": 3},
        "spec": {"replicas": 2, **spec},
        "status": {"phase": "Healthy", "observedGeneration": "3", "availableReplicas": 2},
    }


def test_a_new_rollout_is_the_converted_deployment() -> None:
    plan = plugin.plan_present([deployment()], [], names=["web"])
    [item] = plan["items"]
    assert plan["missing"] == []
    assert item["new"] is True
    assert item["definition"]["spec"]["template"] == deployment()["spec"]["template"]
    assert item["definition"]["spec"]["strategy"]["canary"]["steps"][0] == {"setWeight": 50}
    assert "uid" not in item["definition"]["metadata"]
    assert (item["replicas"], item["deployment_target"]) == (2, 0)
    assert item["role_scales"] is True
    assert item["controller_scales"] is False
    assert item["done"] is False


def test_an_existing_rollout_gets_only_its_steps() -> None:
    moved_on = rollout(
        template={
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "green"}]},
        }
    )
    steps = [{"setWeight": 10}, {"pause": {}}]
    plan = plugin.plan_present([deployment(replicas=0)], [moved_on], names=["web"], steps=steps)
    [item] = plan["items"]
    assert item["new"] is False
    assert item["definition"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"strategy": {"canary": {"steps": steps}}},
    }
    assert item["done"] is True, "the Deployment is at 0: nothing to wait for"
    assert item["role_scales"] is False


def test_a_migration_left_half_way_is_finished() -> None:
    [item] = plugin.plan_present([deployment(replicas=2)], [rollout()], names=["web"])["items"]
    assert (item["new"], item["done"], item["role_scales"]) == (False, False, True)


def test_workload_ref_mode_lets_the_controller_scale() -> None:
    plan = plugin.plan_present(
        [deployment()], [], names=["web"], mode="workload-ref", scale_down="progressively"
    )
    [item] = plan["items"]
    assert item["definition"]["spec"]["workloadRef"]["scaleDown"] == "progressively"
    assert "template" not in item["definition"]["spec"]
    assert (item["role_scales"], item["controller_scales"]) == (False, True)


def test_scale_down_never_leaves_the_deployment_alone() -> None:
    [item] = plugin.plan_present([deployment()], [rollout()], names=["web"], scale_down="never")["items"]
    assert item["deployment_target"] is None
    assert (item["role_scales"], item["controller_scales"], item["done"]) == (False, False, True)


def test_selection_by_name_and_by_selector() -> None:
    found = [deployment("web"), deployment("api")]
    plan = plugin.plan_present(found, [], names=["api", "gone"])
    assert [i["name"] for i in plan["items"]] == ["api"]
    assert plan["missing"] == ["gone"]
    plan = plugin.plan_present(found, [], selector="tier=web")
    assert [i["name"] for i in plan["items"]] == ["web", "api"], "the API filtered by the selector already"
    assert plugin.plan_present(found, [])["items"] == []


def test_a_deployment_that_cannot_be_converted_fails_with_the_converters_reason() -> None:
    recreate = deployment()
    recreate["spec"]["strategy"] = {"type": "Recreate"}
    with pytest.raises(plugin.AnsibleFilterError, match='Deployment "shop/web": strategy Recreate'):
        plugin.plan_present([recreate], [], names=["web"])


@pytest.mark.parametrize(
    ("state", "mode", "scale_down", "message"),
    [
        ("gone", "template", "onsuccess", "rollouts_migrate_state must be present or absent"),
        ("present", "blue-green", "onsuccess", "rollouts_migrate_mode must be template or workload-ref"),
        ("present", "template", "progressively", "only the controller scales progressively"),
    ],
)
def test_bad_settings_are_named(state: str, mode: str, scale_down: str, message: str) -> None:
    with pytest.raises(plugin.AnsibleFilterError, match=message):
        plugin.check_settings(state, mode, scale_down)


def test_going_back_gives_the_deployment_the_rollouts_replicas() -> None:
    plan = plugin.plan_absent([deployment(replicas=0)], [rollout(replicas=3)], names=["web"])
    [item] = plan["items"]
    assert item["deployment_patch"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 3},
    }
    assert item["release_scale_down"] is False


def test_going_back_keeps_the_version_the_rollout_runs() -> None:
    template = copy.deepcopy(deployment()["spec"]["template"])
    template["spec"]["containers"][0]["image"] = "argoproj/rollouts-demo:green"
    [item] = plugin.plan_absent([deployment(replicas=0)], [rollout(template=template)], names=["web"])[
        "items"
    ]
    assert item["deployment_patch"]["spec"]["template"] == template
    [item] = plugin.plan_absent(
        [deployment(replicas=0)], [rollout(template=template)], names=["web"], restore_template=False
    )["items"]
    assert "template" not in item["deployment_patch"]["spec"]


def test_going_back_from_workload_ref_stops_the_controller_scaling_first() -> None:
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "scaleDown": "onsuccess"}
    [item] = plugin.plan_absent([deployment(replicas=0)], [rollout(workloadRef=ref)], names=["web"])["items"]
    assert item["release_scale_down"] is True
    assert "template" not in item["deployment_patch"]["spec"]
    ref["scaleDown"] = "never"
    [item] = plugin.plan_absent([deployment(replicas=0)], [rollout(workloadRef=ref)], names=["web"])["items"]
    assert item["release_scale_down"] is False


def test_going_back_without_a_rollout_has_nothing_to_do() -> None:
    assert plugin.plan_absent([deployment()], [], names=["web"]) == {"missing": [], "items": []}


def test_healthy_needs_the_latest_spec_observed_and_every_pod_available() -> None:
    assert plugin.not_healthy([rollout()], ["web"]) == []
    stale = rollout()
    stale["status"]["observedGeneration"] = "2"
    progressing = rollout()
    progressing["status"].update(
        phase="Progressing", message="more replicas need to be updated", availableReplicas=1
    )
    assert plugin.not_healthy([stale], ["web"]) == ["web: Healthy (2 available)"]
    assert plugin.not_healthy([progressing], ["web"]) == [
        "web: Progressing (more replicas need to be updated)"
    ]
    assert plugin.not_healthy([], ["web"]) == ["web: not found"]
    assert plugin.not_observed([stale, rollout("api")], ["web", "api"]) == ["web"]


def test_scaled_means_spec_and_pods_at_the_target() -> None:
    scaling = deployment(replicas=0)
    scaling["status"]["replicas"] = 1
    assert plugin.not_scaled([scaling], {"web": 0}) == ["web: 1 pods, 0 wanted"]
    scaling["status"]["replicas"] = 0
    assert plugin.not_scaled([scaling], {"web": 0}) == []


def test_the_filters_are_registered_under_the_roles_name() -> None:
    names = set(plugin.FilterModule().filters())
    assert all(name.startswith("rollouts_migrate_") for name in names)
    assert {
        "rollouts_migrate_plan_present",
        "rollouts_migrate_plan_absent",
        "rollouts_migrate_not_healthy",
    } <= names
