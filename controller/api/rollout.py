"""Typed views of a ``Rollout`` (pkg/apis/rollouts/v1alpha1/types.go) with Argo's defaults applied.

``Rollout.from_dict(obj)`` reads the raw JSON dict the controller caches. It raises
:class:`~controller.api.problems.SpecError` for what it cannot read (a string where a number
belongs); :func:`~controller.api.validation.validate_rollout` reports that and Argo's semantic
checks, and is what the controller runs first.

Unconditional defaults are filled in here (``replicas`` 1, ``revisionHistoryLimit`` 10,
``progressDeadlineSeconds`` 600, ``maxSurge``/``maxUnavailable`` 25%, blue-green
``autoPromotionEnabled`` true and both scale-down delays 30). Conditional ones (a canary's
scale-down delays apply only with traffic routing) are the functions in
:mod:`controller.api.defaults`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from controller.api import defaults as d
from controller.api.analysis import BackgroundAnalysis, RolloutAnalysis
from controller.api.meta import LabelSelector, ObjectMeta, PodMetadata, PodTemplate
from controller.api.problems import Problem, Reader, SpecError, child
from controller.api.steps import Step, read_step
from controller.api.values import IntOrPercent

#: the traffic routers a canary can name under ``trafficRouting`` (``plugins`` holds plugin routers)
TRAFFIC_ROUTERS: Final = (
    "istio",
    "nginx",
    "alb",
    "smi",
    "ambassador",
    "appMesh",
    "traefik",
    "apisix",
    "plugins",
)


@dataclass(frozen=True)
class WorkloadRef:
    """``spec.workloadRef``: the Deployment, ReplicaSet or PodTemplate that provides the pod template."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    #: ``never`` (also when empty), ``onsuccess`` or ``progressively``
    scale_down: str = d.DEFAULT_WORKLOAD_SCALE_DOWN


@dataclass(frozen=True)
class AntiAffinity:
    """``antiAffinity`` between the new and the previous ReplicaSet; exactly one kind should be set."""

    required: bool = False
    #: the weight of ``preferredDuringSchedulingIgnoredDuringExecution``; None when that is not set
    preferred_weight: int | None = None


@dataclass(frozen=True)
class PingPong:
    """``canary.pingPong``: two services that take turns being stable."""

    ping_service: str = ""
    pong_service: str = ""


@dataclass(frozen=True)
class ReplicaProgressThreshold:
    """``canary.replicaProgressThreshold``: how much of a step must be available (``Percent``/``Pods``)."""

    type: str = ""
    value: int = 0


@dataclass(frozen=True)
class TrafficRouting:
    """``canary.trafficRouting``: the routers (raw JSON each), managed routes and the traffic total."""

    #: router name -> its configuration, for the routers that are set (see TRAFFIC_ROUTERS)
    routers: Mapping[str, Any] = field(default_factory=dict)
    #: route names in precedence order; None when ``managedRoutes`` is absent (Argo tells the two apart)
    managed_routes: tuple[str, ...] | None = None
    max_traffic_weight: int | None = None

    def provider(self, name: str) -> Mapping[str, Any] | None:
        """The configuration of one router (``nginx``, ``istio``, ...), if it is set."""
        value = self.routers.get(name)
        return value if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class CanaryStrategy:
    """``strategy.canary``."""

    canary_service: str = ""
    stable_service: str = ""
    steps: tuple[Step, ...] = ()
    traffic_routing: TrafficRouting | None = None
    max_surge: IntOrPercent = d.DEFAULT_MAX_SURGE
    max_unavailable: IntOrPercent = d.DEFAULT_MAX_UNAVAILABLE
    analysis: BackgroundAnalysis | None = None
    anti_affinity: AntiAffinity | None = None
    canary_metadata: PodMetadata | None = None
    stable_metadata: PodMetadata | None = None
    #: as written; see defaults.scale_down_delay_seconds for the effective value
    scale_down_delay_seconds: int | None = None
    scale_down_delay_revision_limit: int | None = None
    #: as written; see defaults.abort_scale_down_delay_seconds for the effective value
    abort_scale_down_delay_seconds: int | None = None
    dynamic_stable_scale: bool = False
    ping_pong: PingPong | None = None
    min_pods_per_replica_set: int | None = None
    replica_progress_threshold: ReplicaProgressThreshold | None = None


