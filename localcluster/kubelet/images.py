"""The image table: which images run as real subprocesses, and with what command.

Every image not in the table runs the built-in demo app in-process. The table is read from
``<state_dir>/images.yaml`` when that file exists, else :data:`DEFAULT_IMAGES` is used::

    images:
      rollouts-controller:             # any tag (also "registry/path/rollouts-controller:tag")
        command: ["{python}", "-m", "controller"]
      my-tool:v2:                      # only this tag
        command: ["{python}", "-m", "mytool"]
        args: ["--verbose"]

``command`` plays the part of the image's ENTRYPOINT and ``args`` its CMD; ``{python}``
stands for the server's own Python interpreter. A pod's ``command``/``args`` then override
them exactly as Kubernetes does (see :func:`resolve_command`).

An image matches the most specific key first: the whole reference (``repo/name:tag``), the
reference without tag or digest (``repo/name``), then the last path part with its tag
(``name:tag``) and without (``name``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

IMAGES_FILE = "images.yaml"

DEFAULT_IMAGES: dict[str, dict[str, list[str]]] = {
    "rollouts-controller": {"command": ["{python}", "-m", "controller"]},
}


class ImageTableError(Exception):
    """``images.yaml`` is not a valid image table."""


@dataclass(frozen=True)
class ImageEntry:
    """What a table image runs: its entrypoint (``command``) and default arguments (``args``)."""

    command: tuple[str, ...]
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def _placeholders(text: str) -> str:
    return text.replace("{python}", sys.executable)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ImageTableError(f"{where} must be a list of strings")
    return tuple(_placeholders(str(v)) for v in value)


def parse_table(data: Any, *, source: str = IMAGES_FILE) -> dict[str, ImageEntry]:
    """The entries of a decoded ``images.yaml``; raises :class:`ImageTableError` naming the problem."""
    if not isinstance(data, Mapping) or not isinstance(data.get("images"), Mapping):
        raise ImageTableError(f'{source}: expected a mapping with an "images" mapping at the top')
    table: dict[str, ImageEntry] = {}
    for name, spec in data["images"].items():
        where = f"{source}: images[{name!r}]"
        if not isinstance(spec, Mapping):
            raise ImageTableError(f"{where} must be a mapping with command and args")
        env = spec.get("env") or {}
        if not isinstance(env, Mapping):
            raise ImageTableError(f"{where}.env must be a mapping of names to strings")
        table[str(name)] = ImageEntry(
            command=_strings(spec.get("command"), f"{where}.command"),
            args=_strings(spec.get("args"), f"{where}.args"),
            env={str(k): _placeholders(str(v)) for k, v in env.items()},
        )
    return table


def load_table(state_dir: Path) -> dict[str, ImageEntry]:
    """``<state_dir>/images.yaml`` when present, else the defaults."""
    path = state_dir / IMAGES_FILE
    if not path.exists():
        return parse_table({"images": DEFAULT_IMAGES}, source="default image table")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ImageTableError(f"{path}: {e}") from e
    return parse_table(data, source=str(path))


def lookup_keys(image: str) -> list[str]:
    """The table keys that may match ``image``, most specific first."""
    ref = image.strip()
    name = ref.split("@", 1)[0]
    untagged = name
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        untagged = name[:colon]
    last = name.rsplit("/", 1)[-1]
    last_untagged = untagged.rsplit("/", 1)[-1]
    keys: list[str] = []
    for key in (ref, name, untagged, last, last_untagged):
        if key and key not in keys:
            keys.append(key)
    return keys


def lookup(table: Mapping[str, ImageEntry], image: str) -> ImageEntry | None:
    """The entry for ``image``, or None when it runs the demo app."""
    for key in lookup_keys(image):
        if key in table:
            return table[key]
    return None


class ImageTable:
    """The state directory's image table, read again whenever ``images.yaml`` changes.

    A table that cannot be read is reported through ``on_error`` and the last good one (at
    first, the defaults) stays in use.
    """

    def __init__(self, state_dir: Path, *, on_error: Callable[[str], None] | None = None) -> None:
        self.path = state_dir / IMAGES_FILE
        self._on_error = on_error or (lambda message: None)
        self._entries = parse_table({"images": DEFAULT_IMAGES}, source="default image table")
        self._stamp: tuple[int, int] | None = None
        self.refresh()

    def refresh(self) -> None:
        try:
            st = self.path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._entries = load_table(self.path.parent)
        except ImageTableError as e:
            self._on_error(f"{e}; keeping the previous image table")

    def lookup(self, image: str) -> ImageEntry | None:
        """The entry for ``image`` in the current table, or None when it runs the demo app."""
        self.refresh()
        return lookup(self._entries, image)


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known variables are replaced, unknown ones kept, ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR.sub(replace, text)


def resolve_command(
    entry: ImageEntry, command: Sequence[str] | None, args: Sequence[str] | None, env: Mapping[str, str]
) -> list[str]:
    """The argv a container runs, as Kubernetes combines the image's and the pod's.

    - neither ``command`` nor ``args`` in the pod: the image's entrypoint and arguments;
    - ``command`` only: it replaces both (the image's arguments are dropped);
    - ``args`` only: the image's entrypoint with these arguments;
    - both: the pod's command and arguments.

    The pod's own values get ``$(VAR)`` expansion from the container's environment.
    """
    pod_command = [expand(c, env) for c in command] if command else None
    pod_args = [expand(a, env) for a in args] if args else None
    if pod_command is not None:
        return pod_command + (pod_args or [])
    return list(entry.command) + (pod_args if pod_args is not None else list(entry.args))
