"""``meta.k8s.io/v1`` Table responses, the server-side printing ``kubectl get`` asks for.

Built-in resources get the columns and cells of the Kubernetes 1.32 printers (``kubectl get
pods`` shows ``NAME READY STATUS RESTARTS AGE``, ``-o wide`` adds the priority-1 columns);
custom resources get ``Name`` plus their CRD version's ``additionalPrinterColumns`` (or
``Name`` and ``Age`` when the CRD defines none), evaluated with :mod:`jsonpath`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from localcluster.apiserver.jsonpath import JsonPathError, evaluate
from localcluster.apiserver.selectors import SelectorError, label_selector_from_dict
from localcluster.apiserver.validation import go_float

__all__ = ["human_duration", "to_table"]

Obj = Mapping[str, Any]
Row = tuple[list[Any], list[dict[str, str]] | None]

NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_DOC_LINES = """
Containers: Names of each container in the template.
Images: Images referenced by each container in the template.
Selector: A label query over the objects this one selects.
Ready: The aggregate readiness state of this object.
Status: The status of the object.
Restarts: The number of times the containers in this pod have been restarted and when the last container \
in this pod has restarted.
IP: podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.
Node: NodeName indicates in which node this pod is scheduled.
Nominated Node: nominatedNodeName is set only when this pod preempts other pods on the node.
Readiness Gates: If specified, all readiness gates will be evaluated for pod readiness.
Up-to-date: Total number of non-terminating pods targeted by this deployment that have the desired template spec.
Available: Total number of available non-terminating pods (ready for at least minReadySeconds).
Desired: Replicas is the number of desired pods.
Current: Replicas is the most recently observed number of non-terminating pods.
Completions: The number of pods which reached phase Succeeded.
Duration: Time required to complete the job.
Type: The type of the object.
Cluster-IP: clusterIP is the IP address of the service and is usually assigned randomly.
External-IP: externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic.
Port(s): The list of ports that are exposed by this service.
Endpoints: The set of all endpoints is the union of all subsets.
Data: Data contains the configuration data.
Secrets: Secrets is a list of the secrets in the same namespace that pods using this ServiceAccount may use.
Holder: holderIdentity contains the identity of the holder of a current lease.
Last Seen: The time at which the most recent occurrence of this event was recorded.
Reason: A short, machine understandable string that gives the reason for the transition.
Object: The object that this event is about.
Subobject: The piece of the object this event is about (a JSON/Go field access statement).
Source: The component reporting this event.
Message: A human-readable description of the status of this operation.
First Seen: The time at which the event was first recorded.
Count: The number of times this event has occurred.
Roles: The roles of the node
Version: Kubelet Version reported by the node.
Class: The name of the IngressClass resource that should be used for additional configuration
Hosts: Hosts that incoming requests are matched against before the ingress rule
Address: Address is a list containing ingress points for the load-balancer
Ports: Ports of TLS configurations that open
Controller: Controller of the object
Parameters: A reference to a resource with additional parameters
Revision: Revision indicates the revision of the state represented by Data.
Role: RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.
Users: Users in the roleBinding
Groups: Groups in the roleBinding
ServiceAccounts: ServiceAccounts in the roleBinding
"""
_DOCS = dict(line.split(": ", 1) for line in _DOC_LINES.replace("\\\n", "").strip().splitlines())
_DOCS |= {"Name": NAME_DOC, "Age": AGE_DOC, "Created At": AGE_DOC}
_TYPES = {"i": "integer", "d": "date"}


def _columns(spec: str) -> list[dict[str, Any]]:
    """Columns from ``"Ready Status Desired:i Created_At:d Node*"``: ``_`` is a space, ``:i``
    integer, ``:d`` date, ``*`` priority 1 (``-o wide``); Name comes first unless listed."""
    out = []
    tokens = spec.split()
    for token in tokens if any(t.rstrip("*") == "Name" for t in tokens) else ["Name", *tokens]:
        wide, token = token.endswith("*"), token.rstrip("*")
        name, _, kind = token.replace("_", " ").partition(":")
        fmt = "name" if name == "Name" else ""
        doc = _DOCS.get(name, "")
        out.append(
            {
                "name": name,
                "type": _TYPES.get(kind, "string"),
                "format": fmt,
                "description": doc,
                "priority": int(wide),
            }
        )
    return out


_WIDE = " Containers* Images* Selector*"

# -- time -------------------------------------------------------------------------------------------


def human_duration(delta: dt.timedelta) -> str:
    """kubectl's ``duration.HumanDuration``: ``45s``, ``5m10s``, ``3h``, ``2d3h``, ``400d``, ``3y12d``."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _since(value: Any, now: dt.datetime) -> str:
    when = _time(value)
    return "<unknown>" if when is None else human_duration(now - when)


