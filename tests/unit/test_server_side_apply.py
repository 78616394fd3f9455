"""Server-side apply and managedFields, checked against what a Kubernetes 1.32 API server does."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localcluster.apiserver.patch import PatchError
from localcluster.apiserver.patch.apply import (
    ApplyConflictError,
    Conflict,
    fields_v1,
    server_side_apply,
    update_managed_fields,
)
from localcluster.apiserver.schema import Schema, builtin_schema, crd_schema

T0, T1, T2, T3 = (f"2024-05-01T10:0{i}:00Z" for i in range(4))
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

_deployment_schema = builtin_schema("apps/v1", "Deployment")
assert _deployment_schema is not None
DEPLOYMENT: Schema = _deployment_schema

_CONTAINERS = {
    "type": "array",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "image": {"type": "string"},
            "env": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                },
            },
        },
    },
}
ROLLOUT = crd_schema(
    {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "paused": {"type": "boolean"},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "strategy": {
                        "type": "object",
                        "properties": {
                            "canary": {
                                "type": "object",
                                "properties": {
                                    "steps": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                    }
                                },
                            }
                        },
                    },
                    "template": {
                        "type": "object",
                        "properties": {"spec": {"type": "object", "properties": {"containers": _CONTAINERS}}},
                    },
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
)


def deployment(replicas: int | None = 3, image: str = "nginx:1.25", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
        },
        **extra,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": spec,
    }


def partial(spec: dict[str, Any]) -> dict[str, Any]:
    """A Deployment configuration that sets only ``spec``."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": spec,
    }


def rollout(spec: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "demo", "namespace": "default"}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": metadata, "spec": spec}


def apply(
    live: Mapping[str, Any] | None,
    applied: Mapping[str, Any],
    manager: str = "kubectl",
    *,
    force: bool = False,
    now: str = T1,
    schema: Schema = DEPLOYMENT,
    subresource: str | None = None,
) -> dict[str, Any]:
    version = str(applied.get("apiVersion", "apps/v1"))
    return server_side_apply(
        live,
        applied,
        schema,
        manager=manager,
        force=force,
        now=now,
        api_version=version,
        subresource=subresource,
    )


def update(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    manager: str,
    *,
    now: str = T2,
    schema: Schema = DEPLOYMENT,
    subresource: str | None = None,
) -> dict[str, Any]:
    version = str(new.get("apiVersion", "apps/v1"))
    return update_managed_fields(
        old, new, schema, manager=manager, now=now, api_version=version, subresource=subresource
    )


def entries(obj: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def owned(obj: Mapping[str, Any], manager: str, operation: str = "Apply") -> dict[str, Any]:
    fields: dict[str, Any] = entries(obj)[(manager, operation)]["fieldsV1"]
    return fields


def without_managed_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj))
    out["metadata"].pop("managedFields", None)
    return out


def edited(obj: Mapping[str, Any], change: Any) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj))
    change(out)
    return out


WEB_FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"web"}': {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {
                            'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}
                        },
                    }
                }
            },
        },
    },
}


# --- apply: create and no-ops --------------------------------------------------------------


def test_create_is_the_applied_object_owned_by_the_applier() -> None:
    created = apply(None, deployment())
    assert without_managed_fields(created) == deployment()
    assert created["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": WEB_FIELDS,
        }
    ]


def test_reapplying_the_same_configuration_changes_nothing_not_even_time() -> None:
    created = apply(None, deployment(), now=T1)
    again = apply(created, deployment(), now=T2)
    assert again == created
    assert json.dumps(again, sort_keys=True) == json.dumps(created, sort_keys=True)


def test_reapply_keeps_a_managed_fields_list_it_did_not_write() -> None:
    created = apply(None, deployment())
    created["metadata"]["managedFields"][0]["fieldsV1"] = json.loads(json.dumps(WEB_FIELDS))
    created["metadata"]["managedFields"][0]["time"] = "2024-05-01T10:01:00.000000Z"
    assert apply(created, deployment(), now=T3) == created


