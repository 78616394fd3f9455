"""The Deployment controller: rolls a Deployment's pod template out through ReplicaSets.

As kube-controller-manager's:

- the ReplicaSet for the current template is ``<deployment>-<pod-template-hash>``; the hash
  label is added to its selector, template and so its pods. A name taken by another object
  bumps ``status.collisionCount`` (and so the hash).
- revisions: a new ReplicaSet gets ``max(old revisions) + 1`` in
  ``deployment.kubernetes.io/revision``; an old ReplicaSet whose template comes back (``kubectl
  rollout undo``) gets the new number and keeps its old ones in
  ``deployment.kubernetes.io/revision-history``. The Deployment carries its new ReplicaSet's
  revision; ReplicaSets carry ``desired-replicas`` and ``max-replicas``.
- ``RollingUpdate`` moves step by step within ``maxSurge``/``maxUnavailable``; ``Recreate``
  scales the old ReplicaSets to zero, waits until their pods are gone, then scales the new one
  up. ``spec.replicas`` changes scale the active ReplicaSets proportionally. Paused
  Deployments only scale. Old ReplicaSets beyond ``revisionHistoryLimit`` are deleted once
  scaled to zero.
- status and conditions: :mod:`localcluster.controllers.deployment_status`; ``ScalingReplicaSet``
  Events from ``deployment-controller``.

Where this departs from upstream, it is more careful: the surge budget counts a ReplicaSet's
pods that are still there (``max(spec.replicas, pods)``) and availability counts at most
``spec.replicas`` per ReplicaSet, so pod counts stay within ``replicas + maxSurge`` and
availability above ``replicas - maxUnavailable`` even before the ReplicaSet controller has
caught up with a scale-down.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.controllers import deployment_status as ds
from localcluster.controllers.base import Controller, key_of, split_key
from localcluster.controllers.events import EventRecorder
from localcluster.controllers.pod_order import is_pod_active
from localcluster.controllers.replicaset import (
    MANAGER,
    POD_KEY,
    RS_KEY,
    claim,
    claim_candidates,
    controller_ref,
    selector_of,
)
from localcluster.controllers.rollout_math import (
    REVISION,
    RSState,
    ScaleRS,
    annotations_of,
    creation_key,
    desired_replicas,
    equal_ignore_hash,
    is_saturated,
    is_scaling_event,
    max_replicas_annotation,
    max_surge,
    max_unavailable,
    new_replica_set,
    new_rs_replicas_rolling,
    plan_proportional,
    plan_rolling_step,
    pod_template_hash,
    replica_annotations,
    replicas_of,
    revision_of,
    set_new_rs_annotations,
)
from localcluster.store import Event, Obj

log = logging.getLogger("localcluster.controllers.deployment")

DEPLOY_KEY = "apps/deployments"
Deployment = dict[str, Any]


class RetryError(Exception):
    """Stop this reconcile and run it again after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


def _strategy(d: Obj) -> str:
    return str(((d.get("spec") or {}).get("strategy") or {}).get("type") or "RollingUpdate")


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _namespace(obj: Obj) -> str:
    return str(obj["metadata"].get("namespace", ""))


