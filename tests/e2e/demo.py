"""Running the demo as a user does (``python -m controller.demo``, what ``invoke demo`` runs), and
reading its report the way a person sees it: rendered by headless Chromium.

Every run gets its own localcluster state directory (a fresh one: any free port) and work
directory under the test's tmp_path; whatever it leaves running is stopped by PID afterwards
(``localcluster down`` stops the cluster, its Prometheus and, with the cluster, its pods).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
#: the most one scenario may take end to end in CI (they take 40-100 s on 2 cores)
SCENARIO_TIMEOUT = 300.0


@dataclass
class Demo:
    """One demo's directories, and how it ended."""

    root: Path
    code: int | None = None
    output: str = ""

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    def argv(self, scenario: str, *extra: str, pause: str = "5s") -> list[str]:
        return [
            sys.executable,
            "-m",
            "controller.demo",
            scenario,
            "--pause",
            pause,
            "--no-live",
            "--state-dir",
            str(self.state_dir),
            "--work-dir",
            str(self.work_dir),
            "--report",
            str(self.report),
            *extra,
        ]

    def start(self, scenario: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        log = open(self.root / f"{scenario}.out", "w", encoding="utf-8")  # noqa: SIM115 - closed by finish()
        return subprocess.Popen(
            self.argv(scenario, *extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def finish(self, proc: subprocess.Popen[str], scenario: str, within: float = SCENARIO_TIMEOUT) -> Demo:
        """Wait for the demo; on timeout stop it as Ctrl-C would (SIGTERM), then fail."""
        try:
            proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            self.output = (self.root / f"{scenario}.out").read_text()
            pytest.fail(f"the {scenario} demo did not finish within {within:g}s:\n{self.output[-6000:]}")
        self.code = proc.returncode
        self.output = (self.root / f"{scenario}.out").read_text()
        return self

    def run(self, scenario: str, *extra: str, env: dict[str, str] | None = None) -> Demo:
        return self.finish(self.start(scenario, *extra, env=env), scenario)

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.root / 'kube-cache'}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def cluster_running(self) -> bool:
        status = subprocess.run(
            [
                sys.executable,
                "-m",
                "localcluster",
                "status",
                "-o",
                "json",
                "--state-dir",
                str(self.state_dir),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return bool(json.loads(status.stdout or "{}").get("running"))

    def stop(self) -> None:
        """Stop by PID whatever this demo left running (cluster, Prometheus, pods)."""
        if self.state_dir.exists():
            subprocess.run(
                [sys.executable, "-m", "localcluster", "down", "--state-dir", str(self.state_dir)],
                capture_output=True,
                timeout=60,
                check=False,
            )

    def assert_passed(self, scenario: str) -> None:
        assert self.code == 0, f"the {scenario} demo exited {self.code}:\n{self.output[-8000:]}"
        assert f"Summary: {scenario} passed" in self.output, self.output[-4000:]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    d = Demo(tmp_path)
    try:
        yield d
    finally:
        d.stop()


# -- the report, as Chromium renders it -------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    parts: list[Any] = field(default_factory=list)

    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text() for p in self.parts)

    def find_all(self, tag: str | None = None, *, cls: str | None = None, **attrs: str) -> list[Element]:
        found = []
        for child in self.children:
            ok = (tag is None or child.tag == tag) and all(
                child.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()
            )
            if ok and cls is not None:
                ok = cls in child.attrs.get("class", "").split()
            if ok:
                found.append(child)
            found.extend(child.find_all(tag, cls=cls, **attrs))
        return found

    def one(self, tag: str | None = None, *, cls: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, cls=cls, **attrs)
        assert len(found) == 1, f"expected one <{tag} {cls or ''} {attrs}>, found {len(found)}"
        return found[0]


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse_html(text: str) -> Element:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root


def rendered(report: Path, tmp: Path) -> Element:
    """The report's DOM after Chromium has loaded it and run its script (``--dump-dom``)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(
            "Chromium is not installed: `apt-get install -y chromium` (the report tests render the page)"
        )
    profile = tmp / f"chromium-profile-{time.monotonic_ns()}"
    proc = subprocess.run(
        [
            CHROMIUM if Path(CHROMIUM).exists() else "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            f"--user-data-dir={profile}",
            "--dump-dom",
            report.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and "<html" in proc.stdout, (
        f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    )
    return parse_html(proc.stdout)


def check_common_report(dom: Element, scenario: str, versions: list[str]) -> Element:
    """What every report shows: the outcome, the chart with each version's area, the error line,
    the legend, the steps and the checks. Returns the chart's <svg>."""
    body = dom.one("body")
    assert body.attrs["data-scenario"] == scenario
    assert body.attrs["data-outcome"] == "passed"
    assert body.attrs.get("data-chart") == "drawn", "the report's script did not run"
    assert dom.one(id="outcome-badge").text().startswith("passed in ")
    svg = dom.one("svg", id="traffic-chart")
    drawn = {p.attrs["data-version"] for p in svg.find_all("path", cls="share")}
    assert set(versions) <= drawn, (versions, drawn)
    error_line = svg.one("polyline", cls="error-rate")
    assert len(error_line.attrs["points"].split()) >= 5  # one point per second of traffic
    legend = {li.attrs["data-version"]: li.text() for li in dom.one("ul", id="legend").find_all("li")}
    for v in versions:
        assert v in legend and "requests" in legend[v], legend
    steps = dom.one("table", id="step-table").find_all("tr", cls="step")
    assert steps and all("done" in s.attrs["class"].split() for s in steps), [s.text() for s in steps]
    checks = dom.one("ul", id="checks").find_all("li", cls="check")
    assert checks and all("ok" in c.attrs["class"].split() for c in checks)
    return svg


def marker_labels(svg: Element, kind: str) -> list[str]:
    return [g.one("text").text() for g in svg.find_all("g", cls="marker", data_kind=kind)]


def error_peak(svg: Element) -> float:
    """The highest error rate the chart's red line reaches, in percent (from its y coordinates)."""
    grid = [t for t in svg.find_all("text") if t.text() in ("0%", "100%")]
    y = {t.text(): float(t.attrs["y"]) - 4 for t in grid}
    zero, hundred = y["0%"], y["100%"]
    points = [float(p.split(",")[1]) for p in svg.one("polyline", cls="error-rate").attrs["points"].split()]
    return max(100.0 * (zero - py) / (zero - hundred) for py in points)
