"""Analysis: AnalysisRuns measured with metric providers and judged as Argo Rollouts judges them.

The pure half (no I/O, no clock reads):

- :mod:`.expr` — the condition language (the part of expr-lang used by conditions);
- :mod:`.conditions` — a measurement's phase from its value (``evaluate_result``);
- :mod:`.spec` — a run's spec resolved and validated (``read_run_spec``);
- :mod:`.assess` — what to measure now, recording measurements, metric and run phases, the next
  requeue (``due_measurements``, ``record_measurements``, ``metric_phase``, ``assess``);
- :mod:`.status` — typed views of the run's status; :mod:`.args` — ``{{args.*}}``;
- :mod:`.build` — the AnalysisRun a Rollout creates from its templates (``build_analysis_run``);
- :mod:`.jsonpath`, :mod:`.goformat` — JSONPath and Go-style value printing.

The I/O half is :mod:`.providers` (prometheus, web, job); the controller that runs AnalysisRuns
is :mod:`controller.runtime.analysis`.
"""

from controller.analysis.assess import (
    Assessment,
    Task,
    TaskResult,
    assess,
    due_measurements,
    is_terminating,
    metric_phase,
    next_reconcile,
    reconcile,
    record_measurements,
    ttl_deadline,
)
from controller.analysis.build import BuildError, build_analysis_run, collision_name, same_run_spec
from controller.analysis.conditions import evaluate_result
from controller.analysis.spec import RunSpec, RunSpecError, read_run_spec
from controller.analysis.status import Measurement, MetricResult, RunStatus, RunSummary

__all__ = [
    "Assessment",
    "BuildError",
    "Measurement",
    "MetricResult",
    "RunSpec",
    "RunSpecError",
    "RunStatus",
    "RunSummary",
    "Task",
    "TaskResult",
    "assess",
    "build_analysis_run",
    "collision_name",
    "due_measurements",
    "evaluate_result",
    "is_terminating",
    "metric_phase",
    "next_reconcile",
    "read_run_spec",
    "reconcile",
    "record_measurements",
    "same_run_spec",
    "ttl_deadline",
]
