"""Restart policy, back-off, phases, conditions and container statuses, as the kubelet writes them."""

from __future__ import annotations

import pytest

from localcluster.kubelet.lifecycle import (
    ContainerSnapshot,
    Running,
    Terminated,
    Waiting,
    container_status,
    pod_conditions,
    pod_phase,
    pod_status,
    restart_delay,
    resumed_snapshot,
    should_restart,
)

T0, T1, T2 = "2025-01-01T00:00:00Z", "2025-01-01T00:00:05Z", "2025-01-01T00:01:00Z"


def test_back_off_is_immediate_then_10s_doubling_to_5_minutes() -> None:
    assert [restart_delay(step) for step in range(1, 9)] == [0, 10, 20, 40, 80, 160, 300, 300]


def test_back_off_base_is_configurable() -> None:
    assert [restart_delay(step, base=0.5) for step in range(1, 5)] == [0, 0.5, 1, 2]
    assert restart_delay(30, base=0.5, cap=4) == 4


@pytest.mark.parametrize(
    ("policy", "code", "restart"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 2, True),
        ("Never", 0, False),
        ("Never", 1, False),
    ],
)
def test_restart_policy(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


def _c(state: Running | Waiting | Terminated, **kw: object) -> ContainerSnapshot:
    return ContainerSnapshot(
        name=str(kw.pop("name", "app")), image="img:1", image_id="img@sha256:x", state=state, **kw
    )  # type: ignore[arg-type]


def test_phases() -> None:
    creating = _c(Waiting("ContainerCreating"))
    running = _c(Running(T0), container_id="localcluster://1", ready=True, started=True)
    crashing = _c(Waiting("CrashLoopBackOff"), last_state=Terminated(1, "Error", T0, T1), restart_count=2)
    ok = _c(Terminated(0, "Completed", T0, T1), done=True)
    failed = _c(Terminated(3, "Error", T0, T1), done=True)
    assert pod_phase([]) == "Pending"
    assert pod_phase([creating]) == "Pending"
    assert pod_phase([running, creating]) == "Pending"
    assert pod_phase([running]) == "Running"
    assert pod_phase([crashing]) == "Running"
    assert pod_phase([running, ok]) == "Running"
    assert pod_phase([ok, ok]) == "Succeeded"
    assert pod_phase([ok, failed]) == "Failed"


def test_conditions_keep_their_transition_time_until_they_change() -> None:
    ready = _c(Running(T0), ready=True, started=True)
    unready = _c(Running(T0), started=True)
    first = pod_conditions([unready], "Running", None, T0)
    assert [c["type"] for c in first] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    by_type = {c["type"]: c for c in first}
    assert by_type["Ready"]["status"] == "False"
    assert by_type["Ready"]["reason"] == "ContainersNotReady"
    assert by_type["Ready"]["message"] == "containers with unready status: [app]"
    later = {c["type"]: c for c in pod_conditions([ready], "Running", {"conditions": first}, T2)}
    assert later["Ready"] == {
        "type": "Ready",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": T2,
    }
    assert later["Initialized"]["lastTransitionTime"] == T0  # unchanged


def test_completed_pods_are_not_ready() -> None:
    done = _c(Terminated(0, "Completed", T0, T1), done=True)
    by_type = {c["type"]: c for c in pod_conditions([done], "Succeeded", None, T2)}
    assert by_type["Ready"]["status"] == "False"
    assert by_type["Ready"]["reason"] == "PodCompleted"
    assert by_type["PodReadyToStartContainers"]["status"] == "False"


def test_container_status_shapes() -> None:
    assert container_status(_c(Waiting("ContainerCreating"))) == {
        "name": "app",
        "image": "img:1",
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}},
        "lastState": {},
    }
    crashing = _c(
        Waiting("CrashLoopBackOff", "back-off 10s restarting failed container=app pod=p_ns(u)"),
        container_id="localcluster://2",
        last_state=Terminated(1, "Error", T0, T1, "localcluster://2"),
        restart_count=1,
    )
    status = container_status(crashing)
    assert status["containerID"] == "localcluster://2"
    assert status["imageID"] == "img@sha256:x"
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["lastState"] == {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "startedAt": T0,
            "finishedAt": T1,
            "containerID": "localcluster://2",
        }
    }


def test_pod_status_has_what_the_kubelet_writes() -> None:
    running = _c(Running(T0), container_id="localcluster://1", ready=True, started=True)
    status = pod_status(
        containers=[running],
        pod_ip="127.10.1.2",
        start_time=T0,
        qos_class="BestEffort",
        prev_status=None,
        now=T1,
    )
    assert status["phase"] == "Running"
    assert status["podIP"] == "127.10.1.2"
    assert status["podIPs"] == [{"ip": "127.10.1.2"}]
    assert status["hostIP"] == "127.0.0.1"
    assert status["startTime"] == T0
    assert status["qosClass"] == "BestEffort"
    assert status["containerStatuses"][0]["state"] == {"running": {"startedAt": T0}}


def test_a_container_running_when_the_server_stopped_resumes_as_after_a_reboot() -> None:
    prev = {"name": "app", "restartCount": 2, "state": {"running": {"startedAt": T0}}, "containerID": "c://1"}
    count, last = resumed_snapshot("app", prev)
    assert count == 2
    assert last == Terminated(255, "Unknown", T0, T0, "c://1")
    crashing = {
        "name": "app",
        "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": T0, "finishedAt": T1}},
    }
    assert resumed_snapshot("app", crashing) == (3, Terminated(1, "Error", T0, T1))
    assert resumed_snapshot("app", None) == (0, None)