def test_inputs_are_not_modified() -> None:
    live = apply(None, deployment())
    snapshot, config = copy.deepcopy(live), deployment(replicas=4)
    apply(live, config, "other", force=True)
    update(live, edited(live, lambda o: o["spec"].update(replicas=9)), "kubectl-edit")
    assert live == snapshot
    assert config == deployment(replicas=4)


# --- apply: removing what the manager stops applying ----------------------------------------


def test_a_field_the_manager_stops_applying_is_removed() -> None:
    live = apply(None, deployment(), now=T1)
    result = apply(live, deployment(replicas=None), now=T2)
    assert "replicas" not in result["spec"]
    assert "f:replicas" not in owned(result, "kubectl")["f:spec"]
    assert entries(result)[("kubectl", "Apply")]["time"] == T2


def test_a_dropped_field_another_applier_owns_stays() -> None:
    live = apply(None, deployment(replicas=3), "kubectl")
    live = apply(live, partial({"replicas": 3}), "hpa-config")
    result = apply(live, deployment(replicas=None), "kubectl")
    assert result["spec"]["replicas"] == 3
    assert owned(result, "hpa-config") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owned(result, "kubectl")["f:spec"]


def test_a_dropped_field_an_updater_changed_stays() -> None:
    live = apply(None, deployment(replicas=3))
    scaled = update(live, edited(live, lambda o: o["spec"].update(replicas=5)), "kube-controller-manager")
    result = apply(scaled, deployment(replicas=None))
    assert result["spec"]["replicas"] == 5
    assert owned(result, "kube-controller-manager", "Update") == {"f:spec": {"f:replicas": {}}}


def test_a_dropped_list_element_the_manager_owned_is_removed() -> None:
    two = deployment()
    two["spec"]["template"]["spec"]["containers"].append({"name": "log", "image": "busybox"})
    live = apply(None, two)
    result = apply(live, deployment())
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["web"]


def test_dropping_the_last_label_removes_the_labels_map() -> None:
    live = apply(None, rollout({"replicas": 1}, labels={"team": "a"}), schema=ROLLOUT)
    result = apply(live, rollout({"replicas": 1}), schema=ROLLOUT)
    assert "labels" not in result["metadata"]
    assert result["metadata"]["name"] == "demo"


# --- conflicts -----------------------------------------------------------------------------


def test_conflict_with_another_applier() -> None:
    live = apply(None, deployment(replicas=3), "kubectl")
    with pytest.raises(ApplyConflictError) as caught:
        apply(live, partial({"replicas": 5}), "argocd")
    assert caught.value.conflicts == [Conflict("kubectl", ".spec.replicas")]
    assert str(caught.value) == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    assert caught.value.causes() == [
        {"type": "FieldManagerConflict", "message": 'conflict with "kubectl"', "field": ".spec.replicas"}
    ]


def test_conflict_with_an_updater_names_its_api_version() -> None:
    created = update(None, deployment(replicas=3), "kubectl-client-side-apply")
    with pytest.raises(ApplyConflictError) as caught:
        apply(created, deployment(replicas=5))
    assert str(caught.value) == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas'
    )


def test_conflict_paths_inside_keyed_lists_and_several_managers() -> None:
    live = apply(None, deployment(replicas=3), "kubectl")
    live = update(live, edited(live, lambda o: o["spec"].update(paused=True)), "kubectl-rollout")
    config = deployment(replicas=5, image="nginx:1.27", paused=False)
    with pytest.raises(ApplyConflictError) as caught:
        apply(live, config, "argocd")
    assert str(caught.value) == (
        'Apply failed with 3 conflicts: conflicts with "kubectl":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="web"].image\n'
        'conflicts with "kubectl-rollout" using apps/v1:\n'
        "- .spec.paused"
    )


def test_same_value_is_shared_without_conflict() -> None:
    live = apply(None, deployment(replicas=3), "kubectl")
    result = apply(live, deployment(replicas=3), "argocd")
    assert owned(result, "argocd") == owned(result, "kubectl") == WEB_FIELDS
    assert without_managed_fields(result) == without_managed_fields(live)


