"""Setting up a demo the way a user would: localcluster, the playbooks, Prometheus.

Each is a real process — ``python -m localcluster ...``, ``ansible-playbook playbooks/...``
— run with the same arguments a person would type, its output kept in the demo's log file
(``<work dir>/demo.log``) and its last lines shown when it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from controller.demo.observe import OutcomeError
from controller.demo.options import ROOT, DemoOptions
from controller.demo.prereq import cluster_config, find_tool
from controller.kube import KubeConfig, load_kubeconfig

#: lines of a failed command's output shown in the error
TAIL = 25


@dataclass
class Process:
    """How a command ended: its exit code and its output, line by line."""

    argv: list[str]
    code: int
    lines: list[str] = field(default_factory=list)

    def tail(self, n: int = TAIL) -> str:
        return "\n".join(self.lines[-n:])


async def run_process(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    on_line: Callable[[str], None] | None = None,
    within: float = 900.0,
) -> Process:
    """Run ``argv`` to its end, appending its output to ``log``; never raises for a non-zero exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=str(cwd) if cwd else None,
    )
    result = Process(list(argv), 0)
    assert proc.stdout is not None

    async def read() -> None:
        assert proc.stdout is not None
        with _append(log) as out:
            out.write(f"$ {shlex.join(argv)}\n")
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    break
                line = raw.decode(errors="replace").rstrip("\n")
                out.write(line + "\n")
                result.lines.append(line)
                if on_line is not None:
                    on_line(line)

    try:
        await asyncio.wait_for(read(), within)
        result.code = await proc.wait()
    except (TimeoutError, asyncio.CancelledError):
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        raise
    return result


def _append(path: Path) -> TextIO:
    return open(path, "a", encoding="utf-8")


def command_text(argv: Sequence[str]) -> str:
    """``argv`` as a person would type it from the checkout (``.venv/bin/...`` shortened)."""
    shown = []
    for part in argv:
        if part == sys.executable:
            shown.append("python")
        elif part.startswith(str(ROOT) + os.sep):
            shown.append(os.path.relpath(part, ROOT))
        else:
            shown.append(part)
    return shlex.join(shown)


