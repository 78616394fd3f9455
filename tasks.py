"""Invoke tasks: `invoke --list`, `invoke <task> --help`. The Justfile and ./dev call these.

Every task runs tools from this Python's environment (.venv) first, then PATH; a tool or a
cluster that is missing ends the task with one line saying what to do, not a traceback.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.runners import Result
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent
PY = sys.executable
BIN = Path(sys.executable).parent
SETUP_HINT = "run `./dev setup` (or `just setup`): it installs the project's tools into .venv"
MIGRATE_MODES = ("template", "workload-ref")
SCALE_DOWN = {"template": ("onsuccess", "never"), "workload-ref": ("progressively", "onsuccess", "never")}


def tool(name: str, hint: str = SETUP_HINT) -> str:
    """The path of a command-line tool: next to this Python first (.venv/bin), then on PATH."""
    local = BIN / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    raise Exit(f"{name} is not installed: {hint}")


def run(c: Context, command: str, what: str, **kwargs: Any) -> Result:
    """Run ``command``; a failure ends the task with one line (the tool has said why above)."""
    result = c.run(command, warn=True, **kwargs)
    if result is None:  # only with disown/asynchronous, which these tasks do not use
        raise Exit(f"{what}: no result")
    if result.failed:
        raise Exit(
            f"{what} failed (exit code {result.exited}); see its output above", code=result.exited or 1
        )
    return result


def _cluster_args(state_dir: str | None) -> str:
    return f" --state-dir {shlex.quote(state_dir)}" if state_dir else ""


def kubeconfig_given() -> bool:
    """Whether the environment names a cluster, so localcluster is not the target."""
    return any(
        os.environ.get(v) for v in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG", "K8S_AUTH_CONTEXT", "K8S_AUTH_HOST")
    )


def localcluster_running(c: Context) -> bool:
    result = c.run(f"{PY} -m localcluster status -o json", hide=True, warn=True)
    return result is not None and result.exited == 0


def require_cluster(c: Context, then: str) -> None:
    """Exit with one line when localcluster is the target and it does not run."""
    if not kubeconfig_given() and not localcluster_running(c):
        raise Exit(f"localcluster is not running: {then}")


def playbook(
    c: Context, path: str, *, extra_vars: Mapping[str, Any] | None = None, flags: Sequence[str] = ()
) -> None:
    """``ansible-playbook`` from .venv with this repository's ansible.cfg, from any directory."""
    command = [tool("ansible-playbook"), str(ROOT / path)]
    if extra_vars:
        command += ["-e", json.dumps(dict(extra_vars), separators=(",", ":"))]
    command += list(flags)
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    run(
        c,
        " ".join(shlex.quote(part) for part in command),
        f"ansible-playbook {path}",
        env=env,
        pty=sys.stdout.isatty(),
    )


def _check_flags(check: bool, diff: bool) -> list[str]:
    return (["--check"] if check else []) + (["--diff"] if diff else [])


# -- setup -----------------------------------------------------------------------------------------


@task
def setup(c: Context) -> None:
    """Install the project into this environment (.venv) when needed, then check every tool it uses."""
    modules = ("controller", "localcluster", "kubernetes", "ansible", "invoke", "pytest")
    if any(find_spec(m) is None for m in modules):
        run(c, f"{PY} -m pip install -q -e {shlex.quote(str(ROOT))}[dev]", "pip install")
    required = {
        "ansible-playbook": "Ansible, which installs the controller (pip install ansible)",
        "rollouts": "the rollouts CLI (pip install -e .)",
    }
    optional = {
        "kubectl": "kubectl 1.28+, used by the integration tests (see README: Requirements)",
        "just": "just, the menu of recipes (pip install rust-just)",
        "git": "git, for the gitops scenario",
        "prometheus": "Prometheus, for the prometheus scenario (apt-get install prometheus)",
    }
    missing = []
    for name, what in {**required, **optional}.items():
        try:
            print(f"ok       {name:17} {tool(name)}")
        except Exit:
            print(f"missing  {name:17} {what}")
            if name in required:
                missing.append(name)
    if find_spec("ansible_collections.kubernetes.core") is None:
        print("missing  kubernetes.core   the Ansible collection (it comes with the ansible package)")
        missing.append("kubernetes.core")
    if missing:
        raise Exit(f"{', '.join(missing)} missing: {SETUP_HINT}")


# -- localcluster ----------------------------------------------------------------------------------


@task(help={"port": "port on 127.0.0.1 (default: the last one, or any free)", "state_dir": "state directory"})
def up(c: Context, port: int | None = None, state_dir: str | None = None) -> None:
    """Start localcluster in the background (idempotent)."""
    extra = f" --port {port}" if port else ""
    run(c, f"{PY} -m localcluster up{extra}{_cluster_args(state_dir)}", "localcluster up", pty=False)


