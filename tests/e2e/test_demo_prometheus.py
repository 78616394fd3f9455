"""The prometheus scenario with the real Prometheus: a good version passes its analysis and is
promoted; a bad- one fails it and is rolled back with no human action; the measurements are
shown (in the output and in the report)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.demo import Demo, check_common_report, marker_labels, rendered

pytestmark = pytest.mark.slow


def test_prometheus_analysis_promotes_good_and_rolls_back_bad(demo: Demo, tmp_path: Path) -> None:
    demo.run("prometheus")
    demo.assert_passed("prometheus")
    out = demo.output
    assert "Prometheus started at http://127.0.0.1:" in out
    assert "✔ the analysis of green passed: [1] Successful" in out
    assert "✔ the analysis of bad-yellow failed: [0." in out
    assert 'Metric "success-rate" assessed Failed' in out
    assert "measurement " in out and "success rate [1] → Successful" in out
    assert not demo.cluster_running()  # and its Prometheus stopped with it

    dom = rendered(demo.report, tmp_path)
    svg = check_common_report(dom, "prometheus", ["blue", "green", "bad-yellow"])
    analysis = marker_labels(svg, "analysis")
    assert "analysis Successful" in analysis and "analysis Failed" in analysis
    assert marker_labels(svg, "abort") == ["aborted"]
    rows = dom.one("table", id="measurement-table").find_all("tr", cls="measurement")
    phases = [r.attrs["class"].split()[1] for r in rows]
    assert phases.count("Successful") >= 3 and "Failed" in phases
    failed = [r for r in rows if "Failed" in r.attrs["class"].split()]
    value = failed[0].find_all("td")[3].text()
    assert float(value.strip("[]")) < 0.95
