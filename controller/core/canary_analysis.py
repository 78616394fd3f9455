"""The AnalysisRuns of a canary Rollout: step analysis and background analysis (pure).

Follows Argo Rollouts' ``reconcileAnalysisRuns`` (rollout/analysis.go) for a canary:

- a Rollout's runs are those it controls; the *current* ones are those named in
  ``status.canary.currentStepAnalysisRunStatus`` / ``currentBackgroundAnalysisRunStatus``;
- while aborted, promoted in full, on its first deploy, or rolling back within the rollback
  window, no run is created and every run still going is terminated (``spec.terminate``);
- at an ``analysis`` step a run labelled ``rollout-type: Step``, ``step-index: <i>`` is created
  (unless the Rollout is paused or aborted); the step is complete when it is Successful;
- ``canary.analysis`` (background) starts at ``startingStep`` and runs until the Rollout is
  fully promoted (then it is terminated);
- a current run that is Failed or Error aborts the Rollout with the run's message; one that is
  Inconclusive pauses it with ``InconclusiveAnalysisRun``; after a promote or a retry a new run
  is made (``needsNewAnalysisRun``), named with a ``.1``, ``.2`` suffix when the name is taken;
- the other runs are terminated, and deleted beyond ``spec.analysis.successfulRunHistoryLimit``
  / ``unsuccessfulRunHistoryLimit`` (5 each), or when their ReplicaSet is gone;
- a change of a current run's phase records an ``AnalysisRun<Phase>`` event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from controller.analysis.build import (
    BACKGROUND,
    STEP,
    STEP_INDEX_LABEL,
    BuildError,
    build_analysis_run,
    collision_name,
)
from controller.api import Problem
from controller.core import conditions as c
from controller.core.plan import NORMAL, WARNING, Event
from controller.core.snapshot import RawObject, name_of

POD_TEMPLATE_HASH_LABEL: Final = "rollouts-pod-template-hash"
INSTANCE_ID_LABEL: Final = "argo-rollouts.argoproj.io/controller-instance-id"
COMPLETED_PHASES: Final = frozenset({"Successful", "Failed", "Error", "Inconclusive"})
STEP_STATUS_KEY: Final = "currentStepAnalysisRunStatus"
BACKGROUND_STATUS_KEY: Final = "currentBackgroundAnalysisRunStatus"


def run_phase(run: RawObject | None) -> str:
    return str(((run or {}).get("status") or {}).get("phase") or "")


def run_message(run: RawObject | None) -> str:
    return str(((run or {}).get("status") or {}).get("message") or "")


def _labels(run: RawObject) -> Mapping[str, Any]:
    return (run.get("metadata") or {}).get("labels") or {}


def analysis_status(run: RawObject | None) -> dict[str, str] | None:
    """``RolloutAnalysisRunStatus``: ``{name, status, message}`` of a run (None for no run)."""
    if run is None:
        return None
    status = {"name": name_of(run), "status": run_phase(run)}
    if run_message(run):
        status["message"] = run_message(run)
    return status


def _template_refs(rollout: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    refs: list[tuple[str, Mapping[str, Any]]] = []
    for i, step in enumerate(canary.get("steps") or ()):
        analysis = step.get("analysis") if isinstance(step, Mapping) else None
        if isinstance(analysis, Mapping):
            base = f"spec.strategy.canary.steps[{i}].analysis.templates"
            refs += [
                (f"{base}[{j}]", t)
                for j, t in enumerate(analysis.get("templates") or ())
                if isinstance(t, Mapping)
            ]
    background = canary.get("analysis")
    if isinstance(background, Mapping):
        base = "spec.strategy.canary.analysis.templates"
        refs += [
            (f"{base}[{j}]", t)
            for j, t in enumerate(background.get("templates") or ())
            if isinstance(t, Mapping)
        ]
    return refs


def missing_templates(
    rollout: Mapping[str, Any],
    templates: Mapping[str, RawObject],
    cluster_templates: Mapping[str, RawObject],
) -> list[Problem]:
    """Argo's ``ValidateRolloutReferencedResources`` for analysis: every referenced template exists."""
    return missing_referenced_templates(_template_refs(rollout), templates, cluster_templates)


def missing_referenced_templates(
    refs: Sequence[tuple[str, Mapping[str, Any]]],
    templates: Mapping[str, RawObject],
    cluster_templates: Mapping[str, RawObject],
) -> list[Problem]:
    """A :class:`Problem` for each ``(JSON path, templates[] entry)`` whose template is missing."""
    problems = []
    for path, ref in refs:
        name = str(ref.get("templateName") or "")
        if ref.get("clusterScope"):
            if name not in cluster_templates:
                message = f'ClusterAnalysisTemplate "{name}" not found'
                problems.append(Problem(f"{path}.templateName", message, value=name))
        elif name not in templates:
            problems.append(
                Problem(f"{path}.templateName", f'AnalysisTemplate "{name}" not found', value=name)
            )
    return problems


