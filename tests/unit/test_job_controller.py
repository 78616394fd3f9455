"""The Job controller against the real object rules (in-memory store), with a clock of its own.

Each test drives pod phases the way a kubelet would report them and checks what a user sees on
the Job: its pods, status counters, conditions (in the order they were written) and events.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.apiserver.registry import Registry
from localcluster.controllers.job import JobController, backoff_base_from_env
from localcluster.store import Event, Obj, Store

NS = "default"
START = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


class Harness:
    """A store, the object rules and one JobController over them."""

    def __init__(self, backoff: float = 10.0) -> None:
        self.store = Store(None)
        self.objects = Objects(self.store, Registry())
        self.objects.ensure_namespace(NS)
        self.clock = Clock()
        self.ctrl = JobController(self.objects, clock=self.clock, backoff_base=backoff)
        self.jobs = self.ctrl.jobs
        self.pods_rt = self.ctrl.pods
        self.writes: list[Obj] = []
        self.store.subscribe(self._record)

    def _record(self, event: Event) -> None:
        if event.resource == "batch/jobs" and event.type == "MODIFIED":
            self.writes.append(event.obj)

    def create_job(self, name: str = "pi", **spec: Any) -> Obj:
        body = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
                    },
                },
                **spec,
            },
        }
        return self.objects.create(self.jobs, NS, body, WriteOptions(manager="test")).obj

    def sync(self, name: str = "pi") -> float | None:
        return asyncio.run(self.ctrl.reconcile(f"{NS}/{name}"))

    def job(self, name: str = "pi") -> Obj:
        return self.objects.get(self.jobs, NS, name)

    def status(self, name: str = "pi") -> dict[str, Any]:
        return dict(self.job(name).get("status") or {})

    def pods(self) -> list[Obj]:
        return self.store.list("/pods", NS)

    def phase_of(self, pod: Obj) -> str:
        return str((pod.get("status") or {}).get("phase", ""))

    def active_pods(self) -> list[Obj]:
        return [p for p in self.pods() if self.phase_of(p) not in ("Succeeded", "Failed")]

    def set_phase(self, pod: Obj, phase: str, **status: Any) -> None:
        self.objects.patch(
            self.pods_rt,
            NS,
            pod["metadata"]["name"],
            "merge",
            {"status": {"phase": phase, **status}},
            WriteOptions(manager="kubelet", subresource="status"),
        )

    def conditions(self, name: str = "pi") -> list[tuple[str, str, str]]:
        return [
            (c["type"], c["status"], c.get("reason", "")) for c in self.status(name).get("conditions") or []
        ]

    def condition_order(self) -> list[str]:
        """Condition types in the order they first appeared across the Job's writes."""
        seen: list[str] = []
        for obj in self.writes:
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond["type"] not in seen:
                    seen.append(cond["type"])
        return seen

    def events(self) -> list[tuple[str, str, str]]:
        return [(e["type"], e["reason"], e["message"]) for e in self.store.list("/events", NS)]

    def reasons(self) -> list[str]:
        return sorted(e[1] for e in self.events())


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.store.close()


