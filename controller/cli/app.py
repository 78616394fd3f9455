"""The ``rollouts`` verbs: the argument parser, the dispatch, and errors turned into one line.

The verbs and flags are those of ``kubectl argo rollouts`` (get, list, status, promote,
abort, retry, pause, restart, undo, set image, lint, version), plus ``history``, ``plan`` and
``completion``. kubectl's global flags (``--kubeconfig``, ``--context``, ``-n``) work before or
after the verb; ``-v`` shows tracebacks and debug logs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import textwrap
import traceback
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import metadata
from typing import Any

from controller.api.values import DurationError, parse_go_duration
from controller.cli import files, operations, view
from controller.cli.errors import EXIT_ERROR, EXIT_OK, CliError, describe
from controller.cli.session import Output, Session, config_of, open_session, subject_of
from controller.kube import ApiClient, KubeConfig

Handler = Callable[[argparse.Namespace, Session, Output], Awaitable[int]]


def version() -> str:
    try:
        return metadata.version("rollouts")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


# -- argument types -------------------------------------------------------------------------------


def go_duration(text: str) -> float:
    """A Go duration (``30s``, ``5m``, ``1h30m``) or a number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_go_duration(text)
        except DurationError as e:
            raise argparse.ArgumentTypeError(f"{e}; use e.g. 30s, 5m or 1h") from e
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text}: a duration cannot be negative")
    return seconds


def boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text}: expected true or false")


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number") from e
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or more")
    return value


# -- completion of names from the cluster ---------------------------------------------------------


