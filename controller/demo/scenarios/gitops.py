"""gitops: a local Git repository holds the manifests and ``ansible-pull`` is the sync loop.

Commit 1 holds the frontend as a Deployment, commit 2 migrates it to a Rollout, commit 3
changes the image and a canary starts, and a revert rolls it back. ``ansible-pull`` applies
the repository with server-side apply, so fields the controller owns are left to it.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

from controller.demo.engine import Run, ScenarioSpec, stop_task
from controller.demo.observe import OutcomeError
from controller.demo.options import DEMOS
from controller.demo.prereq import find_tool
from controller.demo.scenarios.common import (
    STEP_TIMEOUT,
    check_all_on,
    check_split,
    install_controller,
    start_cluster,
    wait_healthy,
    wait_paused,
)
from controller.demo.setup import Process, command_text, run_process
from controller.kube import NotFound, resource_path

NAMESPACE = "gitops"
NAME = "frontend"
SOURCE = DEMOS / "gitops"
COMMITS = (
    ("1-deployment", "Deploy the frontend as a Deployment"),
    ("2-rollout", "Migrate the frontend to a Rollout (workloadRef, canary 50% then pause)"),
    ("3-release", "Release green"),
)
FIELD_MANAGER = "rollouts-gitops"
#: seconds between two runs of ansible-pull
SYNC_EVERY = 1.0
#: the most one sync may take to apply a commit
SYNC_TIMEOUT = 120.0
OLD, NEW = "blue", "green"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "rollouts demo",
    "GIT_AUTHOR_EMAIL": "demo@localhost",
    "GIT_COMMITTER_NAME": "rollouts demo",
    "GIT_COMMITTER_EMAIL": "demo@localhost",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


class Repo:
    """The local Git repository the sync loop pulls from."""

    def __init__(self, run: Run, path: Path) -> None:
        self.run, self.path = run, path

    async def git(self, *args: str, cwd: Path | None = None) -> Process:
        result = await run_process(
            ["git", "-c", "init.defaultBranch=main", *args],
            log=self.run.target.log,
            env=GIT_ENV,
            cwd=cwd or self.path,
            within=60,
        )
        if result.code != 0:
            raise OutcomeError(f"git {' '.join(args)} failed (exit code {result.code}):\n{result.tail()}")
        return result

    async def create(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        await self.git("init", "-q", "-b", "main")
        shutil.copy(SOURCE / "local.yml", self.path / "local.yml")

    async def commit(self, folder: str, message: str) -> str:
        """Make the repository's manifests/ those of ``folder`` and commit; the new commit's id."""
        manifests = self.path / "manifests"
        if manifests.exists():
            shutil.rmtree(manifests)
        shutil.copytree(SOURCE / "commits" / folder / "manifests", manifests)
        await self.git("add", "-A")
        await self.git("commit", "-q", "-m", message)
        return await self.head()

    async def revert_head(self) -> str:
        await self.git("revert", "--no-edit", "HEAD")
        return await self.head()

    async def head(self) -> str:
        return (await self.git("rev-parse", "HEAD")).lines[-1].strip()

    async def log(self) -> list[str]:
        return (await self.git("log", "--oneline", "--no-decorate")).lines


class SyncLoop:
    """``ansible-pull`` again and again: what a cron job or a systemd timer would run."""

    def __init__(self, run: Run, repo: Repo, checkout: Path) -> None:
        self.run, self.repo, self.checkout = run, repo, checkout
        self.synced = ""
        self.failures = 0
        self.last_error = ""
        self._changed = asyncio.Event()

    def argv(self, *, only_if_changed: bool) -> list[str]:
        import sys

        return [
            find_tool("ansible-pull") or "ansible-pull",
            "-U",
            f"file://{self.repo.path}",
            "-C",
            "main",
            "-d",
            str(self.checkout),
            "-i",
            "localhost,",
            *(["--only-if-changed"] if only_if_changed else []),
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "local.yml",
        ]

    def env(self) -> dict[str, str]:
        env = {
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_HOST_PATTERN_MISMATCH": "ignore",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
        }
        if self.run.target.kubeconfig is not None:
            env["K8S_AUTH_KUBECONFIG"] = str(self.run.target.kubeconfig)
        if not self.run.target.local:
            env["K8S_AUTH_CONTEXT"] = self.run.options.context
        return env

    async def once(self, *, only_if_changed: bool) -> bool:
        result = await run_process(
            self.argv(only_if_changed=only_if_changed),
            log=self.run.target.log,
            env=self.env(),
            within=SYNC_TIMEOUT,
        )
        if result.code != 0:
            self.failures += 1
            self.last_error = result.tail(8)
            return False
        head = self.checkout / ".git"
        if head.exists():
            sha = (
                (
                    await run_process(
                        ["git", "-C", str(self.checkout), "rev-parse", "HEAD"],
                        log=self.run.target.log,
                        within=30,
                    )
                )
                .lines[-1]
                .strip()
            )
            if sha != self.synced:
                self.synced = sha
                subject = (
                    await run_process(
                        ["git", "-C", str(self.checkout), "log", "-1", "--format=%s"],
                        log=self.run.target.log,
                        within=30,
                    )
                ).lines[-1]
                self.run.mark("sync", f"synced {sha[:7]}", subject)
                self._changed.set()
        return True

    async def loop(self) -> None:
        ok = False
        while True:
            ok = await self.once(only_if_changed=ok)
            await asyncio.sleep(SYNC_EVERY)

    async def wait_for(self, sha: str) -> float:
        """Until the loop has applied commit ``sha``; the seconds it took."""
        started = time.monotonic()
        deadline = started + SYNC_TIMEOUT
        while self.synced != sha:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OutcomeError(
                    f"ansible-pull did not apply commit {sha[:7]} within {SYNC_TIMEOUT:g}s"
                    + (f"; its last failure:\n{self.last_error}" if self.last_error else "")
                )
            self._changed.clear()
            waiter = asyncio.ensure_future(self._changed.wait())
            await asyncio.wait({waiter}, timeout=min(left, 1.0))
            waiter.cancel()
        return time.monotonic() - started


async def _get(run: Run, path: str) -> dict[str, Any] | None:
    try:
        return await run.client.get(path)
    except NotFound:
        return None


async def _poll(run: Run, check: Any, what: str, within: float = STEP_TIMEOUT) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise OutcomeError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(0.3)


def replicas_owner(deployment: dict[str, Any]) -> list[str]:
    """The field managers that own the Deployment's spec.replicas."""
    return [
        str(entry.get("manager") or "")
        for entry in (deployment.get("metadata") or {}).get("managedFields") or []
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
    ]


