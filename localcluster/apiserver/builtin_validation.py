"""The checks the real API server makes on the spec of the built-in kinds people write by hand.

Not all of Kubernetes' validation: the mistakes that otherwise surface much later as a
workload that never starts (a selector that does not match its template, a container without
an image, a Service port out of range), each reported as the real server words it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from localcluster.apiserver.selectors import SelectorError, is_dns1123_label, label_selector_from_dict
from localcluster.apiserver.validation import INVALID, NOT_SUPPORTED, REQUIRED, FieldError, GoLiteral

Obj = Mapping[str, Any]


def _containers(pod_spec: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not isinstance(pod_spec, Mapping):
        return [FieldError(path, REQUIRED)]
    containers = pod_spec.get("containers")
    if not containers:
        return [FieldError(f"{path}.containers", REQUIRED)]
    seen: set[str] = set()
    for i, container in enumerate(containers if isinstance(containers, list) else []):
        where = f"{path}.containers[{i}]"
        if not isinstance(container, Mapping):
            errs.append(FieldError(where, INVALID, "must be an object", GoLiteral("")))
            continue
        name = container.get("name")
        if not name:
            errs.append(FieldError(f"{where}.name", REQUIRED))
        else:
            for problem in is_dns1123_label(str(name)):
                errs.append(FieldError(f"{where}.name", INVALID, problem, str(name)))
            if name in seen:
                errs.append(FieldError(f"{where}.name", "FieldValueDuplicate", "", str(name)))
            seen.add(str(name))
        if not container.get("image"):
            errs.append(FieldError(f"{where}.image", REQUIRED))
        for j, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, Mapping) else None
            if not isinstance(number, int) or not 0 < number < 65536:
                errs.append(
                    FieldError(
                        f"{where}.ports[{j}].containerPort",
                        INVALID,
                        "must be between 1 and 65535, inclusive",
                        number,
                    )
                )
    return errs


def _replicas(spec: Mapping[str, Any]) -> list[FieldError]:
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        return [FieldError("spec.replicas", INVALID, "must be greater than or equal to 0", replicas)]
    return []


def _selected_template(spec: Mapping[str, Any], *, required: bool) -> list[FieldError]:
    """A workload's selector must exist, be valid and select its own pod template."""
    errs: list[FieldError] = []
    selector = spec.get("selector")
    template = spec.get("template")
    if not isinstance(template, Mapping):
        return [FieldError("spec.template", REQUIRED)]
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        if required:
            errs.append(FieldError("spec.selector", REQUIRED))
    else:
        try:
            parsed = label_selector_from_dict(selector)
        except SelectorError as e:
            errs.append(FieldError("spec.selector", INVALID, str(e), GoLiteral(str(selector))))
        else:
            if parsed.empty:
                errs.append(
                    FieldError(
                        "spec.selector", INVALID, "empty selector is invalid for deployment", GoLiteral("")
                    )
                )
            elif not parsed.matches(labels):
                rendered = (
                    "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"
                )
                errs.append(
                    FieldError(
                        "spec.template.metadata.labels",
                        INVALID,
                        "`selector` does not match template `labels`",
                        GoLiteral(rendered),
                    )
                )
    return errs + _containers(template.get("spec"), "spec.template.spec")


def _rolling_update(spec: Mapping[str, Any]) -> list[FieldError]:
    """maxSurge and maxUnavailable cannot both be zero: the rollout could never progress."""
    rolling = (spec.get("strategy") or {}).get("rollingUpdate")
    if not isinstance(rolling, Mapping):
        return []

    def zero(value: Any) -> bool:
        return value in (0, "0", "0%")

    if zero(rolling.get("maxSurge")) and zero(rolling.get("maxUnavailable")):
        value = rolling.get("maxUnavailable")
        return [
            FieldError(
                "spec.strategy.rollingUpdate.maxUnavailable",
                INVALID,
                "may not be 0 when `maxSurge` is 0",
                value,
            )
        ]
    return []


def _workload(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return [FieldError("spec", REQUIRED)]
    return _replicas(spec) + _rolling_update(spec) + _selected_template(spec, required=True)


def _job(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return [FieldError("spec", REQUIRED)]
    errs = _selected_template(spec, required=False)
    policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        errs.append(
            FieldError(
                "spec.template.spec.restartPolicy",
                NOT_SUPPORTED,
                'supported values: "OnFailure", "Never"',
                policy,
            )
        )
    return errs


def _pod(obj: Obj) -> list[FieldError]:
    return _containers(obj.get("spec"), "spec")


def _service(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs: list[FieldError] = []
    kind = spec.get("type", "ClusterIP")
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        errs.append(FieldError("spec.ports", REQUIRED))
    names: set[str] = set()
    for i, port in enumerate(ports):
        number = port.get("port") if isinstance(port, Mapping) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            errs.append(
                FieldError(f"spec.ports[{i}].port", INVALID, "must be between 1 and 65535, inclusive", number)
            )
        if len(ports) > 1 and isinstance(port, Mapping) and not port.get("name"):
            errs.append(FieldError(f"spec.ports[{i}].name", REQUIRED))
        name = str(port.get("name", "")) if isinstance(port, Mapping) else ""
        if name and name in names:
            errs.append(FieldError(f"spec.ports[{i}].name", "FieldValueDuplicate", "", name))
        names.add(name)
    return errs


_CHECKS: dict[str, Callable[[Obj], list[FieldError]]] = {
    "apps/v1/Deployment": _workload,
    "apps/v1/ReplicaSet": _workload,
    "batch/v1/Job": _job,
    "v1/Pod": _pod,
    "v1/Service": _service,
}


def validate_builtin(api_version: str, kind: str, obj: Obj) -> list[FieldError]:
    """Spec errors in a built-in object (after defaulting), as the real server reports them."""
    check = _CHECKS.get(f"{api_version}/{kind}")
    return check(obj) if check else []
