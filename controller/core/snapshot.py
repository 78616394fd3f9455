"""The reconcile input: what the controller observed about one Rollout, and when.

A :class:`Snapshot` holds raw JSON dicts exactly as the caches hold them. The helpers read
ReplicaSet fields with Kubernetes' defaults; none of them does I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from controller.core.hashing import POD_TEMPLATE_HASH_LABEL

#: annotation holding a ReplicaSet's revision number (a decimal string)
REVISION_ANNOTATION: Final = "rollout.argoproj.io/revision"
#: annotation recording ``spec.replicas`` of the Rollout when the ReplicaSet was last scaled
DESIRED_REPLICAS_ANNOTATION: Final = "rollout.argoproj.io/desired-replicas"

RawObject = Mapping[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """One Rollout, its owned ReplicaSets, its canary/stable Services, and the time now.

    ``replica_sets`` must be only the ReplicaSets the Rollout owns (controller ownerReference).
    ``canary_service``/``stable_service`` are the Services named by the canary strategy, or
    ``None`` when unnamed or not found. ``workload`` is the object ``spec.workloadRef`` names
    (``None`` when there is no reference or the object was not found). ``pods`` are the pods
    of the Rollout's ReplicaSets, listed only while a restart is due
    (:func:`controller.core.restart.needs_restart`) or ephemeral metadata is configured
    (:func:`controller.core.ephemeral.configured`); ``None`` when not listed.
    ``analysis_runs`` are the AnalysisRuns the Rollout controls; ``analysis_templates`` the
    AnalysisTemplates of its namespace and ``cluster_analysis_templates`` the
    ClusterAnalysisTemplates, by name.
    """

    rollout: RawObject
    replica_sets: tuple[RawObject, ...] = ()
    canary_service: RawObject | None = None
    stable_service: RawObject | None = None
    now: datetime = datetime(1970, 1, 1)
    workload: RawObject | None = None
    pods: tuple[RawObject, ...] | None = None
    #: blue-green: the Services named by ``activeService`` and ``previewService``
    active_service: RawObject | None = None
    preview_service: RawObject | None = None
    #: traffic routing: the Ingresses of the Rollout's namespace it names or owns, by name
    ingresses: Mapping[str, RawObject] = field(default_factory=dict)
    analysis_runs: tuple[RawObject, ...] = ()
    analysis_templates: Mapping[str, RawObject] = field(default_factory=dict)
    cluster_analysis_templates: Mapping[str, RawObject] = field(default_factory=dict)


def name_of(obj: RawObject | None) -> str:
    """``metadata.name`` ('' when absent)."""
    return str(((obj or {}).get("metadata") or {}).get("name") or "")


def pod_hash_of(rs: RawObject | None) -> str:
    """The ``rollouts-pod-template-hash`` label of a ReplicaSet ('' when absent)."""
    labels = ((rs or {}).get("metadata") or {}).get("labels") or {}
    return str(labels.get(POD_TEMPLATE_HASH_LABEL) or "")


def revision_of(rs: RawObject) -> int:
    """The revision annotation as an int (0 when absent or malformed)."""
    value = ((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(str(value))
    except ValueError:
        return 0


def spec_replicas(rs: RawObject) -> int:
    """``spec.replicas`` with the Kubernetes default of 1."""
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_count(rs: RawObject | None, key: str) -> int:
    """An integer from ``status`` (``replicas``, ``readyReplicas``, ``availableReplicas``)."""
    return int(((rs or {}).get("status") or {}).get(key) or 0)


def creation_key(rs: RawObject) -> tuple[str, int, str]:
    """Sort key for "oldest first": creation time, then revision, then name."""
    stamp = str((rs.get("metadata") or {}).get("creationTimestamp") or "")
    return stamp, revision_of(rs), name_of(rs)


def new_replica_set(rollout: RawObject, pod_hash: str, revision: int) -> dict[str, Any]:
    """The ReplicaSet Argo creates for a Rollout's current template, at 0 replicas.

    Named ``<rollout>-<hash>``; the hash label is added to its labels, selector and pod
    template; annotated with its revision and the Rollout's ``spec.replicas``; controlled by
    the Rollout. (The anti-affinity term and the ephemeral metadata are added by
    :meth:`controller.core.context.RolloutContext.create_new_rs`.)
    """
    meta = rollout.get("metadata") or {}
    spec = rollout.get("spec") or {}
    template = copy.deepcopy(dict(spec.get("template") or {}))
    template_meta = dict(template.get("metadata") or {})
    labels = {**(template_meta.get("labels") or {}), POD_TEMPLATE_HASH_LABEL: pod_hash}
    template_meta["labels"] = labels
    template["metadata"] = template_meta
    selector = copy.deepcopy(dict(spec.get("selector") or {}))
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH_LABEL: pod_hash}
    replicas = spec.get("replicas")
    owner = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta.get('name', '')}-{pod_hash}",
            "namespace": meta.get("namespace", "default"),
            "labels": dict(labels),
            "annotations": {
                REVISION_ANNOTATION: str(revision),
                DESIRED_REPLICAS_ANNOTATION: str(1 if replicas is None else int(replicas)),
            },
            "ownerReferences": [owner],
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": int(spec.get("minReadySeconds") or 0),
            "selector": selector,
            "template": template,
        },
    }
