"""Subprocess containers: output to the log, the whole process group stopped, orphans reaped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from localcluster.kubelet.logs import LogRun
from localcluster.kubelet.probes import ProbeResult
from localcluster.kubelet.runtimes import ProcessRun, StartError, reap_orphans, run_exec


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# The container starts a grandchild that ignores nothing and prints its pid.
FAMILY = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print('child', child.pid, flush=True)\n"
    "print('oops', file=sys.stderr, flush=True)\n"
    "time.sleep(60)\n"
)


def test_stop_ends_the_whole_process_group_and_captures_output(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, int, list[str]]:
        log = LogRun(None)
        run = await ProcessRun.start(
            [sys.executable, "-c", FAMILY],
            env=dict(os.environ),
            cwd=tmp_path,
            log=log,
            pid_dir=tmp_path / "pids",
            labels={"pod": "ns/p"},
        )
        for _ in range(200):
            if log.count >= 2:
                break
            await asyncio.sleep(0.02)
        assert (tmp_path / "pids" / f"{run.pid}.json").exists()
        child = int(next(text for _, text in log.lines if text.startswith("child")).split()[1])
        await run.stop(grace=2)
        return run.pid, child, await run.wait(), sorted(text for _, text in log.lines)

    pid, child, code, lines = asyncio.run(scenario())
    assert code == 128 + signal.SIGTERM
    assert lines == [f"child {child}", "oops"]
    deadline = time.monotonic() + 5
    while (_alive(pid) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert not _alive(child)
    assert not (tmp_path / "pids" / f"{pid}.json").exists()


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"

    async def scenario() -> tuple[int, float]:
        log = LogRun(None)
        run = await ProcessRun.start(
            [sys.executable, "-c", script],
            env=dict(os.environ),
            cwd=tmp_path,
            log=log,
            pid_dir=None,
            labels={},
        )
        await asyncio.wait_for(log.wait(0), 5)
        started = time.monotonic()
        await run.stop(grace=0.5)
        return await run.wait(), time.monotonic() - started

    code, took = asyncio.run(scenario())
    assert code == 128 + signal.SIGKILL
    assert 0.4 < took < 5


def test_exit_code_and_bad_commands(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str]:
        log = LogRun(None)
        run = await ProcessRun.start(
            [sys.executable, "-c", "import sys; sys.exit(7)"],
            env={},
            cwd=tmp_path,
            log=log,
            pid_dir=None,
            labels={},
        )
        code = await run.wait()
        try:
            await ProcessRun.start(
                ["/no/such/binary"], env={}, cwd=tmp_path, log=log, pid_dir=None, labels={}
            )
        except StartError as e:
            return code, str(e)
        return code, ""

    code, error = asyncio.run(scenario())
    assert code == 7
    assert "/no/such/binary" in error


def test_exec_runner(tmp_path: Path) -> None:
    async def scenario() -> list[ProbeResult]:
        env = dict(os.environ)
        return [
            await run_exec(["true"], env=env, cwd=tmp_path, seconds=5),
            await run_exec(["sh", "-c", "echo not yet; exit 1"], env=env, cwd=tmp_path, seconds=5),
            await run_exec(["sleep", "5"], env=env, cwd=tmp_path, seconds=0.2),
            await run_exec(["/no/such/binary"], env=env, cwd=tmp_path, seconds=5),
        ]

    ok, failed, slow, missing = asyncio.run(scenario())
    assert ok == ProbeResult(True)
    assert failed == ProbeResult(False, "not yet")  # the output, as the kubelet reports it
    assert slow == ProbeResult(False, "command timed out after 0.2s")
    assert not missing.ok and "/no/such/binary" in missing.message


# A stand-in server: starts a recorded container process, prints its pid, waits to be killed.
SERVER = """
import asyncio, os, sys
from pathlib import Path
from localcluster.kubelet.logs import LogRun
from localcluster.kubelet.probes import ProbeResult
from localcluster.kubelet.runtimes import ProcessRun

async def main():
    run = await ProcessRun.start(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env=dict(os.environ), cwd=Path(sys.argv[1]), log=LogRun(None),
        pid_dir=Path(sys.argv[1]) / "pids", labels={},
    )
    print(run.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_orphans_of_a_killed_server_are_stopped_but_reused_pids_are_not(tmp_path: Path) -> None:
    pid_dir = tmp_path / "pids"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    # A process whose pid file records another command line: a pid the system reused.
    bystander = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    orphan = 0
    try:
        assert server.stdout is not None
        orphan = int(server.stdout.readline())
        server.kill()  # the server dies; its container process stays
        server.wait()
        assert _alive(orphan)
        (pid_dir / f"{bystander.pid}.json").write_text(
            json.dumps({"pid": bystander.pid, "argv": ["something", "else"], "startTime": "1"})
        )
        stopped = asyncio.run(reap_orphans(pid_dir, grace=2))
        assert stopped == [orphan]
        deadline = time.monotonic() + 5
        while _alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(orphan)
        assert bystander.poll() is None  # left alone
        assert list(pid_dir.iterdir()) == []
    finally:
        server.kill()
        server.wait()
        bystander.kill()
        bystander.wait()
        if orphan and _alive(orphan):
            os.kill(orphan, signal.SIGKILL)
