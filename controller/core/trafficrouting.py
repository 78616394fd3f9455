"""Traffic routing for a canary through ingress-nginx (pure).

Follows Argo Rollouts' ``reconcileTrafficRouting`` (rollout/trafficrouting.go) and its nginx
router (rollout/trafficrouting/nginx):

- the desired canary weight: 0 when fully promoted, aborted, or the new ReplicaSet has no
  available pod yet; the weight already applied during a full promotion; at a step, the last
  ``setWeight`` so far once the canary pods for it are up (the previous ``setWeight`` until
  then); 100 after the last step;
- for each stable Ingress (``stableIngress`` or ``stableIngresses``), a canary Ingress named
  ``<rollout>-<stable ingress>-canary``, owned by the Rollout: the stable Ingress's rules that
  send to ``stableService``, pointed at ``canaryService``; its TLS and ingress class; the
  ``additionalIngressAnnotations`` (prefixed); ``canary: "true"``, ``canary-weight`` and, with
  ``maxTrafficWeight``, ``canary-weight-total``; ``canaryIngressAnnotations`` as given;
- ``status.canary.weights``: ``{canary, stable}`` each ``{weight, podTemplateHash,
  serviceName}``, and a ``TrafficWeightUpdated`` event when they change.

Differs from Argo on purpose: a ``setHeaderRoute`` step (which Argo's nginx router ignores) is
written as ingress-nginx's ``canary-by-header``/``canary-by-header-value`` (exact) or
``canary-by-header-pattern`` (regex, prefix) on the canary Ingress while the step is current or
later, and removed by a ``setHeaderRoute`` without ``match``; only one header can be expressed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from controller.api import Problem
from controller.core.plan import NORMAL, WARNING, Event
from controller.core.snapshot import RawObject, name_of

DEFAULT_ANNOTATION_PREFIX: Final = "nginx.ingress.kubernetes.io"
CANARY_INGRESS_SUFFIX: Final = "-canary"
INGRESS_CLASS_ANNOTATION: Final = "kubernetes.io/ingress.class"
TRAFFIC_WEIGHT_UPDATED_REASON: Final = "TrafficWeightUpdated"
TRAFFIC_ROUTING_ERROR_REASON: Final = "TrafficRoutingError"


def nginx_config(rollout: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``canary.trafficRouting.nginx`` (None when absent)."""
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    nginx = (canary.get("trafficRouting") or {}).get("nginx")
    return nginx if isinstance(nginx, Mapping) else None


def stable_ingress_names(rollout: Mapping[str, Any]) -> list[str]:
    """The stable Ingresses of the nginx router (``stableIngresses``, else ``stableIngress``)."""
    nginx = nginx_config(rollout) or {}
    many = [str(x) for x in nginx.get("stableIngresses") or () if x]
    return many or ([str(nginx["stableIngress"])] if nginx.get("stableIngress") else [])


def canary_ingress_name(rollout_name: str, stable_ingress: str) -> str:
    """Argo's ``GetCanaryIngressName``: ``<rollout>-<stable>-canary``, cut to 253 characters."""
    prefix = f"{rollout_name}-{stable_ingress}"[: 253 - len(CANARY_INGRESS_SUFFIX)]
    return f"{prefix}{CANARY_INGRESS_SUFFIX}"


def _canary(rollout: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}


def _backend_service(path: Mapping[str, Any]) -> str:
    return str(((path.get("backend") or {}).get("service") or {}).get("name") or "")


def referenced_ingress_problems(
    rollout: Mapping[str, Any], ingresses: Mapping[str, RawObject]
) -> list[Problem]:
    """Argo's ``ValidateIngress``: each stable Ingress exists and sends to ``stableService``."""
    problems = []
    stable_service = str(_canary(rollout).get("stableService") or "")
    nginx = nginx_config(rollout) or {}
    field_name = "stableIngresses" if nginx.get("stableIngresses") else "stableIngress"
    for i, name in enumerate(stable_ingress_names(rollout)):
        where = "spec.strategy.canary.trafficRouting.nginx." + (
            f"stableIngresses[{i}]" if field_name == "stableIngresses" else "stableIngress"
        )
        ingress = ingresses.get(name)
        if ingress is None:
            problems.append(Problem(where, f'ingress.networking.k8s.io "{name}" not found', value=name))
            continue
        rules = (ingress.get("spec") or {}).get("rules") or ()
        if not any(
            _backend_service(p) == stable_service
            for rule in rules
            for p in ((rule.get("http") or {}).get("paths") or ())
        ):
            message = f"ingress `{name}` has no rules using service {stable_service} backend"
            problems.append(Problem(where, message, value=name))
    return problems


