"""The only code that speaks HTTP to the Kubernetes API: where it is (config) and a client."""

from controller.kube.client import (
    ApiClient,
    ApiError,
    Conflict,
    Forbidden,
    KubeError,
    NotFound,
    Unauthorized,
    Unreachable,
)
from controller.kube.config import ConfigError, KubeConfig, load_config, load_in_cluster, load_kubeconfig

__all__ = [
    "ApiClient",
    "ApiError",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "KubeConfig",
    "KubeError",
    "NotFound",
    "Unauthorized",
    "Unreachable",
    "load_config",
    "load_in_cluster",
    "load_kubeconfig",
]