@dataclass(frozen=True)
class BlueGreenStrategy:
    """``strategy.blueGreen``."""

    active_service: str = ""
    preview_service: str = ""
    #: None: the full replica count
    preview_replica_count: int | None = None
    auto_promotion_enabled: bool = d.DEFAULT_AUTO_PROMOTION_ENABLED
    auto_promotion_seconds: int = 0
    max_unavailable: IntOrPercent = d.DEFAULT_MAX_UNAVAILABLE
    scale_down_delay_seconds: int = d.DEFAULT_SCALE_DOWN_DELAY_SECONDS
    scale_down_delay_revision_limit: int | None = None
    #: 0 means the aborted ReplicaSet is never scaled down
    abort_scale_down_delay_seconds: int = d.DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
    pre_promotion_analysis: RolloutAnalysis | None = None
    post_promotion_analysis: RolloutAnalysis | None = None
    anti_affinity: AntiAffinity | None = None
    active_metadata: PodMetadata | None = None
    preview_metadata: PodMetadata | None = None


@dataclass(frozen=True)
class RolloutStrategy:
    """``spec.strategy``: a valid spec has exactly one of the two."""

    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None


@dataclass(frozen=True)
class RolloutSpec:
    """``spec``, defaults applied."""

    replicas: int = d.DEFAULT_REPLICAS
    selector: LabelSelector | None = None
    template: PodTemplate = field(default_factory=PodTemplate)
    workload_ref: WorkloadRef | None = None
    min_ready_seconds: int = 0
    revision_history_limit: int = d.DEFAULT_REVISION_HISTORY_LIMIT
    paused: bool = False
    progress_deadline_seconds: int = d.DEFAULT_PROGRESS_DEADLINE_SECONDS
    progress_deadline_abort: bool = False
    #: RFC 3339 time; pods created before it are restarted
    restart_at: str | None = None
    #: rollbackWindow.revisions
    rollback_window_revisions: int | None = None
    successful_run_history_limit: int = d.DEFAULT_SUCCESSFUL_RUN_HISTORY_LIMIT
    unsuccessful_run_history_limit: int = d.DEFAULT_UNSUCCESSFUL_RUN_HISTORY_LIMIT
    strategy: RolloutStrategy = field(default_factory=RolloutStrategy)


@dataclass(frozen=True)
class PauseCondition:
    """One ``status.pauseConditions`` entry (``CanaryPauseStep``, ``BlueGreenPause``, ...)."""

    reason: str
    start_time: str = ""


@dataclass(frozen=True)
class Condition:
    """One ``status.conditions`` entry."""

    type: str
    status: str = ""
    reason: str = ""
    message: str = ""
    last_update_time: str = ""
    last_transition_time: str = ""


@dataclass(frozen=True)
class RolloutStatus:
    """``status``: what the controller last wrote, plus the fields users and the CLI set
    (``abort``, ``promoteFull``, ``pauseConditions``, ``currentStepIndex``)."""

    abort: bool = False
    promote_full: bool = False
    pause_conditions: tuple[PauseCondition, ...] = ()
    controller_pause: bool = False
    aborted_at: str | None = None
    current_pod_hash: str = ""
    current_step_hash: str = ""
    current_step_index: int | None = None
    stable_rs: str = ""
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    hpa_replicas: int = 0
    selector: str = ""
    collision_count: int | None = None
    observed_generation: str = ""
    conditions: tuple[Condition, ...] = ()
    phase: str = ""
    message: str = ""
    restarted_at: str | None = None
    workload_observed_generation: str = ""
    #: ``status.canary`` and ``status.blueGreen`` as raw JSON, for the strategy code to read
    canary: Mapping[str, Any] = field(default_factory=dict)
    blue_green: Mapping[str, Any] = field(default_factory=dict)

    def condition(self, type_: str) -> Condition | None:
        """The condition of a type, if present."""
        return next((c for c in self.conditions if c.type == type_), None)


