"""The CLI's arguments: kubectl's global flags anywhere, help with an example on every command,
and errors worded as one actionable line."""

from __future__ import annotations

import argparse

import pytest

from controller.cli.app import boolean, build_parser, go_duration
from controller.cli.errors import CliError, Subject, describe
from controller.kube import ConfigError, KubeConfig, NotFound, Unauthorized, Unreachable

PARSER = build_parser("rollouts")

COMMANDS = [
    ["get", "rollout"],
    ["list", "rollouts"],
    ["status"],
    ["promote"],
    ["abort"],
    ["retry", "rollout"],
    ["pause"],
    ["restart"],
    ["undo"],
    ["set", "image"],
    ["history"],
    ["lint"],
    ["plan"],
    ["version"],
    ["completion"],
]


def _subparser(path: list[str]) -> argparse.ArgumentParser:
    parser = PARSER
    for word in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(path: list[str]) -> None:
    text = _subparser(path).format_help()
    assert "examples:" in text
    assert f"rollouts {' '.join(path)}" in text.split("examples:")[1]
    assert "--kubeconfig" in text


def test_global_flags_before_or_after_the_verb() -> None:
    before = PARSER.parse_args(["-n", "shop", "--context", "dev", "promote", "web"])
    after = PARSER.parse_args(["promote", "web", "-n", "shop", "--context", "dev", "--kubeconfig", "k"])
    assert (before.namespace, before.context, before.name) == ("shop", "dev", "web")
    assert (after.namespace, after.context, after.kubeconfig) == ("shop", "dev", "k")
    plain = PARSER.parse_args(["get", "rollout", "web"])
    assert (plain.namespace, plain.context, plain.kubeconfig, plain.verbose) == (None, None, None, 0)


def test_argo_spellings_and_aliases() -> None:
    assert PARSER.parse_args(["get", "ro", "web", "-w", "--no-color"]).watch is True
    assert PARSER.parse_args(["list", "ro", "-A"]).all_namespaces is True
    assert PARSER.parse_args(["status", "web", "--watch=false"]).watch is False
    assert PARSER.parse_args(["status", "web", "-t", "2m"]).timeout == 120.0
    assert PARSER.parse_args(["restart", "web", "--in", "1h30m"]).after == 5400.0
    assert PARSER.parse_args(["undo", "web", "--to-revision=3"]).to_revision == 3
    assert PARSER.parse_args(["abort", "a", "b"]).name == ["a", "b"]
    assert PARSER.parse_args(["set", "image", "web", "*=nginx"]).image == "*=nginx"
    assert PARSER.parse_args(["promote", "web", "--full", "-o", "yaml"]).output == "yaml"


def test_value_parsers() -> None:
    assert go_duration("45") == 45.0
    assert go_duration("1.5s") == 1.5
    with pytest.raises(argparse.ArgumentTypeError, match=r"use e\.g\. 30s"):
        go_duration("soon")
    assert boolean("FALSE") is False
    with pytest.raises(argparse.ArgumentTypeError):
        boolean("maybe")


CONFIG = KubeConfig(server="https://127.0.0.1:6443", context="localcluster", source="/k")


def test_errors_are_one_line_with_what_to_do() -> None:
    subject = Subject(kind="rollout", name="web", namespace="shop", config=CONFIG)
    missing = NotFound(404, "NotFound", 'rollouts.argoproj.io "web" not found', {"details": {"name": "web"}})
    assert describe(missing, subject) == (
        'rollout "web" not found in namespace "shop"; list them with `rollouts list rollouts -n shop` '
        "or pass -n NAMESPACE"
    )
    no_crd = NotFound(404, "NotFound", "the server could not find the requested resource", {})
    assert "are the Rollout CRDs installed?" in describe(no_crd, subject)
    down = Unreachable("https://127.0.0.1:6443", "Connect call failed")
    assert describe(down, subject).endswith(
        "is the cluster running? Start localcluster with `rollouts cluster up`, "
        "or choose another cluster with --kubeconfig/--context"
    )
    context = ConfigError('context "prod" not found in kubeconfig /k')
    assert describe(context).endswith("pass one with --context")
    assert "401 Unauthorized" in describe(Unauthorized(401, "Unauthorized", ""), subject)
    assert describe(CliError("as is")) == "as is"
    for error in (missing, no_crd, down, context):
        assert "\n" not in describe(error, subject)
