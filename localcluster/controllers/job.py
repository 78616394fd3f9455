"""JobController: runs a Job's pods to completion, as kube-controller-manager's job controller.

The common case of ``batch/v1`` Jobs (``completionMode: NonIndexed``), following the upstream
1.32 controller:

- pods are made from ``spec.template`` (``generateName: <job>-``, the template's labels, which
  the API server's defaulting gives the ``job-name``/``controller-uid`` labels, and a controller
  owner reference); at most ``parallelism`` run at once, never more than the completions left;
- pods that reach phase ``Succeeded``/``Failed`` are counted; a failed pod is replaced after a
  back-off (10 s doubling per failure since the last success, capped at 10 min, as the upstream
  code's constants; ``$LOCALCLUSTER_JOB_BACKOFF`` sets the base, and the cap stays 60 times it);
- more than ``backoffLimit`` failures (or, with ``restartPolicy: OnFailure``, that many container
  restarts), or ``activeDeadlineSeconds`` passed, fail the Job: active pods are deleted, the
  condition ``FailureTarget`` is written, then ``Failed`` with the same reason;
- enough successes complete it: ``SuccessCriteriaMet``, then ``Complete`` and ``completionTime``;
- ``suspend: true`` deletes the active pods and creates none (condition ``Suspended``); resuming
  resets ``startTime``.

Counting is simpler than upstream's: there is no ``batch.kubernetes.io/job-tracking`` pod
finalizer, so a finished pod is counted while it exists and the counts in ``status`` never go
down. A finished pod deleted by hand before another one finishes can therefore be missed, and a
running pod deleted by hand is replaced without counting as a failure. Indexed Jobs, pod failure
and success policies, ``backoffLimitPerIndex``, ``managedBy`` and orphan adoption are not done.
"""

from __future__ import annotations

import copy
import datetime
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import Objects, WriteOptions
from localcluster.controllers.base import Controller, key_of, split_key
from localcluster.controllers.events import EventRecorder
from localcluster.store import Event, Obj

log = logging.getLogger("localcluster.controllers.job")

MANAGER = "kube-controller-manager"
COMPONENT = "job-controller"
#: seconds; upstream's DefaultJobPodFailureBackOff
DEFAULT_BACKOFF = 10.0
BACKOFF_ENV = "LOCALCLUSTER_JOB_BACKOFF"

BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")

