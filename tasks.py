"""Invoke tasks: `invoke --list`. The Justfile and ./dev call these."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent
PY = sys.executable


def _cluster_args(state_dir: str | None) -> str:
    return f" --state-dir {state_dir}" if state_dir else ""


@task(help={"port": "port on 127.0.0.1 (default: the last one, or any free)", "state_dir": "state directory"})
def up(c: Context, port: int | None = None, state_dir: str | None = None) -> None:
    """Start localcluster in the background (idempotent)."""
    extra = f" --port {port}" if port else ""
    c.run(f"{PY} -m localcluster up{extra}{_cluster_args(state_dir)}", pty=False)


@task(help={"state_dir": "state directory"})
def down(c: Context, state_dir: str | None = None) -> None:
    """Stop localcluster; its objects are kept for the next `up`."""
    c.run(f"{PY} -m localcluster down{_cluster_args(state_dir)}")


@task(help={"state_dir": "state directory"})
def status(c: Context, state_dir: str | None = None) -> None:
    """Whether localcluster runs, where, and how many objects it holds."""
    c.run(f"{PY} -m localcluster status{_cluster_args(state_dir)}", warn=True)


@task
def lint(c: Context) -> None:
    """ruff (lint and format), mypy --strict and the import-linter contracts."""
    c.run("ruff check .")
    c.run("ruff format --check .")
    c.run("mypy")
    c.run("lint-imports")


@task(
    help={
        "k": "only tests matching this expression (pytest -k)",
        "marker": "only tests with this marker (pytest -m), e.g. slow",
        "workers": "parallel pytest workers (default: one per core)",
    }
)
def test(c: Context, k: str = "", marker: str = "", workers: str = "auto") -> None:
    """The whole suite: lint, types, import contracts, then every test (slow ones included)."""
    lint(c)
    if not shutil.which("kubectl"):
        raise Exit("kubectl is needed by the integration tests and is not on PATH (see README: Requirements)")
    args = ["-n", workers] if workers not in ("0", "") else []
    if k:
        args += ["-k", repr(k)]
    if marker:
        args += ["-m", repr(marker)]
    c.run(f"{PY} -m pytest {' '.join(args)}", pty=False)


@task(
    help={
        "scenario": "basic (the only one so far: the sample app on localcluster, then traffic through it)",
        "duration": "how long to send traffic, e.g. 10s",
    }
)
def demo(c: Context, scenario: str = "basic", duration: str = "10s") -> None:
    """Run a demo scenario on localcluster."""
    if scenario != "basic":
        raise Exit(f"unknown scenario {scenario!r}: only 'basic' exists so far")
    c.run(f"{PY} -m localcluster up")
    env = dict(os.environ)
    kubeconfig = c.run(f"{PY} -m localcluster kubeconfig --path", hide=True).stdout.strip()
    env["KUBECONFIG"] = kubeconfig
    c.run(f"{PY} demos/sample/apply.py demos/sample/app.yaml", env=env)
    c.run(
        f"{PY} -m controller.cli.main load-test --service services/frontend --duration {duration}",
        env=env,
        pty=sys.stdout.isatty(),
    )


@task(
    help={
        "service": "the Service, NAMESPACE/NAME",
        "duration": "how long, e.g. 30s, 2m",
        "rps": "requests per second",
    }
)
def load_test(c: Context, service: str = "services/frontend", duration: str = "30s", rps: int = 20) -> None:
    """Send traffic through a Service and show the share each version answers."""
    c.run(
        f"{PY} -m controller.cli.main load-test --service {service} --duration {duration} --rps {rps}",
        pty=sys.stdout.isatty(),
    )


cluster = Collection("cluster")
cluster.add_task(up)
cluster.add_task(down)
cluster.add_task(status)

ns = Collection()
ns.add_collection(cluster)
ns.add_task(lint)
ns.add_task(test)
ns.add_task(demo)
ns.add_task(load_test, name="load-test")
