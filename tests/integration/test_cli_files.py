"""``rollouts lint``, ``plan``, ``version``, ``--help`` and shell completion, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ROLLOUTS = str(BIN / "rollouts")
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demos" / "canary" / "rollout.yaml"


def rollouts(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROLLOUTS, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


def test_lint_a_good_file_and_a_bad_one(tmp_path: Path) -> None:
    good = rollouts("lint", "-f", str(DEMO))
    assert good.returncode == 0, good.stderr
    assert good.stdout == f"{DEMO}: no problems found (1 Namespace, 1 Service, 1 Rollout)\n"

    bad = tmp_path / "bad.yaml"
    text = DEMO.read_text().replace("setWeight: 50", "setWeight: 150")
    bad.write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "setWeight: 150" in t)
    result = rollouts("lint", "-f", str(bad))
    assert result.returncode == 1
    assert result.stdout == (
        f'{bad}:{line}: Rollout "frontend": spec.strategy.canary.steps[0].setWeight: '
        "Invalid value: 150: SetWeight needs to be between 0 and 100\n"
    )
    assert result.stderr == f"{bad}: 1 problem\n"
    as_json = json.loads(rollouts("lint", "-f", str(bad), "-o", "json").stdout)
    assert {p["field"] for p in as_json} >= {"spec.strategy.canary.steps[0].setWeight"}

    piped = rollouts(
        "lint", "-f", "-", stdin="kind: Rollout\napiVersion: argoproj.io/v1alpha1\nspec: {replicas: x}\n"
    )
    assert piped.returncode == 1
    assert piped.stdout.splitlines()[0].startswith("<stdin>:")

    missing = rollouts("lint", "-f", str(tmp_path / "nope.yaml"))
    assert (missing.returncode, missing.stderr) == (1, f"rollouts: {tmp_path / 'nope.yaml'}: no such file\n")


def test_plan_of_the_demo_rollout() -> None:
    result = rollouts("plan", "-f", str(DEMO), "--replicas", "10")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == 'Rollout "frontend": 10 replicas, canary without traffic routing (traffic follows ready pods)'
    )
    # 50% of 10 = 5 exactly; the pause is 30 seconds; setWeight 100 is the whole new revision
    assert lines[3].split() == ["1/3", "setWeight:", "50", "50", "5", "5", "50%", "-", "0s"]
    assert lines[4].split() == ["2/3", "pause:", "30s", "50", "5", "5", "50%", "30s", "0s"]
    assert lines[5].split() == ["3/3", "setWeight:", "100", "100", "0", "10", "100%", "-", "30s"]
    assert lines[6].split() == ["done", "promoted", "100", "0", "10", "100%", "-", "30s"]
    assert lines[8].startswith("Expected total time: 30s, plus pod start-up in ")
    data = json.loads(rollouts("plan", "-f", str(DEMO), "-o", "json").stdout)
    assert [(s["stablePods"], s["canaryPods"]) for s in data["steps"]] == [(1, 1), (1, 1), (0, 2)]


def test_plan_of_something_it_cannot_plan(tmp_path: Path) -> None:
    file = tmp_path / "svc.yaml"
    file.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")
    result = rollouts("plan", "-f", str(file))
    assert (result.returncode, result.stderr) == (1, f"rollouts: {file}: no Rollout in this file\n")


def test_version_and_help() -> None:
    assert rollouts("version").stdout.startswith("rollouts: v")
    assert rollouts("version", "--short").stdout.startswith("v")
    assert json.loads(rollouts("version", "-o", "json").stdout)["rollouts"].startswith("v")
    top = rollouts("--help").stdout
    for verb in ("get", "list", "status", "promote", "abort", "retry", "pause", "restart", "undo", "set",
                 "history", "lint", "plan", "version", "cluster", "controller", "load-test", "prometheus"):  # fmt: skip
        assert f"\n    {verb} " in top, verb
    assert "examples:" in rollouts("promote", "--help").stdout


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts(shell: str) -> None:
    script = rollouts("completion", shell)
    assert script.returncode == 0, script.stderr
    assert "rollouts" in script.stdout and "kubectl-rollouts" in script.stdout
    if shell == "bash":
        assert "complete " in script.stdout
        check = subprocess.run(
            ["bash", "-n"], input=script.stdout, capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stderr


def complete(line: str, tmp_path: Path) -> list[str]:
    """What the shell would be offered for ``line`` (argcomplete's protocol, as the script drives it)."""
    out = tmp_path / "completions"
    env = {
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "_ARGCOMPLETE_IFS": "\n",
    }
    result = rollouts(env=env)
    assert result.returncode == 0, result.stderr
    return sorted(out.read_text().split())


def test_completion_of_verbs_and_flags(tmp_path: Path) -> None:
    assert complete("rollouts pro", tmp_path) == ["prometheus", "promote"]
    assert {"ro", "rollout", "rollouts"} <= set(complete("rollouts get ", tmp_path))
    assert "--full" in complete("rollouts promote --f", tmp_path)
