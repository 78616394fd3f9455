"""One reconcile of one Rollout key: read the caches, plan with :mod:`controller.core`, apply.

:class:`Reconciler` is the I/O half of the controller. For a key ``namespace/name`` it reads the
Rollout from the Rollout cache (skipping a key that is gone, or whose cached copy is older than
our own last write: :class:`~controller.kube.VersionTracker`), gathers the ReplicaSets the
Rollout controls (by ownerReference uid, through the ``owner-uid`` index of the ReplicaSet
cache) and its canary/stable Services, reads the clock, calls
:func:`~controller.core.canary.plan_canary`, and applies the :class:`~controller.core.plan.Plan`
in its order: delete, create, update and scale ReplicaSets, pod metadata, Service selectors,
``/status`` merge patch, events. The Rollout's pods are listed (one LIST by its selector) only
while a ``spec.restartAt`` is due or ephemeral metadata is configured.

It talks to the API only through :class:`ApiWriter` (a subset of
:class:`~controller.kube.ApiClient`) and to the caches only through :class:`Cache` (a subset of
:class:`~controller.kube.Informer`), so unit tests drive it with plain fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from controller.core import bluegreen_analysis, ephemeral, trafficrouting, workload
from controller.core.bluegreen import plan_bluegreen
from controller.core.canary import MANAGED_BY_ANNOTATION, plan_canary
from controller.core.plan import WARNING, Plan, apply_merge_patch
from controller.core.restart import needs_restart
from controller.core.snapshot import DESIRED_REPLICAS_ANNOTATION, Snapshot
from controller.kube import Conflict, NotFound, VersionTracker, resource_path

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"
COMPONENT = "rollouts-controller"
#: label that ties a Rollout to one controller instance (Argo's ``--instance-id``)
INSTANCE_ID_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"
#: index of the ReplicaSet cache: ``namespace/uid`` of the controlling Rollout
OWNER_INDEX = "owner-uid"
#: index of the Rollout cache: ``namespace/service`` of each canary/stable Service named
SERVICE_INDEX = "services"
#: index of the Rollout cache: ``namespace/Kind/name`` of the workload ``spec.workloadRef`` names
WORKLOAD_INDEX = "workload"
#: index of the Rollout cache: ``namespace/name`` of the stable Ingresses a Rollout names
INGRESS_INDEX = "ingresses"
#: index of the Rollout cache: the (Cluster)AnalysisTemplates a Rollout names (see template_index)
TEMPLATE_INDEX = "analysis-templates"
#: how soon to look again at a key whose cached copy is older than our last write
STALE_REQUEUE = 0.2
#: an Event repeated within this many seconds of the first is counted on that Event (client-go: 10 min)
EVENT_AGGREGATION_WINDOW = 600.0
#: Events written at once by the background senders (one Rollout's Events may then land out of
#: order by milliseconds; their timestamps say the order)
EVENT_SENDERS = 8
#: how many distinct Events are remembered for aggregation (least recently seen dropped first)
EVENT_CACHE_SIZE = 4096
#: reason of the Warning event recorded when the planner cannot handle a Rollout
UNSUPPORTED_REASON = "UnsupportedSpec"


class Cache(Protocol):
    """What the reconciler reads from an informer."""

    def get(self, key: str) -> Obj | None: ...

    def by_index(self, name: str, value: str) -> list[Obj]: ...


class ApiWriter(Protocol):
    """The writes the reconciler makes (a subset of :class:`~controller.kube.ApiClient`)."""

    async def create(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]: ...

    async def patch(self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None) -> Obj: ...

    async def patch_status(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> Obj: ...

    async def delete(self, path: str) -> Obj: ...

    async def list(self, path: str, *, label_selector: str | None = None) -> Obj: ...

    async def get(self, path: str) -> Obj: ...


class Observer(Protocol):
    """Metrics hooks (see :class:`controller.runtime.metrics.Metrics`)."""

    def reconciled(self, rollout: Mapping[str, Any], seconds: float) -> None: ...

    def event(self, type_: str, reason: str) -> None: ...

    def forget(self, key: str) -> None: ...


def log_action(action: str, **fields: object) -> None:
    """One structured (logfmt) log line: ``action=scale rollout=ns/web replicaset=web-abc replicas=2``."""
    parts = [f"action={action}"]
    for k, v in fields.items():
        text = str(v)
        parts.append(f"{k}={text!r}" if (" " in text or not text) else f"{k}={text}")
    log.info(" ".join(parts))


# -- cache indexes and event mapping --------------------------------------------------------------


def controller_owner(obj: Mapping[str, Any], kind: str = "Rollout") -> Mapping[str, Any] | None:
    """The ``controller: true`` ownerReference of ``obj`` when it is a ``kind``, else None."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if (
            ref.get("controller")
            and ref.get("kind") == kind
            and str(ref.get("apiVersion", "")).startswith("argoproj.io/")
        ):
            return ref  # type: ignore[no-any-return]
    return None


