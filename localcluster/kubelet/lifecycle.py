"""Pure rules of a pod's life: container states, restart policy and back-off, and pod status.

Nothing here does I/O or reads the clock: the running containers are described by
:class:`ContainerSnapshot` values, and :func:`pod_status` turns them (with the previous
status, for the conditions' transition times) into the ``status`` the kubelet writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from localcluster.kubelet.env import HOST_IP

Obj = dict[str, Any]

#: The longest wait between restarts, as the real kubelet (5 minutes).
MAX_BACKOFF = 300.0
#: The first wait between restarts, as the real kubelet (10 s); ``LOCALCLUSTER_RESTART_BACKOFF``.
DEFAULT_BACKOFF = 10.0


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Running:
    started_at: str


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    started_at: str
    finished_at: str
    container_id: str = ""
    message: str = ""


ContainerState = Waiting | Running | Terminated


@dataclass(frozen=True)
class ContainerSnapshot:
    """One container as the kubelet sees it now.

    ``done`` means it has terminated and will not be started again (restart policy).
    """

    name: str
    image: str
    image_id: str
    state: ContainerState
    container_id: str = ""
    last_state: Terminated | None = None
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    done: bool = False


# -- restarts --------------------------------------------------------------------------


def should_restart(restart_policy: str, exit_code: int) -> bool:
    """Whether a container that exited with ``exit_code`` is started again."""
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return exit_code != 0
    return True


def restart_delay(step: int, *, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait before restart number ``step`` (1-based) of a crash loop.

    As the real kubelet: the first restart is immediate, then ``base`` (10 s), doubling each
    time up to ``cap`` (5 minutes).
    """
    if step <= 1:
        return 0.0
    return float(min(cap, base * 2 ** (step - 2)))


def exit_reason(exit_code: int) -> str:
    return "Completed" if exit_code == 0 else "Error"


# -- status ----------------------------------------------------------------------------


def state_dict(state: ContainerState | None) -> Obj:
    """A ContainerState object as the API shows it."""
    if state is None:
        return {}
    if isinstance(state, Waiting):
        waiting: Obj = {"reason": state.reason}
        if state.message:
            waiting["message"] = state.message
        return {"waiting": waiting}
    if isinstance(state, Running):
        return {"running": {"startedAt": state.started_at}}
    terminated: Obj = {
        "exitCode": state.exit_code,
        "reason": state.reason,
        "startedAt": state.started_at,
        "finishedAt": state.finished_at,
    }
    if state.message:
        terminated["message"] = state.message
    if state.container_id:
        terminated["containerID"] = state.container_id
    return {"terminated": terminated}


def container_status(c: ContainerSnapshot) -> Obj:
    status: Obj = {
        "name": c.name,
        "image": c.image,
        "imageID": c.image_id if c.container_id else "",
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restart_count,
        "state": state_dict(c.state),
        "lastState": state_dict(c.last_state),
    }
    if c.container_id:
        status["containerID"] = c.container_id
    return status


def pod_phase(containers: Sequence[ContainerSnapshot]) -> str:
    """Pending until every container has run; Succeeded/Failed once all are done; else Running."""
    if not containers:
        return "Pending"
    never_ran = [
        c
        for c in containers
        if isinstance(c.state, Waiting) and c.last_state is None and c.restart_count == 0
    ]
    if never_ran:
        return "Pending"
    if all(c.done for c in containers):
        failed = any(isinstance(c.state, Terminated) and c.state.exit_code != 0 for c in containers)
        return "Failed" if failed else "Succeeded"
    return "Running"


def _condition(
    type_: str, ok: bool, now: str, prev: Mapping[str, Mapping[str, Any]], reason: str = "", message: str = ""
) -> Obj:
    status = "True" if ok else "False"
    before = prev.get(type_)
    since = before.get("lastTransitionTime") if before and before.get("status") == status else None
    condition: Obj = {
        "type": type_,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": since or now,
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def pod_conditions(
    containers: Sequence[ContainerSnapshot], phase: str, prev_status: Mapping[str, Any] | None, now: str
) -> list[Obj]:
    """The five conditions a 1.32 kubelet writes, in its order, keeping unchanged transition times."""
    prev = {
        str(c.get("type")): c for c in (prev_status or {}).get("conditions") or [] if isinstance(c, Mapping)
    }
    terminal = phase in ("Succeeded", "Failed")
    unready = [c.name for c in containers if not c.ready]
    if terminal:
        reason, message = "PodCompleted", ""
    elif unready:
        reason, message = "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]"
    else:
        reason, message = "", ""
    ready = not terminal and not unready and bool(containers)
    return [
        _condition("PodReadyToStartContainers", not terminal, now, prev),
        _condition("Initialized", True, now, prev),
        _condition("Ready", ready, now, prev, reason, message),
        _condition("ContainersReady", ready, now, prev, reason, message),
        _condition("PodScheduled", True, now, prev),
    ]


def pod_status(
    *,
    containers: Sequence[ContainerSnapshot],
    pod_ip: str,
    start_time: str,
    qos_class: str,
    prev_status: Mapping[str, Any] | None,
    now: str,
) -> Obj:
    """The pod's ``status`` as the kubelet writes it."""
    phase = pod_phase(containers)
    status: Obj = {
        "phase": phase,
        "conditions": pod_conditions(containers, phase, prev_status, now),
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "startTime": start_time,
        "containerStatuses": [container_status(c) for c in containers],
        "qosClass": qos_class,
    }
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


def resumed_snapshot(name: str, prev: Mapping[str, Any] | None) -> tuple[int, Terminated | None]:
    """Restart count and last state for a container the server is starting again after a restart.

    A container that was running when the previous server stopped died with it: as after a
    node reboot, its last state is terminated with reason ``Unknown`` (exit code 255), and
    starting it again counts as a restart.
    """
    if not prev or prev.get("name") != name:
        return 0, None
    count = int(prev.get("restartCount") or 0)
    state = prev.get("state") or {}
    last = (prev.get("lastState") or {}).get("terminated")
    if "running" in state:
        started = str(state["running"].get("startedAt") or "")
        return count, Terminated(255, "Unknown", started, started, str(prev.get("containerID") or ""))
    if isinstance(last, Mapping):
        return count, Terminated(
            int(last.get("exitCode") or 0),
            str(last.get("reason") or ""),
            str(last.get("startedAt") or ""),
            str(last.get("finishedAt") or ""),
            str(last.get("containerID") or ""),
        )
    return count, None
