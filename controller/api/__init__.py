"""Argo Rollouts' ``argoproj.io/v1alpha1`` API: typed views, defaults, validation, CRD manifests.

Pure: no I/O beyond reading this package's own CRD files. The controller keeps raw JSON dicts;
these views read them (``Rollout.from_dict(obj)``), and ``validate_rollout(obj)`` says what Argo
would reject, in Argo's words.
"""

from controller.api.analysis import (
    AnalysisRun,
    AnalysisTemplate,
    AnalysisTemplateRef,
    BackgroundAnalysis,
    ClusterAnalysisTemplate,
    Metric,
    RolloutAnalysis,
)
from controller.api.crds import CRD_FILES, crd_manifests, crd_text
from controller.api.problems import Problem, SpecError
from controller.api.rollout import (
    BlueGreenStrategy,
    CanaryStrategy,
    Rollout,
    RolloutSpec,
    RolloutStatus,
    RolloutStrategy,
    TrafficRouting,
    read_rollout,
)
from controller.api.steps import (
    Analysis,
    Experiment,
    Pause,
    Plugin,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    Step,
    UnknownStep,
)
from controller.api.validation import invalid_spec_message, validate_rollout
from controller.api.values import DurationError, IntOrPercent, parse_go_duration, pause_duration_seconds

__all__ = [
    "CRD_FILES",
    "Analysis",
    "AnalysisRun",
    "AnalysisTemplate",
    "AnalysisTemplateRef",
    "BackgroundAnalysis",
    "BlueGreenStrategy",
    "CanaryStrategy",
    "ClusterAnalysisTemplate",
    "DurationError",
    "Experiment",
    "IntOrPercent",
    "Metric",
    "Pause",
    "Plugin",
    "Problem",
    "Rollout",
    "RolloutAnalysis",
    "RolloutSpec",
    "RolloutStatus",
    "RolloutStrategy",
    "SetCanaryScale",
    "SetHeaderRoute",
    "SetMirrorRoute",
    "SetWeight",
    "SpecError",
    "Step",
    "TrafficRouting",
    "UnknownStep",
    "crd_manifests",
    "crd_text",
    "invalid_spec_message",
    "parse_go_duration",
    "pause_duration_seconds",
    "read_rollout",
    "validate_rollout",
]
