"""Argo's Rollout validation (pkg/apis/rollouts/validation/validation.go), as a pure function.

``validate_rollout(obj)`` returns every :class:`~controller.api.problems.Problem` with a Rollout
spec: first what stops it being read at all, then Argo's checks in Argo's order, with Argo's
messages. An empty list means the spec is valid. The controller sets the ``InvalidSpec``
condition from the first problem, worded as Argo words it (:func:`invalid_spec_message`).

Where this differs from Argo, on purpose:

- field paths are where the field really is (``spec.strategy.canary.steps[0].setWeight``);
  Argo's paths drop the ``canary``/``blueGreen`` level (``spec.strategy.steps[0].setWeight``);
- a step must set exactly one kind: Argo's check for several kinds looks only at setWeight,
  pause, experiment and analysis, so it lets ``{setWeight, setCanaryScale}`` through;
- ``plugin`` counts as a step kind (Argo v1.8 step plugins);
- an analysis must name at least one template, each with a ``templateName`` (Argo finds this
  only when it looks the template up);
- a blue-green ``activeService: ""`` is reported as missing, not as equal to the preview service;
- the pod template is checked only for what a ReplicaSet needs from it here (selector matches
  labels, containers present and uniquely named, restartPolicy Always, no
  activeDeadlineSeconds); the API server checks the rest when the ReplicaSet is created.

References to other objects (services, templates, ingresses) are checked by the controller,
which can look them up; this module does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from controller.api import defaults
from controller.api.problems import (
    DUPLICATE,
    INTERNAL,
    NOT_SUPPORTED,
    REQUIRED,
    Problem,
    Reader,
    child,
    index,
)
from controller.api.rollout import AntiAffinity, BlueGreenStrategy, CanaryStrategy, Rollout, read_rollout
from controller.api.validation_steps import MISSING_FIELD_MESSAGE, validate_analysis_templates, validate_steps

#: Argo's messages (validation.go constants)
INVALID_STRATEGY_MESSAGE: Final = "Multiple Strategies can not be listed"
INVALID_MAX_SURGE_MAX_UNAVAILABLE: Final = "MaxSurge and MaxUnavailable both can not be zero"
DUPLICATED_SERVICES_BLUE_GREEN_MESSAGE: Final = "This rollout uses the same service for the active and preview services, but two different services are required."
DUPLICATED_SERVICES_CANARY_MESSAGE: Final = "This rollout uses the same service for the stable and canary services, but two different services are required."
INVALID_ANTI_AFFINITY_STRATEGY_MESSAGE: Final = "AntiAffinity must have exactly one strategy listed"
INVALID_ANTI_AFFINITY_WEIGHT_MESSAGE: Final = "AntiAffinity weight must be between 1-100"
SCALE_DOWN_LIMIT_LARGER_THAN_REVISION_LIMIT: Final = (
    "This rollout's revision history limit can not be smaller than the rollout's scale down limit"
)
INVALID_TRAFFIC_ROUTING_MESSAGE: Final = (
    "Canary service and Stable service must to be set to use Traffic Routing"
)
INVALID_CANARY_SCALE_DOWN_DELAY: Final = "Canary scaleDownDelaySeconds can only be used with traffic routing"
INVALID_CANARY_DYNAMIC_STABLE_SCALE: Final = "Canary dynamicStableScale can only be used with traffic routing"
INVALID_CANARY_DYNAMIC_STABLE_SCALE_WITH_SCALE_DOWN_DELAY: Final = (
    "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds"
)
INVALID_CANARY_MAX_WEIGHT_ONLY_SUPPORT_IN_NGINX_AND_PLUGINS: Final = (
    "Canary maxTrafficWeight in traffic routing only support in Nginx and Plugins"
)
INVALID_PING_PONG_PROVIDED_MESSAGE: Final = (
    "Ping service and Pong service must to be set to use Ping-Pong feature"
)
DUPLICATED_PING_PONG_SERVICES_MESSAGE: Final = "This rollout uses the same service for the ping and pong services, but two different services are required."
MISSED_ALB_ROOT_SERVICE_MESSAGE: Final = (
    "Root service field is required for the configuration with ALB and ping-pong feature enabled"
)
PING_PONG_WITH_ALB_ONLY_MESSAGE: Final = "Ping-pong feature works with the ALB traffic routing only"
#: Kubernetes' messages for the generic checks Argo reuses
NONNEGATIVE_MESSAGE: Final = "must be greater than or equal to 0"
EMPTY_SELECTOR_MESSAGE: Final = "empty selector is invalid for deployment"
TEMPLATE_WITH_WORKLOAD_REF_MESSAGE: Final = "template must be empty for workload reference rollout"
SELECTOR_MISMATCH_MESSAGE: Final = "`selector` does not match template `labels`"
DEADLINE_MESSAGE: Final = "must be greater than minReadySeconds"

#: routers with which a canary needs both canaryService and stableService (requireCanaryStableServices)
_ROUTERS_NEEDING_SERVICES: Final = ("smi", "apisix", "ambassador", "nginx", "appMesh", "traefik")


def validate_rollout(obj: Mapping[str, Any]) -> list[Problem]:
    """Every problem with a raw Rollout's spec; [] when Argo would accept it."""
    rollout, problems = read_rollout(obj)
    r = Reader()
    _validate_spec(r, rollout)
    return [*problems, *r.problems]


