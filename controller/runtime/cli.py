"""``rollouts controller run`` (and ``python -m controller``): run the controller until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from controller.kube import ApiClient, ConfigError, load_config
from controller.runtime.controller import Controller, ControllerOptions, LeadershipLostError
from controller.runtime.metrics import Metrics, MetricsServer

log = logging.getLogger(__name__)

LOG_FORMAT = "time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``controller run``."""
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, localcluster's, ~/.kube/config)"
    )
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("--namespace", "-n", help="watch only this namespace (default: all namespaces)")
    parser.add_argument(
        "--workers",
        type=int,
        default=10,
        help="concurrent reconciles (default 10, as Argo's --rollout-threads)",
    )
    parser.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run workers only while holding the Lease rollouts-controller (default: on)",
    )
    parser.add_argument(
        "--leader-election-namespace",
        help="namespace of the Lease (default: $POD_NAMESPACE, the context's namespace, or rollouts)",
    )
    parser.add_argument(
        "--instance-id",
        default="",
        help="handle only Rollouts labelled argo-rollouts.argoproj.io/controller-instance-id=ID",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=8090,
        help="serve /metrics and /healthz here (0: off; default 8090)",
    )
    parser.add_argument("--metrics-address", default="0.0.0.0", help="address for /metrics (default 0.0.0.0)")
    for flag, default, what in (
        ("--leader-election-lease-duration", "15s", "how long a Lease is held without renewal"),
        (
            "--leader-election-renew-deadline",
            "10s",
            "how long the leader retries renewing before it gives up",
        ),
        ("--leader-election-retry-period", "2s", "how often candidates try to take the Lease"),
    ):
        parser.add_argument(
            flag, type=duration, default=duration(default), help=f"{what} (default {default})"
        )
    parser.add_argument(
        "--rollout-resync",
        type=duration,
        default=duration("15m"),
        help="re-check every Rollout this often, e.g. 900s or 15m (0: never; default 15m)",
    )
    parser.add_argument(
        "--analysis-workers",
        type=int,
        default=30,
        help="concurrent AnalysisRun reconciles (default 30, as Argo's --analysis-threads)",
    )
    parser.add_argument(
        "--prometheus-address",
        default="",
        help="Prometheus URL for metrics that name no address (default: $ARGO_ROLLOUTS_PROMETHEUS_ADDRESS)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """Seconds of a duration flag: ``15s``, ``1m30s``, ``500ms``, ``2h`` or plain seconds (``15``)."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    total, number = 0.0, ""
    i = 0
    while i < len(value):
        ch = value[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if value.startswith("ms", i) else ch
        if unit not in _UNITS or not number:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 15s, 1m30s, 500ms)")
        total += float(number) * _UNITS[unit]
        number = ""
        i += len(unit)
    if number:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: {number!r} has no unit (s, m, h, ms)")
    return total


def build_parser(prog: str) -> argparse.ArgumentParser:
    """``<prog> run [flags]``."""
    parser = argparse.ArgumentParser(prog=prog, description="Run the Rollouts controller.")
    sub = parser.add_subparsers(dest="action", required=True)
    add_run_arguments(sub.add_parser("run", help="run the controller until interrupted"))
    return parser


def options_from(args: argparse.Namespace) -> ControllerOptions:
    """The :class:`ControllerOptions` of parsed ``run`` flags."""
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    if args.analysis_workers < 1:
        raise SystemExit("--analysis-workers must be at least 1")
    lease, renew, retry = (
        args.leader_election_lease_duration,
        args.leader_election_renew_deadline,
        args.leader_election_retry_period,
    )
    if not 0 < retry < renew < lease:
        raise SystemExit(
            "leader election needs 0 < --leader-election-retry-period < --leader-election-renew-deadline"
            f" < --leader-election-lease-duration (got {retry:g}s, {renew:g}s, {lease:g}s)"
        )
    return ControllerOptions(
        lease_duration=lease,
        renew_deadline=renew,
        retry_period=retry,
        resync_period=args.rollout_resync or None,
        analysis_workers=args.analysis_workers,
        prometheus_address=args.prometheus_address,
        namespace=args.namespace or None,
        workers=args.workers,
        leader_elect=args.leader_elect,
        lease_namespace=args.leader_election_namespace or None,
        instance_id=args.instance_id,
    )


async def run_controller(args: argparse.Namespace) -> int:
    """Run until cancelled or a signal; 0 on a clean stop, 1 when leadership was lost."""
    config = load_config(args.kubeconfig, context=args.context)
    metrics = Metrics()
    server: MetricsServer | None = None
    if args.metrics_port:
        server = MetricsServer(metrics, args.metrics_port, args.metrics_address)
        server.start()
    try:
        async with ApiClient(config, on_request=metrics.api_request) as api:
            controller = Controller(api, options_from(args), metrics)
            task = asyncio.create_task(controller.run())
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, task.cancel)
            try:
                await task
            except asyncio.CancelledError:
                log.info("action=stop reason=signal")
                return 0
            except LeadershipLostError as e:
                log.error("action=stop reason=%r", str(e))
                return 1
            return 0
    finally:
        # closed TLS connections finish closing on the loop: give them a moment before it ends
        await asyncio.sleep(0.25)
        if server is not None:
            server.stop()


def main(argv: list[str], prog: str = "rollouts controller") -> int:
    """Entry point of ``rollouts controller ...`` and ``python -m controller ...``."""
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    try:
        return asyncio.run(run_controller(args))
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