def test_force_takes_ownership() -> None:
    live = apply(None, deployment(replicas=3), "kubectl")
    result = apply(live, partial({"replicas": 5}), "argocd", force=True, now=T2)
    assert result["spec"]["replicas"] == 5
    assert owned(result, "argocd") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owned(result, "kubectl")["f:spec"]
    assert entries(result)[("kubectl", "Apply")]["time"] == T1


def test_first_apply_to_an_unowned_object_conflicts_with_before_first_apply() -> None:
    live = deployment(replicas=3)
    with pytest.raises(
        ApplyConflictError, match=re.escape('"before-first-apply" using apps/v1: .spec.replicas')
    ):
        apply(live, deployment(replicas=4))
    result = apply(live, deployment(replicas=3))
    assert ("before-first-apply", "Update") in entries(result)


def test_kubectl_takes_over_fields_its_client_side_apply_annotation_claims() -> None:
    annotated = deployment(replicas=3)
    annotated["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(deployment(replicas=3))}
    live = update(None, annotated, "kubectl-client-side-apply")
    result = apply(live, deployment(replicas=5), "kubectl")
    assert result["spec"]["replicas"] == 5
    assert json.loads(result["metadata"]["annotations"][LAST_APPLIED]) == deployment(replicas=5)
    with pytest.raises(ApplyConflictError):
        apply(live, deployment(replicas=5), "someone-else")


# --- merging -------------------------------------------------------------------------------


def test_containers_merge_by_name() -> None:
    live = apply(None, deployment())
    sidecar = {"name": "proxy", "image": "envoy:1"}
    live = update(
        live, edited(live, lambda o: o["spec"]["template"]["spec"]["containers"].append(sidecar)), "injector"
    )
    result = apply(live, deployment(image="nginx:1.27"))
    containers = result["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}, sidecar]
    assert owned(result, "injector", "Update")["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        'k:{"name":"proxy"}': {".": {}, "f:image": {}, "f:name": {}}
    }


def test_new_list_elements_go_where_the_applied_list_has_them() -> None:
    def spec(*names: str) -> dict[str, Any]:
        return {"template": {"spec": {"containers": [{"name": n, "image": n} for n in names]}}}

    live = apply(None, rollout(spec("a", "b")), schema=ROLLOUT)
    result = apply(live, rollout(spec("a", "c", "b")), schema=ROLLOUT)
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["a", "c", "b"]


def test_atomic_lists_are_replaced_and_sets_merge_by_value() -> None:
    steps = [{"setWeight": 20}, {"pause": {}}]
    live = apply(None, rollout({"strategy": {"canary": {"steps": steps}}, "tags": ["a"]}), schema=ROLLOUT)
    live = apply(live, rollout({"tags": ["b"]}), "tagger", schema=ROLLOUT)
    result = apply(
        live, rollout({"strategy": {"canary": {"steps": [{"setWeight": 50}]}}, "tags": ["a"]}), schema=ROLLOUT
    )
    assert result["spec"]["strategy"]["canary"]["steps"] == [{"setWeight": 50}]
    assert result["spec"]["tags"] == ["a", "b"]
    assert owned(result, "tagger") == {"f:spec": {"f:tags": {'v:"b"': {}}}}
    assert owned(result, "kubectl")["f:spec"]["f:strategy"] == {"f:canary": {"f:steps": {}}}


def test_null_in_the_configuration_removes_the_field() -> None:
    live = apply(None, deployment(replicas=3))
    config = deployment()
    config["spec"]["replicas"] = None
    result = apply(live, config, now=T2)
    assert "replicas" not in result["spec"]


def test_server_set_metadata_survives_apply() -> None:
    live = apply(None, deployment())
    live["metadata"].update(uid="u-1", resourceVersion="7", creationTimestamp=T0, generation=1)
    config = deployment()
    config["metadata"]["creationTimestamp"] = None
    result = apply(live, config)
    assert result == live


def test_annotation_only_apply_of_kubectl_last_applied_leaves_the_rest_alone() -> None:
    live = apply(None, deployment(), "kubectl")
    live = update(live, edited(live, lambda o: o["spec"].update(replicas=7)), "hpa")
    annotations = {LAST_APPLIED: '{"kind":"x"}\n'}
    annotation_only: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "annotations": annotations},
    }
    result = apply(live, annotation_only, "kubectl-last-applied", now=T3)
    assert without_managed_fields(result) == edited(
        without_managed_fields(live), lambda o: o["metadata"].update(annotations=annotations)
    )
    assert owned(result, "kubectl-last-applied") == {
        "f:metadata": {"f:annotations": {f"f:{LAST_APPLIED}": {}}}
    }
    assert owned(result, "kubectl") == owned(live, "kubectl")
    assert apply(result, annotation_only, "kubectl-last-applied", now=T3) == result


