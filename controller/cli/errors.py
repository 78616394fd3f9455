"""Errors a person can act on: one line saying what was wrong, where, and what to do.

:class:`CliError` is raised by commands for problems they detect themselves (a bad
``CONTAINER=IMAGE``, a revision that does not exist). :func:`describe` turns any error a
command can meet — those, kubeconfig problems, and the API client's typed errors — into that
one line, with a hint when there is an obvious next step. The entry point prints it (and the
traceback only with ``-v``) and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.kube import (
    ApiError,
    ConfigError,
    Forbidden,
    Invalid,
    KubeConfig,
    NotFound,
    Unauthorized,
    Unreachable,
)

#: exit codes
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3


class CliError(Exception):
    """A problem the user can act on; ``str(e)`` is the whole message."""

    def __init__(self, message: str, *, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Subject:
    """What a command was working on, to name it in messages."""

    kind: str = ""
    name: str = ""
    namespace: str = ""
    config: KubeConfig | None = None
    #: how the user called the CLI (``rollouts`` or ``kubectl rollouts``), for the hints
    prog: str = "rollouts"


def _where(config: KubeConfig | None) -> str:
    if config is None:
        return ""
    context = f'context "{config.context}"' if config.context else config.source or "the cluster"
    return f" ({context}, {config.server})"


def describe(error: BaseException, subject: Subject | None = None) -> str:
    """The one-line message for ``error``."""
    subject = subject or Subject()
    if isinstance(error, CliError):
        return str(error)
    if isinstance(error, ConfigError):
        text = str(error)
        if "context" in text and "not found" in text:
            return f"{text}; list the contexts with `kubectl config get-contexts` and pass one with --context"
        return text
    if isinstance(error, Unreachable):
        return (
            f"{error}; is the cluster running? Start localcluster with `{subject.prog} cluster up`, "
            "or choose another cluster with --kubeconfig/--context"
        )
    if isinstance(error, Unauthorized):
        return (
            f"the API server refused the credentials{_where(subject.config)} (401 Unauthorized); "
            "check the user of this context in your kubeconfig"
        )
    if isinstance(error, Forbidden):
        return f"not allowed{_where(subject.config)}: {error.message or error.reason}"
    if isinstance(error, NotFound):
        return _not_found(error, subject)
    if isinstance(error, Invalid):
        return f"the API server rejected the change: {_invalid_causes(error.status) or error.message}"
    if isinstance(error, ApiError):
        return f"the API server answered {error.code} {error.reason}: {error.message}"
    if isinstance(error, TimeoutError):
        return "timed out waiting for the API server"
    return f"{type(error).__name__}: {error}"


def _not_found(error: NotFound, subject: Subject) -> str:
    details: Mapping[str, Any] = error.status.get("details") or {}
    named = str(details.get("name") or "")
    if subject.name and (named == subject.name or (not named and "could not find" not in error.message)):
        kind = subject.kind or "object"
        return (
            f'{kind} "{subject.name}" not found in namespace "{subject.namespace}"; '
            f"list them with `{subject.prog} list rollouts -n {subject.namespace}` or pass -n NAMESPACE"
        )
    if not named:
        return (
            f"the cluster{_where(subject.config)} does not serve argoproj.io/v1alpha1 rollouts: "
            "are the Rollout CRDs installed? (`invoke install` installs them)"
        )
    return f"not found: {error.message}"


def _invalid_causes(status: Mapping[str, Any]) -> str:
    causes = (status.get("details") or {}).get("causes") or []
    parts = [
        f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in causes if isinstance(c, dict)
    ]
    return "; ".join(p for p in parts if p)
