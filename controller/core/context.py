"""One reconcile's working state and the steps both strategies share (Argo's ``rolloutContext``).

:class:`RolloutContext` reads the snapshot once -- the Rollout as a typed view, its ReplicaSets
classified as new (the current template's), stable (``status.stableRS``) and others -- and
collects what the reconcile decides to write. The steps Argo Rollouts runs alike for canary
and blue-green live here (rollout/sync.go, replicaset.go, restart.go, ephemeralmetadata.go):

- :meth:`~RolloutContext.sync_revision`: a reused ReplicaSet becomes the newest revision and gets
  the current ``minReadySeconds`` and anti-affinity (:mod:`.antiaffinity`);
- :meth:`~RolloutContext.create_new_rs`: the new ReplicaSet, with the injected anti-affinity term
  and the ephemeral metadata of its role (:mod:`.ephemeral`);
- :meth:`~RolloutContext.reconcile_ephemeral_metadata`: role metadata on ReplicaSets and pods;
- :meth:`~RolloutContext.reconcile_restart` (``spec.restartAt``), the revision-history cleanup,
  the ScalingReplicaSet bookkeeping, the AnalysisRun outcome, the Rollout's revision annotation
  (with the ``RolloutUpdated`` event), the pause events, and the plan itself.

:mod:`.canary` and :mod:`.bluegreen` subclass it with their strategy's steps.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from controller.api import Rollout
from controller.api.problems import SpecError
from controller.core import antiaffinity, ephemeral, restart, revisions, workload
from controller.core import conditions as c
from controller.core.analysis_runs import RunsOutcome
from controller.core.canary_status import PauseContext, stuck_requeue
from controller.core.hashing import pod_template_hash
from controller.core.plan import NORMAL, WARNING, Event, Plan, merge_patch
from controller.core.snapshot import (
    REVISION_ANNOTATION,
    RawObject,
    Snapshot,
    name_of,
    new_replica_set,
    pod_hash_of,
    revision_of,
    spec_replicas,
    status_count,
)

#: Warning event reason when an AnalysisRun cannot be built from its templates
ANALYSIS_ERROR_REASON = "AnalysisRunError"


def aware(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (a naive one is taken to be UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def merged(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Two merge patches as one (``new`` wins)."""
    result = dict(old)
    for key, value in new.items():
        before = result.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            result[key] = merged(before, value)
        else:
            result[key] = value
    return result


def _owned_by(pod: RawObject, uid: str) -> bool:
    refs = (pod.get("metadata") or {}).get("ownerReferences") or ()
    return bool(uid) and any(str(ref.get("uid") or "") == uid for ref in refs)


