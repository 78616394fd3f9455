"""Strategic merge patch on built-in kinds: what kubectl, Ansible and clients send."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localcluster.apiserver.patch import PatchError
from localcluster.apiserver.patch.merge import merge_patch
from localcluster.apiserver.patch.strategic import strategic_merge_patch
from localcluster.apiserver.schema import Schema, builtin_schema

DEPLOYMENT = builtin_schema("apps/v1", "Deployment")
POD = builtin_schema("v1", "Pod")
assert DEPLOYMENT is not None and POD is not None
DIRECTIVE_PREFIXES = ("$patch", "$retainKeys", "$setElementOrder/", "$deleteFromPrimitiveList/")


def deployment() -> dict[str, Any]:
    """A Deployment as the API server stores it: defaulted, with server-set fields."""
    container_defaults = {
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "0b6c-1",
            "resourceVersion": "42",
            "generation": 3,
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"deployment.kubernetes.io/revision": "3"},
            "finalizers": ["example.com/a", "example.com/b"],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "args": ["--port", "80"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            **container_defaults,
                        },
                        {"name": "log", "image": "busybox", **container_defaults},
                    ],
                    "volumes": [{"name": "conf", "configMap": {"name": "web-conf", "defaultMode": 420}}],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst",
                },
            },
        },
        "status": {
            "replicas": 2,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
    }


def apply(original: dict[str, Any], patch: Any, schema: Schema | None = DEPLOYMENT) -> dict[str, Any]:
    """Apply the patch, checking on the way that inputs stay untouched and no directive leaks."""
    assert schema is not None
    saved_original, saved_patch = copy.deepcopy(original), copy.deepcopy(patch)
    result = strategic_merge_patch(original, patch, schema)
    assert json.dumps(original) == json.dumps(saved_original), "original was mutated"
    assert json.dumps(patch) == json.dumps(saved_patch), "patch was mutated"
    assert not leaked_directives(result), leaked_directives(result)
    return result


def leaked_directives(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [key for key in value if key.startswith(DIRECTIVE_PREFIXES)]
        return found + [hit for child in value.values() for hit in leaked_directives(child)]
    if isinstance(value, list):
        return [hit for child in value for hit in leaked_directives(child)]
    return []


def pod_spec(result: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = result["spec"]["template"]["spec"]
    return spec


def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


# -- what real clients send ------------------------------------------------------------------


def test_kubectl_client_side_apply_patch() -> None:
    patch = json.loads(
        '{"metadata":{"labels":null},"spec":{"template":{"spec":{"$setElementOrder/containers":'
        '[{"name":"web"},{"name":"sidecar"}],"containers":[{"$setElementOrder/env":[{"name":"B"}],'
        '"env":[{"name":"B","value":"3"},{"$patch":"delete","name":"A"}],"image":"nginx:1.27",'
        '"name":"web","ports":null},{"image":"busybox","name":"sidecar"}]}}}}'
    )
    original = deployment()
    result = apply(original, patch)
    expected = deployment()
    del expected["metadata"]["labels"]
    web, log = expected["spec"]["template"]["spec"]["containers"]
    web.update(image="nginx:1.27", env=[{"name": "B", "value": "3"}])
    del web["ports"]
    # "log" was never applied by kubectl, so the server keeps it, after the ordered ones.
    expected["spec"]["template"]["spec"]["containers"] = [web, {"image": "busybox", "name": "sidecar"}, log]
    assert result == expected


def test_kubectl_set_image() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "log", "image": "busybox:1.36"}]}}}}
    result = apply(deployment(), patch)
    web, log = pod_spec(result)["containers"]
    assert (web, log["image"]) == (deployment()["spec"]["template"]["spec"]["containers"][0], "busybox:1.36")
    assert log["terminationMessagePath"] == "/dev/termination-log"
    assert {k: v for k, v in result.items() if k != "spec"} == {
        k: v for k, v in deployment().items() if k != "spec"
    }


def test_kubectl_rollout_restart() -> None:
    stamp = "2024-05-01T10:00:00Z"
    patch = {
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}
    }
    result = apply(deployment(), patch)
    assert result["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": stamp},
    }
    result["spec"]["template"]["metadata"].pop("annotations")
    assert result == deployment()


def test_kubectl_scale_and_label_patches() -> None:
    result = apply(
        deployment(), {"spec": {"replicas": 5}, "metadata": {"labels": {"tier": None, "team": "x"}}}
    )
    assert result["spec"]["replicas"] == 5
    assert result["metadata"]["labels"] == {"app": "web", "team": "x"}


def test_ansible_sends_the_whole_object() -> None:
    """kubernetes.core.k8s patches with the full manifest: server-set and defaulted fields survive."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "args": ["--port", "8080"],
                            "env": [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
                            "ports": [{"containerPort": 8080}],
                        },
                        {"name": "log", "image": "busybox"},
                    ]
                },
            },
        },
    }
    result = apply(deployment(), manifest)
    web, log = pod_spec(result)["containers"]
    assert web["image"] == "nginx:1.27"
    assert web["args"] == ["--port", "8080"]  # not a merge list: replaced
    assert web["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
        {"name": "C", "value": "3"},
    ]
    assert web["ports"] == [{"containerPort": 8080}, {"containerPort": 80, "protocol": "TCP"}]
    assert web["imagePullPolicy"] == "IfNotPresent"
    assert log == deployment()["spec"]["template"]["spec"]["containers"][1]
    assert result["metadata"]["uid"] == "0b6c-1"
    assert result["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    assert result["status"] == deployment()["status"]
    assert result["spec"]["strategy"] == deployment()["spec"]["strategy"]


def test_deployment_strategy_switch_with_retain_keys() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert apply(deployment(), patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_volume_source_switch_with_retain_keys() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [
                        {
                            "$retainKeys": ["emptyDir", "name"],
                            "name": "conf",
                            "emptyDir": {"medium": "Memory"},
                        }
                    ]
                }
            }
        }
    }
    assert pod_spec(apply(deployment(), patch))["volumes"] == [
        {"name": "conf", "emptyDir": {"medium": "Memory"}}
    ]


