"""A container's environment, worked out as the kubelet does from the pod spec and the store.

Order (later wins): ``envFrom`` sources in order, then ``env`` entries in order. ``env``
values get ``$(VAR)`` expansion from the variables defined before them. ``valueFrom``
supports ``configMapKeyRef``, ``secretKeyRef`` and ``fieldRef`` (``metadata.name``,
``metadata.namespace``, ``metadata.uid``, ``metadata.labels['k']``,
``metadata.annotations['k']``, ``spec.nodeName``, ``spec.serviceAccountName``,
``status.podIP``, ``status.podIPs``, ``status.hostIP``, ``status.hostIPs``);
``resourceFieldRef`` gives the container's limit (else request) as written, or nothing.
A missing ConfigMap, Secret or key that is not ``optional`` is a :class:`ConfigError`, shown
as ``CreateContainerConfigError`` as by the real kubelet.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from localcluster.kubelet.images import expand

Obj = dict[str, Any]
#: ``(resource, namespace, name) -> object or None``, e.g. ``Store.get``.
Getter = Callable[[str, str, str], Obj | None]

HOST_IP = "127.0.0.1"


class ConfigError(Exception):
    """The container cannot be configured (a referenced ConfigMap/Secret/key is missing)."""


_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


def field_ref(pod: Obj, path: str, pod_ip: str) -> str:
    """The value of a downward-API ``fieldRef``; raises :class:`ConfigError` for an unsupported one."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": HOST_IP,
        "status.hostIPs": HOST_IP,
    }
    if path in simple:
        return str(simple[path] or "")
    match = _LABEL_REF.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ConfigError(f"unsupported fieldRef {path!r}")


def _secret_values(secret: Obj) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, encoded in (secret.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(encoded)).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            values[str(key)] = ""
    for key, value in (secret.get("stringData") or {}).items():
        values[str(key)] = str(value)
    return values


def _configmap_values(cm: Obj) -> dict[str, str]:
    return {str(k): str(v) for k, v in (cm.get("data") or {}).items()}


def _source(get: Getter, namespace: str, kind: str, name: str) -> dict[str, str] | None:
    if kind == "configmap":
        cm = get("/configmaps", namespace, name)
        return None if cm is None else _configmap_values(cm)
    secret = get("/secrets", namespace, name)
    return None if secret is None else _secret_values(secret)


def _key_ref(get: Getter, namespace: str, ref: Mapping[str, Any], kind: str) -> str | None:
    name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
    values = _source(get, namespace, kind, name)
    what = "configmap" if kind == "configmap" else "secret"
    if values is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{what} "{name}" not found')
    if key not in values:
        if ref.get("optional"):
            return None
        raise ConfigError(
            f"couldn't find key {key} in {'ConfigMap' if kind == 'configmap' else 'Secret'} {namespace}/{name}"
        )
    return values[key]


def _resource_ref(container: Obj, ref: Mapping[str, Any]) -> str | None:
    resource = str(ref.get("resource") or "")
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name) or (resources.get("requests") or {}).get(name)
    return None if value is None else str(value)


def container_env(get: Getter, pod: Obj, container: Obj, pod_ip: str) -> dict[str, str]:
    """The variables the pod spec gives ``container`` (without the process's base environment)."""
    namespace = str((pod.get("metadata") or {}).get("namespace", ""))
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = source.get(key)
            if not isinstance(ref, Mapping):
                continue
            values = _source(get, namespace, kind, str(ref.get("name") or ""))
            if values is None:
                if not ref.get("optional"):
                    raise ConfigError(
                        f'{"configmap" if kind == "configmap" else "secret"} "{ref.get("name")}" not found'
                    )
                continue
            env.update({prefix + k: v for k, v in values.items()})
    for var in container.get("env") or []:
        name = str(var.get("name") or "")
        if not name:
            continue
        source = var.get("valueFrom")
        if not isinstance(source, Mapping):
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        value: str | None
        if isinstance(source.get("configMapKeyRef"), Mapping):
            value = _key_ref(get, namespace, source["configMapKeyRef"], "configmap")
        elif isinstance(source.get("secretKeyRef"), Mapping):
            value = _key_ref(get, namespace, source["secretKeyRef"], "secret")
        elif isinstance(source.get("fieldRef"), Mapping):
            value = field_ref(pod, str(source["fieldRef"].get("fieldPath") or ""), pod_ip)
        elif isinstance(source.get("resourceFieldRef"), Mapping):
            value = _resource_ref(container, source["resourceFieldRef"])
        else:
            value = None
        if value is not None:
            env[name] = value
    return env
