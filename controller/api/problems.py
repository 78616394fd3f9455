"""Problems found in a raw object, and the reader that collects them while building a view.

The controller keeps objects as raw JSON dicts. Turning one into a typed view can find things
that are wrong with it (a string where a number belongs, a duration that does not parse); so
can Argo's semantic validation afterwards. Both report a :class:`Problem`: the JSON path of
the field, and a message (Argo's own wording wherever Argo has one).

A :class:`Reader` reads values out of raw dicts for the views. Instead of raising at the first
bad value it records a problem and substitutes a safe fallback, so that one pass finds every
problem and validation can still run its checks on the (partly defaulted) view.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

#: Error types, as Kubernetes' field.ErrorType renders them (k8s.io/apimachinery/.../field/errors.go).
INVALID: Final = "Invalid value"
REQUIRED: Final = "Required value"
INTERNAL: Final = "Internal error"
DUPLICATE: Final = "Duplicate value"
NOT_SUPPORTED: Final = "Unsupported value"

_NO_VALUE: Final[Any] = object()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an object: where (a JSON path such as ``spec.strategy.canary``) and what."""

    field: str
    message: str
    #: how Kubernetes' field errors name the kind of problem (``Invalid value``, ``Required value``, ...)
    kind: str = INVALID
    #: the offending value, when there is one worth showing
    value: Any = dataclasses.field(default=_NO_VALUE, compare=False)

    def __str__(self) -> str:
        """The problem as Go's ``field.Error.Error()`` prints it, e.g.
        ``spec.replicas: Invalid value: -1: must be greater than or equal to 0``."""
        body = self.kind
        if self.kind not in (REQUIRED, INTERNAL) and self.value is not _NO_VALUE:
            body += f": {_go_value(self.value)}"
        return f"{self.field}: {body}: {self.message}" if self.message else f"{self.field}: {body}"


def _go_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class SpecError(ValueError):
    """A raw object could not be turned into a view; ``problems`` says every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def child(path: str, name: str) -> str:
    """``child("spec", "replicas") == "spec.replicas"``."""
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    """``index("spec.steps", 2) == "spec.steps[2]"``."""
    return f"{path}[{i}]"


class Reader:
    """Reads typed values out of raw JSON, recording a :class:`Problem` for each bad one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def report(self, path: str, message: str, *, kind: str = INVALID, value: Any = _NO_VALUE) -> None:
        """Record a problem."""
        self.problems.append(Problem(path, message, kind, value))

    def raise_if_problems(self) -> None:
        """Raise :class:`SpecError` with everything recorded so far, if anything was."""
        if self.problems:
            raise SpecError(self.problems)

    # -- containers ------------------------------------------------------------------------

    def obj(self, raw: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
        """The object at ``raw[key]``; None when absent or null."""
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.report(child(path, key), "must be an object", value=value)
            return None
        return value

    def objects(self, raw: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Mapping[str, Any]]]:
        """The objects in the list at ``raw[key]``, each with its path; [] when absent."""
        value = raw.get(key)
        if value is None:
            return []
        here = child(path, key)
        if not isinstance(value, list):
            self.report(here, "must be a list", value=value)
            return []
        out: list[tuple[str, Mapping[str, Any]]] = []
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                out.append((index(here, i), item))
            else:
                self.report(index(here, i), "must be an object", value=item)
        return out

    def strings(self, raw: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        """The list of strings at ``raw[key]``; () when absent."""
        value = raw.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.report(child(path, key), "must be a list of strings", value=value)
            return ()
        return tuple(value)

    def string_map(self, raw: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
        """The string-to-string map at ``raw[key]`` (labels, annotations); {} when absent."""
        value = raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            self.report(child(path, key), "must be a map of strings to strings", value=value)
            return {}
        return dict(value)

    # -- scalars ---------------------------------------------------------------------------

    def string(self, raw: Mapping[str, Any], key: str, path: str, default: str = "") -> str:
        """The string at ``raw[key]``; ``default`` when absent."""
        value = self.opt_string(raw, key, path)
        return default if value is None else value

    def opt_string(self, raw: Mapping[str, Any], key: str, path: str) -> str | None:
        """The string at ``raw[key]``; None when absent."""
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.report(child(path, key), "must be a string", value=value)
            return None
        return value

    def boolean(self, raw: Mapping[str, Any], key: str, path: str, default: bool = False) -> bool:
        """The boolean at ``raw[key]``; ``default`` when absent."""
        value = raw.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.report(child(path, key), "must be a boolean", value=value)
            return default
        return value

    def opt_int(self, raw: Mapping[str, Any], key: str, path: str) -> int | None:
        """The integer at ``raw[key]``; None when absent."""
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            self.report(child(path, key), "must be an integer", value=value)
            return None
        return int(value)

    def integer(self, raw: Mapping[str, Any], key: str, path: str, default: int = 0) -> int:
        """The integer at ``raw[key]``; ``default`` when absent (or invalid)."""
        value = self.opt_int(raw, key, path)
        return default if value is None else value

    def int_or_string(self, raw: Mapping[str, Any], key: str, path: str) -> int | str | None:
        """An IntOrString value (``x-kubernetes-int-or-string``) as it was written; None when absent."""
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return self.opt_int(raw, key, path)
