"""The ReplicaSet controller: keeps ``spec.replicas`` pods running for every ReplicaSet.

As kube-controller-manager's:

- pods are created from the template (``generateName: <rs>-``, the template's labels and
  annotations, an ownerReference with ``controller`` and ``blockOwnerDeletion``), in
  slow-start batches (1, 2, 4, ...) that stop at the first failure, at most 500 per pass;
- scaling down deletes unassigned, pending and not-ready pods before ready ones, newer before
  older, more-restarted first (:func:`~localcluster.controllers.pod_order.pods_to_delete`);
- pods that are finished or being deleted do not count; orphan pods the selector matches are
  adopted, owned pods it no longer matches are released;
- ``status``: ``replicas``, ``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas``
  (ready for longer than ``minReadySeconds``; a requeue rechecks when one will be),
  ``observedGeneration``, and a ``ReplicaFailure`` condition while pods cannot be created or
  deleted. Written only when it changes.
- ``SuccessfulCreate``/``SuccessfulDelete``/``FailedCreate`` Events on the ReplicaSet.

:class:`~localcluster.controllers.events.EventRecorder` writes ``v1`` Events the way
client-go's recorder does, folding repeats into ``count``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.registry import ResourceType
from localcluster.apiserver.selectors import LabelSelector, SelectorError, label_selector_from_dict
from localcluster.controllers.base import Controller, key_of, split_key
from localcluster.controllers.events import EventRecorder
from localcluster.controllers.pod_order import (
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    pods_to_delete,
    seconds_until_available,
)
from localcluster.controllers.rollout_math import format_time
from localcluster.store import Event, Obj, Store

log = logging.getLogger("localcluster.controllers.replicaset")

MANAGER = "kube-controller-manager"
BURST_REPLICAS = 500
#: Seconds before a ReplicaSet whose pods could not be created or deleted is tried again.
ERROR_RETRY = 5.0
RS_KEY = "apps/replicasets"
POD_KEY = "/pods"


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """A controller reference to ``owner`` (``controller`` and ``blockOwnerDeletion`` true)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def selector_of(obj: Mapping[str, Any]) -> LabelSelector:
    """The object's ``spec.selector``; an invalid one selects nothing."""
    try:
        return label_selector_from_dict((obj.get("spec") or {}).get("selector"))
    except SelectorError:
        return LabelSelector(nothing=True)


def _set_owner(
    objects: Objects, rt: ResourceType, obj: Obj, ref: dict[str, Any] | None, uid: str
) -> Obj | None:
    """Adopt (``ref``) or release (``None``) ``obj``; returns the stored object."""
    new = copy.deepcopy(obj)
    refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
    if ref is not None:
        refs.append(ref)
    if refs:
        new["metadata"]["ownerReferences"] = refs
    else:
        new["metadata"].pop("ownerReferences", None)
    meta = obj["metadata"]
    try:
        return objects.update(
            rt,
            str(meta.get("namespace", "")),
            str(meta["name"]),
            new,
            WriteOptions(manager=MANAGER, field_validation="Ignore"),
        ).obj
    except ApiError as e:
        log.warning("could not change the owner of %s %s: %s", rt.kind, meta["name"], e.message)
        return None


def claim_candidates(store: Store, resource: str, owner: Obj) -> list[Obj]:
    """The objects of ``resource`` :func:`claim` can keep or take for ``owner``: those in its
    namespace that reference it, and those its selector matches (from the store's indexes),
    ordered by name. Every other object of the namespace is one ``claim`` leaves alone."""
    meta = owner["metadata"]
    namespace = str(meta.get("namespace", ""))
    found = {
        str(obj["metadata"]["name"]): obj for obj in store.select(resource, namespace, selector_of(owner))
    }
    for dep_resource, obj in store.dependents(str(meta["uid"])):
        if dep_resource == resource and obj["metadata"].get("namespace", "") == namespace:
            found[str(obj["metadata"]["name"])] = obj
    return [found[name] for name in sorted(found)]