def test_creates_one_pod_from_the_template_owned_by_the_job(h: Harness) -> None:
    job = h.create_job()
    assert h.sync() is None
    [pod] = h.pods()
    meta = pod["metadata"]
    assert meta["name"].startswith("pi-") and len(meta["name"]) == len("pi-") + 5
    uid = job["metadata"]["uid"]
    assert meta["labels"] == {
        "app": "pi",
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": uid,
        "job-name": "pi",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": "pi",
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert pod["spec"]["containers"][0]["command"] == ["true"]
    assert pod["spec"]["restartPolicy"] == "Never"
    status = h.status()
    assert status["active"] == 1
    assert status["ready"] == 0
    assert status["startTime"] == "2025-01-01T12:00:00Z"
    assert "succeeded" not in status and "failed" not in status
    assert h.events() == [("Normal", "SuccessfulCreate", f"Created pod: {meta['name']}")]
    # A second sync with nothing new creates nothing and writes nothing.
    writes = len(h.writes)
    assert h.sync() is None
    assert len(h.pods()) == 1
    assert len(h.writes) == writes


def test_success_writes_success_criteria_met_then_complete(h: Harness) -> None:
    h.create_job()
    h.sync()
    h.clock.advance(7)
    h.set_phase(h.pods()[0], "Succeeded")
    h.sync()
    status = h.status()
    assert status["succeeded"] == 1
    assert "active" not in status
    assert status["completionTime"] == "2025-01-01T12:00:07Z"
    assert h.conditions() == [
        ("SuccessCriteriaMet", "True", "CompletionsReached"),
        ("Complete", "True", "CompletionsReached"),
    ]
    assert h.condition_order() == ["SuccessCriteriaMet", "Complete"]
    assert ("Normal", "Completed", "Job completed") in h.events()
    # A finished Job is left alone.
    writes = len(h.writes)
    h.sync()
    assert len(h.pods()) == 1
    assert len(h.writes) == writes


def test_parallelism_never_runs_more_pods_than_completions_left(h: Harness) -> None:
    h.create_job(completions=5, parallelism=3)
    h.sync()
    assert len(h.active_pods()) == 3
    for pod in h.active_pods()[:2]:
        h.set_phase(pod, "Succeeded")
    h.sync()
    assert len(h.active_pods()) == 3  # 2 done, 3 left to do, 3 at a time
    for pod in h.active_pods()[:2]:
        h.set_phase(pod, "Succeeded")
    h.sync()
    assert len(h.active_pods()) == 1  # 4 done: only one completion left
    assert h.status()["succeeded"] == 4
    h.set_phase(h.active_pods()[0], "Succeeded")
    h.sync()
    assert h.status()["succeeded"] == 5
    assert ("Complete", "True", "CompletionsReached") in h.conditions()
    assert len(h.pods()) == 5


def test_work_queue_job_completes_when_any_pod_succeeds_and_the_rest_finish(h: Harness) -> None:
    h.create_job(parallelism=2)
    h.sync()
    first, second = h.active_pods()
    h.set_phase(first, "Succeeded")
    h.sync()
    assert h.status()["active"] == 1  # no new pod after a success, the other one runs on
    assert len(h.pods()) == 2
    h.set_phase(second, "Succeeded")
    h.sync()
    assert ("Complete", "True", "CompletionsReached") in h.conditions()


def test_failed_pods_are_replaced_after_a_doubling_back_off(h: Harness) -> None:
    h.create_job(backoffLimit=3)
    h.sync()
    h.set_phase(h.pods()[0], "Failed")
    wait = h.sync()
    assert wait == pytest.approx(10.0)
    assert h.active_pods() == []
    assert h.status()["failed"] == 1
    h.clock.advance(5)
    assert h.sync() == pytest.approx(5.0)
    assert h.active_pods() == []
    h.clock.advance(5)
    h.sync()
    assert len(h.active_pods()) == 1
    h.set_phase(h.active_pods()[0], "Failed")
    assert h.sync() == pytest.approx(20.0)  # second failure in a row: twice as long
    assert h.status()["failed"] == 2
    assert not any(c[0] in ("Failed", "FailureTarget") for c in h.conditions())


def test_back_off_uses_the_containers_finish_time(h: Harness) -> None:
    h.create_job()
    h.sync()
    finished = {
        "containerStatuses": [
            {"name": "main", "state": {"terminated": {"exitCode": 1, "finishedAt": "2025-01-01T11:59:58Z"}}}
        ]
    }
    h.set_phase(h.pods()[0], "Failed", **finished)
    assert h.sync() == pytest.approx(8.0)


def test_a_success_resets_the_back_off(h: Harness) -> None:
    h.create_job(completions=3, backoffLimit=6)
    h.sync()
    h.set_phase(h.pods()[0], "Failed")
    h.sync()
    h.clock.advance(10)
    h.sync()
    h.set_phase(h.active_pods()[0], "Failed")
    h.sync()
    h.clock.advance(20)
    h.sync()
    h.clock.advance(1)
    h.set_phase(h.active_pods()[0], "Succeeded")
    h.sync()
    assert len(h.active_pods()) == 1  # no back-off: the last pod to finish succeeded
    h.clock.advance(1)
    h.set_phase(h.active_pods()[0], "Failed")
    assert h.sync() == pytest.approx(10.0)  # counting starts again from the base


def test_more_failures_than_the_backoff_limit_fail_the_job(h: Harness) -> None:
    h.create_job(backoffLimit=1)
    h.sync()
    h.set_phase(h.pods()[0], "Failed")
    h.sync()
    h.clock.advance(10)
    h.sync()
    h.set_phase(h.active_pods()[0], "Failed")
    assert h.sync() is None
    status = h.status()
    assert status["failed"] == 2
    assert "completionTime" not in status
    assert h.conditions() == [
        ("FailureTarget", "True", "BackoffLimitExceeded"),
        ("Failed", "True", "BackoffLimitExceeded"),
    ]
    assert h.condition_order() == ["FailureTarget", "Failed"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["message"] == "Job has reached the specified backoff limit"
    assert ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit") in h.events()
    h.clock.advance(600)
    h.sync()
    assert h.active_pods() == []


def test_backoff_limit_zero_fails_on_the_first_failure(h: Harness) -> None:
    h.create_job(backoffLimit=0)
    h.sync()
    h.set_phase(h.pods()[0], "Failed")
    h.sync()
    assert ("Failed", "True", "BackoffLimitExceeded") in h.conditions()
    assert len(h.pods()) == 1


def test_on_failure_restart_policy_counts_container_restarts(h: Harness) -> None:
    job = h.create_job(backoffLimit=2)
    template = job["spec"]["template"]
    template["spec"]["restartPolicy"] = "OnFailure"
    h.objects.update(h.jobs, NS, "pi", job, WriteOptions(manager="test"))
    h.sync()
    [pod] = h.pods()
    h.set_phase(pod, "Running", containerStatuses=[{"name": "main", "restartCount": 1}])
    h.sync()
    assert not h.conditions()
    h.set_phase(pod, "Running", containerStatuses=[{"name": "main", "restartCount": 2}])
    h.sync()
    assert ("Failed", "True", "BackoffLimitExceeded") in h.conditions()
    assert h.pods() == []  # its running pod is deleted
    assert h.status()["failed"] == 1


def test_active_deadline_fails_the_job_and_deletes_its_pods(h: Harness) -> None:
    h.create_job(activeDeadlineSeconds=30, parallelism=2, completions=4)
    assert h.sync() == pytest.approx(30.0)
    assert len(h.pods()) == 2
    h.clock.advance(12)
    assert h.sync() == pytest.approx(18.0)
    h.clock.advance(18)
    assert h.sync() is None
    assert h.pods() == []
    status = h.status()
    assert status["failed"] == 2
    assert "active" not in status
    assert h.conditions() == [
        ("FailureTarget", "True", "DeadlineExceeded"),
        ("Failed", "True", "DeadlineExceeded"),
    ]
    reasons = h.reasons()
    assert reasons.count("SuccessfulDelete") == 2
    assert "DeadlineExceeded" in reasons


def test_suspended_job_runs_nothing_until_resumed(h: Harness) -> None:
    job = h.create_job(suspend=True, activeDeadlineSeconds=5)
    assert h.sync() is None
    assert h.pods() == []
    status = h.status()
    assert "startTime" not in status
    assert h.conditions() == [("Suspended", "True", "JobSuspended")]
    h.clock.advance(60)  # the deadline does not run while suspended
    h.sync()
    assert h.conditions() == [("Suspended", "True", "JobSuspended")]
    job = h.job()
    job["spec"]["suspend"] = False
    h.objects.update(h.jobs, NS, "pi", job, WriteOptions(manager="test"))
    assert h.sync() == pytest.approx(5.0)
    assert len(h.pods()) == 1
    assert h.conditions() == [("Suspended", "False", "JobResumed")]
    assert h.status()["startTime"] == "2025-01-01T12:01:00Z"
    assert {"Suspended", "Resumed", "SuccessfulCreate"} <= set(h.reasons())


def test_suspending_a_running_job_deletes_its_pods(h: Harness) -> None:
    h.create_job(parallelism=2, completions=2)
    h.sync()
    job = h.job()
    job["spec"]["suspend"] = True
    h.objects.update(h.jobs, NS, "pi", job, WriteOptions(manager="test"))
    h.sync()
    assert h.pods() == []
    assert "active" not in h.status()
    assert ("Suspended", "True", "JobSuspended") in h.conditions()


def test_ready_counts_pods_with_the_ready_condition(h: Harness) -> None:
    h.create_job(parallelism=2, completions=2)
    h.sync()
    pod = h.pods()[0]
    h.set_phase(pod, "Running", conditions=[{"type": "Ready", "status": "True"}])
    h.sync()
    assert h.status()["ready"] == 1
    assert h.status()["active"] == 2


def test_counts_never_go_down_when_finished_pods_are_deleted(h: Harness) -> None:
    h.create_job(completions=2)
    h.sync()
    pod = h.pods()[0]
    h.set_phase(pod, "Succeeded")
    h.sync()
    h.objects.delete(h.pods_rt, NS, pod["metadata"]["name"])
    h.sync()
    assert h.status()["succeeded"] == 1
    assert len(h.active_pods()) == 1


def test_pod_changes_wake_the_job_that_controls_them(h: Harness) -> None:
    h.create_job()
    h.sync()
    pod = h.pods()[0]
    keys = list(h.ctrl.keys_for(Event("MODIFIED", "/pods", 99, pod)))
    assert keys == [f"{NS}/pi"]
    stray = {"metadata": {"name": "x", "namespace": NS}}
    assert list(h.ctrl.keys_for(Event("ADDED", "/pods", 100, stray))) == []


def test_a_deleted_job_is_forgotten(h: Harness) -> None:
    h.create_job()
    h.sync()
    h.objects.delete(h.jobs, NS, "pi")
    assert h.sync() is None


def test_backoff_base_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLUSTER_JOB_BACKOFF", "0.25")
    assert backoff_base_from_env() == 0.25
    monkeypatch.setenv("LOCALCLUSTER_JOB_BACKOFF", "soon")
    assert backoff_base_from_env() == 10.0
    monkeypatch.delenv("LOCALCLUSTER_JOB_BACKOFF")
    assert backoff_base_from_env() == 10.0