class RolloutContext:
    """What one reconcile of a Rollout knows and decides; discarded afterwards."""

    #: record a NewReplicaSet event also for a new ReplicaSet created at 0 pods (blue-green
    #: announces every new ReplicaSet; canary only one created with pods)
    ANNOUNCE_EMPTY_NEW_RS: ClassVar[bool] = False

    def __init__(self, snapshot: Snapshot) -> None:
        self.snap, self.now = snapshot, snapshot.now
        raw = snapshot.rollout
        try:
            self.view = Rollout.from_dict(raw)
        except SpecError as e:  # pragma: no cover - validate_rollout already rejected these
            raise ValueError(str(e)) from e
        self.spec: Mapping[str, Any] = raw.get("spec") or {}
        self.replicas = self.view.spec.replicas
        self.old_status: Mapping[str, Any] = raw.get("status") or {}
        # Argo's c.rollout.Status: conditions written earlier in this reconcile land here
        self.status: dict[str, Any] = copy.deepcopy(dict(self.old_status))
        #: the ReplicaSets as observed, and this reconcile's copies (changed as it decides)
        self.observed: dict[str, RawObject] = {name_of(rs): rs for rs in snapshot.replica_sets}
        self.rss: dict[str, dict[str, Any]] = {
            name: copy.deepcopy(dict(rs)) for name, rs in self.observed.items()
        }
        self.pause = PauseContext(self.old_status)
        self.creates: list[dict[str, Any]] = []
        self.scales: dict[str, int] = {}
        self.deletes: list[str] = []
        #: one merge patch per ReplicaSet, in the order first touched
        self.updates: dict[str, dict[str, Any]] = {}
        self.selectors: list[tuple[str, dict[str, str]]] = []
        self.events: list[Event] = []
        self.requeue: float | None = None
        self.analysis: RunsOutcome = RunsOutcome()
        #: the message a Failed/Error AnalysisRun adds to the RolloutAborted condition
        self.abort_message = ""
        self.pod_deletions: list[str] = []
        self.pod_patches: list[tuple[str, dict[str, Any]]] = []
        #: every pod is younger than spec.restartAt: record it in status.restartedAt
        self.restarted = False
        template = self.spec.get("template") or {}
        self.target_hash = pod_template_hash(template, self.old_status.get("collisionCount"))
        self.new_name = revisions.find_new_replica_set(self.rss, self.target_hash, raw)
        stable_hash = str(self.old_status.get("stableRS") or "")
        self.stable_name = next(
            (n for n, rs in self._oldest_first() if stable_hash and pod_hash_of(rs) == stable_hash), None
        )

    # --- lookups ---------------------------------------------------------------------------
    @property
    def rollout(self) -> dict[str, Any]:
        """The Rollout as Argo's ``c.rollout`` sees it now (status updated mid-reconcile)."""
        return {**self.snap.rollout, "status": self.status}

    @property
    def new_rs(self) -> dict[str, Any] | None:
        return self.rss.get(self.new_name) if self.new_name else None

    @property
    def stable_rs(self) -> dict[str, Any] | None:
        return self.rss.get(self.stable_name) if self.stable_name else None

    def others(self) -> list[dict[str, Any]]:
        """Every ReplicaSet but the new and the stable one."""
        skip = {self.new_name, self.stable_name}
        return [rs for name, rs in self.rss.items() if name not in skip]

    def _oldest_first(self) -> list[tuple[str, dict[str, Any]]]:
        return revisions.oldest_first(self.rss)  # type: ignore[return-value]

    def revision(self) -> int:
        """The revision of the update in progress (the new ReplicaSet's, or the next one)."""
        return revisions.update_revision(self.rss, self.new_rs)

    def _requeue(self, seconds: float) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def _patch_rs(self, name: str, patch: Mapping[str, Any]) -> None:
        """Merge ``patch`` into this reconcile's merge patch for ReplicaSet ``name``."""
        self.updates[name] = merged(self.updates.get(name) or {}, patch)

    def _set_progressing(self, reason: str, message: str) -> None:
        new = {"type": c.PROGRESSING, "status": c.TRUE, "reason": reason, "message": message}
        self.status["conditions"] = c.set_condition(self.status.get("conditions"), new, self.now)

    # --- the new ReplicaSet ----------------------------------------------------------------
    def sync_revision(self) -> None:
        """Argo's ``syncReplicaSetRevision``: a reused ReplicaSet (an undo, a rollback) becomes the
        newest revision and gets the Rollout's ``minReadySeconds``; whenever the ReplicaSet is
        updated so, or its injected anti-affinity term names an old stable hash, its affinity is
        generated again (:func:`.antiaffinity.replica_set_affinity`)."""
        new, name = self.new_rs, self.new_name
        if new is None or name is None:
            return
        older = [revision_of(rs) for n, rs in self.rss.items() if n != name]
        wanted = max(older, default=0) + 1
        stale_revision = bool(older) and revision_of(new) < wanted
        if stale_revision:
            self._patch_rs(name, {"metadata": {"annotations": {REVISION_ANNOTATION: str(wanted)}}})
            new.setdefault("metadata", {}).setdefault("annotations", {})[REVISION_ANNOTATION] = str(wanted)
        min_ready = int(self.spec.get("minReadySeconds") or 0)
        stale_min_ready = int((new.get("spec") or {}).get("minReadySeconds") or 0) != min_ready
        if stale_min_ready:
            self._patch_rs(name, {"spec": {"minReadySeconds": min_ready}})
            new.setdefault("spec", {})["minReadySeconds"] = min_ready
        pod_spec = new.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
        affinity = pod_spec.get("affinity")
        stale_affinity = antiaffinity.needs_update(affinity, self.snap.rollout, pod_hash_of(new))
        if not (stale_revision or stale_min_ready or stale_affinity):
            return
        desired = antiaffinity.replica_set_affinity(self.snap.rollout, pod_hash_of(new))
        if desired == affinity:
            return
        if desired is None:
            change: Any = None
            pod_spec.pop("affinity", None)
        else:
            change = merge_patch(affinity, desired) if isinstance(affinity, Mapping) else desired
            pod_spec["affinity"] = desired
        self._patch_rs(name, {"spec": {"template": {"spec": {"affinity": change}}}})

    def new_rs_size(self, rs: Mapping[str, Any]) -> int:
        """How many pods a just created new ReplicaSet starts with (the strategy says)."""
        return 0

    def create_new_rs(self) -> None:
        """Argo's ``createDesiredReplicaSet``: revision n+1, the injected anti-affinity term while
        another ReplicaSet is stable, and the ephemeral metadata of the role it starts in (the new
        role's while a stable ReplicaSet exists, else the stable role's)."""
        revision = max((revision_of(rs) for rs in self.rss.values()), default=0) + 1
        rs = new_replica_set(self.snap.rollout, self.target_hash, revision)
        affinity = antiaffinity.replica_set_affinity(self.snap.rollout, self.target_hash)
        pod_spec = rs["spec"]["template"].setdefault("spec", {})
        if affinity is None:
            pod_spec.pop("affinity", None)
        else:
            pod_spec["affinity"] = affinity
        new_role, stable_role = ephemeral.role_metadata(self.snap.rollout)
        if new_role is not None or stable_role is not None:
            ephemeral.sync_replica_set(rs, new_role if self.stable_rs is not None else stable_role)
        name = name_of(rs)
        count = self.new_rs_size(rs)
        rs["spec"]["replicas"] = count
        self.creates.append(copy.deepcopy(rs))
        self.rss[name] = rs
        self.new_name = name
        if count > 0 or self.ANNOUNCE_EMPTY_NEW_RS:
            message = c.NEW_REPLICA_SET_DETAILED_MESSAGE.format(name=name, revision=revision)
            self.events.append(
                (NORMAL, c.NEW_REPLICA_SET_REASON, f"{message} with size {count}" if count else message)
            )
        self._set_progressing(c.NEW_REPLICA_SET_REASON, c.NEW_REPLICA_SET_MESSAGE.format(name=name))

    # --- ephemeral metadata ----------------------------------------------------------------
    def reconcile_ephemeral_metadata(self) -> None:
        """Argo's ``reconcileEphemeralMetadata`` (see :mod:`.ephemeral`): the new ReplicaSet in the
        new role (the stable role once fully promoted), the stable one in the stable role, their
        pods patched to match; the other ReplicaSets' templates lose what was injected."""
        new_role, stable_role = ephemeral.role_metadata(self.snap.rollout)
        if new_role is None and stable_role is None:
            return
        injectable = (new_role, stable_role)
        stable_hash = str(self.old_status.get("stableRS") or "")
        if not stable_hash or stable_hash == pod_hash_of(self.new_rs):
            self._sync_role(self.new_rs, stable_role, injectable)
        else:
            self._sync_role(self.new_rs, new_role, injectable)
            self._sync_role(self.stable_rs, stable_role, injectable)
        for rs in self.others():
            patch = ephemeral.sync_replica_set(rs, None)
            if patch is not None:
                self._patch_rs(name_of(rs), patch)

    def _sync_role(
        self,
        rs: dict[str, Any] | None,
        desired: ephemeral.PodMetadata | None,
        injectable: tuple[ephemeral.PodMetadata | None, ...],
    ) -> None:
        """Argo's ``syncEphemeralMetadata``: first the ReplicaSet (new pods get ``desired``), then
        its existing pods (those listed in the snapshot)."""
        if rs is None:
            return
        before = ephemeral.recorded(rs)
        patch = ephemeral.sync_replica_set(rs, desired)
        if patch is not None:
            self._patch_rs(name_of(rs), patch)
        if self.snap.pods is None or spec_replicas(self.observed.get(name_of(rs)) or rs) == 0:
            return
        uid = str((rs.get("metadata") or {}).get("uid") or "")
        template_meta = ((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}
        keys = ephemeral.injectable_keys(before, desired, *injectable)
        for pod in self.snap.pods:
            meta = pod.get("metadata") or {}
            if meta.get("deletionTimestamp") or not _owned_by(pod, uid):
                continue
            pod_patch = ephemeral.pod_patch(pod, template_meta, keys)
            if pod_patch is not None:
                self.pod_patches.append((str(meta.get("name") or ""), pod_patch))

    # --- other shared steps ----------------------------------------------------------------
    def restart_max_unavailable(self) -> int:
        """``maxUnavailable`` as a pod count, for ``spec.restartAt`` (the strategy says)."""
        raise NotImplementedError

    def reconcile_restart(self) -> None:
        """Argo's ``RolloutPodRestarter``: remove pods older than ``spec.restartAt`` (see
        :mod:`controller.core.restart`); requeue for a ``restartAt`` still to come."""
        later = restart.seconds_until_restart(self.snap.rollout, self.now)
        if later is not None:
            self._requeue(later)
        if self.snap.pods is None or not restart.needs_restart(self.snap.rollout, self.now):
            return
        if any(spec_replicas(rs) != status_count(rs, "availableReplicas") for rs in self.rss.values()):
            return  # not every ReplicaSet is fully available yet
        result = restart.plan_restart(
            self.snap.rollout,
            list(self.rss.values()),
            self.snap.pods,
            stable_name=self.stable_name,
            new_name=self.new_name,
            max_unavailable=self.restart_max_unavailable(),
            now=self.now,
        )
        self.pod_deletions.extend(result.delete_pods)
        if result.finished:
            self.restarted = True
        else:
            self._requeue(restart.RESTART_CHECK_SECONDS)

    def cleanup_history(self) -> None:
        """Argo's ``reconcileRevisionHistoryLimit``: delete the oldest scaled-down others."""
        for name in revisions.history_deletions(self.others(), self.view.spec.revision_history_limit):
            self.deletes.append(name)
            del self.rss[name]

    def _resize(self, rs: dict[str, Any], count: int) -> bool:
        """Record ``rs`` at ``count`` pods; when that is a change, Argo's ScalingReplicaSet event
        and True."""
        name, old = name_of(rs), spec_replicas(rs)
        rs.setdefault("spec", {})["replicas"] = count
        self.scales[name] = count
        if old == count:
            return False
        role = "up" if count > old else "down"
        message = c.SCALING_REPLICA_SET_MESSAGE.format(
            role=role, name=name, revision=revision_of(rs), old=old, new=count
        )
        self.events.append((NORMAL, c.SCALING_REPLICA_SET_REASON, message))
        return True

    def take_analysis(self, outcome: RunsOutcome) -> None:
        """What the AnalysisRuns decided: their events, an inconclusive pause, an abort."""
        self.analysis = outcome
        self.events.extend(outcome.events)
        if outcome.pause_inconclusive:
            self.pause.add_reasons.append(c.PAUSE_INCONCLUSIVE_ANALYSIS)
        if outcome.abort_message is not None:
            self.abort_message = outcome.abort_message
            if not self.pause.aborted():
                self.pause.add_abort = True
        if outcome.error is not None:
            self.events.append((WARNING, ANALYSIS_ERROR_REASON, outcome.error))

    def rollback_within_window(self) -> bool:
        """Argo's ``isRollbackWithinWindow`` on the ReplicaSets as observed."""
        window = self.view.spec.rollback_window_revisions
        return revisions.rollback_within_window(
            list(self.observed.values()), self.new_name, self.stable_name, window
        )

    # --- status and plan -------------------------------------------------------------------
    def record_progress_fields(self, status: dict[str, Any]) -> None:
        """``restartedAt`` (once a restart finished), ``workloadObservedGeneration`` and
        ``observedGeneration``."""
        if self.restarted:
            restart_at = self.spec.get("restartAt")
            if restart_at is None:
                status.pop("restartedAt", None)
            else:
                status["restartedAt"] = restart_at
        if workload.workload_ref(self.snap.rollout) is not None and self.snap.workload is not None:
            status["workloadObservedGeneration"] = workload.generation(self.snap.workload)
        else:
            status.pop("workloadObservedGeneration", None)
        status["observedGeneration"] = str((self.snap.rollout.get("metadata") or {}).get("generation") or 0)

    def rollout_annotations(self) -> dict[str, str | None] | None:
        """The workload-generation annotation, and ``rollout.argoproj.io/revision`` (the revision
        of the update in progress) with Argo's ``RolloutUpdated`` event (``setRolloutRevision``)."""
        patch = dict(workload.annotation_patch(self.snap.rollout, self.snap.workload) or {})
        annotations = (self.snap.rollout.get("metadata") or {}).get("annotations") or {}
        if self.new_rs is not None and annotations.get(REVISION_ANNOTATION) != str(self.revision()):
            patch[REVISION_ANNOTATION] = str(self.revision())
            message = c.ROLLOUT_UPDATED_MESSAGE.format(revision=self.revision())
            self.events.append((NORMAL, c.ROLLOUT_UPDATED_REASON, message))
        return patch or None

    def plan(self, status: Mapping[str, Any], patch: dict[str, Any] | None, **extra: Any) -> Plan:
        """The :class:`Plan` of this reconcile: ``status`` is the status written (its phase, its
        ready replicas), ``patch`` the merge patch for it; ``extra`` adds strategy fields."""
        # Argo checks for a stuck rollout only when the status is unchanged (a patch re-syncs)
        stuck = stuck_requeue(self.snap.rollout, status, self.now) if patch is None else None
        requeue = stuck if self.requeue is None else min(self.requeue, stuck or self.requeue)
        if patch is not None:
            self.events.extend(revisions.pause_events(self.old_status, status))
        annotations = self.rollout_annotations()
        return Plan(
            create_replica_sets=tuple(self.creates),
            scale=tuple(self.scales.items()),
            delete_replica_sets=tuple(self.deletes),
            service_selectors=tuple(self.selectors),
            status_patch=patch,
            events=tuple(self.events),
            requeue_after=requeue,
            update_replica_sets=tuple(self.updates.items()),
            delete_pods=tuple(self.pod_deletions),
            patch_pods=tuple(self.pod_patches),
            workload_scale=workload.scale_down_target(
                self.snap.rollout,
                self.snap.workload,
                self.new_rs,
                phase=status["phase"],
                ready_replicas=int(status.get("readyReplicas") or 0),
            ),
            rollout_annotations=annotations,
            create_analysis_runs=tuple(self.analysis.create),
            terminate_analysis_runs=tuple(self.analysis.terminate),
            delete_analysis_runs=tuple(self.analysis.delete),
            **extra,
        )


__all__ = ["ANALYSIS_ERROR_REASON", "RolloutContext", "aware", "merged"]
