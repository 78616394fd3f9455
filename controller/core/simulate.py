"""A dry run of a canary update through the controller's own planner (``rollouts plan``).

:func:`simulate_update` takes a Rollout manifest and plays the update it describes: a stable
revision runs at full size, then the manifest's pod template arrives as a new revision. Each
round calls :func:`controller.core.canary.plan_canary` — the very function the controller runs
— on a snapshot of the simulated objects, applies the :class:`~controller.core.plan.Plan` it
returns (ReplicaSets created, scaled, deleted; the ``/status`` merge patch), and then lets every
ReplicaSet's pods become available at once. When a plan changes nothing the simulation waits as
the controller would: a timed pause moves the simulated clock forward by the plan's requeue
delay; an indefinite pause is promoted (pause conditions cleared, exactly the status patch
``rollouts promote`` sends); the AnalysisRun of an analysis step is created by the planner and
then ends Successful; a step the planner does not act on (an experiment) is stepped over the
way ``promote`` skips it. AnalysisTemplates come from the manifest's file when it has them; a
template it names but the file lacks is stood in for by an empty one (the run's result is
simulated anyway). The result is, per canary step, the
stable and canary pod counts, the canary's share of traffic, what the step waits for, and when
it starts, plus the totals.

Assumptions, stated in every result: pods start and become ready instantly (real start-up and
readiness time come on top), and traffic follows ready pods — without a traffic router, a
Service balances over its endpoints, so the canary's share is its share of available pods.

Pure: no I/O and no clock; the simulated clock starts at :data:`SIM_START`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from controller.api import validate_rollout
from controller.api.values import DurationError, pause_duration_seconds
from controller.core.bluegreen import plan_bluegreen
from controller.core.canary import MANAGED_BY_ANNOTATION, plan_canary
from controller.core.conditions import format_time
from controller.core.phase import calculate_phase
from controller.core.plan import Plan, apply_merge_patch
from controller.core.replicas import desired_weight
from controller.core.snapshot import Snapshot, name_of, pod_hash_of
from controller.core.trafficrouting import stable_ingress_names

#: the simulated clock's origin (any fixed instant: only differences are reported)
SIM_START: Final = datetime(2000, 1, 1, tzinfo=UTC)
#: pod-template annotation that makes the simulated previous revision differ from the manifest's
PREVIOUS_REVISION_ANNOTATION: Final = "rollouts.plan/previous-revision"
#: rounds after which a simulation that has not settled is reported as stuck
MAX_ROUNDS: Final = 5000
#: the clock moves this much past a requeue delay, as a pause ends strictly after its duration
_TICK: Final = 0.001

#: labels the controller puts on the AnalysisRun of a step (Argo's rollout-type / step-index)
RUN_TYPE_LABEL: Final = "rollout-type"
STEP_INDEX_LABEL: Final = "step-index"
COMPLETED_RUN_PHASES: Final = frozenset({"Successful", "Failed", "Error", "Inconclusive"})

#: what a step waits for, besides time
WAIT_NONE: Final = ""
WAIT_PROMOTION: Final = "promotion"
WAIT_ANALYSIS: Final = "analysis"
WAIT_EXPERIMENT: Final = "experiment"

ASSUMPTIONS: Final = (
    "pods start and become ready instantly (their start-up and readiness time come on top)",
    "without a traffic router, traffic follows ready pods: the canary's share is its share of available pods",
    "with ingress-nginx routing, the canary's share is the weight on its canary Ingress",
)


STRATEGY_BASIC: Final = "canary without traffic routing (traffic follows ready pods)"
STRATEGY_NGINX: Final = (
    "canary with ingress-nginx traffic routing (traffic follows the canary Ingress weight)"
)
STRATEGY_BLUE_GREEN: Final = "blue-green (the active Service moves all traffic at once)"


class SimulationError(ValueError):
    """The manifest cannot be simulated; the message says why and what to do."""


@dataclass(frozen=True)
class StepPlan:
    """One canary step as the update would run it."""

    #: 1-based position in ``spec.strategy.canary.steps``
    number: int
    #: the step as written, e.g. ``setWeight: 20``, ``pause: 30s``, ``pause``
    description: str
    #: the step's kind: setWeight, pause, analysis, experiment, ...
    kind: str
    #: the desired canary weight while this step runs (Argo's SetWeight)
    set_weight: int
    #: pods of the stable (previous) revision when the step is done
    stable_pods: int
    #: pods of the canary (new) revision when the step is done
    canary_pods: int
    #: the canary's share of traffic in percent (its share of available pods, rounded down)
    canary_traffic: int
    #: seconds the step waits on the clock (a timed pause); 0 for steps that do not wait
    wait_seconds: float
    #: what else it waits for: "" (nothing), "promotion", "analysis" or "experiment"
    waits_for: str
    #: simulated seconds of waiting since the update began, when this step starts
    starts_at: float
    #: reconciles that created or scaled a ReplicaSet while this step ran
    scaling_rounds: int


@dataclass(frozen=True)
class Simulation:
    """The whole update: the steps, the promoted end state, and the totals."""

    name: str
    replicas: int
    steps: tuple[StepPlan, ...]
    #: pods of the new revision once fully promoted (``replicas``)
    promoted_pods: int
    #: simulated seconds of waiting before the new revision is fully promoted
    total_seconds: float
    #: reconciles that created or scaled a ReplicaSet, over the whole update
    scaling_rounds: int
    #: steps that wait for something besides time (promotion, an analysis, an experiment)
    waits: tuple[StepPlan, ...] = ()
    assumptions: tuple[str, ...] = ASSUMPTIONS
    #: how the update moves traffic, in words
    strategy: str = ""

    @property
    def open_ended(self) -> bool:
        """Whether the total time depends on something besides the clock."""
        return bool(self.waits)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (``rollouts plan -o json``)."""
        return {
            "name": self.name,
            "replicas": self.replicas,
            "strategy": self.strategy or STRATEGY_BASIC,
            "steps": [_step_dict(s) for s in self.steps],
            "promoted": {"stablePods": 0, "canaryPods": self.promoted_pods, "canaryTraffic": 100},
            "totalSeconds": round(self.total_seconds, 3),
            "waitsFor": [{"step": s.number, "for": s.waits_for} for s in self.waits],
            "scalingRounds": self.scaling_rounds,
            "assumptions": list(self.assumptions),
        }


