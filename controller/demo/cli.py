"""``python -m controller.demo SCENARIO [options]`` (``invoke demo --scenario SCENARIO``).

Exit codes: 0 the scenario went as it should; 1 it did not (a check failed, or a step did
not happen in time); 2 the command line was wrong; 3 a prerequisite is missing (nothing was
started); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys
from pathlib import Path

from rich.console import Console

from controller.demo.engine import INTERRUPTED, Run
from controller.demo.options import DEFAULT_PAUSE, LOCALCLUSTER, DemoOptions
from controller.demo.prereq import Problem, check_cluster, check_tools
from controller.demo.scenarios import SCENARIOS
from controller.loadtest import parse_duration

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PREREQUISITES, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: columns used when the output is not a terminal (logs, CI): wide enough for the tree
LOG_WIDTH = 140

EPILOG = """\
scenarios:
  basic       50% -> pause -> 100% on its own (the seed's demo)
  manual      an indefinite pause: waits for `just rollout-promote` (or --auto-promote-after)
  abort       a failing release aborted during its pause, then the fixed one
  prometheus  a real Prometheus and an AnalysisTemplate decide: promote, or roll back
  gitops      a local Git repository, ansible-pull as the sync loop, a revert rolls back
  bluegreen   a preview Service, then the active Service switches all traffic at once
  weighted    10% -> 30% -> 100% of the requests by the Ingress (ingress-nginx), on 2 pods
  starter     no scenario: check that the installed demo is ready and say how to run one by hand

examples:
  python -m controller.demo basic                   # the seed's 2m pause (about 3 minutes)
  python -m controller.demo abort --pause 30s --report abort.html
  python -m controller.demo manual --auto-promote-after 20s
  python -m controller.demo gitops --keep           # leave it running to explore
  python -m controller.demo weighted --pause 30s --report weighted.html
"""


def _duration(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    if value < 0:
        raise argparse.ArgumentTypeError(f'duration "{text}" must not be negative')
    return value


def build_parser(prog: str = "python -m controller.demo") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a scripted, narrated demo scenario end to end and check its outcome.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenario", nargs="?", choices=[*SCENARIOS, "starter"], help="the scenario (default: basic)"
    )
    parser.add_argument(
        "--scenario", dest="scenario_flag", choices=[*SCENARIOS, "starter"], help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--pause",
        default=DEFAULT_PAUSE,
        help=f"the pause (observation window) of the canary, e.g. 5s, 30s, 2m (default: the seed's {DEFAULT_PAUSE})",
    )
    parser.add_argument(
        "--context",
        default=LOCALCLUSTER,
        help="localcluster (default: started by the demo) or a context of your kubeconfig",
    )
    parser.add_argument(
        "--kubeconfig", help="the kubeconfig of --context (default: $KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="localcluster's state directory (default: $LOCALCLUSTER_STATE_DIR or its own)",
    )
    parser.add_argument(
        "--no-narration", action="store_true", help="print only the steps, results and summary"
    )
    parser.add_argument("--keep", action="store_true", help="leave everything running at the end, to explore")
    parser.add_argument(
        "--report", type=Path, metavar="FILE.html", help="write a self-contained page of the run"
    )
    parser.add_argument(
        "--auto-promote-after",
        type=_duration,
        metavar="D",
        help="manual: promote by itself after D instead of waiting for you",
    )
    parser.add_argument("--prometheus-url", help="prometheus: use this Prometheus instead of starting one")
    parser.add_argument(
        "--rps", type=float, default=20.0, help="requests per second of the demo's traffic (default 20)"
    )
    live = parser.add_mutually_exclusive_group()
    live.add_argument(
        "--live", dest="live", action="store_true", default=None, help="redraw the view in place"
    )
    live.add_argument(
        "--no-live",
        dest="live",
        action="store_false",
        help="print lines instead (the default off a terminal)",
    )
    parser.add_argument("--work-dir", type=Path, help="where the demo keeps its log and Git repository")
    return parser


def options_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> DemoOptions:
    scenario = args.scenario_flag or args.scenario or "basic"
    if args.scenario_flag and args.scenario and args.scenario_flag != args.scenario:
        parser.error(f"two scenarios given: {args.scenario} and --scenario {args.scenario_flag}")
    try:
        pause = parse_duration(args.pause)
    except ValueError as e:
        parser.error(f"--pause: {e}")
    if pause < 1:
        parser.error(f'--pause "{args.pause}": at least 1s')
    if args.auto_promote_after is not None and scenario != "manual":
        parser.error("--auto-promote-after goes with the manual scenario")
    if args.rps <= 0:
        parser.error("--rps must be positive")
    return DemoOptions(
        scenario=scenario,
        pause=pause,
        pause_text=args.pause,
        context=args.context,
        kubeconfig=args.kubeconfig,
        state_dir=args.state_dir.resolve() if args.state_dir else None,
        narration=not args.no_narration,
        keep=args.keep,
        report=args.report.resolve() if args.report else None,
        auto_promote_after=args.auto_promote_after,
        prometheus_url=args.prometheus_url,
        rps=args.rps,
        live=args.live,
        work_dir=args.work_dir.resolve() if args.work_dir else None,
    )


def report_problems(problems: list[Problem], scenario: str) -> None:
    print(
        f"error: the {scenario} scenario cannot start; {len(problems)} prerequisite(s) missing:",
        file=sys.stderr,
    )
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)


def main(argv: list[str] | None = None, prog: str = "python -m controller.demo") -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = build_parser(prog)
    args = parser.parse_args(args_list)
    options = options_from(args, parser)
    if options.scenario == "starter":
        from controller.demo.starter import main as starter

        return starter(options)
    problems = check_tools(options) + asyncio.run(check_cluster(options))
    if problems:
        report_problems(problems, options.scenario)
        return EXIT_PREREQUISITES
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=LOG_WIDTH)
    run = Run(options, SCENARIOS[options.scenario], console, f"{prog} {shlex.join(args_list)}".strip())
    try:
        passed = asyncio.run(_execute(run))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if run.record.failure == INTERRUPTED:
        return EXIT_INTERRUPTED
    return EXIT_OK if passed else EXIT_FAILED


async def _execute(run: Run) -> bool:
    """Run the scenario; SIGTERM stops it as Ctrl-C does, tearing down what it started."""
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run.execute()