def uses_analysis(rollout: Mapping[str, Any]) -> bool:
    """Whether the Rollout references any AnalysisTemplate (steps or background)."""
    return bool(_template_refs(rollout))


@dataclass(frozen=True)
class AnalysisInput:
    """What :func:`reconcile_analysis` needs to know about the Rollout this reconcile."""

    rollout: Mapping[str, Any]
    runs: tuple[RawObject, ...]
    templates: Mapping[str, RawObject]
    cluster_templates: Mapping[str, RawObject]
    #: the new ReplicaSet's hash ('' when none yet) and the stable one's
    new_hash: str
    stable_hash: str
    #: every hash of the Rollout's ReplicaSets (runs of other hashes are deleted)
    replica_set_hashes: frozenset[str]
    revision: int
    #: the current step (raw) and its index; None when there are no steps left
    step: Mapping[str, Any] | None
    step_index: int | None
    aborted: bool
    skip: bool
    fully_promoted: bool


@dataclass
class AnalysisOutcome:
    """What the runs mean for this reconcile, and what to write."""

    step_run: RawObject | None = None
    background_run: RawObject | None = None
    create: list[dict[str, Any]] = field(default_factory=list)
    terminate: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    #: add the InconclusiveAnalysisRun pause
    pause_inconclusive: bool = False
    #: abort, with this message (a Failed or Error run's)
    abort_message: str | None = None
    events: list[Event] = field(default_factory=list)
    #: a run could not be built (should not happen once templates are validated)
    error: str | None = None

    def step_status(self) -> dict[str, str] | None:
        return analysis_status(self.step_run)

    def background_status(self) -> dict[str, str] | None:
        return analysis_status(self.background_run)


def needs_new_run(current: RawObject | None, status: Mapping[str, Any]) -> bool:
    """Argo's ``needsNewAnalysisRun``."""
    if current is None:
        return True
    reasons = {p.get("reason") for p in status.get("pauseConditions") or ()}
    if (
        status.get("controllerPause")
        and c.PAUSE_CANARY_STEP not in reasons
        and c.PAUSE_BLUE_GREEN not in reasons
    ):
        return run_phase(current) == "Inconclusive"
    return status.get("abortedAt") is not None


