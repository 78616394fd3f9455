"""Metric providers (the I/O half of analysis): ``prometheus``, ``web`` and ``job``.

:class:`Providers` picks the provider for a metric (Argo's ``ProviderFactory``); a metric naming
any other provider (datadog, newRelic, ...) gets :class:`ProviderError`, which the controller
turns into an Error measurement, as Argo does for a provider it cannot make.
"""

from __future__ import annotations

from controller.analysis.providers.base import (
    Clock,
    MetricContext,
    Provider,
    ProviderError,
    RunRef,
    mark_error,
    utcnow,
)
from controller.analysis.providers.job import JobApi, JobLookup, JobProvider, JobsOfRun
from controller.analysis.providers.prometheus import PrometheusProvider, default_address
from controller.analysis.providers.web import WebProvider
from controller.api.analysis import Metric
from controller.kube.http import HttpClient

__all__ = [
    "JobProvider",
    "MetricContext",
    "PrometheusProvider",
    "Provider",
    "ProviderError",
    "Providers",
    "RunRef",
    "WebProvider",
    "default_address",
    "mark_error",
]


class Providers:
    """One provider of each kind, sharing an HTTP client and the Kubernetes API."""

    def __init__(
        self,
        http: HttpClient,
        *,
        api: JobApi | None = None,
        job_lookup: JobLookup | None = None,
        jobs_of: JobsOfRun | None = None,
        prometheus_address: str = "",
        clock: Clock = utcnow,
    ) -> None:
        self.prometheus = PrometheusProvider(http, address=prometheus_address, clock=clock)
        self.web = WebProvider(http, clock=clock)
        self.job = (
            JobProvider(api, lookup=job_lookup, jobs_of=jobs_of, clock=clock) if api is not None else None
        )

    def get(self, metric: Metric) -> Provider:
        """The provider of ``metric``; raises :class:`ProviderError` when there is none here."""
        name = metric.provider_name
        if name == "prometheus":
            return self.prometheus
        if name == "web":
            return self.web
        if name == "job" and self.job is not None:
            return self.job
        if name is None:
            raise ProviderError(f"metric {metric.name!r} must name exactly one provider")
        raise ProviderError(
            f"provider {name!r} is not supported by this controller (prometheus, web and job are)"
        )
