"""Filters of the rollouts_migrate role: what to do for each Deployment, worked out from what the cluster holds.

The Rollout itself comes from ``controller.api.convert`` (the converter behind ``rollouts
convert``), so the role and the CLI produce the same Rollout. These functions only read the
objects given to them; the role's tasks do the writing and the waiting.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # imported outside Ansible (the unit tests)

    class AnsibleFilterError(Exception):  # type: ignore[no-redef]
        """A filter failed (Ansible's own class when Ansible runs us)."""


Obj = dict[str, Any]

MODES = ("template", "workload-ref")
SCALE_DOWN = {"template": ("onsuccess", "never"), "workload-ref": ("progressively", "onsuccess", "never")}
STATES = ("present", "absent")


def _converter() -> Any:
    try:
        from controller.api import convert
    except ImportError as e:
        raise AnsibleFilterError(
            "rollouts_migrate needs the rollouts package (controller.api.convert) in the Python that runs "
            f"ansible-playbook; use .venv/bin/ansible-playbook (or `invoke migrate`): {e}"
        ) from e
    return convert


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _replicas(obj: Mapping[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def check_settings(state: str, mode: str, scale_down: str) -> None:
    """Raise AnsibleFilterError naming the bad setting."""
    if state not in STATES:
        raise AnsibleFilterError(f"rollouts_migrate_state must be present or absent, not {state!r}")
    if mode not in MODES:
        raise AnsibleFilterError(f"rollouts_migrate_mode must be template or workload-ref, not {mode!r}")
    if scale_down not in SCALE_DOWN[mode]:
        raise AnsibleFilterError(
            f"rollouts_migrate_scale_down {scale_down!r} does not go with mode {mode}: "
            f"choose {', '.join(SCALE_DOWN[mode])}"
            + (
                " (only the controller scales progressively, with mode workload-ref)"
                if mode == "template"
                else ""
            )
        )


def select(
    deployments: Iterable[Mapping[str, Any]], names: Sequence[str], selector: str
) -> tuple[list[Obj], list[str]]:
    """The Deployments to act on and the named ones that were not found.

    ``deployments`` is what the API returned (already filtered by ``selector`` when one is set);
    ``names`` narrows it; with neither names nor a selector nothing is selected.
    """
    found = [dict(d) for d in deployments]
    if names:
        by_name = {_name(d): d for d in found}
        return [by_name[n] for n in names if n in by_name], [n for n in names if n not in by_name]
    return (found if selector else []), []


def plan_present(
    deployments: Iterable[Mapping[str, Any]],
    rollouts: Iterable[Mapping[str, Any]],
    *,
    names: Sequence[str] = (),
    selector: str = "",
    mode: str = "template",
    scale_down: str = "onsuccess",
    steps: Sequence[Any] | None = None,
) -> Obj:
    """What migrating the selected Deployments takes.

    Returns ``{"missing": [names], "items": [...]}``; each item has the Rollout ``definition`` to
    apply (the whole Rollout when it is new; only its steps when it exists, so that a Rollout
    that has moved on — a new image — is not put back), whether it is ``new``, the
    Deployment's ``replicas`` now and the ``deployment_target`` it must end at (None: left
    alone), whether the ``role_scales`` the Deployment (template mode) or the controller does
    (workloadRef), and whether it is ``done`` (nothing to wait for).
    """
    check_settings("present", mode, scale_down)
    convert = _converter()
    selected, missing = select(deployments, names, selector)
    existing = {_name(r): r for r in rollouts}
    items: list[Obj] = []
    for deployment in selected:
        name = _name(deployment)
        namespace = str((deployment.get("metadata") or {}).get("namespace") or "")
        rollout = existing.get(name)
        workload_ref = mode == "workload-ref"
        try:
            converted = convert.convert_deployment(
                deployment,
                workload_ref=workload_ref,
                scale_down=scale_down if workload_ref else None,
                steps=None if steps is None else list(steps),
            )
        except convert.ConvertError as e:
            raise AnsibleFilterError(str(e)) from e
        if rollout is None:
            definition = converted
        else:
            definition = {
                "apiVersion": converted["apiVersion"],
                "kind": "Rollout",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"strategy": {"canary": {"steps": converted["spec"]["strategy"]["canary"]["steps"]}}},
            }
        current = _replicas(deployment)
        target = None if scale_down == "never" else 0
        items.append(
            {
                "name": name,
                "namespace": namespace,
                "new": rollout is None,
                "definition": definition,
                "replicas": current,
                "deployment_target": target,
                "role_scales": not workload_ref and target is not None and current != target,
                "controller_scales": workload_ref and target is not None and current != target,
                "done": rollout is not None and (target is None or current == target),
            }
        )
    return {"missing": missing, "items": items}


def plan_absent(
    deployments: Iterable[Mapping[str, Any]],
    rollouts: Iterable[Mapping[str, Any]],
    *,
    names: Sequence[str] = (),
    selector: str = "",
    restore_template: bool = True,
) -> Obj:
    """What undoing the migration of the selected Deployments takes.

    Only a Deployment with a Rollout of the same name has something to undo. Each item has the
    Rollout's ``replicas`` (what the Deployment gets back), ``release_scale_down`` (a
    workloadRef Rollout whose controller would scale the Deployment down again must be told
    ``scaleDown: never`` first) and the ``deployment_patch`` to apply: its replicas and, for a
    Rollout that holds its own template and ``restore_template``, that template, so the
    version the Rollout runs now is the one the Deployment runs afterwards.
    """
    selected, missing = select(deployments, names, selector)
    existing = {_name(r): r for r in rollouts}
    items: list[Obj] = []
    for deployment in selected:
        name = _name(deployment)
        rollout = existing.get(name)
        if rollout is None:
            continue
        namespace = str((deployment.get("metadata") or {}).get("namespace") or "")
        spec = rollout.get("spec") or {}
        ref = spec.get("workloadRef") or {}
        replicas = _replicas(rollout)
        patch_spec: Obj = {"replicas": replicas}
        template = spec.get("template")
        if (
            restore_template
            and not ref
            and template
            and template != (deployment.get("spec") or {}).get("template")
        ):
            patch_spec["template"] = copy.deepcopy(template)
        items.append(
            {
                "name": name,
                "namespace": namespace,
                "replicas": replicas,
                "release_scale_down": bool(ref) and str(ref.get("scaleDown") or "never") != "never",
                "deployment_patch": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": patch_spec,
                },
            }
        )
    return {"missing": missing, "items": items}


def healthy(rollout: Mapping[str, Any]) -> bool:
    """Healthy, with the latest spec observed and every desired pod available."""
    status = rollout.get("status") or {}
    generation = str((rollout.get("metadata") or {}).get("generation") or "")
    return (
        status.get("phase") == "Healthy"
        and str(status.get("observedGeneration") or "") == generation
        and int(status.get("availableReplicas") or 0) >= _replicas(rollout)
    )


def not_healthy(rollouts: Iterable[Mapping[str, Any]], names: Sequence[str]) -> list[str]:
    """``"name: phase (message)"`` for each of ``names`` that is not Healthy yet (or not there)."""
    by_name = {_name(r): r for r in rollouts}
    waiting = []
    for name in names:
        rollout = by_name.get(name)
        if rollout is None:
            waiting.append(f"{name}: not found")
        elif not healthy(rollout):
            status = rollout.get("status") or {}
            detail = status.get("message") or f"{int(status.get('availableReplicas') or 0)} available"
            waiting.append(f"{name}: {status.get('phase') or 'no status yet'} ({detail})")
    return waiting


def not_observed(rollouts: Iterable[Mapping[str, Any]], names: Sequence[str]) -> list[str]:
    """Those of ``names`` whose latest spec the controller has not reconciled yet."""
    by_name = {_name(r): r for r in rollouts}
    return [
        name
        for name in names
        if name in by_name
        and str((by_name[name].get("status") or {}).get("observedGeneration") or "")
        != str((by_name[name].get("metadata") or {}).get("generation") or "")
    ]


def not_scaled(deployments: Iterable[Mapping[str, Any]], targets: Mapping[str, int]) -> list[str]:
    """``"name: N replicas"`` for each Deployment in ``targets`` not yet at its replica count, pods included."""
    by_name = {_name(d): d for d in deployments}
    waiting = []
    for name, target in targets.items():
        deployment = by_name.get(name)
        if deployment is None:
            continue
        pods = int((deployment.get("status") or {}).get("replicas") or 0)
        if _replicas(deployment) != int(target) or pods != int(target):
            waiting.append(f"{name}: {pods} pods, {int(target)} wanted")
    return waiting


class FilterModule:
    """The role's filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "rollouts_migrate_check": check_settings,
            "rollouts_migrate_plan_present": plan_present,
            "rollouts_migrate_plan_absent": plan_absent,
            "rollouts_migrate_not_healthy": not_healthy,
            "rollouts_migrate_not_observed": not_observed,
            "rollouts_migrate_not_scaled": not_scaled,
        }
