"""Argo's checks of canary steps (the per-step loop of ``ValidateRolloutStrategyCanary``,
pkg/apis/rollouts/validation/validation.go) and of analysis template references.

Each raw step is read again on its own here, so that every problem carries the index of the step
it is about even when a malformed entry was skipped while reading the whole spec.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from controller.api.analysis import AnalysisRunArgument, RolloutAnalysis
from controller.api.problems import REQUIRED, Reader, child, index
from controller.api.rollout import CanaryStrategy, Rollout, TrafficRouting
from controller.api.steps import (
    INVALID_DURATION_MESSAGE,
    Analysis,
    Experiment,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    StringMatch,
    read_step,
    step_kinds,
)
from controller.api.values import DurationError, pause_duration_seconds

MISSING_FIELD_MESSAGE: Final = "Rollout has missing field '%s'"
INVALID_STEP_MESSAGE: Final = (
    "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause"
)
INVALID_SET_WEIGHT_MESSAGE: Final = "SetWeight needs to be between 0 and %d"
INVALID_SET_CANARY_SCALE_TRAFFIC_POLICY: Final = "SetCanaryScale requires TrafficRouting to be set"
INVALID_SET_HEADER_ROUTE_TRAFFIC_POLICY: Final = (
    "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix"
)
INVALID_SET_MIRROR_ROUTE_TRAFFIC_POLICY: Final = "SetMirrorRoute requires TrafficRouting, supports Istio only"
INVALID_STRING_MATCH_MULTIPLE_VALUE_POLICY: Final = (
    "StringMatch match value must have exactly one of the following: exact, regex, prefix"
)
INVALID_STRING_MATCH_MISSED_VALUE_POLICY: Final = (
    "StringMatch value missed, match value must have one of the following: exact, regex, prefix"
)
INVALID_SET_HEADER_ROUTE_ALB_VALUE_POLICY: Final = (
    "SetHeaderRoute match value invalid. ALB supports 'exact' value only"
)
#: ours: ingress-nginx's canary-by-header annotations express a single header
INVALID_SET_HEADER_ROUTE_NGINX_POLICY: Final = (
    "SetHeaderRoute with nginx supports one match (ingress-nginx's canary-by-header)"
)
INVALID_STEP_ROUTE_NOT_IN_MANAGED_ROUTES: Final = (
    "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes"
)
INVALID_EXPERIMENT_WEIGHT_WITHOUT_TRAFFIC_ROUTING: Final = (
    "Experiment template weight cannot be set unless TrafficRouting is enabled"
)
INVALID_EXPERIMENT_WEIGHT_ROUTER: Final = (
    "Experiment template weight is only available for TrafficRouting with SMI, ALB, and Istio at this time"
)
INVALID_ANALYSIS_ARGS_MESSAGE: Final = (
    "Analyses arguments must refer to valid object metadata supported by downwardAPI"
)

#: the fieldRef paths Kubernetes' fieldpath.ExtractFieldPathAsString can read from object metadata
_METADATA_FIELDS: Final = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
)
_QUALIFIED_NAME: Final = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?([a-z0-9]([-a-z0-9_.]*[a-z0-9])?)")


def validate_steps(
    r: Reader, rollout: Rollout, canary: CanaryStrategy, path: str, *, max_weight: int
) -> None:
    """Check every canary step; ``path`` is ``spec.strategy.canary``."""
    raw_steps: Any = rollout.raw
    for key in ("spec", "strategy", "canary", "steps"):
        raw_steps = raw_steps.get(key) if isinstance(raw_steps, Mapping) else None
    if not isinstance(raw_steps, list):
        return
    routing = canary.traffic_routing
    for i, raw in enumerate(raw_steps):
        if isinstance(raw, Mapping):
            _validate_step(r, raw, index(child(path, "steps"), i), routing, path, max_weight)


def _validate_step(
    r: Reader,
    raw: Mapping[str, Any],
    path: str,
    routing: TrafficRouting | None,
    canary_path: str,
    max_weight: int,
) -> None:
    kinds = step_kinds(raw)
    if len(kinds) != 1:
        r.report(path, INVALID_STEP_MESSAGE, value=f"step sets {', '.join(kinds) or 'no kind'}")
        return
    step = read_step(Reader(), raw, path)
    if isinstance(step, SetWeight) and not 0 <= step.weight <= max_weight:
        r.report(child(path, "setWeight"), INVALID_SET_WEIGHT_MESSAGE % max_weight, value=step.weight)
    if kinds[0] == "pause":
        _validate_pause(r, raw["pause"], child(path, "pause"))
    if isinstance(step, SetCanaryScale) and routing is None:
        r.report(child(canary_path, "trafficRouting"), INVALID_SET_CANARY_SCALE_TRAFFIC_POLICY, kind=REQUIRED)
    if isinstance(step, SetHeaderRoute):
        _validate_header_route(r, step, child(path, "setHeaderRoute"), routing)
    if isinstance(step, SetMirrorRoute):
        _validate_mirror_route(r, step, child(path, "setMirrorRoute"), routing)
    if isinstance(step, SetHeaderRoute | SetMirrorRoute) and routing is not None:
        here = child(path, "setHeaderRoute" if isinstance(step, SetHeaderRoute) else "setMirrorRoute")
        if routing.managed_routes is None:
            missing = MISSING_FIELD_MESSAGE % "spec.strategy.canary.trafficRouting.managedRoutes"
            r.report(child(canary_path, "trafficRouting.managedRoutes"), missing, kind=REQUIRED)
        elif step.name not in routing.managed_routes:
            r.report(here, INVALID_STEP_ROUTE_NOT_IN_MANAGED_ROUTES, value=step.name)
    if isinstance(step, Experiment):
        _validate_experiment(r, step, child(path, "experiment"), routing)
    if isinstance(step, Analysis):
        _validate_field_refs(r, step.args, child(path, "analysis.args"))
        validate_analysis_templates(r, step, child(path, "analysis"))


def _validate_pause(r: Reader, body: Any, path: str) -> None:
    duration = body.get("duration") if isinstance(body, Mapping) else None
    if not isinstance(duration, int | str) or isinstance(duration, bool):
        return
    try:
        seconds = pause_duration_seconds(duration)
    except DurationError:
        return  # an unreadable duration was reported while reading the spec
    if seconds < 0:
        r.report(child(path, "duration"), INVALID_DURATION_MESSAGE, value=seconds)


def _validate_header_route(
    r: Reader, step: SetHeaderRoute, path: str, routing: TrafficRouting | None
) -> None:
    # nginx is ours, not Argo's: ingress-nginx's canary-by-header can carry one header match
    supported = ("istio", "alb", "apisix", "plugins", "nginx")
    if routing is None or not any(routing.provider(name) is not None for name in supported):
        r.report(path, INVALID_SET_HEADER_ROUTE_TRAFFIC_POLICY, value=step.name)
        return
    if routing.provider("nginx") is not None and len(step.match) > 1:
        r.report(child(path, "match"), INVALID_SET_HEADER_ROUTE_NGINX_POLICY, value=len(step.match))
    for j, match in enumerate(step.match):
        here = index(child(path, "match"), j)
        if routing.provider("alb") is not None:
            value = match.header_value
            if value is None:
                r.report(here, INVALID_STRING_MATCH_MISSED_VALUE_POLICY, value=None)
            elif not value.exact or value.regex or value.prefix:
                r.report(here, INVALID_SET_HEADER_ROUTE_ALB_VALUE_POLICY, value=_match_value(value))
        else:
            _validate_string_match(r, match.header_value, here)


def _validate_mirror_route(
    r: Reader, step: SetMirrorRoute, path: str, routing: TrafficRouting | None
) -> None:
    if routing is None or routing.provider("istio") is None:
        r.report(path, INVALID_SET_MIRROR_ROUTE_TRAFFIC_POLICY, value=step.name)
    for j, match in enumerate(step.match):
        here = index(child(path, "match"), j)
        if match.method is not None:
            _validate_string_match(r, match.method, here)
        if match.path is not None:
            _validate_string_match(r, match.path, here)


def _validate_string_match(r: Reader, match: StringMatch | None, path: str) -> None:
    """Argo's hasMultipleMatchValues: exactly one of exact, regex, prefix."""
    if match is None:
        r.report(path, INVALID_STRING_MATCH_MISSED_VALUE_POLICY, value=None)
        return
    count = sum(bool(v) for v in (match.exact, match.regex, match.prefix))
    if count > 1:
        r.report(path, INVALID_STRING_MATCH_MULTIPLE_VALUE_POLICY, value=_match_value(match))
    elif count == 0:
        r.report(path, INVALID_STRING_MATCH_MISSED_VALUE_POLICY, value=_match_value(match))


