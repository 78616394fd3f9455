"""The commands that read: ``get rollout``, ``list rollouts``, ``status`` and ``history``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.live import Live

from controller.cli import render
from controller.cli.errors import EXIT_ERROR, EXIT_OK, EXIT_TIMEOUT, CliError
from controller.cli.history import history_lines, revision_history
from controller.cli.info import rollout_info
from controller.cli.operations import list_replica_sets, rollout_path
from controller.cli.session import Output, Session
from controller.cli.watching import Watched, match_labels_selector, rollout_informers
from controller.core.phase import rollout_phase
from controller.kube import ApiClient, Informer, NotFound, resource_path

Obj = dict[str, Any]
#: the fastest a live view redraws (Argo's anti-flicker limit)
MIN_REDRAW = 0.2
CLEAR_SCREEN = "\033[H\033[2J"


def now() -> datetime:
    return datetime.now(UTC)


async def _analysis_runs(api: ApiClient, namespace: str) -> list[Obj] | None:
    """AnalysisRuns of the namespace; None when the cluster has no AnalysisRun CRD."""
    try:
        listed = await api.list(resource_path("argoproj.io/v1alpha1", "analysisruns", namespace=namespace))
    except NotFound:
        return None
    items: list[Obj] = listed.get("items") or []
    return items


async def _objects_of(api: ApiClient, namespace: str, rollout: Obj) -> tuple[list[Obj], list[Obj], list[Obj]]:
    selector = match_labels_selector(rollout)
    rss = (
        await api.list(resource_path("apps/v1", "replicasets", namespace=namespace), label_selector=selector)
    ).get("items") or []
    pods = (await api.list(resource_path("v1", "pods", namespace=namespace), label_selector=selector)).get(
        "items"
    ) or []
    runs = await _analysis_runs(api, namespace) or []
    return rss, pods, runs


# -- get rollout ----------------------------------------------------------------------------------


async def get_rollout(args: argparse.Namespace, session: Session, out: Output) -> int:
    api, ns, name = session.api, session.namespace, args.name
    rollout = await api.get(rollout_path(ns, name))
    rss, pods, runs = await _objects_of(api, ns, rollout)
    if not args.watch:
        info = rollout_info(rollout, rss, pods, runs)
        if args.output:
            out.data(info.to_dict(), args.output)
        else:
            out.lines(render.rollout_lines(info, now()))
        return EXIT_OK
    with_runs = await _analysis_runs(api, ns) is not None
    informers = rollout_informers(api, ns, name, match_labels_selector(rollout), analysis_runs=with_runs)
    timeout = float(args.timeout_seconds) if args.timeout_seconds else None
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            _watch_tree(Watched([i for i in informers if i is not None]), informers, out), timeout
        )
    return EXIT_OK


async def _watch_tree(
    watched: Watched, informers: tuple[Informer, Informer, Informer, Informer | None], out: Output
) -> None:
    rollouts, rss, pods, runs = informers

    def lines() -> list[render.Line]:
        items = rollouts.objects()
        if not items:
            raise CliError("the rollout was deleted")
        info = rollout_info(items[0], rss.objects(), pods.objects(), runs.objects() if runs else [])
        return render.rollout_lines(info, now())

    interactive = out.stream.isatty()
    async with watched:
        if out.color and interactive:
            console = out.console
            with Live(render.styled(lines()), console=console, auto_refresh=False, transient=False) as live:
                while True:
                    await watched.changed(within=1.0)  # ages tick every second
                    live.update(render.styled(lines()), refresh=True)
                    await asyncio.sleep(MIN_REDRAW)
        shown = -1
        while True:
            if interactive or watched.version != shown:
                shown = watched.version
                out.text((CLEAR_SCREEN if interactive else "") + render.plain(lines()))
            await watched.changed(within=1.0 if interactive else None)
            await asyncio.sleep(MIN_REDRAW)


# -- list rollouts --------------------------------------------------------------------------------


def _timestamp() -> str:
    return now().strftime("%Y-%m-%dT%H:%M:%SZ")


async def list_rollouts(args: argparse.Namespace, session: Session, out: Output) -> int:
    ns = None if args.all_namespaces else session.namespace
    path = resource_path("argoproj.io/v1alpha1", "rollouts", namespace=ns)
    selector = f"metadata.name={args.name_filter}" if args.name_filter else None
    listed = await session.api.list(path, field_selector=selector)
    items: list[Obj] = sorted(
        listed.get("items") or [],
        key=lambda r: (
            (r.get("metadata") or {}).get("namespace", ""),
            (r.get("metadata") or {}).get("name", ""),
        ),
    )
    rows = [render.list_row(r) for r in items]
    if args.output:
        out.data(rows, args.output)
        return EXIT_OK
    stamp = _timestamp() if args.timestamps else None
    if not rows and not args.watch:
        print("No resources found.", file=sys.stderr)
        return EXIT_OK
    out.lines(render.list_lines(rows, namespaces=args.all_namespaces, timestamp=stamp))
    if not args.watch:
        return EXIT_OK
    informer = Informer(
        session.api, "argoproj.io/v1alpha1", "rollouts", namespace=ns, field_selector=selector
    )
    last = {(r["namespace"], r["name"]): r for r in rows}
    timeout = float(args.timeout_seconds) if args.timeout_seconds else None

    async def follow() -> None:
        async with Watched([informer]) as watched:
            while True:
                for rollout in informer.objects():
                    row = render.list_row(rollout)
                    key = (row["namespace"], row["name"])
                    if last.get(key) != row:
                        last[key] = row
                        line = render.list_line(
                            row,
                            namespaces=args.all_namespaces,
                            timestamp=_timestamp() if args.timestamps else None,
                        )
                        out.lines([line])
                await watched.changed()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(follow(), timeout)
    return EXIT_OK


# -- status ---------------------------------------------------------------------------------------


def _status_line(rollout: Mapping[str, Any]) -> tuple[str, str]:
    phase, message = rollout_phase(rollout)
    return str(phase), f"{phase} - {message}" if message else str(phase)


async def status(args: argparse.Namespace, session: Session, out: Output) -> int:
    api, ns, name = session.api, session.namespace, args.name
    rollout = await api.get(rollout_path(ns, name))
    phase, line = _status_line(rollout)
    if not args.watch:
        if args.output:
            out.data({"phase": phase, "message": rollout_phase(rollout)[1]}, args.output)
        else:
            out.text(phase if phase in ("Healthy", "Degraded") else line)
        _verdict(phase, rollout)
        return EXIT_OK
    informer = Informer(
        api, "argoproj.io/v1alpha1", "rollouts", namespace=ns, field_selector=f"metadata.name={name}"
    )
    deadline = time.monotonic() + args.timeout if args.timeout else None
    printed = ""
    async with Watched([informer]) as watched:
        while True:
            items = informer.objects()
            if not items:
                raise CliError(f'rollout "{name}" was deleted while watching its status')
            rollout = items[0]
            phase, line = _status_line(rollout)
            if line != printed:
                out.text(line)
                printed = line
            if phase in ("Healthy", "Degraded"):
                return _verdict(phase, rollout)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise CliError("Rollout status watch exceeded timeout", code=EXIT_TIMEOUT)
            await watched.changed(within=left)


def _verdict(phase: str, rollout: Mapping[str, Any]) -> int:
    if phase == "Degraded":
        raise CliError(f"The rollout is in a degraded state with message: {rollout_phase(rollout)[1]}")
    return EXIT_OK if phase == "Healthy" else EXIT_ERROR


# -- history --------------------------------------------------------------------------------------


async def history(args: argparse.Namespace, session: Session, out: Output) -> int:
    api, ns, name = session.api, session.namespace, args.name
    rollout = await api.get(rollout_path(ns, name))
    rss = await list_replica_sets(api, ns, rollout)
    uid = str((rollout.get("metadata") or {}).get("uid") or "")
    events = (
        await api.list(
            resource_path("v1", "events", namespace=ns),
            field_selector=f"involvedObject.kind=Rollout,involvedObject.name={name}",
        )
    ).get("items") or []
    rows = revision_history(
        rollout, rss, [e for e in events if (e.get("involvedObject") or {}).get("uid") in ("", None, uid)]
    )
    if args.output:
        out.data([r.to_dict() for r in rows], args.output)
    else:
        out.lines(history_lines(rows, now()))
    return EXIT_OK
