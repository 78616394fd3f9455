"""Start and stop a localcluster server for a benchmark: its own process, a fresh state dir."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def start_server(state_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start a server on ``state_dir``; returns (process, url, token). Its CA is state_dir/ca.crt."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcluster", "serve", "--state-dir", str(state_dir), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            info = json.loads((state_dir / "server.json").read_text())
            if info.get("pid") == proc.pid:
                return proc, str(info["url"]), (state_dir / "token").read_text().strip()
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    stop_server(proc)
    raise RuntimeError("server did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM by PID, then SIGKILL if it has not stopped within 15 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