def _step_dict(step: StepPlan) -> dict[str, Any]:
    return {
        "step": step.number,
        "description": step.description,
        "kind": step.kind,
        "setWeight": step.set_weight,
        "stablePods": step.stable_pods,
        "canaryPods": step.canary_pods,
        "canaryTraffic": step.canary_traffic,
        "waitSeconds": step.wait_seconds,
        "waitsFor": step.waits_for,
        "startsAt": round(step.starts_at, 3),
        "scalingRounds": step.scaling_rounds,
    }


def describe_step(step: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, description) of a raw canary step, e.g. ``("pause", "pause: 30s")``."""
    kind = next(iter(step), "")
    body = step.get(kind)
    if kind == "setWeight":
        return kind, f"setWeight: {body}"
    if kind == "pause":
        duration = (body or {}).get("duration") if isinstance(body, Mapping) else None
        return kind, "pause" if duration is None else f"pause: {duration}"
    if kind == "analysis":
        names = [str(t.get("templateName", "")) for t in (body or {}).get("templates") or ()]
        return kind, f"analysis: {', '.join(names)}" if names else "analysis"
    if kind == "experiment":
        duration = (body or {}).get("duration")
        return kind, f"experiment: {duration}" if duration else "experiment"
    if kind == "setCanaryScale" and isinstance(body, Mapping):
        inner = ", ".join(f"{k}={v}" for k, v in body.items())
        return kind, f"setCanaryScale: {inner}"
    return kind, kind


# -- the simulated cluster ------------------------------------------------------------------------


@dataclass
class _World:
    """The Rollout and its ReplicaSets as the simulated cluster holds them."""

    rollout: dict[str, Any]
    rss: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    cluster_templates: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Ingresses by name (traffic routing: the stable ones, and the canary ones the planner makes)
    ingresses: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Services by name (blue-green: active and preview)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: datetime = SIM_START
    created: int = 0
    #: whether the last reconcile changed any object (a plan may write what is already there)
    changed: bool = False

    def reconcile(self) -> Plan:
        """One reconcile by the controller's planner, applied, then every pod made available."""
        strategy = (self.rollout.get("spec") or {}).get("strategy") or {}
        blue_green = strategy.get("blueGreen") or {}
        snapshot = Snapshot(
            rollout=self.rollout,
            replica_sets=tuple(self.rss.values()),
            now=self.now,
            analysis_runs=tuple(self.runs.values()),
            analysis_templates=self.templates,
            cluster_analysis_templates=self.cluster_templates,
            ingresses=self.ingresses,
            active_service=self.services.get(str(blue_green.get("activeService") or "")),
            preview_service=self.services.get(str(blue_green.get("previewService") or "")),
        )
        planner = plan_bluegreen if blue_green else plan_canary
        try:
            plan = planner(snapshot)
        except ValueError as e:
            raise SimulationError(f"the controller's planner cannot run this Rollout: {e}") from e
        before = copy.deepcopy((self.rollout, self.rss, self.runs, self.ingresses, self.services))
        self._apply(plan)
        self.changed = before != (self.rollout, self.rss, self.runs, self.ingresses, self.services)
        return plan

    def _apply(self, plan: Plan) -> None:
        for name in plan.delete_replica_sets:
            self.rss.pop(name, None)
        for body in plan.create_replica_sets:
            rs = copy.deepcopy(body)
            self.created += 1
            meta = rs.setdefault("metadata", {})
            meta["uid"] = f"sim-rs-{self.created}"
            meta["creationTimestamp"] = format_time(self.now)
            meta["generation"] = 1
            self.rss[name_of(rs)] = rs
        for name, patch in plan.update_replica_sets:
            if name in self.rss:
                self.rss[name] = apply_merge_patch(self.rss[name], patch)
        for body in plan.create_ingresses:
            self.ingresses[name_of(body)] = copy.deepcopy(dict(body))
        for name, patch in plan.patch_ingresses:
            self.ingresses[name] = apply_merge_patch(self.ingresses.get(name) or {}, patch)
        for svc_name, selector in plan.service_selectors:
            svc = self.services.setdefault(
                svc_name, {"metadata": {"name": svc_name}, "spec": {"selector": {}}}
            )
            svc["spec"]["selector"] = {**(svc["spec"].get("selector") or {}), **selector}
            svc["metadata"].setdefault("annotations", {})[MANAGED_BY_ANNOTATION] = name_of(self.rollout)
        for name, count in plan.scale:
            rs = self.rss[name]
            rs.setdefault("spec", {})["replicas"] = count
            meta = rs.setdefault("metadata", {})
            meta["generation"] = int(meta.get("generation") or 1) + 1
        annotations = getattr(plan, "rollout_annotations", None)
        if annotations:
            meta = self.rollout.get("metadata") or {}
            patch = {"metadata": {"annotations": dict(annotations)}}
            self.rollout = apply_merge_patch({**self.rollout, "metadata": meta}, patch)
        self._apply_runs(plan)
        if plan.status_patch:
            self.rollout = apply_merge_patch(self.rollout, plan.status_patch)
        for rs in self.rss.values():
            count = int((rs.get("spec") or {}).get("replicas") or 0)
            rs["status"] = {
                "replicas": count,
                "fullyLabeledReplicas": count,
                "readyReplicas": count,
                "availableReplicas": count,
                "observedGeneration": int((rs.get("metadata") or {}).get("generation") or 1),
            }

    def _apply_runs(self, plan: Plan) -> None:
        """AnalysisRuns: created Running, terminated ones end Successful, deleted ones go."""
        for body in getattr(plan, "create_analysis_runs", ()):
            run = copy.deepcopy(dict(body))
            self.created += 1
            meta = run.setdefault("metadata", {})
            meta.setdefault("name", f"sim-run-{self.created}")
            meta["uid"] = f"sim-run-{self.created}"
            meta["creationTimestamp"] = format_time(self.now)
            run["status"] = {"phase": "Running", "startedAt": format_time(self.now)}
            self.runs[name_of(run)] = run
        for name in getattr(plan, "terminate_analysis_runs", ()):
            if name in self.runs:
                self.runs[name].setdefault("spec", {})["terminate"] = True
                self.runs[name]["status"] = {"phase": "Successful", "message": "Run Terminated"}
        for name in getattr(plan, "delete_analysis_runs", ()):
            self.runs.pop(name, None)

    def finish_step_runs(self, index: int) -> bool:
        """The running AnalysisRuns of step ``index`` end Successful; whether there were any."""
        finished = False
        for run in self.runs.values():
            labels = (run.get("metadata") or {}).get("labels") or {}
            phase = str((run.get("status") or {}).get("phase") or "")
            if str(labels.get(STEP_INDEX_LABEL)) == str(index) and phase not in COMPLETED_RUN_PHASES:
                run["status"] = {**(run.get("status") or {}), "phase": "Successful"}
                finished = True
        return finished

    @property
    def status(self) -> Mapping[str, Any]:
        status: Mapping[str, Any] = self.rollout.get("status") or {}
        return status

    def pods(self) -> tuple[int, int]:
        """(stable pods, canary pods): the stable ReplicaSet's and the current revision's."""
        stable_hash = str(self.status.get("stableRS") or "")
        current_hash = str(self.status.get("currentPodHash") or "")
        stable = canary = 0
        for rs in self.rss.values():
            count = int((rs.get("spec") or {}).get("replicas") or 0)
            pod_hash = pod_hash_of(rs)
            if pod_hash == current_hash:
                canary += count
            elif pod_hash == stable_hash:
                stable += count
        return stable, canary

    def settled(self) -> bool:
        """Healthy and fully promoted to the current template."""
        status = self.status
        phase, _ = calculate_phase(self.rollout)
        stable = str(status.get("stableRS") or "")
        return phase == "Healthy" and stable != "" and stable == status.get("currentPodHash")

    def promote(self) -> None:
        """What ``rollouts promote`` does at a paused step: clear the pause conditions."""
        self.rollout = apply_merge_patch(self.rollout, {"status": {"pauseConditions": None}})

    def skip_step(self, index: int) -> None:
        """What ``rollouts promote`` does mid-analysis: move to the next step."""
        patch = {"status": {"pauseConditions": None, "currentStepIndex": index + 1}}
        self.rollout = apply_merge_patch(self.rollout, patch)

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=max(seconds, 0.0) + _TICK)