def test_status_conditions_merge_by_type() -> None:
    patch = {"status": {"conditions": [{"type": "Progressing", "status": "False", "reason": "Stuck"}]}}
    conditions = apply(deployment(), patch)["status"]["conditions"]
    assert conditions == [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {"type": "Progressing", "status": "False", "reason": "Stuck"},
    ]


def test_owner_references_merge_by_uid() -> None:
    pod = {"metadata": {"name": "p", "ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "rs"}]}}
    patch = {
        "metadata": {
            "ownerReferences": [{"uid": "1", "controller": True}, {"uid": "2", "kind": "X", "name": "x"}]
        }
    }
    refs = apply(pod, patch, POD)["metadata"]["ownerReferences"]
    assert refs == [
        {"uid": "1", "kind": "ReplicaSet", "name": "rs", "controller": True},
        {"uid": "2", "kind": "X", "name": "x"},
    ]


# -- finalizers: a merge list of primitives -------------------------------------------------


def test_finalizers_union_without_duplicates() -> None:
    patch = {"metadata": {"finalizers": ["example.com/b", "example.com/c"]}}
    assert apply(deployment(), patch)["metadata"]["finalizers"] == [
        "example.com/a",
        "example.com/b",
        "example.com/c",
    ]


def test_new_finalizer_without_order_goes_before_later_server_values() -> None:
    """The API server puts patch values first unless a server value preceded them live."""
    patch = {"metadata": {"finalizers": ["example.com/new"]}}
    finalizers = apply(deployment(), patch)["metadata"]["finalizers"]
    assert finalizers == ["example.com/new", "example.com/a", "example.com/b"]


def test_delete_from_primitive_list_with_element_order() -> None:
    patch = {
        "metadata": {
            "$setElementOrder/finalizers": ["example.com/c", "example.com/a"],
            "$deleteFromPrimitiveList/finalizers": ["example.com/b", "example.com/absent"],
            "finalizers": ["example.com/c"],
        }
    }
    assert apply(deployment(), patch)["metadata"]["finalizers"] == ["example.com/c", "example.com/a"]


def test_delete_from_absent_primitive_list_adds_nothing() -> None:
    result = apply(
        {"metadata": {"name": "p"}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}, POD
    )
    assert result == {"metadata": {"name": "p"}}


# -- $patch directives ---------------------------------------------------------------------


def test_list_element_delete_and_replace() -> None:
    deleted = apply(
        deployment(), {"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "log"}]}}}}
    )
    assert names(pod_spec(deleted)["containers"]) == ["web"]
    absent = apply(
        deployment(), {"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "x"}]}}}}
    )
    assert absent == deployment()
    replaced = apply(
        deployment(),
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "only", "image": "i"}, {"$patch": "replace"}]}}
            }
        },
    )
    assert pod_spec(replaced)["containers"] == [{"name": "only", "image": "i"}]


