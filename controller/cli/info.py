"""What ``get rollout`` shows, worked out from raw objects (pure; no I/O, no clock).

:func:`rollout_info` takes a Rollout and the ReplicaSets, Pods and AnalysisRuns around it
(unfiltered: it keeps those the Rollout owns, and the Pods those ReplicaSets own) and returns a
:class:`RolloutInfo`: the header fields and the revision → ReplicaSet → Pod tree with the
status words and icons ``kubectl argo rollouts`` uses (pkg/kubectl-argo-rollouts/info).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final

from controller.core.conditions import format_time, parse_time
from controller.core.phase import rollout_phase
from controller.core.replicas import current_step, desired_weight

Obj = Mapping[str, Any]

ICON_WAITING: Final = "◷"
ICON_PROGRESSING: Final = "◌"
ICON_WARNING: Final = "⚠"
ICON_UNKNOWN: Final = "?"
ICON_OK: Final = "✔"
ICON_BAD: Final = "✖"
ICON_PAUSED: Final = "॥"
ICON_NEUTRAL: Final = "•"

TAG_STABLE: Final = "stable"
TAG_CANARY: Final = "canary"
TAG_ACTIVE: Final = "active"
TAG_PREVIEW: Final = "preview"

HASH_LABEL: Final = "rollouts-pod-template-hash"
REVISION_ANNOTATION: Final = "rollout.argoproj.io/revision"
SCALE_DOWN_DEADLINE_ANNOTATION: Final = "scale-down-deadline"

_ROLLOUT_ICONS: Final = {
    "Progressing": ICON_PROGRESSING,
    "Error": ICON_WARNING,
    "InvalidSpec": ICON_WARNING,
    "Paused": ICON_PAUSED,
    "Healthy": ICON_OK,
    "Degraded": ICON_BAD,
    "Unknown": ICON_UNKNOWN,
    "ScaledDown": ICON_NEUTRAL,
}
_REPLICA_SET_ICONS: Final = {
    "Progressing": ICON_PROGRESSING,
    "Healthy": ICON_OK,
    "ReplicaFailure": ICON_BAD,
    "ScaledDown": ICON_NEUTRAL,
}
_ANALYSIS_ICONS: Final = {
    "Successful": ICON_OK,
    "Inconclusive": ICON_UNKNOWN,
    "Failed": ICON_BAD,
    "Error": ICON_WARNING,
    "Running": ICON_PROGRESSING,
    "Pending": ICON_WAITING,
}


@dataclass(frozen=True)
class PodInfo:
    name: str
    status: str
    icon: str
    #: ready containers / containers, e.g. "1/1"
    ready: str
    restarts: int
    created: datetime | None


@dataclass(frozen=True)
class ReplicaSetInfo:
    name: str
    revision: int
    status: str
    icon: str
    replicas: int
    available: int
    images: tuple[str, ...]
    stable: bool = False
    canary: bool = False
    active: bool = False
    preview: bool = False
    #: RFC 3339 time after which an old ReplicaSet is scaled down ('' when none)
    scale_down_deadline: str = ""
    created: datetime | None = None
    pods: tuple[PodInfo, ...] = ()

    @property
    def tags(self) -> list[str]:
        """The INFO tags in Argo's order."""
        tags = [TAG_STABLE] if self.stable else []
        if self.canary:
            tags.append(TAG_CANARY)
        elif self.active:
            tags.append(TAG_ACTIVE)
        elif self.preview:
            tags.append(TAG_PREVIEW)
        return tags


@dataclass(frozen=True)
class AnalysisRunInfo:
    name: str
    revision: int
    status: str
    icon: str
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    created: datetime | None = None