# -- the simulation -------------------------------------------------------------------------------


def simulate_update(
    manifest: Mapping[str, Any],
    *,
    replicas: int | None = None,
    templates: Sequence[Mapping[str, Any]] = (),
) -> Simulation:
    """Play the update of ``manifest`` (a canary Rollout) from a stable previous revision.

    ``replicas`` overrides ``spec.replicas``; ``templates`` are the AnalysisTemplates and
    ClusterAnalysisTemplates at hand (those of the manifest's file). Raises
    :class:`SimulationError` for a manifest that is not a valid canary Rollout the controller's
    planner can run.
    """
    rollout = _prepare(manifest, replicas)
    if ((rollout["spec"].get("strategy") or {}).get("blueGreen")) is not None:
        return _simulate_bluegreen(rollout, templates)
    steps: list[Mapping[str, Any]] = list(
        ((rollout["spec"].get("strategy") or {}).get("canary") or {}).get("steps") or []
    )
    world = _World(rollout=_with_previous_template(rollout))
    world.templates, world.cluster_templates = _templates(rollout, templates)
    world.ingresses = _stable_ingresses(rollout)
    _settle_initial_deploy(world)
    # the update: the manifest's own template arrives as a new revision
    world.rollout = {
        **world.rollout,
        "metadata": {**world.rollout["metadata"], "generation": 2},
        "spec": copy.deepcopy(rollout["spec"]),
    }
    return _run_update(world, steps, name_of(rollout), int(rollout["spec"].get("replicas", 1)))


