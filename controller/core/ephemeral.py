"""Ephemeral metadata: labels and annotations a ReplicaSet's pods carry only while they play a role.

Argo Rollouts' ``canaryMetadata``/``stableMetadata`` (canary) and ``previewMetadata``/
``activeMetadata`` (blue-green), as rollout/ephemeralmetadata.go and utils/replicaset apply them:

- a ReplicaSet created while a stable one exists gets the *new* role's metadata (canary,
  preview) merged into ``spec.template.metadata``; the first ReplicaSet gets the *stable* role's
  (it will become stable); so every pod it starts carries them;
- each reconcile the new ReplicaSet holds the new role's metadata and the stable one the stable
  role's -- once the Rollout is fully promoted (``status.stableRS`` is the new ReplicaSet's hash,
  or empty) the new ReplicaSet holds the stable role's -- and every other ReplicaSet none; the
  existing pods of the new and the stable ReplicaSet are patched in place to match (no restart);
- what was injected is recorded on the ReplicaSet in the annotation
  ``rollout.argoproj.io/ephemeral-metadata`` (JSON ``{labels, annotations}``), so that a role
  change removes exactly the keys the old role added and leaves the template's own alone.

None of it enters the pod-template hash: that is computed from the Rollout's template.
Pods are patched so that every key either role could have injected has the value the
ReplicaSet's template now has (absent there: removed from the pod) -- Argo's rule, also covering
a pod left behind when an earlier reconcile updated the ReplicaSet but not all of its pods.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final

from controller.core.snapshot import RawObject

#: the ReplicaSet annotation recording the metadata injected into its pod template
EPHEMERAL_METADATA_ANNOTATION: Final = "rollout.argoproj.io/ephemeral-metadata"
_KINDS: Final = ("labels", "annotations")

#: ``{"labels": {...}, "annotations": {...}}`` as the Rollout spells a role's metadata
PodMetadata = Mapping[str, Mapping[str, str]]


def _read(raw: Any) -> dict[str, dict[str, str]] | None:
    if not isinstance(raw, Mapping):
        return None
    result: dict[str, dict[str, str]] = {}
    for kind in _KINDS:
        values = raw.get(kind)
        result[kind] = (
            {str(k): str(v) for k, v in values.items() if v is not None}
            if isinstance(values, Mapping)
            else {}
        )
    return result


def role_metadata(rollout: Mapping[str, Any]) -> tuple[PodMetadata | None, PodMetadata | None]:
    """``(new role, stable role)`` metadata of the Rollout's strategy: canary's ``canaryMetadata``
    and ``stableMetadata``, blue-green's ``previewMetadata`` and ``activeMetadata`` (None: unset)."""
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    canary, blue_green = strategy.get("canary"), strategy.get("blueGreen")
    if isinstance(canary, Mapping):
        return _read(canary.get("canaryMetadata")), _read(canary.get("stableMetadata"))
    if isinstance(blue_green, Mapping):
        return _read(blue_green.get("previewMetadata")), _read(blue_green.get("activeMetadata"))
    return None, None


def configured(rollout: Mapping[str, Any]) -> bool:
    """Argo's ``hasEphemeralMetadataConfigured``: either role's metadata is set."""
    new_role, stable_role = role_metadata(rollout)
    return new_role is not None or stable_role is not None


def recorded(rs: RawObject) -> dict[str, dict[str, str]] | None:
    """The metadata the ReplicaSet's annotation says was injected (None: none, or unreadable)."""
    raw = ((rs.get("metadata") or {}).get("annotations") or {}).get(EPHEMERAL_METADATA_ANNOTATION)
    if raw is None:
        return None
    try:
        return _read(json.loads(str(raw)))
    except ValueError:
        return None


