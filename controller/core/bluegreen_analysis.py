"""The AnalysisRuns of a blue-green Rollout: pre-promotion and post-promotion analysis (pure).

Follows Argo Rollouts' ``reconcileAnalysisRuns`` for ``strategy.blueGreen`` (rollout/analysis.go):

- the *current* runs are those named in ``status.blueGreen.prePromotionAnalysisRunStatus`` and
  ``postPromotionAnalysisRunStatus``; every other run the Rollout controls is terminated
  (``spec.terminate``) and collected beyond ``spec.analysis.successfulRunHistoryLimit`` /
  ``unsuccessfulRunHistoryLimit`` (5 each), or when its ReplicaSet is gone;
- while aborted, promoted in full, on the first deploy, or moving back to a ReplicaSet still
  inside its scale-down delay, no run is created and every run still going is terminated;
- ``prePromotionAnalysis`` runs (``rollout-type: PrePromotion``, name ``...-pre``) once the new
  ReplicaSet is saturated at its preview size while the active Service still points elsewhere;
  the switch waits for it to be Successful (:func:`skip_pre_promotion`);
- ``postPromotionAnalysis`` runs (``PostPromotion``, ``...-post``) once the active Service
  points at the saturated new ReplicaSet and it is not stable yet (:func:`skip_post_promotion`);
  it must be Successful before the new ReplicaSet becomes stable;
- a current run that is Failed or Error aborts the Rollout with the run's message; one that is
  Inconclusive pauses it with ``InconclusiveAnalysisRun``; a promote after an inconclusive run,
  or a retry after an abort, makes a new run (named with a ``.1``, ``.2`` suffix);
- a change of a current run's phase records an ``AnalysisRun<Phase>`` event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.analysis.build import POST_PROMOTION, PRE_PROMOTION
from controller.api import Problem
from controller.core import conditions as c
from controller.core.analysis_runs import (
    RunBook,
    RunsOutcome,
    analysis_status,
    missing_referenced_templates,
    needs_new_run,
)
from controller.core.snapshot import (
    DESIRED_REPLICAS_ANNOTATION,
    RawObject,
    name_of,
    pod_hash_of,
    spec_replicas,
    status_count,
)

PRE_STATUS_KEY: Final = "prePromotionAnalysisRunStatus"
POST_STATUS_KEY: Final = "postPromotionAnalysisRunStatus"
_KEYS: Final = (("prePromotionAnalysis", PRE_STATUS_KEY), ("postPromotionAnalysis", POST_STATUS_KEY))


def _blue_green(rollout: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((rollout.get("spec") or {}).get("strategy") or {}).get("blueGreen") or {}


def template_refs(rollout: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Every ``templates[]`` entry of the pre- and post-promotion analysis, with its JSON path."""
    refs: list[tuple[str, Mapping[str, Any]]] = []
    for key, _ in _KEYS:
        analysis = _blue_green(rollout).get(key)
        if isinstance(analysis, Mapping):
            base = f"spec.strategy.blueGreen.{key}.templates"
            refs += [
                (f"{base}[{j}]", t)
                for j, t in enumerate(analysis.get("templates") or ())
                if isinstance(t, Mapping)
            ]
    return refs


def missing_templates(
    rollout: Mapping[str, Any],
    templates: Mapping[str, RawObject],
    cluster_templates: Mapping[str, RawObject],
) -> list[Problem]:
    """Argo's ``ValidateRolloutReferencedResources`` for blue-green analysis: every template exists."""
    return missing_referenced_templates(template_refs(rollout), templates, cluster_templates)


def is_saturated(rollout: Mapping[str, Any], rs: RawObject | None) -> bool:
    """Argo's ``annotations.IsSaturated``: the ReplicaSet is sized for the whole Rollout (spec and
    desired-replicas annotation) and every pod is available."""
    if rs is None:
        return False
    replicas = (rollout.get("spec") or {}).get("replicas")
    wanted = 1 if replicas is None else int(replicas)
    desired = ((rs.get("metadata") or {}).get("annotations") or {}).get(DESIRED_REPLICAS_ANNOTATION)
    try:
        desired_count = int(str(desired))
    except ValueError:
        return False
    return (
        spec_replicas(rs) == wanted
        and desired_count == wanted
        and status_count(rs, "availableReplicas") == wanted
    )


def skip_pre_promotion(rollout: Mapping[str, Any], new_rs: RawObject | None) -> bool:
    """Argo's ``skipPrePromotionAnalysisRun``: the new ReplicaSet is stable or already active, this
    is the first deploy, or the new ReplicaSet is not yet fully up at its preview size."""
    current = pod_hash_of(new_rs)
    status = rollout.get("status") or {}
    active = str((status.get("blueGreen") or {}).get("activeSelector") or "")
    if not current or status.get("stableRS") == current or not active or active == current:
        return True
    preview = _blue_green(rollout).get("previewReplicaCount")
    if preview is not None and new_rs is not None:
        count = int(preview)
        return spec_replicas(new_rs) != count or status_count(new_rs, "availableReplicas") != count
    return not is_saturated(rollout, new_rs)