@dataclass
class Target:
    """The cluster a run works on, and how each tool reaches it."""

    options: DemoOptions
    log: Path
    kubeconfig: Path | None = None
    config: KubeConfig | None = None
    #: what the demo started (and so stops at the end, unless --keep)
    started_cluster: bool = False
    started_prometheus: bool = False
    prometheus_url: str | None = None

    @property
    def local(self) -> bool:
        return self.options.local

    def state_args(self) -> list[str]:
        return ["--state-dir", str(self.options.state_dir)] if self.options.state_dir else []

    def describe(self) -> str:
        if self.local:
            where = self.config.server if self.config else "localcluster"
            return f"localcluster ({where})"
        return f'context "{self.options.context}" ({self.config.server if self.config else "?"})'

    # -- localcluster -------------------------------------------------------------------------

    async def localcluster(self, *args: str, within: float = 120.0) -> Process:
        argv = [sys.executable, "-m", "localcluster", *args, *self.state_args()]
        return await run_process(argv, log=self.log, within=within)

    async def start_localcluster(self) -> str:
        """``localcluster up`` unless it runs; what happened, in a few words."""
        status = await self.localcluster("status", "-o", "json")
        try:
            running = bool(json.loads("\n".join(status.lines)).get("running"))
        except ValueError:
            running = False
        if not running:
            up = await self.localcluster("up", "--timeout", "60")
            if up.code != 0:
                raise OutcomeError(f"localcluster did not start (exit code {up.code}):\n{up.tail()}")
            self.started_cluster = True
        path = await self.localcluster("kubeconfig", "--path")
        if path.code != 0 or not path.lines:
            raise OutcomeError(f"localcluster has no kubeconfig:\n{path.tail()}")
        self.kubeconfig = Path(path.lines[-1].strip())
        self.config = load_kubeconfig(self.kubeconfig)
        return ("started at " if self.started_cluster else "already running at ") + self.config.server

    def use_context(self) -> None:
        """For a cluster the demo does not start: the context's kubeconfig."""
        self.config = cluster_config(self.options)
        self.kubeconfig = Path(self.config.source.split(", ")[0]) if self.config.source else None

    async def stop_localcluster(self) -> None:
        await self.localcluster("down")

    # -- Ansible ------------------------------------------------------------------------------

    def ansible_env(self) -> dict[str, str]:
        env = {
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
        }
        if not self.local:
            if self.kubeconfig:
                env["K8S_AUTH_KUBECONFIG"] = str(self.kubeconfig)
            env["K8S_AUTH_CONTEXT"] = self.options.context
        return env

    def ansible_vars(self) -> dict[str, Any]:
        if not self.local:
            return {"localcluster_target": "never"}
        extra: dict[str, Any] = {"localcluster_target": "always"}
        if self.options.state_dir:
            extra["localcluster_state_dir"] = str(self.options.state_dir.resolve())
        return extra

    def playbook_argv(
        self, playbooks: Sequence[str], extra_vars: Mapping[str, Any] | None = None
    ) -> list[str]:
        binary = find_tool("ansible-playbook") or "ansible-playbook"
        variables = {**self.ansible_vars(), **(extra_vars or {})}
        return [
            binary,
            *(str(ROOT / p) for p in playbooks),
            "-e",
            json.dumps(variables, separators=(",", ":")),
        ]

    async def playbook(
        self,
        playbooks: Sequence[str],
        extra_vars: Mapping[str, Any] | None = None,
        *,
        on_play: Callable[[str], None] | None = None,
    ) -> Process:
        """``ansible-playbook PLAYBOOK...``; OutcomeError with its last lines when it fails."""
        argv = self.playbook_argv(playbooks, extra_vars)

        def line(text: str) -> None:
            if on_play is not None and text.startswith("PLAY [") and "RECAP" not in text:
                on_play(text[len("PLAY [") :].split("]")[0])

        result = await run_process(argv, log=self.log, env=self.ansible_env(), cwd=ROOT, on_line=line)
        if result.code != 0:
            raise OutcomeError(
                f"{' '.join(playbooks)} failed (exit code {result.code}); the log is {self.log}:\n{result.tail()}"
            )
        return result

    # -- Prometheus ---------------------------------------------------------------------------

    async def start_prometheus(self, *, scrape_interval: str = "1s", namespace: str = "services") -> str:
        """localcluster's Prometheus (``localcluster prometheus up``), or the one given by --prometheus-url."""
        if self.options.prometheus_url:
            self.prometheus_url = self.options.prometheus_url.rstrip("/")
            return f"using {self.prometheus_url} (--prometheus-url)"
        before = await self.localcluster("prometheus", "status", "-o", "json")
        try:
            running = bool(json.loads("\n".join(before.lines)).get("running"))
        except ValueError:
            running = False
        up = await self.localcluster(
            "prometheus",
            "up",
            "--scrape-interval",
            scrape_interval,
            "--namespace",
            namespace,
            "--timeout",
            "60",
        )
        if up.code != 0:
            raise OutcomeError(f"Prometheus did not start (exit code {up.code}):\n{up.tail()}")
        status = await self.localcluster("prometheus", "status", "-o", "json")
        try:
            self.prometheus_url = str(json.loads("\n".join(status.lines))["url"]).rstrip("/")
        except (ValueError, KeyError) as e:
            raise OutcomeError(
                f"cannot read Prometheus's address from `prometheus status`:\n{status.tail()}"
            ) from e
        self.started_prometheus = not running
        return ("started at " if not running else "already running at ") + self.prometheus_url

    async def stop_prometheus(self) -> None:
        await self.localcluster("prometheus", "down")
