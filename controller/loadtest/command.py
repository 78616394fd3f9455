"""``rollouts load-test``: parse the flags, work out the target, run, show the summary."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from urllib.parse import urlsplit

from rich.console import Console

from controller.kube.config import ConfigError, load_config
from controller.loadtest.duration import parse_duration
from controller.loadtest.run import DEFAULT_CONCURRENCY, DEFAULT_RPS, LoadTest
from controller.loadtest.summary import Summary
from controller.loadtest.target import TargetError, resolve_ingress, resolve_service
from controller.loadtest.view import LiveView, render

EPILOG = """\
examples:
  rollouts load-test --service default/rollouts-demo --duration 1m
  rollouts load-test --url http://127.0.0.1:8080/color --rps 50 -o json
"""


def _duration(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    if value <= 0:
        raise argparse.ArgumentTypeError(f'duration "{text}" must be positive')
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f'"{text}" is not a number') from e
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f'"{text}" is not a whole number') from e
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def build_parser(prog: str = "rollouts load-test") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Send HTTP requests at a steady rate to a URL or a Service, and show which "
        "versions answer, how often they fail and how fast they are.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the URL to request (http:// is assumed when no scheme is given)")
    target.add_argument("--service", metavar="[NS/]NAME", help="a Service, resolved through the API")
    target.add_argument(
        "--ingress",
        metavar="[NS/]NAME",
        help="an Ingress: its status address, with its rule's Host header (weights of canary Ingresses apply)",
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="an extra request header, e.g. -H 'X-Canary: always' (repeatable)",
    )
    parser.add_argument("--port", help="the Service port (number or name; default: its only or 'http' port)")
    parser.add_argument("--path", help="the path requested on the Service (default: /color)")
    parser.add_argument(
        "--rps", type=_positive_float, default=DEFAULT_RPS, help="requests per second (default 20)"
    )
    parser.add_argument(
        "--duration", type=_duration, default=30.0, help="how long, e.g. 10s, 2m (default 30s)"
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        help=f"most requests in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--keep-alive", action="store_true", help="reuse connections (default: a new connection per request)"
    )
    parser.add_argument("--timeout", type=_duration, default=10.0, help="per request (default 10s)")
    parser.add_argument("--no-live", action="store_true", help="do not draw the live view")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="summary format")
    parser.add_argument("--kubeconfig", help="kubeconfig file (with --service)")
    parser.add_argument("--context", help="kubeconfig context (with --service)")
    return parser


def normalize_url(url: str) -> str:
    """``host:port/path`` becomes ``http://host:port/path``; only http(s) URLs are accepted."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f'invalid URL "{url}": use http://HOST:PORT/PATH')
    return url


def parse_headers(values: list[str]) -> dict[str, str]:
    """``["X-A: 1", "Host:shop"]`` as a dict; raises TargetError naming a malformed one."""
    headers: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition(":")
        if not sep or not name.strip():
            raise TargetError(f'invalid header "{value}": use NAME:VALUE, e.g. -H "X-Canary: always"')
        headers[name.strip()] = text.strip()
    return headers


async def resolve_target(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    """The URL the test sends to and its extra headers, from ``--url``, ``--service`` or
    ``--ingress`` and ``-H``; raises TargetError/ConfigError."""
    headers = parse_headers(args.header)
    if args.url is not None:
        return normalize_url(args.url), headers
    config = load_config(args.kubeconfig, context=args.context)
    if args.ingress is not None:
        url, ingress_headers = await resolve_ingress(config, args.ingress, path=args.path or "/color")
        return url, {**ingress_headers, **headers}
    return await resolve_service(config, args.service, port=args.port, path=args.path or "/color"), headers


async def _run(args: argparse.Namespace, target: str, headers: dict[str, str], console: Console) -> Summary:
    test = LoadTest(
        target,
        headers=headers,
        rps=args.rps,
        duration=args.duration,
        concurrency=args.concurrency,
        keep_alive=args.keep_alive,
        request_timeout=args.timeout,
    )
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, test.stop)  # Ctrl-C: stop and summarize
    if args.no_live or not console.is_terminal:
        return await test.run()
    with LiveView(console) as view:
        return await test.run(view.update)


def main(argv: list[str], prog: str = "rollouts load-test") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.url is not None and (args.port is not None or args.path is not None):
        parser.error("--port and --path go with --service; put them in the --url")
    if args.ingress is not None and args.port is not None:
        parser.error("--port goes with --service; an Ingress has its own address")
    try:
        target, headers = asyncio.run(resolve_target(args))
    except (ConfigError, TargetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    console = Console(stderr=args.output == "json")
    summary = asyncio.run(_run(args, target, headers, console))
    if args.output == "json":
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        Console().print(render(summary, final=True))
    if not summary.reachable:
        why = summary.errors_by_kind[0][0] if summary.errors_by_kind else "no request was sent"
        print(f"error: cannot connect to {target}: {why}", file=sys.stderr)
        return 1
    return 0
