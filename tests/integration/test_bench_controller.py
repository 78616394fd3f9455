"""bench/controller.py with tiny numbers: it runs end to end and its figures are sane (so it does not rot)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_controller_benchmark_measures_overhead_writes_and_memory(tmp_path: Path) -> None:
    out = tmp_path / "controller.json"
    tiny = ["--rollouts", "3", "--memory-at", "5", "--updates", "2", "--idle-seconds", "2"]
    proc = subprocess.run(
        [sys.executable, "bench/controller.py", *tiny, "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| step overhead, 1 Rollout, every step |" in proc.stdout
    results = json.loads(out.read_text())["results"]

    # every step of every update was measured: 2 setWeight steps, 1 pause and the promotion
    for phase, updates in (("one", 2), ("many", 3)):
        overhead = results[phase]["overhead"]
        assert overhead["unmatched"] == 0, overhead
        assert overhead["setWeight"]["count"] == 2 * updates
        assert overhead["pause"]["count"] == updates
        assert overhead["promotion"]["count"] == updates
        # a step is taken within moments of its condition, never before it
        assert 0 < overhead["all"]["p50_ms"] <= overhead["all"]["max_ms"] < 5000, overhead
        # the watch breakdown and the controller's own request counter agree on the order of writes
        writes = results[phase]["writes"]
        effective = sum(results[phase]["effective_writes"].values())
        assert 0 < effective <= writes < 3 * effective, results[phase]
        assert 1 <= results[phase]["writes_per_step"] < 20

    assert results["idle"]["writes"] == 0, results["idle"]
    for count in ("0", "4", "5"):
        assert 10 * 1024 < results["rss_kib"][count] < 500 * 1024, results["rss_kib"]