def _prepare(manifest: Mapping[str, Any], replicas: int | None) -> dict[str, Any]:
    if manifest.get("kind") != "Rollout":
        raise SimulationError(f"expected a Rollout, got kind {manifest.get('kind')!r}")
    rollout = copy.deepcopy(dict(manifest))
    rollout.pop("status", None)
    spec = rollout.setdefault("spec", {})
    if replicas is not None:
        if replicas < 0:
            raise SimulationError(f"--replicas must be 0 or more, not {replicas}")
        spec["replicas"] = replicas
    spec.setdefault("replicas", 1)
    meta = rollout.setdefault("metadata", {})
    meta.setdefault("name", "rollout")
    meta.setdefault("namespace", "default")
    meta["uid"] = "sim-rollout"
    meta["generation"] = 1
    name = meta["name"]
    problems = validate_rollout(rollout)
    if problems:
        raise SimulationError(
            f'Rollout "{name}" is not valid: {problems[0]}'
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            + "; `rollouts lint -f FILE` lists every problem"
        )
    if spec.get("workloadRef") is not None:
        raise SimulationError(
            f'Rollout "{name}" takes its pod template from spec.workloadRef; plan needs spec.template'
        )
    if spec.get("paused"):
        raise SimulationError(
            f'Rollout "{name}" has spec.paused: true, so the update would not start until resumed; '
            "remove it to plan the update"
        )
    return rollout


