"""The bluegreen scenario: the new version runs at full size behind the preview Service while
production (the active Service) stays on the old one; a promotion switches every request at once
with no error, and the old pods go after scaleDownDelaySeconds. The report shows the preview, the
switch and the scale-down."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.demo import Demo, check_common_report, marker_labels, rendered

pytestmark = pytest.mark.slow


def test_bluegreen_previews_then_switches_everything_at_once(demo: Demo, tmp_path: Path) -> None:
    demo.run("bluegreen")
    demo.assert_passed("bluegreen")
    out = demo.output
    assert "kubectl apply -f " in out and "bluegreen.yaml" in out
    assert "rollouts set image frontend frontend=argoproj/rollouts-demo:green -n bluegreen" in out
    # the preview: the new version behind frontend-preview, production untouched
    assert "॥ Paused" in out and "preview" in out and "stable,active" in out
    assert re.search(r"✔ frontend-active selects blue \(revision \w+\), frontend-preview selects green", out)
    assert "✔ the preview serves green: green 100% (" in out
    assert "✔ production stayed on blue since the release: blue 100% (" in out
    # the promotion, as a user sends it, and a switch of all traffic at once with no error
    assert "just rollout-promote frontend bluegreen" in out
    assert "✔ blue keeps its 2 pods after the switch, for scaleDownDelaySeconds (5s)" in out
    switch = re.search(
        r"✔ the switch moved all production traffic at once: .* both answered for ([0-9.]+)s; "
        r"errors 0 of (\d+) requests",
        out,
    )
    assert switch is not None, out[-4000:]
    assert float(switch.group(1)) <= 1.0 and int(switch.group(2)) >= 20
    # the old pods go after the delay (recorded to the second by the controller: up to 1 s short)
    gone = re.search(r"✔ blue scaled down ([0-9.]+)s after the switch \(scaleDownDelaySeconds 5\)", out)
    assert gone is not None and 3.5 <= float(gone.group(1)) <= 15.0, out[-4000:]
    assert "✔ all traffic on green: green 100%" in out
    assert not demo.cluster_running()

    dom = rendered(demo.report, tmp_path)
    svg = check_common_report(dom, "bluegreen", ["blue", "green"])
    assert marker_labels(svg, "preview") == ["preview → green"]
    assert marker_labels(svg, "pause") == ["paused"]
    assert marker_labels(svg, "promote") == ["promoted"]
    assert marker_labels(svg, "switch") == ["active → green"]
    assert marker_labels(svg, "scaledown") == ["blue scaled down"]
    assert "Healthy" in marker_labels(svg, "phase")
    # second by second, production never failed a request and was split only in the second of the switch
    data = json.loads(dom.one("script", id="run-data").text())
    samples = [s for s in data["samples"] if s["versions"]]
    assert sum(s["errors"] + s["unanswered"] for s in data["samples"]) == 0
    mixed = [s for s in samples if len(s["versions"]) > 1]
    assert len(mixed) <= 2, mixed
    order = [next(iter(s["versions"])) for s in samples if len(s["versions"]) == 1]
    assert order == sorted(order, key=["blue", "green"].index), order  # blue, then only green
    final = dom.one("pre", id="final-tree").text()
    assert "stable,active" in final and "ScaledDown" in final