class _Runs:
    def __init__(self, data: AnalysisInput, out: AnalysisOutcome) -> None:
        self.data, self.out = data, out
        self.status: Mapping[str, Any] = data.rollout.get("status") or {}
        canary_status = self.status.get("canary") or {}
        self.by_name = {name_of(r): r for r in data.runs}
        self.taken = set(self.by_name)
        self.current_step = self.by_name.get(
            str((canary_status.get(STEP_STATUS_KEY) or {}).get("name") or "")
        )
        self.current_background = self.by_name.get(
            str((canary_status.get(BACKGROUND_STATUS_KEY) or {}).get("name") or "")
        )

    def cancel(self, run: RawObject | None) -> None:
        """Argo's ``cancelAnalysisRuns`` for one run: terminate it unless done or terminating."""
        if run is None or run_phase(run) in COMPLETED_PHASES:
            return
        if (run.get("spec") or {}).get("terminate"):
            return
        if name_of(run) not in self.out.terminate:
            self.out.terminate.append(name_of(run))

    def create(self, analysis: Mapping[str, Any], run_type: str, step_index: int | None) -> RawObject | None:
        rollout = dict(self.data.rollout)
        meta = dict(rollout.get("metadata") or {})
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            "rollout.argoproj.io/revision": str(self.data.revision),
        }
        rollout["metadata"] = meta
        instance = str((meta.get("labels") or {}).get(INSTANCE_ID_LABEL) or "")
        try:
            run = build_analysis_run(
                rollout,
                analysis,
                self.data.templates,
                self.data.cluster_templates,
                run_type=run_type,
                latest_hash=self.data.new_hash,
                stable_hash=self.data.stable_hash or None,
                step_index=step_index,
                instance_id=instance,
            )
        except BuildError as e:
            self.out.error = str(e)
            return None
        base = str(run["metadata"]["name"])
        name, attempt = base, 0
        while name in self.taken:
            attempt += 1
            name = collision_name(base, attempt)
        run["metadata"]["name"] = name
        self.taken.add(name)
        self.out.create.append(run)
        return run

    def judge(self, run: RawObject | None) -> None:
        phase = run_phase(run)
        if phase == "Inconclusive":
            self.out.pause_inconclusive = True
        elif phase in ("Failed", "Error"):
            self.out.abort_message = run_message(run) or f"AnalysisRun '{name_of(run)}' {phase}"

    def step_run(self) -> RawObject | None:
        """Argo's ``reconcileStepBasedAnalysisRun``."""
        data, current = self.data, self.current_step
        if self.status.get("pauseConditions") or self.status.get("abort"):
            return current
        analysis = (data.step or {}).get("analysis")
        from_previous_step = (
            current is not None
            and data.step_index is not None
            and str(_labels(current).get(STEP_INDEX_LABEL)) != str(data.step_index)
        )
        if not isinstance(analysis, Mapping) or data.step_index is None or from_previous_step:
            self.cancel(current)
            return None
        if needs_new_run(current, self.status):
            return self.create(analysis, STEP, data.step_index)
        self.judge(current)
        return current

    def background_run(self) -> RawObject | None:
        """Argo's ``reconcileBackgroundAnalysisRun``."""
        data, current = self.data, self.current_background
        canary = ((data.rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
        background = canary.get("analysis")
        if not isinstance(background, Mapping) or not background.get("templates"):
            self.cancel(current)
            return None
        starting = int(background.get("startingStep") or 0)
        index = int(self.status.get("currentStepIndex") or 0)
        before_start = bool(canary.get("steps")) and index < starting
        if data.fully_promoted or not data.stable_hash or not data.new_hash or before_start:
            self.cancel(current)  # done (or not started): a background run ends with the update
            return None
        reasons = {p.get("reason") for p in self.status.get("pauseConditions") or ()}
        if c.PAUSE_INCONCLUSIVE_ANALYSIS in reasons:
            return current
        if needs_new_run(current, self.status):
            return self.create(background, BACKGROUND, None)
        self.judge(current)
        return current


def history_deletions(
    others: Sequence[RawObject], hashes: frozenset[str], keep_successful: int, keep_unsuccessful: int
) -> list[str]:
    """Argo's ``FilterAnalysisRunsToDelete``: runs of gone ReplicaSets, and beyond the limits."""
    newest_first = sorted(
        others, key=lambda r: str((r.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True
    )
    deletions: list[str] = []
    kept_ok = kept_bad = 0
    for run in newest_first:
        if (run.get("metadata") or {}).get("deletionTimestamp"):
            continue
        if str(_labels(run).get(POD_TEMPLATE_HASH_LABEL) or "") not in hashes:
            deletions.append(name_of(run))
            continue
        phase = run_phase(run)
        if phase == "Successful":
            if kept_ok < keep_successful:
                kept_ok += 1
            else:
                deletions.append(name_of(run))
        elif phase in COMPLETED_PHASES:
            if kept_bad < keep_unsuccessful:
                kept_bad += 1
            else:
                deletions.append(name_of(run))
    return deletions


def _emit(out: AnalysisOutcome, previous: Mapping[str, Any] | None, run: RawObject | None, kind: str) -> None:
    """Argo's ``emitAnalysisRunStatusChanges``."""
    phase = run_phase(run)
    if run is None or not phase:
        return
    if previous is not None and not (
        previous.get("name") == name_of(run) and previous.get("status") != phase
    ):
        return
    before = str(previous.get("status") or "") if previous is not None else "NoPreviousStatus"
    type_ = WARNING if phase in ("Failed", "Error") else NORMAL
    message = f"{kind} Analysis Run '{name_of(run)}' Status New: '{phase}' Previous: '{before}'"
    out.events.append((type_, f"AnalysisRun{phase}", message))


def reconcile_analysis(data: AnalysisInput) -> AnalysisOutcome:
    """What the Rollout's AnalysisRuns ask for this reconcile (see the module docstring)."""
    out = AnalysisOutcome()
    runs = _Runs(data, out)
    current = [r for r in (runs.current_step, runs.current_background) if r is not None]
    current_names = {name_of(r) for r in current}
    others = [r for r in data.runs if name_of(r) not in current_names]
    if data.aborted or data.skip:
        for run in [*current, *others]:
            runs.cancel(run)
        out.step_run, out.background_run = runs.current_step, runs.current_background
        if data.aborted:
            # keep the failed run's message on the aborted Rollout
            for judged in (runs.current_step, runs.current_background):
                if run_phase(judged) in ("Failed", "Error"):
                    out.abort_message = run_message(judged) or out.abort_message
        return out
    out.step_run = runs.step_run()
    out.background_run = runs.background_run()
    keep = {name_of(r) for r in (out.step_run, out.background_run) if r is not None}
    others = [r for r in data.runs if name_of(r) not in keep]
    for run in others:
        runs.cancel(run)
    spec_analysis = (data.rollout.get("spec") or {}).get("analysis") or {}
    out.delete = history_deletions(
        [r for r in others if name_of(r) not in out.terminate],
        data.replica_set_hashes,
        int(spec_analysis.get("successfulRunHistoryLimit", 5)),
        int(spec_analysis.get("unsuccessfulRunHistoryLimit", 5)),
    )
    canary_status = (data.rollout.get("status") or {}).get("canary") or {}
    _emit(out, canary_status.get(STEP_STATUS_KEY), out.step_run, STEP)
    _emit(out, canary_status.get(BACKGROUND_STATUS_KEY), out.background_run, BACKGROUND)
    return out


__all__ = [
    "AnalysisInput",
    "AnalysisOutcome",
    "analysis_status",
    "history_deletions",
    "missing_referenced_templates",
    "missing_templates",
    "needs_new_run",
    "reconcile_analysis",
    "run_phase",
    "uses_analysis",
]
