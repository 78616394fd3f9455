"""Defaults the API server fills into built-in objects on create and update.

``default_builtin`` returns a new object with what the server's defaulting (and the few
create-time strategy and admission steps users see on every object) adds: a Deployment read
back has ``replicas: 1``, a ``RollingUpdate`` strategy with ``25%``, a pod template whose
containers have ``imagePullPolicy``, ``terminationMessagePath`` and so on. Values the user set
are never changed, and defaulting twice gives the same object as defaulting once.

Left to the caller: cluster IP and node port allocation, generated names and UIDs,
``metadata.generation``/``creationTimestamp``, and status that controllers own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from localcluster.apiserver.jsoncopy import deep_copy

__all__ = ["default_builtin", "image_pull_policy", "qos_class"]

_RBAC_GROUP = "rbac.authorization.k8s.io"


def image_pull_policy(image: str) -> str:
    """``Always`` for a ``:latest`` or untagged image, else ``IfNotPresent`` (digests count as tags)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _set(obj: dict[str, Any], key: str, value: Any) -> None:
    if obj.get(key) is None:
        obj[key] = value


def _set_nonzero(obj: dict[str, Any], key: str, value: Any) -> None:
    """For Go fields that are not pointers: zero (or missing) takes the default."""
    if not obj.get(key):
        obj[key] = value


def _dict(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# -- pods and pod templates -----------------------------------------------------------------------


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        _set_nonzero(probe, key, value)
    _http_get(probe)


def _http_get(handler: dict[str, Any]) -> None:
    get = handler.get("httpGet")
    if isinstance(get, dict):
        _set_nonzero(get, "path", "/")
        _set_nonzero(get, "scheme", "HTTP")


def _container(container: dict[str, Any], host_network: bool) -> None:
    _set_nonzero(container, "terminationMessagePath", "/dev/termination-log")
    _set_nonzero(container, "terminationMessagePolicy", "File")
    _set_nonzero(container, "imagePullPolicy", image_pull_policy(str(container.get("image") or "")))
    _set(container, "resources", {})
    for port in _dicts(container.get("ports")):
        _set_nonzero(port, "protocol", "TCP")
        if host_network and port.get("containerPort"):
            _set_nonzero(port, "hostPort", port["containerPort"])
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(container.get(key))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for handler in (lifecycle.get("postStart"), lifecycle.get("preStop")):
            if isinstance(handler, dict):
                _http_get(handler)
    for env in _dicts(container.get("env")):
        source = env.get("valueFrom")
        if isinstance(source, dict) and isinstance(source.get("fieldRef"), dict):
            _set_nonzero(source["fieldRef"], "apiVersion", "v1")


def _volume(volume: dict[str, Any]) -> None:
    sources = [k for k in volume if k != "name"]
    if not sources:
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict):
            _set(source, "defaultMode", 420)
            _field_refs(source)
    if isinstance(volume.get("hostPath"), dict):
        _set(volume["hostPath"], "type", "")
    for source in _dicts((volume.get("projected") or {}).get("sources")):
        if isinstance(source.get("serviceAccountToken"), dict):
            _set(source["serviceAccountToken"], "expirationSeconds", 3600)
        if isinstance(source.get("downwardAPI"), dict):
            _field_refs(source["downwardAPI"])


def _field_refs(source: dict[str, Any]) -> None:
    for item in _dicts(source.get("items")):
        if isinstance(item.get("fieldRef"), dict):
            _set_nonzero(item["fieldRef"], "apiVersion", "v1")


def _pod_spec(spec: dict[str, Any], host_ports: bool = False) -> None:
    _set_nonzero(spec, "restartPolicy", "Always")
    _set_nonzero(spec, "dnsPolicy", "ClusterFirst")
    _set_nonzero(spec, "schedulerName", "default-scheduler")
    _set(spec, "securityContext", {})
    _set(spec, "terminationGracePeriodSeconds", 30)
    # v1 conversion keeps the deprecated serviceAccount alias equal to serviceAccountName.
    _set_nonzero(spec, "serviceAccountName", spec.get("serviceAccount") or None)
    _set_nonzero(spec, "serviceAccount", spec.get("serviceAccountName") or None)
    for key in ("serviceAccountName", "serviceAccount"):
        if spec.get(key) is None:
            spec.pop(key, None)
    host_network = host_ports and spec.get("hostNetwork") is True
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(key)):
            _container(container, host_network)
    for volume in _dicts(spec.get("volumes")):
        _volume(volume)


