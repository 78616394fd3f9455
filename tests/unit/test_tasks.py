"""The Invoke tasks that only compose commands, run against invoke's MockContext.

Each test checks the command a user's `invoke <task> ...` would run, or the one line it ends
with when something is missing.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit
from invoke.runners import Result

import tasks

STATUS = re.compile(r".* -m localcluster status -o json$")


@pytest.fixture(autouse=True)
def no_cluster_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """localcluster is the target unless a test says otherwise."""
    for var in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT", "K8S_AUTH_HOST"):
        monkeypatch.delenv(var, raising=False)


def context(*, cluster_running: bool = True, fail: str | None = None) -> MockContext:
    """A MockContext: localcluster's status as asked, every other command succeeding (or ``fail`` failing)."""
    results: dict[Any, Any] = {STATUS: Result(exited=0 if cluster_running else 3)}
    if fail is not None:
        results[re.compile(fail)] = Result(exited=2)
    results[re.compile(".*")] = Result(exited=0)
    return MockContext(run=results)


def commands(c: MockContext) -> list[str]:
    """The commands run, localcluster's status checks left out."""
    return [call.args[0] for call in c.run.call_args_list if not STATUS.match(call.args[0])]


def playbook_call(c: MockContext) -> tuple[list[str], dict[str, Any]]:
    """The ansible-playbook command (split) and its keyword arguments."""
    [call] = [call for call in c.run.call_args_list if "ansible-playbook" in call.args[0]]
    return shlex.split(call.args[0]), call.kwargs


def extra_vars(argv: list[str]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(argv[argv.index("-e") + 1])
    return loaded


def test_install_runs_site_yml_with_the_repositorys_ansible_cfg() -> None:
    c = context()
    tasks.install(c)
    argv, kwargs = playbook_call(c)
    assert argv == [tasks.tool("ansible-playbook"), str(tasks.ROOT / "site.yml")]
    assert kwargs["env"] == {"ANSIBLE_CONFIG": str(tasks.ROOT / "ansible.cfg")}


def test_install_passes_check_diff_and_tags() -> None:
    c = context()
    tasks.install(c, check=True, diff=True, tags="controller")
    argv, _ = playbook_call(c)
    assert argv[2:] == ["--check", "--diff", "--tags", "controller"]


def test_install_controller_only_runs_the_install_playbook() -> None:
    c = context()
    tasks.install(c, controller_only=True)
    argv, _ = playbook_call(c)
    assert argv[1] == str(tasks.ROOT / "playbooks" / "install.yml")


def test_a_failed_playbook_ends_in_one_line_with_its_exit_code() -> None:
    c = context(fail=".*ansible-playbook.*")
    with pytest.raises(Exit) as ended:
        tasks.install(c)
    assert ended.value.message == "ansible-playbook site.yml failed (exit code 2); see its output above"
    assert ended.value.code == 2


def test_migrate_defaults_to_the_demo_frontend_the_seeds_way() -> None:
    c = context()
    tasks.migrate(c)
    argv, _ = playbook_call(c)
    assert argv[1] == str(tasks.ROOT / "playbooks" / "migrate.yml")
    assert extra_vars(argv) == {
        "rollouts_migrate_state": "present",
        "rollouts_migrate_namespace": "services",
        "rollouts_migrate_mode": "template",
    }


def test_migrate_passes_deployments_mode_and_scale_down() -> None:
    c = context()
    tasks.migrate(
        c,
        namespace="shop",
        deployment=["web", "api"],
        mode="workload-ref",
        scale_down="progressively",
        diff=True,
    )
    argv, _ = playbook_call(c)
    assert extra_vars(argv) == {
        "rollouts_migrate_state": "present",
        "rollouts_migrate_namespace": "shop",
        "rollouts_migrate_mode": "workload-ref",
        "rollouts_migrate_deployments": ["web", "api"],
        "rollouts_migrate_scale_down": "progressively",
    }
    assert argv[-1] == "--diff"


def test_migrate_by_selector_replaces_the_default_names() -> None:
    c = context()
    tasks.migrate(c, selector="app.kubernetes.io/part-of=tracing-demo", reverse=True, check=True)
    argv, _ = playbook_call(c)
    variables = extra_vars(argv)
    assert variables["rollouts_migrate_state"] == "absent"
    assert variables["rollouts_migrate_deployments"] == []
    assert variables["rollouts_migrate_selector"] == "app.kubernetes.io/part-of=tracing-demo"
    assert argv[-1] == "--check"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "bluegreen"}, "--mode bluegreen: choose template or workload-ref"),
        (
            {"mode": "template", "scale_down": "progressively"},
            "--scale-down progressively does not go with --mode template: choose onsuccess, never",
        ),
    ],
)
def test_migrate_refuses_bad_options_before_running_anything(kwargs: dict[str, Any], message: str) -> None:
    c = context()
    with pytest.raises(Exit) as ended:
        tasks.migrate(c, **kwargs)
    assert ended.value.message == message
    assert c.run.call_count == 0


