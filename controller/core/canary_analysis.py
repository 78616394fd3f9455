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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.analysis.build import BACKGROUND, STEP, STEP_INDEX_LABEL
from controller.api import Problem
from controller.core import conditions as c
from controller.core.analysis_runs import (
    RunBook,
    RunsOutcome,
    analysis_status,
    missing_referenced_templates,
    needs_new_run,
    run_message,
    run_phase,
)
from controller.core.snapshot import RawObject, name_of

STEP_STATUS_KEY: Final = "currentStepAnalysisRunStatus"
BACKGROUND_STATUS_KEY: Final = "currentBackgroundAnalysisRunStatus"


def _labels(run: RawObject) -> Mapping[str, Any]:
    return (run.get("metadata") or {}).get("labels") or {}


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
class AnalysisOutcome(RunsOutcome):
    """What the step and background runs mean for this reconcile, and what to write."""

    step_run: RawObject | None = None
    background_run: RawObject | None = None

    def step_status(self) -> dict[str, str] | None:
        return analysis_status(self.step_run)

    def background_status(self) -> dict[str, str] | None:
        return analysis_status(self.background_run)


class _Runs(RunBook):
    def __init__(self, data: AnalysisInput, out: AnalysisOutcome) -> None:
        super().__init__(data.rollout, data.runs, data.templates, data.cluster_templates, data.revision, out)
        self.data = data
        self.current_step = self.named_in_status("canary", STEP_STATUS_KEY)
        self.current_background = self.named_in_status("canary", BACKGROUND_STATUS_KEY)

    def create_run(
        self, analysis: Mapping[str, Any], run_type: str, step_index: int | None
    ) -> RawObject | None:
        return self.create(
            analysis,
            run_type,
            latest_hash=self.data.new_hash,
            stable_hash=self.data.stable_hash,
            step_index=step_index,
        )

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
            return self.create_run(analysis, STEP, data.step_index)
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
            return self.create_run(background, BACKGROUND, None)
        self.judge(current)
        return current


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
    in_use = ((STEP_STATUS_KEY, out.step_run, STEP), (BACKGROUND_STATUS_KEY, out.background_run, BACKGROUND))
    runs.finish("canary", in_use, data.replica_set_hashes)
    return out


__all__ = [
    "BACKGROUND_STATUS_KEY",
    "STEP_STATUS_KEY",
    "AnalysisInput",
    "AnalysisOutcome",
    "missing_templates",
    "reconcile_analysis",
    "uses_analysis",
]
