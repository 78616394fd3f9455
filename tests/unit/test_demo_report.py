"""The report page, as text: self-contained, every section, escaped data (the rendered page is
checked in Chromium by tests/e2e)."""

from __future__ import annotations

import json
import re

from controller.demo.report import BROKEN, Measurement, RunRecord, StepTiming, render_report, version_colors
from controller.demo.timeline import Marker, Sample


def record() -> RunRecord:
    return RunRecord(
        scenario="abort",
        title="abort a failing release",
        command="python -m controller.demo abort --pause 5s",
        started_at="2026-01-01 00:00:00 UTC",
        cluster="localcluster (https://127.0.0.1:1)",
        passed=False,
        failure="expected </script><script>alert(1)</script>",
        duration=42.0,
        steps=[
            StepTiming("Start localcluster", 0.0, 1.5, True, "started"),
            StepTiming("Abort", 20.0, 3.0, False, "late"),
        ],
        markers=[Marker(21.0, "abort", "aborted", "RolloutAborted")],
        samples=[Sample(20.0, 1.0, {"blue": 10, "bad-green": 10}, errors=8)],
        colors={"blue": "blue", "bad-green": "green", "green": "green"},
        checks=[(True, "back on blue"), (False, "late <b>")],
        measurements=[Measurement("run-1", "success-rate", "Failed", "[0.15]", "2026-01-01T00:00:30Z")],
        git_log=["abc1234 Release green"],
        final_tree="⟳ web  Rollout  ✖ Degraded",
    )


def test_the_page_is_self_contained() -> None:
    page = render_report(record())
    assert page.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no external resource"
    assert "<link" not in page and "@import" not in page


def test_every_section_is_there_with_the_run_as_data() -> None:
    page = render_report(record())
    for anchor in (
        'id="traffic"',
        'id="marker-table"',
        'id="step-table"',
        'id="checks"',
        'id="measurement-table"',
        'id="git-log"',
        'id="final-tree"',
    ):
        assert anchor in page, anchor
    assert 'data-outcome="failed"' in page and "failed in 42s" in page
    data = re.search(r'<script type="application/json" id="run-data">(.*?)</script>', page, re.S)
    assert data is not None
    decoded = json.loads(data.group(1))
    assert decoded["samples"][0]["versions"] == {"blue": 10, "bad-green": 10}
    assert decoded["markers"] == [
        {"at": 21.0, "kind": "abort", "label": "aborted", "detail": "RolloutAborted"}
    ]


def test_data_cannot_break_out_of_the_page() -> None:
    page = render_report(record())
    assert "</script><script>alert(1)" not in page
    assert '<p class="failure">expected &lt;/script&gt;&lt;script&gt;alert(1)' in page
    assert "late &lt;b&gt;" in page
    data = re.search(r'id="run-data">(.*?)</script>', page, re.S)
    assert data is not None and "</script" not in data.group(1)


def test_versions_get_distinct_colours_a_bad_one_dark_grey() -> None:
    colours = version_colors({"blue": "blue", "bad-green": "green", "green": "green", "teal": None})
    assert colours["bad-green"] == BROKEN
    assert len(set(colours.values())) == 4
    assert (
        version_colors({"green": "green", "green2": "green"})["green"]
        != version_colors({"green": "green", "green2": "green"})["green2"]
    )
