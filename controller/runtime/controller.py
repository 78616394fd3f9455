"""The running controller: informers, a work queue, workers, leader election and metrics.

:class:`Controller` wires :mod:`controller.kube` to the :class:`~controller.runtime.reconciler.Reconciler`:

- informers for Rollouts, AnalysisRuns, AnalysisTemplates (``argoproj.io/v1alpha1``),
  ReplicaSets and Deployments (``apps/v1``) and Services (``v1``), all namespaces or one, and
  ClusterAnalysisTemplates;
- handlers that enqueue the ``namespace/name`` of the affected Rollout: a Rollout's own events;
  a ReplicaSet's through its controller ownerReference; a Service's through the Rollout cache's
  ``services`` index (the Rollouts naming it as canaryService or stableService); a Deployment's
  (or an unowned ReplicaSet's) through the ``workload`` index (the Rollouts whose
  ``workloadRef`` names it); an AnalysisRun's through its controller ownerReference; an
  (Cluster)AnalysisTemplate's through the ``analysis-templates`` index;
- a :class:`~controller.kube.WorkQueue` and a pool of workers calling ``Reconciler.sync``
  (a raised error, 409 Conflict included, requeues the key with rate-limited back-off);
- with leader election (the default), workers run only while this process holds the Lease
  ``rollouts-controller``; when the lease is lost :meth:`Controller.run` raises
  :class:`LeadershipLostError` (the process should exit, as client-go controllers do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.kube import (
    ApiClient,
    Conflict,
    Informer,
    KubeConfig,
    KubeError,
    LeaderElectionConfig,
    LeaderElector,
    NotFound,
    WorkQueue,
    default_identity,
    resource_path,
    run_workers,
)
from controller.runtime.analysis import AnalysisOptions, AnalysisRunController
from controller.runtime.metrics import Metrics
from controller.runtime.reconciler import (
    INGRESS_INDEX,
    OWNER_INDEX,
    ROLLOUT_API_VERSION,
    SERVICE_INDEX,
    TEMPLATE_INDEX,
    WORKLOAD_INDEX,
    Reconciler,
    ingress_index,
    key_of,
    log_action,
    owner_uid_index,
    rollout_key_of_replica_set,
    service_index,
    template_index,
    workload_index,
    workload_key,
)

log = logging.getLogger(__name__)

LEASE_NAME = "rollouts-controller"
DEFAULT_LEASE_NAMESPACE = "rollouts"


class LeadershipLostError(RuntimeError):
    """This process stopped holding the Lease; it should exit."""


@dataclass(frozen=True)
class ControllerOptions:
    """What ``rollouts controller run`` was asked to do."""

    #: watch only this namespace (None: all namespaces)
    namespace: str | None = None
    workers: int = 10
    leader_elect: bool = True
    #: where the Lease lives (None: see :func:`lease_namespace`)
    lease_namespace: str | None = None
    identity: str = ""
    #: only handle Rollouts labelled with this instance id ('' : only unlabelled Rollouts)
    instance_id: str = ""
    #: re-check every Rollout this often (seconds; None: never)
    resync_period: float | None = 900.0
    #: concurrent AnalysisRun reconciles (Argo's ``--analysis-threads``)
    analysis_workers: int = 30
    #: Prometheus URL for metrics that name no address ('' : $ARGO_ROLLOUTS_PROMETHEUS_ADDRESS)
    prometheus_address: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def lease_namespace(config: KubeConfig, env: Mapping[str, str] | None = None) -> str:
    """The Lease's namespace: ``$POD_NAMESPACE``, else the kubeconfig context's, else ``rollouts``."""
    env = os.environ if env is None else env
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    if config.namespace and config.namespace != "default":
        return config.namespace
    return DEFAULT_LEASE_NAMESPACE


class Controller:
    """``await Controller(api, options).run()`` until cancelled (or the lease is lost)."""

    def __init__(self, api: ApiClient, options: ControllerOptions, metrics: Metrics | None = None) -> None:
        self.api = api
        self.options = options
        self.metrics = metrics or Metrics()
        ns = options.namespace
        self.rollouts = Informer(
            api, ROLLOUT_API_VERSION, "rollouts", namespace=ns, resync_period=options.resync_period
        )
        self.replica_sets = Informer(api, "apps/v1", "replicasets", namespace=ns)
        self.services = Informer(api, "v1", "services", namespace=ns)
        self.deployments = Informer(api, "apps/v1", "deployments", namespace=ns)
        self.analysis_runs = Informer(api, ROLLOUT_API_VERSION, "analysisruns", namespace=ns)
        self.analysis_templates = Informer(api, ROLLOUT_API_VERSION, "analysistemplates", namespace=ns)
        self.cluster_analysis_templates = Informer(api, ROLLOUT_API_VERSION, "clusteranalysistemplates")
        self.analysis_runs.add_index(OWNER_INDEX, owner_uid_index)
        self.ingresses = Informer(api, "networking.k8s.io/v1", "ingresses", namespace=ns)
        self.rollouts.add_index(INGRESS_INDEX, ingress_index)
        self.rollouts.add_index(TEMPLATE_INDEX, template_index)
        self.rollouts.add_index(SERVICE_INDEX, service_index)
        self.rollouts.add_index(WORKLOAD_INDEX, workload_index)
        self.replica_sets.add_index(OWNER_INDEX, owner_uid_index)
        self.queue = WorkQueue(name="rollouts")
        self.reconciler = Reconciler(
            api,
            self.rollouts,
            self.replica_sets,
            self.services,
            deployments=self.deployments,
            analysis_runs=self.analysis_runs,
            ingresses=self.ingresses,
            analysis_templates=self.analysis_templates,
            cluster_analysis_templates=self.cluster_analysis_templates,
            observer=self.metrics,
            background_events=True,
            instance_id=options.instance_id,
        )
        self.analysis = AnalysisRunController(
            api,
            AnalysisOptions(
                namespace=ns,
                instance_id=options.instance_id,
                workers=options.analysis_workers,
                prometheus_address=options.prometheus_address,
            ),
            runs=self.analysis_runs,
        )
        self.elector: LeaderElector | None = None
        self._add_handlers()

    # -- event handlers ------------------------------------------------------------------------

    def _add_handlers(self) -> None:
        self.rollouts.add_handler(
            on_add=self._enqueue,
            on_update=lambda old, new: self._enqueue(new),
            on_delete=self._enqueue,
        )
        self.replica_sets.add_handler(
            on_add=self._enqueue_owner,
            on_update=self._replica_set_updated,
            on_delete=self._enqueue_owner,
        )
        self.services.add_handler(
            on_add=self._enqueue_referrers,
            on_update=lambda old, new: self._enqueue_referrers(new),
            on_delete=self._enqueue_referrers,
        )
        self.analysis_runs.add_handler(
            on_add=self._enqueue_owner,
            on_update=lambda old, new: self._enqueue_owner(new),
            on_delete=self._enqueue_owner,
        )
        self.ingresses.add_handler(
            on_add=self._ingress_changed,
            on_update=lambda old, new: self._ingress_changed(new),
            on_delete=self._ingress_changed,
        )
        for informer in (self.analysis_templates, self.cluster_analysis_templates):
            informer.add_handler(
                on_add=self._enqueue_template_referrers,
                on_update=lambda old, new: self._enqueue_template_referrers(new),
                on_delete=self._enqueue_template_referrers,
            )
        self.deployments.add_handler(
            on_add=lambda d: self._enqueue_workload_referrers(d, "Deployment"),
            on_update=lambda old, new: self._enqueue_workload_referrers(new, "Deployment"),
            on_delete=lambda d: self._enqueue_workload_referrers(d, "Deployment"),
        )

    def _enqueue(self, rollout: dict[str, Any]) -> None:
        self.queue.add(key_of(rollout))

    def _enqueue_owner(self, rs: dict[str, Any]) -> None:
        key = rollout_key_of_replica_set(rs)
        if key is not None:
            self.queue.add(key)
        else:
            self._enqueue_workload_referrers(rs, "ReplicaSet")

    def _ingress_changed(self, ingress: dict[str, Any]) -> None:
        """A stable Ingress: the Rollouts naming it; a canary Ingress: the Rollout owning it."""
        self._enqueue_owner(ingress)
        for rollout in self.rollouts.by_index(INGRESS_INDEX, key_of(ingress)):
            self._enqueue(rollout)

    def _enqueue_template_referrers(self, template: dict[str, Any]) -> None:
        meta = template.get("metadata") or {}
        value = f"{meta.get('namespace') or ''}/{meta.get('name', '')}"
        for rollout in self.rollouts.by_index(TEMPLATE_INDEX, value):
            self._enqueue(rollout)

    def _enqueue_workload_referrers(self, obj: dict[str, Any], kind: str) -> None:
        meta = obj.get("metadata") or {}
        value = workload_key(str(meta.get("namespace", "")), kind, str(meta.get("name", "")))
        for rollout in self.rollouts.by_index(WORKLOAD_INDEX, value):
            self._enqueue(rollout)

    def _replica_set_updated(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._enqueue_owner(new)
        if rollout_key_of_replica_set(old) != rollout_key_of_replica_set(new):
            self._enqueue_owner(old)

    def _enqueue_referrers(self, service: dict[str, Any]) -> None:
        for rollout in self.rollouts.by_index(SERVICE_INDEX, key_of(service)):
            self._enqueue(rollout)

    # -- running -------------------------------------------------------------------------------

    @property
    def informers(self) -> tuple[Informer, ...]:
        return (
            self.rollouts,
            self.replica_sets,
            self.services,
            self.deployments,
            self.analysis_runs,
            self.analysis_templates,
            self.cluster_analysis_templates,
            self.ingresses,
        )

    async def run(self) -> None:
        """Fill the caches, then run the workers (while leading, with leader election)."""
        tasks = [asyncio.create_task(i.run(), name=f"informer {i.name}") for i in self.informers]
        try:
            await asyncio.gather(*(i.wait_synced() for i in self.informers))
            log_action("caches-synced", rollouts=len(self.rollouts), replicasets=len(self.replica_sets))
            if self.options.leader_elect:
                await self._run_as_leader()
            else:
                await self._run_workers()
        finally:
            self.queue.shutdown()
            await self.reconciler.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_workers(self) -> None:
        log_action("start-workers", workers=self.options.workers, namespace=self.options.namespace or "*")
        async with asyncio.TaskGroup() as group:
            group.create_task(self.analysis.run(), name="analysis")
            group.create_task(
                run_workers(self.queue, self.options.workers, self.reconciler.sync, on_error=self._on_error),
                name="workers",
            )

    def _on_error(self, key: str, error: Exception) -> None:
        if isinstance(error, Conflict):
            log_action("conflict", rollout=key, error=str(error), retries=self.queue.num_requeues(key))
        elif isinstance(error, KubeError):
            log_action("error", rollout=key, error=str(error), retries=self.queue.num_requeues(key))
        else:
            log.exception(
                "action=error rollout=%s: reconcile failed; it will be retried", key, exc_info=error
            )

    async def _ensure_namespace(self, namespace: str) -> None:
        path = resource_path("v1", "namespaces", name=namespace)
        try:
            await self.api.get(path)
        except NotFound:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            with contextlib.suppress(Conflict):
                await self.api.create(resource_path("v1", "namespaces"), body)
            log_action("create-namespace", namespace=namespace)
        except KubeError as e:
            log.warning("could not check the namespace %s of the lease: %s", namespace, e)

    async def _run_as_leader(self) -> None:
        namespace = self.options.lease_namespace or lease_namespace(self.api.config)
        await self._ensure_namespace(namespace)
        config = LeaderElectionConfig(
            namespace=namespace,
            name=LEASE_NAME,
            identity=self.options.identity or default_identity(),
            lease_duration=self.options.lease_duration,
            renew_deadline=self.options.renew_deadline,
            retry_period=self.options.retry_period,
        )
        self.elector = elector = LeaderElector(
            self.api, config, on_new_leader=lambda who: log_action("new-leader", lease=LEASE_NAME, leader=who)
        )
        log_action("campaign", lease=f"{namespace}/{LEASE_NAME}", identity=config.identity)
        electing = asyncio.create_task(elector.run(), name="leader-election")
        leading = asyncio.create_task(elector.wait_until_leading())
        workers: asyncio.Task[None] | None = None
        try:
            await asyncio.wait({electing, leading}, return_when=asyncio.FIRST_COMPLETED)
            if not electing.done():
                log_action("leading", lease=f"{namespace}/{LEASE_NAME}", identity=config.identity)
                workers = asyncio.create_task(self._run_workers(), name="workers")
                await asyncio.wait({electing, workers}, return_when=asyncio.FIRST_COMPLETED)
            if electing.done():
                electing.result()  # an error of the elector surfaces here
                raise LeadershipLostError(f"lost the lease {namespace}/{LEASE_NAME}")
        finally:
            for task in (workers, leading, electing):
                if task is not None:
                    task.cancel()
            await asyncio.gather(
                *(t for t in (workers, leading, electing) if t is not None), return_exceptions=True
            )
