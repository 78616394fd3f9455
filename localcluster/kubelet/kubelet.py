"""The kubelet: the node ``localcluster``, and its pods run as real workloads on loopback addresses.

It plays both the scheduler and the kubelet of a one-node cluster:

- registers the Node ``localcluster`` (Ready, with this machine's capacity and info),
  renews its Lease in ``kube-node-lease`` every :data:`LEASE_RENEWAL` seconds and its
  status heartbeat every :data:`NODE_HEARTBEAT` seconds;
- binds every unscheduled pod (``spec.nodeName`` unset, the default scheduler's) to it,
  unless the pod's ``nodeSelector`` does not match the node: that pod stays Pending and
  Unschedulable, as with a real scheduler;
- runs each pod bound to it: a pod IP of its own (:mod:`.ipam`), each container as the demo
  app in-process or as a subprocess (:mod:`.images`), probes, restarts with back-off, logs
  (:mod:`.logs`, served as ``pods/log``), and the pod's status written whenever what it
  shows changes;
- stops a pod's containers when the pod is deleted (or marked for deletion), and all of
  them when the server stops.

Everything it writes goes through :class:`~localcluster.apiserver.objects.Objects`, like any
client's write; status writes happen synchronously (no await between reading the pod and
writing it), so they cannot race another writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from localcluster.apiserver.defaults import qos_class
from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.objects import WriteOptions, now_rfc3339
from localcluster.controllers.base import Controller, split_key
from localcluster.kubelet.config import NODE_NAME, KubeletConfig
from localcluster.kubelet.containers import ContainerWorker, PodContext
from localcluster.kubelet.env import container_env
from localcluster.kubelet.events import PodEvents, PodRef, Recorder
from localcluster.kubelet.images import ImageTable
from localcluster.kubelet.ipam import NoFreePodIPError, PodIPAllocator
from localcluster.kubelet.lifecycle import pod_status, resumed_snapshot
from localcluster.kubelet.logs import LogBook
from localcluster.kubelet.node import LEASE_NAMESPACE, node_labels, node_lease, node_object, node_status
from localcluster.kubelet.pods import PodWorker, base_env, prepare_pod_dir
from localcluster.kubelet.runtimes import reap_orphans

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects
    from localcluster.apiserver.registry import ResourceType
    from localcluster.store import Obj

log = logging.getLogger("localcluster.kubelet")

#: Seconds between two heartbeats of the node's status.
NODE_HEARTBEAT = 60.0
#: Seconds between two renewals of the node's Lease (as the real kubelet).
LEASE_RENEWAL = 10.0
#: The pod conditions the kubelet writes; others' (e.g. readiness gates') are kept as they are.
_OWN_CONDITIONS = {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"}


class Kubelet(Controller):
    """The node agent of the one-node cluster (see the module docstring)."""

    name = "kubelet"
    watches = ("/pods",)

    def __init__(self, objects: Objects, *, state_dir: Path) -> None:
        super().__init__(objects)
        self.state_dir = state_dir
        self.config = KubeletConfig.from_env(state_dir)
        self.logs = LogBook(self.config.logs_dir)
        self.ips = PodIPAllocator()
        self.events = PodEvents(objects)
        self.images = ImageTable(state_dir, on_error=log.error)
        self._pods: dict[str, PodWorker] = {}
        self._retiring: dict[asyncio.Task[None], PodWorker] = {}
        self._session: aiohttp.ClientSession | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._shutting_down = False
        # Addresses pods had before this server started and have not got back yet: not to be
        # handed to new pods (worked out once, from the pods stored at start).
        self._unstarted_ips: set[str] | None = None

    # -- start and stop ---------------------------------------------------------------------

    async def start(self) -> None:
        for pid in await reap_orphans(self.config.pid_dir):
            log.info("stopped process %d left by a previous server", pid)
        self._sweep_dirs()
        self.register_node()
        self.renew_lease()
        self.objects.pod_logs = self.logs
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat(), name="kubelet-heartbeat")

    async def stop(self) -> None:
        """Stop every container (each given at most ``shutdown_grace`` seconds) and free every pod IP.

        The pods' statuses are left as they were: containers stopped with the server are, for
        the next server, containers that died with their node (see ``resumed_snapshot``), and
        are started again.
        """
        self._shutting_down = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        workers = [*self._pods.values(), *self._retiring.values()]
        self._pods.clear()
        await asyncio.gather(
            *(w.stop(min(self.config.shutdown_grace, _grace(w))) for w in workers), return_exceptions=True
        )
        if self._retiring:
            await asyncio.wait(list(self._retiring), timeout=self.config.shutdown_grace + 1)
        self.ips.release_all()
        self.logs.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _sweep_dirs(self) -> None:
        """Remove the directories and logs of pods that no longer exist."""
        live = {
            f"{p['metadata'].get('namespace', '')}_{p['metadata']['name']}_{p['metadata'].get('uid', '')}"
            for p in self.store.list("/pods")
        }
        for parent in (self.config.pods_dir, self.config.logs_dir):
            for child in parent.iterdir() if parent.is_dir() else []:
                if child.name not in live:
                    shutil.rmtree(child, ignore_errors=True)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        return self._session

    # -- the node -------------------------------------------------------------------------------

    def _rt(self, plural: str) -> ResourceType:
        return self.rt("", "v1", plural)

    def register_node(self) -> None:
        """Create the Node, or bring its labels and status up to date (a heartbeat)."""
        rt = self._rt("nodes")
        now = now_rfc3339()
        current = self.store.get(rt.key, "", NODE_NAME)
        if current is None:
            self.objects.create(
                rt, "", node_object(now), WriteOptions(manager="kubelet", field_validation="Ignore")
            )
            return
        labels = {**(current["metadata"].get("labels") or {}), **node_labels()}
        if labels != current["metadata"].get("labels"):
            body = copy.deepcopy(current)
            body["metadata"]["labels"] = labels
            current = self.objects.update(
                rt, "", NODE_NAME, body, WriteOptions(manager="kubelet", field_validation="Ignore")
            ).obj
        body = dict(current, status=node_status(current.get("status"), now))
        self.objects.update(
            rt,
            "",
            NODE_NAME,
            body,
            WriteOptions(manager="kubelet", subresource="status", field_validation="Ignore"),
        )

    def renew_lease(self) -> None:
        """Create or renew the node's Lease (what ``kubectl describe node`` shows as its Lease)."""
        rt = self.rt("coordination.k8s.io", "v1", "leases")
        node = self.store.get(self._rt("nodes").key, "", NODE_NAME)
        if node is None:
            return
        lease = node_lease(node, time.time())
        current = self.store.get(rt.key, LEASE_NAMESPACE, NODE_NAME)
        if current is None:
            self.objects.create(
                rt, LEASE_NAMESPACE, lease, WriteOptions(manager="kubelet", field_validation="Ignore")
            )
            return
        body = copy.deepcopy(current)
        body["spec"] = {**(current.get("spec") or {}), **lease["spec"]}
        self.objects.update(
            rt, LEASE_NAMESPACE, NODE_NAME, body, WriteOptions(manager="kubelet", field_validation="Ignore")
        )

    async def _beat(self) -> None:
        last_status = time.monotonic()
        while True:
            await asyncio.sleep(LEASE_RENEWAL)
            try:
                self.renew_lease()
                if time.monotonic() - last_status >= NODE_HEARTBEAT:
                    last_status = time.monotonic()
                    self.register_node()
            except Exception:
                log.exception("the node's heartbeat failed")

    # -- pods ---------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        pod = self.store.get("/pods", namespace, name)
        worker = self._pods.get(key)
        if worker is not None and (pod is None or pod["metadata"].get("uid") != worker.uid):
            self._retire(key, worker, remove=True)
            worker = None
        if pod is None:
            return None
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):
            return self._schedule(pod)
        if spec["nodeName"] != NODE_NAME:
            return None
        if pod["metadata"].get("deletionTimestamp"):
            if worker is not None and not worker.terminating:
                self._retire(key, worker, remove=False)
            return None
        if worker is None:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return None  # it finished before the server restarted
            try:
                worker = self._start_pod(key, pod)
            except NoFreePodIPError as e:
                log.error("%s: %s", key, e)
                return 5.0
        else:
            worker.update_spec(spec)
        self.write_status(key, worker)
        return None

    def _schedule(self, pod: Obj) -> float | None:
        """Bind the pod to this node (as the default scheduler), or mark it Unschedulable."""
        spec = pod.get("spec") or {}
        if spec.get("schedulerName", "default-scheduler") != "default-scheduler":
            return None
        meta = pod["metadata"]
        rt = self._rt("pods")
        selector = spec.get("nodeSelector") or {}
        labels = node_labels()
        try:
            if any(labels.get(k) != v for k, v in selector.items()):
                self._unschedulable(rt, pod)
                return None
            body = copy.deepcopy(pod)
            body["spec"]["nodeName"] = NODE_NAME
            bound = self.objects.update(
                rt,
                meta.get("namespace", ""),
                meta["name"],
                body,
                WriteOptions(manager="default-scheduler", field_validation="Ignore"),
            )
        except ApiError as e:
            log.warning("binding pod %s/%s failed: %s", meta.get("namespace"), meta["name"], e)
            return 1.0
        self.events.record(
            _ref(bound.obj),
            "Normal",
            "Scheduled",
            f"Successfully assigned {meta.get('namespace')}/{meta['name']} to {NODE_NAME}",
            component="default-scheduler",
        )
        return None

    def _unschedulable(self, rt: ResourceType, pod: Obj) -> None:
        status = dict(pod.get("status") or {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        previous: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
        )
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": previous.get("lastTransitionTime")
            if previous.get("status") == "False"
            else None,
            "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
            "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
        }
        condition["lastTransitionTime"] = condition["lastTransitionTime"] or now_rfc3339()
        status["conditions"] = [*conditions, condition]
        status.setdefault("phase", "Pending")
        self.events.record(
            _ref(pod), "Warning", "FailedScheduling", str(condition["message"]), component="default-scheduler"
        )
        if status != pod.get("status"):
            meta = pod["metadata"]
            self.objects.update(
                rt,
                meta.get("namespace", ""),
                meta["name"],
                dict(pod, status=status),
                WriteOptions(manager="default-scheduler", subresource="status", field_validation="Ignore"),
            )

    def _start_pod(self, key: str, pod: Obj) -> PodWorker:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        namespace, name, uid = str(meta.get("namespace", "")), str(meta["name"]), str(meta.get("uid", ""))
        if self._unstarted_ips is None:
            self._unstarted_ips = {
                str((p.get("status") or {}).get("podIP"))
                for p in self.store.list("/pods")
                if (p.get("status") or {}).get("podIP")
            }
        ip = self.ips.allocate(preferred=status.get("podIP"), avoid=self._unstarted_ips)
        self._unstarted_ips.discard(ip)
        workdir = self.config.pods_dir / f"{namespace}_{name}_{uid}"
        try:
            kubeconfig = prepare_pod_dir(workdir, self.state_dir / "kubeconfig", namespace)
        except OSError:
            self.ips.release(ip)
            raise
        context = PodContext(
            namespace=namespace,
            name=name,
            uid=uid,
            pod_ip=ip,
            restart_policy=str(spec.get("restartPolicy") or "Always"),
            workdir=workdir,
            base_env=base_env(name, kubeconfig),
            grace=float(spec.get("terminationGracePeriodSeconds", 30) or 0),
        )
        worker = PodWorker(context=context, start_time=str(status.get("startTime") or now_rfc3339()))
        previous = {str(c.get("name")): c for c in status.get("containerStatuses") or []}

        def env(container: Obj) -> dict[str, str]:
            current = self.store.get("/pods", namespace, name) or pod
            return container_env(self.store.get, current, container, ip)

        for container in spec.get("containers") or []:
            restarts, last_state = resumed_snapshot(
                str(container.get("name")), previous.get(str(container.get("name")))
            )
            worker.containers.append(
                ContainerWorker(
                    pod=context,
                    spec=container,
                    entry=self.images.lookup,
                    env=env,
                    log=self.logs.container(namespace, name, uid, str(container.get("name"))),
                    config=self.config,
                    session=self._http,
                    on_change=lambda: self.write_status(key, worker),
                    now=now_rfc3339,
                    restart_count=restarts,
                    last_state=last_state,
                    events=self._recorder(_ref(pod), str(container.get("name"))),
                )
            )
        self._pods[key] = worker
        worker.start()
        return worker

    def _recorder(self, pod: PodRef, container: str) -> Recorder:
        record = self.events.for_container(pod, container)

        def recorder(type_: str, reason: str, message: str) -> None:
            if not self._shutting_down:
                record(type_, reason, message)

        return recorder

    def _retire(self, key: str, worker: PodWorker, *, remove: bool) -> None:
        """Stop a pod's containers in the background; ``remove``: the pod is gone, free everything."""
        if self._pods.get(key) is worker and remove:
            del self._pods[key]
        worker.terminating = True

        async def finish() -> None:
            await worker.stop(_grace(worker))
            if remove:
                self.ips.release(worker.context.pod_ip)
                logs = self.logs.forget_pod(worker.context.namespace, worker.context.name, worker.uid)
                self.events.forget(worker.uid)
                # Removing files is the slow part: off the event loop, so the API keeps answering.
                await asyncio.to_thread(_remove_dirs, worker.context.workdir, logs)
            else:
                self.write_status(key, worker)

        task = asyncio.get_running_loop().create_task(finish(), name=f"kubelet-stop-{key}")
        self._retiring[task] = worker
        task.add_done_callback(lambda t: self._retiring.pop(t, None))

    def write_status(self, key: str, worker: PodWorker) -> None:
        """Write the pod's status when what it shows changed (synchronously: no race)."""
        if self._shutting_down:
            return
        namespace, name = split_key(key)
        pod = self.store.get("/pods", namespace, name)
        if pod is None or pod["metadata"].get("uid") != worker.uid:
            return
        previous: dict[str, Any] = dict(pod.get("status") or {})
        built = pod_status(
            containers=worker.snapshots(),
            pod_ip=worker.context.pod_ip,
            start_time=worker.start_time,
            qos_class=str(previous.get("qosClass") or qos_class(pod.get("spec") or {})),
            prev_status=previous,
            now=now_rfc3339(),
        )
        status = {**previous, **built}
        others = [c for c in previous.get("conditions") or [] if c.get("type") not in _OWN_CONDITIONS]
        status["conditions"] = [*built["conditions"], *others]
        if status == previous:
            return
        try:
            self.objects.update(
                self._rt("pods"),
                namespace,
                name,
                dict(pod, status=status),
                WriteOptions(manager="kubelet", subresource="status", field_validation="Ignore"),
            )
        except ApiError as e:
            log.warning("writing the status of pod %s failed: %s", key, e)


def _remove_dirs(*dirs: Path | None) -> None:
    for directory in dirs:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _ref(pod: Obj) -> PodRef:
    meta = pod["metadata"]
    return PodRef(str(meta.get("namespace", "")), str(meta["name"]), str(meta.get("uid", "")))


def _grace(worker: PodWorker) -> float:
    return worker.context.grace
