"""The blue-green reconcile: ``plan_bluegreen(snapshot) -> Plan``.

It follows Argo Rollouts' ``rolloutBlueGreen`` (rollout/bluegreen.go) and the parts of
rollout/sync.go, replicaset.go, service.go, pause.go and analysis.go it calls, in their order:

1. an invalid spec, or an ``activeService``/``previewService``/AnalysisTemplate that does not
   exist, only sets the ``InvalidSpec`` condition (and looks again in 20 s, as Argo does: the
   Service may simply not be created yet);
2. the new ReplicaSet is created at 0 pods when missing (or its revision synced), with the
   anti-affinity term and the ephemeral metadata of its role, and the preview Service is
   pointed at it; a changed pod template then only resets the status;
3. otherwise the ReplicaSets are reconciled: the one the active Service selects is kept at full
   size, the new one is sized (``previewReplicaCount`` until promotion, then full), the others
   are scaled down once their scale-down deadline passes (:mod:`.bluegreen_replicas`);
4. the ``BlueGreenPause`` pause is added or lifted (``autoPromotionEnabled: false``,
   ``autoPromotionSeconds``), then the active Service is switched to the new ReplicaSet -- only
   once it is saturated: every pod available -- or back to the stable one on abort;
5. pre- and post-promotion AnalysisRuns are reconciled (:mod:`.bluegreen_analysis`), then the
   ``previewMetadata``/``activeMetadata`` brought onto the ReplicaSets and their pods
   (:mod:`.ephemeral`);
6. the status is recomputed (selectors, stable ReplicaSet, replica counts of the active
   ReplicaSet, conditions, phase) and diffed into a merge patch.

``spec.paused`` (and an ``InconclusiveAnalysisRun`` pause) stop Service switches and pause
handling; the new ReplicaSet is still created and sized, as in Argo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from controller.api import Problem, validate_rollout
from controller.api import defaults as api_defaults
from controller.core import bluegreen_analysis as bga
from controller.core import bluegreen_replicas as bgr
from controller.core import conditions as c
from controller.core import replicas as rmath
from controller.core import workload
from controller.core.canary import MANAGED_BY_ANNOTATION
from controller.core.canary_invalid import plan_invalid_spec
from controller.core.canary_status import (
    format_selector,
    paused_conditions,
    rollout_conditions,
)
from controller.core.context import RolloutContext, aware
from controller.core.hashing import POD_TEMPLATE_HASH_LABEL
from controller.core.phase import calculate_phase
from controller.core.plan import NORMAL, Plan, status_merge_patch
from controller.core.snapshot import (
    DESIRED_REPLICAS_ANNOTATION,
    RawObject,
    Snapshot,
    name_of,
    pod_hash_of,
    spec_replicas,
    status_count,
)

#: Event reason and message when a Service's selector is switched (Argo's ``switchServiceSelector``)
SWITCH_SERVICE_REASON: Final = "SwitchService"
SWITCH_SERVICE_MESSAGE: Final = "Switched selector for service '{service}' from '{old}' to '{new}'"
#: Argo requeues an invalid Rollout after 20 s: a referenced Service may not exist *yet*
INVALID_SPEC_REQUEUE_SECONDS: Final = 20.0
SERVICE_NOT_FOUND_MESSAGE: Final = 'services "{name}" not found'
SERVICE_UNMATCHED_LABEL_MESSAGE: Final = 'Service "{service}" has unmatch label "{label}" in rollout'
COMPLETED_MESSAGE: Final = "Completed blue-green update"
ROLLBACK_WITHIN_DELAY_MESSAGE: Final = "Rollback to '{name}' within scaleDownDelay"


def plan_bluegreen(snapshot: Snapshot) -> Plan:
    """Plan one reconcile of a blue-green Rollout (``spec.strategy.blueGreen``).

    Raises ``ValueError`` for a valid Rollout that is not blue-green.
    """
    problems = validate_rollout(snapshot.rollout)
    if problems:
        return _invalid(snapshot, problems)
    if workload.workload_ref(snapshot.rollout) is not None:
        resolved, problem = workload.resolve(snapshot.rollout, snapshot.workload)
        if problem is None:
            # the resolved template gets the checks a Rollout's own template gets
            spec = {k: v for k, v in (resolved.get("spec") or {}).items() if k != "workloadRef"}
            problems = validate_rollout({**resolved, "spec": spec})
        if problem is not None or problems:
            return _invalid(snapshot, [problem] if problem is not None else problems)
        snapshot = dataclasses.replace(snapshot, rollout=resolved)
    problems = referenced_problems(snapshot)
    if problems:
        return _invalid(snapshot, problems)
    return _Reconcile(snapshot).run()


def _invalid(snapshot: Snapshot, problems: list[Problem]) -> Plan:
    return dataclasses.replace(
        plan_invalid_spec(snapshot, problems), requeue_after=INVALID_SPEC_REQUEUE_SECONDS
    )


def referenced_problems(snapshot: Snapshot) -> list[Problem]:
    """Argo's ``getRolloutReferencedResources`` + ``ValidateRolloutReferencedResources`` for
    blue-green: the named Services exist, the AnalysisTemplates exist, each Service's selector
    asks only for labels the pod template has, and no other Rollout manages the Service."""
    rollout = snapshot.rollout
    blue_green = ((rollout.get("spec") or {}).get("strategy") or {}).get("blueGreen") or {}
    named = (
        ("activeService", snapshot.active_service),
        ("previewService", snapshot.preview_service),
    )
    problems: list[Problem] = []
    for key, svc in named:
        name = str(blue_green.get(key) or "")
        if name and svc is None:
            path = f"spec.strategy.blueGreen.{key}"
            problems.append(Problem(path, SERVICE_NOT_FOUND_MESSAGE.format(name=name), value=name))
    problems += bga.missing_templates(
        rollout, snapshot.analysis_templates, snapshot.cluster_analysis_templates
    )
    labels = ((((rollout.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")) or {}
    owner = name_of(rollout)
    for key, svc in named:
        if svc is None or not blue_green.get(key):
            continue
        path, svc_name = f"spec.strategy.blueGreen.{key}", name_of(svc)
        for label, value in sorted(((svc.get("spec") or {}).get("selector") or {}).items()):
            if label != POD_TEMPLATE_HASH_LABEL and labels.get(label) != value:
                message = SERVICE_UNMATCHED_LABEL_MESSAGE.format(service=svc_name, label=label)
                problems.append(Problem(path, message, value=svc_name))
        manager = ((svc.get("metadata") or {}).get("annotations") or {}).get(MANAGED_BY_ANNOTATION)
        if manager is not None and manager != owner:
            problems.append(
                Problem(path, c.SERVICE_MANAGED_ELSEWHERE_MESSAGE.format(name=svc_name), value=svc_name)
            )
    return problems


def _selector_hash(svc: RawObject | None) -> str | None:
    """The Service's ``rollouts-pod-template-hash`` selector; ``None`` when it has none."""
    selector = ((svc or {}).get("spec") or {}).get("selector") or {}
    return None if POD_TEMPLATE_HASH_LABEL not in selector else str(selector[POD_TEMPLATE_HASH_LABEL] or "")