def test_map_patch_directives() -> None:
    replaced = apply(
        deployment(), {"spec": {"selector": {"$patch": "replace", "matchLabels": {"app": "other"}}}}
    )
    assert replaced["spec"]["selector"] == {"matchLabels": {"app": "other"}}
    merged = apply(deployment(), {"spec": {"selector": {"$patch": "merge", "matchLabels": {"x": "y"}}}})
    assert merged["spec"]["selector"] == {"matchLabels": {"app": "web", "x": "y"}}
    # Like the API server, `$patch: delete` empties a map that exists ...
    assert apply(deployment(), {"metadata": {"labels": {"$patch": "delete"}}})["metadata"]["labels"] == {}
    # ... and adds nothing where there was none.
    added = apply(deployment(), {"spec": {"template": {"spec": {"securityContext": {"$patch": "delete"}}}}})
    assert "securityContext" not in pod_spec(added)


def test_directives_inside_new_values_are_applied_not_copied() -> None:
    sidecar = {
        "name": "sidecar",
        "image": "envoy",
        "$setElementOrder/env": [{"name": "X"}],
        "env": [{"name": "X", "value": "1", "valueFrom": None}, {"$patch": "delete", "name": "Y"}],
        "securityContext": {"$patch": "replace", "runAsUser": 1000},
    }
    patch = {"spec": {"template": {"spec": {"containers": [sidecar]}}}}
    added = pod_spec(apply(deployment(), patch))["containers"][0]
    assert added == {
        "name": "sidecar",
        "image": "envoy",
        "env": [{"name": "X", "value": "1"}],
        "securityContext": {"runAsUser": 1000},
    }


# -- order ---------------------------------------------------------------------------------


def test_set_element_order_reorders_containers() -> None:
    patch = {
        "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "log"}, {"name": "web"}]}}}
    }
    result = apply(deployment(), patch)
    assert names(pod_spec(result)["containers"]) == ["log", "web"]
    assert (
        sorted(pod_spec(result)["containers"], key=lambda c: c["name"] != "web")
        == pod_spec(deployment())["containers"]
    )


def test_server_only_elements_keep_their_place_before_ordered_ones() -> None:
    pod = {"spec": {"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]}}
    patch = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
    assert names(apply(pod, patch, POD)["spec"]["containers"]) == ["x", "b", "a"]


def test_patch_list_order_wins_without_set_element_order() -> None:
    pod = {"spec": {"containers": [{"name": "1"}, {"name": "2", "image": "b"}, {"name": "3"}]}}
    patch = {"spec": {"containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"}]}}
    result = apply(pod, patch, POD)["spec"]["containers"]
    assert result == [{"name": "2", "image": "b"}, {"name": "3", "image": "c"}, {"name": "1", "image": "a"}]


def test_set_element_order_may_name_elements_that_do_not_exist() -> None:
    pod = {"metadata": {"finalizers": ["a", "c"]}}
    result = apply(pod, {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}}, POD)
    assert result["metadata"]["finalizers"] == ["c", "a"]


# -- schemas that say nothing, unknown fields -------------------------------------------------