def _prefixed(key: str, prefix: str) -> str:
    return key if key.startswith(prefix) else f"{prefix}/{key}"


def header_route_annotations(
    steps: Sequence[Mapping[str, Any]], index: int | None, prefix: str
) -> dict[str, str]:
    """ingress-nginx header annotations for the last ``setHeaderRoute`` at or before ``index``."""
    if index is None:
        return {}
    route: Mapping[str, Any] | None = None
    for step in steps[: index + 1]:
        if isinstance(step.get("setHeaderRoute"), Mapping):
            route = step["setHeaderRoute"]
    matches = [m for m in (route or {}).get("match") or () if isinstance(m, Mapping)]
    if not matches:
        return {}
    match = matches[0]
    header = str(match.get("headerName") or "")
    value = match.get("headerValue") or {}
    if not header or not isinstance(value, Mapping):
        return {}
    result = {f"{prefix}/canary-by-header": header}
    if value.get("exact") is not None:
        result[f"{prefix}/canary-by-header-value"] = str(value["exact"])
    elif value.get("regex") is not None:
        result[f"{prefix}/canary-by-header-pattern"] = str(value["regex"])
    elif value.get("prefix") is not None:
        result[f"{prefix}/canary-by-header-pattern"] = f"^{re.escape(str(value['prefix']))}.*"
    return result


