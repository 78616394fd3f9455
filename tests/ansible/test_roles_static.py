"""The roles' conventions, checked on the files: names, documentation, and the controller's RBAC.

No playbook runs here (see test_site.py and test_migration.py for that): these read the YAML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ["localcluster", "rollouts_controller", "rollouts_migrate", "demo_app"]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_prefixed_with_the_role_name(role: str) -> None:
    for kind in ("defaults", "vars"):
        path = ROOT / "roles" / role / kind / "main.yml"
        if path.exists():
            names = list(load(path) or {})
            assert names, path
            assert [n for n in names if not n.startswith(f"{role}_")] == [], path


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented_in_the_readme(role: str) -> None:
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    readme = (ROOT / "roles" / role / "README.md").read_text()
    undocumented = [name for name in defaults if f"`{name}`" not in readme]
    assert undocumented == [], f"roles/{role}/README.md does not describe {undocumented}"


@pytest.mark.parametrize("role", ROLES)
def test_task_names_are_sentences(role: str) -> None:
    for path in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        for task in load(path):
            tasks = [task, *task.get("block", [])]
            for t in tasks:
                assert re.match(r"^[A-Z]", str(t.get("name", ""))), (
                    f"{path}: a task without a sentence as name: {t}"
                )


def test_the_controllers_cluster_role_is_the_install_manifests_and_has_no_wildcards() -> None:
    rules = load(ROOT / "roles" / "rollouts_controller" / "vars" / "main.yml")[
        "rollouts_controller_cluster_role_rules"
    ]
    install = [d for d in yaml.safe_load_all((ROOT / "deploy" / "install.yaml").read_text()) if d]
    [role] = [d for d in install if d["kind"] == "ClusterRole"]
    assert rules == role["rules"]
    for rule in rules:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule


def test_site_imports_the_four_playbooks_and_runs_uninstall_only_when_asked() -> None:
    site = load(ROOT / "site.yml")
    imported = [entry["ansible.builtin.import_playbook"] for entry in site]
    assert imported == [
        "playbooks/install.yml",
        "playbooks/demo.yml",
        "playbooks/migrate.yml",
        "playbooks/uninstall.yml",
    ]
    assert site[-1]["tags"] == ["never", "uninstall"]
    for playbook in imported:
        [play] = load(ROOT / playbook)
        assert play["hosts"] == "localhost"
        assert play["roles"][0]["role"] == "localcluster", f"{playbook} must choose the cluster first"
