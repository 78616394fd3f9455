"""The abort scenario: a bad- release is aborted during its pause, traffic is back on stable within
seconds, the Rollout is Degraded with the reason, and the fixed version then completes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.demo import Demo, check_common_report, error_peak, marker_labels, rendered

pytestmark = pytest.mark.slow


def test_abort_rolls_back_within_seconds_then_the_fix_goes_out(demo: Demo, tmp_path: Path) -> None:
    demo.run("abort")
    demo.assert_passed("abort")
    out = demo.output
    assert "✔ bad-green fails " in out
    assert "✔ phase Degraded with the reason: RolloutAborted: Rollout aborted update to revision 2" in out
    back = re.search(r"✔ traffic back on blue ([0-9.]+)s after the abort", out)
    assert back is not None and float(back.group(1)) <= 10.0, out[-3000:]
    assert "✔ all traffic on blue: blue 100%" in out
    assert "rollouts retry rollout tracing-demo-frontend" in out  # the alternative is explained
    assert "✔ all traffic on green: green 100%" in out

    dom = rendered(demo.report, tmp_path)
    svg = check_common_report(dom, "abort", ["blue", "bad-green", "green"])
    assert marker_labels(svg, "abort") == ["aborted"]
    assert {"Degraded", "Healthy"} <= set(marker_labels(svg, "phase"))
    # the red line shows the errors of the bad canary (85% of its share of the requests)
    assert error_peak(svg) >= 10.0
    rows = dom.one("table", id="marker-table").find_all("tr", cls="marker-row", data_kind="phase")
    assert any("RolloutAborted" in r.text() for r in rows)