def _template_refs(rollout: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every ``templates[]`` entry of the Rollout's step and background analyses."""
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    canary = strategy.get("canary") or {}
    analyses = [canary.get("analysis")] + [
        step.get("analysis") for step in canary.get("steps") or () if isinstance(step, Mapping)
    ]
    refs: list[Mapping[str, Any]] = []
    for analysis in analyses:
        if isinstance(analysis, Mapping):
            refs.extend(t for t in analysis.get("templates") or () if isinstance(t, Mapping))
    return refs


def _templates(
    rollout: Mapping[str, Any], given: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Mapping[str, Any]], dict[str, Mapping[str, Any]]]:
    """(AnalysisTemplates, ClusterAnalysisTemplates) by name: those given, and empty stand-ins
    for any other the Rollout names (the simulation decides the runs' results itself)."""
    namespaced: dict[str, Mapping[str, Any]] = {}
    cluster: dict[str, Mapping[str, Any]] = {}
    for template in given:
        target = cluster if template.get("kind") == "ClusterAnalysisTemplate" else namespaced
        target[name_of(template)] = template
    for ref in _template_refs(rollout):
        name = str(ref.get("templateName") or "")
        kind = "ClusterAnalysisTemplate" if ref.get("clusterScope") else "AnalysisTemplate"
        target = cluster if ref.get("clusterScope") else namespaced
        if name and name not in target:
            target[name] = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": kind,
                "metadata": {"name": name, "namespace": (rollout.get("metadata") or {}).get("namespace")},
                "spec": {
                    "metrics": [{"name": "simulated", "provider": {"web": {"url": "http://simulated"}}}]
                },
            }
    return namespaced, cluster