def test_bad_configurations() -> None:
    with pytest.raises(PatchError, match="managedFields must be nil"):
        apply(None, edited(deployment(), lambda o: o["metadata"].update(managedFields=[])))
    with pytest.raises(PatchError, match="Specified patch version: apps/v1beta1, expected: apps/v1"):
        server_side_apply(
            None,
            {**deployment(), "apiVersion": "apps/v1beta1"},
            DEPLOYMENT,
            manager="m",
            force=False,
            now=T1,
            api_version="apps/v1",
        )
    twice = deployment()
    twice["spec"]["template"]["spec"]["containers"] *= 2
    with pytest.raises(PatchError, match=r'duplicate entries for key \[name="web"\]'):
        apply(None, twice)
    nameless = deployment()
    del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(PatchError, match='omits key field "name"'):
        apply(None, nameless)


def test_subresource_applies_get_their_own_entry() -> None:
    live = apply(None, deployment())
    result = apply(live, {**deployment(), "status": {"replicas": 3}}, subresource="status")
    kinds = [
        (e["manager"], e["operation"], e.get("subresource")) for e in result["metadata"]["managedFields"]
    ]
    assert kinds == [("kubectl", "Apply", None), ("kubectl", "Apply", "status")]


# --- ordinary writes -----------------------------------------------------------------------


def test_create_gives_the_creator_every_field() -> None:
    created = update(None, deployment(), "kubectl-create", now=T0)
    [entry] = created["metadata"]["managedFields"]
    assert entry["operation"] == "Update"
    assert entry["time"] == T0
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert entry["fieldsV1"]["f:spec"]["f:replicas"] == {}
    container = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert container["f:image"] == {}
    assert without_managed_fields(created) == deployment()


def test_update_moves_ownership_of_changed_fields() -> None:
    live = apply(None, deployment(replicas=3), now=T1)
    result = update(live, edited(live, lambda o: o["spec"].update(replicas=4)), "kubectl-scale", now=T2)
    assert owned(result, "kubectl-scale", "Update") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owned(result, "kubectl")["f:spec"]
    assert entries(result)[("kubectl", "Apply")]["time"] == T1
    assert entries(result)[("kubectl-scale", "Update")]["time"] == T2


def test_update_that_changes_nothing_keeps_managed_fields() -> None:
    live = apply(None, deployment())
    same = edited(live, lambda o: o["metadata"].update(resourceVersion="8"))
    assert update(live, same, "kubectl-edit", now=T3) == same


def test_update_that_omits_managed_fields_keeps_the_stored_ones() -> None:
    live = apply(None, deployment())
    result = update(live, without_managed_fields(live), "kubectl-edit", now=T3)
    assert result == live


def test_removed_fields_leave_every_owner_and_empty_entries_go() -> None:
    live = apply(None, deployment())
    live = apply(live, partial({"replicas": 3}), "hpa-config")
    result = update(live, edited(live, lambda o: o["spec"].pop("replicas")), "kubectl-edit")
    assert ("hpa-config", "Apply") not in entries(result)
    assert ("kubectl-edit", "Update") not in entries(result)
    assert "f:replicas" not in owned(result, "kubectl")["f:spec"]