def test_unknown_fields_and_free_form_values_merge_like_json_merge_patch() -> None:
    revision = {"data": {"spec": {"a": [1, 2], "m": {"k": 1}}}, "revision": 1}
    schema = builtin_schema("apps/v1", "ControllerRevision")
    patch = {"data": {"spec": {"a": [3], "m": {"k": None, "j": 2}}}, "extra": {"x": None, "y": 1}}
    assert apply(revision, patch, schema) == {
        "data": {"spec": {"a": [3], "m": {"j": 2}}},
        "revision": 1,
        "extra": {"y": 1},
    }


def test_type_change_replaces_the_value() -> None:
    result = apply(deployment(), {"spec": {"replicas": {"odd": None, "x": 1}, "selector": "s"}})
    assert (result["spec"]["replicas"], result["spec"]["selector"]) == ({"x": 1}, "s")


# -- errors ---------------------------------------------------------------------------------

CONTAINERS = ".spec.template.spec.containers"
IN_POD_SPEC = '{"spec": {"template": {"spec": %s}}}'

# (patch as JSON, the path PatchError names, a fragment of its reason)
ERRORS = [
    (IN_POD_SPEC % '{"containers": [{"image": "x"}]}', f"{CONTAINERS}[0]", "merge key 'name'"),
    (IN_POD_SPEC % '{"containers": [{"name": "web", "$patch": "bogus"}]}', f"{CONTAINERS}[0]", "bogus"),
    (IN_POD_SPEC % '{"containers": [{"$patch": "merge", "name": "web"}]}', f"{CONTAINERS}[0]", "merge"),
    (IN_POD_SPEC % '{"containers": [{"$patch": "delete"}]}', f"{CONTAINERS}[0]", "merge key"),
    (IN_POD_SPEC % '{"containers": ["web"]}', CONTAINERS, "not all of one type"),
    (IN_POD_SPEC % '{"containers": [{"name": "web", "env": [[1]]}]}', f"{CONTAINERS}[0].env", "of lists"),
    (IN_POD_SPEC % '{"$setElementOrder/containers": ["web"]}', CONTAINERS, "must be an object"),
    ('{"spec": {"strategy": {"$patch": 1}}}', ".spec.strategy", "unknown $patch directive 1"),
    ('{"spec": {"strategy": {"$retainKeys": "type"}}}', ".spec.strategy.$retainKeys", "list of field names"),
    ('{"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}', ".spec.strategy",
     "'rollingUpdate'"),
    ('{"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}',
     ".metadata.$deleteFromPrimitiveList/finalizers", "must be a list"),
    ('{"metadata": {"$deleteFromPrimitiveList/": ["a"]}}', ".metadata", "no field name"),
    ('{"metadata": {"$setElementOrder/": []}}', ".metadata", "no field name"),
    ('{"metadata": {"$setElementOrder/finalizers": "a"}}', ".metadata.$setElementOrder/finalizers",
     "must be a list"),
    ('{"metadata": {"$setElementOrder/finalizers": [], "finalizers": null}}', ".metadata.finalizers",
     "not a list"),
    ('{"metadata": {"$setElementOrder/labels": []}}', ".metadata.labels", "not a list"),
    ('{"metadata": {"$setElementOrder/finalizers": ["example.com/b", "c"],'
     ' "finalizers": ["c", "example.com/b"]}}', ".metadata.finalizers", "does not match"),
]  # fmt: skip


@pytest.mark.parametrize(("patch", "path", "fragment"), ERRORS)
def test_errors_name_the_path(patch: str, path: str, fragment: str) -> None:
    assert DEPLOYMENT is not None
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch(deployment(), json.loads(patch), DEPLOYMENT)
    assert caught.value.path == path
    assert fragment in caught.value.reason


@pytest.mark.parametrize("body", [[{"op": "add"}], "x", None])
def test_patch_body_must_be_an_object(body: Any) -> None:
    assert DEPLOYMENT is not None
    with pytest.raises(PatchError, match="must be a JSON object"):
        strategic_merge_patch(deployment(), body, DEPLOYMENT)


# -- table tests on a small schema with every kind of field ------------------------------------