def _simulate_bluegreen(rollout: dict[str, Any], templates: Sequence[Mapping[str, Any]]) -> Simulation:
    """Blue-green through :func:`~controller.core.bluegreen.plan_bluegreen`: the phases of the
    update (preview up, pause, switch, old revision scaled down), each a :class:`StepPlan`."""
    name = name_of(rollout)
    replicas = int(rollout["spec"].get("replicas", 1))
    blue_green = rollout["spec"]["strategy"]["blueGreen"]
    world = _World(rollout=_with_previous_template(rollout))
    world.templates, world.cluster_templates = _templates(rollout, templates)
    for key in ("activeService", "previewService"):
        if blue_green.get(key):
            svc = str(blue_green[key])
            world.services[svc] = {"metadata": {"name": svc}, "spec": {"selector": {}}}
    _settle_initial_deploy(world)
    world.rollout = {
        **world.rollout,
        "metadata": {**world.rollout["metadata"], "generation": 2},
        "spec": copy.deepcopy(rollout["spec"]),
    }
    start = world.now
    phases: list[StepPlan] = []
    waits_for = WAIT_NONE
    paused_for = 0.0
    preview_at: float | None = None
    switched_at: float | None = None
    active = str(blue_green.get("activeService") or "")

    def active_hash() -> str:
        return str(
            ((world.services.get(active) or {}).get("spec") or {})
            .get("selector", {})
            .get("rollouts-pod-template-hash")
            or ""
        )

    def seconds() -> float:
        return _seconds(world.now - start)

    for _ in range(MAX_ROUNDS):
        plan = world.reconcile()
        counts = [
            (pod_hash_of(rs), int((rs.get("spec") or {}).get("replicas") or 0)) for rs in world.rss.values()
        ]
        current_hash = str(world.status.get("currentPodHash") or "")
        new = sum(n for h, n in counts if h == current_hash)
        stable = sum(n for h, n in counts if h != current_hash)
        current = str(world.status.get("currentPodHash") or "")
        if preview_at is None and new > 0 and current != active_hash():
            new_rs = next((rs for rs in world.rss.values() if pod_hash_of(rs) == current), None)
            if new_rs is not None and int((new_rs.get("status") or {}).get("availableReplicas") or 0) == new:
                preview_at = seconds()
                phases.append(
                    _phase(
                        1,
                        "preview",
                        f"preview: {new} pod{'' if new == 1 else 's'}",
                        stable,
                        new,
                        0,
                        0.0,
                        WAIT_NONE,
                        preview_at,
                    )
                )
        if switched_at is None and current and active_hash() == current:
            switched_at = seconds()
            if paused_for or waits_for:
                phases.append(
                    _phase(
                        len(phases) + 1,
                        "pause",
                        "pause before the switch",
                        stable,
                        new,
                        0,
                        paused_for,
                        waits_for,
                        preview_at or 0.0,
                    )
                )
            phases.append(
                _phase(
                    len(phases) + 1,
                    "switch",
                    "switch the active Service",
                    stable,
                    new,
                    100,
                    0.0,
                    WAIT_NONE,
                    switched_at,
                )
            )
        if world.changed:
            continue
        if world.settled() and stable == 0:
            break
        reasons = {c.get("reason") for c in world.status.get("pauseConditions") or ()}
        if "BlueGreenPause" in reasons and plan.requeue_after is None:
            waits_for = WAIT_PROMOTION
            world.promote()
            continue
        if plan.requeue_after is not None:
            if switched_at is None:
                paused_for += plan.requeue_after
            world.wait(plan.requeue_after)
            continue
        if world.settled():
            break
        raise SimulationError(
            f'the update of Rollout "{name}" stopped making progress: {world.status.get("message") or "no message"}'
        )
    else:
        raise SimulationError(
            f'the update of Rollout "{name}" did not finish within {MAX_ROUNDS} simulated reconciles'
        )
    delay = max(seconds() - (seconds() if switched_at is None else switched_at), 0.0)
    phases.append(
        _phase(
            len(phases) + 1,
            "scale-down",
            "scale the previous revision down",
            0,
            replicas,
            100,
            delay,
            WAIT_NONE,
            switched_at or 0.0,
        )
    )
    return Simulation(
        name=name,
        replicas=replicas,
        steps=tuple(phases),
        promoted_pods=replicas,
        total_seconds=seconds(),
        scaling_rounds=0,
        waits=tuple(p for p in phases if p.waits_for),
        assumptions=(
            *ASSUMPTIONS[:1],
            "blue-green: the active Service sends all traffic to one revision at a time",
        ),
        strategy=STRATEGY_BLUE_GREEN,
    )