def _created_at(obj: Obj) -> str:
    when = _time(_get(obj, "metadata", "creationTimestamp"))
    return (when or dt.datetime(1, 1, 1, tzinfo=dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- helpers ------------------------------------------------------------------------------------------


def _get(obj: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            obj = obj[key] if isinstance(obj, list) and -len(obj) <= key < len(obj) else None
        else:
            obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _list(obj: Any, *path: str) -> list[Any]:
    value = _get(obj, *path)
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _name(obj: Obj) -> str:
    return str(_get(obj, "metadata", "name") or "")


def _age(obj: Obj, now: dt.datetime) -> str:
    return _since(_get(obj, "metadata", "creationTimestamp"), now)


def _format_labels(labels: Any) -> str:
    pairs = sorted((labels or {}).items()) if isinstance(labels, Mapping) else []
    return ",".join(f"{k}={v}" for k, v in pairs) or "<none>"


def _selector(sel: Any, empty: str) -> str:
    try:
        text = str(label_selector_from_dict(sel if isinstance(sel, Mapping) else None))
    except SelectorError:
        return "<invalid>" if empty == "" else "<error>"
    return text or empty


def _containers(template_spec: Any) -> list[str]:
    containers = _list(template_spec, "containers")
    return [
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
    ]


def _true_condition(obj: Obj, kind: str) -> bool:
    for cond in _list(obj, "status", "conditions"):
        if cond.get("type") == kind:
            return bool(cond.get("status") == "True")
    return False


# -- printers -----------------------------------------------------------------------------------------


def _pod(pod: Obj, now: dt.datetime) -> Row:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
        for c in _list(status, "conditions")
    ):
        reason = "SchedulingGated"
    inits = _list(spec, "initContainers")
    sidecars = {c.get("name") for c in inits if c.get("restartPolicy") == "Always"}
    total, ready, restarts, side_restarts = len(_list(spec, "containers")) + len(sidecars), 0, 0, 0
    last, side_last = None, None

    def finished(cs: Obj, best: dt.datetime | None) -> dt.datetime | None:
        when = _time(_get(cs, "lastState", "terminated", "finishedAt"))
        return when if when is not None and (best is None or when > best) else best

    def exit_reason(term: Obj, prefix: str) -> str:
        if term.get("reason"):
            return prefix + str(term["reason"])
        signal = _int(term.get("signal"))
        return f"{prefix}Signal:{signal}" if signal else f"{prefix}ExitCode:{_int(term.get('exitCode'))}"

    initializing = False
    for i, cs in enumerate(_list(status, "initContainerStatuses")):
        restarts += _int(cs.get("restartCount"))
        last = finished(cs, last)
        if cs.get("name") in sidecars:
            side_restarts += _int(cs.get("restartCount"))
            side_last = finished(cs, side_last)
        term, waiting = _get(cs, "state", "terminated"), _get(cs, "state", "waiting")
        if isinstance(term, Mapping) and _int(term.get("exitCode")) == 0:
            continue
        if cs.get("name") in sidecars and cs.get("started") is True:
            ready += 1 if cs.get("ready") else 0
            continue
        initializing = True
        if isinstance(term, Mapping):
            reason = exit_reason(term, "Init:")
        elif (
            isinstance(waiting, Mapping) and waiting.get("reason") and waiting["reason"] != "PodInitializing"
        ):
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{i}/{len(inits)}"
        break
    if not initializing or _true_condition(pod, "Initialized"):
        restarts, last, running = side_restarts, side_last, False
        for cs in reversed(_list(status, "containerStatuses")):
            restarts += _int(cs.get("restartCount"))
            last = finished(cs, last)
            term, waiting = _get(cs, "state", "terminated"), _get(cs, "state", "waiting")
            if isinstance(waiting, Mapping) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(term, Mapping):
                reason = exit_reason(term, "")
            elif cs.get("ready") and isinstance(_get(cs, "state", "running"), Mapping):
                running, ready = True, ready + 1
        if reason == "Completed" and running:
            reason = "Running" if _true_condition(pod, "Ready") else "NotReady"
    if _get(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restart_text = str(restarts)
    if restarts and last is not None:
        restart_text = f"{restarts} ({human_duration(now - last)} ago)"
    ips = _list(status, "podIPs")
    ip = _get(ips, 0, "ip") if ips else status.get("podIP")
    gates = _list(spec, "readinessGates")
    gate_text = "<none>"
    if gates:
        true = sum(1 for g in gates if _true_condition(pod, str(g.get("conditionType"))))
        gate_text = f"{true}/{len(gates)}"
    node, nominated = spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>"
    cells = [_name(pod), f"{ready}/{total}", reason, restart_text, _age(pod, now)]
    cells += [ip or "<none>", node, nominated, gate_text]
    conditions = None
    if phase in ("Succeeded", "Failed"):
        message = "The pod has completed successfully." if phase == "Succeeded" else "The pod failed."
        conditions = [{"type": "Completed", "status": "True", "reason": phase, "message": message}]
    return cells, conditions


def _deployment(obj: Obj, now: dt.datetime) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}"
    cells = [_name(obj), ready, _int(status.get("updatedReplicas")), _int(status.get("availableReplicas"))]
    wide = [*_containers(_get(spec, "template", "spec")), _selector(spec.get("selector"), "")]
    return [*cells, _age(obj, now), *wide], None


def _replicaset(obj: Obj, now: dt.datetime) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    counts = [_int(spec.get("replicas")), _int(status.get("replicas")), _int(status.get("readyReplicas"))]
    wide = [*_containers(_get(spec, "template", "spec")), _selector(spec.get("selector"), "<none>")]
    return [_name(obj), *counts, _age(obj, now), *wide], None


def _job(obj: Obj, now: dt.datetime) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    succeeded = _int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{_int(spec['completions'])}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {_int(spec['parallelism'])}"
    else:
        completions = f"{succeeded}/1"
    start, end = _time(status.get("startTime")), _time(status.get("completionTime"))
    duration = "" if start is None else human_duration((end or now) - start)
    state = "Running"
    for kind, text in (
        ("Complete", "Complete"),
        ("Failed", "Failed"),
        ("", "Terminating"),
        ("Suspended", "Suspended"),
    ):
        if (kind and _true_condition(obj, kind)) or (not kind and _get(obj, "metadata", "deletionTimestamp")):
            state = text
            break
    else:
        for kind in ("FailureTarget", "SuccessCriteriaMet"):
            if _true_condition(obj, kind):
                state = kind
                break
    wide = [*_containers(_get(spec, "template", "spec")), _selector(spec.get("selector"), "<none>")]
    return [_name(obj), state, completions, duration, _age(obj, now), *wide], None


def _service(obj: Obj, now: dt.datetime) -> Row:
    spec = obj.get("spec") or {}
    kind = spec.get("type") or ""
    cluster_ips = _list(spec, "clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    external = ",".join(_list(spec, "externalIPs"))
    if kind in ("ClusterIP", "NodePort"):
        external = external or "<none>"
    elif kind == "LoadBalancer":
        lb = [i.get("ip") or i.get("hostname") for i in _list(obj, "status", "loadBalancer", "ingress")]
        external = ",".join(dict.fromkeys([x for x in lb if x] + _list(spec, "externalIPs"))) or "<pending>"
    elif kind == "ExternalName":
        external = str(spec.get("externalName") or "")
    else:
        external = "<unknown>"
    ports = []
    for port in _list(spec, "ports"):
        node_port = f":{port['nodePort']}" if _int(port.get("nodePort")) > 0 else ""
        ports.append(f"{_int(port.get('port'))}{node_port}/{port.get('protocol') or ''}")
    cells = [
        _name(obj),
        kind,
        cluster_ips[0] if cluster_ips else "<none>",
        external,
        ",".join(ports) or "<none>",
    ]
    return [*cells, _age(obj, now), _format_labels(spec.get("selector"))], None


def _endpoints(obj: Obj, now: dt.datetime) -> Row:
    subsets = _list(obj, "subsets")
    shown: list[str] = []
    count = 0
    for subset in subsets:
        ips = [str(a.get("ip", "")) for a in _list(subset, "addresses")]
        targets = [
            ip if not p else _host_port(ip, p) for p in (_list(subset, "ports") or [None]) for ip in ips
        ]
        count += len(targets)
        shown += targets[: max(0, 3 - len(shown))]
    text = ",".join(shown) + (f" + {count - 3} more..." if count > 3 else "")
    return [_name(obj), text if subsets else "<none>", _age(obj, now)], None


def _host_port(ip: str, port: Obj) -> str:
    return f"[{ip}]:{_int(port.get('port'))}" if ":" in ip else f"{ip}:{_int(port.get('port'))}"


def _event(obj: Obj, now: dt.datetime) -> Row:
    first = (
        _since(obj.get("firstTimestamp"), now)
        if obj.get("firstTimestamp")
        else _since(obj.get("eventTime"), now)
    )
    last = _since(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first
    count = _int(obj.get("count"))
    if isinstance(obj.get("series"), Mapping):
        last, count = _since(_get(obj, "series", "lastObservedTime"), now), _int(_get(obj, "series", "count"))
    involved = obj.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    component = _get(obj, "source", "component") or obj.get("reportingController") or ""
    host = _get(obj, "source", "host") or obj.get("reportingInstance") or ""
    source = f"{component}, {host}" if host else component
    message = str(obj.get("message") or "").strip()
    cells = [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        source,
        message,
    ]
    return [*cells, first, count or 1, _name(obj)], None


def _node(obj: Obj, now: dt.datetime) -> Row:
    ready = [c for c in _list(obj, "status", "conditions") if c.get("type") == "Ready"]
    states = ["Ready" if ready[-1].get("status") == "True" else "NotReady"] if ready else ["Unknown"]
    if _get(obj, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    labels = _get(obj, "metadata", "labels") or {}
    roles = {
        k.removeprefix("node-role.kubernetes.io/") for k in labels if k.startswith("node-role.kubernetes.io/")
    }
    roles |= {labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()
    info = _get(obj, "status", "nodeInfo") or {}
    addresses = _list(obj, "status", "addresses")

    def address(kind: str) -> str:
        return next((str(a.get("address")) for a in addresses if a.get("type") == kind), "<none>")

    role_text = ",".join(sorted(r for r in roles if r)) or "<none>"
    cells = [_name(obj), ",".join(states), role_text, _age(obj, now), info.get("kubeletVersion", "")]
    cells += [address("InternalIP"), address("ExternalIP")]
    cells += [info.get(k) or "<unknown>" for k in ("osImage", "kernelVersion", "containerRuntimeVersion")]
    return cells, None


def _binding(obj: Obj, now: dt.datetime) -> Row:
    ref = obj.get("roleRef") or {}
    subjects = _list(obj, "subjects")

    def names(kind: str) -> str:
        chosen = [s for s in subjects if s.get("kind") == kind]
        if kind == "ServiceAccount":
            return ", ".join(f"{s.get('namespace', '')}/{s.get('name', '')}" for s in chosen)
        return ", ".join(str(s.get("name", "")) for s in chosen)

    cells = [_name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(obj, now)]
    return [*cells, names("User"), names("Group"), names("ServiceAccount")], None


def _ingress(obj: Obj, now: dt.datetime) -> Row:
    rules = _list(obj, "spec", "rules")
    hosts: list[str] = []
    more = False
    for rule in rules:
        more = more or len(hosts) == 3
        if not more and rule.get("host"):
            hosts.append(str(rule["host"]))
    host_text = ",".join(hosts) + (f" + {len(rules) - 3} more..." if more else "") if hosts else "*"
    lb = [i.get("ip") or i.get("hostname") for i in _list(obj, "status", "loadBalancer", "ingress")]
    address = ",".join(dict.fromkeys(x for x in lb if x))
    ports = "80, 443" if _list(obj, "spec", "tls") else "80"
    cls = _get(obj, "spec", "ingressClassName") or "<none>"
    return [_name(obj), cls, host_text, address, ports, _age(obj, now)], None


def _ingress_class(obj: Obj, now: dt.datetime) -> Row:
    params = _get(obj, "spec", "parameters")
    text = "<none>"
    if isinstance(params, Mapping):
        group = f".{params['apiGroup']}" if params.get("apiGroup") else ""
        text = f"{params.get('kind', '')}{group}/{params.get('name', '')}"
    return [_name(obj), _get(obj, "spec", "controller") or "", text, _age(obj, now)], None


def _revision(obj: Obj, now: dt.datetime) -> Row:
    owner = next((o for o in _list(obj, "metadata", "ownerReferences") if o.get("controller")), None)
    controller = "<none>"
    if owner is not None:
        group = str(owner.get("apiVersion", "")).rpartition("/")[0]
        kind = f"{owner.get('kind', '')}.{group}" if group else str(owner.get("kind", ""))
        controller = f"{kind.lower()}/{owner.get('name', '')}"
    return [_name(obj), controller, _int(obj.get("revision")), _age(obj, now)], None


def _simple(*cells: Callable[[Obj], Any]) -> Callable[[Obj, dt.datetime], Row]:
    def row(obj: Obj, now: dt.datetime) -> Row:
        return [_name(obj), *(cell(obj) for cell in cells), _age(obj, now)], None

    return row


def _created(obj: Obj, now: dt.datetime) -> Row:
    return [_name(obj), _created_at(obj)], None


_BINDING = "Role Age Users* Groups* ServiceAccounts*"
_NODE_WIDE = " OS-Image* Kernel-Version* Container-Runtime*"
_PRINTERS: dict[str, tuple[str, Callable[[Obj, dt.datetime], Row]]] = {
    "pods": ("Ready Status Restarts Age IP* Node* Nominated_Node* Readiness_Gates*", _pod),
    "deployments": ("Ready Up-to-date Available Age" + _WIDE, _deployment),
    "replicasets": ("Desired:i Current:i Ready:i Age" + _WIDE, _replicaset),
    "jobs": ("Status Completions Duration Age" + _WIDE, _job),
    "services": ("Type Cluster-IP External-IP Port(s) Age Selector*", _service),
    "endpoints": ("Endpoints Age", _endpoints),
    "configmaps": ("Data Age", _simple(lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}))),
    "secrets": ("Type Data Age", _simple(lambda o: o.get("type", ""), lambda o: len(o.get("data") or {}))),
    "serviceaccounts": ("Secrets Age", _simple(lambda o: len(o.get("secrets") or []))),
    "namespaces": ("Status Age", _simple(lambda o: _get(o, "status", "phase") or "")),
    "leases": ("Holder Age", _simple(lambda o: _get(o, "spec", "holderIdentity") or "")),
    "events": ("Last_Seen Type Reason Object Subobject* Source* Message First_Seen* Count* Name*", _event),
    "nodes": ("Status Roles Age Version Internal-IP* External-IP*" + _NODE_WIDE, _node),
    "ingresses": ("Class Hosts Address Ports Age", _ingress),
    "ingressclasses": ("Controller Parameters Age", _ingress_class),
    "controllerrevisions": ("Controller Revision Age", _revision),
    "rolebindings": (_BINDING, _binding),
    "clusterrolebindings": (_BINDING, _binding),
    "roles": ("Created_At:d", _created),
    "clusterroles": ("Created_At:d", _created),
    "customresourcedefinitions": ("Created_At:d", _created),
}
_DEFAULT = ("Age", _simple())

# -- custom resources -----------------------------------------------------------------------------------


def _cr_cell(kind: str, expr: str, obj: Obj, now: dt.datetime) -> Any:
    try:
        found = evaluate(expr, obj)
    except JsonPathError:
        return None
    if not found:
        return None
    value = found[0]
    if kind == "string":
        return _print_value(value)
    if value is None or isinstance(value, bool) != (kind == "boolean"):
        return None
    if kind == "integer" and isinstance(value, int | float):
        return int(value)
    if kind == "number" and isinstance(value, int | float):
        return float(value)
    if kind == "boolean":
        return value
    if kind == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        when = _time(value)
        return "<invalid>" if when is None else human_duration(now - when)
    return None


def _print_value(value: Any) -> str:
    """client-go jsonpath's text for one value: JSON for maps and lists, Go ``%v`` otherwise."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return str(value)


def _cr_printer(
    columns: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], Callable[[Obj, dt.datetime], Row]]:
    if not columns:
        columns = [
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "description": AGE_DOC}
        ]
    defs = _columns("")
    for col in columns:
        path = str(col.get("jsonPath", ""))
        doc = col.get("description") or f"Custom resource definition column (in JSONPath format): {path}"
        defs.append(
            {
                "name": str(col.get("name", "")),
                "type": str(col.get("type", "string")),
                "format": str(col.get("format") or ""),
                "description": doc,
                "priority": _int(col.get("priority")),
            }
        )

    def row(obj: Obj, now: dt.datetime) -> Row:
        cells = [
            _cr_cell(str(c.get("type", "string")), "{" + str(c.get("jsonPath", "")) + "}", obj, now)
            for c in columns
        ]
        return [_name(obj), *cells], None

    return defs, row


# -- the table ------------------------------------------------------------------------------------------


def to_table(
    resource: str,
    items: Sequence[Mapping[str, Any]],
    *,
    now: dt.datetime,
    printer_columns: Sequence[Mapping[str, Any]] | None = None,
    include_object: str = "Metadata",
    list_meta: Mapping[str, Any] | None = None,
    api_version_for_object: str | None = None,
    meta_version: str = "v1",
) -> dict[str, Any]:
    """The Table for ``items`` of ``resource`` (plural). Pass a CRD version's
    ``additionalPrinterColumns`` (possibly ``[]``) as ``printer_columns`` for custom resources.

    ``include_object`` is ``Metadata`` (rows carry a PartialObjectMetadata), ``Object`` (the
    object, with ``apiVersion`` set to ``api_version_for_object`` when given) or ``None``;
    ``meta_version`` is the ``meta.k8s.io`` version the client asked for (``v1`` or ``v1beta1``).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    if printer_columns is not None:
        columns, printer = _cr_printer(printer_columns)
    else:
        spec, printer = _PRINTERS.get(resource, _DEFAULT)
        columns = _columns(spec)
    group_version = f"meta.k8s.io/{meta_version}"
    rows = []
    for obj in items:
        cells, conditions = printer(obj, now)
        row: dict[str, Any] = {"cells": cells}
        if conditions:
            row["conditions"] = conditions
        if include_object == "Object":
            row["object"] = {**obj, "apiVersion": api_version_for_object} if api_version_for_object else obj
        elif include_object != "None":
            metadata = obj.get("metadata") or {}
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": group_version,
                "metadata": metadata,
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": group_version,
        "metadata": dict(list_meta or {}),
        "columnDefinitions": [dict(c) for c in columns],
        "rows": rows,
    }
