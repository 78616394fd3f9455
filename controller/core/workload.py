"""``spec.workloadRef``: a Rollout that takes its pod template from a Deployment or ReplicaSet.

Follows Argo Rollouts' template resolver (rollout/templateref.go) and the migration scale-down
(rollout/replicaset.go, sync.go):

- the Rollout's ``spec.template`` is the referenced object's ``spec.template``; its
  ``spec.selector`` too, unless the Rollout has its own;
- the object's ``metadata.generation`` is recorded in the Rollout annotation
  ``rollout.argoproj.io/workload-generation`` and, once reconciled, in
  ``status.workloadObservedGeneration`` (clients show Progressing until the two agree);
- ``scaleDown`` acts only during the one-time migration (the new ReplicaSet is revision 1):
  ``onsuccess`` scales a referenced Deployment to 0 once the Rollout is Healthy;
  ``progressively`` keeps it at ``replicas - readyReplicas`` of the Rollout while the Rollout
  comes up, then 0. Differs from Argo on purpose: the Deployment is only ever scaled *down*
  here, so a Rollout that becomes unhealthy again later never brings the old pods back
  behind the user's back (Argo's issue #4321).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from controller.api import Problem
from controller.api.problems import NOT_SUPPORTED
from controller.core.snapshot import RawObject, revision_of, spec_replicas

#: annotation on the Rollout: the referenced workload's generation last seen
WORKLOAD_GENERATION_ANNOTATION: Final = "rollout.argoproj.io/workload-generation"
#: the ``(apiVersion group, kind)`` pairs whose pod template we can read from our caches
SUPPORTED_KINDS: Final = frozenset({("apps", "Deployment"), ("apps", "ReplicaSet")})
SCALE_DOWN_ONSUCCESS: Final = "onsuccess"
SCALE_DOWN_PROGRESSIVELY: Final = "progressively"


def workload_ref(rollout: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``spec.workloadRef`` (None when absent)."""
    ref = (rollout.get("spec") or {}).get("workloadRef")
    return ref if isinstance(ref, Mapping) else None


def group_kind(ref: Mapping[str, Any]) -> tuple[str, str]:
    """``("apps", "Deployment")`` for ``apiVersion: apps/v1, kind: Deployment``."""
    api_version = str(ref.get("apiVersion") or "")
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    return group, str(ref.get("kind") or "")


def resolve(rollout: Mapping[str, Any], workload: RawObject | None) -> tuple[dict[str, Any], Problem | None]:
    """The Rollout with ``spec.template``/``spec.selector`` taken from ``workload``.

    Returns the Rollout unchanged and a :class:`Problem` when the kind is not supported or
    the object was not found.
    """
    ref = workload_ref(rollout)
    result = dict(rollout)
    if ref is None:
        return result, None
    group, kind = group_kind(ref)
    if (group, kind) not in SUPPORTED_KINDS:
        message = (
            f"workload of type {group}/{kind} is not supported (supported: apps/Deployment, apps/ReplicaSet)"
        )
        return result, Problem("spec.workloadRef", message, kind=NOT_SUPPORTED, value=kind)
    if workload is None:
        name = str(ref.get("name") or "")
        message = f'{kind} "{name}" not found in the Rollout\'s namespace'
        return result, Problem("spec.workloadRef.name", message, value=name)
    spec = dict(rollout.get("spec") or {})
    workload_spec = workload.get("spec") or {}
    spec["template"] = copy.deepcopy(dict(workload_spec.get("template") or {}))
    if not spec.get("selector") and workload_spec.get("selector"):
        spec["selector"] = copy.deepcopy(dict(workload_spec["selector"]))
    result["spec"] = spec
    return result, None


def generation(workload: RawObject | None) -> str:
    """The workload's ``metadata.generation`` as Argo writes it (a decimal string)."""
    return str(int(((workload or {}).get("metadata") or {}).get("generation") or 0))


def annotation_patch(rollout: Mapping[str, Any], workload: RawObject | None) -> dict[str, str | None] | None:
    """The Rollout annotation change that records the workload generation (None: no change)."""
    annotations = (rollout.get("metadata") or {}).get("annotations") or {}
    current = annotations.get(WORKLOAD_GENERATION_ANNOTATION)
    if workload_ref(rollout) is None:
        return {WORKLOAD_GENERATION_ANNOTATION: None} if current is not None else None
    if workload is None:
        return None
    wanted = generation(workload)
    return None if current == wanted else {WORKLOAD_GENERATION_ANNOTATION: wanted}


def scale_down_target(
    rollout: Mapping[str, Any],
    workload: RawObject | None,
    new_rs: RawObject | None,
    *,
    phase: str,
    ready_replicas: int,
) -> int | None:
    """The replica count to set on the referenced Deployment now (None: leave it alone)."""
    ref = workload_ref(rollout)
    if ref is None or workload is None or group_kind(ref) != ("apps", "Deployment"):
        return None
    mode = str(ref.get("scaleDown") or "").lower()
    if mode not in (SCALE_DOWN_ONSUCCESS, SCALE_DOWN_PROGRESSIVELY):
        return None
    if new_rs is None or revision_of(new_rs) != 1:
        return None  # only the one-time migration to the first ReplicaSet
    current = spec_replicas(workload)
    if phase == "Healthy":
        target = 0
    elif mode == SCALE_DOWN_PROGRESSIVELY:
        spec = rollout.get("spec") or {}
        replicas = 1 if spec.get("replicas") is None else int(spec["replicas"])
        target = max(replicas - ready_replicas, 0)
    else:
        return None
    return target if target < current else None


__all__ = [
    "SUPPORTED_KINDS",
    "WORKLOAD_GENERATION_ANNOTATION",
    "annotation_patch",
    "generation",
    "group_kind",
    "resolve",
    "scale_down_target",
    "workload_ref",
]