def test_migrate_without_a_running_cluster_says_what_to_do() -> None:
    c = context(cluster_running=False)
    with pytest.raises(Exit) as ended:
        tasks.migrate(c)
    assert ended.value.message == (
        "localcluster is not running: run `invoke install` first (it starts localcluster and installs the controller)"
    )
    assert commands(c) == []


def test_a_given_kubeconfig_means_localcluster_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/somewhere/config")
    c = context(cluster_running=False)
    tasks.migrate(c)
    assert not any(STATUS.match(call.args[0]) for call in c.run.call_args_list)
    assert len(commands(c)) == 1


def test_uninstall_keeps_the_crds_unless_asked() -> None:
    c = context()
    tasks.uninstall(c)
    argv, _ = playbook_call(c)
    assert argv == [tasks.tool("ansible-playbook"), str(tasks.ROOT / "playbooks" / "uninstall.yml")]
    c = context()
    tasks.uninstall(c, crds=True, check=True)
    argv, _ = playbook_call(c)
    assert extra_vars(argv) == {"rollouts_controller_remove_crds": True}
    assert argv[-1] == "--check"


def test_uninstall_without_a_cluster_has_nothing_to_do() -> None:
    c = context(cluster_running=False)
    with pytest.raises(Exit, match="localcluster is not running: there is nothing to uninstall"):
        tasks.uninstall(c)


def test_a_missing_tool_ends_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tasks, "BIN", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    c = context()
    with pytest.raises(Exit) as ended:
        tasks.install(c)
    assert ended.value.message == f"ansible-playbook is not installed: {tasks.SETUP_HINT}"
    assert c.run.call_count == 0


def test_load_test_targets_the_demo_frontend_by_default() -> None:
    c = context()
    tasks.load_test(c)
    [command] = commands(c)
    assert command.endswith("load-test --service services/frontend-service --duration 30s --rps 20")


def test_load_test_without_a_cluster_says_how_to_start_one() -> None:
    c = context(cluster_running=False)
    with pytest.raises(Exit, match=r"localcluster is not running: start it with `invoke cluster.up`"):
        tasks.load_test(c)


def test_a_failing_load_test_keeps_its_own_message_and_exit_code() -> None:
    c = context(fail=".*load-test.*")
    with pytest.raises(Exit) as ended:
        tasks.load_test(c, service="shop/web", duration="5s", rps=50)
    assert ended.value.message is None
    assert ended.value.code == 2


def test_bench_runs_the_named_script_with_the_arguments_after_the_double_dash() -> None:
    c = context()
    c._set(remainder="--rollouts 20 --json out.json")
    tasks.bench(c, name="controller")
    [command] = commands(c)
    assert shlex.split(command) == [
        tasks.PY,
        str(tasks.ROOT / "bench" / "controller.py"),
        "--rollouts",
        "20",
        "--json",
        "out.json",
    ]


def test_bench_names_the_benchmarks_there_are() -> None:
    c = context()
    with pytest.raises(Exit) as ended:
        tasks.bench(c, name="nope")
    assert ended.value.message == f"no benchmark 'nope' in bench/: choose {', '.join(tasks.benchmarks())}"
    assert "controller" in tasks.benchmarks()
    assert not any(name.startswith("_") for name in tasks.benchmarks())


def test_cluster_tasks_pass_the_state_directory() -> None:
    c = context()
    tasks.up(c, port=6443, state_dir="/tmp/my cluster")
    tasks.down(c, state_dir="/tmp/my cluster")
    assert commands(c) == [
        f"{tasks.PY} -m localcluster up --port 6443 --state-dir '/tmp/my cluster'",
        f"{tasks.PY} -m localcluster down --state-dir '/tmp/my cluster'",
    ]


def test_lint_runs_each_checker_and_stops_at_the_first_failure() -> None:
    c = context(fail=".*mypy$")
    with pytest.raises(Exit, match=r"^mypy failed \(exit code 2\)"):
        tasks.lint(c)
    ran = [Path(shlex.split(command)[0]).name for command in commands(c)]
    assert ran == ["ruff", "ruff", "mypy"]