@dataclass(frozen=True)
class Rollout:
    """A ``Rollout``: metadata, spec (defaults applied), status, and the raw dict."""

    metadata: ObjectMeta
    spec: RolloutSpec
    status: RolloutStatus = field(default_factory=RolloutStatus)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Rollout:
        """The view of a raw Rollout; raises SpecError listing every field it cannot read."""
        rollout, problems = read_rollout(obj)
        if problems:
            raise SpecError(problems)
        return rollout


def read_rollout(obj: Mapping[str, Any]) -> tuple[Rollout, list[Problem]]:
    """Read a raw Rollout into a view, collecting (not raising) the problems found on the way.

    Status is read leniently: it is the controller's own record, and a bad value there must not
    stop reconciliation, so its problems are dropped and defaults used.
    """
    r = Reader()
    metadata = ObjectMeta.read(r, r.obj(obj, "metadata", ""))
    spec = _read_spec(r, r.obj(obj, "spec", "") or {}, "spec")
    raw_status = obj.get("status")
    status = _read_status(Reader(), raw_status if isinstance(raw_status, Mapping) else {})
    return Rollout(metadata, spec, status, obj), r.problems


def _read_spec(r: Reader, raw: Mapping[str, Any], path: str) -> RolloutSpec:
    selector = r.obj(raw, "selector", path)
    workload = r.obj(raw, "workloadRef", path)
    history = r.obj(raw, "analysis", path) or {}
    history_path = child(path, "analysis")
    rollback = r.obj(raw, "rollbackWindow", path)
    return RolloutSpec(
        replicas=r.integer(raw, "replicas", path, d.DEFAULT_REPLICAS),
        selector=None if selector is None else LabelSelector.read(r, selector, child(path, "selector")),
        template=PodTemplate.read(r, r.obj(raw, "template", path), child(path, "template")),
        workload_ref=None
        if workload is None
        else _read_workload_ref(r, workload, child(path, "workloadRef")),
        min_ready_seconds=r.integer(raw, "minReadySeconds", path),
        revision_history_limit=r.integer(raw, "revisionHistoryLimit", path, d.DEFAULT_REVISION_HISTORY_LIMIT),
        paused=r.boolean(raw, "paused", path),
        progress_deadline_seconds=r.integer(
            raw, "progressDeadlineSeconds", path, d.DEFAULT_PROGRESS_DEADLINE_SECONDS
        ),
        progress_deadline_abort=r.boolean(raw, "progressDeadlineAbort", path),
        restart_at=r.opt_string(raw, "restartAt", path),
        rollback_window_revisions=None
        if rollback is None
        else r.opt_int(rollback, "revisions", child(path, "rollbackWindow")),
        successful_run_history_limit=r.integer(
            history, "successfulRunHistoryLimit", history_path, d.DEFAULT_SUCCESSFUL_RUN_HISTORY_LIMIT
        ),
        unsuccessful_run_history_limit=r.integer(
            history, "unsuccessfulRunHistoryLimit", history_path, d.DEFAULT_UNSUCCESSFUL_RUN_HISTORY_LIMIT
        ),
        strategy=_read_strategy(r, r.obj(raw, "strategy", path) or {}, child(path, "strategy")),
    )


def _read_workload_ref(r: Reader, raw: Mapping[str, Any], path: str) -> WorkloadRef:
    return WorkloadRef(
        api_version=r.string(raw, "apiVersion", path),
        kind=r.string(raw, "kind", path),
        name=r.string(raw, "name", path),
        scale_down=r.string(raw, "scaleDown", path) or d.DEFAULT_WORKLOAD_SCALE_DOWN,
    )


def _read_strategy(r: Reader, raw: Mapping[str, Any], path: str) -> RolloutStrategy:
    canary = r.obj(raw, "canary", path)
    blue_green = r.obj(raw, "blueGreen", path)
    return RolloutStrategy(
        canary=None if canary is None else _read_canary(r, canary, child(path, "canary")),
        blue_green=None if blue_green is None else _read_blue_green(r, blue_green, child(path, "blueGreen")),
    )