def owner_uid_index(rs: Obj) -> Iterable[str]:
    """Index function: ``namespace/uid`` of the Rollout controlling a ReplicaSet."""
    ref = controller_owner(rs)
    if ref is None or not ref.get("uid"):
        return ()
    return (f"{(rs.get('metadata') or {}).get('namespace', '')}/{ref['uid']}",)


def service_names(rollout: Mapping[str, Any]) -> list[str]:
    """The Service names a Rollout's strategy refers to (canary/stable, active/preview)."""
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    canary = strategy.get("canary") or {}
    blue_green = strategy.get("blueGreen") or {}
    names = [str(canary[k]) for k in ("canaryService", "stableService") if canary.get(k)]
    return names + [str(blue_green[k]) for k in ("activeService", "previewService") if blue_green.get(k)]


def service_index(rollout: Obj) -> Iterable[str]:
    """Index function: ``namespace/service`` of each Service a Rollout names."""
    namespace = (rollout.get("metadata") or {}).get("namespace", "")
    return {f"{namespace}/{name}" for name in service_names(rollout)}


def ingress_index(rollout: Obj) -> Iterable[str]:
    """Index function of the Rollout cache: ``namespace/name`` of each stable Ingress it names."""
    namespace = str((rollout.get("metadata") or {}).get("namespace", ""))
    return {f"{namespace}/{name}" for name in trafficrouting.stable_ingress_names(rollout)}


def template_refs(rollout: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every ``templates[]`` entry of the Rollout's analysis (canary steps and background,
    blue-green pre- and post-promotion)."""
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    analyses = [s.get("analysis") for s in canary.get("steps") or () if isinstance(s, Mapping)]
    analyses.append(canary.get("analysis"))
    refs = [
        ref
        for analysis in analyses
        if isinstance(analysis, Mapping)
        for ref in analysis.get("templates") or ()
        if isinstance(ref, Mapping)
    ]
    return refs + [ref for _, ref in bluegreen_analysis.template_refs(rollout)]


def template_index(rollout: Obj) -> Iterable[str]:
    """Index function of the Rollout cache: ``namespace/name`` of each AnalysisTemplate it names,
    ``/name`` of each ClusterAnalysisTemplate."""
    namespace = str((rollout.get("metadata") or {}).get("namespace", ""))
    return {
        f"{'' if ref.get('clusterScope') else namespace}/{ref.get('templateName', '')}"
        for ref in template_refs(rollout)
    }


def workload_key(namespace: str, kind: str, name: str) -> str:
    """The :data:`WORKLOAD_INDEX` value of a workload: ``namespace/Kind/name``."""
    return f"{namespace}/{kind}/{name}"


def workload_index(rollout: Obj) -> Iterable[str]:
    """Index function: ``namespace/Kind/name`` of the workload a Rollout references."""
    ref = (rollout.get("spec") or {}).get("workloadRef")
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return ()
    namespace = str((rollout.get("metadata") or {}).get("namespace", ""))
    return (workload_key(namespace, str(ref.get("kind") or ""), str(ref["name"])),)


def label_selector_text(selector: Mapping[str, Any]) -> str:
    """A LabelSelector as the ``labelSelector`` query parameter spells it."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def rollout_key_of_replica_set(rs: Mapping[str, Any]) -> str | None:
    """``namespace/name`` of the Rollout controlling ``rs`` (None when it has none)."""
    ref = controller_owner(rs)
    if ref is None or not ref.get("name"):
        return None
    return f"{(rs.get('metadata') or {}).get('namespace', '')}/{ref['name']}"