def invalid_spec_message(name: str, problems: Sequence[Problem]) -> str:
    """The ``InvalidSpec`` condition message Argo writes: the first problem, prefixed."""
    return f'The Rollout "{name}" is invalid: {problems[0]}'


def _validate_spec(r: Reader, rollout: Rollout) -> None:
    spec = rollout.spec
    if spec.replicas < 0:
        r.report("spec.replicas", NONNEGATIVE_MESSAGE, value=spec.replicas)
    if spec.workload_ref is None:
        if spec.selector is None:
            r.report("spec.selector", MISSING_FIELD_MESSAGE % ".spec.selector", kind=REQUIRED)
        elif spec.selector.empty:
            r.report("spec.selector", EMPTY_SELECTOR_MESSAGE, value=rollout.raw["spec"]["selector"])
    elif not spec.template.empty:
        r.report("spec.template", TEMPLATE_WITH_WORKLOAD_REF_MESSAGE, kind=INTERNAL)
    if spec.workload_ref is None:
        _validate_pod_template(r, rollout)
    for key, value in (
        ("minReadySeconds", spec.min_ready_seconds),
        ("revisionHistoryLimit", spec.revision_history_limit),
        ("progressDeadlineSeconds", spec.progress_deadline_seconds),
    ):
        if value < 0:
            r.report(f"spec.{key}", NONNEGATIVE_MESSAGE, value=value)
    if spec.progress_deadline_seconds <= spec.min_ready_seconds:
        r.report("spec.progressDeadlineSeconds", DEADLINE_MESSAGE, value=spec.progress_deadline_seconds)
    _validate_strategy(r, rollout)


def _validate_pod_template(r: Reader, rollout: Rollout) -> None:
    """The part of Kubernetes' ValidatePodTemplateSpecForReplicaSet a Rollout's template must pass."""
    template, selector = rollout.spec.template, rollout.spec.selector
    labels = dict(template.metadata.labels)
    if selector is not None and not selector.empty and not selector.matches(labels):
        r.report("spec.template.metadata.labels", SELECTOR_MISMATCH_MESSAGE, value=labels)
    pod = template.spec
    containers = pod.get("containers")
    if not containers:
        r.report("spec.template.spec.containers", "", kind=REQUIRED)
    elif isinstance(containers, list):
        seen: set[str] = set()
        for i, container in enumerate(containers):
            path = index("spec.template.spec.containers", i)
            name = container.get("name") if isinstance(container, Mapping) else None
            if not name:
                r.report(child(path, "name"), "", kind=REQUIRED)
            elif name in seen:
                r.report(child(path, "name"), "", kind=DUPLICATE, value=name)
            else:
                seen.add(str(name))
    policy = pod.get("restartPolicy")
    if policy is not None and policy != "Always":
        r.report(
            "spec.template.spec.restartPolicy", 'supported values: "Always"', kind=NOT_SUPPORTED, value=policy
        )
    if pod.get("activeDeadlineSeconds") is not None:
        r.report(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicaSet is not Supported",
            value=pod["activeDeadlineSeconds"],
        )


def _validate_strategy(r: Reader, rollout: Rollout) -> None:
    strategy = rollout.spec.strategy
    if strategy.canary is None and strategy.blue_green is None:
        message = MISSING_FIELD_MESSAGE % ".spec.strategy.canary or .spec.strategy.blueGreen"
        r.report("spec.strategy", message, kind=REQUIRED)
    elif strategy.canary is not None and strategy.blue_green is not None:
        r.report("spec.strategy", INVALID_STRATEGY_MESSAGE, value="blueGreen: true canary: true")
    elif strategy.blue_green is not None:
        _validate_blue_green(r, rollout, strategy.blue_green, "spec.strategy.blueGreen")
    elif strategy.canary is not None:
        _validate_canary(r, rollout, strategy.canary, "spec.strategy.canary")


def _validate_blue_green(r: Reader, rollout: Rollout, bg: BlueGreenStrategy, path: str) -> None:
    if not bg.active_service:
        missing = "." + child(path, "activeService")
        r.report(child(path, "activeService"), MISSING_FIELD_MESSAGE % missing, kind=REQUIRED)
    elif bg.active_service == bg.preview_service:
        r.report(
            child(path, "activeService"), DUPLICATED_SERVICES_BLUE_GREEN_MESSAGE, value=bg.active_service
        )
    limit = bg.scale_down_delay_revision_limit
    if limit is not None and rollout.spec.revision_history_limit < limit:
        r.report(
            child(path, "scaleDownDelayRevisionLimit"),
            SCALE_DOWN_LIMIT_LARGER_THAN_REVISION_LIMIT,
            value=limit,
        )
    _validate_anti_affinity(r, bg.anti_affinity, child(path, "antiAffinity"))
    for key, analysis in (
        ("prePromotionAnalysis", bg.pre_promotion_analysis),
        ("postPromotionAnalysis", bg.post_promotion_analysis),
    ):
        validate_analysis_templates(r, analysis, child(path, key))