def _phase(
    number: int,
    kind: str,
    description: str,
    stable: int,
    new: int,
    traffic: int,
    wait: float,
    waits_for: str,
    starts_at: float,
) -> StepPlan:
    return StepPlan(
        number=number,
        description=description,
        kind=kind,
        set_weight=traffic,
        stable_pods=stable,
        canary_pods=new,
        canary_traffic=traffic,
        wait_seconds=float(round(wait)),
        waits_for=waits_for,
        starts_at=float(round(starts_at)),
        scaling_rounds=0,
    )


def _stable_ingresses(rollout: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Stand-ins for the stable Ingresses an nginx-routed canary names: one rule to stableService."""
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    stable_service = str(canary.get("stableService") or "")
    backend = {"service": {"name": stable_service, "port": {"number": 80}}}
    return {
        name: {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": (rollout.get("metadata") or {}).get("namespace")},
            "spec": {
                "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]
            },
        }
        for name in stable_ingress_names(rollout)
    }


def _canary_weight(world: _World) -> int | None:
    """The canary weight the router applies now (None without traffic routing)."""
    weights = (world.status.get("canary") or {}).get("weights")
    if not isinstance(weights, Mapping):
        return None
    return int((weights.get("canary") or {}).get("weight") or 0)


def _with_previous_template(rollout: Mapping[str, Any]) -> dict[str, Any]:
    """The Rollout with a pod template that differs from the manifest's (the running revision)."""
    previous = copy.deepcopy(dict(rollout))
    template = previous["spec"].setdefault("template", {})
    meta = template.setdefault("metadata", {})
    meta["annotations"] = {**(meta.get("annotations") or {}), PREVIOUS_REVISION_ANNOTATION: "true"}
    return previous


def _settle_initial_deploy(world: _World) -> None:
    """The first deploy goes straight to full size and becomes stable (no steps run)."""
    for _ in range(MAX_ROUNDS):
        world.reconcile()
        if not world.changed and world.settled():
            return
    raise SimulationError("the simulated first deploy did not settle; please report this as a bug")


def _run_update(world: _World, steps: list[Mapping[str, Any]], name: str, replicas: int) -> Simulation:
    start = world.now
    index: int | None = None
    entered: dict[int, float] = {}
    rounds: dict[int, int] = {}
    waits: dict[int, str] = {}
    done: dict[int, tuple[int, int]] = {}
    done_weights: dict[int, int | None] = {}
    total_rounds = 0
    last_pods = world.pods()
    for _ in range(MAX_ROUNDS):
        plan = world.reconcile()
        scaled = bool(plan.create_replica_sets or plan.scale)
        total_rounds += scaled
        current = world.status.get("currentStepIndex")
        now_index = None if current is None else int(current)
        if now_index != index:
            if index is not None and index < len(steps):
                done[index] = last_pods
                done_weights[index] = _canary_weight(world)  # the weight that completed the step
            index = now_index
            if index is not None and index < len(steps) and index not in entered:
                entered[index] = (world.now - start).total_seconds()
        if index is not None and index < len(steps) and scaled:
            rounds[index] = rounds.get(index, 0) + 1
        last_pods = world.pods()
        if world.changed:
            continue
        if world.settled():
            break
        _wait(world, plan, steps, index, waits, name)
    else:
        raise SimulationError(
            f'the update of Rollout "{name}" did not finish within {MAX_ROUNDS} simulated reconciles'
        )
    for i in range(len(steps)):
        done.setdefault(i, last_pods)
        done_weights.setdefault(i, _canary_weight(world))
        entered.setdefault(i, (world.now - start).total_seconds())
    planned = tuple(
        _step_plan(
            steps, i, done[i], entered[i], rounds.get(i, 0), waits.get(i, WAIT_NONE), weight=done_weights[i]
        )
        for i in range(len(steps))
    )
    return Simulation(
        name=name,
        replicas=replicas,
        steps=planned,
        promoted_pods=replicas,
        total_seconds=_seconds(world.now - start),
        scaling_rounds=total_rounds,
        waits=tuple(s for s in planned if s.waits_for),
        strategy=STRATEGY_NGINX if world.ingresses else STRATEGY_BASIC,
    )


def _wait(
    world: _World,
    plan: Plan,
    steps: list[Mapping[str, Any]],
    index: int | None,
    waits: dict[int, str],
    name: str,
) -> None:
    """Nothing to write: wait as the controller would, or do what a person would."""
    step = steps[index] if index is not None and index < len(steps) else None
    kind = next(iter(step), "") if step is not None else ""
    if kind == "pause" and index is not None:
        if world.status.get("pauseConditions") and (step or {}).get("pause", {}).get("duration") is None:
            waits[index] = WAIT_PROMOTION
            world.promote()
            return
        if plan.requeue_after is not None:
            world.wait(plan.requeue_after)
            return
    if kind in ("analysis", "experiment") and index is not None:
        waits[index] = WAIT_ANALYSIS if kind == "analysis" else WAIT_EXPERIMENT
        if kind == "analysis" and world.finish_step_runs(index):
            return
        world.skip_step(index)
        return
    if plan.requeue_after is not None:
        world.wait(plan.requeue_after)
        return
    where = f"step {index + 1} ({describe_step(step)[1]})" if step is not None and index is not None else ""
    raise SimulationError(
        f'the update of Rollout "{name}" stopped making progress{" at " + where if where else ""}: '
        f"{world.status.get('message') or 'no message'}"
    )


def _step_plan(
    steps: list[Mapping[str, Any]],
    index: int,
    pods: tuple[int, int],
    starts_at: float,
    rounds: int,
    waits_for: str,
    *,
    weight: int | None = None,
) -> StepPlan:
    step = steps[index]
    kind, description = describe_step(step)
    stable, canary = pods
    total = stable + canary
    wait = 0.0
    if kind == "pause":
        duration = (step.get("pause") or {}).get("duration")
        if duration is not None:
            try:
                wait = float(pause_duration_seconds(duration))
            except DurationError:  # pragma: no cover - validate_rollout rejected it
                wait = 0.0
    return StepPlan(
        number=index + 1,
        description=description,
        kind=kind,
        set_weight=desired_weight(steps, index),
        stable_pods=stable,
        canary_pods=canary,
        # with a traffic router the weight it applies; else the canary's share of available pods
        canary_traffic=weight if weight is not None else ((canary * 100) // total if total else 0),
        wait_seconds=wait,
        waits_for=waits_for,
        starts_at=float(round(starts_at)),
        scaling_rounds=rounds,
    )


def _seconds(delta: timedelta) -> float:
    """Seconds, with the clock's per-wait tick removed (waits are whole seconds or more)."""
    return float(round(delta.total_seconds()))


__all__ = [
    "ASSUMPTIONS",
    "SIM_START",
    "Simulation",
    "SimulationError",
    "StepPlan",
    "describe_step",
    "simulate_update",
]