def key_of(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` of a namespaced object."""
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def instance_matches(rollout: Mapping[str, Any], instance_id: str) -> bool:
    """Whether this controller (``instance_id``, '' for none) handles ``rollout``."""
    labels = (rollout.get("metadata") or {}).get("labels") or {}
    return str(labels.get(INSTANCE_ID_LABEL) or "") == instance_id


def event_body(rollout: Mapping[str, Any], type_: str, reason: str, message: str, now: datetime) -> Obj:
    """A ``v1`` Event about ``rollout`` from ``rollouts-controller``."""
    meta = rollout.get("metadata") or {}
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta.get('name', '')}.{uuid.uuid4().hex[:16]}",
            "namespace": meta.get("namespace", "default"),
        },
        "involvedObject": {
            "apiVersion": ROLLOUT_API_VERSION,
            "kind": "Rollout",
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace", "default"),
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": COMPONENT},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


# -- the reconciler -------------------------------------------------------------------------------


class Reconciler:
    """``await reconciler.sync("ns/name")``: one reconcile; returns the requeue delay or None.

    API errors propagate (the worker pool requeues the key with rate-limited back-off; a 409
    Conflict is the usual one: someone else wrote first).
    """

    def __init__(
        self,
        api: ApiWriter,
        rollouts: Cache,
        replica_sets: Cache,
        services: Cache,
        *,
        deployments: Cache | None = None,
        analysis_runs: Cache | None = None,
        ingresses: Cache | None = None,
        analysis_templates: Cache | None = None,
        cluster_analysis_templates: Cache | None = None,
        versions: VersionTracker | None = None,
        observer: Observer | None = None,
        instance_id: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        background_events: bool = False,
    ) -> None:
        self.api = api
        self.rollouts = rollouts
        self.replica_sets = replica_sets
        self.services = services
        self.deployments = deployments
        self.analysis_runs = analysis_runs
        self.ingresses = ingresses
        self.analysis_templates = analysis_templates
        self.cluster_analysis_templates = cluster_analysis_templates
        self.versions = versions or VersionTracker()
        self.observer = observer
        self.instance_id = instance_id
        self.clock = clock
        #: queue Events for a sender task instead of writing them inside the reconcile
        self.background_events = background_events
        self._event_queue: asyncio.Queue[tuple[Obj, list[tuple[str, str, str]], datetime]] = asyncio.Queue()
        self._event_senders: list[asyncio.Task[None]] = []
        #: the last Warning recorded per Rollout key by ``_record_events(once=True)``
        self._last_warning: dict[str, tuple[str, str]] = {}
        #: Events written, for aggregation: (rollout uid, type, reason, message) -> (name, count, first)
        self._events_seen: OrderedDict[tuple[str, str, str, str], tuple[str, int, datetime]] = OrderedDict()

    def snapshot(self, rollout: Obj, now: datetime) -> Snapshot:
        """The :class:`Snapshot` of ``rollout``: its owned ReplicaSets and named Services."""
        meta = rollout.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        owned = self.replica_sets.by_index(OWNER_INDEX, f"{namespace}/{meta.get('uid', '')}")
        strategy = (rollout.get("spec") or {}).get("strategy") or {}
        canary = strategy.get("canary") or {}
        blue_green = strategy.get("blueGreen") or {}

        def service(field: str, source: Mapping[str, Any] = canary) -> Obj | None:
            name = source.get(field)
            return self.services.get(f"{namespace}/{name}") if name else None

        return Snapshot(
            rollout=rollout,
            replica_sets=tuple(owned),
            canary_service=service("canaryService"),
            stable_service=service("stableService"),
            active_service=service("activeService", blue_green),
            preview_service=service("previewService", blue_green),
            now=now,
            workload=self.workload(rollout),
            analysis_runs=tuple(
                self.analysis_runs.by_index(OWNER_INDEX, f"{namespace}/{meta.get('uid', '')}")
            )
            if self.analysis_runs is not None
            else (),
            ingresses=self._ingresses(rollout),
            analysis_templates=self._templates(rollout, cluster=False),
            cluster_analysis_templates=self._templates(rollout, cluster=True),
        )

    def _ingresses(self, rollout: Obj) -> dict[str, Obj]:
        """The stable Ingresses the nginx router names, and their canary Ingresses, by name."""
        if self.ingresses is None or trafficrouting.nginx_config(rollout) is None:
            return {}
        meta = rollout.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        found: dict[str, Obj] = {}
        for stable in trafficrouting.stable_ingress_names(rollout):
            for name in (stable, trafficrouting.canary_ingress_name(str(meta.get("name") or ""), stable)):
                ingress = self.ingresses.get(f"{namespace}/{name}")
                if ingress is not None:
                    found[name] = ingress
        return found

    def _templates(self, rollout: Obj, *, cluster: bool) -> dict[str, Obj]:
        """The (Cluster)AnalysisTemplates the Rollout refers to, and those they compose, by name."""
        cache = self.cluster_analysis_templates if cluster else self.analysis_templates
        if cache is None:
            return {}
        namespace = str((rollout.get("metadata") or {}).get("namespace") or "")
        found: dict[str, Obj] = {}
        other: dict[str, Obj] = {}
        pending = [
            (bool(ref.get("clusterScope")), str(ref.get("templateName") or ""))
            for ref in template_refs(rollout)
        ]
        seen: set[tuple[bool, str]] = set()
        while pending:
            scope, name = pending.pop()
            if (scope, name) in seen:
                continue
            seen.add((scope, name))
            source = self.cluster_analysis_templates if scope else self.analysis_templates
            if source is None:
                continue
            template = source.get(name if scope else f"{namespace}/{name}")
            if template is None:
                continue
            (found if scope == cluster else other)[name] = template
            for ref in (template.get("spec") or {}).get("templates") or ():
                pending.append((bool(ref.get("clusterScope")), str(ref.get("templateName") or "")))
        return found

    async def fetch_missing_runs(self, snapshot: Snapshot) -> Snapshot:
        """Argo's ``getAnalysisRunsForRollout``: a run named in the status but not (yet) in the
        cache is fetched, so that a lagging cache never makes the controller create it twice."""
        status = snapshot.rollout.get("status") or {}
        named = [
            (status.get(part) or {}).get(key)
            for part, key in (
                ("canary", "currentStepAnalysisRunStatus"),
                ("canary", "currentBackgroundAnalysisRunStatus"),
                ("blueGreen", bluegreen_analysis.PRE_STATUS_KEY),
                ("blueGreen", bluegreen_analysis.POST_STATUS_KEY),
            )
        ]
        have = {(r.get("metadata") or {}).get("name") for r in snapshot.analysis_runs}
        extra: list[Obj] = []
        namespace = str((snapshot.rollout.get("metadata") or {}).get("namespace") or "")
        for run_status in named:
            name = (run_status or {}).get("name")
            if not name or name in have:
                continue
            try:
                extra.append(
                    await self.api.get(
                        resource_path(ROLLOUT_API_VERSION, "analysisruns", namespace=namespace, name=name)
                    )
                )
            except NotFound:
                continue
        if not extra:
            return snapshot
        return dataclasses.replace(snapshot, analysis_runs=(*snapshot.analysis_runs, *extra))

    def workload(self, rollout: Obj) -> Obj | None:
        """The object ``spec.workloadRef`` names, from the caches (None: none, or not found)."""
        ref = (rollout.get("spec") or {}).get("workloadRef")
        if not isinstance(ref, Mapping):
            return None
        namespace = str((rollout.get("metadata") or {}).get("namespace") or "")
        key = f"{namespace}/{ref.get('name', '')}"
        group, kind = workload.group_kind(ref)
        if (group, kind) == ("apps", "Deployment") and self.deployments is not None:
            return self.deployments.get(key)
        if (group, kind) == ("apps", "ReplicaSet"):
            return self.replica_sets.get(key)
        return None

    async def rollout_pods(self, snapshot: Snapshot) -> tuple[Obj, ...]:
        """The pods of the Rollout's ReplicaSets (listed by its selector, then owner uid)."""
        rollout = snapshot.rollout
        meta = rollout.get("metadata") or {}
        selector = (rollout.get("spec") or {}).get("selector") or {}
        if snapshot.workload is not None and not selector:
            selector = (snapshot.workload.get("spec") or {}).get("selector") or {}
        path = resource_path("v1", "pods", namespace=str(meta.get("namespace") or ""))
        listed = await self.api.list(path, label_selector=label_selector_text(selector) or None)
        uids = {(rs.get("metadata") or {}).get("uid") for rs in snapshot.replica_sets}
        return tuple(
            pod
            for pod in listed.get("items") or ()
            if any(ref.get("uid") in uids for ref in (pod.get("metadata") or {}).get("ownerReferences") or ())
        )

    async def sync(self, key: str) -> float | None:
        """Reconcile the Rollout ``key``; the seconds after which to look again, or None."""
        rollout = self.rollouts.get(key)
        if rollout is None:
            self.versions.forget(key)
            self._last_warning.pop(key, None)
            if self.observer is not None:
                self.observer.forget(key)
            log.debug("rollout %s is gone; nothing to do", key)
            return None
        if not instance_matches(rollout, self.instance_id):
            return None
        if self.versions.is_stale(key, rollout):
            log.debug("rollout %s: cache older than our last write; waiting", key)
            return STALE_REQUEUE
        started = time.monotonic()
        now = self.clock()
        snapshot = self.snapshot(rollout, now)
        if needs_restart(rollout, now) or ephemeral.configured(rollout):
            # restartAt removes old pods; ephemeral metadata is patched onto the existing ones
            snapshot = dataclasses.replace(snapshot, pods=await self.rollout_pods(snapshot))
        if self.analysis_runs is not None:
            snapshot = await self.fetch_missing_runs(snapshot)
        strategy = (rollout.get("spec") or {}).get("strategy") or {}
        planner = plan_bluegreen if strategy.get("blueGreen") is not None else plan_canary
        try:
            plan = planner(snapshot)
        except ValueError as e:
            log_action("skip", rollout=key, reason=str(e))
            await self._record_events(rollout, [(WARNING, UNSUPPORTED_REASON, str(e))], now, once=True)
            return None
        result = await self.apply(key, rollout, plan, now)
        if self.observer is not None:
            self.observer.reconciled(result, time.monotonic() - started)
        return plan.requeue_after

    async def apply(self, key: str, rollout: Obj, plan: Plan, now: datetime) -> Obj:
        """Apply ``plan`` to the cluster; the Rollout as it is after the status patch."""
        meta = rollout.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        name = str(meta.get("name") or "")

        def rs_path(rs_name: str | None = None) -> str:
            return resource_path("apps/v1", "replicasets", namespace=namespace, name=rs_name)

        rollout_path = resource_path(ROLLOUT_API_VERSION, "rollouts", namespace=namespace, name=name)
        for rs_name in plan.delete_replica_sets:
            with contextlib.suppress(NotFound):  # already gone: done
                await self.api.delete(rs_path(rs_name))
            log_action("delete-replicaset", rollout=key, replicaset=rs_name)
        for rs in plan.create_replica_sets:
            try:
                created = await self.api.create(rs_path(), rs, field_manager=COMPONENT)
            except Conflict as e:
                if e.reason != "AlreadyExists":
                    raise
                created = await self._name_taken(key, rollout, rs, e)
            log_action(
                "create-replicaset",
                rollout=key,
                replicaset=(created.get("metadata") or {}).get("name", ""),
                replicas=(rs.get("spec") or {}).get("replicas", 0),
            )
        for rs_name, patch in plan.update_replica_sets:
            await self.api.patch(rs_path(rs_name), patch, field_manager=COMPONENT)
            log_action("update-replicaset", rollout=key, replicaset=rs_name, patch=patch)
        desired = (rollout.get("spec") or {}).get("replicas")
        desired_text = str(1 if desired is None else int(desired))
        for rs_name, count in plan.scale:
            body: Obj = {
                "metadata": {"annotations": {DESIRED_REPLICAS_ANNOTATION: desired_text}},
                "spec": {"replicas": count},
            }
            await self.api.patch(rs_path(rs_name), body, field_manager=COMPONENT)
            log_action("scale-replicaset", rollout=key, replicaset=rs_name, replicas=count)
        for pod_name, patch in plan.patch_pods:  # after their ReplicaSet: new pods get it anyway
            with contextlib.suppress(NotFound):  # gone meanwhile: nothing to label
                await self.api.patch(
                    resource_path("v1", "pods", namespace=namespace, name=pod_name),
                    patch,
                    field_manager=COMPONENT,
                )
            log_action("patch-pod-metadata", rollout=key, pod=pod_name, metadata=patch.get("metadata", {}))
        for svc_name, selector in plan.service_selectors:
            body = {
                "metadata": {"annotations": {MANAGED_BY_ANNOTATION: name}},
                "spec": {"selector": selector},
            }
            path = resource_path("v1", "services", namespace=namespace, name=svc_name)
            await self.api.patch(path, body, field_manager=COMPONENT)
            selector_text = ",".join(f"{k}={v}" for k, v in selector.items())
            log_action("patch-service-selector", rollout=key, service=svc_name, selector=selector_text)
        for pod_name in plan.delete_pods:
            with contextlib.suppress(NotFound):  # already gone: done
                await self.api.delete(resource_path("v1", "pods", namespace=namespace, name=pod_name))
            log_action("restart-pod", rollout=key, pod=pod_name)
        if plan.workload_scale is not None:
            ref = (rollout.get("spec") or {}).get("workloadRef") or {}
            path = resource_path(
                "apps/v1", "deployments", namespace=namespace, name=str(ref.get("name") or "")
            )
            await self.api.patch(path, {"spec": {"replicas": plan.workload_scale}}, field_manager=COMPONENT)
            log_action(
                "scale-workload", rollout=key, deployment=ref.get("name", ""), replicas=plan.workload_scale
            )
        ingress_path = resource_path("networking.k8s.io/v1", "ingresses", namespace=namespace)
        for ingress in plan.create_ingresses:
            try:
                await self.api.create(ingress_path, ingress, field_manager=COMPONENT)
            except Conflict as e:
                if e.reason != "AlreadyExists":
                    raise  # else: created by an earlier reconcile; the next one patches it
            log_action("create-ingress", rollout=key, ingress=ingress["metadata"]["name"])
        for ingress_name, patch in plan.patch_ingresses:
            await self.api.patch(f"{ingress_path}/{ingress_name}", patch, field_manager=COMPONENT)
            weight = (patch.get("metadata") or {}).get("annotations") or {}
            log_action("patch-ingress", rollout=key, ingress=ingress_name, annotations=weight)
        runs_path = resource_path(ROLLOUT_API_VERSION, "analysisruns", namespace=namespace)
        for run in plan.create_analysis_runs:
            try:
                await self.api.create(runs_path, run, field_manager=COMPONENT)
            except Conflict as e:
                if e.reason != "AlreadyExists":
                    raise  # else: our own earlier create, not yet in the cache
            log_action("create-analysisrun", rollout=key, analysisrun=run["metadata"]["name"])
        for run_name in plan.terminate_analysis_runs:
            with contextlib.suppress(NotFound):
                await self.api.patch(
                    f"{runs_path}/{run_name}", {"spec": {"terminate": True}}, field_manager=COMPONENT
                )
            log_action("terminate-analysisrun", rollout=key, analysisrun=run_name)
        for run_name in plan.delete_analysis_runs:
            with contextlib.suppress(NotFound):
                await self.api.delete(f"{runs_path}/{run_name}")
            log_action("delete-analysisrun", rollout=key, analysisrun=run_name)
        if plan.rollout_annotations:
            annotations: Obj = {"metadata": {"annotations": plan.rollout_annotations}}
            written = await self.api.patch(rollout_path, annotations, field_manager=COMPONENT)
            self.versions.record_write(key, written)
            log_action("patch-rollout-annotations", rollout=key, annotations=plan.rollout_annotations)
        result = rollout
        if plan.status_patch is not None:
            path = rollout_path
            written = await self.api.patch_status(path, plan.status_patch, field_manager=COMPONENT)
            self.versions.record_write(key, written)
            result = (
                written
                if written.get("status") is not None
                else apply_merge_patch(rollout, plan.status_patch)
            )
            status = result.get("status") or {}
            log_action(
                "patch-status",
                rollout=key,
                phase=status.get("phase", ""),
                step=status.get("currentStepIndex", ""),
                fields=",".join(sorted((plan.status_patch.get("status") or {}).keys())),
            )
        await self._record_events(rollout, plan.events, now)
        return result

    async def _name_taken(self, key: str, rollout: Obj, rs: Obj, error: Conflict) -> Obj:
        """Argo's hash collision handling: a ReplicaSet of the new name already exists.

        When it is ours (this Rollout controls it; our cache had not seen it yet) it is the new
        ReplicaSet. Otherwise (another owner, e.g. the Deployment a Rollout migrates from, whose
        ReplicaSet has the same name and pod template) ``status.collisionCount`` is bumped so the
        next reconcile picks another hash, and the error is raised to requeue.
        """
        meta = rs.get("metadata") or {}
        path = resource_path("apps/v1", "replicasets", namespace=str(meta.get("namespace") or ""))
        existing = await self.api.get(f"{path}/{meta.get('name', '')}")
        ref = controller_owner(existing)
        uid = (rollout.get("metadata") or {}).get("uid")
        if ref is not None and ref.get("uid") == uid:
            return existing
        count = int((rollout.get("status") or {}).get("collisionCount") or 0) + 1
        rollout_meta = rollout.get("metadata") or {}
        rollout_path = resource_path(
            ROLLOUT_API_VERSION,
            "rollouts",
            namespace=str(rollout_meta.get("namespace") or ""),
            name=str(rollout_meta.get("name") or ""),
        )
        written = await self.api.patch_status(
            rollout_path, {"status": {"collisionCount": count}}, field_manager=COMPONENT
        )
        self.versions.record_write(key, written)
        log_action("hash-collision", rollout=key, replicaset=meta.get("name", ""), collisionCount=count)
        raise error

    async def _write_event(self, rollout: Obj, type_: str, reason: str, message: str, now: datetime) -> None:
        """Create the Event, or, for the same one within :data:`EVENT_AGGREGATION_WINDOW`, bump
        the ``count`` and ``lastTimestamp`` of the Event already written (client-go's
        EventCorrelator does the same, so ``kubectl describe`` shows ``(x3 over 2m)``)."""
        meta = rollout.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        identity = (str(meta.get("uid") or key_of(rollout)), type_, reason, message)
        seen = self._events_seen.get(identity)
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if seen is not None and (now - seen[2]).total_seconds() < EVENT_AGGREGATION_WINDOW:
            name, count, first = seen
            path = resource_path("v1", "events", namespace=namespace, name=name)
            try:
                await self.api.patch(path, {"count": count + 1, "lastTimestamp": stamp})
            except NotFound:
                pass  # expired or deleted: write a new one
            else:
                self._events_seen[identity] = (name, count + 1, first)
                self._events_seen.move_to_end(identity)
                return
        body = event_body(rollout, type_, reason, message, now)
        await self.api.create(resource_path("v1", "events", namespace=namespace), body)
        self._events_seen[identity] = (body["metadata"]["name"], 1, now)
        self._events_seen.move_to_end(identity)
        while len(self._events_seen) > EVENT_CACHE_SIZE:
            self._events_seen.popitem(last=False)

    async def _record_events(
        self, rollout: Obj, events: Iterable[tuple[str, str, str]], now: datetime, *, once: bool = False
    ) -> None:
        """Create one v1 Event per ``(type, reason, message)``; failures are logged, not raised.

        ``once``: skip an event identical to the last one recorded for this Rollout (so a Rollout
        the planner rejects does not get a new Warning at every resync). With
        ``background_events`` the writes are queued for :data:`EVENT_SENDERS` sender tasks (as
        client-go's recorder sends them from a goroutine) and the reconcile does not wait.
        """
        key = key_of(rollout)
        wanted: list[tuple[str, str, str]] = []
        for type_, reason, message in events:
            if once:
                if self._last_warning.get(key) == (reason, message):
                    continue
                self._last_warning[key] = (reason, message)
            wanted.append((type_, reason, message))
        if not wanted:
            return
        if self.background_events:
            self._event_queue.put_nowait((rollout, wanted, now))
            self._event_senders = [t for t in self._event_senders if not t.done()]
            while len(self._event_senders) < EVENT_SENDERS:
                self._event_senders.append(asyncio.create_task(self._send_events(), name="events"))
            return
        await self._write_events(rollout, wanted, now)

    async def _send_events(self) -> None:
        while True:
            rollout, events, now = await self._event_queue.get()
            try:
                await self._write_events(rollout, events, now)
            finally:
                self._event_queue.task_done()

    async def close(self, within: float = 5.0) -> None:
        """Send the queued Events (for up to ``within`` seconds), then stop the senders."""
        if not self._event_senders:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event_queue.join(), within)
        for task in self._event_senders:
            task.cancel()
        await asyncio.gather(*self._event_senders, return_exceptions=True)
        self._event_senders = []

    async def _write_events(
        self, rollout: Obj, events: Iterable[tuple[str, str, str]], now: datetime
    ) -> None:
        key = key_of(rollout)
        for type_, reason, message in events:
            try:
                await self._write_event(rollout, type_, reason, message, now)
            except Exception as e:  # an event is best effort, as client-go's recorder
                log.warning("rollout %s: could not record event %s: %s", key, reason, e)
                continue
            if self.observer is not None:
                self.observer.event(type_, reason)
            log_action("event", rollout=key, type=type_, reason=reason, message=message)
