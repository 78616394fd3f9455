"""The image table: which image runs what, and how a pod's command/args override it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from localcluster.kubelet.images import (
    ImageEntry,
    ImageTable,
    ImageTableError,
    expand,
    load_table,
    lookup,
    lookup_keys,
    parse_table,
    resolve_command,
)


def test_default_table_runs_the_controller_image_of_any_tag(tmp_path: Path) -> None:
    table = load_table(tmp_path)
    for image in ("rollouts-controller", "rollouts-controller:v1.2", "ghcr.io/acme/rollouts-controller:dev"):
        entry = lookup(table, image)
        assert entry is not None, image
        assert entry.command == (sys.executable, "-m", "controller")
    assert lookup(table, "argoproj/rollouts-demo:blue") is None  # the demo app


def test_table_file_in_the_state_dir_replaces_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "images.yaml").write_text(
        'images:\n  tool:v2: {command: ["{python}", "-m", "tool"], args: ["--fast"]}\n'
        '  tool: {command: ["/bin/true"]}\n'
    )
    table = load_table(tmp_path)
    assert lookup(table, "rollouts-controller") is None
    assert lookup(table, "tool:v2") == ImageEntry((sys.executable, "-m", "tool"), ("--fast",))
    assert lookup(table, "registry.local:5000/team/tool:v2") == ImageEntry(
        (sys.executable, "-m", "tool"), ("--fast",)
    )
    assert lookup(table, "tool:v3") == ImageEntry(("/bin/true",))


def test_lookup_keys_go_from_most_to_least_specific() -> None:
    assert lookup_keys("registry.local:5000/team/tool:v2") == [
        "registry.local:5000/team/tool:v2",
        "registry.local:5000/team/tool",
        "tool:v2",
        "tool",
    ]
    assert lookup_keys("tool@sha256:abc") == ["tool@sha256:abc", "tool"]


@pytest.mark.parametrize(
    "text",
    [
        "images: []",
        "nothing: here",
        "images: {tool: [a, b]}",
        "images: {tool: {command: /bin/sh}}",
        "images: {tool: {command: [a], env: [x]}}",
    ],
)
def test_invalid_tables_are_errors_naming_the_file(tmp_path: Path, text: str) -> None:
    (tmp_path / "images.yaml").write_text(text)
    with pytest.raises(ImageTableError, match=r"images\.yaml"):
        load_table(tmp_path)


def test_unreadable_yaml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "images.yaml").write_text("images: {tool: [")
    with pytest.raises(ImageTableError):
        load_table(tmp_path)


ENTRY = ImageEntry(command=("/entry", "--flag"), args=("default-arg",))


@pytest.mark.parametrize(
    ("command", "args", "argv"),
    [
        (None, None, ["/entry", "--flag", "default-arg"]),
        ([], [], ["/entry", "--flag", "default-arg"]),
        (["/bin/sh", "-c"], None, ["/bin/sh", "-c"]),
        (None, ["x", "y"], ["/entry", "--flag", "x", "y"]),
        (["/bin/echo"], ["hi"], ["/bin/echo", "hi"]),
    ],
)
def test_pod_command_and_args_override_the_image_as_kubernetes_does(
    command: list[str] | None, args: list[str] | None, argv: list[str]
) -> None:
    assert resolve_command(ENTRY, command, args, {}) == argv


def test_pod_command_and_args_get_variable_expansion() -> None:
    env = {"NAME": "web", "PORT": "8080"}
    argv = resolve_command(ENTRY, ["run", "$(NAME)"], ["--port=$(PORT)", "$(MISSING)", "$$(NAME)"], env)
    assert argv == ["run", "web", "--port=8080", "$(MISSING)", "$(NAME)"]


def test_expand() -> None:
    assert expand("a $(X) b $$ c $(Y)", {"X": "1"}) == "a 1 b $ c $(Y)"


def test_placeholders_and_env_in_entries() -> None:
    table = parse_table({"images": {"t": {"command": ["{python}"], "env": {"A": "{python}", "B": 2}}}})
    assert table["t"].command == (sys.executable,)
    assert table["t"].env == {"A": sys.executable, "B": "2"}


def test_the_table_is_read_again_when_the_file_changes(tmp_path: Path) -> None:
    errors: list[str] = []
    table = ImageTable(tmp_path, on_error=errors.append)
    assert table.lookup("rollouts-controller") is not None  # defaults while there is no file
    (tmp_path / "images.yaml").write_text('images: {tool: {command: ["/bin/true"]}}\n')
    assert table.lookup("tool") == ImageEntry(("/bin/true",))
    assert table.lookup("rollouts-controller") is None
    (tmp_path / "images.yaml").write_text("images: [broken")
    assert table.lookup("tool") == ImageEntry(("/bin/true",))  # the last good table stays
    assert len(errors) == 1
    assert "keeping the previous image table" in errors[0]