Clock = Callable[[], datetime.datetime]


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def backoff_base_from_env() -> float:
    """``$LOCALCLUSTER_JOB_BACKOFF`` (seconds), else upstream's 10 s."""
    raw = os.environ.get(BACKOFF_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_BACKOFF
    return value if value >= 0 else DEFAULT_BACKOFF


def format_time(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def find_condition(obj: Obj, kind: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def condition_true(obj: Obj, kind: str) -> bool:
    cond = find_condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def is_finished(job: Obj) -> bool:
    return condition_true(job, "Complete") or condition_true(job, "Failed")


def controller_of(obj: Obj) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
        if isinstance(c, dict)
    )


def restart_count(pod: Obj) -> int:
    status = pod.get("status") or {}
    return sum(
        int(c.get("restartCount") or 0)
        for key in ("initContainerStatuses", "containerStatuses")
        for c in status.get(key) or []
        if isinstance(c, dict)
    )


def _finish_time_from_pod(pod: Obj) -> datetime.datetime | None:
    """When a finished pod finished: its containers' end, else its Ready=False transition."""
    status = pod.get("status") or {}
    ends = [
        parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for c in status.get("containerStatuses") or []
        if isinstance(c, dict)
    ]
    known = [e for e in ends if e is not None]
    if known:
        return max(known)
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready" and cond.get("status") == "False":
            found = parse_time(cond.get("lastTransitionTime"))
            if found is not None:
                return found
    return parse_time(pod["metadata"].get("deletionTimestamp"))


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _removal_order(pod: Obj) -> tuple[int, int, str]:
    """Pods to delete first when there are too many: pending, then not ready, then newest."""
    created = parse_time(pod["metadata"].get("creationTimestamp"))
    return (
        0 if _phase(pod) in ("", "Pending") else 1,
        1 if pod_ready(pod) else 0,
        format_time(created) if created else "",
    )


class JobController(Controller):
    """Reconciles ``batch/v1`` Jobs; pod changes wake the Job that controls the pod."""

    name = "job-controller"
    watches = ("batch/jobs", "/pods")

    def __init__(
        self, objects: Objects, *, clock: Clock = _utcnow, backoff_base: float | None = None
    ) -> None:
        super().__init__(objects)
        self.clock = clock
        self.backoff_base = backoff_base_from_env() if backoff_base is None else backoff_base
        self.backoff_cap = self.backoff_base * 60
        self.jobs = self.rt("batch", "v1", "jobs")
        self.pods = self.rt("", "v1", "pods")
        self.recorder = EventRecorder(objects, COMPONENT)
        # Per Job key, when this controller first saw each finished pod that carries no finish
        # time of its own (a pod whose phase a client set directly).
        self._seen_finished: dict[str, dict[str, datetime.datetime]] = {}

    # -- what wakes a Job ---------------------------------------------------------------

    def keys_for(self, event: Event) -> Iterable[str]:
        if event.resource == "batch/jobs":
            return super().keys_for(event)
        keys = []
        for obj in (event.obj, event.prev):
            ref = controller_of(obj) if obj is not None else None
            if ref and ref.get("kind") == "Job" and str(ref.get("apiVersion", "")).startswith("batch/"):
                keys.append(key_of(event.namespace, str(ref.get("name"))))
        return sorted(set(keys))

    # -- the sync -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        job = self.store.get(self.jobs.key, namespace, name)
        if job is None or is_finished(job):
            self._seen_finished.pop(key, None)
            return None
        return self.sync(job)

    def sync(self, job: Obj) -> float | None:
        """One pass over a Job that has not finished; returns when to look again."""
        now = self.clock()
        meta, spec = job["metadata"], job.get("spec") or {}
        status = copy.deepcopy(job.get("status") or {})
        pods = self._pods_of(job)
        terminal = [p for p in pods if _phase(p) in ("Succeeded", "Failed")]
        running = [p for p in pods if _phase(p) not in ("Succeeded", "Failed")]
        active = [p for p in running if not p["metadata"].get("deletionTimestamp")]
        terminating = len(running) - len(active)
        succeeded = max(int(status.get("succeeded") or 0), sum(_phase(p) == "Succeeded" for p in terminal))
        failed = max(int(status.get("failed") or 0), sum(_phase(p) == "Failed" for p in terminal))
        suspended = bool(spec.get("suspend"))
        if not status.get("startTime") and not suspended:
            status["startTime"] = format_time(now)
        requeue: list[float] = []
        events: list[tuple[str, str, str]] = []

        finished = self._finish_condition(job, status, active, failed, now, requeue)
        if finished is not None:
            deleted = self._delete_pods(job, active, events)
            if finished[0] == "FailureTarget":
                failed += deleted  # a Job that fails counts its unfinished pods as failed
            terminating += len(active) - deleted
            active = []
        else:
            if not meta.get("deletionTimestamp"):
                active = self._manage(job, active, succeeded, terminating, now, events, requeue)
            completions = spec.get("completions")
            if completions is None:
                complete = succeeded > 0 and not active
            else:
                complete = succeeded >= int(completions) and not active
            if complete:
                finished = ("SuccessCriteriaMet", *COMPLETIONS_REACHED)
            elif suspended:
                if _set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", now):
                    events.append(("Normal", "Suspended", "Job suspended"))
            elif _set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", now):
                # Resuming restarts the clock of activeDeadlineSeconds, as upstream.
                events.append(("Normal", "Resumed", "Job resumed"))
                status["startTime"] = format_time(now)

        _set_counts(status, active=active, succeeded=succeeded, failed=failed, terminating=terminating)
        if finished is None:
            self._write_status(job, status)
            self._record_all(job, events)
            return min(requeue) if requeue else None
        # The interim condition is written first, as upstream does; the terminal one follows
        # once no pod of the Job is still terminating.
        interim, reason, message = finished
        _set_condition(status, interim, "True", reason, message, now)
        job = self._write_status(job, status)
        if terminating == 0:
            final = "Complete" if interim == "SuccessCriteriaMet" else "Failed"
            _set_condition(status, final, "True", reason, message, now)
            if final == "Complete":
                status["completionTime"] = format_time(now)
                events.append(("Normal", "Completed", "Job completed"))
            else:
                events.append(("Warning", reason, message))
            job = self._write_status(job, status)
        self._record_all(job, events)
        return None

    def _pods_of(self, job: Obj) -> list[Obj]:
        """The pods this Job controls (by controller owner reference)."""
        uid = job["metadata"].get("uid")
        namespace = str(job["metadata"].get("namespace", ""))
        return [
            p
            for resource, p in self.store.dependents(str(uid))
            if resource == self.pods.key
            and str(p["metadata"].get("namespace", "")) == namespace
            and (controller_of(p) or {}).get("uid") == uid
        ]

    def _finish_condition(
        self,
        job: Obj,
        status: dict[str, Any],
        active: list[Obj],
        failed: int,
        now: datetime.datetime,
        requeue: list[float],
    ) -> tuple[str, str, str] | None:
        """The interim condition the Job has reached, if any: (type, reason, message)."""
        for kind in ("SuccessCriteriaMet", "FailureTarget"):
            cond = find_condition(job, kind)
            if cond is not None and cond.get("status") == "True":
                return (kind, str(cond.get("reason", "")), str(cond.get("message", "")))
        spec = job.get("spec") or {}
        limit = int(spec.get("backoffLimit", 6))
        on_failure = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") == "OnFailure"
        restarts = sum(restart_count(p) for p in active if _phase(p) in ("", "Pending", "Running"))
        if failed > limit or (on_failure and (restarts > 0 if limit == 0 else restarts >= limit)):
            return ("FailureTarget", *BACKOFF_LIMIT_EXCEEDED)
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime"))
        if deadline is not None and started is not None and not spec.get("suspend"):
            left = float(deadline) - (now - started).total_seconds()
            if left <= 0:
                return ("FailureTarget", *DEADLINE_EXCEEDED)
            requeue.append(left)
        return None

    def _manage(
        self,
        job: Obj,
        active: list[Obj],
        succeeded: int,
        terminating: int,
        now: datetime.datetime,
        events: list[tuple[str, str, str]],
        requeue: list[float],
    ) -> list[Obj]:
        """Create or delete pods toward the wanted number; returns the pods left active."""
        spec = job.get("spec") or {}
        if spec.get("suspend"):
            self._delete_pods(job, active, events)
            return []
        parallelism = int(spec.get("parallelism", 1))
        completions = spec.get("completions")
        if completions is None:
            wanted = len(active) if succeeded > 0 else parallelism
        else:
            wanted = max(0, min(int(completions) - succeeded, parallelism))
        if len(active) > wanted:
            extra = sorted(active, key=_removal_order)[: len(active) - wanted]
            self._delete_pods(job, extra, events)
            return [p for p in active if p not in extra]
        if len(active) == wanted:
            return active
        wait = self._backoff_left(job, now)
        if wait > 0:
            requeue.append(wait)
            return active
        missing = wanted - len(active)
        if spec.get("podReplacementPolicy") == "Failed":
            missing -= terminating
        created = [p for p in (self._create_pod(job, events) for _ in range(missing)) if p is not None]
        return active + created

    def _backoff_left(self, job: Obj, now: datetime.datetime) -> float:
        """Seconds until a replacement for failed pods may be created (0: now)."""
        meta = job["metadata"]
        seen = self._seen_finished.setdefault(key_of(str(meta.get("namespace", "")), str(meta["name"])), {})
        last_success: datetime.datetime | None = None
        failures: list[datetime.datetime] = []
        for pod in self._pods_of(job):
            phase = _phase(pod)
            if phase not in ("Succeeded", "Failed"):
                continue
            finished = _finish_time_from_pod(pod) or seen.setdefault(str(pod["metadata"].get("uid")), now)
            if phase == "Succeeded":
                last_success = finished if last_success is None else max(last_success, finished)
            else:
                failures.append(finished)
        if last_success is not None:
            failures = [f for f in failures if f > last_success]
        if not failures:
            return 0.0
        delay = min(self.backoff_base * 2.0 ** min(len(failures) - 1, 32), self.backoff_cap)
        return max(0.0, (max(failures) - now).total_seconds() + delay)

    # -- writes -------------------------------------------------------------------------

    def _create_pod(self, job: Obj, events: list[tuple[str, str, str]]) -> Obj | None:
        meta = job["metadata"]
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        tmeta = {k: v for k, v in (template.get("metadata") or {}).items() if v is not None}
        pod_meta: dict[str, Any] = {
            k: tmeta[k] for k in ("labels", "annotations", "finalizers") if tmeta.get(k)
        }
        pod_meta["generateName"] = f"{meta['name']}-"
        pod_meta["ownerReferences"] = [
            {
                "apiVersion": self.jobs.api_version,
                "kind": "Job",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}
        try:
            pod = self.objects.create(
                self.pods,
                str(meta.get("namespace", "")),
                body,
                WriteOptions(manager=MANAGER, field_validation="Ignore"),
            ).obj
        except ApiError as e:
            events.append(("Warning", "FailedCreate", f"Error creating: {e.message}"))
            log.warning("job %s/%s: creating a pod failed: %s", meta.get("namespace"), meta["name"], e)
            return None
        events.append(("Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}"))
        return pod

    def _delete_pods(self, job: Obj, pods: list[Obj], events: list[tuple[str, str, str]]) -> int:
        """Delete ``pods``; returns how many are gone (a pod with finalizers is only terminating)."""
        gone = 0
        for pod in pods:
            pmeta = pod["metadata"]
            try:
                _, deleted = self.objects.delete(
                    self.pods, str(pmeta.get("namespace", "")), str(pmeta["name"])
                )
            except ApiError as e:
                if e.code == 404:
                    gone += 1
                else:
                    events.append(("Warning", "FailedDelete", f"Error deleting: {e.message}"))
                continue
            gone += deleted
            events.append(("Normal", "SuccessfulDelete", f"Deleted pod: {pmeta['name']}"))
        return gone

    def _write_status(self, job: Obj, status: dict[str, Any]) -> Obj:
        if status == (job.get("status") or {}):
            return job
        body = dict(job, status=copy.deepcopy(status))
        meta = job["metadata"]
        return self.objects.update(
            self.jobs,
            str(meta.get("namespace", "")),
            str(meta["name"]),
            body,
            WriteOptions(manager=MANAGER, subresource="status", field_validation="Ignore"),
        ).obj

    def _record_all(self, job: Obj, events: list[tuple[str, str, str]]) -> None:
        for kind, reason, message in events:
            self._record(job, kind, reason, message)

    def _record(self, job: Obj, kind: str, reason: str, message: str) -> None:
        """A ``v1 Event`` about the Job (best effort, as in client-go)."""
        self.recorder.record(dict(job, apiVersion=self.jobs.api_version, kind="Job"), kind, reason, message)


def _set_condition(
    status: dict[str, Any], kind: str, value: str, reason: str, message: str, now: datetime.datetime
) -> bool:
    """Upstream's ensureJobConditionStatus: add (only when True) or update; True if changed."""
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    stamp = format_time(now)
    for cond in conditions:
        if cond.get("type") != kind:
            continue
        if cond.get("status") == value and cond.get("reason") == reason and cond.get("message") == message:
            return False
        if cond.get("status") != value:
            cond["lastTransitionTime"] = stamp
        cond.update(status=value, reason=reason, message=message, lastProbeTime=stamp)
        return True
    if not conditions:
        del status["conditions"]
    if value != "True":
        return False
    status.setdefault("conditions", []).append(
        {
            "type": kind,
            "status": value,
            "lastProbeTime": stamp,
            "lastTransitionTime": stamp,
            "reason": reason,
            "message": message,
        }
    )
    return True


def _set_counts(
    status: dict[str, Any], *, active: list[Obj], succeeded: int, failed: int, terminating: int
) -> None:
    """The counters as the real server shows them: zero ``active``/``succeeded``/``failed`` omitted."""
    for key, value in (("active", len(active)), ("succeeded", succeeded), ("failed", failed)):
        if value:
            status[key] = value
        else:
            status.pop(key, None)
    status["ready"] = sum(1 for p in active if pod_ready(p))
    status["terminating"] = terminating
    status.setdefault("uncountedTerminatedPods", {})