def _encode(metadata: PodMetadata) -> str:
    """The annotation value: compact JSON with sorted keys and empty maps left out (Go's omitempty)."""
    body = {kind: dict(metadata.get(kind) or {}) for kind in _KINDS if metadata.get(kind)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def sync_metadata(
    meta: Mapping[str, Any], existing: PodMetadata | None, desired: PodMetadata | None
) -> tuple[dict[str, dict[str, str | None]], bool]:
    """Argo's ``SyncEphemeralPodMetadata`` as a merge patch of ``meta``'s labels and annotations:
    the ``desired`` keys set, the keys of ``existing`` (what was injected before) that are no
    longer desired removed; and whether Argo counts that as a change (it does for a key to
    remove that is already gone, when the map itself exists)."""
    patch: dict[str, dict[str, str | None]] = {}
    modified = False
    for kind in _KINDS:
        have = meta.get(kind)
        have_map: Mapping[str, Any] = have if isinstance(have, Mapping) else {}
        want = (desired or {}).get(kind) or {}
        changes: dict[str, str | None] = {k: v for k, v in want.items() if have_map.get(k) != v}
        for key in (existing or {}).get(kind) or {}:
            if key not in want and have is not None:
                modified = True
                if key in have_map:
                    changes[key] = None
        if changes:
            patch[kind] = changes
    return patch, modified or bool(patch)


def _apply(meta: dict[str, Any], patch: Mapping[str, Mapping[str, str | None]]) -> None:
    """Apply ``patch`` to ``meta`` (an emptied map goes, as the API server omits it)."""
    for kind, changes in patch.items():
        values = dict(meta.get(kind) or {})
        for key, value in changes.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        if values:
            meta[kind] = values
        else:
            meta.pop(kind, None)


def sync_replica_set(rs: dict[str, Any], desired: PodMetadata | None) -> dict[str, Any] | None:
    """Argo's ``SyncReplicaSetEphemeralPodMetadata``: bring ``rs``'s pod template to ``desired``
    (None: no ephemeral metadata at all). Changes ``rs`` in place and returns the merge patch for
    it (template metadata and the record annotation), or None when it already matches."""
    template = rs.setdefault("spec", {}).setdefault("template", {})
    template_meta = template.setdefault("metadata", {})
    changes, modified = sync_metadata(template_meta, recorded(rs), desired)
    if not modified:
        return None
    _apply(template_meta, changes)
    record = None if desired is None else _encode(desired)
    annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    if record is None:
        annotations.pop(EPHEMERAL_METADATA_ANNOTATION, None)
    else:
        annotations[EPHEMERAL_METADATA_ANNOTATION] = record
    patch: dict[str, Any] = {"metadata": {"annotations": {EPHEMERAL_METADATA_ANNOTATION: record}}}
    if changes:
        patch["spec"] = {"template": {"metadata": changes}}
    return patch


def strip_injected(rs: RawObject) -> dict[str, Any]:
    """``rs``'s pod template without the metadata its annotation says was injected (to compare it
    with the Rollout's template, as Argo's ``FindNewReplicaSet`` does)."""
    template = copy.deepcopy(dict((rs.get("spec") or {}).get("template") or {}))
    changes, _ = sync_metadata(template.get("metadata") or {}, recorded(rs), None)
    if changes:
        meta = dict(template.get("metadata") or {})
        _apply(meta, changes)
        template["metadata"] = meta
    return template


def pod_patch(
    pod: RawObject, template_meta: Mapping[str, Any], injectable: Mapping[str, frozenset[str]]
) -> dict[str, Any] | None:
    """The merge patch giving ``pod`` the ReplicaSet template's value of every ``injectable`` key
    (removed when the template has none); None when the pod already matches."""
    meta = pod.get("metadata") or {}
    changes: dict[str, dict[str, str | None]] = {}
    for kind in _KINDS:
        have = meta.get(kind) or {}
        want = template_meta.get(kind) or {}
        diff: dict[str, str | None] = {}
        for key in sorted(injectable.get(kind) or ()):
            if key in want and have.get(key) != want[key]:
                diff[key] = str(want[key])
            elif key not in want and key in have:
                diff[key] = None
        if diff:
            changes[kind] = diff
    return {"metadata": changes} if changes else None


def injectable_keys(*sources: PodMetadata | None) -> dict[str, frozenset[str]]:
    """The label and annotation keys any of ``sources`` holds."""
    return {
        kind: frozenset(key for source in sources if source for key in (source.get(kind) or {}))
        for kind in _KINDS
    }


__all__ = [
    "EPHEMERAL_METADATA_ANNOTATION",
    "configured",
    "injectable_keys",
    "pod_patch",
    "recorded",
    "role_metadata",
    "strip_injected",
    "sync_metadata",
    "sync_replica_set",
]
