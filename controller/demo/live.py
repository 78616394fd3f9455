"""The live view while a scenario runs: the Rollout's tree and the traffic split, side by side
with the git log in the gitops scenario.

On a terminal it redraws in place (rich's Live) whenever the Rollout, its ReplicaSets or
Pods change, and at least twice a second for the traffic. Elsewhere (a log, CI) it prints a
line whenever the Rollout's state changes, and the traffic split every five seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from controller.cli import render as tree_render
from controller.demo.observe import Observer, OutcomeError
from controller.loadtest import LoadTest, Summary, summarize
from controller.loadtest.view import render as traffic_render

#: seconds of traffic the live split is computed over
TRAFFIC_WINDOW = 5.0
#: seconds between two traffic lines when not drawing in place
TRAFFIC_EVERY = 5.0


class Traffic:
    """The demo's load test and the clock offset of its results."""

    def __init__(self, test: LoadTest, started: float) -> None:
        self.test = test
        #: monotonic time the test started
        self.started = started

    def recent(self, seconds: float = TRAFFIC_WINDOW) -> Summary:
        """The summary of the requests started in the last ``seconds``."""
        elapsed = time.monotonic() - self.started
        since = max(0.0, elapsed - seconds)
        results = [r for r in list(self.test.results) if r.started >= since]
        return summarize(
            results,
            target=self.test.target,
            elapsed=min(elapsed, seconds),
            target_rps=self.test.rps,
            duration=seconds,
        )

    def line(self) -> str:
        summary = self.recent()
        shares = ", ".join(f"{v.version} {v.percent:.0f}%" for v in summary.versions) or "no answers"
        return f"traffic (last {TRAFFIC_WINDOW:g}s): {shares}; errors {summary.error_percent:.0f}% of {summary.requests}"


class LiveView:
    """Draws until cancelled."""

    def __init__(
        self,
        console: Console,
        observer: Observer,
        traffic: Traffic | None,
        *,
        in_place: bool,
        side: Callable[[], str] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.console = console
        self.observer = observer
        self.traffic = traffic
        self.in_place = in_place
        self.side = side
        self.say = say or (lambda text: console.print(text, markup=False, highlight=False))

    def renderable(self) -> RenderableType:
        try:
            tree: RenderableType = tree_render.styled(self.observer.tree_lines())
        except OutcomeError as e:
            tree = Text(str(e), style="dim")
        body: RenderableType = tree
        if self.side is not None:
            grid = Table.grid(padding=(0, 4))
            grid.add_column()
            grid.add_column()
            grid.add_row(tree, Text(self.side()))
            body = grid
        parts: list[RenderableType] = [body]
        if self.traffic is not None:
            parts.append(traffic_render(self.traffic.recent()))
        return Group(*parts)

    async def run(self) -> None:
        if self.in_place:
            with Live(self.renderable(), console=self.console, auto_refresh=False, transient=True) as live:
                while True:
                    await self.observer.changed(0.5)
                    live.update(self.renderable(), refresh=True)
                    await asyncio.sleep(0.2)
        shown = ""
        next_traffic = time.monotonic() + TRAFFIC_EVERY
        while True:
            state = self.observer.describe()
            if state != shown:
                shown = state
                self.say(f"Rollout: {state}")
            if self.traffic is not None and time.monotonic() >= next_traffic:
                next_traffic = time.monotonic() + TRAFFIC_EVERY
                self.say(self.traffic.line())
            await self.observer.changed(1.0)