async def main(run: Run) -> None:
    await start_cluster(run)
    await install_controller(run)
    await run.connect()
    deployment_path = resource_path("apps/v1", "deployments", namespace=NAMESPACE, name=NAME)
    async with run.step(
        f"Start from an empty namespace {NAMESPACE}",
        say="Everything in it comes from Git from now on.",
    ) as handle:
        namespace_path = resource_path("v1", "namespaces", name=NAMESPACE)
        existed = await _get(run, namespace_path) is not None
        if existed:
            await run.client.delete(namespace_path)

            async def gone() -> bool:
                return await _get(run, namespace_path) is None

            await _poll(run, gone, f"the namespace {NAMESPACE} to be deleted")
        handle.note = "deleted the previous run's namespace" if existed else "there was none"
    work = run.work / "gitops"
    repo = Repo(run, work / "repo")
    checkout = work / "checkout"
    async with run.step(
        "Create the Git repository: commit 1 holds the Deployment",
        say=f"A local repository ({repo.path}) with the sync playbook local.yml and manifests/: the "
        "frontend as a plain Deployment of 2 pods and a Service, as most apps start.",
    ) as handle:
        await repo.create()
        if checkout.exists():
            shutil.rmtree(checkout)
        first = await repo.commit(*COMMITS[0])
        handle.note = f"commit {first[:7]}"
    sync = SyncLoop(run, repo, checkout)
    log_lines: list[str] = []

    def git_log() -> str:
        marked = [
            line + ("   ← synced" if sync.synced.startswith(line.split()[0]) else "") for line in log_lines
        ]
        return "git log\n" + "\n".join(marked)

    async def refresh_log() -> None:
        log_lines[:] = await repo.log()
        run.record.git_log = list(log_lines)

    await refresh_log()
    run.side = git_log
    async with run.step(
        "Start the sync loop: ansible-pull",
        say="ansible-pull (part of ansible-core) clones the repository and runs its local.yml, which applies "
        "manifests/ with server-side apply; the demo runs it again every second, as a timer would — a pull-based "
        "sync loop like Argo CD's.",
        look="each sync marked with the commit it applied; the Deployment's 2 pods serving blue.",
    ) as handle:
        run.narrator.commands(
            "The same as (from the checkout, in a loop):", [command_text(sync.argv(only_if_changed=True))]
        )
        run.push(partial(stop_task, asyncio.create_task(sync.loop()), 30.0))
        took = await sync.wait_for(first)

        async def available() -> bool:
            d = await _get(run, deployment_path)
            return bool(d) and int(((d or {}).get("status") or {}).get("availableReplicas") or 0) >= 2

        await _poll(run, available, "the Deployment's 2 pods to be available")
        observer = await run.watch_rollout(NAMESPACE, NAME, f"app={NAME}")
        await run.send_traffic(f"{NAMESPACE}/{NAME}")
        await run.show_live()
        await run.wait_traffic(2.0)
        check_all_on(run, run.window(run.now() - 2.0), OLD)
        handle.note = f"commit 1 applied {took:.1f}s after it was made"
    run.narrator.block(git_log())
    async with run.step(
        "Commit 2: migrate the Deployment to a Rollout",
        say="The Rollout refers to the Deployment for its pod template (workloadRef) and scales it down as its own "
        "pods become ready (scaleDown: progressively). The Deployment's manifest loses `replicas`: from now on "
        "the controller owns that field, and server-side apply leaves it alone instead of scaling back up.",
        look="the Rollout appearing with 2 pods, then Healthy; the Deployment at 0; no failed request.",
    ) as handle:
        migrated_at = run.now()
        second = await repo.commit(*COMMITS[1])
        await refresh_log()
        await sync.wait_for(second)

        def first_revision() -> str | None:
            status = observer.status()
            stable = str(status.get("stableRS") or "")
            return stable if status.get("phase") == "Healthy" and stable else None

        stable_hash = await observer.until(
            first_revision, "the Rollout's first revision to be Healthy", STEP_TIMEOUT
        )
        await wait_healthy(run, stable_hash)

        async def scaled_down() -> dict[str, Any] | None:
            d = await _get(run, deployment_path)
            spec = (d or {}).get("spec") or {}
            status = (d or {}).get("status") or {}
            return d if d and spec.get("replicas") == 0 and not status.get("replicas") else None

        deployment = await _poll(run, scaled_down, "the controller to scale the Deployment to 0")
        owners = replicas_owner(deployment)
        run.check(
            bool(owners) and FIELD_MANAGER not in owners,
            f"the Deployment is at 0 and its spec.replicas belongs to {', '.join(owners)}, not to Git ({FIELD_MANAGER})",
            f"expected the controller, not Git, to own the Deployment's spec.replicas; owners: {owners}",
        )
        seen = run.window(migrated_at)
        run.check(
            seen.errors == 0 and seen.answered > 0,
            f"no request failed during the migration: {seen.describe()}",
            f"requests failed during the migration: {seen.describe()}",
        )
        handle.note = f"Rollout Healthy on revision {stable_hash}"
    run.show_tree()
    async with run.step(
        f"Commit 3: release {NEW}",
        say="One line changes in Git: the image in the Deployment's template. The Rollout sees its template "
        "change and starts a canary: 50%, then it waits.",
        look=f"a canary revision; about half the answers from {NEW}.",
    ) as handle:
        third = await repo.commit(*COMMITS[2])
        await refresh_log()
        await sync.wait_for(third)
        await wait_paused(run, 1)
        paused_at = run.now()
        handle.note = "canary at 50%"
    run.narrator.block(git_log())
    run.show_tree()
    async with run.step(
        f"Watch the canary for {run.options.pause_text}",
        say="The canary would wait here until promoted. In GitOps the other decision is made in Git: the demo "
        "reverts the release commit.",
    ) as handle:
        await run.wait_traffic(run.options.pause)
        check_split(run, run.window(paused_at + 0.5), NEW, OLD)
        handle.note = run.window(paused_at + 0.5).describe()
    async with run.step(
        "Revert commit 3 in Git",
        say="`git revert` makes a fourth commit that puts the old image back. Once synced, the Rollout's template "
        "is its stable revision's again, so the controller drops the canary at once (a fast rollback: no steps).",
        look=f"Status: Healthy, every pod and every answer back on {OLD}.",
    ) as handle:
        reverted_at = run.now()
        fourth = await repo.revert_head()
        await refresh_log()
        await sync.wait_for(fourth)
        await wait_healthy(run, stable_hash)
        healthy_at = run.now()
        await run.wait_traffic(2.0)
        check_all_on(run, run.window(healthy_at + 0.5), OLD)
        handle.note = f"back on {OLD} {healthy_at - reverted_at:.1f}s after the revert was committed"
    run.narrator.block(git_log())
    run.show_tree()


SPEC = ScenarioSpec(
    name="gitops",
    title="Git as the source of truth, ansible-pull as the sync loop",
    description="A local Git repository holds the manifests and ansible-pull applies them with server-side "
    "apply, again and again. Commit 1 deploys the frontend as a Deployment, commit 2 migrates it to a Rollout, "
    "commit 3 changes the image and a canary starts, and a revert rolls it back.",
    main=main,
)