def _require_canary_stable_services(canary: CanaryStrategy) -> bool:
    """Argo's requireCanaryStableServices: routers that need both canaryService and stableService."""
    routing = canary.traffic_routing
    if routing is None:
        return False
    alb, istio = routing.provider("alb"), routing.provider("istio")
    return (
        (alb is not None and canary.ping_pong is None)
        or (istio is not None and istio.get("destinationRule") is None)
        or any(routing.provider(name) is not None for name in _ROUTERS_NEEDING_SERVICES)
    )


def _validate_canary(r: Reader, rollout: Rollout, canary: CanaryStrategy, path: str) -> None:
    if canary.max_surge.value == 0 and canary.max_unavailable.value == 0:
        r.report(child(path, "maxSurge"), INVALID_MAX_SURGE_MAX_UNAVAILABLE, value=str(canary.max_surge))
    if canary.canary_service and canary.canary_service == canary.stable_service:
        r.report(
            child(path, "stableService"), DUPLICATED_SERVICES_CANARY_MESSAGE, value=canary.stable_service
        )
    routing = canary.traffic_routing
    if canary.ping_pong is not None:
        ping, pong = canary.ping_pong.ping_service, canary.ping_pong.pong_service
        alb = None if routing is None else routing.provider("alb")
        if routing is not None and alb is None:
            r.report(child(path, "trafficRouting.alb"), PING_PONG_WITH_ALB_ONLY_MESSAGE, value=None)
        if not ping:
            r.report(child(path, "pingPong.pingService"), INVALID_PING_PONG_PROVIDED_MESSAGE, value=ping)
        if not pong:
            r.report(child(path, "pingPong.pongService"), INVALID_PING_PONG_PROVIDED_MESSAGE, value=pong)
        if ping == pong:
            r.report(child(path, "pingPong.pingService"), DUPLICATED_PING_PONG_SERVICES_MESSAGE, value=ping)
        if alb is not None and not alb.get("rootService"):
            root = alb.get("rootService") or ""
            r.report(
                child(path, "trafficRouting.alb.rootService"), MISSED_ALB_ROOT_SERVICE_MESSAGE, value=root
            )
    if _require_canary_stable_services(canary):
        if not canary.stable_service:
            r.report(child(path, "stableService"), INVALID_TRAFFIC_ROUTING_MESSAGE, value="")
        if not canary.canary_service:
            r.report(child(path, "canaryService"), INVALID_TRAFFIC_ROUTING_MESSAGE, value="")
    if routing is None:
        if canary.scale_down_delay_seconds is not None:
            delay = canary.scale_down_delay_seconds
            r.report(child(path, "scaleDownDelaySeconds"), INVALID_CANARY_SCALE_DOWN_DELAY, value=delay)
        if canary.dynamic_stable_scale:
            r.report(child(path, "dynamicStableScale"), INVALID_CANARY_DYNAMIC_STABLE_SCALE, value=True)
    else:
        if canary.scale_down_delay_seconds is not None and canary.dynamic_stable_scale:
            message = INVALID_CANARY_DYNAMIC_STABLE_SCALE_WITH_SCALE_DOWN_DELAY
            r.report(child(path, "dynamicStableScale"), message, value=True)
        if (
            routing.max_traffic_weight is not None
            and routing.provider("nginx") is None
            and not routing.provider("plugins")
        ):
            r.report(
                child(path, "trafficRouting.maxTrafficWeight"),
                INVALID_CANARY_MAX_WEIGHT_ONLY_SUPPORT_IN_NGINX_AND_PLUGINS,
                value=routing.max_traffic_weight,
            )
    validate_steps(r, rollout, canary, path, max_weight=defaults.max_traffic_weight(rollout.spec))
    _validate_anti_affinity(r, canary.anti_affinity, child(path, "antiAffinity"))
    validate_analysis_templates(r, canary.analysis, child(path, "analysis"))


def _validate_anti_affinity(r: Reader, anti: AntiAffinity | None, path: str) -> None:
    if anti is None:
        return
    preferred = anti.preferred_weight is not None
    if preferred == anti.required:
        value = (
            f"antiAffinity.PreferredDuringSchedulingIgnoredDuringExecution: {str(preferred).lower()} "
            f"antiAffinity.RequiredDuringSchedulingIgnoredDuringExecution: {str(anti.required).lower()}"
        )
        r.report(path, INVALID_ANTI_AFFINITY_STRATEGY_MESSAGE, value=value)
    if anti.preferred_weight is not None and not 1 <= anti.preferred_weight <= 100:
        r.report(child(path, "weight"), INVALID_ANTI_AFFINITY_WEIGHT_MESSAGE, value=anti.preferred_weight)