def test_managed_fields_can_be_reset() -> None:
    live = apply(None, deployment())
    reset = edited(live, lambda o: o["metadata"].update(managedFields=[{}]))
    assert "managedFields" not in update(live, reset, "kubectl-edit")["metadata"]
    changed = edited(reset, lambda o: o["spec"].update(replicas=9))
    result = update(live, changed, "kubectl-edit")
    assert [(e["manager"], e["fieldsV1"]) for e in result["metadata"]["managedFields"]] == [
        ("kubectl-edit", {"f:spec": {"f:replicas": {}}})
    ]


def test_a_subresource_write_keeps_the_stored_managed_fields() -> None:
    live = apply(None, deployment())
    new = edited(live, lambda o: o.update(status={"replicas": 3}))
    new["metadata"]["managedFields"] = [{}]
    result = update(live, new, "kube-controller-manager", subresource="status")
    [status_entry] = [e for e in result["metadata"]["managedFields"] if e.get("subresource") == "status"]
    assert status_entry["manager"] == "kube-controller-manager"
    assert status_entry["fieldsV1"] == {"f:status": {".": {}, "f:replicas": {}}}
    assert owned(result, "kubectl") == WEB_FIELDS


def test_unreadable_managed_fields_are_started_over() -> None:
    live = edited(apply(None, deployment()), lambda o: o["metadata"].update(managedFields=[{"manager": 1}]))
    result = update(live, edited(live, lambda o: o["spec"].update(replicas=1)), "editor")
    assert [e["manager"] for e in result["metadata"]["managedFields"]] == ["editor"]
    applied = apply(live, deployment(replicas=3))
    assert [e["manager"] for e in applied["metadata"]["managedFields"]] == ["kubectl", "before-first-apply"]


def test_entries_are_sorted_apply_first_then_by_time() -> None:
    live = update(None, deployment(), "creator", now=T0)
    live = apply(live, partial({"paused": True}), "pauser", now=T2)
    live = apply(live, deployment(), "kubectl", now=T1)
    assert [e["manager"] for e in live["metadata"]["managedFields"]] == ["kubectl", "pauser", "creator"]


# --- FieldsV1 ------------------------------------------------------------------------------


def test_fields_v1_encodes_keys_and_set_values() -> None:
    service = builtin_schema("v1", "Service")
    assert service is not None
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "uid": "x", "finalizers": ["a/b", "c"]},
        "spec": {"ports": [{"port": 80, "protocol": "UDP", "targetPort": 8080}], "selector": {"app": "web"}},
    }
    assert fields_v1(obj, service) == {
        "f:metadata": {"f:finalizers": {'v:"a/b"': {}, 'v:"c"': {}}},
        "f:spec": {
            "f:ports": {
                'k:{"port":80,"protocol":"UDP"}': {
                    ".": {},
                    "f:port": {},
                    "f:protocol": {},
                    "f:targetPort": {},
                }
            },
            "f:selector": {},
        },
    }


# --- properties ----------------------------------------------------------------------------

