"""Pod templates compared the way Argo Rollouts compares them: after Kubernetes' defaults.

A ReplicaSet's ``spec.template`` as the API server returns it carries the defaults the server
filled in (``imagePullPolicy``, ``terminationGracePeriodSeconds``, probe periods, ...); a
Rollout's template (a custom resource: no defaulting) does not. So an ``undo`` that copies a
ReplicaSet's template back into the Rollout, or a manifest re-applied with a default spelled
out, must still find the same ReplicaSet. Argo's ``PodTemplateEqualIgnoreHash`` applies the
scheme's defaults to the desired template before a semantic comparison; :func:`templates_equal`
does the same with :func:`default_pod_template`, which fills in the defaults of Kubernetes'
``SetObjectDefaults_PodTemplate`` that a pod template can carry.

(localcluster's API server has its own copy of these rules: the two packages never import each
other, by design.)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from controller.core.hashing import POD_TEMPLATE_HASH_LABEL


def _pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or an untagged image, else ``IfNotPresent``."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _fill(obj: dict[str, Any], key: str, value: Any, *, zero_is_unset: bool = True) -> None:
    current = obj.get(key)
    if current is None or (zero_is_unset and not current and current is not False):
        obj[key] = value


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _http_get(handler: Any) -> None:
    if isinstance(handler, dict) and isinstance(handler.get("httpGet"), dict):
        _fill(handler["httpGet"], "path", "/")
        _fill(handler["httpGet"], "scheme", "HTTP")


def _container(container: dict[str, Any]) -> None:
    _fill(container, "terminationMessagePath", "/dev/termination-log")
    _fill(container, "terminationMessagePolicy", "File")
    _fill(container, "imagePullPolicy", _pull_policy(str(container.get("image") or "")))
    _fill(container, "resources", {}, zero_is_unset=False)
    for port in _dicts(container.get("ports")):
        _fill(port, "protocol", "TCP")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(key)
        if isinstance(probe, dict):
            for field, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1)):
                _fill(probe, field, value)
            _fill(probe, "failureThreshold", 3)
            _http_get(probe)
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        _http_get(lifecycle.get("postStart"))
        _http_get(lifecycle.get("preStop"))
    for env in _dicts(container.get("env")):
        source = env.get("valueFrom")
        if isinstance(source, dict) and isinstance(source.get("fieldRef"), dict):
            _fill(source["fieldRef"], "apiVersion", "v1")


def _volume(volume: dict[str, Any]) -> None:
    if not [k for k in volume if k != "name"]:
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict):
            _fill(source, "defaultMode", 420, zero_is_unset=False)
            for item in _dicts(source.get("items")):
                if isinstance(item.get("fieldRef"), dict):
                    _fill(item["fieldRef"], "apiVersion", "v1")
    if isinstance(volume.get("hostPath"), dict):
        _fill(volume["hostPath"], "type", "", zero_is_unset=False)
    for source in _dicts((volume.get("projected") or {}).get("sources")):
        if isinstance(source.get("serviceAccountToken"), dict):
            _fill(source["serviceAccountToken"], "expirationSeconds", 3600)


def default_pod_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``template`` with Kubernetes' defaults for a pod template filled in."""
    result = copy.deepcopy(dict(template))
    spec = result.get("spec")
    if not isinstance(spec, dict):
        spec = result["spec"] = {}
    _fill(spec, "restartPolicy", "Always")
    _fill(spec, "dnsPolicy", "ClusterFirst")
    _fill(spec, "schedulerName", "default-scheduler")
    _fill(spec, "securityContext", {}, zero_is_unset=False)
    _fill(spec, "terminationGracePeriodSeconds", 30, zero_is_unset=False)
    if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    if spec.get("serviceAccount") and not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(key)):
            _container(container)
    for volume in _dicts(spec.get("volumes")):
        _volume(volume)
    return result


def _normalized(template: Mapping[str, Any]) -> dict[str, Any]:
    result = default_pod_template(template)
    meta = dict(result.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != POD_TEMPLATE_HASH_LABEL}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    if meta.get("creationTimestamp") is None:
        meta.pop("creationTimestamp", None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    result["metadata"] = meta
    if not meta:
        result.pop("metadata")
    return result


def templates_equal(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Argo's ``PodTemplateEqualIgnoreHash``: equal after defaults, ignoring the hash label."""
    return _normalized(live) == _normalized(desired)


__all__ = ["default_pod_template", "templates_equal"]
