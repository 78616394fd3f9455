"""The gitops scenario: a local Git repository and ansible-pull as the sync loop, server-side apply
leaving the controller's fields alone; commit 1 the Deployment, commit 2 the Rollout, commit 3 a
new image (a canary), and a revert that rolls it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.demo import Demo, check_common_report, marker_labels, rendered

pytestmark = pytest.mark.slow


def test_gitops_migrates_releases_and_reverts_through_git(demo: Demo, tmp_path: Path) -> None:
    demo.run("gitops")
    demo.assert_passed("gitops")
    out = demo.output
    assert "ansible-pull -U file://" in out
    assert "✔ the Deployment is at 0 and its spec.replicas belongs to" in out
    assert "✔ no request failed during the migration" in out
    assert "✔ at 50% both versions answer" in out
    assert "✔ all traffic on blue: blue 100%" in out
    # the git log is shown beside the rollout, the synced commit marked
    assert "git log" in out and "← synced" in out and 'Revert "Release green"' in out

    dom = rendered(demo.report, tmp_path)
    svg = check_common_report(dom, "gitops", ["blue", "green"])
    syncs = marker_labels(svg, "sync")
    assert len(syncs) == 4 and all(s.startswith("synced ") for s in syncs), syncs
    log = dom.one("pre", id="git-log").text().splitlines()
    assert len(log) == 4
    assert 'Revert "Release green"' in log[0] and "Deploy the frontend as a Deployment" in log[-1]
    assert "Healthy" in marker_labels(svg, "phase")
