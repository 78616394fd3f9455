"""The only code that speaks HTTP to the Kubernetes API, and the controller runtime's plumbing.

- :mod:`.config`: where the API is (kubeconfig, in-cluster);
- :mod:`.client` and :mod:`.errors`: an async client returning raw JSON, with typed errors;
- :mod:`.informer`: per-kind caches fed by list + watch;
- :mod:`.workqueue` and :mod:`.ratelimit`: the de-duplicating, rate-limited queue and workers;
- :mod:`.leader`: leader election on a Lease;
- :mod:`.versions`: the stale-cache guard.
"""

from controller.kube.backoff import Backoff
from controller.kube.client import ApiClient, RetryPolicy, WatchEvent, resource_path
from controller.kube.clock import Clock, FakeClock, LoopClock
from controller.kube.config import ConfigError, KubeConfig, load_config, load_in_cluster, load_kubeconfig
from controller.kube.errors import (
    ApiError,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    KubeError,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unreachable,
)
from controller.kube.informer import Informer, object_key
from controller.kube.leader import LeaderElectionConfig, LeaderElector, default_identity
from controller.kube.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from controller.kube.versions import VersionTracker
from controller.kube.workqueue import WorkQueue, run_workers

__all__ = [
    "ApiClient",
    "ApiError",
    "Backoff",
    "BucketRateLimiter",
    "Clock",
    "ConfigError",
    "Conflict",
    "Expired",
    "FakeClock",
    "Forbidden",
    "Informer",
    "Invalid",
    "ItemExponentialFailureRateLimiter",
    "KubeConfig",
    "KubeError",
    "LeaderElectionConfig",
    "LeaderElector",
    "LoopClock",
    "MaxOfRateLimiter",
    "NotFound",
    "RateLimiter",
    "RetryPolicy",
    "TooManyRequests",
    "Unauthorized",
    "Unreachable",
    "VersionTracker",
    "WatchEvent",
    "WorkQueue",
    "default_controller_rate_limiter",
    "default_identity",
    "load_config",
    "load_in_cluster",
    "load_kubeconfig",
    "object_key",
    "resource_path",
    "run_workers",
]
