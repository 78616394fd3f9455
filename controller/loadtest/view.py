"""How a load test looks in a terminal (``rich``): the live view and the final summary."""

from __future__ import annotations

from types import TracebackType

from rich.color import Color, ColorParseError
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from controller.loadtest.duration import format_duration
from controller.loadtest.summary import Summary

BAR_WIDTH = 30
DEFAULT_BAR_STYLE = "cyan"


def bar_style(color: str | None) -> str:
    """The version's own colour when rich knows it (``blue``, ``green``, ...), else cyan."""
    if color:
        try:
            Color.parse(color.lower())
        except ColorParseError:
            return DEFAULT_BAR_STYLE
        return color.lower()
    return DEFAULT_BAR_STYLE


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000.0
    return f"{ms:.1f}ms" if ms < 100 else f"{ms:.0f}ms"


def render(summary: Summary, *, final: bool = False) -> RenderableType:
    """The view of one summary: header, per-version bars, errors, latency."""
    header = Text()
    header.append("load test ", style="bold")
    header.append(summary.target, style="bold underline")
    header.append(
        f"   {format_duration(summary.elapsed)}/{format_duration(summary.duration)}"
        f"   {summary.requests} requests   {summary.rps:.1f} rps (target {summary.target_rps:g})"
    )
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("version")
    table.add_column("share", no_wrap=True)
    table.add_column("%", justify="right")
    table.add_column("requests", justify="right")
    table.add_column("errors", justify="right")
    for v in summary.versions:
        filled = round(v.percent / 100.0 * BAR_WIDTH)
        bar = Text("█" * filled, style=bar_style(v.color))
        bar.append("░" * (BAR_WIDTH - filled), style="grey30")
        failed = f"{v.errors} ({v.error_percent:.1f}%)" if v.errors else "0"
        table.add_row(v.version, bar, f"{v.percent:.1f}", str(v.requests), failed)
    if not summary.versions:
        table.add_row(Text("no answers yet", style="dim"), "", "", "", "")
    errors = Text("errors   ")
    errors.append(
        f"{summary.errors} ({summary.error_percent:.1f}%)",
        style="bold red" if summary.errors else "green",
    )
    if summary.errors_by_kind:
        errors.append("   " + ", ".join(f"{kind}: {count}" for kind, count in summary.errors_by_kind))
    latency = Text("latency  ")
    parts = [f"p50 {_ms(summary.p50)}"]
    if final:
        parts.append(f"p90 {_ms(summary.p90)}")
    parts += [f"p99 {_ms(summary.p99)}", f"max {_ms(summary.max_latency)}"]
    latency.append("   ".join(parts))
    return Group(header, table, errors, latency)


class LiveView:
    """Redraws the running summary about four times a second (``with LiveView(console) as v``)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live = Live(console=console, refresh_per_second=4, transient=True, auto_refresh=True)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.__exit__(kind, exc, tb)

    def update(self, summary: Summary) -> None:
        self._live.update(render(summary))
