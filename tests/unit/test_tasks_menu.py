"""The menus: `invoke --list`, `invoke TASK --help` and `just --list` work, and the recipes run what they say.

These run the real invoke and just from .venv (they read tasks.py and the Justfile), but
nothing that needs a cluster: `just -n` only prints what a recipe would run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TASKS = ["setup", "install", "uninstall", "migrate", "demo", "load-test", "test", "bench", "lint"]
CLUSTER_TASKS = ["cluster.up", "cluster.down", "cluster.status"]
SEED_RECIPES = [
    "install",
    "rollout-watch",
    "rollout-status",
    "rollout-info",
    "rollout-promote",
    "rollout-abort",
    "rollout-history",
    "rollout-demo",
    "load-test",
]
MORE_RECIPES = ["setup", "test", "demo", "cluster-up", "cluster-down", "uninstall"]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
    return proc


def test_invoke_lists_every_task_with_its_first_docstring_line() -> None:
    listed = run(str(BIN / "invoke"), "--list").stdout
    names = [line.split()[0] for line in listed.splitlines() if re.match(r"^  \S", line)]
    assert sorted(names) == sorted([*TASKS, *CLUSTER_TASKS])


@pytest.mark.parametrize("name", [*TASKS, *CLUSTER_TASKS])
def test_each_task_has_help(name: str) -> None:
    shown = run(str(BIN / "invoke"), name, "--help").stdout
    assert shown.startswith(f"Usage: inv[oke] [--core-opts] {name}"), shown
    assert "Docstring:\n  none" not in shown


def test_just_lists_the_seeds_recipes_and_ours_each_with_a_comment() -> None:
    listed = run(str(BIN / "just"), "--list", "--unsorted").stdout
    lines = listed.splitlines()
    for recipe in [*SEED_RECIPES, *MORE_RECIPES]:
        [line] = [line for line in lines if line.strip().split(" ")[0] == recipe]
        index = lines.index(line)
        commented = "#" in line or lines[index - 1].strip().startswith("#")
        assert commented, f"recipe {recipe} has no comment in `just --list`:\n{listed}"
    assert "_venv" not in listed


def test_the_default_recipe_is_the_list() -> None:
    assert run(str(BIN / "just")).stdout == run(str(BIN / "just"), "--list", "--unsorted").stdout


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        (["rollout-status"], ".venv/bin/rollouts status tracing-demo-frontend -n services --watch=false"),
        (["rollout-watch"], ".venv/bin/rollouts get rollout tracing-demo-frontend -n services -w"),
        (["rollout-info", "web", "shop"], ".venv/bin/rollouts get rollout web -n shop"),
        (["rollout-promote", "web", "shop", "--full"], ".venv/bin/rollouts promote web -n shop --full"),
        (["rollout-abort"], ".venv/bin/rollouts abort tracing-demo-frontend -n services"),
        (["rollout-history"], ".venv/bin/rollouts history tracing-demo-frontend -n services"),
        (["load-test"], "./dev load-test --service services/frontend-service --duration 30s"),
        (["install"], "./dev install"),
        (["--yes", "uninstall", "true"], "./dev uninstall --crds"),
        (["demo", "manual"], "./dev demo --scenario manual"),
        (["demo", "abort", "--pause", "30s"], "./dev demo --scenario abort --pause 30s"),
        (["rollout-demo"], "./dev demo --scenario starter"),
    ],
)
def test_recipes_run_what_they_say(recipe: list[str], expected: str) -> None:
    shown = run(str(BIN / "just"), "--dry-run", *recipe).stderr
    assert expected in [line.rstrip() for line in shown.splitlines()], shown


def test_uninstall_asks_before_it_runs() -> None:
    proc = subprocess.run(
        [str(BIN / "just"), "uninstall"], cwd=ROOT, input="n\n", capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "Uninstall the rollouts controller from the current cluster?" in proc.stderr
    assert "was not confirmed" in proc.stderr