@task(help={"state_dir": "state directory"})
def down(c: Context, state_dir: str | None = None) -> None:
    """Stop localcluster; its objects are kept for the next `up`."""
    run(c, f"{PY} -m localcluster down{_cluster_args(state_dir)}", "localcluster down")


@task(help={"state_dir": "state directory"})
def status(c: Context, state_dir: str | None = None) -> None:
    """Whether localcluster runs, where, and how many objects it holds."""
    c.run(f"{PY} -m localcluster status{_cluster_args(state_dir)}", warn=True)


# -- Ansible ---------------------------------------------------------------------------------------


@task(
    auto_shortflags=False,
    help={
        "check": "show what would change, change nothing (ansible-playbook --check)",
        "diff": "show the differences in each object (ansible-playbook --diff)",
        "controller_only": "only the controller (playbooks/install.yml), no demo app and no migration",
        "tags": "only the tasks with these tags: localcluster, controller, demo, migrate",
    },
)
def install(
    c: Context, check: bool = False, diff: bool = False, controller_only: bool = False, tags: str = ""
) -> None:
    """Install everything with Ansible (site.yml): controller, demo app, frontend migrated to a Rollout.

    localcluster is started first when it is the target (no KUBECONFIG given). Idempotent: a
    second run changes nothing.
    """
    flags = _check_flags(check, diff) + (["--tags", tags] if tags else [])
    playbook(c, "playbooks/install.yml" if controller_only else "site.yml", flags=flags)


@task(
    auto_shortflags=False,
    help={
        "crds": "also delete the CRDs, and with them every Rollout in the cluster",
        "check": "show what would be removed, remove nothing",
    },
)
def uninstall(c: Context, crds: bool = False, check: bool = False) -> None:
    """Uninstall the controller; the CRDs stay, and so every Rollout and its pods, unless --crds."""
    require_cluster(c, "there is nothing to uninstall")
    extra = {"rollouts_controller_remove_crds": True} if crds else None
    playbook(c, "playbooks/uninstall.yml", extra_vars=extra, flags=_check_flags(check, False))


@task(
    auto_shortflags=False,
    iterable=["deployment"],
    help={
        "namespace": "the Deployments' namespace (default: services)",
        "deployment": "a Deployment to migrate (repeatable; default: the demo's tracing-demo-frontend)",
        "selector": "or every Deployment matching this label selector, e.g. app.kubernetes.io/part-of=tracing-demo",
        "mode": "template (the seed's way: the pod template moves into the Rollout) or workload-ref",
        "scale_down": "onsuccess (default), never, or with workload-ref also progressively",
        "reverse": "migrate back: give the Deployments their pods back and remove the Rollouts",
        "check": "show what would change, change nothing",
        "diff": "show the differences in each object",
    },
)
def migrate(
    c: Context,
    namespace: str = "services",
    deployment: list[str] | None = None,
    selector: str = "",
    mode: str = "template",
    scale_down: str = "",
    reverse: bool = False,
    check: bool = False,
    diff: bool = False,
) -> None:
    """Migrate Deployments to Rollouts (or back with --reverse) without dropping below their available pods."""
    if mode not in MIGRATE_MODES:
        raise Exit(f"--mode {mode}: choose template or workload-ref")
    if scale_down and scale_down not in SCALE_DOWN[mode]:
        raise Exit(
            f"--scale-down {scale_down} does not go with --mode {mode}: choose {', '.join(SCALE_DOWN[mode])}"
        )
    require_cluster(c, "run `invoke install` first (it starts localcluster and installs the controller)")
    extra: dict[str, Any] = {
        "rollouts_migrate_state": "absent" if reverse else "present",
        "rollouts_migrate_namespace": namespace,
        "rollouts_migrate_mode": mode,
    }
    if deployment:
        extra["rollouts_migrate_deployments"] = list(deployment)
    elif selector:
        extra["rollouts_migrate_deployments"] = []
    if selector:
        extra["rollouts_migrate_selector"] = selector
    if scale_down:
        extra["rollouts_migrate_scale_down"] = scale_down
    playbook(c, "playbooks/migrate.yml", extra_vars=extra, flags=_check_flags(check, diff))


# -- demos, traffic, tests, benchmarks -------------------------------------------------------------