@dataclass(frozen=True)
class RolloutInfo:
    name: str
    namespace: str
    status: str
    message: str
    icon: str
    strategy: str
    step: str = ""
    set_weight: str = ""
    actual_weight: str = ""
    desired: int = 0
    current: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0
    created: datetime | None = None
    replica_sets: tuple[ReplicaSetInfo, ...] = ()
    analysis_runs: tuple[AnalysisRunInfo, ...] = field(default_factory=tuple)

    def images(self) -> list[tuple[str, list[str]]]:
        """Images of ReplicaSets with pods, each with its tags (sorted), sorted by image."""
        merged: dict[str, set[str]] = {}
        for rs in self.replica_sets:
            if rs.replicas <= 0:
                continue
            tags = {t for t in (TAG_CANARY, TAG_STABLE, TAG_ACTIVE, TAG_PREVIEW) if getattr(rs, t)}
            for image in rs.images:
                merged.setdefault(image, set()).update(tags)
        return [(image, sorted(merged[image])) for image in sorted(merged)]

    def revisions(self) -> list[int]:
        """Every revision with a ReplicaSet or an AnalysisRun, newest first."""
        numbers = {rs.revision for rs in self.replica_sets} | {ar.revision for ar in self.analysis_runs}
        return sorted(numbers, reverse=True)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``get rollout -o json``), times in RFC 3339."""
        data: dict[str, Any] = _jsonable(asdict(self))
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict):
        return {_camel(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


# -- building it ----------------------------------------------------------------------------------


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def _uid(obj: Obj) -> str:
    return str(_meta(obj).get("uid") or "")


def _owner_uids(obj: Obj) -> set[str]:
    return {str(r.get("uid")) for r in _meta(obj).get("ownerReferences") or () if isinstance(r, Mapping)}


def _revision(obj: Obj) -> int:
    value = (_meta(obj).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(str(value))
    except ValueError:
        return 0


def _created(obj: Obj) -> datetime | None:
    return parse_time(_meta(obj).get("creationTimestamp"))


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def rollout_info(
    rollout: Obj,
    replica_sets: Iterable[Obj] = (),
    pods: Iterable[Obj] = (),
    analysis_runs: Iterable[Obj] = (),
) -> RolloutInfo:
    """The :class:`RolloutInfo` of ``rollout`` among these objects."""
    spec: Mapping[str, Any] = rollout.get("spec") or {}
    status: Mapping[str, Any] = rollout.get("status") or {}
    uid = _uid(rollout)
    rs_infos = _replica_sets(rollout, [rs for rs in replica_sets if uid and uid in _owner_uids(rs)], pods)
    runs = _analysis_runs([ar for ar in analysis_runs if uid and uid in _owner_uids(ar)])
    phase, message = rollout_phase(rollout)
    strategy = spec.get("strategy") or {}
    canary = strategy.get("canary")
    name, step, set_weight, actual = "", "", "", ""
    if canary is not None:
        name = "Canary"
        steps = list(canary.get("steps") or [])
        index = status.get("currentStepIndex")
        if index is not None and steps:
            step = f"{int(index)}/{len(steps)}"
        set_weight = str(
            desired_weight(steps, None if index is None else int(index), aborted=bool(status.get("abort")))
        )
        actual = _actual_weight(rollout, canary, rs_infos, set_weight)
    elif strategy.get("blueGreen") is not None:
        name = "BlueGreen"
    replicas = spec.get("replicas")
    return RolloutInfo(
        name=str(_meta(rollout).get("name") or ""),
        namespace=str(_meta(rollout).get("namespace") or ""),
        status=phase,
        message=message,
        icon=_ROLLOUT_ICONS.get(phase, " "),
        strategy=name,
        step=step,
        set_weight=set_weight,
        actual_weight=actual,
        desired=1 if replicas is None else _int(replicas),
        current=_int(status.get("replicas")),
        updated=_int(status.get("updatedReplicas")),
        ready=_int(status.get("readyReplicas")),
        available=_int(status.get("availableReplicas")),
        created=_created(rollout),
        replica_sets=tuple(rs_infos),
        analysis_runs=tuple(runs),
    )


def _actual_weight(
    rollout: Obj, canary: Mapping[str, Any], rs_infos: Sequence[ReplicaSetInfo], set_weight: str
) -> str:
    """The canary's actual share: 100 past the last step; without a router, of available pods."""
    step, _ = current_step(rollout)
    if step is None:
        return "100"
    status: Mapping[str, Any] = rollout.get("status") or {}
    available = _int(status.get("availableReplicas"))
    if available <= 0:
        return "0"
    if canary.get("trafficRouting") is None:
        weight = "0"
        for rs in rs_infos:
            if rs.canary:
                weight = str(rs.available * 100 // available)
        return weight
    weights = ((status.get("canary") or {}).get("weights") or {}).get("canary") or {}
    if weights.get("weight") is not None:
        return str(_int(weights.get("weight")))
    return set_weight


def _replica_sets(rollout: Obj, owned: list[Obj], pods: Iterable[Obj]) -> list[ReplicaSetInfo]:
    status: Mapping[str, Any] = rollout.get("status") or {}
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    stable_hash = str(status.get("stableRS") or "")
    current_hash = str(status.get("currentPodHash") or "")
    blue_green = status.get("blueGreen") or {}
    by_uid: dict[str, list[PodInfo]] = {_uid(rs): [] for rs in owned}
    for pod in pods:
        for owner in _owner_uids(pod):
            if owner in by_uid:
                by_uid[owner].append(pod_info(pod))
                break
    infos: list[ReplicaSetInfo] = []
    for rs in owned:
        meta = _meta(rs)
        pod_hash = str((meta.get("labels") or {}).get(HASH_LABEL) or "")
        flags: dict[str, bool] = {}
        if strategy.get("canary") is not None:
            if stable_hash == pod_hash:
                flags["stable"] = True
            elif current_hash == pod_hash:
                flags["canary"] = True
        if strategy.get("blueGreen") is not None:
            flags["stable"] = stable_hash == pod_hash
            if blue_green.get("activeSelector") == pod_hash:
                flags["active"] = True
            elif blue_green.get("previewSelector") == pod_hash:
                flags["preview"] = True
        template_spec = ((rs.get("spec") or {}).get("template") or {}).get("spec") or {}
        images = tuple(
            str(c.get("image", "")) for c in template_spec.get("containers") or () if isinstance(c, Mapping)
        )
        health = replica_set_health(rs)
        pod_infos = sorted(by_uid.get(_uid(rs), []), key=lambda p: (_stamp(p.created), p.name))
        infos.append(
            ReplicaSetInfo(
                name=str(meta.get("name") or ""),
                revision=_revision(rs),
                status=health,
                icon=_REPLICA_SET_ICONS.get(health, " "),
                replicas=_int((rs.get("status") or {}).get("replicas")),
                available=_int((rs.get("status") or {}).get("availableReplicas")),
                images=images,
                scale_down_deadline=str(
                    (meta.get("annotations") or {}).get(SCALE_DOWN_DEADLINE_ANNOTATION) or ""
                ),
                created=_created(rs),
                pods=tuple(pod_infos),
                **flags,
            )
        )
    infos.sort(key=lambda i: (-i.revision, i.name))
    return infos


def replica_set_health(rs: Obj) -> str:
    """Progressing, ReplicaFailure, ScaledDown or Healthy, as Argo's ``getReplicaSetHealth``."""
    meta = _meta(rs)
    spec: Mapping[str, Any] = rs.get("spec") or {}
    status: Mapping[str, Any] = rs.get("status") or {}
    if _int(meta.get("generation")) > _int(status.get("observedGeneration")):
        return "Progressing"
    for condition in status.get("conditions") or ():
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return "ReplicaFailure"
    replicas = spec.get("replicas")
    if replicas is not None and _int(status.get("availableReplicas")) < _int(replicas):
        return "Progressing"
    if replicas is not None and _int(replicas) == 0:
        return "ScaledDown"
    return "Healthy"


def pod_info(pod: Obj) -> PodInfo:
    """A pod's status word, readiness and restarts, as ``kubectl get pods`` words them."""
    spec: Mapping[str, Any] = pod.get("spec") or {}
    status: Mapping[str, Any] = pod.get("status") or {}
    meta = _meta(pod)
    reason = str(status.get("reason") or status.get("phase") or "")
    restarts = 0
    sidecars = {
        str(c.get("name")): c.get("restartPolicy") == "Always" for c in spec.get("initContainers") or ()
    }
    initializing = False
    init_statuses = list(status.get("initContainerStatuses") or ())
    for i, container in enumerate(init_statuses):
        restarts += _int(container.get("restartCount"))
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if terminated is not None:
            reason = "Init:" + (str(terminated.get("reason") or "") or _exit(terminated))
            initializing = True
        elif sidecars.get(str(container.get("name"))) and container.get("started"):
            if container.get("ready"):
                continue
        elif waiting is not None and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
            initializing = True
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or ())}"
            initializing = True
        break
    ready = 0
    if not initializing:
        restarts = 0
        running = False
        for container in reversed(list(status.get("containerStatuses") or ())):
            restarts += _int(container.get("restartCount"))
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif terminated is not None:
                reason = _exit(terminated)
            elif container.get("ready") and state.get("running") is not None:
                running = True
                ready += 1
        if reason == "Completed" and running:
            reason = "Running"
    if meta.get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return PodInfo(
        name=str(meta.get("name") or ""),
        status=reason,
        icon=pod_icon(reason),
        ready=f"{ready}/{len(spec.get('containers') or ())}",
        restarts=restarts,
        created=_created(pod),
    )