class DeploymentController(Controller):
    name = "deployment-controller"
    watches = (DEPLOY_KEY, RS_KEY, POD_KEY)

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, "deployment-controller")

    # -- which Deployments a change concerns ---------------------------------------------

    def keys_for(self, event: Event) -> Iterable[str]:
        if event.resource == DEPLOY_KEY:
            return super().keys_for(event)
        if event.resource == POD_KEY:
            return self._recreate_owner_of_pod(event.obj)
        keys: set[str] = set()
        for rs in (event.obj, event.prev):
            if rs is None:
                continue
            ref = controller_ref(rs)
            if ref is not None:
                if ref.get("kind") == "Deployment":
                    keys.add(key_of(event.namespace, str(ref.get("name"))))
            elif event.type != "DELETED":  # an orphan: the Deployments that may adopt it
                labels = rs["metadata"].get("labels") or {}
                for d in self.store.list(DEPLOY_KEY, event.namespace):
                    if selector_of(d).matches(labels):
                        keys.add(key_of(event.namespace, _name(d)))
        return keys

    def _recreate_owner_of_pod(self, pod: Obj) -> list[str]:
        """A Recreate Deployment waits for its old pods to go: their changes wake it."""
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return []
        rs = self.store.get(RS_KEY, _namespace(pod), str(ref.get("name")))
        owner = controller_ref(rs) if rs is not None else None
        if owner is None or owner.get("kind") != "Deployment":
            return []
        d = self.store.get(DEPLOY_KEY, _namespace(pod), str(owner.get("name")))
        return [key_of(_namespace(pod), _name(d))] if d is not None and _strategy(d) == "Recreate" else []

    # -- reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        stored = self.store.get(DEPLOY_KEY, namespace, name)
        if stored is None:
            return None
        d: Deployment = copy.deepcopy(stored)
        now = time.time()
        try:
            rs_list = claim(
                self.objects, self.rt("apps", "v1", "replicasets"), d, claim_candidates(self.store, RS_KEY, d)
            )
            new_rs, olds, d = self._replica_sets(d, rs_list, create=False, now=now)
            if d["metadata"].get("deletionTimestamp"):
                self._sync_status(d, new_rs, olds, now)
                return None
            d = self._check_paused_conditions(d, now)
            if (d.get("spec") or {}).get("paused") or is_scaling_event(
                d, [*olds, *([new_rs] if new_rs else [])]
            ):
                self._sync(d, new_rs, olds, now)
                return None
            if _strategy(d) == "Recreate":
                return self._rollout_recreate(d, rs_list, new_rs, olds, now)
            if new_rs is None:
                new_rs, olds, d = self._replica_sets(d, rs_list, create=True, now=now)
            assert new_rs is not None
            return self._rollout_rolling(d, new_rs, olds, now)
        except RetryError as again:
            return again.delay
        except ValueError as e:  # e.g. a maxSurge that is neither an int nor a percentage
            log.warning("deployment %s: %s", key, e)
            return None

    # -- ReplicaSets ----------------------------------------------------------------------

    def _update_rs(self, rs: Obj) -> Obj:
        rt = self.rt("apps", "v1", "replicasets")
        opts = WriteOptions(manager=MANAGER, field_validation="Ignore")
        return self.objects.update(rt, _namespace(rs), _name(rs), rs, opts).obj

    def _fresh(self, rs: Obj) -> Obj:
        return self.store.get(RS_KEY, _namespace(rs), _name(rs)) or rs

    def _replica_sets(
        self, d: Deployment, rs_list: list[Obj], *, create: bool, now: float
    ) -> tuple[Obj | None, list[Obj], Deployment]:
        """(the new ReplicaSet or None, the old ones, the Deployment as updated).

        The new ReplicaSet is the oldest whose template is the Deployment's; its revision is
        brought above the old ones'. With ``create``, a missing one is created.
        """
        template = (d.get("spec") or {}).get("template")
        new_rs = next(
            (
                rs
                for rs in sorted(rs_list, key=creation_key)
                if equal_ignore_hash(rs["spec"].get("template"), template)
            ),
            None,
        )
        olds = [rs for rs in rs_list if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        revision = max((revision_of(rs) for rs in olds), default=0) + 1
        if new_rs is not None:
            new_rs, d = self._sync_new_rs(d, new_rs, revision, now)
        elif create:
            new_rs, d = self._create_new_rs(d, olds, revision, now)
        return new_rs, [self._fresh(rs) for rs in olds], d

    def _sync_new_rs(self, d: Deployment, rs: Obj, revision: int, now: float) -> tuple[Obj, Deployment]:
        updated = copy.deepcopy(dict(rs))
        changed = set_new_rs_annotations(d, updated, revision, exists=True)
        min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
        if int(updated["spec"].get("minReadySeconds") or 0) != min_ready:
            updated["spec"]["minReadySeconds"] = min_ready
            changed = True
        if changed:
            rs = self._update_rs(updated)
        d = self._set_revision(d, annotations_of(rs).get(REVISION, ""))
        if ds.has_progress_deadline(d) and ds.get_condition(d.get("status"), ds.PROGRESSING) is None:
            message = f'Found new replica set "{_name(rs)}"'
            d = self._set_condition(
                d, ds.new_condition(ds.PROGRESSING, "True", ds.FOUND_NEW_RS, message, now)
            )
        return rs, d

    def _create_new_rs(
        self, d: Deployment, olds: list[Obj], revision: int, now: float
    ) -> tuple[Obj, Deployment]:
        spec, namespace = d.get("spec") or {}, _namespace(d)
        collisions = (d.get("status") or {}).get("collisionCount")
        desired = desired_replicas(d)
        if _strategy(d) == "Recreate":
            replicas = desired
        else:
            counts = self._pod_counts(olds)
            others = [
                RSState(_name(rs), replicas_of(rs), counts.get(rs["metadata"]["uid"], 0)) for rs in olds
            ]
            replicas = new_rs_replicas_rolling(desired, max_surge(d), RSState("", 0), others)
        rs = new_replica_set(d, pod_template_hash(spec.get("template") or {}, collisions), replicas)
        set_new_rs_annotations(d, rs, revision, exists=False)
        rt = self.rt("apps", "v1", "replicasets")
        existed = False
        try:
            created = self.objects.create(
                rt, namespace, rs, WriteOptions(manager=MANAGER, field_validation="Ignore")
            ).obj
        except ApiError as e:
            existing = self.store.get(RS_KEY, namespace, _name(rs)) if e.code == 409 else None
            if existing is None:
                self._creation_failed(d, _name(rs), e, now)
                raise
            ours = (controller_ref(existing) or {}).get("uid") == d["metadata"]["uid"]
            if not (ours and equal_ignore_hash(spec.get("template"), existing["spec"].get("template"))):
                # A hash collision: another template (or object) has the name; change the hash.
                status = copy.deepcopy(d.get("status") or {})
                status["collisionCount"] = int(collisions or 0) + 1
                self._write_status(d, status)
                raise RetryError(0.01) from e
            created, existed = existing, True
        if not existed and replicas > 0:
            message = f"Scaled up replica set {_name(created)} to {replicas}"
            self.events.record(d, "Normal", "ScalingReplicaSet", message)
        d = self._set_revision(d, str(revision))
        if not existed and ds.has_progress_deadline(d):
            message = f'Created new replica set "{_name(created)}"'
            d = self._set_condition(
                d, ds.new_condition(ds.PROGRESSING, "True", ds.NEW_RS_CREATED, message, now)
            )
        return created, d

    def _creation_failed(self, d: Deployment, name: str, e: ApiError, now: float) -> None:
        if e.code == 403 and "being terminated" in e.message:
            raise RetryError(5.0) from e
        message = f'Failed to create new replica set "{name}": {e.message}'
        if ds.has_progress_deadline(d):
            self._set_condition(
                d, ds.new_condition(ds.PROGRESSING, "False", ds.FAILED_RS_CREATE, message, now)
            )
        self.events.record(d, "Warning", ds.FAILED_RS_CREATE, message)

    def _pod_counts(self, replica_sets: Iterable[Obj]) -> dict[str, int]:
        """Active pods per controlling ReplicaSet uid, for these ReplicaSets."""
        return {
            str(rs["metadata"]["uid"]): len(self._controlled_pods(rs, is_pod_active)) for rs in replica_sets
        }

    def _controlled_pods(self, rs: Obj, keep: Callable[[Obj], bool]) -> list[Obj]:
        """The pods ``rs`` controls (owner-uid index) for which ``keep`` holds."""
        uid, namespace = rs["metadata"]["uid"], _namespace(rs)
        return [
            pod
            for resource, pod in self.store.dependents(str(uid))
            if resource == POD_KEY
            and _namespace(pod) == namespace
            and (controller_ref(pod) or {}).get("uid") == uid
            and keep(pod)
        ]

    # -- writes to the Deployment -------------------------------------------------------

    def _set_revision(self, d: Deployment, revision: str) -> Deployment:
        """The Deployment's revision annotation (a metadata write: no new generation)."""
        current = self.store.get(DEPLOY_KEY, _namespace(d), _name(d))
        if not revision or current is None or annotations_of(current).get(REVISION) == revision:
            return d
        new = copy.deepcopy(current)
        new["metadata"]["annotations"] = {**annotations_of(current), REVISION: revision}
        opts = WriteOptions(manager=MANAGER, field_validation="Ignore")
        return copy.deepcopy(
            self.objects.update(self.rt("apps", "v1", "deployments"), _namespace(d), _name(d), new, opts).obj
        )

    def _write_status(self, d: Deployment, status: dict[str, Any]) -> Deployment:
        current = self.store.get(DEPLOY_KEY, _namespace(d), _name(d))
        if current is None or status == (current.get("status") or {}):
            return d
        rt = self.rt("apps", "v1", "deployments")
        opts = WriteOptions(manager=MANAGER, subresource="status", field_validation="Ignore")
        return copy.deepcopy(
            self.objects.update(rt, _namespace(d), _name(d), dict(current, status=status), opts).obj
        )

    def _set_condition(self, d: Deployment, cond: dict[str, Any]) -> Deployment:
        status = copy.deepcopy(d.get("status") or {})
        ds.set_condition(status, cond)
        return self._write_status(d, status)

    # -- scaling --------------------------------------------------------------------------

    def _scale_rs(self, d: Obj, rs: Obj, size: int, operation: str | None = None) -> bool:
        """Set a ReplicaSet's size and replica annotations; True when the size changed."""
        old, wanted, annotations = replicas_of(rs), replica_annotations(d), annotations_of(rs)
        if old == size and all(annotations.get(k) == v for k, v in wanted.items()):
            return False
        new = copy.deepcopy(dict(rs))
        new["spec"]["replicas"] = size
        new["metadata"]["annotations"] = {**annotations, **wanted}
        self._update_rs(new)
        if old == size:
            return False
        operation = operation or ("up" if size > old else "down")
        self.events.record(
            d,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {operation} replica set {_name(rs)} to {size} from {old}",
        )
        return True

    def _scale_and_record(self, d: Obj, rs: Obj, size: int) -> bool:
        return replicas_of(rs) != size and self._scale_rs(d, rs, size)

    def _scale(self, d: Obj, new_rs: Obj | None, olds: list[Obj]) -> None:
        """Follow a ``spec.replicas`` change (upstream ``scale``)."""
        desired = desired_replicas(d)
        everything = [*olds, *([new_rs] if new_rs else [])]
        active = [rs for rs in everything if replicas_of(rs) > 0]
        if len(active) <= 1 and everything:
            # One active ReplicaSet (or none: then the newest) takes all the replicas.
            target = active[0] if active else (new_rs or max(olds, key=creation_key))
            self._scale_and_record(d, target, desired)
        elif is_saturated(d, new_rs):
            for rs in olds:
                self._scale_and_record(d, rs, 0)
        elif _strategy(d) == "RollingUpdate":
            surge = max_surge(d)
            views = [
                ScaleRS(_name(rs), replicas_of(rs), creation_key(rs), max_replicas_annotation(rs))
                for rs in active
            ]
            sizes = plan_proportional(
                desired, surge, views, int((d.get("status") or {}).get("replicas") or 0)
            )
            operation = (
                "up" if (desired + surge if desired > 0 else 0) > sum(v.replicas for v in views) else "down"
            )
            for rs in active:
                self._scale_rs(d, rs, sizes[_name(rs)], operation)

    # -- the three ways a sync goes -----------------------------------------------------

    def _sync(self, d: Deployment, new_rs: Obj | None, olds: list[Obj], now: float) -> None:
        """Scaling events and paused Deployments: scale, prune when paused, write status."""
        self._scale(d, new_rs, olds)
        if (d.get("spec") or {}).get("paused"):
            self._cleanup(d, [self._fresh(rs) for rs in olds])
        self._sync_status(d, new_rs, olds, now)

    def _rollout_rolling(self, d: Deployment, new_rs: Obj, olds: list[Obj], now: float) -> float | None:
        counts = self._pod_counts([new_rs, *olds])

        def state(rs: Obj) -> RSState:
            available = int((rs.get("status") or {}).get("availableReplicas") or 0)
            return RSState(
                _name(rs), replicas_of(rs), counts.get(rs["metadata"]["uid"], 0), available, creation_key(rs)
            )

        plan = plan_rolling_step(
            desired_replicas(d), max_surge(d), max_unavailable(d), state(new_rs), [state(rs) for rs in olds]
        )
        by_name = {_name(rs): rs for rs in [new_rs, *olds]}
        scaled = False
        for name, size in plan.items():
            scaled = self._scale_and_record(d, by_name[name], size) or scaled
        if not scaled and ds.deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, olds)
        return self._sync_rollout_status(d, new_rs, olds, now)

    def _rollout_recreate(
        self, d: Deployment, rs_list: list[Obj], new_rs: Obj | None, olds: list[Obj], now: float
    ) -> float | None:
        scaled = False
        for rs in olds:
            scaled = self._scale_and_record(d, rs, 0) or scaled
        if scaled or self._old_pods_running(d, olds):
            return self._sync_rollout_status(d, new_rs, olds, now)
        if new_rs is None:
            new_rs, olds, d = self._replica_sets(d, rs_list, create=True, now=now)
        if new_rs is not None:
            self._scale_and_record(d, new_rs, desired_replicas(d))
        if ds.deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, olds)
        return self._sync_rollout_status(d, new_rs, olds, now)

    def _old_pods_running(self, d: Obj, olds: list[Obj]) -> bool:
        """Old ReplicaSets still report pods, or pods of theirs exist that have not finished."""
        if any(int((rs.get("status") or {}).get("replicas") or 0) > 0 for rs in olds):
            return True
        selector = selector_of(d)

        def running(pod: Obj) -> bool:
            return selector.matches(pod["metadata"].get("labels") or {}) and (pod.get("status") or {}).get(
                "phase"
            ) not in ("Succeeded", "Failed")

        return any(self._controlled_pods(rs, running) for rs in olds if _namespace(rs) == _namespace(d))

    def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        """Delete the oldest zero-size ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        if not isinstance(limit, int):
            return
        alive = [rs for rs in olds if not rs["metadata"].get("deletionTimestamp")]
        rt = self.rt("apps", "v1", "replicasets")
        for rs in sorted(alive, key=lambda r: (revision_of(r), creation_key(r)))[
            : max(0, len(alive) - limit)
        ]:
            status = rs.get("status") or {}
            observed = int(status.get("observedGeneration") or 0)
            if (
                int(status.get("replicas") or 0)
                or replicas_of(rs)
                or int(rs["metadata"].get("generation") or 0) > observed
            ):
                continue
            try:
                self.objects.delete(rt, _namespace(rs), _name(rs))
            except ApiError as e:
                if e.code != 404:
                    raise

    # -- status ---------------------------------------------------------------------------

    def _check_paused_conditions(self, d: Deployment, now: float) -> Deployment:
        """Progressing becomes Unknown/DeploymentPaused when paused, DeploymentResumed after."""
        cond = ds.get_condition(d.get("status"), ds.PROGRESSING)
        if not ds.has_progress_deadline(d) or (cond is not None and cond.get("reason") == ds.TIMED_OUT):
            return d
        paused = bool((d.get("spec") or {}).get("paused"))
        was_paused = cond is not None and cond.get("reason") == ds.PAUSED
        if paused and not was_paused:
            return self._set_condition(
                d, ds.new_condition(ds.PROGRESSING, "Unknown", ds.PAUSED, "Deployment is paused", now)
            )
        if was_paused and not paused:
            return self._set_condition(
                d, ds.new_condition(ds.PROGRESSING, "Unknown", ds.RESUMED, "Deployment is resumed", now)
            )
        return d

    def _current(self, new_rs: Obj | None, olds: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        fresh_new = self._fresh(new_rs) if new_rs is not None else None
        return fresh_new, [self._fresh(rs) for rs in olds] + ([fresh_new] if fresh_new is not None else [])

    def _sync_status(self, d: Deployment, new_rs: Obj | None, olds: list[Obj], now: float) -> None:
        fresh_new, everything = self._current(new_rs, olds)
        self._write_status(d, ds.calculate_status(d, everything, fresh_new, now))

    def _sync_rollout_status(
        self, d: Deployment, new_rs: Obj | None, olds: list[Obj], now: float
    ) -> float | None:
        """Write the rollout's status; when nothing changed, when to check the deadline."""
        fresh_new, everything = self._current(new_rs, olds)
        status = ds.rollout_status(d, everything, fresh_new, now)
        if status == (d.get("status") or {}):
            return ds.progress_check_after(d, status, now)
        self._write_status(d, status)
        return None