def _int_or_percent(
    r: Reader, raw: Mapping[str, Any], key: str, path: str, default: IntOrPercent
) -> IntOrPercent:
    value = r.int_or_string(raw, key, path)
    if value is None:
        return default
    try:
        return IntOrPercent.parse(value)
    except ValueError as e:
        r.report(child(path, key), str(e), value=value)
        return IntOrPercent(0, percent=False)  # what Argo's validation reads an unparsable string as


def _metadata(r: Reader, raw: Mapping[str, Any], key: str, path: str) -> PodMetadata | None:
    value = r.obj(raw, key, path)
    return None if value is None else PodMetadata.read(r, value, child(path, key))


def _analysis(r: Reader, raw: Mapping[str, Any], key: str, path: str) -> RolloutAnalysis | None:
    value = r.obj(raw, key, path)
    return None if value is None else RolloutAnalysis.read(r, value, child(path, key))


def _anti_affinity(r: Reader, raw: Mapping[str, Any], path: str) -> AntiAffinity | None:
    value = r.obj(raw, "antiAffinity", path)
    if value is None:
        return None
    here = child(path, "antiAffinity")
    preferred = r.obj(value, "preferredDuringSchedulingIgnoredDuringExecution", here)
    return AntiAffinity(
        required=r.obj(value, "requiredDuringSchedulingIgnoredDuringExecution", here) is not None,
        preferred_weight=None
        if preferred is None
        else r.integer(preferred, "weight", child(here, "preferredDuringSchedulingIgnoredDuringExecution")),
    )


def _read_canary(r: Reader, raw: Mapping[str, Any], path: str) -> CanaryStrategy:
    routing = r.obj(raw, "trafficRouting", path)
    analysis = r.obj(raw, "analysis", path)
    ping_pong = r.obj(raw, "pingPong", path)
    threshold = r.obj(raw, "replicaProgressThreshold", path)
    return CanaryStrategy(
        canary_service=r.string(raw, "canaryService", path),
        stable_service=r.string(raw, "stableService", path),
        steps=tuple(read_step(r, step, p) for p, step in r.objects(raw, "steps", path)),
        traffic_routing=None if routing is None else _read_routing(r, routing, child(path, "trafficRouting")),
        max_surge=_int_or_percent(r, raw, "maxSurge", path, d.DEFAULT_MAX_SURGE),
        max_unavailable=_int_or_percent(r, raw, "maxUnavailable", path, d.DEFAULT_MAX_UNAVAILABLE),
        analysis=None if analysis is None else BackgroundAnalysis.read(r, analysis, child(path, "analysis")),
        anti_affinity=_anti_affinity(r, raw, path),
        canary_metadata=_metadata(r, raw, "canaryMetadata", path),
        stable_metadata=_metadata(r, raw, "stableMetadata", path),
        scale_down_delay_seconds=r.opt_int(raw, "scaleDownDelaySeconds", path),
        scale_down_delay_revision_limit=r.opt_int(raw, "scaleDownDelayRevisionLimit", path),
        abort_scale_down_delay_seconds=r.opt_int(raw, "abortScaleDownDelaySeconds", path),
        dynamic_stable_scale=r.boolean(raw, "dynamicStableScale", path),
        ping_pong=None
        if ping_pong is None
        else PingPong(
            r.string(ping_pong, "pingService", child(path, "pingPong")),
            r.string(ping_pong, "pongService", child(path, "pingPong")),
        ),
        min_pods_per_replica_set=r.opt_int(raw, "minPodsPerReplicaSet", path),
        replica_progress_threshold=None
        if threshold is None
        else ReplicaProgressThreshold(
            r.string(threshold, "type", child(path, "replicaProgressThreshold")),
            r.integer(threshold, "value", child(path, "replicaProgressThreshold")),
        ),
    )


