"""The canary reconcile without traffic routing: ``plan_canary(snapshot) -> Plan``.

It follows Argo Rollouts' ``rolloutCanary`` (rollout/canary.go) and the parts of
rollout/sync.go, replicaset.go, service.go and pause.go it calls, in their order:

1. an invalid spec only sets the ``InvalidSpec`` condition (:mod:`controller.core.canary_invalid`);
2. a changed pod template or step list first resets the status (step 0, pauses and abort
   cleared; back to the stable template = fast rollback to the last step), and nothing else;
3. otherwise the new ReplicaSet is created when missing (revision n+1, sized by
   ``new_rs_new_replicas``, with the anti-affinity term and the canary's ephemeral metadata),
   the ``canaryMetadata``/``stableMetadata`` are brought onto the ReplicaSets and their pods
   (:mod:`controller.core.ephemeral`), old ReplicaSets beyond ``revisionHistoryLimit`` are deleted,
   the stable/canary Services are pointed at the stable/new hashes, then at most one
   scaling round runs (stable first, then new, then the others down), and only when nothing
   scaled does the pause step get its condition;
4. the status is recomputed (step advance, full promotion, abort) and diffed into a merge patch.

``spec.paused`` skips creation, scaling and step advance (Argo's ``syncReplicasOnly``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from controller.api import (
    Analysis,
    Pause,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    validate_rollout,
)
from controller.core import canary_analysis, restart, trafficrouting, workload
from controller.core import conditions as c
from controller.core import replicas as rmath
from controller.core.analysis_runs import run_phase
from controller.core.bluegreen_replicas import SCALE_DOWN_DEADLINE_ANNOTATION
from controller.core.canary_invalid import plan_invalid_spec
from controller.core.canary_status import (
    format_selector,
    paused_conditions,
    rollout_conditions,
    step_string,
)
from controller.core.context import RolloutContext, aware
from controller.core.hashing import POD_TEMPLATE_HASH_LABEL, step_hash
from controller.core.phase import calculate_phase
from controller.core.plan import NORMAL, Plan, status_merge_patch
from controller.core.snapshot import (
    Snapshot,
    creation_key,
    name_of,
    pod_hash_of,
    revision_of,
    spec_replicas,
    status_count,
)

#: annotation Argo puts on a Service whose selector it manages
MANAGED_BY_ANNOTATION = "argo-rollouts.argoproj.io/managed-by-rollouts"
SKIP_STEPS_REASON = "SkipSteps"
ROLLBACK_TO_STABLE_MESSAGE = "Rollback to stable"
ROLLBACK_WITHIN_WINDOW_MESSAGE = "Rollback within the rollback window"
#: Argo's default scaleDownDelaySeconds and abortScaleDownDelaySeconds
DEFAULT_SCALE_DOWN_DELAY = 30


def plan_canary(snapshot: Snapshot) -> Plan:
    """Plan one reconcile of a canary Rollout without traffic routing.

    Raises ``ValueError`` for a Rollout that is not a canary or that uses traffic routing
    (not supported by this planner yet).
    """
    problems = validate_rollout(snapshot.rollout)
    if problems:
        return plan_invalid_spec(snapshot, problems)
    if workload.workload_ref(snapshot.rollout) is not None:
        resolved, problem = workload.resolve(snapshot.rollout, snapshot.workload)
        if problem is None:
            # the resolved template gets the checks a Rollout's own template gets
            spec = {k: v for k, v in (resolved.get("spec") or {}).items() if k != "workloadRef"}
            problems = validate_rollout({**resolved, "spec": spec})
        plan = (
            plan_invalid_spec(snapshot, [problem] if problem else problems) if problem or problems else None
        )
        if plan is not None:
            return plan
        snapshot = dataclasses.replace(snapshot, rollout=resolved)
    if trafficrouting.nginx_config(snapshot.rollout) is not None:
        missing_ingress = trafficrouting.referenced_ingress_problems(snapshot.rollout, snapshot.ingresses)
        if missing_ingress:
            return plan_invalid_spec(snapshot, missing_ingress)
    if canary_analysis.uses_analysis(snapshot.rollout):
        missing = canary_analysis.missing_templates(
            snapshot.rollout, snapshot.analysis_templates, snapshot.cluster_analysis_templates
        )
        if missing:
            return plan_invalid_spec(snapshot, missing)
    return _Reconcile(snapshot).run()


class _Reconcile(RolloutContext):
    """One reconcile of a canary Rollout (see :class:`~controller.core.context.RolloutContext`)."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(snapshot)
        canary = self.view.spec.strategy.canary
        if canary is None:
            raise ValueError("plan_canary needs spec.strategy.canary")
        if canary.traffic_routing is not None:
            others = sorted(k for k in canary.traffic_routing.routers if k != "nginx")
            if others or canary.traffic_routing.provider("nginx") is None:
                names = ", ".join(others) or "(none)"
                raise ValueError(f"canary.trafficRouting: router {names} is not supported; nginx is")
        self.canary = canary
        #: canary with traffic routing (nginx): weights through Ingresses, pods kept on scale-down delays
        self.routed = canary.traffic_routing is not None
        self.raw_steps: list[Mapping[str, Any]] = list(
            ((self.spec.get("strategy") or {}).get("canary") or {}).get("steps") or []
        )
        self.analysis: canary_analysis.AnalysisOutcome = canary_analysis.AnalysisOutcome()
        self.ingress_creates: list[dict[str, Any]] = []
        self.ingress_patches: list[tuple[str, dict[str, Any]]] = []
        #: ``status.canary.weights`` this reconcile wants (traffic routing only)
        self.weights: dict[str, Any] | None = None

    # --- lookups ---------------------------------------------------------------------------
    def current_pod_hash(self) -> str:
        return pod_hash_of(self.new_rs) if self.new_rs is not None else self.target_hash

    def template_or_steps_changed(self) -> bool:
        """Argo's ``PodTemplateOrStepsChanged`` against the status of the last reconcile."""
        old_steps = str(self.old_status.get("currentStepHash") or "")
        if old_steps and old_steps != step_hash(self.raw_steps or None):
            return True
        old_pod = str(self.old_status.get("currentPodHash") or "")
        return bool(old_pod) and old_pod != self.current_pod_hash()

    # --- the reconcile ---------------------------------------------------------------------
    def run(self) -> Plan:
        if self.template_or_steps_changed():
            self.sync_revision()
            if self.new_rs is None and not self.view.spec.paused:
                self.create_after_reset()
            return self.sync_status(changed=True)
        self.reconcile_restart()
        if self.new_rs is not None:
            self.sync_revision()
        if not self.view.spec.paused:
            if self.new_rs is None:
                self.create_new_rs()
            elif c.get_condition(self.status.get("conditions"), c.PROGRESSING) is None:
                self._set_progressing(
                    c.FOUND_NEW_RS_REASON, c.FOUND_NEW_RS_MESSAGE.format(name=self.new_name)
                )
        self.reconcile_ephemeral_metadata()
        if not self.view.spec.paused:
            self.cleanup_history()
        self.reconcile_analysis()
        self.reconcile_services()
        if self.routed:
            self.reconcile_traffic_routing()
        if not self.view.spec.paused and not self.reconcile_replica_sets():
            self.reconcile_pause()
        return self.sync_status(changed=False)

    def create_after_reset(self) -> None:
        """A new template: its ReplicaSet is created with the write that resets the status, sized
        from the reset status (step 0, no pause, no abort). Argo writes the reset, then creates
        the ReplicaSet on the reconcile that write triggers; the objects it ends with are the same.
        """
        for key in ("pauseConditions", "controllerPause", "abort", "abortedAt"):
            self.status.pop(key, None)
        self.status["promoteFull"] = False
        self.status["currentPodHash"] = self.target_hash
        if self.raw_steps:
            self.status["currentStepIndex"] = 0
        else:
            self.status.pop("currentStepIndex", None)
        self.create_new_rs()
        if not self.routed:  # and, replica-based, its first scaling round (a routed one waits on weights)
            self.reconcile_replica_sets()

    def reconcile_analysis(self) -> None:
        """Argo's ``reconcileAnalysisRuns`` (see :mod:`controller.core.canary_analysis`)."""
        step_count = len(self.raw_steps)
        index = int(self.old_status.get("currentStepIndex") or 0) if step_count else None
        raw_step = self.raw_steps[index] if index is not None and index < step_count else None
        stable = str(self.old_status.get("stableRS") or "")
        new_hash = pod_hash_of(self.new_rs)
        self.analysis = canary_analysis.reconcile_analysis(
            canary_analysis.AnalysisInput(
                rollout=self.rollout,
                runs=self.snap.analysis_runs,
                templates=self.snap.analysis_templates,
                cluster_templates=self.snap.cluster_analysis_templates,
                new_hash=new_hash,
                stable_hash=stable,
                replica_set_hashes=frozenset(pod_hash_of(rs) for rs in self.rss.values()),
                revision=self.revision(),
                step=raw_step,
                step_index=index if raw_step is not None else None,
                aborted=self.pause.aborted(),
                skip=bool(self.old_status.get("promoteFull")) or not stable or self.rollback_within_window(),
                fully_promoted=bool(stable) and stable == new_hash,
            )
        )
        self.take_analysis(self.analysis)

    def restart_max_unavailable(self) -> int:
        return restart.canary_max_unavailable(self.snap.rollout)

    def new_rs_size(self, rs: Mapping[str, Any]) -> int:
        """Argo's ``NewRSNewReplicas`` for the ReplicaSet about to be created."""
        return rmath.new_rs_new_replicas(self.rollout, [*self.rss.values(), rs], rs)

    def reconcile_services(self) -> None:
        """Argo's ``reconcileStableAndCanaryService`` for basic canary."""
        pairs = (
            (self.canary.stable_service, self.snap.stable_service, self.stable_rs),
            (self.canary.canary_service, self.snap.canary_service, self.new_rs),
        )
        for svc_name, svc, rs in pairs:
            if not svc_name or svc is None or rs is None:
                continue
            desired = pod_hash_of(rs)
            current = ((svc.get("spec") or {}).get("selector") or {}).get(POD_TEMPLATE_HASH_LABEL)
            if current == desired:
                continue
            managed = MANAGED_BY_ANNOTATION in ((svc.get("metadata") or {}).get("annotations") or {})
            fully_available = spec_replicas(rs) != 0 and 0 < spec_replicas(rs) <= status_count(
                rs, "availableReplicas"
            )
            if self.routed:
                # Argo's ensureSVCTargets: switch once the ReplicaSet has a pod to take traffic
                if status_count(rs, "availableReplicas") == 0:
                    continue
            elif not managed and not fully_available:
                continue  # adopting a Service: wait until its ReplicaSet can take the traffic
            self.selectors.append((svc_name, {POD_TEMPLATE_HASH_LABEL: desired}))

    # --- traffic routing (nginx) ------------------------------------------------------------
    def current_weights(self) -> rmath.TrafficWeights | None:
        """``status.canary.weights`` as the router applies them now (None: never set)."""
        weights = (self.old_status.get("canary") or {}).get("weights")
        if not isinstance(weights, Mapping):
            return None
        return rmath.TrafficWeights(
            canary=int((weights.get("canary") or {}).get("weight") or 0),
            stable=int((weights.get("stable") or {}).get("weight") or 0),
        )

    def desired_weight(self) -> int:
        """The canary weight of Argo's ``reconcileTrafficRouting``."""
        stable = str(self.old_status.get("stableRS") or "")
        new = self.new_rs
        if stable and stable == self.current_pod_hash():
            return 0  # fully promoted
        if self.pause.aborted():
            if self.canary.dynamic_stable_scale and self.stable_rs is not None:
                replicas = max(self.view.spec.replicas, 1)
                weight = 100 - (100 * status_count(self.stable_rs, "availableReplicas")) // replicas
                current = self.current_weights()
                return min(weight, current.canary) if current is not None else weight
            return 0
        if new is None or status_count(new, "availableReplicas") == 0:
            return 0
        if self.old_status.get("promoteFull"):
            if self.canary.dynamic_stable_scale:
                return (100 * status_count(new, "availableReplicas")) // max(self.view.spec.replicas, 1)
            current = self.current_weights()
            return current.canary if current is not None else 0
        step_count = len(self.raw_steps)
        index = int(self.old_status.get("currentStepIndex") or 0)
        if not step_count:
            return 100
        at_desired = rmath.at_desired_canary_counts(
            self.rollout, new, self.stable_rs, self.others(), self.current_weights()
        )
        if not at_desired:
            for step in reversed(self.raw_steps[: min(index, step_count)]):
                if step.get("setWeight") is not None:
                    return int(step["setWeight"])
            return 0
        if index < step_count:
            return rmath.desired_weight(self.raw_steps, index)
        return (
            int(self.canary.traffic_routing.max_traffic_weight or 100) if self.canary.traffic_routing else 100
        )

    def reconcile_traffic_routing(self) -> None:
        """Argo's ``reconcileTrafficRouting`` with the nginx router (see :mod:`.trafficrouting`)."""
        weight = self.desired_weight()
        step_count = len(self.raw_steps)
        index = int(self.old_status.get("currentStepIndex") or 0) if step_count else None
        prefix = str((trafficrouting.nginx_config(self.rollout) or {}).get("annotationPrefix") or "")
        header = {}
        stable_hash = pod_hash_of(self.stable_rs)
        fully_promoted = bool(stable_hash) and stable_hash == self.current_pod_hash()
        if not fully_promoted and not self.pause.aborted() and not self.old_status.get("promoteFull"):
            header = trafficrouting.header_route_annotations(
                self.raw_steps, index, prefix or trafficrouting.DEFAULT_ANNOTATION_PREFIX
            )
        outcome = trafficrouting.reconcile_nginx(
            self.rollout,
            self.snap.ingresses,
            weight=weight,
            canary_hash=pod_hash_of(self.new_rs),
            stable_hash=stable_hash,
            header_annotations=header,
        )
        self.ingress_creates.extend(outcome.create)
        self.ingress_patches.extend(outcome.patch)
        self.events.extend(outcome.events)
        self.weights = outcome.weights
        if outcome.weights is not None:
            event = trafficrouting.weight_event(
                (self.old_status.get("canary") or {}).get("weights"), outcome.weights
            )
            if event is not None:
                self.events.append(event)
        # moving back to a ReplicaSet still inside its scale-down delay: it stays (RemoveScaleDownDeadlines)
        for rs in (self.new_rs, self.stable_rs):
            if rs is None or (rs is self.new_rs and self.delay_scale_down_on_abort()):
                continue
            if SCALE_DOWN_DEADLINE_ANNOTATION in ((rs.get("metadata") or {}).get("annotations") or {}):
                self._set_deadline(rs, None)

    def abort_scale_down_delay(self) -> int | None:
        """Seconds before an aborted canary is scaled down (None: never), traffic routing only."""
        value = self.canary.abort_scale_down_delay_seconds
        if value is None:
            return DEFAULT_SCALE_DOWN_DELAY
        return None if value == 0 else int(value)

    def delay_scale_down_on_abort(self) -> bool:
        """Argo's ``shouldDelayScaleDownOnAbort``."""
        return self.routed and self.pause.aborted() and self.abort_scale_down_delay() is not None

    def _set_deadline(self, rs: dict[str, Any], deadline: datetime | None) -> None:
        """Set (or with None remove) a ReplicaSet's ``scale-down-deadline`` annotation."""
        value = None if deadline is None else c.format_time(deadline)
        annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
        if value is None:
            annotations.pop(SCALE_DOWN_DEADLINE_ANNOTATION, None)
        else:
            annotations[SCALE_DOWN_DEADLINE_ANNOTATION] = value
        self._patch_rs(name_of(rs), {"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: value}}})

    def _deadline(self, rs: Mapping[str, Any]) -> datetime | None:
        raw = ((rs.get("metadata") or {}).get("annotations") or {}).get(SCALE_DOWN_DEADLINE_ANNOTATION)
        return c.parse_time(raw)

    def _delay_helper(self, rs: dict[str, Any], annotated: int, limit: int) -> tuple[int, int]:
        """Argo's ``scaleDownDelayHelper``: (annotated so far, the count ``rs`` should have now)."""
        has_deadline = SCALE_DOWN_DEADLINE_ANNOTATION in ((rs.get("metadata") or {}).get("annotations") or {})
        if not has_deadline and spec_replicas(rs) > 0:
            if annotated < limit:
                delay = self.canary.scale_down_delay_seconds
                seconds = DEFAULT_SCALE_DOWN_DELAY if delay is None else int(delay)
                self._set_deadline(rs, aware(self.now) + timedelta(seconds=seconds))
                self._requeue(float(seconds))
                return annotated + 1, spec_replicas(rs)
            return annotated, 0
        if has_deadline:
            annotated += 1
            if annotated <= limit:
                deadline = self._deadline(rs)
                if deadline is not None and deadline > aware(self.now):
                    self._requeue((deadline - aware(self.now)).total_seconds())
                    return annotated, self.view.spec.replicas
        return annotated, 0

    def reconcile_replica_sets(self) -> bool:
        """Argo's ``reconcileCanaryReplicaSets``: one scaling round; True when something scaled."""
        new, stable = self.new_rs, self.stable_rs
        weights = self.current_weights()
        if stable is not None and self.stable_name != self.new_name:
            counts = rmath.canary_counts_for_rollout(self.rollout, new, stable, self.others(), weights)
            if self._scale(stable, counts.stable):
                return True
        if new is not None:
            count = rmath.new_rs_new_replicas(self.rollout, list(self.rss.values()), new, weights)
            if self.routed and self.pause.aborted() and self.abort_scale_down_delay() is None:
                count = max(count, spec_replicas(new))  # abortScaleDownDelaySeconds: 0 keeps it up
            if self.delay_scale_down_on_abort():
                deadline = self._deadline(new)
                if deadline is not None:
                    if deadline > aware(self.now):
                        self._requeue((deadline - aware(self.now)).total_seconds())
                        return self._scale_down_others()
                    count = 0
                else:
                    delay = self.abort_scale_down_delay() or 0
                    self._set_deadline(new, aware(self.now) + timedelta(seconds=delay))
                    self._requeue(float(delay))
                    count = spec_replicas(new)
            if self._scale(new, count):
                return True
        return self._scale_down_others()

    def _scale(self, rs: dict[str, Any], count: int) -> bool:
        """Argo's ``scaleReplicaSetAndRecordEvent``; a full scale-down also drops the scale-down
        deadline (unless an aborted canary waits on it)."""
        if spec_replicas(rs) == count:
            return False
        deadline_kept = rs is self.new_rs and self.delay_scale_down_on_abort()
        if count == 0 and self._deadline(rs) is not None and not deadline_kept:
            self._set_deadline(rs, None)
        return self._resize(rs, count)

    def _scale_down_others(self) -> bool:
        """Argo's ``reconcileOtherReplicaSets`` with ``scaleDownOldReplicaSetsForCanary``."""
        others = [rs for rs in self.others() if spec_replicas(rs) > 0]
        if not others:
            return False
        scaled = False
        for rs in sorted(others, key=creation_key):  # cleanupUnhealthyReplicas
            available = status_count(rs, "availableReplicas")
            if spec_replicas(rs) > available:
                scaled = self._scale(rs, available) or scaled
        available_total = sum(status_count(rs, "availableReplicas") for rs in self.rss.values())
        replicas = self.view.spec.replicas
        min_available = replicas - rmath.max_unavailable_value(
            replicas=replicas, max_surge=self._surge(), max_unavailable=self._unavailable()
        )
        budget = available_total - min_available
        annotated = 0
        limit = self.canary.scale_down_delay_revision_limit
        for rs in sorted(others, key=revision_of, reverse=True):
            if budget <= 0:
                break
            current = spec_replicas(rs)
            if current == 0:
                continue
            if self.routed:
                # traffic-routed: old pods stay up until their scale-down deadline
                annotated, desired = self._delay_helper(rs, annotated, 2**31 - 1 if limit is None else limit)
            else:
                desired = current - budget if current > budget else 0
            if current == desired:
                continue
            if self._scale(rs, desired):
                scaled = True
                budget -= current - desired
        return scaled

    def _surge(self) -> int | str:
        return (self.spec.get("strategy") or {}).get("canary", {}).get("maxSurge") or rmath.DEFAULT_MAX_SURGE

    def _unavailable(self) -> int | str:
        raw = (self.spec.get("strategy") or {}).get("canary", {}).get("maxUnavailable")
        return rmath.DEFAULT_MAX_UNAVAILABLE if raw is None else raw

    def reconcile_pause(self) -> None:
        """Argo's ``reconcileCanaryPause``: add the step's pause condition, requeue for its end."""
        if self.old_status.get("promoteFull"):
            return
        step, index = self._current_step()
        if not isinstance(step, Pause) or index is None:
            return
        condition = self.pause.condition(c.PAUSE_CANARY_STEP)
        if condition is None:
            if not self.old_status.get("controllerPause"):
                self._add_step_pause(step)
            return
        if step.duration is None:
            return
        start = c.parse_time(condition.get("startTime"))
        if start is None:
            return
        remaining = (start + timedelta(seconds=int(step.duration)) - aware(self.now)).total_seconds()
        if remaining > 0:
            self._requeue(remaining)

    def _current_step(self) -> tuple[object | None, int | None]:
        steps = self.canary.steps
        if not steps:
            return None, None
        index = int(self.old_status.get("currentStepIndex") or 0)
        return (steps[index] if index < len(steps) else None), index

    def completed_current_step(self) -> bool:
        """Argo's ``completedCurrentCanaryStep`` for setWeight and pause steps."""
        if self.view.spec.paused:
            return False
        step, _ = self._current_step()
        if isinstance(step, Pause):
            condition = self.pause.condition(c.PAUSE_CANARY_STEP)
            if condition is None:
                # promoted: the CLI cleared pauseConditions after the controller paused
                return bool(self.old_status.get("controllerPause"))
            if step.duration is None:
                return False
            start = c.parse_time(condition.get("startTime"))
            return start is not None and aware(self.now) > start + timedelta(seconds=int(step.duration))
        if isinstance(step, SetWeight):
            return rmath.at_desired_canary_counts(self.rollout, self.new_rs, self.stable_rs, self.others())
        if isinstance(step, Analysis):
            return run_phase(self.analysis.step_run) == "Successful"
        # setCanaryScale / setHeaderRoute / setMirrorRoute are applied by this reconcile itself
        return isinstance(step, SetCanaryScale | SetHeaderRoute | SetMirrorRoute)

    # --- status ----------------------------------------------------------------------------
    def base_status(self) -> dict[str, Any]:
        """Argo's ``calculateBaseStatus`` plus the canary fields of ``syncRolloutStatusCanary``."""
        all_rss = list(self.rss.values())
        new = self.new_rs
        conditions = list(self.status.get("conditions") or ())
        conditions = c.remove_condition(conditions, c.INVALID_SPEC)
        conditions = paused_conditions(self.rollout, conditions, self.now)
        current = self.current_pod_hash()
        stable = str(self.old_status.get("stableRS") or "")
        status: dict[str, Any] = {
            "currentPodHash": current,
            "replicas": sum(status_count(rs, "replicas") for rs in all_rss),
            "updatedReplicas": status_count(new, "replicas"),
            "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in all_rss),
            "availableReplicas": sum(status_count(rs, "availableReplicas") for rs in all_rss),
            "HPAReplicas": sum(status_count(rs, "replicas") for rs in all_rss),
            "selector": format_selector(self.spec.get("selector") or {}),
            "stableRS": stable,
            "currentStepHash": step_hash(self.raw_steps or None),
            "conditions": conditions,
            "promoteFull": current != stable and bool(self.old_status.get("promoteFull")),
            "canary": {},
            "blueGreen": {},
        }
        for key in ("collisionCount", "restartedAt", "workloadObservedGeneration"):
            if self.old_status.get(key) is not None:
                status[key] = self.old_status[key]
        return status

    def sync_status(self, *, changed: bool) -> Plan:
        """Argo's ``syncRolloutStatusCanary`` then ``persistRolloutStatus``."""
        status = self.base_status()
        if not changed:  # a reset forgets the runs (Argo's resetRolloutStatus)
            runs = {
                canary_analysis.STEP_STATUS_KEY: self.analysis.step_status(),
                canary_analysis.BACKGROUND_STATUS_KEY: self.analysis.background_status(),
            }
            status["canary"] = {k: v for k, v in runs.items() if v is not None}
            if self.weights is not None:
                status["canary"]["weights"] = self.weights
        step_count = len(self.raw_steps)
        _, index = self._current_step()
        if changed:
            self.pause.clear = True
            self.pause.remove_abort = True
            status["promoteFull"] = False
            self.restarted = True  # Argo's resetRolloutStatus: new pods anyway
            index = 0 if step_count else None
            new = self.new_rs
            if new is not None and status["stableRS"] == pod_hash_of(new) and step_count:
                self.events.append((NORMAL, SKIP_STEPS_REASON, ROLLBACK_TO_STABLE_MESSAGE))
                index = step_count
            elif self.rollback_within_window() and step_count:
                self.events.append((NORMAL, SKIP_STEPS_REASON, ROLLBACK_WITHIN_WINDOW_MESSAGE))
                index = step_count
            return self.persist(status, index)
        if self.old_status.get("promoteFull"):
            self.pause.clear = True
            self.pause.remove_abort = True
            if step_count:
                index = step_count
        reason = self.should_full_promote(index)
        if reason:
            return self.persist(self.promote(status, reason), step_count if step_count else None)
        if self.pause.aborted():
            if step_count:
                index = step_count if status["stableRS"] == status["currentPodHash"] else 0
            return self.persist(status, index)
        if index is not None and self.completed_current_step():
            index += 1
            message = c.ROLLOUT_STEP_COMPLETED_MESSAGE.format(
                step=index, total=step_count, description=step_string(self.raw_steps[index - 1])
            )
            self.events.append((NORMAL, c.ROLLOUT_STEP_COMPLETED_REASON, message))
            self.pause.remove_reasons.append(c.PAUSE_CANARY_STEP)
            # the last step done: promoted in the same write (Argo promotes one reconcile later,
            # from the status this write makes; the status it ends with is the same)
            reason = self.should_full_promote(index) if index == step_count else ""
            if reason:
                status = self.promote(status, reason)
            else:
                self.start_pause_step(index)
        return self.persist(status, index)

    def start_pause_step(self, index: int) -> None:
        """The step just reached is a pause: it starts with the write that reaches it (Argo adds
        it one reconcile later, from the status this write makes). Only when no pause is on record,
        so that the pause bookkeeping of the step just left cannot hide the new one."""
        steps = self.canary.steps
        step = steps[index] if index < len(steps) else None
        if not isinstance(step, Pause) or self.old_status.get("promoteFull") or self.view.spec.paused:
            return
        if self.old_status.get("pauseConditions") or self.old_status.get("controllerPause"):
            return
        self._add_step_pause(step)

    def _add_step_pause(self, step: Pause) -> None:
        """The ``CanaryPauseStep`` pause condition, and a requeue for the end of a timed pause."""
        self.pause.add_reasons.append(c.PAUSE_CANARY_STEP)
        if step.duration is not None:
            self._requeue(float(int(step.duration)))

    def promote(self, status: dict[str, Any], reason: str) -> dict[str, Any]:
        """Argo's ``promoteStable``: the new ReplicaSet becomes stable, the pause and abort go."""
        self.pause.clear = True
        self.pause.remove_abort = True
        status["promoteFull"] = False
        if status["stableRS"] != status["currentPodHash"]:
            status["stableRS"] = status["currentPodHash"]
            message = c.ROLLOUT_COMPLETED_MESSAGE.format(
                revision=self.revision(), pod_hash=status["currentPodHash"], detail=reason
            )
            self.events.append((NORMAL, c.ROLLOUT_COMPLETED_REASON, message))
        return status

    def should_full_promote(self, index: int | None) -> str:
        """Argo's ``shouldFullPromote`` for canary."""
        if self.stable_rs is None:
            return "Initial deploy"
        if self.pause.aborted():
            return ""
        new = self.new_rs
        if new is None or status_count(new, "availableReplicas") != self.view.spec.replicas:
            return ""
        if self.old_status.get("promoteFull"):
            return "Full promotion requested"
        step_count = len(self.raw_steps)
        if step_count == 0 or index == step_count:
            return f"Completed all {step_count} canary steps"
        return ""

    def persist(self, status: dict[str, Any], index: int | None) -> Plan:
        """Conditions, pause bookkeeping, phase, and the diff against the observed status."""
        if index is not None:
            status["currentStepIndex"] = index
        self.record_progress_fields(status)
        # conditions judge "aborted" before the pause context writes the new abort flag
        conds, events, add_abort = rollout_conditions(
            self.rollout,
            status,
            abort_message=self.abort_message,
            aborted=self.pause.aborted(),
            new_rs_name=self.new_name,
            all_available=status["availableReplicas"],
            revision=self.revision(),
            now=self.now,
        )
        status["conditions"] = conds
        self.events.extend(events)
        self.pause.add_abort = self.pause.add_abort or add_abort
        self.pause.apply(status, self.now)
        # the Paused/Progressing conditions of the pause this very write starts or ends (Argo
        # writes them one reconcile later, in a patch of their own)
        status["conditions"] = paused_conditions(
            {"spec": self.spec, "status": status}, status["conditions"], self.now
        )
        phase, message = calculate_phase({"spec": self.spec, "status": status})
        status["phase"], status["message"] = str(phase), message
        return self.plan(
            status,
            status_merge_patch(self.old_status, status),
            create_ingresses=tuple(self.ingress_creates),
            patch_ingresses=tuple(self.ingress_patches),
        )


__all__ = ["MANAGED_BY_ANNOTATION", "plan_canary"]