def skip_post_promotion(rollout: Mapping[str, Any], new_rs: RawObject | None) -> bool:
    """Argo's ``skipPostPromotionAnalysisRun``: the new ReplicaSet is stable, not active yet, or
    not saturated."""
    current = pod_hash_of(new_rs)
    status = rollout.get("status") or {}
    active = str((status.get("blueGreen") or {}).get("activeSelector") or "")
    return (
        not current
        or status.get("stableRS") == current
        or active != current
        or not is_saturated(rollout, new_rs)
    )


@dataclass(frozen=True)
class PromotionAnalysisInput:
    """What :func:`reconcile_promotion_analysis` needs to know about the Rollout this reconcile."""

    #: the Rollout as observed (its status is the last one written)
    rollout: Mapping[str, Any]
    runs: tuple[RawObject, ...]
    templates: Mapping[str, RawObject]
    cluster_templates: Mapping[str, RawObject]
    new_rs: RawObject | None
    stable_hash: str
    #: every hash of the Rollout's ReplicaSets (runs of other hashes are deleted)
    replica_set_hashes: frozenset[str]
    revision: int
    #: aborted, promoting in full, moving back to a ReplicaSet within its scale-down delay, or
    #: the first deploy: no run is made and every running one is terminated
    skip: bool


@dataclass
class PromotionAnalysisOutcome(RunsOutcome):
    """What the pre- and post-promotion runs mean for this reconcile, and what to write."""

    pre_run: RawObject | None = None
    post_run: RawObject | None = None

    def statuses(self) -> dict[str, dict[str, str]]:
        """The ``status.blueGreen`` run fields (``RolloutAnalysisRunStatus``) for the current runs."""
        found = {
            PRE_STATUS_KEY: analysis_status(self.pre_run),
            POST_STATUS_KEY: analysis_status(self.post_run),
        }
        return {k: v for k, v in found.items() if v is not None}


class _Runs(RunBook):
    def __init__(self, data: PromotionAnalysisInput, out: PromotionAnalysisOutcome) -> None:
        super().__init__(data.rollout, data.runs, data.templates, data.cluster_templates, data.revision, out)
        self.data = data
        self.current = {key: self.named_in_status("blueGreen", key) for _, key in _KEYS}

    def reconcile(self, spec_key: str, status_key: str) -> RawObject | None:
        """Argo's ``reconcilePrePromotionAnalysisRun`` / ``reconcilePostPromotionAnalysisRun``."""
        current = self.current[status_key]
        analysis = _blue_green(self.data.rollout).get(spec_key)
        if not isinstance(analysis, Mapping):
            self.cancel(current)
            return None
        skip = skip_pre_promotion if status_key == PRE_STATUS_KEY else skip_post_promotion
        if skip(self.data.rollout, self.data.new_rs):
            self.cancel(current)
            return current
        reasons = {p.get("reason") for p in self.status.get("pauseConditions") or ()}
        if c.PAUSE_INCONCLUSIVE_ANALYSIS in reasons:
            return current
        if needs_new_run(current, self.status):
            return self.create(
                analysis,
                PRE_PROMOTION if status_key == PRE_STATUS_KEY else POST_PROMOTION,
                latest_hash=pod_hash_of(self.data.new_rs),
                stable_hash=self.data.stable_hash,
            )
        return current


def reconcile_promotion_analysis(data: PromotionAnalysisInput) -> PromotionAnalysisOutcome:
    """What the Rollout's AnalysisRuns ask for this reconcile (see the module docstring)."""
    out = PromotionAnalysisOutcome()
    runs = _Runs(data, out)
    pre, post = runs.current[PRE_STATUS_KEY], runs.current[POST_STATUS_KEY]
    if data.skip:
        current_names = {name_of(r) for r in (pre, post) if r is not None}
        for run in [
            *(r for r in (pre, post) if r is not None),
            *(r for r in data.runs if name_of(r) not in current_names),
        ]:
            runs.cancel(run)
        out.pre_run, out.post_run = pre, post
        return out
    out.pre_run = runs.reconcile("prePromotionAnalysis", PRE_STATUS_KEY)
    runs.judge(out.pre_run)
    out.post_run = runs.reconcile("postPromotionAnalysis", POST_STATUS_KEY)
    runs.judge(out.post_run)
    in_use = ((POST_STATUS_KEY, out.post_run, POST_PROMOTION), (PRE_STATUS_KEY, out.pre_run, PRE_PROMOTION))
    runs.finish("blueGreen", in_use, data.replica_set_hashes)
    return out


__all__ = [
    "POST_STATUS_KEY",
    "PRE_STATUS_KEY",
    "PromotionAnalysisInput",
    "PromotionAnalysisOutcome",
    "is_saturated",
    "missing_templates",
    "reconcile_promotion_analysis",
    "skip_post_promotion",
    "skip_pre_promotion",
    "template_refs",
]
