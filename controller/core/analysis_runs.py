"""What canary and blue-green Rollouts do alike with their AnalysisRuns (pure).

Argo Rollouts runs one ``reconcileAnalysisRuns`` (rollout/analysis.go) for both strategies; only
which runs exist differs (step and background runs for a canary, pre- and post-promotion runs for
a blue-green Rollout: :mod:`.canary_analysis`, :mod:`.bluegreen_analysis`). Shared here: reading a
run's phase, when a new run is needed, creating a run under a free name, terminating one,
judging a finished one (pause or abort), collecting old ones, and the phase-change event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from controller.analysis.build import BuildError, build_analysis_run, collision_name
from controller.api import Problem
from controller.core import conditions as c
from controller.core.hashing import POD_TEMPLATE_HASH_LABEL
from controller.core.plan import NORMAL, WARNING, Event
from controller.core.snapshot import REVISION_ANNOTATION, RawObject, name_of

#: label tying a Rollout (and the runs it makes) to one controller instance
INSTANCE_ID_LABEL: Final = "argo-rollouts.argoproj.io/controller-instance-id"
COMPLETED_PHASES: Final = frozenset({"Successful", "Failed", "Error", "Inconclusive"})


def run_phase(run: RawObject | None) -> str:
    return str(((run or {}).get("status") or {}).get("phase") or "")


def run_message(run: RawObject | None) -> str:
    return str(((run or {}).get("status") or {}).get("message") or "")


def analysis_status(run: RawObject | None) -> dict[str, str] | None:
    """``RolloutAnalysisRunStatus``: ``{name, status, message}`` of a run (None for no run)."""
    if run is None:
        return None
    status = {"name": name_of(run), "status": run_phase(run)}
    if run_message(run):
        status["message"] = run_message(run)
    return status


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
        meta = run.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        if str((meta.get("labels") or {}).get(POD_TEMPLATE_HASH_LABEL) or "") not in hashes:
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


def phase_change_event(previous: Mapping[str, Any] | None, run: RawObject | None, kind: str) -> Event | None:
    """Argo's ``emitAnalysisRunStatusChanges``: an ``AnalysisRun<Phase>`` event when the current
    run of a kind is new or its phase changed (None otherwise)."""
    phase = run_phase(run)
    if run is None or not phase:
        return None
    if previous is not None and not (
        previous.get("name") == name_of(run) and previous.get("status") != phase
    ):
        return None
    before = str(previous.get("status") or "") if previous is not None else "NoPreviousStatus"
    type_ = WARNING if phase in ("Failed", "Error") else NORMAL
    message = f"{kind} Analysis Run '{name_of(run)}' Status New: '{phase}' Previous: '{before}'"
    return (type_, f"AnalysisRun{phase}", message)


@dataclass
class RunsOutcome:
    """What a Rollout's runs mean for this reconcile, and what to write (both strategies)."""

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


class RunBook:
    """The Rollout's runs by name, and the writes this reconcile makes to them."""

    def __init__(
        self,
        rollout: Mapping[str, Any],
        runs: Sequence[RawObject],
        templates: Mapping[str, RawObject],
        cluster_templates: Mapping[str, RawObject],
        revision: int,
        out: RunsOutcome,
    ) -> None:
        self.rollout, self.out, self.revision = rollout, out, revision
        self.templates, self.cluster_templates = templates, cluster_templates
        self.status: Mapping[str, Any] = rollout.get("status") or {}
        self.by_name = {name_of(r): r for r in runs}
        self.taken = set(self.by_name)

    def named_in_status(self, part: str, key: str) -> RawObject | None:
        """The run ``status.<part>.<key>.name`` names (None when none, or not found)."""
        return self.by_name.get(str(((self.status.get(part) or {}).get(key) or {}).get("name") or ""))

    def cancel(self, run: RawObject | None) -> None:
        """Argo's ``cancelAnalysisRuns`` for one run: terminate it unless done or terminating."""
        if run is None or run_phase(run) in COMPLETED_PHASES or (run.get("spec") or {}).get("terminate"):
            return
        if name_of(run) not in self.out.terminate:
            self.out.terminate.append(name_of(run))

    def create(
        self,
        analysis: Mapping[str, Any],
        run_type: str,
        *,
        latest_hash: str,
        stable_hash: str,
        step_index: int | None = None,
    ) -> RawObject | None:
        """Build a run of ``analysis`` for the revision in progress, named with a ``.1``, ``.2``
        suffix when its name is taken; None (and ``error``) when it cannot be built."""
        rollout = dict(self.rollout)
        meta = dict(rollout.get("metadata") or {})
        meta["annotations"] = {**(meta.get("annotations") or {}), REVISION_ANNOTATION: str(self.revision)}
        rollout["metadata"] = meta
        try:
            run = build_analysis_run(
                rollout,
                analysis,
                self.templates,
                self.cluster_templates,
                run_type=run_type,
                latest_hash=latest_hash,
                stable_hash=stable_hash or None,
                step_index=step_index,
                instance_id=str((meta.get("labels") or {}).get(INSTANCE_ID_LABEL) or ""),
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
        """Argo's ``setPauseOrAbort``: Inconclusive pauses, Failed or Error aborts."""
        phase = run_phase(run)
        if phase == "Inconclusive":
            self.out.pause_inconclusive = True
        elif phase in ("Failed", "Error"):
            self.out.abort_message = run_message(run) or f"AnalysisRun '{name_of(run)}' {phase}"

    def finish(
        self,
        part: str,
        current: Sequence[tuple[str, RawObject | None, str]],
        hashes: frozenset[str],
    ) -> None:
        """The runs of this reconcile are ``current`` (``(status key, run, kind)``): every other
        run is cancelled and its history collected; an event for each current run whose phase
        changed from what ``status.<part>.<key>`` recorded."""
        keep = {name_of(run) for _, run, _ in current if run is not None}
        others = [run for name, run in self.by_name.items() if name not in keep]
        for run in others:
            self.cancel(run)
        self.collect(others, hashes)
        recorded = self.status.get(part) or {}
        for key, current_run, kind in current:
            event = phase_change_event(recorded.get(key), current_run, kind)
            if event is not None:
                self.out.events.append(event)

    def collect(self, others: Sequence[RawObject], hashes: frozenset[str]) -> None:
        """Delete the finished ``others`` beyond ``spec.analysis``'s history limits (5 each)."""
        spec_analysis = (self.rollout.get("spec") or {}).get("analysis") or {}
        self.out.delete = history_deletions(
            [r for r in others if name_of(r) not in self.out.terminate],
            hashes,
            int(spec_analysis.get("successfulRunHistoryLimit", 5)),
            int(spec_analysis.get("unsuccessfulRunHistoryLimit", 5)),
        )


__all__ = [
    "COMPLETED_PHASES",
    "INSTANCE_ID_LABEL",
    "RunBook",
    "RunsOutcome",
    "analysis_status",
    "history_deletions",
    "missing_referenced_templates",
    "needs_new_run",
    "phase_change_event",
    "run_message",
    "run_phase",
]
