"""EndpointsController: the Endpoints of each Service with a selector, as kube-controller-manager keeps them.

For a Service with a selector, an ``Endpoints`` object of the same name lists the pods the
selector matches:

- a pod is listed once it has an IP, is not finished (``Succeeded``/``Failed``) and is not
  being deleted (unless the Service sets ``publishNotReadyAddresses``);
- ready pods (condition ``Ready=True``) go to ``addresses``, others to ``notReadyAddresses``
  (all to ``addresses`` with ``publishNotReadyAddresses``), each with its ``nodeName`` and a
  ``targetRef`` to the pod (and ``hostname`` when the pod's ``subdomain`` names the Service);
- each Service port becomes an endpoint port whose number is the ``targetPort``: a number, or
  the name of a container port looked up in each pod (a pod without it is left out of that
  port); pods whose ports resolve alike share a subset;
- labels are the Service's, plus ``service.kubernetes.io/headless`` for headless Services.

Services without a selector (and ExternalName Services) are left alone: their users manage
the Endpoints. The object is written only when its subsets or labels change, and deleted
when the Service is (Endpoints carry no owner reference; the controller deletes them). At
start, Endpoints this controller wrote whose Service is gone are deleted too.

The pure part (:func:`desired_subsets` and the helpers above it) decides; the controller reads
the store and writes through the object rules.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import WriteOptions
from localcluster.apiserver.selectors import LabelSelector, SelectorError, label_selector_from_dict
from localcluster.controllers.base import Controller, key_of, split_key
from localcluster.store import Event, Obj

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects

MANAGER = "endpoint-controller"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"

PortKey = tuple[str, int, str, str]  # name, port, protocol, appProtocol ("" when unset)


# -- what a pod contributes ----------------------------------------------------------------------


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    """The pod's ``Ready`` condition is ``True``."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def pod_ip(pod: Mapping[str, Any]) -> str:
    """The pod's IPv4 address ("" until it has one)."""
    status = pod.get("status") or {}
    ips = [str(i.get("ip") or "") for i in status.get("podIPs") or []] or [str(status.get("podIP") or "")]
    return next((ip for ip in ips if ip and ":" not in ip), "")


def should_list_pod(pod: Mapping[str, Any], *, include_terminating: bool) -> bool:
    """Whether a selected pod appears in the Endpoints at all (ready or not)."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    if not pod_ip(pod):
        return False
    return include_terminating or not pod["metadata"].get("deletionTimestamp")


def find_port(pod: Mapping[str, Any], service_port: Mapping[str, Any]) -> int | None:
    """The pod port a Service port sends to: its numeric ``targetPort``, or the container port of that name."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if not isinstance(target, str) or not target:
        return None
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    # Sidecars (init containers that keep running) serve ports too.
    containers = list(spec.get("containers") or []) + [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    ]
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                number = port.get("containerPort")
                return number if isinstance(number, int) else None
    return None


def endpoint_address(pod: Mapping[str, Any], service: Mapping[str, Any]) -> Obj:
    """The address entry of a pod: IP, node, reference to the pod, hostname when it applies."""
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    address: Obj = {"ip": pod_ip(pod)}
    hostname = spec.get("hostname")
    svc_meta = service["metadata"]
    if (
        hostname
        and spec.get("subdomain") == svc_meta.get("name")
        and meta.get("namespace") == svc_meta.get("namespace")
    ):
        address["hostname"] = hostname
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {
        "kind": "Pod",
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
    }
    return address


def _endpoint_port(service_port: Mapping[str, Any], number: int) -> PortKey:
    return (
        str(service_port.get("name") or ""),
        number,
        str(service_port.get("protocol") or "TCP"),
        str(service_port.get("appProtocol") or ""),
    )


def _port_obj(key: PortKey) -> Obj:
    name, number, protocol, app_protocol = key
    port: Obj = {"port": number, "protocol": protocol}
    if name:
        port["name"] = name
    if app_protocol:
        port["appProtocol"] = app_protocol
    return port


# -- the subsets ------------------------------------------------------------------------------------


