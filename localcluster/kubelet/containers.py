"""One container's life: start, probe, exit, back off, restart — and its state for the status.

A :class:`ContainerWorker` runs as one task per container. Each pass of its loop works out
the container's environment, starts a run (:mod:`.runtimes`), runs its probes while the run
lasts, and when the run ends decides from the restart policy whether and when to start the
next one. Every change of what the status shows is reported through ``on_change``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import aiohttp

from localcluster.demoapp import behaviour_for
from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.env import ConfigError
from localcluster.kubelet.events import Recorder
from localcluster.kubelet.images import ImageEntry, resolve_command
from localcluster.kubelet.lifecycle import (
    ContainerSnapshot,
    ContainerState,
    Running,
    Terminated,
    Waiting,
    exit_reason,
    restart_delay,
    should_restart,
)
from localcluster.kubelet.logs import ContainerLog, LogRun
from localcluster.kubelet.probes import Prober, ProbeResult, ProbeSpec, parse_probe, run_probe
from localcluster.kubelet.runtimes import (
    START_ERROR_EXIT,
    ContainerRun,
    DemoRun,
    ProcessRun,
    StartError,
    run_exec,
)

log = logging.getLogger("localcluster.kubelet")

Obj = dict[str, Any]
DEFAULT_DEMO_PORT = 8080
#: How often a container whose ConfigMap/Secret is missing is tried again.
CONFIG_RETRY = 2.0


@dataclass(frozen=True)
class PodContext:
    """What a container needs to know of its pod."""

    namespace: str
    name: str
    uid: str
    pod_ip: str
    restart_policy: str
    workdir: Path
    #: the process environment every subprocess container of the pod starts from
    base_env: Mapping[str, str]
    #: terminationGracePeriodSeconds: how long a container is given to stop
    grace: float = 30.0


def image_id(image: str) -> str:
    """A stable imageID (``repo@sha256:...``) for an image reference."""
    name = image.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    return f"{name}@sha256:{sha256(image.encode()).hexdigest()}"


def demo_ports(container: Mapping[str, Any]) -> list[int]:
    """The TCP ports a demo-app container listens on: each declared one, else 8080."""
    ports = [
        int(p["containerPort"])
        for p in container.get("ports") or []
        if p.get("containerPort") and str(p.get("protocol") or "TCP") == "TCP"
    ]
    return sorted(set(ports)) or [DEFAULT_DEMO_PORT]


class ContainerWorker:
    """Runs one container of a pod for as long as the pod lives (or the policy says)."""

    def __init__(
        self,
        *,
        pod: PodContext,
        spec: Obj,
        entry: Callable[[str], ImageEntry | None],
        env: Callable[[Obj], dict[str, str]],
        log: ContainerLog,
        config: KubeletConfig,
        session: Callable[[], aiohttp.ClientSession],
        on_change: Callable[[], None],
        now: Callable[[], str],
        restart_count: int = 0,
        last_state: Terminated | None = None,
        events: Recorder | None = None,
    ) -> None:
        self.pod = pod
        self.spec = spec
        self.name = str(spec.get("name") or "")
        self._entry = entry
        self._env = env
        self.log = log
        self.config = config
        self._session = session
        self._on_change = on_change
        self._now = now
        self._event: Recorder = events or (lambda type_, reason, message: None)
        self.state: ContainerState = Waiting("ContainerCreating")
        self.last_state = last_state
        self.restart_count = restart_count
        self.container_id = ""
        self.ready = False
        self.started = False
        self.done = False
        self._run: ContainerRun | None = None
        self._stopping = False
        self._grace = pod.grace
        self._replace = False
        self._wake = asyncio.Event()
        self._probes: list[asyncio.Task[None]] = []

    # -- what the status shows --------------------------------------------------------------

    def snapshot(self) -> ContainerSnapshot:
        return ContainerSnapshot(
            name=self.name,
            image=str(self.spec.get("image") or ""),
            image_id=image_id(str(self.spec.get("image") or "")),
            state=self.state,
            container_id=self.container_id,
            last_state=self.last_state,
            ready=self.ready,
            started=self.started,
            restart_count=self.restart_count,
            done=self.done,
        )

    def _set(self, **changes: Any) -> None:
        before = (self.state, self.last_state, self.ready, self.started, self.restart_count, self.done)
        for key, value in changes.items():
            setattr(self, key, value)
        if before != (self.state, self.last_state, self.ready, self.started, self.restart_count, self.done):
            self._on_change()

    # -- control ------------------------------------------------------------------------------

    def update_spec(self, spec: Obj) -> None:
        """The pod's spec changed: a new image restarts the container with it."""
        image_changed = spec.get("image") != self.spec.get("image")
        self.spec = spec
        if image_changed and self._run is not None:
            self._replace = True
            self._kill(f"Container {self.name} definition changed, will be restarted")
        elif image_changed:
            self._wake.set()

    def _kill(self, why: str) -> None:
        """Stop the current run (it is then restarted per the restart policy); ``why`` is the event's message."""
        run = self._run
        if run is not None:
            log.info("pod %s/%s: %s", self.pod.namespace, self.pod.name, why)
            self._event("Normal", "Killing", why)
            asyncio.get_running_loop().create_task(run.stop(self._grace))

    async def stop(self, grace: float) -> None:
        """Stop the container for good (pod deleted, or server stopping)."""
        self._stopping = True
        self._grace = grace
        self._wake.set()
        run = self._run
        if run is not None:
            self._event("Normal", "Killing", f"Stopping container {self.name}")
            await run.stop(grace)

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        step = 0
        while not self._stopping:
            try:
                env = self._env(self.spec)
            except ConfigError as e:
                self._event("Warning", "Failed", f"Error: {e}")
                self._set(state=Waiting("CreateContainerConfigError", str(e)))
                await self._sleep(CONFIG_RETRY)
                continue
            if self.container_id or self.last_state is not None:  # not the very first run
                self._set(restart_count=self.restart_count + 1)
            terminated = await self._run_once(env)
            if self._stopping:
                self._set(state=terminated, ready=False, started=False, done=True)
                break
            if self._replace:
                self._replace = False
                self._set(state=terminated, last_state=terminated, ready=False, started=False)
                continue
            if not should_restart(self.pod.restart_policy, terminated.exit_code):
                self._set(state=terminated, ready=False, started=False, done=True)
                break
            ran_for = _seconds_between(terminated.started_at, terminated.finished_at)
            step = 1 if ran_for >= 2 * self.config.max_backoff else step + 1
            delay = restart_delay(step, base=self.config.backoff_base, cap=self.config.max_backoff)
            if delay > 0:
                message = (
                    f"back-off {_duration(delay)} restarting failed container={self.name} "
                    f"pod={self.pod.name}_{self.pod.namespace}({self.pod.uid})"
                )
                self._set(
                    state=Waiting("CrashLoopBackOff", message),
                    last_state=terminated,
                    ready=False,
                    started=False,
                )
                self._event(
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {self.name} in pod "
                    f"{self.pod.name}_{self.pod.namespace}({self.pod.uid})",
                )
                await self._sleep(delay)
            else:
                self._set(state=terminated, last_state=terminated, ready=False, started=False)
        if not self.done:  # stopped while waiting to (re)start
            self._set(ready=False, started=False, done=True)
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _run_once(self, env: dict[str, str]) -> Terminated:
        run_log = self.log.new_run(self.restart_count)
        container_id = f"localcluster://{secrets.token_hex(32)}"
        started_at = self._now()
        started = time.monotonic()
        self.container_id = container_id
        image = str(self.spec.get("image") or "")
        self._event("Normal", "Pulled", f'Container image "{image}" already present on machine')
        try:
            self._run = run = await self._start(env, run_log)
        except StartError as e:
            run_log.close()
            self._event("Warning", "Failed", f"Error: {e}")
            return Terminated(START_ERROR_EXIT, "StartError", started_at, self._now(), container_id, str(e))
        self._event("Normal", "Created", f"Created container: {self.name}")
        self._event("Normal", "Started", f"Started container {self.name}")
        if self._stopping:  # stopped while starting
            await run.stop(self._grace)
        else:
            startup = parse_probe(self.spec.get("startupProbe"))
            self._set(state=Running(started_at), ready=False, started=startup is None)
            prober = self._prober(env)
            if startup is not None:
                self._spawn(
                    run_probe(
                        startup,
                        prober.check,
                        lambda ok: self._startup_done(ok, prober, started),
                        initial=False,
                        on_failure=self._unhealthy("Startup"),
                    )
                )
            else:
                self._start_probes(prober, started)
        code = await run.wait()
        for task in self._probes:
            task.cancel()
        self._probes = []
        self._run = None
        run_log.close()
        return Terminated(code, exit_reason(code), started_at, self._now(), container_id)

    async def _start(self, env: dict[str, str], run_log: LogRun) -> ContainerRun:
        image = str(self.spec.get("image") or "")
        entry = self._entry(image)
        if entry is None:
            return await DemoRun.start(
                behaviour_for(image, env),
                host=self.pod.pod_ip,
                ports=demo_ports(self.spec),
                pod=self.pod.name,
                image=image,
                log=run_log,
            )
        argv = resolve_command(entry, self.spec.get("command"), self.spec.get("args"), env)
        return await ProcessRun.start(
            argv,
            env={**self.pod.base_env, **entry.env, **env},
            cwd=self.pod.workdir,
            log=run_log,
            pid_dir=self.config.pid_dir,
            labels={
                "pod": f"{self.pod.namespace}/{self.pod.name}",
                "uid": self.pod.uid,
                "container": self.name,
            },
        )

    def _prober(self, env: dict[str, str]) -> Prober:
        exec_runner = None
        if self._entry(str(self.spec.get("image") or "")) is not None:
            full_env = {**self.pod.base_env, **env}
            workdir = self.pod.workdir

            async def exec_runner_fn(argv: Any, seconds: float) -> ProbeResult:
                return await run_exec(argv, env=full_env, cwd=workdir, seconds=seconds)

            exec_runner = exec_runner_fn
        return Prober(self.pod.pod_ip, self.spec, self._session, exec_runner)

    def _spawn(self, coro: Any) -> None:
        self._probes.append(asyncio.get_running_loop().create_task(coro))

    def _startup_done(self, ok: bool, prober: Prober, started: float) -> None:
        if not ok:
            self._kill(f"Container {self.name} failed startup probe, will be restarted")
            return
        for task in self._probes:
            task.cancel()
        self._probes = []
        self._set(started=True)
        self._start_probes(prober, started)

    def _start_probes(self, prober: Prober, started: float) -> None:
        readiness: ProbeSpec | None = parse_probe(self.spec.get("readinessProbe"))
        liveness: ProbeSpec | None = parse_probe(self.spec.get("livenessProbe"))
        if readiness is not None:
            self._spawn(
                run_probe(
                    readiness,
                    prober.check,
                    lambda ok: self._set(ready=ok),
                    initial=False,
                    on_failure=self._unhealthy("Readiness"),
                )
            )
        else:
            self._spawn(self._ready_after(self.config.start_delay - (time.monotonic() - started)))
        if liveness is not None:
            self._spawn(
                run_probe(
                    liveness,
                    prober.check,
                    lambda ok: (
                        None
                        if ok
                        else self._kill(f"Container {self.name} failed liveness probe, will be restarted")
                    ),
                    initial=True,
                    on_failure=self._unhealthy("Liveness"),
                )
            )

    def _unhealthy(self, kind: str) -> Callable[[str], None]:
        return lambda message: self._event("Warning", "Unhealthy", f"{kind} probe failed: {message}")

    async def _ready_after(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        self._set(ready=True)


def _duration(seconds: float) -> str:
    """Like Go's time.Duration for whole minutes and seconds: ``10s``, ``2m40s``, ``5m0s``."""
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"


def _seconds_between(start: str, end: str) -> float:
    try:
        a = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (b - a).total_seconds()
