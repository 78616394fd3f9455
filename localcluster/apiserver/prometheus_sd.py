"""Prometheus HTTP service discovery over the cluster's pods (``GET /localcluster/prometheus/http_sd``).

Prometheus's own Kubernetes discovery talks protobuf to the API server, which localcluster does
not serve; its ``http_sd_configs`` reads plain JSON instead. This endpoint answers in that
format with the targets and ``__meta_kubernetes_*`` labels that ``kubernetes_sd_configs`` with
``role: pod`` would give, so a scrape job's ``relabel_configs`` written for a real cluster work
unchanged once its discovery block is swapped:

- a pod without an IP yet (pending, or gone) gives no target;
- every declared container port of every container (then init container) is one target,
  ``<podIP>:<containerPort>``, with the container's and port's labels;
- a container without ports is one target at the bare ``<podIP>`` (Prometheus then uses the
  scheme's default port), without port labels, so relabelling can set the port, for example
  from a ``prometheus.io/port`` annotation;
- every target carries the pod's labels: namespace, name, IP, ready (``true``, ``false`` or
  ``unknown`` from the Ready condition), phase, node name, host IP, uid, controller kind and
  name, and each label and annotation as ``..._label_<name>`` / ``..._labelpresent_<name>``
  (and the same for annotations), the name sanitized as Prometheus does (every character
  outside ``[a-zA-Z0-9_]`` becomes ``_``).

Query parameters: ``namespace`` (only that namespace's pods) and ``labelSelector`` (the
Kubernetes syntax, as on a pod list). The answer is a JSON list of target groups, one target
per group, since the container and port labels differ from target to target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from localcluster.apiserver import errors
from localcluster.apiserver.objects import Objects
from localcluster.apiserver.selectors import LabelSelector, SelectorError

#: Where the API server answers; behind the same bearer token as the rest of the API.
PATH = "/localcluster/prometheus/http_sd"
META = "__meta_kubernetes_"
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")

TargetGroup = dict[str, Any]


def sanitize_label_name(name: str) -> str:
    """A Kubernetes label or annotation key as a Prometheus label name suffix."""
    return _INVALID_LABEL_CHARS.sub("_", name)


def _ready(status: Mapping[str, Any]) -> str:
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return str(condition.get("status") or "Unknown").lower()
    return "unknown"


def _controller(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in meta.get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref
    return None


def pod_meta_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    """The labels every target of ``pod`` carries."""
    meta: Mapping[str, Any] = pod.get("metadata") or {}
    spec: Mapping[str, Any] = pod.get("spec") or {}
    status: Mapping[str, Any] = pod.get("status") or {}
    labels = {
        f"{META}namespace": str(meta.get("namespace") or ""),
        f"{META}pod_name": str(meta.get("name") or ""),
        f"{META}pod_ip": str(status.get("podIP") or ""),
        f"{META}pod_ready": _ready(status),
        f"{META}pod_phase": str(status.get("phase") or ""),
        f"{META}pod_node_name": str(spec.get("nodeName") or ""),
        f"{META}pod_host_ip": str(status.get("hostIP") or ""),
        f"{META}pod_uid": str(meta.get("uid") or ""),
    }
    controller = _controller(meta)
    if controller is not None:
        if controller.get("kind"):
            labels[f"{META}pod_controller_kind"] = str(controller["kind"])
        if controller.get("name"):
            labels[f"{META}pod_controller_name"] = str(controller["name"])
    for kind, values in (("label", meta.get("labels")), ("annotation", meta.get("annotations"))):
        for key, value in (values or {}).items():
            name = sanitize_label_name(str(key))
            labels[f"{META}pod_{kind}_{name}"] = str(value)
            labels[f"{META}pod_{kind}present_{name}"] = "true"
    return labels


def _container_ids(status: Mapping[str, Any], field: str) -> dict[str, str]:
    return {
        str(s.get("name")): str(s.get("containerID") or "")
        for s in status.get(field) or []
        if isinstance(s, Mapping)
    }


def pod_target_groups(pod: Mapping[str, Any]) -> list[TargetGroup]:
    """One target group per target of ``pod``; none while it has no IP."""
    spec: Mapping[str, Any] = pod.get("spec") or {}
    status: Mapping[str, Any] = pod.get("status") or {}
    ip = str(status.get("podIP") or "")
    if not ip:
        return []
    shared = pod_meta_labels(pod)
    groups: list[TargetGroup] = []
    for field, status_field, init in (
        ("containers", "containerStatuses", "false"),
        ("initContainers", "initContainerStatuses", "true"),
    ):
        ids = _container_ids(status, status_field)
        for container in spec.get(field) or []:
            name = str(container.get("name") or "")
            per_container = {
                f"{META}pod_container_name": name,
                f"{META}pod_container_id": ids.get(name, ""),
                f"{META}pod_container_image": str(container.get("image") or ""),
                f"{META}pod_container_init": init,
            }
            ports = [p for p in container.get("ports") or [] if isinstance(p, Mapping)]
            if not ports:
                groups.append({"targets": [ip], "labels": {**shared, **per_container}})
                continue
            for port in ports:
                number = str(port.get("containerPort") or "")
                per_port = {
                    f"{META}pod_container_port_name": str(port.get("name") or ""),
                    f"{META}pod_container_port_number": number,
                    f"{META}pod_container_port_protocol": str(port.get("protocol") or "TCP"),
                }
                groups.append(
                    {"targets": [f"{ip}:{number}"], "labels": {**shared, **per_container, **per_port}}
                )
    return groups


def target_groups(
    pods: Iterable[Mapping[str, Any]], selector: LabelSelector | None = None
) -> list[TargetGroup]:
    """The target groups of every pod (that ``selector`` matches, when given), in pod order."""
    groups: list[TargetGroup] = []
    for pod in pods:
        if selector is None or selector.matches((pod.get("metadata") or {}).get("labels")):
            groups.extend(pod_target_groups(pod))
    return groups


def http_sd(objects: Objects, query: Mapping[str, str]) -> list[TargetGroup]:
    """The answer to ``GET PATH?namespace=...&labelSelector=...``."""
    namespace = query.get("namespace") or None
    selector = None
    if query.get("labelSelector"):
        try:
            selector = LabelSelector.parse(query["labelSelector"])
        except SelectorError as e:
            raise errors.bad_request(f"labelSelector: {e}") from e
    return target_groups(objects.store.list("/pods", namespace), selector)