def rollout_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Names of Rollouts in the chosen namespace, for shell completion (quietly [] on any error)."""

    async def names(config: KubeConfig) -> list[str]:
        async with ApiClient(config, timeout=3.0) as api:
            ns = getattr(parsed_args, "namespace", None) or config.namespace
            listed = await api.list(operations.rollout_path(ns))
            return [str((r.get("metadata") or {}).get("name")) for r in listed.get("items") or []]

    try:
        found = asyncio.run(names(config_of(parsed_args)))
    except Exception:
        return []
    return sorted(n for n in found if n.startswith(prefix))


# -- the parser -----------------------------------------------------------------------------------


def _global_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("cluster options (as kubectl's)")
    group.add_argument(
        "--kubeconfig",
        default=default,
        help="kubeconfig file (default: $KUBECONFIG, localcluster's kubeconfig, ~/.kube/config)",
    )
    group.add_argument("--context", default=default, help="the kubeconfig context to use")
    group.add_argument("-n", "--namespace", default=default, help="namespace (default: the context's)")
    group.add_argument(
        "--request-timeout",
        type=go_duration,
        default=argparse.SUPPRESS if suppress else 30.0,
        help="give up on one API request after this long (default 30s)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS if suppress else 0,
        help="show debug logs and tracebacks",
    )


def _output_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=("json", "yaml"), help="print the object as JSON or YAML")


def _name(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    action = parser.add_argument(
        "name",
        nargs="+" if many else None,
        metavar="ROLLOUT",
        help="the Rollout's name" + ("(s)" if many else ""),
    )
    action.completer = rollout_names  # type: ignore[attr-defined]


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _examples(prog: str, text: str) -> str:
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip().replace("%prog", prog), "  ")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Progressive delivery for Kubernetes: drive Argo Rollouts-compatible Rollouts.",
        formatter_class=_Formatter,
        epilog=_examples(
            prog,
            """
            %prog get rollout frontend -w          # the live tree of a rollout
            %prog set image frontend frontend=argoproj/rollouts-demo:green
            %prog promote frontend                 # past the current pause
            %prog plan -f rollout.yaml --replicas 10
            """,
        ),
    )
    _global_flags(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, help_: str, example: str, **kw: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name,
            help=help_,
            description=help_[:1].upper() + help_[1:] + ".",
            formatter_class=_Formatter,
            epilog=_examples(prog, example),
            **kw,
        )
        _global_flags(p, suppress=True)
        return p

    def subcommand(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        help_: str,
        example: str,
        **kw: Any,
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(
            name,
            help=help_,
            description=help_[:1].upper() + help_[1:] + ".",
            formatter_class=_Formatter,
            epilog=_examples(prog, example),
            **kw,
        )
        _global_flags(p, suppress=True)
        return p

    # the commands handed over to other programs (listed here for --help; dispatched in main)
    sub.add_parser("cluster", help="manage localcluster: up, down, status, kubeconfig")
    sub.add_parser("controller", help="run the Rollouts controller: controller run [--namespace NS] ...")
    sub.add_parser("load-test", help="send HTTP load to a URL or Service; show the share per version")
    sub.add_parser("prometheus", help="run Prometheus against localcluster (see prometheus --help)")

    get = command(
        "get",
        "show a Rollout and its revisions, ReplicaSets, pods and analysis",
        "%prog get rollout frontend",
    )
    get_sub = get.add_subparsers(dest="kind", metavar="KIND")
    get_sub.required = True
    p = subcommand(
        get_sub,
        "rollout",
        "show a Rollout: status, steps, images, and its revision / ReplicaSet / pod tree",
        """
        %prog get rollout frontend
        %prog get rollout frontend -w      # redraw as it changes (Ctrl-C to stop)
        """,
        aliases=["ro", "rollouts"],
    )
    _name(p)
    p.add_argument("-w", "--watch", action="store_true", help="redraw in place whenever something changes")
    p.add_argument("--no-color", action="store_true", help="plain text, no colours")
    p.add_argument("--timeout-seconds", type=non_negative, default=0, help="stop watching after N seconds")
    _output_flag(p)
    p.set_defaults(handler=view.get_rollout)

    ls = command("list", "list Rollouts", "%prog list rollouts -A")
    ls_sub = ls.add_subparsers(dest="kind", metavar="KIND")
    ls_sub.required = True
    p = subcommand(
        ls_sub,
        "rollouts",
        "list the Rollouts of a namespace (or all, -A) with their status, step and weights",
        """
        %prog list rollouts
        %prog list rollouts -A -w          # every namespace, a line per change
        """,
        aliases=["ro", "rollout"],
    )
    p.add_argument("-A", "--all-namespaces", action="store_true", help="Rollouts of every namespace")
    p.add_argument("--name", dest="name_filter", help="only the Rollout with this name")
    p.add_argument("-w", "--watch", action="store_true", help="then print a line whenever a Rollout changes")
    p.add_argument("--timestamps", action="store_true", help="start each line with the time")
    p.add_argument("--timeout-seconds", type=non_negative, default=0, help="stop watching after N seconds")
    _output_flag(p)
    p.set_defaults(handler=view.list_rollouts)

    p = command(
        "status",
        "wait for a Rollout to finish: print each phase change; exit 0 when Healthy, 1 when Degraded, "
        "3 on --timeout",
        """
        %prog status frontend
        %prog status frontend --timeout 2m   # for CI: fails if not Healthy within 2 minutes
        %prog status frontend --watch=false  # print the phase once
        """,
    )
    _name(p)
    p.add_argument(
        "-w",
        "--watch",
        type=boolean,
        nargs="?",
        const=True,
        default=True,
        metavar="BOOL",
        help="watch until Healthy or Degraded (default true; --watch=false prints once)",
    )
    p.add_argument(
        "-t", "--timeout", type=go_duration, default=0.0, help="give up after this long (0: never)"
    )
    _output_flag(p)
    p.set_defaults(handler=view.status)

    p = command(
        "promote",
        "promote a Rollout: past the current pause or analysis step, or with --full to the end",
        """
        %prog promote frontend
        %prog promote frontend --full   # skip remaining steps, pauses and analysis
        """,
    )
    _name(p)
    p.add_argument("--full", action="store_true", help="fully promote: skip the remaining steps")
    _output_flag(p)
    p.set_defaults(handler=_promote)

    p = command(
        "abort",
        "abort the update: traffic and pods go back to the stable revision (the Rollout turns Degraded)",
        "%prog abort frontend",
    )
    _name(p, many=True)
    _output_flag(p)
    p.set_defaults(handler=_each(operations.abort))

    retry = command("retry", "retry an aborted Rollout", "%prog retry rollout frontend")
    retry_sub = retry.add_subparsers(dest="kind", metavar="KIND")
    retry_sub.required = True
    p = subcommand(
        retry_sub,
        "rollout",
        "retry an aborted Rollout: its steps start again from the first",
        "%prog retry rollout frontend",
        aliases=["ro", "rollouts"],
    )
    _name(p)
    _output_flag(p)
    p.set_defaults(handler=_one(operations.retry))

    p = command("pause", "pause a Rollout (spec.paused); promote resumes it", "%prog pause frontend")
    _name(p, many=True)
    _output_flag(p)
    p.set_defaults(handler=_each(operations.pause))

    p = command(
        "restart",
        "restart the pods of a Rollout (sets spec.restartAt)",
        """
        %prog restart frontend
        %prog restart frontend --in 10m
        """,
    )
    _name(p)
    p.add_argument(
        "-i", "--in", dest="after", type=go_duration, default=0.0, help="restart after this long (e.g. 30s)"
    )
    _output_flag(p)
    p.set_defaults(handler=_restart)

    p = command(
        "undo",
        "roll back to an earlier revision's pod template (default: the previous revision)",
        """
        %prog undo frontend
        %prog undo frontend --to-revision 3   # see the revisions with: history frontend
        """,
    )
    _name(p)
    p.add_argument("--to-revision", type=non_negative, default=0, help="the revision (0: the previous one)")
    _output_flag(p)
    p.set_defaults(handler=_undo)

    set_ = command(
        "set", "change a Rollout", "%prog set image frontend frontend=argoproj/rollouts-demo:green"
    )
    set_sub = set_.add_subparsers(dest="kind", metavar="WHAT")
    set_sub.required = True
    p = subcommand(
        set_sub,
        "image",
        "set the image of a container of a Rollout (*=IMAGE: of every container)",
        """
        %prog set image frontend frontend=argoproj/rollouts-demo:green
        %prog set image frontend '*=argoproj/rollouts-demo:yellow'
        """,
    )
    _name(p)
    p.add_argument("image", metavar="CONTAINER=IMAGE", help="e.g. web=nginx:1.27, or *=nginx:1.27")
    _output_flag(p)
    p.set_defaults(handler=_set_image)

    p = command(
        "history",
        "list the revisions of a Rollout: images, when each became stable or was aborted, which is current",
        "%prog history frontend",
    )
    _name(p)
    _output_flag(p)
    p.set_defaults(handler=view.history)

    p = command(
        "lint",
        "check a file of Rollouts and the objects they refer to; report the line and field of each problem",
        """
        %prog lint -f rollout.yaml
        cat rollout.yaml | %prog lint -f -
        """,
    )
    p.add_argument("-f", "--filename", required=True, help="the file (- for standard input)")
    _output_flag(p)
    p.set_defaults(local=files.lint)

    p = command(
        "plan",
        "show, before applying, what each canary step will do: pod counts, traffic share, pauses, total time",
        """
        %prog plan -f rollout.yaml
        %prog plan -f rollout.yaml --replicas 10
        """,
    )
    p.add_argument("-f", "--filename", required=True, help="the file (- for standard input)")
    p.add_argument(
        "--replicas", type=non_negative, help="plan for this many replicas instead of spec.replicas"
    )
    p.add_argument(
        "--rollout", help="plan only the Rollout with this name (default: every Rollout in the file)"
    )
    _output_flag(p)
    p.set_defaults(local=files.plan)

    p = command(
        "convert",
        "print the Rollout equivalent to the Deployments in a file (template moved, or --workload-ref)",
        """
        %prog convert -f deployment.yaml > rollout.yaml
        %prog convert -f deployment.yaml --workload-ref --scale-down progressively
        %prog convert -f deployment.yaml --steps '[{setWeight: 20}, {pause: {}}, {setWeight: 100}]'
        """,
    )
    p.add_argument("-f", "--filename", required=True, help="the file (- for standard input)")
    p.add_argument(
        "--workload-ref",
        action="store_true",
        help="reference the Deployment (spec.workloadRef) instead of moving its pod template",
    )
    p.add_argument(
        "--scale-down",
        choices=("never", "onsuccess", "progressively"),
        help="with --workload-ref: whether the controller scales the Deployment down during the migration",
    )
    p.add_argument(
        "--steps", help="the canary steps as YAML/JSON (default: the seed's 50%%, pause 2m, 100%%)"
    )
    p.add_argument(
        "--strategy", choices=("canary",), help="the strategy, required to convert a Recreate Deployment"
    )
    _output_flag(p)
    p.set_defaults(local=files.convert)

    p = command("version", "print the version", "%prog version --short")
    p.add_argument("--short", action="store_true", help="print only the version")
    _output_flag(p)
    p.set_defaults(local=_version)

    p = command(
        "completion",
        "print a shell completion script for bash or zsh",
        """
        source <(%prog completion bash)     # in ~/.bashrc
        source <(%prog completion zsh)      # in ~/.zshrc
        """,
    )
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(local=_completion)
    return parser


# -- the handlers ---------------------------------------------------------------------------------


def _show(result: operations.Result, args: argparse.Namespace, out: Output) -> None:
    if args.output:
        out.data(result.object, args.output)
    else:
        out.text(result.message)


async def _promote(args: argparse.Namespace, s: Session, out: Output) -> int:
    _show(await operations.promote(s.api, s.namespace, args.name, full=args.full), args, out)
    return EXIT_OK


def _one(op: Callable[[ApiClient, str, str], Awaitable[operations.Result]]) -> Handler:
    async def handler(args: argparse.Namespace, s: Session, out: Output) -> int:
        _show(await op(s.api, s.namespace, args.name), args, out)
        return EXIT_OK

    return handler


def _each(op: Callable[[ApiClient, str, str], Awaitable[operations.Result]]) -> Handler:
    async def handler(args: argparse.Namespace, s: Session, out: Output) -> int:
        for name in args.name:
            args_one = argparse.Namespace(**{**vars(args), "name": name})
            _show(await op(s.api, s.namespace, name), args_one, out)
        return EXIT_OK

    return handler


async def _restart(args: argparse.Namespace, s: Session, out: Output) -> int:
    result = await operations.restart(s.api, s.namespace, args.name, after=timedelta(seconds=args.after))
    _show(result, args, out)
    return EXIT_OK


async def _undo(args: argparse.Namespace, s: Session, out: Output) -> int:
    _show(await operations.undo(s.api, s.namespace, args.name, to_revision=args.to_revision), args, out)
    return EXIT_OK


async def _set_image(args: argparse.Namespace, s: Session, out: Output) -> int:
    container, image = operations.parse_image_argument(args.image)
    _show(await operations.set_image(s.api, s.namespace, args.name, container, image), args, out)
    return EXIT_OK


def _version(args: argparse.Namespace, out: Output) -> int:
    if args.output:
        out.data({"rollouts": f"v{version()}", "python": sys.version.split()[0]}, args.output)
    elif args.short:
        out.text(f"v{version()}")
    else:
        out.text(f"{args.prog}: v{version()}")
    return EXIT_OK


def _completion(args: argparse.Namespace, out: Output) -> int:
    try:
        from argcomplete.shell_integration import shellcode
    except ImportError as e:
        raise CliError("shell completion needs the argcomplete package: pip install argcomplete") from e
    out.text(shellcode(["rollouts", "kubectl-rollouts"], shell=args.shell))
    return EXIT_OK


# -- running a command ----------------------------------------------------------------------------


def _autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer a shell's completion request (a no-op unless the shell asked)."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def run(argv: list[str], prog: str) -> int:
    """Parse ``argv`` and run the command; errors become one line on stderr and exit 1."""
    parser = build_parser(prog)
    _autocomplete(parser)
    args = parser.parse_args(argv)
    args.prog = prog
    verbose = int(getattr(args, "verbose", 0) or 0)
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    no_color = bool(getattr(args, "no_color", False))
    out = Output(color=False if no_color else None)
    config: KubeConfig | None = None
    try:
        if hasattr(args, "local"):
            code: int = args.local(args, out)
            return code
        config = config_of(args)
        return asyncio.run(_run_async(args, config, out))
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if verbose:
            traceback.print_exc()
        print(f"{prog}: {describe(e, subject_of(args, config))}", file=sys.stderr)
        return e.code if isinstance(e, CliError) else EXIT_ERROR


async def _run_async(args: argparse.Namespace, config: KubeConfig, out: Output) -> int:
    async with open_session(args, config) as session:
        handler: Handler = args.handler
        return await handler(args, session, out)