_STRING = {"type": "string"}
_ITEMS = {"type": "array", "items": {"$ref": "item"}}
_INTS = {"type": "array", "items": {"type": "integer"}}
_MERGE = {"x-kubernetes-patch-strategy": "merge"}
ITEM = Schema(
    {"$ref": "item"},
    {
        "item": {
            "type": "object",
            "properties": {
                "name": _STRING,
                "value": _STRING,
                "other": _STRING,
                "mergingList": {**_ITEMS, **_MERGE, "x-kubernetes-patch-merge-key": "name"},
                "nonMergingList": _ITEMS,
                "mergingIntList": {**_INTS, **_MERGE},
                "nonMergingIntList": _INTS,
                "simpleMap": {"type": "object", "additionalProperties": _STRING},
                "retainKeysMap": {"$ref": "item", "x-kubernetes-patch-strategy": "retainKeys"},
            },
        }
    },
)

# description: (original, patch, expected), as JSON
TABLE = {
    "scalars merge without repeats": (
        '{"mergingIntList": [1, 2]}', '{"mergingIntList": [2, 3]}', '{"mergingIntList": [1, 2, 3]}'),
    "scalar list without merge strategy is replaced": (
        '{"nonMergingIntList": [1, 2]}', '{"nonMergingIntList": [2, 3]}', '{"nonMergingIntList": [2, 3]}'),
    "patch order of scalars wins": (
        '{"mergingIntList": [1, 2, 3]}', '{"mergingIntList": [3, 1]}', '{"mergingIntList": [2, 3, 1]}'),
    "replace directive empties a merging list": (
        '{"mergingList": [{"name": 1}, {"name": 2}]}', '{"mergingList": [{"$patch": "replace"}]}',
        '{"mergingList": []}'),
    "delete removes every duplicate": (
        '{"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}',
        '{"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}',
        '{"mergingList": [{"name": 2, "value": "a"}]}'),
    "objects in a non-merging list are replaced whole": (
        '{"nonMergingList": [{"name": 1, "value": "a"}]}',
        '{"nonMergingList": [{"name": 1, "other": "b", "value": null}]}',
        '{"nonMergingList": [{"name": 1, "other": "b"}]}'),
    "element order, deletions and additions together": (
        '{"mergingIntList": [1, 2, 3, 4]}',
        '{"$setElementOrder/mergingIntList": [1, 2, 5], "$deleteFromPrimitiveList/mergingIntList": [3],'
        ' "mergingIntList": [5]}',
        '{"mergingIntList": [1, 2, 5, 4]}'),
    "element order with new and server-only objects": (
        '{"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": "2", "other": "b"}]}',
        '{"$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}],'
        ' "mergingList": [{"name": 4, "value": "4"}, {"name": 3, "value": "3"}]}',
        '{"mergingList": [{"name": 4, "value": "4"}, {"name": 1, "other": "a"},'
        ' {"name": 2, "value": "2", "other": "b"}, {"name": 3, "value": "3"}]}'),
    "element order with a delete of an absent element": (
        '{"name": "hi", "mergingList": [{"name": "hello2"}]}',
        '{"$setElementOrder/mergingList": [{"name": "hello"}, {"name": "gone"}],'
        ' "mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "gone"}]}',
        '{"name": "hi", "mergingList": [{"name": "hello"}, {"name": "hello2"}]}'),
    "a new merging list drops delete elements": (
        '{"name": "hi"}',
        '{"mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "gone"}]}',
        '{"name": "hi", "mergingList": [{"name": "hello"}]}'),
    "retainKeys strategy merges when no directive is sent": (
        '{"retainKeysMap": {"name": "foo", "value": "a"}}',
        '{"retainKeysMap": {"value": "b", "other": null}}',
        '{"retainKeysMap": {"name": "foo", "value": "b"}}'),
    "retainKeys keeps listed fields, nulls allowed outside the list": (
        '{"retainKeysMap": {"name": "foo", "value": "a", "other": "o", "simpleMap": {"k": "v"}}}',
        '{"retainKeysMap": {"$retainKeys": ["name", "value", "simpleMap"], "value": "b", "other": null,'
        ' "simpleMap": {"j": "w"}}}',
        '{"retainKeysMap": {"name": "foo", "value": "b", "simpleMap": {"k": "v", "j": "w"}}}'),
    "nested merging lists merge at every level": (
        '{"mergingList": [{"name": 1, "mergingList": [{"name": 1, "value": "a"}, {"name": 2}]}]}',
        '{"mergingList": [{"name": 1, "mergingList": [{"name": 2, "value": "b"},'
        ' {"name": 1, "$patch": "delete"}]}]}',
        '{"mergingList": [{"name": 1, "mergingList": [{"name": 2, "value": "b"}]}]}'),
}  # fmt: skip


