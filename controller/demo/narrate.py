"""What the demo says: step headings, what is about to happen, what to look at, commands to try.

With ``--no-narration`` only the headings, results and the summary are printed. Every line
carries the run's clock (``[ 12.3s]``), so a log shows the timings too.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from controller.demo.report import StepTiming
from controller.loadtest import format_duration

WIDTH = 100


class Narrator:
    """Prints to one console (the live view draws on the same one)."""

    def __init__(self, console: Console, *, narration: bool, clock: Callable[[], float]) -> None:
        self.console = console
        self.narration = narration
        self.clock = clock

    def _stamp(self) -> str:
        return f"[dim][{self.clock():6.1f}s][/dim] "

    def _print(self, markup: str) -> None:
        self.console.print(markup, highlight=False, soft_wrap=True)

    def title(self, scenario: str, title: str, description: str) -> None:
        self._print(f"\n[bold]rollouts demo: {escape(scenario)}[/bold] — {escape(title)}")
        if self.narration and description:
            for line in textwrap.wrap(description, WIDTH):
                self._print(escape(line))

    def step(self, number: int, title: str) -> None:
        self._print(f"\n{self._stamp()}[bold cyan]▶ {number}. {escape(title)}[/bold cyan]")

    def say(self, text: str) -> None:
        """What is about to happen (narration only)."""
        if self.narration and text:
            for line in textwrap.wrap(text, WIDTH - 4):
                self._print(f"    {escape(line)}")

    def look(self, text: str) -> None:
        """What to look at (narration only)."""
        if self.narration and text:
            lines = textwrap.wrap(text, WIDTH - 12)
            for n, line in enumerate(lines):
                lead = "    [yellow]look:[/yellow] " if n == 0 else "          "
                self._print(f"{lead}{escape(line)}")

    def commands(self, intro: str, commands: Sequence[str]) -> None:
        """Commands to try in another terminal (narration only)."""
        if self.narration and commands:
            self._print(f"    {escape(intro)}")
            for command in commands:
                self._print(f"      [green]$ {escape(command)}[/green]")

    def info(self, text: str) -> None:
        """A result or a fact (always)."""
        self._print(f"{self._stamp()}  {escape(text)}")

    def ok(self, text: str) -> None:
        self._print(f"{self._stamp()}  [green]✔ {escape(text)}[/green]")

    def fail(self, text: str) -> None:
        self._print(f"{self._stamp()}  [red]✖ {escape(text)}[/red]")

    def block(self, text: str) -> None:
        """A block of plain text, as is (a tree, a table, a git log)."""
        self.console.print(text.rstrip("\n"), highlight=False, markup=False, soft_wrap=True)

    def summary(
        self,
        scenario: str,
        passed: bool,
        took: float,
        steps: Sequence[StepTiming],
        checks: Sequence[tuple[bool, str]],
        failure: str,
    ) -> None:
        verdict = "[green]passed[/green]" if passed else "[red]FAILED[/red]"
        self._print(f"\n[bold]Summary: {escape(scenario)} {verdict} in {format_duration(took)}[/bold]")
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("")
        table.add_column("step")
        table.add_column("at", justify="right")
        table.add_column("took", justify="right")
        table.add_column("note", overflow="fold")
        for s in steps:
            icon = "[green]✔[/green]" if s.ok else ("[red]✖[/red]" if s.ok is False else "[dim]-[/dim]")
            table.add_row(
                icon,
                escape(s.title),
                _clock(s.started),
                _clock(s.took),
                escape(s.note.splitlines()[0] if s.note else ""),
            )
        self.console.print(table)
        if checks:
            self._print("[bold]Checks[/bold]")
            for ok, text in checks:
                self._print(f"  {'[green]✔' if ok else '[red]✖'} {escape(text)}[/]")
        if failure:
            self._print(f"[red]{escape(failure)}[/red]")


def _clock(seconds: float) -> str:
    return format_duration(seconds) if seconds >= 1 else f"{seconds:.1f}s"