def _exit(terminated: Mapping[str, Any]) -> str:
    signal = _int(terminated.get("signal"))
    return f"Signal:{signal}" if signal else f"ExitCode:{_int(terminated.get('exitCode'))}"


def pod_icon(status: str) -> str:
    """The icon for a pod status word."""
    if status.startswith("Init:"):
        return ICON_PROGRESSING
    if status.startswith(("Signal:", "ExitCode:")):
        return ICON_BAD
    if status.endswith("Error") or status.startswith("Err"):
        return ICON_WARNING
    return {
        "Pending": ICON_PROGRESSING,
        "Terminating": ICON_PROGRESSING,
        "ContainerCreating": ICON_PROGRESSING,
        "Running": ICON_OK,
        "Completed": ICON_OK,
        "Failed": ICON_BAD,
        "InvalidImageName": ICON_BAD,
        "CrashLoopBackOff": ICON_BAD,
        "ImagePullBackOff": ICON_WARNING,
        "RegistryUnavailable": ICON_WARNING,
        "Unknown": ICON_UNKNOWN,
    }.get(status, " ")


def _analysis_runs(owned: list[Obj]) -> list[AnalysisRunInfo]:
    infos: list[AnalysisRunInfo] = []
    for run in owned:
        status: Mapping[str, Any] = run.get("status") or {}
        counts = {"successful": 0, "failed": 0, "inconclusive": 0, "error": 0}
        for result in status.get("metricResults") or ():
            for key in counts:
                counts[key] += _int(result.get(key))
        phase = str(status.get("phase") or "")
        infos.append(
            AnalysisRunInfo(
                name=str(_meta(run).get("name") or ""),
                revision=_revision(run),
                status=phase,
                icon=_ANALYSIS_ICONS.get(phase, " "),
                created=_created(run),
                **counts,
            )
        )
    infos.sort(key=lambda i: (-i.revision, _stamp(i.created), i.name))
    return infos


def _stamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0
