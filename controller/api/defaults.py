"""Argo Rollouts' defaults (utils/defaults/defaults.go), and the getters for the conditional ones.

Defaults that always apply are filled into the views as they are read (``replicas`` is 1 when
absent). Defaults that depend on other fields are the functions below, each named after the
Argo getter it mirrors; they take the :class:`~controller.api.rollout.RolloutSpec` view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from controller.api.values import IntOrPercent

if TYPE_CHECKING:
    from controller.api.rollout import RolloutSpec

#: DefaultReplicas
DEFAULT_REPLICAS: Final = 1
#: DefaultRevisionHistoryLimit
DEFAULT_REVISION_HISTORY_LIMIT: Final = 10
#: DefaultAnalysisRunSuccessfulHistoryLimit
DEFAULT_SUCCESSFUL_RUN_HISTORY_LIMIT: Final = 5
#: DefaultAnalysisRunUnsuccessfulHistoryLimit
DEFAULT_UNSUCCESSFUL_RUN_HISTORY_LIMIT: Final = 5
#: DefaultMaxSurge = "25": a string, which Argo reads as a percentage (see controller.api.values)
DEFAULT_MAX_SURGE: Final = IntOrPercent(25, percent=True)
#: DefaultMaxUnavailable = "25", likewise 25%; the same for canary and blue-green
DEFAULT_MAX_UNAVAILABLE: Final = IntOrPercent(25, percent=True)
#: DefaultProgressDeadlineSeconds
DEFAULT_PROGRESS_DEADLINE_SECONDS: Final = 600
#: DefaultScaleDownDelaySeconds (blue-green, and canary with traffic routing)
DEFAULT_SCALE_DOWN_DELAY_SECONDS: Final = 30
#: DefaultAbortScaleDownDelaySeconds (blue-green, and canary with traffic routing)
DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS: Final = 30
#: DefaultAutoPromotionEnabled
DEFAULT_AUTO_PROMOTION_ENABLED: Final = True
#: weightutil.MaxTrafficWeight: the traffic total when trafficRouting.maxTrafficWeight is unset
DEFAULT_MAX_TRAFFIC_WEIGHT: Final = 100
#: canary minPodsPerReplicaSet when unset (traffic-routed canary; utils/replicaset/canary.go)
DEFAULT_MIN_PODS_PER_REPLICA_SET: Final = 1
#: GetCanaryIngressAnnotationPrefixOrDefault
DEFAULT_NGINX_ANNOTATION_PREFIX: Final = "nginx.ingress.kubernetes.io"
#: workloadRef.scaleDown when empty
DEFAULT_WORKLOAD_SCALE_DOWN: Final = "never"


def scale_down_delay_seconds(spec: RolloutSpec) -> int:
    """``GetScaleDownDelaySecondsOrDefault``: how long the old ReplicaSet stays up after the switch.

    Blue-green: its value (default 30). Canary with traffic routing: its value (default 30).
    Basic canary: 0 (the field is not allowed there).
    """
    if spec.strategy.blue_green is not None:
        return spec.strategy.blue_green.scale_down_delay_seconds
    canary = spec.strategy.canary
    if canary is not None and canary.traffic_routing is not None:
        if canary.scale_down_delay_seconds is not None:
            return canary.scale_down_delay_seconds
        return DEFAULT_SCALE_DOWN_DELAY_SECONDS
    return 0


def abort_scale_down_delay_seconds(spec: RolloutSpec) -> int | None:
    """``GetAbortScaleDownDelaySecondsOrDefault``: the delay before an aborted ReplicaSet is scaled
    down; None means never (an explicit 0).

    Blue-green and traffic-routed canary default to 30; a basic canary is scaled down at once (0).
    """
    if spec.strategy.blue_green is not None:
        delay = spec.strategy.blue_green.abort_scale_down_delay_seconds
        return None if delay == 0 else delay
    canary = spec.strategy.canary
    if canary is not None and canary.traffic_routing is not None:
        if canary.abort_scale_down_delay_seconds is None:
            return DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
        return None if canary.abort_scale_down_delay_seconds == 0 else canary.abort_scale_down_delay_seconds
    return 0


def max_surge(spec: RolloutSpec) -> IntOrPercent:
    """``GetMaxSurgeOrDefault``: the canary's maxSurge, else 25%."""
    canary = spec.strategy.canary
    return canary.max_surge if canary is not None else DEFAULT_MAX_SURGE


def max_unavailable(spec: RolloutSpec) -> IntOrPercent:
    """``GetMaxUnavailableOrDefault``: the blue-green or canary maxUnavailable, else 25%."""
    if spec.strategy.blue_green is not None:
        return spec.strategy.blue_green.max_unavailable
    if spec.strategy.canary is not None:
        return spec.strategy.canary.max_unavailable
    return DEFAULT_MAX_UNAVAILABLE


def max_traffic_weight(spec: RolloutSpec) -> int:
    """``weightutil.MaxTrafficWeight``: trafficRouting.maxTrafficWeight, else 100."""
    canary = spec.strategy.canary
    routing = None if canary is None else canary.traffic_routing
    if routing is not None and routing.max_traffic_weight is not None:
        return routing.max_traffic_weight
    return DEFAULT_MAX_TRAFFIC_WEIGHT


def min_pods_per_replica_set(spec: RolloutSpec) -> int:
    """canary.minPodsPerReplicaSet, else 1."""
    canary = spec.strategy.canary
    if canary is not None and canary.min_pods_per_replica_set is not None:
        return canary.min_pods_per_replica_set
    return DEFAULT_MIN_PODS_PER_REPLICA_SET


def nginx_annotation_prefix(spec: RolloutSpec) -> str:
    """``GetCanaryIngressAnnotationPrefixOrDefault``."""
    canary = spec.strategy.canary
    if canary is not None and canary.traffic_routing is not None:
        nginx = canary.traffic_routing.provider("nginx")
        if nginx is not None and isinstance(nginx.get("annotationPrefix"), str) and nginx["annotationPrefix"]:
            return str(nginx["annotationPrefix"])
    return DEFAULT_NGINX_ANNOTATION_PREFIX