def _read_routing(r: Reader, raw: Mapping[str, Any], path: str) -> TrafficRouting:
    routers = {name: raw[name] for name in TRAFFIC_ROUTERS if raw.get(name) is not None}
    for name, value in routers.items():
        if not isinstance(value, Mapping):
            r.report(child(path, name), "must be an object", value=value)
    return TrafficRouting(
        routers={k: v for k, v in routers.items() if isinstance(v, Mapping)},
        managed_routes=None
        if raw.get("managedRoutes") is None
        else tuple(r.string(m, "name", p) for p, m in r.objects(raw, "managedRoutes", path)),
        max_traffic_weight=r.opt_int(raw, "maxTrafficWeight", path),
    )


def _read_blue_green(r: Reader, raw: Mapping[str, Any], path: str) -> BlueGreenStrategy:
    return BlueGreenStrategy(
        active_service=r.string(raw, "activeService", path),
        preview_service=r.string(raw, "previewService", path),
        preview_replica_count=r.opt_int(raw, "previewReplicaCount", path),
        auto_promotion_enabled=r.boolean(raw, "autoPromotionEnabled", path, d.DEFAULT_AUTO_PROMOTION_ENABLED),
        auto_promotion_seconds=r.integer(raw, "autoPromotionSeconds", path),
        max_unavailable=_int_or_percent(r, raw, "maxUnavailable", path, d.DEFAULT_MAX_UNAVAILABLE),
        scale_down_delay_seconds=r.integer(
            raw, "scaleDownDelaySeconds", path, d.DEFAULT_SCALE_DOWN_DELAY_SECONDS
        ),
        scale_down_delay_revision_limit=r.opt_int(raw, "scaleDownDelayRevisionLimit", path),
        abort_scale_down_delay_seconds=r.integer(
            raw, "abortScaleDownDelaySeconds", path, d.DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
        ),
        pre_promotion_analysis=_analysis(r, raw, "prePromotionAnalysis", path),
        post_promotion_analysis=_analysis(r, raw, "postPromotionAnalysis", path),
        anti_affinity=_anti_affinity(r, raw, path),
        active_metadata=_metadata(r, raw, "activeMetadata", path),
        preview_metadata=_metadata(r, raw, "previewMetadata", path),
    )


def _read_status(r: Reader, raw: Mapping[str, Any]) -> RolloutStatus:
    p = "status"
    return RolloutStatus(
        abort=r.boolean(raw, "abort", p),
        promote_full=r.boolean(raw, "promoteFull", p),
        pause_conditions=tuple(
            PauseCondition(r.string(c, "reason", cp), r.string(c, "startTime", cp))
            for cp, c in r.objects(raw, "pauseConditions", p)
        ),
        controller_pause=r.boolean(raw, "controllerPause", p),
        aborted_at=r.opt_string(raw, "abortedAt", p),
        current_pod_hash=r.string(raw, "currentPodHash", p),
        current_step_hash=r.string(raw, "currentStepHash", p),
        current_step_index=r.opt_int(raw, "currentStepIndex", p),
        stable_rs=r.string(raw, "stableRS", p),
        replicas=r.integer(raw, "replicas", p),
        updated_replicas=r.integer(raw, "updatedReplicas", p),
        ready_replicas=r.integer(raw, "readyReplicas", p),
        available_replicas=r.integer(raw, "availableReplicas", p),
        hpa_replicas=r.integer(raw, "HPAReplicas", p),
        selector=r.string(raw, "selector", p),
        collision_count=r.opt_int(raw, "collisionCount", p),
        observed_generation=r.string(raw, "observedGeneration", p),
        conditions=tuple(
            Condition(
                type=r.string(c, "type", cp),
                status=r.string(c, "status", cp),
                reason=r.string(c, "reason", cp),
                message=r.string(c, "message", cp),
                last_update_time=r.string(c, "lastUpdateTime", cp),
                last_transition_time=r.string(c, "lastTransitionTime", cp),
            )
            for cp, c in r.objects(raw, "conditions", p)
        ),
        phase=r.string(raw, "phase", p),
        message=r.string(raw, "message", p),
        restarted_at=r.opt_string(raw, "restartedAt", p),
        workload_observed_generation=r.string(raw, "workloadObservedGeneration", p),
        canary=r.obj(raw, "canary", p) or {},
        blue_green=r.obj(raw, "blueGreen", p) or {},
    )