class _Reconcile(RolloutContext):
    """One reconcile of a blue-green Rollout (see :class:`~controller.core.context.RolloutContext`)."""

    ANNOUNCE_EMPTY_NEW_RS = True

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(snapshot)
        blue_green = self.view.spec.strategy.blue_green
        if blue_green is None:
            raise ValueError("plan_bluegreen needs spec.strategy.blueGreen")
        self.bg = blue_green
        self.bg_raw: Mapping[str, Any] = (self.spec.get("strategy") or {}).get("blueGreen") or {}
        self.old_bg: Mapping[str, Any] = self.old_status.get("blueGreen") or {}
        if (self.old_status.get("stableRS") or "") == (self.old_status.get("currentPodHash") or ""):
            self.pause.remove_abort = self.pause.aborted()  # a fully promoted Rollout cannot be aborted
        self.analysis: bga.PromotionAnalysisOutcome = bga.PromotionAnalysisOutcome()
        runs = {name_of(r): r for r in snapshot.analysis_runs}
        #: the current pre/post runs (the status names them until analysis is reconciled)
        self.current_runs: dict[str, RawObject | None] = {
            key: runs.get(str((self.old_bg.get(key) or {}).get("name") or ""))
            for key in (bga.PRE_STATUS_KEY, bga.POST_STATUS_KEY)
        }
        stable_hash = str(self.old_status.get("stableRS") or "")
        if stable_hash and self.new_name is not None and pod_hash_of(self.new_rs) == stable_hash:
            self.stable_name = self.new_name
        #: the Services' hash selectors as this reconcile leaves them
        self.active_hash = _selector_hash(snapshot.active_service)
        self.preview_hash = _selector_hash(snapshot.preview_service)

    # --- lookups ---------------------------------------------------------------------------
    def _by_hash(self, pod_hash: str | None) -> dict[str, Any] | None:
        return next((rs for rs in self.rss.values() if pod_hash and pod_hash_of(rs) == pod_hash), None)

    def new_hash(self) -> str:
        return pod_hash_of(self.new_rs) if self.new_rs is not None else self.target_hash

    def halt_progress(self) -> bool:
        """Argo's ``haltProgress``: ``spec.paused``, or paused on an inconclusive AnalysisRun."""
        return self.view.spec.paused or self.pause.condition(c.PAUSE_INCONCLUSIVE_ANALYSIS) is not None

    # --- the reconcile ---------------------------------------------------------------------
    def run(self) -> Plan:
        if self.new_rs is None:
            self.create_new_rs()
        else:
            self.sync_revision()
            if c.get_condition(self.status.get("conditions"), c.PROGRESSING) is None:
                message = c.FOUND_NEW_RS_MESSAGE.format(name=self.new_name)
                self._set_progressing(c.FOUND_NEW_RS_REASON, message)
        self.reconcile_preview_service()
        old_hash = str(self.old_status.get("currentPodHash") or "")
        if old_hash and old_hash != self.new_hash():  # Argo's CheckPodSpecChange
            return self.sync_status(reset=True)
        self.reconcile_restart()
        self.reconcile_replica_sets()
        self.reconcile_pause()
        self.reconcile_active_service()
        self.reconcile_analysis()
        self.reconcile_ephemeral_metadata()
        return self.sync_status(reset=False)

    def switch_service(self, svc_name: str, svc: RawObject | None, pod_hash: str) -> None:
        """Argo's ``switchServiceSelector``: set the hash selector (and the managed-by annotation)."""
        if svc is None or not pod_hash:
            return
        current = _selector_hash(svc)
        managed = MANAGED_BY_ANNOTATION in ((svc.get("metadata") or {}).get("annotations") or {})
        if current == pod_hash and managed:
            return
        self.selectors.append((svc_name, {POD_TEMPLATE_HASH_LABEL: pod_hash}))
        message = SWITCH_SERVICE_MESSAGE.format(service=svc_name, old=current or "", new=pod_hash)
        self.events.append((NORMAL, SWITCH_SERVICE_REASON, message))

    def reconcile_preview_service(self) -> None:
        """Argo's ``reconcilePreviewService``: the preview Service follows the new ReplicaSet."""
        if not self.bg.preview_service or self.halt_progress():
            return
        self.switch_service(self.bg.preview_service, self.snap.preview_service, self.new_hash())
        if self.snap.preview_service is not None:
            self.preview_hash = self.new_hash()

    def restart_max_unavailable(self) -> int:
        """Blue-green's ``maxUnavailable`` (default 25%) as a pod count."""
        unavailable = self.bg_raw.get("maxUnavailable")
        return rmath.max_unavailable_value(
            replicas=self.replicas,
            max_surge=None,
            max_unavailable=rmath.DEFAULT_MAX_UNAVAILABLE if unavailable is None else unavailable,
            blue_green=True,
        )

    # --- ReplicaSets -------------------------------------------------------------------------
    def _scale(self, rs: dict[str, Any], count: int) -> bool:
        """Argo's ``scaleReplicaSetAndRecordEvent``: size and desired-replicas annotation; a full
        scale-down also drops the scale-down deadline (unless an aborted update waits on it)."""
        annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
        if spec_replicas(rs) == count and annotations.get(DESIRED_REPLICAS_ANNOTATION) == str(self.replicas):
            return False
        annotations[DESIRED_REPLICAS_ANNOTATION] = str(self.replicas)
        if count == 0 and bgr.has_deadline(rs) and not self.delay_abort_scale_down():
            self._patch_rs(name_of(rs), bgr.REMOVE_DEADLINE_PATCH)
        return self._resize(rs, count)

    def delay_abort_scale_down(self) -> bool:
        """Argo's ``shouldDelayScaleDownOnAbort``: aborted, a stable ReplicaSet to return to, and
        ``abortScaleDownDelaySeconds`` is not 0 (0 keeps the new ReplicaSet up for good)."""
        return (
            self.pause.aborted()
            and self.stable_rs is not None
            and api_defaults.abort_scale_down_delay_seconds(self.view.spec) is not None
        )

    def reconcile_replica_sets(self) -> None:
        """Argo's ``reconcileBlueGreenReplicaSets``."""
        self.remove_scale_down_deadlines()
        active = self._by_hash(self.active_hash) if self.active_hash is not None else None
        if active is not None:  # reconcileBlueGreenStableReplicaSet: the active one stays full
            self._scale(active, self.replicas)
        self.reconcile_new_rs()
        self.reconcile_other_rss()
        self.cleanup_history()

    def remove_scale_down_deadlines(self) -> None:
        """Argo's ``removeScaleDownDeadlines``: the new and stable ReplicaSets have none (moving
        back to a ReplicaSet within its delay keeps it)."""
        names = []
        if self.new_name is not None and not self.delay_abort_scale_down():
            names.append(self.new_name)
        if self.stable_name is not None and self.stable_name not in names:
            names.append(self.stable_name)
        for name in names:
            if bgr.has_deadline(self.rss[name]):
                self._patch_rs(name, bgr.REMOVE_DEADLINE_PATCH)

    def reconcile_new_rs(self) -> None:
        """Argo's ``reconcileNewReplicaSet``, with the scale-down of an aborted new ReplicaSet
        after ``abortScaleDownDelaySeconds``."""
        new = self.new_rs
        if new is None:
            return
        count = rmath.new_rs_new_replicas(self.rollout, list(self.rss.values()), new)
        if self.delay_abort_scale_down():
            if bgr.has_deadline(new):
                try:
                    left = bgr.seconds_left(new, self.now)
                except ValueError:
                    left = 0.0  # unreadable: keep the size, as Argo does
                if left is not None:
                    if left > 0:
                        self._requeue(left)
                    return
                count = 0
            else:
                delay = api_defaults.abort_scale_down_delay_seconds(self.view.spec) or 0
                stable = self.stable_rs
                if stable is not None and status_count(stable, "availableReplicas") == self.replicas:
                    self._patch_rs(str(self.new_name), bgr.add_deadline_patch(self.now, delay))
                    self._requeue(float(delay))
                return  # the new ReplicaSet keeps its pods until the deadline is set and passes
        self._scale(new, count)

    def reconcile_other_rss(self) -> None:
        """Argo's ``scaleDownOldReplicaSetsForBlueGreen`` (see :func:`.bluegreen_replicas.scale_down_old`)."""
        if self.pause.condition(c.PAUSE_INCONCLUSIVE_ANALYSIS) is not None:
            return
        waits_for_post = (
            self.bg.post_promotion_analysis is not None
            and self.bg_raw.get("scaleDownDelaySeconds") is None
            and not bga.skip_post_promotion(self.rollout, self.new_rs)
        )
        post = self.current_runs[bga.POST_STATUS_KEY]
        if waits_for_post and (post is None or (post.get("status") or {}).get("phase") != "Successful"):
            return
        referenced = {
            str(self.old_status.get("stableRS") or ""),
            str(self.old_status.get("currentPodHash") or ""),
            str(self.old_bg.get("activeSelector") or ""),
            str(self.old_bg.get("previewSelector") or ""),
            self.active_hash or "",
            self.preview_hash or "",
        }
        result = bgr.scale_down_old(
            self.others(),
            referenced=frozenset(referenced - {""}),
            replicas=self.replicas,
            delay_seconds=self.bg.scale_down_delay_seconds,
            revision_limit=self.bg.scale_down_delay_revision_limit,
            now=self.now,
        )
        for name, patch in result.annotate.items():
            self._patch_rs(name, patch)
        for name, count in result.scale.items():
            self._scale(self.rss[name], count)
        if result.requeue is not None:
            self._requeue(result.requeue)

    # --- pause and the active Service ---------------------------------------------------------
    def ready_for_pause(self) -> bool:
        return bgr.ready_for_pause(self.rollout, self.new_rs, list(self.rss.values()))

    def fast_tracked(self) -> bool:
        """Argo's ``isBlueGreenFastTracked``: no pause for a ReplicaSet still within its
        scale-down delay, a full promotion, a first deploy, or an already active ReplicaSet."""
        observed_new = self.observed.get(self.new_name or "")
        return (
            bgr.has_deadline(observed_new)
            or bool(self.old_status.get("promoteFull"))
            or self.active_hash is None
            or self.active_hash == self.new_hash()
        )

    def needs_controller_pause(self) -> bool:
        """Argo's ``needsBlueGreenControllerPause``."""
        return not self.bg.auto_promotion_enabled or self.bg.auto_promotion_seconds > 0

    def completed_pre_promotion_analysis(self) -> bool:
        if self.bg.pre_promotion_analysis is None:
            return True
        run = self.current_runs[bga.PRE_STATUS_KEY]
        return run is not None and (run.get("status") or {}).get("phase") == "Successful"

    def completed_blue_green_pause(self) -> bool:
        """Argo's ``CompletedBlueGreenPause``: a human promoted, or ``autoPromotionSeconds`` passed."""
        if self.pause.add_reasons:
            return False
        if self.old_bg.get("scaleUpPreviewCheckPoint") or not self.needs_controller_pause():
            return True
        condition = self.pause.condition(c.PAUSE_BLUE_GREEN)
        if self.bg.auto_promotion_enabled:
            seconds = self.bg.auto_promotion_seconds
            start = c.parse_time((condition or {}).get("startTime"))
            return seconds == 0 or (
                start is not None and aware(self.now) > start + timedelta(seconds=seconds)
            )
        return bool(self.old_status.get("controllerPause")) and condition is None

    def reconcile_pause(self) -> None:
        """Argo's ``reconcileBlueGreenPause``."""
        if self.old_status.get("abort") or not self.ready_for_pause() or self.halt_progress():
            return
        if (
            self.fast_tracked()
            or self.old_bg.get("scaleUpPreviewCheckPoint")
            or not self.needs_controller_pause()
        ):
            self.pause.remove_reasons.append(c.PAUSE_BLUE_GREEN)
            return
        if not self.completed_pre_promotion_analysis():
            return
        condition = self.pause.condition(c.PAUSE_BLUE_GREEN)
        if condition is None:
            if not self.old_status.get("controllerPause"):
                self.pause.add_reasons.append(c.PAUSE_BLUE_GREEN)
                if self.bg.auto_promotion_enabled and self.bg.auto_promotion_seconds > 0:
                    self._requeue(float(self.bg.auto_promotion_seconds))
            return
        if self.completed_blue_green_pause():
            self.pause.remove_reasons.append(c.PAUSE_BLUE_GREEN)
            return
        start = c.parse_time(condition.get("startTime"))
        if self.bg.auto_promotion_enabled and start is not None:
            left = (
                start + timedelta(seconds=self.bg.auto_promotion_seconds) - aware(self.now)
            ).total_seconds()
            self._requeue(left if left > 0 else 1.0)

    def reconcile_active_service(self) -> None:
        """Argo's ``reconcileActiveService``: the switch waits for a saturated new ReplicaSet."""
        if (
            self.halt_progress()
            or not self.ready_for_pause()
            or not bga.is_saturated(self.rollout, self.new_rs)
        ):
            return
        desired = self.active_hash or ""
        if self.fast_tracked():
            desired = self.new_hash()
        if self.completed_blue_green_pause() and self.completed_pre_promotion_analysis():
            desired = self.new_hash()
        if self.old_status.get("abort"):
            desired = str(self.old_status.get("stableRS") or "")
        self.switch_service(self.bg.active_service, self.snap.active_service, desired)
        if desired:
            self.active_hash = desired

    def reconcile_analysis(self) -> None:
        """Argo's ``reconcileAnalysisRuns`` for blue-green (see :mod:`.bluegreen_analysis`)."""
        skip = (
            self.pause.aborted()
            or bool(self.old_status.get("promoteFull"))
            or bgr.has_deadline(self.observed.get(self.new_name or ""))
            or not self.old_status.get("stableRS")
        )
        outcome = bga.reconcile_promotion_analysis(
            bga.PromotionAnalysisInput(
                rollout=self.rollout,
                runs=self.snap.analysis_runs,
                templates=self.snap.analysis_templates,
                cluster_templates=self.snap.cluster_analysis_templates,
                new_rs=self.new_rs,
                stable_hash=str(self.old_status.get("stableRS") or ""),
                replica_set_hashes=frozenset(pod_hash_of(rs) for rs in self.rss.values()),
                revision=self.revision(),
                skip=skip,
            )
        )
        self.analysis = outcome
        self.current_runs = {bga.PRE_STATUS_KEY: outcome.pre_run, bga.POST_STATUS_KEY: outcome.post_run}
        self.take_analysis(outcome)

    # --- status ----------------------------------------------------------------------------
    def sync_status(self, *, reset: bool) -> Plan:
        """Argo's ``syncRolloutStatusBlueGreen`` then ``persistRolloutStatus``."""
        all_rss = list(self.rss.values())
        conditions = c.remove_condition(self.status.get("conditions"), c.INVALID_SPEC)
        current, stable = self.new_hash(), str(self.old_status.get("stableRS") or "")
        status: dict[str, Any] = {
            "currentPodHash": current,
            "replicas": sum(status_count(rs, "replicas") for rs in all_rss),
            "updatedReplicas": status_count(self.new_rs, "replicas"),
            "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in all_rss),
            "stableRS": stable,
            "conditions": paused_conditions(self.rollout, conditions, self.now),
            "promoteFull": current != stable and bool(self.old_status.get("promoteFull")),
            "canary": {},
            "blueGreen": {} if reset else self.analysis.statuses(),
        }
        for key in ("collisionCount", "restartedAt", "workloadObservedGeneration"):
            if self.old_status.get(key) is not None:
                status[key] = self.old_status[key]
        if reset:  # Argo's resetRolloutStatus
            self.pause.clear = self.pause.remove_abort = self.restarted = True
            status["promoteFull"] = False
        if self.old_status.get("promoteFull") or self.rollback_within_window():
            self.pause.clear = self.pause.remove_abort = True
        # Go omits the empty fields of status.blueGreen
        blue_green = status["blueGreen"]
        for key, value in (("previewSelector", self.preview_hash), ("activeSelector", self.active_hash)):
            if value:
                blue_green[key] = value
        reason = self.should_full_promote(status)
        if reason:
            self.promote_stable(status, reason)
        elif not reset and self.scale_up_preview_check_point():
            blue_green["scaleUpPreviewCheckPoint"] = True
        active = self._by_hash(blue_green.get("activeSelector"))
        if active is not None:
            status["HPAReplicas"] = status_count(active, "replicas")
            status["selector"] = format_selector((active.get("spec") or {}).get("selector") or {})
            status["availableReplicas"] = status_count(active, "availableReplicas")
            status["readyReplicas"] = status_count(active, "readyReplicas")
        else:
            status["HPAReplicas"] = status["replicas"]
            status["selector"] = format_selector(self.spec.get("selector") or {})
            status["availableReplicas"] = sum(status_count(rs, "availableReplicas") for rs in all_rss)
        return self.persist(status, active)

    def should_full_promote(self, status: Mapping[str, Any]) -> str:
        """Argo's ``shouldFullPromote`` for blue-green: why the new ReplicaSet becomes stable now."""
        active = status["blueGreen"].get("activeSelector") or ""
        if self.stable_rs is None or not active:
            return "Initial deploy"
        if active != status["currentPodHash"]:
            return ""
        if self.old_status.get("promoteFull"):
            return "Full promotion requested"
        if self.rollback_within_window():
            return "Rollback within window"
        if self.pause.aborted():
            return ""
        if self.bg.post_promotion_analysis is not None:
            if bgr.has_deadline(self.observed.get(self.new_name or "")):
                return ROLLBACK_WITHIN_DELAY_MESSAGE.format(name=self.new_name)
            post = self.current_runs[bga.POST_STATUS_KEY]
            if post is None or (post.get("status") or {}).get("phase") != "Successful":
                return ""
        return COMPLETED_MESSAGE

    def promote_stable(self, status: dict[str, Any], reason: str) -> None:
        """Argo's ``promoteStable``: the current hash becomes stable; pauses and abort end."""
        self.pause.clear = self.pause.remove_abort = True
        status["promoteFull"] = False
        status["blueGreen"].pop("scaleUpPreviewCheckPoint", None)
        if status["stableRS"] != status["currentPodHash"]:
            status["stableRS"] = status["currentPodHash"]
            message = c.ROLLOUT_COMPLETED_MESSAGE.format(
                revision=self.revision(), pod_hash=status["currentPodHash"], detail=reason
            )
            self.events.append((NORMAL, c.ROLLOUT_COMPLETED_REASON, message))

    def scale_up_preview_check_point(self) -> bool:
        """Argo's ``calculateScaleUpPreviewCheckPoint``: set (for good, until promoted or the
        template changes) once the preview is up at ``previewReplicaCount`` and the pause and the
        pre-promotion analysis are done; then the new ReplicaSet scales to full size."""
        preview = self.bg.preview_replica_count
        if preview is None:
            return False
        if self.old_bg.get("scaleUpPreviewCheckPoint"):
            return True
        if not self.completed_pre_promotion_analysis() or not self.completed_blue_green_pause():
            return False
        return preview == status_count(self.new_rs, "availableReplicas")

    def persist(self, status: dict[str, Any], active: RawObject | None) -> Plan:
        """Conditions, pause bookkeeping, phase, and the diff against the observed status."""
        self.record_progress_fields(status)
        # Available: blue-green asks for a saturated active ReplicaSet, not a pod count
        saturated = bga.is_saturated(self.rollout, active)
        conds, events, add_abort = rollout_conditions(
            self.rollout,
            status,
            abort_message=self.abort_message,
            aborted=self.pause.aborted(),
            new_rs_name=self.new_name,
            all_available=self.replicas if saturated else -1,
            revision=self.revision(),
            now=self.now,
        )
        status["conditions"] = conds
        self.events.extend(events)
        self.pause.add_abort = self.pause.add_abort or add_abort
        self.pause.apply(status, self.now)
        phase, message = calculate_phase({"spec": self.spec, "status": status})
        status["phase"], status["message"] = str(phase), message
        return self.plan(status, status_merge_patch(self.old_status, status))


__all__ = ["plan_bluegreen", "referenced_problems"]