@pytest.mark.parametrize(("original", "patch", "expected"), TABLE.values(), ids=TABLE.keys())
def test_table(original: str, patch: str, expected: str) -> None:
    assert apply(json.loads(original), json.loads(patch), ITEM) == json.loads(expected)


# -- properties ------------------------------------------------------------------------------

keys = st.text(alphabet="abxyz", min_size=1, max_size=3)
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)
json_objects = st.dictionaries(keys, json_values, max_size=4)
container_names = st.sampled_from(["web", "log", "proxy", "init", "db", "cache"])
containers = st.dictionaries(container_names, st.text(alphabet="abc:1", max_size=4), max_size=6).map(
    lambda images: [{"name": name, "image": image} for name, image in images.items()]
)
finalizer_lists = st.lists(st.sampled_from("abcdefg"), unique=True, max_size=7)


@given(json_objects, json_objects)
def test_without_merge_information_it_equals_json_merge_patch(
    original: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert json.dumps(apply(original, patch, Schema.any())) == json.dumps(merge_patch(original, patch))


@given(containers, containers)
def test_merge_by_key_keeps_unnamed_elements_and_never_duplicates(live: list[Any], patch: list[Any]) -> None:
    result = apply({"spec": {"containers": live}}, {"spec": {"containers": patch}}, POD)["spec"]["containers"]
    assert len(names(result)) == len(set(names(result)))
    assert set(names(result)) == set(names(live)) | set(names(patch))
    patched = {c["name"]: c for c in patch}
    for container in result:
        expected = patched.get(container["name"]) or next(c for c in live if c["name"] == container["name"])
        assert container == expected


@given(containers, containers, st.randoms())
def test_set_element_order_gives_exactly_the_requested_order(
    live: list[Any], new: list[Any], rnd: Any
) -> None:
    order = list(dict.fromkeys(names(live) + names(new)))
    rnd.shuffle(order)
    patch_list = sorted(new, key=lambda c: order.index(c["name"]))
    patch = {"spec": {"$setElementOrder/containers": [{"name": n} for n in order], "containers": patch_list}}
    result = apply({"spec": {"containers": live}}, patch, POD)
    assert names(result["spec"]["containers"]) == order


@given(finalizer_lists, finalizer_lists, st.data())
def test_set_element_order_on_a_subset_orders_that_subset(
    live: list[str], order: list[str], data: Any
) -> None:
    dropped = data.draw(st.lists(st.sampled_from(live), unique=True)) if live else []
    patch = {
        "metadata": {"$setElementOrder/finalizers": order, "$deleteFromPrimitiveList/finalizers": dropped}
    }
    result = apply({"metadata": {"finalizers": live}}, patch, POD)["metadata"]["finalizers"]
    assert sorted(result) == sorted(set(live) - set(dropped))
    assert [f for f in result if f in order] == [f for f in order if f in result]


@given(containers, containers, st.lists(container_names, unique=True))
def test_patch_is_idempotent(live: list[Any], patch_list: list[Any], deleted: list[str]) -> None:
    deletions = [{"$patch": "delete", "name": n} for n in deleted if n not in names(patch_list)]
    patch = {
        "spec": {"containers": patch_list + deletions},
        "metadata": {"finalizers": ["x"], "labels": {"a": None}},
    }
    original = {"spec": {"containers": live}, "metadata": {"labels": {"a": "1"}, "finalizers": ["y", "x"]}}
    once = apply(original, patch, POD)
    assert apply(once, patch, POD) == once
    kept = set(names(once["spec"]["containers"]))
    assert not kept & {d["name"] for d in deletions}
