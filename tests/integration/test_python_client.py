"""The official `kubernetes` Python client against localcluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client import ApiException

from tests.conftest import Cluster, start_cluster, stop_cluster


@pytest.fixture
def api_client(cluster: Cluster) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield api
    api.close()


def _cm(name: str, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data)


def test_create_list_patch(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map(namespace, _cm("one", a="1"))
    assert created.metadata.uid
    core.create_namespaced_config_map(namespace, _cm("two", a="2"))
    items = core.list_namespaced_config_map(namespace).items
    assert sorted(i.metadata.name for i in items) == ["one", "two"]
    # a dict body is sent as a strategic merge patch
    patched = core.patch_namespaced_config_map("one", namespace, {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}
    # a list body as a JSON patch
    patched = core.patch_namespaced_config_map("one", namespace, [{"op": "remove", "path": "/data/a"}])
    assert patched.data == {"b": "2"}


def test_conflict_is_409(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map(namespace, _cm("c", a="1"))
    created.data = {"a": "2"}
    core.replace_namespaced_config_map("c", namespace, created)
    created.data = {"a": "3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", namespace, created)
    assert err.value.status == 409
    assert err.value.reason == "Conflict"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(namespace, _cm("c"))
    assert err.value.status == 409
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("missing", namespace)
    assert err.value.status == 404


def test_deployment_status_patch(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    apps.create_namespaced_deployment(namespace, body)
    status = apps.patch_namespaced_deployment_status(
        "d", namespace, {"status": {"observedGeneration": 1, "replicas": 1}}
    )
    assert status.status.observed_generation == 1
    assert apps.read_namespaced_deployment("d", namespace).spec.replicas == 1


def test_watch_from_resource_version(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    listed = core.list_namespaced_config_map(namespace)
    rv = listed.metadata.resource_version

    def writer() -> None:
        time.sleep(0.3)
        core.create_namespaced_config_map(namespace, _cm("w1"))
        core.patch_namespaced_config_map("w1", namespace, {"data": {"x": "y"}})
        core.delete_namespaced_config_map("w1", namespace)

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            w.stop()
    thread.join()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_watch_expired_resource_version_raises_410(fresh_cluster: Cluster) -> None:
    _, listed, _ = fresh_cluster.request("GET", "/api/v1/namespaces/default/configmaps")
    old_rv = listed["metadata"]["resourceVersion"]
    fresh_cluster.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x"}})
    stop_cluster(fresh_cluster)
    restarted = start_cluster(fresh_cluster.state_dir)
    api = config.new_client_from_config(config_file=str(restarted.kubeconfig))
    try:
        core = client.CoreV1Api(api)
        w = watch.Watch()
        with pytest.raises(ApiException) as err:
            for _ in w.stream(
                core.list_namespaced_config_map, "default", resource_version=old_rv, timeout_seconds=2
            ):
                pass
        assert err.value.status == 410
    finally:
        api.close()
        stop_cluster(restarted)


def test_custom_objects(api_client: client.ApiClient, namespace: str) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.org"},
        "spec": {
            "group": "example.org",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    ext.create_custom_resource_definition(crd)
    custom = client.CustomObjectsApi(api_client)
    body = {"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"size": 1}}
    custom.create_namespaced_custom_object("example.org", "v1", namespace, "gadgets", body)
    patched = custom.patch_namespaced_custom_object(
        "example.org", "v1", namespace, "gadgets", "g", {"spec": {"size": 2}}
    )
    assert patched["spec"] == {"size": 2}
    status = custom.patch_namespaced_custom_object_status(
        "example.org", "v1", namespace, "gadgets", "g", {"status": {"phase": "Ready"}}
    )
    assert status["status"] == {"phase": "Ready"}
    assert status["metadata"]["generation"] == 2
    config_ = {
        "apiVersion": "example.org/v1",
        "kind": "Gadget",
        "metadata": {"name": "g"},
        "spec": {"size": 3},
    }
    # spec.size belongs to the client's earlier merge patch: a different value conflicts...
    with pytest.raises(ApiException) as err:
        custom.patch_namespaced_custom_object(
            "example.org",
            "v1",
            namespace,
            "gadgets",
            "g",
            config_,
            field_manager="tests",
            _content_type="application/apply-patch+yaml",
        )
    assert err.value.status == 409
    assert ".spec.size" in err.value.body
    # ...until the applier forces it
    applied = custom.patch_namespaced_custom_object(
        "example.org",
        "v1",
        namespace,
        "gadgets",
        "g",
        config_,
        field_manager="tests",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    assert applied["spec"]["size"] == 3
    assert any(
        m["manager"] == "tests" and m["operation"] == "Apply" for m in applied["metadata"]["managedFields"]
    )
