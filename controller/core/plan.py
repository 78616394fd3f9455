"""The reconcile output: what should change, as data. The runtime applies it.

:func:`status_merge_patch` builds the JSON merge patch for ``/status`` the way Argo's
``CreateTwoWayMergePatch`` over typed structs does: both sides are compared after Go's
``omitempty`` rules (a ``false``/``0``/``""``/empty list field is the same as an absent one),
so a user's ``abort: false`` left in the object never causes a patch of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: event types, as Kubernetes spells them
NORMAL: Final = "Normal"
WARNING: Final = "Warning"

#: status fields Go never omits (struct values, not pointers)
_ALWAYS_PRESENT: Final = frozenset({"canary", "blueGreen"})
#: pointer fields: only ``null`` is empty (``currentStepIndex: 0`` is written)
_POINTERS: Final = frozenset({"currentStepIndex", "collisionCount", "abortedAt", "restartedAt"})

Event = tuple[str, str, str]


@dataclass(frozen=True)
class Plan:
    """Everything one reconcile of a Rollout wants done, in the order to apply it.

    Apply: merge-patch the Rollout's annotations with ``rollout_annotations`` (``None``
    values remove); delete ``delete_replica_sets``; create ``create_replica_sets``;
    merge-patch ReplicaSets per ``update_replica_sets`` (revision annotation, minReadySeconds,
    anti-affinity, ephemeral metadata); set ``spec.replicas`` per ``scale``; merge-patch pods per
    ``patch_pods`` (ephemeral labels and annotations); set each Service's
    ``rollouts-pod-template-hash`` selector per ``service_selectors``; delete (evict)
    ``delete_pods``; set the referenced workload's ``spec.replicas`` to ``workload_scale``;
    merge-patch ``/status`` with ``status_patch``; create ``create_ingresses`` and merge-patch
    ``patch_ingresses`` (canary Ingresses); create ``create_analysis_runs``, set
    ``spec.terminate`` on ``terminate_analysis_runs``, delete ``delete_analysis_runs``; record
    ``events`` (type, reason, message) on the Rollout; requeue after ``requeue_after`` seconds.
    """

    create_replica_sets: tuple[dict[str, Any], ...] = ()
    scale: tuple[tuple[str, int], ...] = ()
    delete_replica_sets: tuple[str, ...] = ()
    service_selectors: tuple[tuple[str, dict[str, str]], ...] = ()
    status_patch: dict[str, Any] | None = None
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None
    update_replica_sets: tuple[tuple[str, dict[str, Any]], ...] = ()
    delete_pods: tuple[str, ...] = ()
    workload_scale: int | None = None
    rollout_annotations: dict[str, str | None] | None = None
    create_ingresses: tuple[dict[str, Any], ...] = ()
    patch_ingresses: tuple[tuple[str, dict[str, Any]], ...] = ()
    create_analysis_runs: tuple[dict[str, Any], ...] = ()
    terminate_analysis_runs: tuple[str, ...] = ()
    delete_analysis_runs: tuple[str, ...] = ()
    patch_pods: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def changes_nothing(self) -> bool:
        """No object would be written (events and requeue aside)."""
        return not (
            self.create_replica_sets
            or self.scale
            or self.delete_replica_sets
            or self.service_selectors
            or self.status_patch
            or self.update_replica_sets
            or self.delete_pods
            or self.patch_pods
            or self.workload_scale is not None
            or self.rollout_annotations
            or self.create_analysis_runs
            or self.create_ingresses
            or self.patch_ingresses
            or self.terminate_analysis_runs
            or self.delete_analysis_runs
        )


def _empty(value: Any) -> bool:
    return value is None or value is False or value == 0 or value == "" or value == [] or value == {}


def omit_empty(status: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` as Go would serialise it: empty top-level fields dropped (except structs)."""
    return {
        k: v
        for k, v in status.items()
        if k in _ALWAYS_PRESENT or (v is not None if k in _POINTERS else not _empty(v))
    }


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7386 merge patch turning ``old`` into ``new`` (nested objects diffed, lists whole)."""
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if key in old and before == value:
            continue
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            patch[key] = merge_patch(before, value)  # {} -> {} was skipped above: never empty here
        else:
            patch[key] = value
    return patch


def status_merge_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``/status`` merge patch from ``old`` to ``new``; ``None`` when nothing changes."""
    diff = merge_patch(omit_empty(old or {}), omit_empty(new))
    return {"status": diff} if diff else None


def apply_merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch to a copy of ``target`` (used by tests and simulations)."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            current = result.get(key)
            result[key] = apply_merge_patch(current if isinstance(current, Mapping) else {}, value)
        else:
            result[key] = value
    return result