def desired_subsets(service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Obj]:
    """The subsets of the Endpoints of ``service`` over the pods its selector matches.

    Each listed pod has one address; pods whose Service ports resolve to the same port set
    share a subset (a named ``targetPort`` can resolve differently per pod). Addresses are
    ordered by IP, ports by name, subsets by their ports, so equal inputs give equal output.
    """
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    service_ports = list(spec.get("ports") or [])
    headless = spec.get("clusterIP") == "None"
    # address (as canonical JSON) -> (address, ready, ports it serves)
    entries: dict[str, tuple[Obj, bool, set[PortKey]]] = {}
    for pod in pods:
        if not should_list_pod(pod, include_terminating=publish_not_ready):
            continue
        address = endpoint_address(pod, service)
        ready = publish_not_ready or is_pod_ready(pod)
        ports: set[PortKey] = set()
        for service_port in service_ports:
            number = find_port(pod, service_port)
            if number is not None:
                ports.add(_endpoint_port(service_port, number))
        if not ports and not (headless and not service_ports):
            continue  # serves none of the Service's ports
        entries[json.dumps(address, sort_keys=True)] = (address, ready, ports)
    return repack(entries.values())


def repack(entries: Iterable[tuple[Obj, bool, set[PortKey]]]) -> list[Obj]:
    """Group addresses by the exact set of ports they serve, one subset per port set."""
    groups: dict[frozenset[PortKey], tuple[list[Obj], list[Obj]]] = {}
    for address, ready, ports in entries:
        ready_list, not_ready_list = groups.setdefault(frozenset(ports), ([], []))
        (ready_list if ready else not_ready_list).append(address)
    subsets: list[tuple[list[PortKey], Obj]] = []
    for port_set, (ready_list, not_ready_list) in groups.items():
        subset: Obj = {}
        if ready_list:
            subset["addresses"] = sorted(ready_list, key=_address_order)
        if not_ready_list:
            subset["notReadyAddresses"] = sorted(not_ready_list, key=_address_order)
        ordered = sorted(port_set)
        if ordered:
            subset["ports"] = [_port_obj(p) for p in ordered]
        subsets.append((ordered, subset))
    subsets.sort(key=lambda item: item[0])
    return [subset for _, subset in subsets]


def _address_order(address: Obj) -> tuple[tuple[int, ...], str]:
    ip = str(address.get("ip", ""))
    parts = tuple(int(p) for p in ip.split(".")) if ip.replace(".", "").isdigit() else ()
    return parts, str((address.get("targetRef") or {}).get("uid", ""))


def endpoints_labels(service: Mapping[str, Any]) -> dict[str, str]:
    """The Service's labels, marked headless when the Service has no cluster IP."""
    labels = dict(service["metadata"].get("labels") or {})
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    if not cluster_ip or cluster_ip == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


def service_selector(service: Mapping[str, Any]) -> LabelSelector | None:
    """The Service's pod selector; None when it has none (its Endpoints are managed by hand)."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    selector = spec.get("selector")
    if not isinstance(selector, Mapping) or not selector:
        return None
    try:
        return label_selector_from_dict({"matchLabels": selector})
    except SelectorError:
        return None


def _subsets_equal(current: Any, wanted: list[Obj]) -> bool:
    """Equal, ignoring the pods' resourceVersions in ``targetRef`` (as the real controller does)."""

    def strip(subsets: Any) -> Any:
        out = json.loads(json.dumps(subsets or []))
        for subset in out:
            for kind in ("addresses", "notReadyAddresses"):
                for address in subset.get(kind) or []:
                    (address.get("targetRef") or {}).pop("resourceVersion", None)
        return out

    return bool(strip(current) == wanted)


def _relevant_pod_state(pod: Obj) -> Any:
    """What of a pod the Endpoints depend on: a change elsewhere wakes no Service."""
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    return (
        meta.get("labels"),
        bool(meta.get("deletionTimestamp")),
        pod_ip(pod),
        is_pod_ready(pod),
        status.get("phase"),
        spec.get("nodeName"),
        spec.get("hostname"),
        spec.get("subdomain"),
        [c.get("ports") for c in spec.get("containers") or []],
        [c.get("ports") for c in spec.get("initContainers") or []],
    )