_names = st.sampled_from(["web", "api", "worker"])
_images = st.sampled_from(["nginx:1", "nginx:2", "redis:7"])
_env = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(["A", "B", "C"]), "value": st.sampled_from(["1", "2"])}),
    unique_by=lambda e: e["name"],
    max_size=3,
)
_container = st.fixed_dictionaries({"name": _names}, optional={"image": _images, "env": _env})
_spec = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.integers(0, 5),
        "tags": st.lists(st.sampled_from(["x", "y", "z"]), unique=True, max_size=3),
        "strategy": st.fixed_dictionaries(
            {
                "canary": st.fixed_dictionaries(
                    {"steps": st.lists(st.fixed_dictionaries({"setWeight": st.integers(0, 100)}), max_size=2)}
                )
            }
        ),
        "template": st.fixed_dictionaries(
            {
                "spec": st.fixed_dictionaries(
                    {"containers": st.lists(_container, unique_by=lambda c: c["name"], max_size=3)}
                )
            }
        ),
    },
)
_labels = st.dictionaries(st.sampled_from(["app", "team", "tier"]), st.sampled_from(["a", "b"]), max_size=2)
_configs = st.builds(rollout, _spec, _labels)
_settings = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _holds(result: Any, config: Any, schema: Schema) -> bool:
    """Every value ``config`` sets is in ``result`` (None: absent). Empty maps and lists set
    nothing: as in Kubernetes nobody owns them, so the applier's earlier fields inside them may
    take them away."""
    if isinstance(config, Mapping) and schema.map_type != "atomic":
        return (result is None or isinstance(result, Mapping)) and all(
            _holds((result or {}).get(k), v, schema.field(k) or Schema.any()) for k, v in config.items()
        )
    if isinstance(config, list) and schema.list_type == "map":
        by_name = {item["name"]: item for item in result or []}
        return all(_holds(by_name.get(item["name"]), item, schema.items) for item in config)
    if isinstance(config, list) and schema.list_type == "set":
        return all(item in (result or []) for item in config)
    return bool(result == config)


@_settings
@given(_configs)
def test_applying_a_configuration_twice_is_a_no_op(config: dict[str, Any]) -> None:
    once = apply(None, config, schema=ROLLOUT, now=T1)
    assert apply(once, config, schema=ROLLOUT, now=T2) == once


@_settings
@given(_configs, _configs)
def test_applied_values_are_in_the_result(first: dict[str, Any], second: dict[str, Any]) -> None:
    live = apply(None, first, schema=ROLLOUT, now=T1)
    result = apply(live, second, schema=ROLLOUT, now=T2)
    assert _holds(without_managed_fields(result), second, ROLLOUT)
    settled = apply(result, second, schema=ROLLOUT, now=T3)  # may re-add emptied maps, once
    assert apply(settled, second, schema=ROLLOUT, now=T3) == settled


@_settings
@given(_configs, _configs, st.booleans(), _images)
def test_another_managers_disjoint_fields_survive_reapply(
    first: dict[str, Any], second: dict[str, Any], paused: bool, image: str
) -> None:
    live = apply(None, first, "a", schema=ROLLOUT)
    theirs = rollout(
        {"paused": paused, "template": {"spec": {"containers": [{"name": "sidecar", "image": image}]}}},
        labels={"owner": "b"},
    )
    live = apply(live, theirs, "b", schema=ROLLOUT)
    result = apply(live, second, "a", schema=ROLLOUT, now=T2)
    assert _holds(without_managed_fields(result), theirs, ROLLOUT)
    assert _holds(without_managed_fields(result), second, ROLLOUT)


@_settings
@given(_configs, st.integers(0, 5))
def test_changing_anothers_field_conflicts_unless_forced(config: dict[str, Any], replicas: int) -> None:
    live = apply(None, rollout({"replicas": 9}), "owner", schema=ROLLOUT)
    config = copy.deepcopy(config)
    config["spec"]["replicas"] = replicas
    with pytest.raises(ApplyConflictError) as caught:
        apply(live, config, "intruder", schema=ROLLOUT)
    assert caught.value.conflicts == [Conflict("owner", ".spec.replicas")]
    result = apply(live, config, "intruder", schema=ROLLOUT, force=True)
    assert result["spec"]["replicas"] == replicas
    assert ("owner", "Apply") not in entries(result)


@_settings
@given(_configs, _configs)
def test_an_update_then_the_same_update_again_is_a_no_op(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    live = apply(None, first, schema=ROLLOUT, now=T1)
    written = update(live, {**second, "metadata": live["metadata"]}, "editor", schema=ROLLOUT, now=T2)
    assert update(written, written, "editor", schema=ROLLOUT, now=T3) == written
    assert without_managed_fields(written)["spec"] == second["spec"]
