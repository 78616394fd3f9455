"""The manual scenario: the canary waits at 50% until promoted — first by a person running
`rollouts promote` in another terminal, then (a second run on the same, kept cluster) by the
demo itself with --auto-promote-after."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.demo import SCENARIO_TIMEOUT, Demo, check_common_report, marker_labels, rendered

pytestmark = pytest.mark.slow

ROLLOUT = "tracing-demo-frontend"
PAUSED = "{.status.currentStepIndex}/{.status.pauseConditions[0].reason}"


def test_manual_waits_for_a_promotion_then_completes(demo: Demo, tmp_path: Path) -> None:
    proc = demo.start("manual", "--keep")
    deadline = time.monotonic() + SCENARIO_TIMEOUT
    paused = ""
    while time.monotonic() < deadline and proc.poll() is None:
        if demo.kubeconfig.exists():
            got = demo.kubectl("get", "ro", ROLLOUT, "-n", "services", "-o", f"jsonpath={PAUSED}")
            paused = got.stdout.strip()
            image = demo.kubectl(
                "get",
                "ro",
                ROLLOUT,
                "-n",
                "services",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            )
            if paused == "1/CanaryPauseStep" and image.stdout.endswith(":green"):
                break
        time.sleep(0.5)
    assert paused == "1/CanaryPauseStep", f"the canary never paused at 50% (saw {paused!r})"
    assert proc.poll() is None, "the demo ended instead of waiting for the promotion"
    promote = subprocess.run(
        [
            str(Path(sys.executable).parent / "rollouts"),
            "promote",
            ROLLOUT,
            "-n",
            "services",
            "--kubeconfig",
            str(demo.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert promote.returncode == 0, promote.stderr
    demo.finish(proc, "manual")
    demo.assert_passed("manual")
    assert "just rollout-promote" in demo.output
    assert "promoted by someone else" in demo.output
    assert "✔ all traffic on green: green 100%" in demo.output
    assert "Left running (--keep)" in demo.output
    assert demo.cluster_running()
    dom = rendered(demo.report, tmp_path)
    svg = check_common_report(dom, "manual", ["blue", "green"])
    assert marker_labels(svg, "promote") == ["promoted"]

    # again on the kept cluster: the setup changes nothing, the next colour goes out, the demo promotes
    again = demo.run("manual", "--auto-promote-after", "2s")
    again.assert_passed("manual")
    assert "already running at" in again.output
    assert "rollouts set image tracing-demo-frontend frontend=argoproj/rollouts-demo:yellow" in again.output
    assert "promoted by the demo (--auto-promote-after) after 2" in again.output
    assert "✔ all traffic on yellow: yellow 100%" in again.output
    # it did not start the cluster, so it leaves it running
    assert demo.cluster_running()

    # the starter (`just rollout-demo`) finds everything ready and says how to go on by hand
    starter = subprocess.run(
        [sys.executable, "-m", "controller.demo", "starter", "--state-dir", str(demo.state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert starter.returncode == 0, starter.stdout + starter.stderr
    assert "✔ the controller runs (deployment rollouts/rollouts-controller)" in starter.stdout
    assert (
        "✔ the Rollout services/tracing-demo-frontend is Healthy on argoproj/rollouts-demo:yellow"
        in starter.stdout
    )
    assert "just rollout-watch" in starter.stdout
    assert "frontend=argoproj/rollouts-demo:orange" in starter.stdout