def _match_value(match: StringMatch) -> dict[str, str]:
    return {k: v for k, v in (("exact", match.exact), ("prefix", match.prefix), ("regex", match.regex)) if v}


def _validate_experiment(r: Reader, step: Experiment, path: str, routing: TrafficRouting | None) -> None:
    for k, template in enumerate(step.templates):
        if template.weight is None:
            continue
        here = child(index(child(path, "templates"), k), "weight")
        if routing is None:
            r.report(here, INVALID_EXPERIMENT_WEIGHT_WITHOUT_TRAFFIC_ROUTING, value=template.weight)
        elif all(routing.provider(name) is None for name in ("alb", "smi", "istio")):
            r.report(here, INVALID_EXPERIMENT_WEIGHT_ROUTER, value=template.weight)
    for k, analysis in enumerate(step.analyses):
        args = analysis.get("args")
        if not isinstance(args, list):
            continue
        here = child(index(child(path, "analyses"), k), "args")
        parsed = RolloutAnalysis.read(Reader(), {"args": args}, here).args
        _validate_field_refs(r, parsed, here)


def _validate_field_refs(r: Reader, args: tuple[AnalysisRunArgument, ...], path: str) -> None:
    """Arguments from ``fieldRef: metadata...`` must name metadata the downward API can read."""
    for k, arg in enumerate(args):
        ref = arg.value_from.field_path if arg.value_from is not None else None
        if ref is not None and ref.startswith("metadata") and not _readable_metadata(ref):
            here = child(index(path, k), "valueFrom.fieldRef.fieldPath")
            r.report(here, INVALID_ANALYSIS_ARGS_MESSAGE, value=ref)


def _readable_metadata(field_path: str) -> bool:
    """Whether Kubernetes' fieldpath.ExtractFieldPathAsString can read this path of an object."""
    if field_path.endswith("']") and "['" in field_path:
        base, _, key = field_path[:-2].partition("['")
        return (
            bool(base)
            and base in ("metadata.labels", "metadata.annotations")
            and bool(_QUALIFIED_NAME.fullmatch(key.lower()))
        )
    return field_path in _METADATA_FIELDS


def validate_analysis_templates(r: Reader, analysis: RolloutAnalysis | None, path: str) -> None:
    """An analysis names at least one template, each by ``templateName`` (ours; see validation.py)."""
    if analysis is None:
        return
    if not analysis.templates:
        templates = child(path, "templates")
        r.report(templates, MISSING_FIELD_MESSAGE % ("." + templates), kind=REQUIRED)
    for i, ref in enumerate(analysis.templates):
        if not ref.template_name:
            name_path = child(index(child(path, "templates"), i), "templateName")
            r.report(name_path, MISSING_FIELD_MESSAGE % ("." + name_path), kind=REQUIRED)