# -- the controller ---------------------------------------------------------------------------------


class EndpointsController(Controller):
    """Keeps each selector Service's Endpoints in step with its pods."""

    name = "endpoints-controller"
    watches = ("/services", "/pods", "/endpoints")

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self._endpoints_rt = self.rt("", "v1", "endpoints")
        # Services seen deleted: their Endpoints go, whoever wrote them (as upstream).
        self._deleted: set[str] = set()

    def initial_keys(self) -> list[str]:
        # Endpoints too: those left behind by a Service deleted while the server was down.
        keys = {
            key_of(str(o["metadata"].get("namespace", "")), str(o["metadata"]["name"]))
            for resource in ("/services", "/endpoints")
            for o in self.store.list(resource)
        }
        return sorted(keys)

    def keys_for(self, event: Event) -> list[str]:
        meta = event.obj["metadata"]
        namespace = str(meta.get("namespace", ""))
        if event.resource == "/services":
            key = key_of(namespace, str(meta["name"]))
            if event.type == "DELETED":
                self._deleted.add(key)
            else:
                self._deleted.discard(key)
            return [key]
        if event.resource == "/endpoints":
            # Someone else changed or deleted a Service's Endpoints: put them right again.
            if self.store.get("/services", namespace, str(meta["name"])) is None:
                return []
            return [key_of(namespace, str(meta["name"]))]
        if (
            event.type == "MODIFIED"
            and event.prev is not None
            and _relevant_pod_state(event.prev) == _relevant_pod_state(event.obj)
        ):
            return []
        label_sets = [meta.get("labels") or {}]
        if event.prev is not None:
            label_sets.append(event.prev["metadata"].get("labels") or {})
        keys = []
        for service in self.store.list("/services", namespace):
            selector = service_selector(service)
            if selector is not None and any(selector.matches(labels) for labels in label_sets):
                keys.append(key_of(namespace, str(service["metadata"]["name"])))
        return keys

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        service = self.store.get("/services", namespace, name)
        current = self.store.get("/endpoints", namespace, name)
        if service is None:
            deleted = key in self._deleted
            self._deleted.discard(key)
            if current is not None and (deleted or _written_by_us(current)):
                self._delete(namespace, name)
            return None
        selector = service_selector(service)
        if selector is None:
            return None
        pods = self.store.select("/pods", namespace, selector)
        subsets = desired_subsets(service, pods)
        labels = endpoints_labels(service)
        if current is not None and (
            _subsets_equal(current.get("subsets"), subsets)
            and (current["metadata"].get("labels") or {}) == labels
        ):
            return None
        self._write(namespace, name, current, subsets, labels)
        return None

    def _write(
        self, namespace: str, name: str, current: Obj | None, subsets: list[Obj], labels: dict[str, str]
    ) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        meta: Obj = {"name": name, "namespace": namespace}
        annotations: dict[str, str] = {}
        if current is not None:
            meta = {k: v for k, v in current["metadata"].items() if k != "managedFields"}
            annotations = dict(current["metadata"].get("annotations") or {})
        annotations[TRIGGER_TIME_ANNOTATION] = now
        meta["annotations"] = annotations
        if labels:
            meta["labels"] = labels
        else:
            meta.pop("labels", None)
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta}
        if subsets:
            body["subsets"] = subsets
        opts = WriteOptions(manager=MANAGER)
        if current is None:
            try:
                self.objects.create(self._endpoints_rt, namespace, body, opts)
            except ApiError as e:
                if e.code != 403:  # 403: the namespace is being deleted, nothing to keep
                    raise
        else:
            self.objects.update(self._endpoints_rt, namespace, name, body, opts)

    def _delete(self, namespace: str, name: str) -> None:
        try:
            self.objects.delete(self._endpoints_rt, namespace, name)
        except ApiError as e:
            if e.code != 404:
                raise


def _written_by_us(endpoints: Obj) -> bool:
    return any(m.get("manager") == MANAGER for m in endpoints["metadata"].get("managedFields") or [])
