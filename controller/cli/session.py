"""What every cluster command needs: the chosen cluster and namespace, a client, and output.

The cluster is chosen exactly as ``rollouts controller run`` chooses it
(:func:`controller.kube.load_config`): ``--kubeconfig``, else ``$KUBECONFIG``, else
localcluster's kubeconfig, else ``~/.kube/config``, else in-cluster config; ``--context``
picks a context. The namespace is ``-n`` or the context's namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import yaml
from rich.console import Console

from controller.cli.errors import Subject
from controller.cli.render import Line, plain, styled
from controller.kube import ApiClient, KubeConfig, load_config


@dataclass
class Session:
    """An open connection to the chosen cluster, for one command."""

    config: KubeConfig
    namespace: str
    api: ApiClient


def config_of(args: argparse.Namespace) -> KubeConfig:
    """The cluster the flags choose (see the module docstring)."""
    return load_config(getattr(args, "kubeconfig", None), context=getattr(args, "context", None))


def subject_of(args: argparse.Namespace, config: KubeConfig | None = None, kind: str = "rollout") -> Subject:
    """What a command works on, for error messages."""
    names = getattr(args, "name", None)
    name = names[0] if isinstance(names, list) and names else names if isinstance(names, str) else ""
    namespace = getattr(args, "namespace", None) or (config.namespace if config else "default")
    prog = str(getattr(args, "prog", "") or "rollouts")
    return Subject(kind=kind, name=name or "", namespace=namespace, config=config, prog=prog)


@asynccontextmanager
async def open_session(args: argparse.Namespace, config: KubeConfig) -> AsyncIterator[Session]:
    """An :class:`ApiClient` for the command, closed afterwards."""
    async with ApiClient(config, timeout=float(getattr(args, "request_timeout", 30.0) or 30.0)) as api:
        yield Session(config, getattr(args, "namespace", None) or config.namespace, api)


class Output:
    """Where a command prints: plain text, colour on a terminal, JSON or YAML."""

    def __init__(self, *, color: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        if color is None:
            color = self.stream.isatty() and os.environ.get("TERM") != "dumb" and "NO_COLOR" not in os.environ
        self.color = color
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True, no_color=not color)

    def lines(self, lines: list[Line]) -> None:
        if self.color:
            self.console.print(styled(lines), end="")
        else:
            self.stream.write(plain(lines))
        self.stream.flush()

    def text(self, text: str) -> None:
        self.stream.write(text if text.endswith("\n") else text + "\n")
        self.stream.flush()

    def data(self, value: Any, fmt: str) -> None:
        """Print ``value`` as ``json`` or ``yaml``."""
        if fmt == "json":
            self.text(json.dumps(value, indent=2, ensure_ascii=False))
        else:
            self.text(yaml.safe_dump(value, sort_keys=False, allow_unicode=True))