@task(
    auto_shortflags=False,
    help={
        "scenario": "basic (default), manual, abort, prometheus, gitops, bluegreen, weighted (docs/demos.md), or starter",
        "pause": "the canary's pause, its observation window: 5s, 30s, 2m (default: the seed's 2m)",
        "context": "localcluster (default: started by the demo) or a context of your kubeconfig",
        "no_narration": "print only the steps, results and summary",
        "keep": "leave everything running at the end, to explore",
        "report": "write a self-contained HTML page of the run to this file",
        "auto_promote_after": "manual: promote by itself after this long instead of waiting for you",
        "state_dir": "localcluster's state directory",
    },
)
def demo(
    c: Context,
    scenario: str = "basic",
    pause: str = "2m",
    context: str = "localcluster",
    no_narration: bool = False,
    keep: bool = False,
    report: str = "",
    auto_promote_after: str = "",
    state_dir: str = "",
) -> None:
    """Run a demo scenario end to end: set up as a user would, release, narrate, check the outcome."""
    args = [scenario, "--pause", pause, "--context", context]
    args += ["--no-narration"] if no_narration else []
    args += ["--keep"] if keep else []
    args += ["--report", report] if report else []
    args += ["--auto-promote-after", auto_promote_after] if auto_promote_after else []
    args += ["--state-dir", state_dir] if state_dir else []
    result = c.run(f"{PY} -m controller.demo {shlex.join(args)}", warn=True, pty=sys.stdout.isatty())
    if result is not None and result.failed:
        raise Exit(code=result.exited)  # the demo has printed its summary or its one-line reason


@task(
    help={
        "service": "the Service, NAMESPACE/NAME (default: the demo app's frontend)",
        "duration": "how long, e.g. 30s, 2m",
        "rps": "requests per second",
    }
)
def load_test(
    c: Context, service: str = "services/frontend-service", duration: str = "30s", rps: int = 20
) -> None:
    """Send traffic through a Service and show the share each version answers."""
    require_cluster(
        c, "start it with `invoke cluster.up` (or `just cluster-up`), or point KUBECONFIG at a cluster"
    )
    result = c.run(
        f"{PY} -m controller.cli.main load-test --service {shlex.quote(service)} --duration {shlex.quote(duration)}"
        f" --rps {rps}",
        warn=True,
        pty=sys.stdout.isatty(),
    )
    if result is not None and result.failed:
        raise Exit(code=result.exited)  # the load test has printed its one-line reason


@task
def lint(c: Context) -> None:
    """ruff (lint and format), mypy --strict and the import-linter contracts."""
    run(c, f"{tool('ruff')} check .", "ruff check")
    run(c, f"{tool('ruff')} format --check .", "ruff format --check")
    run(c, tool("mypy"), "mypy")
    run(c, tool("lint-imports"), "lint-imports")


@task(
    help={
        "k": "only tests matching this expression (pytest -k)",
        "marker": "only tests with this marker (pytest -m), e.g. slow",
        "workers": "parallel pytest workers (default 4: the slow tests mostly wait on processes and "
        "the network, so 4 workers finish sooner than one per core on a 2-core machine; 0: none)",
    }
)
def test(c: Context, k: str = "", marker: str = "", workers: str = "4") -> None:
    """The whole suite: lint, types, import contracts, then every test (slow ones included)."""
    lint(c)
    if not shutil.which("kubectl"):
        raise Exit("kubectl is needed by the integration tests and is not on PATH (see README: Requirements)")
    if find_spec("pytest") is None:
        raise Exit(f"pytest is not installed: {SETUP_HINT}")
    args = ["-n", workers] if workers not in ("0", "") else []
    if k:
        args += ["-k", repr(k)]
    if marker:
        args += ["-m", repr(marker)]
    run(c, f"{PY} -m pytest {' '.join(args)}", "pytest", pty=False)


def benchmarks() -> list[str]:
    """The benchmarks in bench/ (one script each)."""
    return sorted(p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_"))


@task(help={"name": "the benchmark: a script in bench/ (controller, apiserver, cluster)"})
def bench(c: Context, name: str = "controller") -> None:
    """Run a benchmark, `python bench/NAME.py`; arguments after `--` go to it (`invoke bench -- --help`)."""
    available = benchmarks()
    if name not in available:
        raise Exit(
            f"no benchmark {name!r} in bench/: choose {', '.join(available) or 'none (bench/ is empty)'}"
        )
    remainder = getattr(c, "remainder", "") or ""
    command = f"{PY} {shlex.quote(str(ROOT / 'bench' / (name + '.py')))}" + (
        f" {remainder}" if remainder else ""
    )
    run(c, command, f"benchmark {name}", pty=False)


cluster = Collection("cluster")
cluster.add_task(up)
cluster.add_task(down)
cluster.add_task(status)

ns = Collection()
ns.add_collection(cluster)
ns.add_task(setup)
ns.add_task(install)
ns.add_task(uninstall)
ns.add_task(migrate)
ns.add_task(demo)
ns.add_task(load_test, name="load-test")
ns.add_task(lint)
ns.add_task(test)
ns.add_task(bench)
