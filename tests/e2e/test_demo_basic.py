"""The basic scenario end to end, as `./dev demo` runs it (with a 5 s pause): localcluster, the
install playbook, the demo app and its migration, then 50% -> pause -> 100% on its own; the
report, rendered by Chromium, shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.demo import Demo, check_common_report, marker_labels, rendered

pytestmark = pytest.mark.slow


def test_basic_goes_50_pause_100_on_its_own_and_reports_it(demo: Demo, tmp_path: Path) -> None:
    demo.run("basic")
    demo.assert_passed("basic")
    out = demo.output
    # set up the way a user would, and narrated
    for line in (
        "Start localcluster",
        "Install the Rollouts controller (playbooks/install.yml)",
        "playbooks/demo.yml playbooks/migrate.yml",
        "play: Migrate Deployments to Rollouts",
        "rollouts set image tracing-demo-frontend frontend=argoproj/rollouts-demo:green -n services",
    ):
        assert line in out, line
    # the tree and the traffic split were shown while it ran
    assert "⟳ tracing-demo-frontend" in out and "॥ Paused" in out and "canary" in out
    assert "traffic (last 5s): " in out
    # the outcome: about half/half during the pause, all green after, Healthy
    assert "✔ at 50% both versions answer: " in out
    assert "✔ all traffic on green: green 100%" in out
    assert "Healthy on green" in out
    # a summary with each step's timing
    summary = out[out.index("Summary: basic passed") :]
    for step in ("Start localcluster", "Step 1, setWeight 50", "Step 2, pause 5s", "Step 3, setWeight 100"):
        assert step in summary, step
    # without --keep, the cluster it started is stopped again
    assert not demo.cluster_running()

    dom = rendered(demo.report, tmp_path)
    svg = check_common_report(dom, "basic", ["blue", "green"])
    assert "step 1/3: setWeight 50" in marker_labels(svg, "step")
    assert marker_labels(svg, "pause") == ["paused"]
    assert marker_labels(svg, "resume") == ["resumed"]
    assert "Healthy" in marker_labels(svg, "phase")
    assert marker_labels(svg, "update") == ["update to green"]
    assert "Healthy" in dom.one("pre", id="final-tree").text()