def claim(objects: Objects, rt: ResourceType, owner: Obj, candidates: Iterable[Obj]) -> list[Obj]:
    """The candidates ``owner`` controls, as upstream's ``ControllerRefManager`` claims them.

    Orphans its selector matches are adopted (unless either side is being deleted); objects
    it controls that the selector no longer matches are released.
    """
    meta = owner["metadata"]
    uid = meta["uid"]
    selector = selector_of(owner)
    deleting = bool(meta.get("deletionTimestamp"))
    owned: list[Obj] = []
    for obj in candidates:
        ref = controller_ref(obj)
        matches = selector.matches(obj["metadata"].get("labels") or {})
        if ref is not None and ref.get("uid") == uid:
            if matches or deleting:
                owned.append(obj)
            else:
                _set_owner(objects, rt, obj, None, uid)
        elif ref is None and matches and not deleting and not obj["metadata"].get("deletionTimestamp"):
            adopted = _set_owner(objects, rt, obj, owner_reference(owner), uid)
            if adopted is not None:
                owned.append(adopted)
    return owned


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    watches = (RS_KEY, POD_KEY)

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, "replicaset-controller")

    # -- which ReplicaSets a change concerns ---------------------------------------------

    def keys_for(self, event: Event) -> Iterable[str]:
        if event.resource == RS_KEY:
            return super().keys_for(event)
        keys: set[str] = set()
        namespace = event.namespace
        for pod in (event.obj, event.prev):
            if pod is None:
                continue
            ref = controller_ref(pod)
            if ref is not None:
                if ref.get("kind") == "ReplicaSet":
                    keys.add(key_of(namespace, str(ref.get("name"))))
            elif event.type != "DELETED":
                # An orphan: the ReplicaSets that may adopt it.
                labels = pod["metadata"].get("labels") or {}
                for rs in self.store.list(RS_KEY, namespace):
                    if selector_of(rs).matches(labels):
                        keys.add(key_of(namespace, str(rs["metadata"]["name"])))
        return keys

    # -- reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        rs = self.store.get(RS_KEY, namespace, name)
        if rs is None:
            return None
        now = time.time()
        pods = self._claim_pods(rs)
        error: str | None = None
        if not rs["metadata"].get("deletionTimestamp"):
            error = self._manage_replicas(rs, pods, now)
            rs = self.store.get(RS_KEY, namespace, name) or rs
            pods = self._claim_pods(rs)
        self._write_status(rs, pods, error, now)
        recheck = self._recheck_after(rs, pods, now)
        if error is not None:  # try again (upstream requeues with back-off)
            return min(recheck or ERROR_RETRY, ERROR_RETRY)
        return recheck

    def _claim_pods(self, rs: Obj) -> list[Obj]:
        """Active pods this ReplicaSet controls (adopting orphans, releasing mismatches)."""
        pods = claim_candidates(self.store, POD_KEY, rs)
        return [p for p in claim(self.objects, self.rt("", "v1", "pods"), rs, pods) if is_pod_active(p)]

    def _manage_replicas(self, rs: Obj, pods: list[Obj], now: float) -> str | None:
        """Create or delete pods toward ``spec.replicas``; returns the first error, if any."""
        wanted = int((rs.get("spec") or {}).get("replicas") or 0)
        diff = len(pods) - wanted
        if diff < 0:
            return self._create_pods(rs, min(-diff, BURST_REPLICAS))
        if diff > 0:
            return self._delete_pods(rs, pods, min(diff, BURST_REPLICAS), now)
        return None

    def _pod_from_template(self, rs: Obj) -> dict[str, Any]:
        template = (rs.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        meta: dict[str, Any] = {
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": rs["metadata"].get("namespace"),
            "labels": dict(tmeta.get("labels") or {}),
            "ownerReferences": [owner_reference(rs)],
        }
        for key in ("annotations", "finalizers"):
            if tmeta.get(key):
                meta[key] = copy.deepcopy(tmeta[key])
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {}),
        }

    def _create_pods(self, rs: Obj, count: int) -> str | None:
        pod_rt = self.rt("", "v1", "pods")
        namespace = str(rs["metadata"].get("namespace", ""))
        created, batch = 0, 1
        while created < count:
            for _ in range(min(batch, count - created)):
                try:
                    pod = self.objects.create(
                        pod_rt,
                        namespace,
                        self._pod_from_template(rs),
                        WriteOptions(manager=MANAGER, field_validation="Ignore"),
                    ).obj
                except ApiError as e:
                    terminating = e.code == 403 and "being terminated" in e.message
                    if not terminating:
                        self.events.record(rs, "Warning", "FailedCreate", f"Error creating: {e.message}")
                    return e.message
                created += 1
                self.events.record(
                    rs, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}"
                )
            batch *= 2
        return None

    def _delete_pods(self, rs: Obj, pods: list[Obj], count: int, now: float) -> str | None:
        pod_rt = self.rt("", "v1", "pods")
        related = self._related_pods(rs, pods)
        for pod in pods_to_delete(pods, count, related, now):
            meta = pod["metadata"]
            try:
                self.objects.delete(pod_rt, str(meta.get("namespace", "")), str(meta["name"]))
            except ApiError as e:
                if e.code == 404:
                    continue
                self.events.record(rs, "Warning", "FailedDelete", f"Error deleting: {e.message}")
                return e.message
            self.events.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")
        return None

    def _related_pods(self, rs: Obj, own: list[Obj]) -> list[Obj]:
        """Active pods of this ReplicaSet and of its siblings (ReplicaSets with the same owner)."""
        ref = controller_ref(rs)
        if ref is None:
            return own
        namespace = str(rs["metadata"].get("namespace", ""))
        siblings = {
            str(other["metadata"]["uid"])
            for resource, other in self.store.dependents(str(ref.get("uid")))
            if resource == RS_KEY
            and other["metadata"].get("namespace", "") == namespace
            and (controller_ref(other) or {}).get("uid") == ref.get("uid")
        }
        pods: dict[str, Obj] = {}
        for uid in siblings:
            for resource, pod in self.store.dependents(uid):
                if (
                    resource == POD_KEY
                    and pod["metadata"].get("namespace", "") == namespace
                    and (controller_ref(pod) or {}).get("uid") in siblings
                    and is_pod_active(pod)
                ):
                    pods[str(pod["metadata"]["name"])] = pod
        return [pods[name] for name in sorted(pods)]

    # -- status ---------------------------------------------------------------------------

    def _write_status(self, rs: Obj, pods: list[Obj], error: str | None, now: float) -> None:
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        labelled = sum(
            1
            for p in pods
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items())
        )
        ready = sum(1 for p in pods if is_pod_ready(p))
        available = sum(1 for p in pods if is_pod_available(p, min_ready, now))
        old = rs.get("status") or {}
        status: dict[str, Any] = {"replicas": len(pods)}
        for key, value in (
            ("fullyLabeledReplicas", labelled),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("observedGeneration", int(rs["metadata"].get("generation") or 0)),
        ):
            if value:
                status[key] = value
        conditions = [c for c in old.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        failure = next((c for c in old.get("conditions") or [] if c.get("type") == "ReplicaFailure"), None)
        if error is not None:
            if failure is None:
                reason = "FailedCreate" if len(pods) < int(spec.get("replicas") or 0) else "FailedDelete"
                failure = {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": format_time(now),
                    "reason": reason,
                    "message": error,
                }
            conditions.append(failure)
        if conditions:
            status["conditions"] = conditions
        if status == old:
            return
        rt = self.rt("apps", "v1", "replicasets")
        meta = rs["metadata"]
        try:
            self.objects.update(
                rt,
                str(meta.get("namespace", "")),
                str(meta["name"]),
                dict(rs, status=status),
                WriteOptions(manager=MANAGER, subresource="status", field_validation="Ignore"),
            )
        except ApiError as e:
            if e.code != 404:
                raise

    def _recheck_after(self, rs: Obj, pods: list[Obj], now: float) -> float | None:
        """When a ready pod will have been ready for ``minReadySeconds`` (it becomes available)."""
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        waits = [w for p in pods if (w := seconds_until_available(p, min_ready, now)) is not None]
        return min(waits) + 0.05 if waits else None
