"""Running one scenario: numbered, timed steps; the cluster, API, watches and traffic they share;
the checks; the summary; the report.

A scenario is an ``async def main(run: Run)`` that calls :meth:`Run.step` for each thing it
does and :meth:`Run.check` for each outcome it expects. A failed check (or a wait that runs out)
raises :class:`OutcomeError`: the run stops there, the summary marks the step failed, the
report is still written, and the demo exits 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from controller.cli import operations
from controller.demo.live import LiveView, Traffic
from controller.demo.narrate import Narrator
from controller.demo.observe import Observer, OutcomeError
from controller.demo.options import NAMESPACE, ROLLOUT, SELECTOR, SERVICE, DemoOptions
from controller.demo.prereq import Problem
from controller.demo.report import RunRecord, StepTiming, render_report
from controller.demo.setup import Target
from controller.demo.timeline import Marker, Window, traffic_samples, window
from controller.kube import ApiClient, KubeError
from controller.loadtest import LoadTest, TargetError, resolve_service
from controller.loadtest.target import resolve_ingress

INTERRUPTED = "interrupted"
#: how long the demo's load test could run at most (it is stopped when the run ends)
LOAD_TEST_SECONDS = 24 * 3600.0


async def stop_task(task: asyncio.Task[Any], within: float = 10.0) -> None:
    """Cancel ``task`` and wait (at most ``within`` seconds) for it to end."""
    task.cancel()
    await asyncio.wait({task}, timeout=within)
    if task.done() and not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()


@dataclass(frozen=True)
class ScenarioSpec:
    """A scenario: its name, what it shows, what it needs, and its body."""

    name: str
    title: str
    description: str
    main: Callable[[Run], Awaitable[None]]
    #: extra prerequisites of this scenario (beyond prereq.check_tools)
    extra_checks: Callable[[DemoOptions], Sequence[Problem]] = field(default=lambda _o: ())


@dataclass
class StepHandle:
    """What a running step can add to its summary line."""

    note: str = ""


class Run:
    """The state of one demo run."""

    def __init__(self, options: DemoOptions, spec: ScenarioSpec, console: Console, command: str) -> None:
        self.options = options
        self.spec = spec
        self.console = console
        self.t0 = time.monotonic()
        self.work = options.work_path()
        self.work.mkdir(parents=True, exist_ok=True)
        self.target = Target(options, log=self.work / "demo.log")
        self.narrator = Narrator(console, narration=options.narration, clock=self.now)
        self.record = RunRecord(
            scenario=spec.name,
            title=spec.title,
            command=command,
            started_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            cluster="",
        )
        self.markers: list[Marker] = []
        self.api: ApiClient | None = None
        self.observer: Observer | None = None
        self.traffic: Traffic | None = None
        self.load_offset = 0.0
        #: how to send the same traffic by hand (said when the run is kept)
        self.load_test_hint = ""
        #: the image of the stable revision when the scenario starts its update
        self.stable_image = ""
        #: the text beside the tree in the live view (the gitops scenario's git log)
        self.side: Callable[[], str] | None = None
        self._stack: AsyncExitStack | None = None
        self._step = 0
        self._last_phase = ""

    # -- clock, markers, steps, checks ------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.t0

    def mark(self, kind: str, label: str, detail: str = "", *, at: float | None = None) -> Marker:
        marker = Marker(self.now() if at is None else at, kind, label, detail)
        self.markers.append(marker)
        if kind in ("update", "step", "pause", "abort", "sync"):
            self._last_phase = ""  # something happened: the next Healthy or Degraded is news
        if kind not in ("setup",):
            text = f"· {label}" + (f" — {detail}" if detail else "")
            self.narrator.info(text)
        return marker

    def _on_rollout_marker(self, marker: Marker) -> None:
        if marker.kind == "phase":
            if marker.label == self._last_phase:
                return  # the same phase again (the spec changed and was observed in between)
            self._last_phase = marker.label
        self.mark(marker.kind, marker.label, marker.detail, at=marker.at)

    @contextlib.asynccontextmanager
    async def step(self, title: str, *, say: str = "", look: str = "") -> AsyncIterator[StepHandle]:
        """A numbered, timed step: its heading, what it does, what to look at."""
        self._step += 1
        self.narrator.step(self._step, title)
        self.narrator.say(say)
        self.narrator.look(look)
        handle = StepHandle()
        started = self.now()
        try:
            yield handle
        except OutcomeError as e:
            self.record.steps.append(StepTiming(title, started, self.now() - started, False, str(e)))
            raise
        except BaseException:
            self.record.steps.append(StepTiming(title, started, self.now() - started, False, "interrupted"))
            raise
        self.record.steps.append(StepTiming(title, started, self.now() - started, True, handle.note))
        if handle.note:
            self.narrator.ok(handle.note)

    def check(self, ok: bool, text: str, failure: str = "") -> None:
        """Record an expected outcome; OutcomeError when it did not hold."""
        self.record.checks.append((ok, text if ok else (failure or text)))
        if ok:
            self.narrator.ok(text)
        else:
            self.narrator.fail(failure or text)
            raise OutcomeError(failure or f"expected: {text}")

    def push(self, callback: Callable[[], Awaitable[Any]]) -> None:
        """Run ``callback`` when the run ends (last pushed, first run)."""
        assert self._stack is not None, "push() only inside execute()"
        self._stack.push_async_callback(callback)

    # -- cluster, API, watches, traffic -----------------------------------------------------------

    @property
    def watch(self) -> Observer:
        assert self.observer is not None, "the Rollout is not being watched yet"
        return self.observer

    @property
    def client(self) -> ApiClient:
        assert self.api is not None, "no API client yet"
        return self.api

    async def connect(self) -> ApiClient:
        """An API client for the rest of the run (the same one when called again)."""
        if self.api is not None:
            return self.api
        assert self._stack is not None and self.target.config is not None
        self.api = await self._stack.enter_async_context(ApiClient(self.target.config, timeout=30))
        self.record.cluster = self.target.describe()
        return self.api

    async def watch_rollout(
        self, namespace: str = NAMESPACE, name: str = ROLLOUT, selector: str = SELECTOR
    ) -> Observer:
        """Start the informers on the Rollout (and its ReplicaSets, Pods, AnalysisRuns)."""
        assert self._stack is not None
        observer = Observer(
            self.client, namespace, name, selector=selector, clock=self.now, on_marker=self._on_rollout_marker
        )
        self.observer = await self._stack.enter_async_context(observer)
        self._stack.callback(self._capture_tree)
        return self.observer

    def _capture_tree(self) -> None:
        if self.observer is not None:
            with contextlib.suppress(OutcomeError):
                self.record.final_tree = self.observer.tree()

    async def send_traffic(
        self,
        service: str = f"{NAMESPACE}/{SERVICE}",
        *,
        ingress: str | None = None,
        rps: float | None = None,
    ) -> Traffic:
        """Start the demo's load test through ``service`` — or through ``ingress`` (``NS/NAME``: its
        address, with its rule's ``Host``) — at ``rps`` (default ``--rps``); it runs until the run ends."""
        assert self._stack is not None and self.target.config is not None
        headers: dict[str, str] = {}
        try:
            if ingress is not None:
                url, headers = await resolve_ingress(self.target.config, ingress, path="/color")
                self.load_test_hint = f"rollouts load-test --ingress {ingress}"
            else:
                url = await resolve_service(self.target.config, service, path="/color")
                self.load_test_hint = f"just load-test {service}"
        except TargetError as e:
            raise OutcomeError(f"cannot send traffic: {e}") from e
        test = LoadTest(
            url,
            rps=rps or self.options.rps,
            duration=LOAD_TEST_SECONDS,
            concurrency=20,
            request_timeout=5.0,
            give_up_if_unreachable=False,
            headers=headers,
        )
        self.load_offset = self.now()
        self.traffic = Traffic(test, time.monotonic())
        task = asyncio.create_task(test.run())

        async def stop() -> None:
            test.stop()
            await asyncio.wait({task}, timeout=15)
            if not task.done():
                await stop_task(task)
            self.record.samples = traffic_samples(test.results, offset=self.load_offset)
            for r in test.results:
                if r.version and r.version not in self.record.colors:
                    self.record.colors[r.version] = r.color

        self._stack.push_async_callback(stop)
        return self.traffic

    async def show_live(self) -> None:
        """The tree and the traffic split until the run ends."""
        assert self._stack is not None and self.observer is not None
        in_place = self.options.live if self.options.live is not None else self.console.is_terminal
        view = LiveView(
            self.console,
            self.observer,
            self.traffic,
            in_place=bool(in_place),
            side=self.side,
            say=self.narrator.info,
        )
        task = asyncio.create_task(view.run())
        self._stack.push_async_callback(stop_task, task)

    def window(self, since: float, until: float | None = None) -> Window:
        """The demo's traffic between two run times (until now by default)."""
        assert self.traffic is not None, "no traffic is being sent"
        return window(
            list(self.traffic.test.results),
            offset=self.load_offset,
            since=since,
            until=self.now() if until is None else until,
        )

    async def wait_traffic(self, seconds: float) -> None:
        """Let ``seconds`` of traffic pass (the load test keeps sending meanwhile)."""
        await asyncio.sleep(seconds)

    def show_tree(self) -> None:
        """Print the tree now, unless the live view draws it in place."""
        in_place = self.options.live if self.options.live is not None else self.console.is_terminal
        if self.observer is not None and not in_place and self.options.narration:
            with contextlib.suppress(OutcomeError):
                self.narrator.block(self.observer.tree())

    # -- rollout operations (what `rollouts ...` sends) -------------------------------------------

    async def operation(self, name: str, *args: Any, **kwargs: Any) -> operations.Result:
        """One of controller.cli.operations (promote, abort, retry, undo, set_image) on the Rollout
        being watched (the seed's frontend before any is)."""
        namespace, rollout = (
            (self.observer.namespace, self.observer.name) if self.observer else (NAMESPACE, ROLLOUT)
        )
        try:
            result: operations.Result = await operations.OPERATIONS[name](
                self.client, namespace, rollout, *args, **kwargs
            )
        except KubeError as e:
            raise OutcomeError(f"`rollouts {name.replace('_', ' ')}` failed: {e}") from e
        return result

    # -- the run ----------------------------------------------------------------------------------

    async def execute(self) -> bool:
        """Run the scenario, tear down, print the summary, write the report; whether it passed."""
        self.narrator.title(self.spec.name, self.spec.title, self.spec.description)
        failure = ""
        try:
            async with AsyncExitStack() as stack:
                self._stack = stack
                stack.push_async_callback(self._teardown)
                await self.spec.main(self)
        except OutcomeError as e:
            failure = str(e)
        except (KubeError, OSError) as e:
            failure = f"{type(e).__name__}: {e}"
        except (KeyboardInterrupt, asyncio.CancelledError):
            failure = INTERRUPTED
        except Exception as e:  # a bug: say so, keep the traceback in the log, still report
            failure = f"unexpected error: {type(e).__name__}: {e} (traceback in {self.target.log})"
            with self.target.log.open("a", encoding="utf-8") as log:
                traceback.print_exc(file=log)
        self.record.passed = not failure
        self.record.failure = failure
        self.record.duration = self.now()
        self.record.markers = sorted(self.markers, key=lambda m: m.at)
        self.narrator.summary(
            self.spec.name,
            self.record.passed,
            self.record.duration,
            self.record.steps,
            self.record.checks,
            failure,
        )
        if self.options.report is not None:
            self.options.report.write_text(render_report(self.record), encoding="utf-8")
            self.narrator.info(f"report: {self.options.report}")
        return self.record.passed

    async def _teardown(self) -> None:
        """Stop what the demo started, unless --keep; say how to explore when kept."""
        if self.options.keep:
            self._say_kept()
            return
        if self.target.started_prometheus:
            await self.target.stop_prometheus()
            self.narrator.info("stopped the Prometheus the demo started")
        if self.target.started_cluster:
            await self.target.stop_localcluster()
            self.narrator.info("stopped localcluster (its state is kept; --keep leaves it running)")

    def _say_kept(self) -> None:
        if not self.options.narration:
            return
        commands = []
        if self.target.kubeconfig is not None:
            commands.append(f"export KUBECONFIG={self.target.kubeconfig}")
        namespace, name = (
            (self.observer.namespace, self.observer.name) if self.observer else (NAMESPACE, ROLLOUT)
        )
        load_test = (
            self.load_test_hint or f"just load-test {namespace}/{SERVICE if namespace == NAMESPACE else name}"
        )
        commands += [
            f"just rollout-watch {name} {namespace}    # the tree, live",
            f"{load_test}    # traffic and its split",
            f"just rollout-history {name} {namespace}",
        ]
        if self.target.started_cluster:
            commands.append("just cluster-down    # when done")
        self.narrator.commands("Left running (--keep). To explore:", commands)


def now_utc() -> datetime:
    return datetime.now(UTC)
