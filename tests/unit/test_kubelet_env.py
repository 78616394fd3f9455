"""A container's environment from the pod spec, ConfigMaps, Secrets and the downward API."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from localcluster.kubelet.env import ConfigError, container_env

Obj = dict[str, Any]

OBJECTS: dict[tuple[str, str, str], Obj] = {
    ("/configmaps", "ns", "settings"): {"data": {"COLOR": "blue", "LEVEL": "debug"}},
    ("/secrets", "ns", "creds"): {"data": {"TOKEN": base64.b64encode(b"s3cret").decode()}},
}


def _get(resource: str, namespace: str, name: str) -> Obj | None:
    return OBJECTS.get((resource, namespace, name))


POD: Obj = {
    "metadata": {"name": "web-1", "namespace": "ns", "uid": "u-1", "labels": {"app": "web"}},
    "spec": {"nodeName": "localcluster", "serviceAccountName": "default"},
}


def test_values_refs_and_downward_api() -> None:
    container = {
        "env": [
            {"name": "PLAIN", "value": "x"},
            {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "COLOR"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "URL", "value": "http://$(POD_IP):8080/$(PLAIN)"},
        ]
    }
    env = container_env(_get, POD, container, "127.10.1.2")
    assert env == {
        "PLAIN": "x",
        "COLOR": "blue",
        "TOKEN": "s3cret",
        "POD_NAME": "web-1",
        "POD_NAMESPACE": "ns",
        "POD_IP": "127.10.1.2",
        "APP": "web",
        "URL": "http://127.10.1.2:8080/x",
    }


def test_env_from_with_prefix_and_env_winning() -> None:
    container = {
        "envFrom": [
            {"configMapRef": {"name": "settings"}, "prefix": "CM_"},
            {"secretRef": {"name": "creds"}},
        ],
        "env": [{"name": "TOKEN", "value": "override"}],
    }
    assert container_env(_get, POD, container, "127.10.1.2") == {
        "CM_COLOR": "blue",
        "CM_LEVEL": "debug",
        "TOKEN": "override",
    }


@pytest.mark.parametrize(
    ("container", "message"),
    [
        (
            {"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]},
            'configmap "nope" not found',
        ),
        (
            {"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}}]},
            "couldn't find key k in ConfigMap ns/settings",
        ),
        (
            {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]},
            'secret "nope" not found',
        ),
        ({"envFrom": [{"secretRef": {"name": "nope"}}]}, 'secret "nope" not found'),
    ],
)
def test_missing_references_are_config_errors(container: Obj, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        container_env(_get, POD, container, "127.10.1.2")


def test_optional_missing_references_are_skipped() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "nope", "optional": True}}],
        "env": [
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k", "optional": True}}},
        ],
    }
    assert container_env(_get, POD, container, "127.10.1.2") == {}
