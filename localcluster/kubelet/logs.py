"""Container logs: the current and previous run of every container, in memory and on disk.

Each run keeps its last :data:`MAX_LINES` lines in memory (what ``pods/log`` serves) and
mirrors every line to a file in the CRI log format the real kubelet writes
(``<RFC3339Nano time> stdout F <text>``) under ``<state_dir>/kubelet/logs/``; a file is
rotated (to ``.1``) past :data:`MAX_FILE_BYTES`. :class:`LogBook` implements the API
server's ``PodLogs`` protocol.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

MAX_LINES = 10_000
MAX_FILE_BYTES = 10 * 2**20


def rfc3339nano(ns: int) -> str:
    """``ns`` since the epoch as Go's RFC3339Nano (UTC, trailing zeros of the fraction dropped)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


class LogRun:
    """The log of one run of a container: lines in memory, mirrored to ``path``."""

    def __init__(self, path: Path | None, *, max_lines: int = MAX_LINES) -> None:
        self.path = path
        self.lines: collections.deque[tuple[int, str]] = collections.deque(maxlen=max_lines)
        #: how many lines were ever appended (the index of the next one)
        self.count = 0
        self.done = False
        self._changed = asyncio.Event()
        self._file: IO[str] | None = None
        self._file_bytes = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, text: str, stream: str = "stdout") -> None:
        """Add one line per line of ``text`` (a trailing newline does not make an empty line)."""
        if self.done:
            return
        for line in text.rstrip("\n").split("\n") if text else [""]:
            line = line.rstrip("\r")
            stamp = time.time_ns()
            self.lines.append((stamp, line))
            self.count += 1
            self._mirror(f"{rfc3339nano(stamp)} {stream} F {line}\n")
        self._wake()

    def _mirror(self, record: str) -> None:
        if self._file is None or self.path is None:
            return
        try:
            if self._file_bytes + len(record) > MAX_FILE_BYTES:
                self._file.close()
                self.path.replace(self.path.with_name(self.path.name + ".1"))
                self._file = open(self.path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
                self._file_bytes = 0
            self._file.write(record)
            self._file_bytes += len(record)
        except OSError:
            self._file = None  # the in-memory log goes on

    def close(self) -> None:
        """The run ended: followers finish after the last line."""
        self.done = True
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def since(self, index: int) -> list[tuple[int, str]]:
        """The retained lines with index ``index`` or later."""
        first = self.count - len(self.lines)
        skip = max(0, index - first)
        return list(self.lines)[skip:]

    def start_index(self, tail_lines: int | None) -> int:
        if tail_lines is None:
            return self.count - len(self.lines)
        return max(self.count - max(tail_lines, 0), self.count - len(self.lines))

    async def wait(self, seen: int) -> None:
        """Return once there are lines past ``seen`` or the run ended."""
        while self.count <= seen and not self.done:
            await self._changed.wait()


def format_lines(lines: list[tuple[int, str]], timestamps: bool) -> str:
    if timestamps:
        return "".join(f"{rfc3339nano(ns)} {text}\n" for ns, text in lines)
    return "".join(f"{text}\n" for _, text in lines)


class ContainerLog:
    """The current and the previous run of one container."""

    def __init__(self, directory: Path | None, uid: str = "") -> None:
        self.directory = directory
        self.uid = uid
        self.current: LogRun | None = None
        self.previous: LogRun | None = None

    def new_run(self, number: int) -> LogRun:
        """Start the log of run ``number`` (the restart count, as the real kubelet names its files).

        The current run becomes the previous one; older ones are dropped.
        """
        if self.current is not None:
            self.current.close()
        if self.previous is not None and self.previous.path is not None:
            for old in (self.previous.path, self.previous.path.with_name(self.previous.path.name + ".1")):
                with contextlib.suppress(OSError):
                    old.unlink()
        self.previous = self.current
        path = self.directory / f"{number}.log" if self.directory is not None else None
        self.current = LogRun(path)
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()


class LogBook:
    """Every container's log, by namespace, pod and container: the kubelet's ``PodLogs``."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._logs: dict[tuple[str, str, str], ContainerLog] = {}

    def container(self, namespace: str, pod: str, uid: str, container: str) -> ContainerLog:
        """The log of a container of the pod with ``uid`` (a new pod of the same name starts afresh)."""
        key = (namespace, pod, container)
        directory = self.root / f"{namespace}_{pod}_{uid}" if self.root is not None else None
        found = self._logs.get(key)
        if found is None or found.uid != uid:
            if found is not None:
                found.close()
            found = self._logs[key] = ContainerLog(directory / container if directory else None, uid)
        return found

    def drop_pod(self, namespace: str, pod: str, uid: str) -> None:
        """Forget a deleted pod's logs, in memory and on disk (not those of a new pod of the same name)."""
        directory = self.forget_pod(namespace, pod, uid)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def forget_pod(self, namespace: str, pod: str, uid: str) -> Path | None:
        """Forget a deleted pod's logs in memory; returns the directory of its files, for the
        caller to remove (the kubelet does it off the event loop)."""
        for key in [k for k in self._logs if k[:2] == (namespace, pod) and self._logs[k].uid == uid]:
            self._logs.pop(key).close()
        return self.root / f"{namespace}_{pod}_{uid}" if self.root is not None else None

    def close(self) -> None:
        for log in self._logs.values():
            log.close()

    def _run(self, namespace: str, pod: str, container: str, previous: bool) -> LogRun | None:
        log = self._logs.get((namespace, pod, container))
        if log is None:
            return None
        return log.previous if previous else log.current

    # -- PodLogs ---------------------------------------------------------------------------

    def read(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        previous: bool,
        tail_lines: int | None,
        timestamps: bool,
    ) -> str | None:
        """The container's log so far (or its previous run's), or None when it has none."""
        run = self._run(namespace, pod, container, previous)
        if run is None:
            return None
        return format_lines(run.since(run.start_index(tail_lines)), timestamps)

    async def follow(
        self, namespace: str, pod: str, container: str, *, tail_lines: int | None, timestamps: bool
    ) -> AsyncIterator[str]:
        """The log so far, then new lines as they come, until the container stops."""
        run = self._run(namespace, pod, container, False)
        if run is None:
            return
        position = run.start_index(tail_lines)
        while True:
            lines = run.since(position)
            position = run.count
            for ns, text in lines:
                yield f"{rfc3339nano(ns)} {text}\n" if timestamps else f"{text}\n"
            if run.done:
                return
            await run.wait(position)