def build_canary_ingress(
    rollout: Mapping[str, Any], stable: RawObject, weight: int, *, header_annotations: Mapping[str, str]
) -> dict[str, Any]:
    """Argo's ``buildCanaryIngress`` for one stable Ingress (see the module docstring)."""
    meta = rollout.get("metadata") or {}
    canary = _canary(rollout)
    nginx = nginx_config(rollout) or {}
    prefix = str(nginx.get("annotationPrefix") or DEFAULT_ANNOTATION_PREFIX)
    stable_service = str(canary.get("stableService") or "")
    canary_service = str(canary.get("canaryService") or "")
    stable_spec = stable.get("spec") or {}
    stable_meta = stable.get("metadata") or {}
    annotations: dict[str, str] = {}
    if INGRESS_CLASS_ANNOTATION in (stable_meta.get("annotations") or {}):
        annotations[INGRESS_CLASS_ANNOTATION] = str(stable_meta["annotations"][INGRESS_CLASS_ANNOTATION])
    rules = []
    for rule in stable_spec.get("rules") or ():
        copied = copy.deepcopy(dict(rule))
        uses_stable = False
        for path in (copied.get("http") or {}).get("paths") or ():
            service = (path.get("backend") or {}).get("service")
            if isinstance(service, dict) and service.get("name") == stable_service:
                service["name"] = canary_service
                uses_stable = True
        if uses_stable:
            rules.append(copied)
    for key, value in (nginx.get("additionalIngressAnnotations") or {}).items():
        annotations[_prefixed(str(key), prefix)] = str(value)
    annotations.update(header_annotations)
    annotations[f"{prefix}/canary"] = "true"
    annotations[f"{prefix}/canary-weight"] = str(weight)
    total = (canary.get("trafficRouting") or {}).get("maxTrafficWeight")
    if total is not None:
        annotations[f"{prefix}/canary-weight-total"] = str(int(total))
    for key, value in (nginx.get("canaryIngressAnnotations") or {}).items():
        annotations[str(key)] = str(value)
    spec: dict[str, Any] = {"rules": rules}
    if stable_spec.get("tls") is not None:
        spec["tls"] = copy.deepcopy(stable_spec["tls"])
    if stable_spec.get("ingressClassName") is not None:
        spec["ingressClassName"] = stable_spec["ingressClassName"]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": canary_ingress_name(str(meta.get("name") or ""), name_of(stable)),
            "namespace": str(meta.get("namespace") or "default"),
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Rollout",
                    "name": str(meta.get("name") or ""),
                    "uid": str(meta.get("uid") or ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def ingress_patch(live: RawObject, desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch bringing ``live``'s annotations and spec to ``desired`` (None: equal).

    Annotations are replaced as a set (keys no longer wanted are removed), rules and TLS whole.
    """
    patch: dict[str, Any] = {}
    have = dict((live.get("metadata") or {}).get("annotations") or {})
    want = dict((desired.get("metadata") or {}).get("annotations") or {})
    if have != want:
        change: dict[str, Any] = {k: v for k, v in want.items() if have.get(k) != v}
        change.update({k: None for k in have if k not in want})
        patch["metadata"] = {"annotations": change}
    live_spec = live.get("spec") or {}
    spec_change = {k: v for k, v in (desired.get("spec") or {}).items() if live_spec.get(k) != v}
    if spec_change:
        patch["spec"] = spec_change
    return patch or None


@dataclass
class RoutingOutcome:
    """What one reconcile does to the canary Ingresses and ``status.canary.weights``."""

    create: list[dict[str, Any]] = field(default_factory=list)
    patch: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    weights: dict[str, Any] | None = None
    events: list[Event] = field(default_factory=list)


def reconcile_nginx(
    rollout: Mapping[str, Any],
    ingresses: Mapping[str, RawObject],
    *,
    weight: int,
    canary_hash: str,
    stable_hash: str,
    header_annotations: Mapping[str, str],
) -> RoutingOutcome:
    """Create or patch each canary Ingress for ``weight``; the weights to record."""
    out = RoutingOutcome()
    meta = rollout.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    for stable_name in stable_ingress_names(rollout):
        stable = ingresses.get(stable_name)
        if stable is None:
            continue  # reported as InvalidSpec before the reconcile gets here
        desired = build_canary_ingress(rollout, stable, weight, header_annotations=header_annotations)
        name = desired["metadata"]["name"]
        live = ingresses.get(name)
        if live is None:
            out.create.append(desired)
            out.events.append(
                (NORMAL, "CreatingCanaryIngress", f"Creating canary ingress `{name}` with weight `{weight}`")
            )
            continue
        owner = next(
            (r for r in (live.get("metadata") or {}).get("ownerReferences") or () if r.get("controller")),
            None,
        )
        if owner is None or owner.get("uid") != uid:
            message = f"canary ingress `{name}` controlled by different object"
            out.events.append((WARNING, TRAFFIC_ROUTING_ERROR_REASON, message))
            continue
        patch = ingress_patch(live, desired)
        if patch is not None:
            out.patch.append((name, patch))
            out.events.append(
                (NORMAL, "PatchingCanaryIngress", f"Updating Ingress `{name}` to desiredWeight '{weight}'")
            )
    canary = _canary(rollout)
    total = int((canary.get("trafficRouting") or {}).get("maxTrafficWeight") or 100)
    out.weights = {
        "canary": {
            "weight": weight,
            "podTemplateHash": canary_hash,
            "serviceName": str(canary.get("canaryService") or ""),
        },
        "stable": {
            "weight": total - weight,
            "podTemplateHash": stable_hash,
            "serviceName": str(canary.get("stableService") or ""),
        },
    }
    return out


def weight_event(previous: Mapping[str, Any] | None, weights: Mapping[str, Any]) -> Event | None:
    """Argo's ``TrafficWeightUpdated`` event when the weights changed (None: unchanged)."""
    if previous is not None and _comparable(previous) == _comparable(weights):
        return None
    new = int((weights.get("canary") or {}).get("weight") or 0)
    if previous is None:
        detail = f"to {new}"
    else:
        old = int((previous.get("canary") or {}).get("weight") or 0)
        detail = f"from {old} to {new}" if old != new else ""
    return NORMAL, TRAFFIC_WEIGHT_UPDATED_REASON, f"Traffic weight updated {detail}".rstrip()


def _comparable(weights: Mapping[str, Any]) -> tuple[Any, ...]:
    def side(key: str) -> tuple[Any, ...]:
        value = weights.get(key) or {}
        return (
            int(value.get("weight") or 0),
            value.get("podTemplateHash") or "",
            value.get("serviceName") or "",
        )

    return side("canary"), side("stable")


__all__ = [
    "RoutingOutcome",
    "build_canary_ingress",
    "canary_ingress_name",
    "header_route_annotations",
    "ingress_patch",
    "nginx_config",
    "reconcile_nginx",
    "referenced_ingress_problems",
    "stable_ingress_names",
    "weight_event",
]