def _template(owner_spec: dict[str, Any]) -> None:
    template = _dict(owner_spec, "template")
    metadata = _dict(template, "metadata")
    metadata.setdefault("creationTimestamp", None)
    _pod_spec(_dict(template, "spec"))


_DEFAULT_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
)


def _pod(obj: dict[str, Any], create: bool) -> None:
    spec = _dict(obj, "spec")
    _pod_spec(spec, host_ports=True)
    _set(spec, "enableServiceLinks", True)
    # Admission plugins every real cluster runs: ServiceAccount, Priority, DefaultTolerationSeconds.
    _set_nonzero(spec, "serviceAccountName", spec.get("serviceAccount") or "default")
    _set_nonzero(spec, "serviceAccount", spec["serviceAccountName"])
    _set(spec, "priority", 0)
    _set_nonzero(spec, "preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    if isinstance(tolerations, list):
        for key, effect in _DEFAULT_TOLERATIONS:
            if not any(_tolerates(t, key, effect) for t in _dicts(tolerations)):
                tolerations.append(
                    {"key": key, "operator": "Exists", "effect": effect, "tolerationSeconds": 300}
                )
    # Pods (not templates): missing requests take the limits.
    for key in ("initContainers", "containers"):
        for container in _dicts(spec.get(key)):
            resources = _dict(container, "resources")
            if isinstance(resources.get("limits"), dict):
                requests = _dict(resources, "requests")
                for name, quantity in resources["limits"].items():
                    requests.setdefault(name, quantity)
    if create:
        status = _dict(obj, "status")
        _set_nonzero(status, "phase", "Pending")
        _set_nonzero(status, "qosClass", qos_class(spec))


def _tolerates(toleration: dict[str, Any], key: str, effect: str) -> bool:
    matches_key = toleration.get("key") == key or (
        not toleration.get("key") and toleration.get("operator") == "Exists"
    )
    return matches_key and toleration.get("effect") in (effect, "", None)


_SUFFIXES: dict[str, int | Decimal] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_SUFFIXES |= {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10**3, "M": 10**6}
_SUFFIXES |= {"G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def _quantity(text: Any) -> Decimal | None:
    match = re.fullmatch(r"([+-]?[0-9.]+)([eE][+-]?[0-9]+|[a-zA-Z]{0,2})", str(text).strip())
    if match is None:
        return None
    number, suffix = match.groups()
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * Decimal(_SUFFIXES[suffix]) if suffix else Decimal(number)
    except (InvalidOperation, KeyError):
        return None


def qos_class(pod_spec: dict[str, Any]) -> str:
    """The pod's QoS class from its containers' cpu/memory requests and limits."""
    containers = _dicts(pod_spec.get("containers")) + _dicts(pod_spec.get("initContainers"))
    any_set, guaranteed = False, True
    for container in containers:
        resources = container.get("resources") or {}
        limits = {
            k: _quantity(v) for k, v in (resources.get("limits") or {}).items() if k in ("cpu", "memory")
        }
        requests = {
            k: _quantity(v) for k, v in (resources.get("requests") or {}).items() if k in ("cpu", "memory")
        }
        requests = {**limits, **requests}
        any_set = any_set or any(v for v in (*limits.values(), *requests.values()))
        if set(limits) != {"cpu", "memory"} or any(requests.get(k) != limits[k] for k in limits):
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


# -- workloads ------------------------------------------------------------------------------------


def _deployment(obj: dict[str, Any], create: bool) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "replicas", 1)
    strategy = _dict(spec, "strategy")
    _set_nonzero(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", "25%")
        _set(rolling, "maxSurge", "25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _template(spec)


def _replica_set(obj: dict[str, Any], create: bool) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "replicas", 1)
    _template(spec)


def _job(obj: dict[str, Any], create: bool) -> None:
    spec = _dict(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _set(spec, "parallelism", 1)
    _set(spec, "backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    _set(spec, "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    for rule in _dicts((spec.get("podFailurePolicy") or {}).get("rules")):
        for pattern in _dicts(rule.get("onPodConditions")):
            _set_nonzero(pattern, "status", "True")
    _template(spec)
    meta = _dict(obj, "metadata")
    uid = meta.get("uid")
    if uid and not spec.get("manualSelector") and not spec.get("selector"):
        # The job strategy's generated selector, and the labels it puts on the template.
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = _dict(spec["template"]["metadata"], "labels")
        name = str(meta.get("name") or "")
        for prefix in ("batch.kubernetes.io/", ""):
            labels.setdefault(f"{prefix}controller-uid", uid)
            labels.setdefault(f"{prefix}job-name", name)
    template_labels = spec["template"]["metadata"].get("labels")
    if template_labels and not meta.get("labels"):
        meta["labels"] = dict(template_labels)


# -- networking -----------------------------------------------------------------------------------


def _service(obj: dict[str, Any], create: bool) -> None:
    spec = _dict(obj, "spec")
    _set_nonzero(spec, "type", "ClusterIP")
    _set_nonzero(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    for port in _dicts(spec.get("ports")):
        _set_nonzero(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    kind = spec["type"]
    if kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and spec.get("externalIPs")):
        _set_nonzero(spec, "externalTrafficPolicy", "Cluster")
    if kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        _set(spec, "internalTrafficPolicy", "Cluster")
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        elif spec.get("clusterIPs") and not spec.get("clusterIP"):
            spec["clusterIP"] = spec["clusterIPs"][0]
        headless_without_selector = spec.get("clusterIP") == "None" and not spec.get("selector")
        _set(spec, "ipFamilyPolicy", "RequireDualStack" if headless_without_selector else "SingleStack")
        _set_nonzero(spec, "ipFamilies", ["IPv4"])
    if kind == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)
    _dict(_dict(obj, "status"), "loadBalancer")


def _endpoints(obj: dict[str, Any], create: bool) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            _set_nonzero(port, "protocol", "TCP")


# -- cluster objects ------------------------------------------------------------------------------


def _namespace(obj: dict[str, Any], create: bool) -> None:
    meta = _dict(obj, "metadata")
    if meta.get("name"):
        _dict(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]
    if create:
        finalizers = _dict(obj, "spec").setdefault("finalizers", [])
        if "kubernetes" not in finalizers:
            finalizers.append("kubernetes")
    _set_nonzero(_dict(obj, "status"), "phase", "Active")


def _secret(obj: dict[str, Any], create: bool) -> None:
    _set_nonzero(obj, "type", "Opaque")


def _node(obj: dict[str, Any], create: bool) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and status.get("capacity") and not status.get("allocatable"):
        status["allocatable"] = dict(status["capacity"])


def _binding(obj: dict[str, Any], create: bool) -> None:
    _set_nonzero(_dict(obj, "roleRef"), "apiGroup", _RBAC_GROUP)
    for subject in _dicts(obj.get("subjects")):
        if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = _RBAC_GROUP


def _crd(obj: dict[str, Any], create: bool) -> None:
    spec = _dict(obj, "spec")
    names = _dict(spec, "names")
    kind = str(names.get("kind") or "")
    _set_nonzero(names, "singular", kind.lower())
    if kind:
        _set_nonzero(names, "listKind", kind + "List")
    conversion = _dict(spec, "conversion")
    _set_nonzero(conversion, "strategy", "None")
    service = ((conversion.get("webhook") or {}).get("clientConfig") or {}).get("service")
    if isinstance(service, dict):
        _set(service, "port", 443)


def _ingress_class(obj: dict[str, Any], create: bool) -> None:
    parameters = _dict(obj, "spec").get("parameters")
    if isinstance(parameters, dict):
        _set_nonzero(parameters, "scope", "Cluster")


_DEFAULTERS: dict[tuple[str, str], Callable[[dict[str, Any], bool], None]] = {
    ("v1", "Pod"): _pod,
    ("apps/v1", "Deployment"): _deployment,
    ("apps/v1", "ReplicaSet"): _replica_set,
    ("batch/v1", "Job"): _job,
    ("v1", "Service"): _service,
    ("v1", "Endpoints"): _endpoints,
    ("v1", "Namespace"): _namespace,
    ("v1", "Secret"): _secret,
    ("v1", "Node"): _node,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _binding,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): _binding,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): _crd,
    ("networking.k8s.io/v1", "IngressClass"): _ingress_class,
}


def default_builtin(
    api_version: str, kind: str, obj: dict[str, Any], *, create: bool = True
) -> dict[str, Any]:
    """A copy of ``obj`` with the server's defaults for ``api_version``/``kind`` filled in.

    ``create`` selects create-only steps (a namespace's ``kubernetes`` finalizer, a pod's
    ``Pending`` phase); kinds without defaults come back unchanged (as a copy).
    """
    out = deep_copy(obj)
    defaulter = _DEFAULTERS.get((api_version, kind))
    if defaulter is not None:
        defaulter(out, create)
    return out
