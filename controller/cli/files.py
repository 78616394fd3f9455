"""The commands that read a file and no cluster: ``lint``, ``plan`` and ``convert -f FILE``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from controller.api.convert import ConvertError, convert_deployment
from controller.cli.errors import EXIT_ERROR, EXIT_OK, CliError
from controller.cli.lint import lint_text, parse_documents, summary
from controller.cli.render import Cell, Line, tabulate, text_cells
from controller.cli.session import Output
from controller.core.simulate import STRATEGY_BASIC, Simulation, SimulationError, StepPlan, simulate_update


def read_file(path: str) -> tuple[str, str]:
    """(text, name to show) of ``path``; ``-`` is standard input."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except FileNotFoundError as e:
        raise CliError(f"{path}: no such file") from e
    except OSError as e:
        raise CliError(f"{path}: cannot read it: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise CliError(f"{path}: not a UTF-8 text file") from e


# -- lint -----------------------------------------------------------------------------------------


def lint(args: argparse.Namespace, out: Output) -> int:
    text, name = read_file(args.filename)
    problems = lint_text(text, name)
    if args.output:
        out.data([p.to_dict() for p in problems], args.output)
        return EXIT_ERROR if problems else EXIT_OK
    for problem in problems:
        out.text(str(problem))
    if problems:
        print(f"{name}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr)
        return EXIT_ERROR
    counts = summary(text)
    kinds = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items())
    out.text(f"{name}: no problems found ({kinds or 'no objects'})")
    return EXIT_OK


# -- plan -----------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """``90`` -> ``1m30s``; ``3600`` -> ``1h``; ``0`` -> ``0s``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


_WAIT_WORDS = {
    "promotion": "until promoted",
    "analysis": "until the analysis ends",
    "experiment": "until the experiment ends",
}


def _wait(step: StepPlan) -> str:
    if step.waits_for:
        return _WAIT_WORDS.get(step.waits_for, f"until {step.waits_for}")
    return duration(step.wait_seconds) if step.wait_seconds else "-"


def plan_lines(simulation: Simulation) -> list[Line]:
    """The step table and the totals of ``plan``."""
    n = len(simulation.steps)
    lines: list[Line] = [
        [
            (
                f'Rollout "{simulation.name}": {simulation.replicas} replicas, '
                f"{simulation.strategy or STRATEGY_BASIC}",
                "",
            )
        ],
        [],
    ]
    table: list[list[Cell]] = [
        text_cells(
            "STEP", "ACTION", "SET-WEIGHT", "STABLE", "CANARY", "CANARY-TRAFFIC", "WAIT", "STARTS-AFTER"
        )
    ]
    for step in simulation.steps:
        table.append(
            text_cells(
                f"{step.number}/{n}",
                step.description,
                step.set_weight,
                step.stable_pods,
                step.canary_pods,
                f"{step.canary_traffic}%",
                _wait(step),
                duration(step.starts_at),
            )
        )
    table.append(
        text_cells(
            "done",
            "promoted",
            100,
            0,
            simulation.promoted_pods,
            "100%",
            "-",
            duration(simulation.total_seconds),
        )
    )
    lines.extend(tabulate(table))
    lines.append([])
    total = duration(simulation.total_seconds)
    rounds = simulation.scaling_rounds
    startup = f"plus pod start-up in {rounds} scaling round{'s' if rounds != 1 else ''}"
    if simulation.waits:
        waits = ", ".join(f"step {s.number} ({_wait(s)})" for s in simulation.waits)
        lines.append(
            [(f"Expected total time: {total} of timed pauses, {startup}, plus the waits at {waits}.", "")]
        )
    else:
        lines.append([(f"Expected total time: {total}, {startup}.", "")])
    lines.append(
        [
            (
                "STABLE and CANARY count the pods of the running and of the new revision when each step is "
                "done; STARTS-AFTER counts timed pauses only. Assumed: "
                + "; ".join(simulation.assumptions)
                + ".",
                "",
            )
        ]
    )
    return lines


def plan(args: argparse.Namespace, out: Output) -> int:
    text, name = read_file(args.filename)
    try:
        docs = parse_documents(text)
    except yaml.YAMLError as e:
        raise CliError(f"{name}: invalid YAML: {e}") from e
    rollouts = [d for d in docs if d.kind == "Rollout" and (not args.rollout or d.name == args.rollout)]
    if not rollouts:
        which = f' named "{args.rollout}"' if args.rollout else ""
        raise CliError(f"{name}: no Rollout{which} in this file")
    templates = [d.data for d in docs if d.kind in ("AnalysisTemplate", "ClusterAnalysisTemplate")]
    results: list[Simulation] = []
    for doc in rollouts:
        try:
            results.append(simulate_update(doc.data, replicas=args.replicas, templates=templates))
        except SimulationError as e:
            raise CliError(f"{name}:{doc.start_line}: {e}") from e
    if args.output:
        data = [s.to_dict() for s in results]
        out.data(data[0] if len(data) == 1 else data, args.output)
        return EXIT_OK
    for k, simulation in enumerate(results):
        if k:
            out.text("")
        out.lines(plan_lines(simulation))
    return EXIT_OK


# -- convert --------------------------------------------------------------------------------------


def convert(args: argparse.Namespace, out: Output) -> int:
    """Print one Rollout per Deployment in the file (YAML documents, or ``-o json``)."""
    if args.scale_down is not None and not args.workload_ref:
        raise CliError(
            "--scale-down goes with --workload-ref: a moved template leaves no Deployment to scale"
        )
    text, name = read_file(args.filename)
    try:
        docs = parse_documents(text)
    except yaml.YAMLError as e:
        raise CliError(f"{name}: invalid YAML: {e}") from e
    steps = None
    if args.steps is not None:
        try:
            steps = yaml.safe_load(args.steps)
        except yaml.YAMLError as e:
            raise CliError(f"--steps: invalid YAML: {e}") from e
        if not isinstance(steps, list):
            raise CliError("--steps: give a list of steps, e.g. '[{setWeight: 20}, {pause: {}}]'")
    deployments = [d for d in docs if d.kind == "Deployment"]
    if not deployments:
        raise CliError(f"{name}: no Deployment in this file")
    rollouts = []
    for doc in deployments:
        try:
            rollouts.append(
                convert_deployment(
                    doc.data,
                    workload_ref=args.workload_ref,
                    scale_down=args.scale_down,
                    steps=steps,
                    strategy=args.strategy,
                )
            )
        except ConvertError as e:
            raise CliError(f"{name}:{doc.start_line}: {e}") from e
    if args.output == "json":
        out.data(rollouts[0] if len(rollouts) == 1 else rollouts, "json")
        return EXIT_OK
    out.text(yaml.safe_dump_all(rollouts, sort_keys=False, default_flow_style=False).rstrip("\n"))
    return EXIT_OK
