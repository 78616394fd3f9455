"""What one run of a container is: the demo app in-process, or a real subprocess.

Both kinds offer :meth:`wait` (the exit code, once the run ends) and :meth:`stop`.

A subprocess runs in a session (and process group) of its own, so that stopping it reaches
every process it started: SIGTERM to the group, then SIGKILL after the grace period; when
the main process exits, what is left of its group is killed (as a container's processes
end with it). Each process is recorded in a pid file under ``<state_dir>/kubelet/pids``, so
that a server started after a killed one can stop what the killed one left behind
(:func:`reap_orphans`), after checking that the pid still is the same process (its command
line and start time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from localcluster.demoapp import Behaviour, DemoServer, serve
from localcluster.kubelet.logs import LogRun
from localcluster.kubelet.probes import ProbeResult

log = logging.getLogger("localcluster.kubelet")

#: The exit code of a container that could not start (as containerd reports it).
START_ERROR_EXIT = 128
#: The exit code of a demo-app container stopped by the kubelet: as the real rollouts-demo
#: program (Go, no SIGTERM handler), it dies of the SIGTERM.
STOPPED_EXIT = 128 + signal.SIGTERM
_READ_LIMIT = 2**20


class StartError(Exception):
    """The container could not be started (bad command, port not available, ...)."""


class ContainerRun(Protocol):
    async def wait(self) -> int:
        """The exit code, once the run has ended."""

    async def stop(self, grace: float) -> None:
        """End the run (politely first, within ``grace`` seconds)."""


class DemoRun:
    """The demo app serving one behaviour on each of the container's ports."""

    def __init__(self, servers: list[DemoServer]) -> None:
        self.servers = servers
        self._ended = asyncio.Event()

    @classmethod
    async def start(
        cls, behaviour: Behaviour, *, host: str, ports: Sequence[int], pod: str, image: str, log: LogRun
    ) -> DemoRun:
        servers: list[DemoServer] = []
        try:
            for port in ports:
                servers.append(
                    await serve(behaviour, host=host, port=port, pod=pod, image=image, log=log.append)
                )
        except OSError as e:
            for server in servers:
                await server.stop()
            log.append(str(e), "stderr")
            raise StartError(str(e)) from e
        return cls(servers)

    async def wait(self) -> int:
        await self._ended.wait()
        return STOPPED_EXIT

    async def stop(self, grace: float) -> None:
        for server in self.servers:
            await server.stop()
        self._ended.set()


# -- subprocesses ------------------------------------------------------------------------


def _proc_identity(pid: int) -> tuple[list[str], str] | None:
    """A live process's argv and start time (from /proc), or None when it is gone or unknown."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    argv = [part.decode(errors="replace") for part in cmdline.split(b"\0")[:-1]]
    fields = stat.rsplit(")", 1)[-1].split()
    return argv, fields[19] if len(fields) > 19 else ""


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ProcessRun:
    """A container process (and its process group), its output going to the container's log."""

    def __init__(self, proc: asyncio.subprocess.Process, log: LogRun, pid_file: Path | None) -> None:
        self.proc = proc
        self.pid = proc.pid
        self._log = log
        self._pid_file = pid_file
        self._readers = [
            asyncio.create_task(self._read(stream, name))
            for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
            if stream is not None
        ]
        self._done: asyncio.Task[int] = asyncio.create_task(self._supervise())

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log: LogRun,
        pid_dir: Path | None,
        labels: Mapping[str, str],
    ) -> ProcessRun:
        if not argv:
            raise StartError("no command: the image table and the pod give none")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=str(cwd),
                env=dict(env),
                start_new_session=True,
                limit=_READ_LIMIT,
            )
        except OSError as e:
            message = f'exec: "{argv[0]}": {e.strerror or e}'
            log.append(message, "stderr")
            raise StartError(message) from e
        pid_file = None
        if pid_dir is not None:
            pid_file = _write_pid_file(pid_dir, proc.pid, labels)
        return cls(proc, log, pid_file)

    async def _read(self, stream: asyncio.StreamReader, name: str) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the limit: take what there is
                line = await stream.read(_READ_LIMIT)
            if not line:
                return
            self._log.append(line.decode("utf-8", "replace"), name)

    async def _supervise(self) -> int:
        code = await self.proc.wait()
        # The container ends with its main process: nothing of its group may stay.
        _signal_group(self.pid, signal.SIGKILL)
        _, pending = await asyncio.wait(self._readers, timeout=2.0)
        for task in pending:
            task.cancel()
        if self._pid_file is not None:
            with contextlib.suppress(OSError):
                self._pid_file.unlink()
        return code if code >= 0 else 128 - code

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    async def stop(self, grace: float) -> None:
        if not self._done.done():
            _signal_group(self.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._done), timeout=max(grace, 0.0))
            except TimeoutError:
                _signal_group(self.pid, signal.SIGKILL)
        await self.wait()


def _write_pid_file(pid_dir: Path, pid: int, labels: Mapping[str, str]) -> Path | None:
    identity = _proc_identity(pid)
    record = {"pid": pid, **labels}
    if identity is not None:
        record["argv"], record["startTime"] = identity
    try:
        pid_dir.mkdir(parents=True, exist_ok=True)
        path = pid_dir / f"{pid}.json"
        path.write_text(json.dumps(record) + "\n")
    except OSError:
        log.warning("could not record pid %d in %s", pid, pid_dir)
        return None
    return path


async def reap_orphans(pid_dir: Path, *, grace: float = 2.0) -> list[int]:
    """Stop the processes a previous server of this state directory left running; returns their pids.

    A pid is only signalled when the process still has the recorded command line and start
    time (so a pid the system has since reused for something else is left alone).
    """
    stopped: list[int] = []
    for path in _pid_files(pid_dir):
        try:
            record = json.loads(path.read_text())
            pid = int(record["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        identity = _proc_identity(pid)
        if identity is not None and [identity[0], identity[1]] == [
            record.get("argv"),
            record.get("startTime"),
        ]:
            log.info("stopping process %d (%s) left by a previous server", pid, " ".join(identity[0]))
            _signal_group(pid, signal.SIGTERM)
            await _wait_gone(pid, identity[1], grace)
            _signal_group(pid, signal.SIGKILL)
            stopped.append(pid)
        path.unlink(missing_ok=True)
    return stopped


def _pid_files(pid_dir: Path) -> list[Path]:
    return sorted(pid_dir.glob("*.json")) if pid_dir.is_dir() else []


async def _wait_gone(pid: int, start_time: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        identity = _proc_identity(pid)
        if identity is None or identity[1] != start_time:
            return
        await asyncio.sleep(0.05)


async def run_exec(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, seconds: float) -> ProbeResult:
    """Run an ``exec`` probe's command: success when it exits 0 within ``seconds``.

    A failure's message is the command's output, as the kubelet reports it.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=str(cwd),
            env=dict(env),
            start_new_session=True,
        )
    except OSError as e:
        return ProbeResult(False, f'exec: "{argv[0]}": {e.strerror or e}')
    try:
        async with asyncio.timeout(seconds):
            output, _ = await proc.communicate()
    except TimeoutError:
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()
        return ProbeResult(False, f"command timed out after {seconds:g}s")
    if proc.returncode == 0:
        return ProbeResult(True)
    text = output[-1024:].decode("utf-8", "replace").strip()
    return ProbeResult(False, text or f"command {list(argv)} exited with {proc.returncode}")
