"""``localcluster`` lifecycle commands (also ``rollouts cluster ...``): up, down, status, kubeconfig, serve."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localcluster import prometheus
from localcluster.pki import Pki
from localcluster.server import (
    AlreadyRunningError,
    StatePaths,
    default_state_dir,
    read_server_info,
    serve,
)


class CliError(Exception):
    """A problem the user can act on; printed as one line, exit code 1."""


def _pid_alive(pid: int, state_dir: Path | None = None) -> bool:
    """True while ``pid`` is a running localcluster server (not gone, not a zombie, not reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    return _is_localcluster(pid, state_dir)


def _is_localcluster(pid: int, state_dir: Path | None = None) -> bool:
    """Guard against a recycled PID: the process must be a localcluster server of this state dir."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the PID
    if not (b"localcluster" in b" ".join(cmdline) and b"serve" in cmdline):
        return False
    if state_dir is None or b"--state-dir" not in cmdline:
        return True
    given = cmdline[cmdline.index(b"--state-dir") + 1 : cmdline.index(b"--state-dir") + 2]
    return bool(given) and Path(os.fsdecode(given[0])).resolve() == state_dir.resolve()


def _ready(url: str, paths: StatePaths, timeout: float = 1.0) -> bool:
    try:
        context = Pki.in_dir(paths.root).client_context()
        with urllib.request.urlopen(f"{url}/readyz", timeout=timeout, context=context) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def running(paths: StatePaths) -> dict[str, Any] | None:
    """The running server's info, or None."""
    info = read_server_info(paths)
    if not info or not isinstance(info.get("pid"), int) or not _pid_alive(info["pid"], paths.root):
        return None
    return info


def count_objects(paths: StatePaths) -> dict[str, int]:
    """Objects per resource in the state directory (read-only; works whether or not it runs)."""
    if not paths.db.exists():
        return {}
    db = sqlite3.connect(f"file:{paths.db}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT resource, COUNT(*) FROM objects GROUP BY resource").fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()
    return {str(r): int(n) for r, n in rows}


def cmd_up(args: argparse.Namespace) -> int:
    paths = StatePaths(args.state_dir)
    info = running(paths)
    if info is not None:
        print(f"localcluster is already running at {info['url']} (pid {info['pid']})")
        print(f"kubeconfig: {paths.kubeconfig}")
        return 0
    if args.foreground:
        return cmd_serve(args)
    if not args.state_dir.exists():
        args.state_dir.mkdir(parents=True, mode=0o700)
    # Absolute, so `down` and `status` recognise the server from any working directory.
    command = [sys.executable, "-m", "localcluster", "serve", "--state-dir", str(args.state_dir.resolve())]
    if args.port is not None:
        command += ["--port", str(args.port)]
    if args.ingress_port is not None:
        command += ["--ingress-port", str(args.ingress_port)]
    with open(paths.log, "ab") as log_file:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CliError(
                f"localcluster exited with code {proc.returncode} while starting: {_log_tail(paths)}"
            )
        info = read_server_info(paths)
        if info and info.get("pid") == proc.pid and _ready(str(info["url"]), paths):
            print(f"localcluster is running at {info['url']} (pid {proc.pid})")
            if info.get("ingressUrl"):
                print(f"ingress (class nginx): {info['ingressUrl']}")
            print(f"kubeconfig: {paths.kubeconfig}")
            print(f"  export KUBECONFIG={paths.kubeconfig}")
            return 0
        time.sleep(0.05)
    proc.terminate()
    raise CliError(f"localcluster did not become ready within {args.timeout:g}s: {_log_tail(paths)}")


def _log_tail(paths: StatePaths) -> str:
    try:
        lines = paths.log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-5:]) or "(empty log)"


def cmd_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(args.state_dir, port=args.port, ingress_port=args.ingress_port))
    except AlreadyRunningError as e:
        raise CliError(str(e)) from e
    except OSError as e:
        raise CliError(f"localcluster could not start: {e}") from e
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    paths = StatePaths(args.state_dir)
    prom_stopped = prometheus.stop(prometheus.PrometheusPaths.in_state_dir(paths.root), timeout=args.timeout)
    if prom_stopped is not None:
        print(f"prometheus stopped too (pid {prom_stopped[0]})")
    info = running(paths)
    if info is None:
        print("localcluster is not running")
        return 0
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid, paths.root):
            print(f"localcluster stopped (pid {pid}); its state stays in {paths.root}")
            return 0
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    print(f"localcluster did not stop within {args.timeout:g}s and was killed (pid {pid})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    paths = StatePaths(args.state_dir)
    info = running(paths)
    counts = count_objects(paths)
    status: dict[str, Any] = {
        "running": info is not None,
        "stateDir": str(paths.root),
        "objects": sum(counts.values()),
        "objectsByResource": counts,
    }
    if info is not None:
        status.update(
            url=info["url"],
            pid=info["pid"],
            started=info.get("started"),
            ready=_ready(str(info["url"]), paths),
            kubeconfig=str(paths.kubeconfig),
            ingressUrl=info.get("ingressUrl"),
            ingressPort=info.get("ingressPort"),
        )
    if args.output == "json":
        print(json.dumps(status, indent=2))
    elif info is None:
        print(f"localcluster is not running (state {paths.root}, {status['objects']} objects stored)")
    else:
        print(f"localcluster is running at {info['url']} (pid {info['pid']}, since {info.get('started')})")
        print(f"state: {paths.root}")
        if info.get("ingressUrl"):
            print(f"ingress (class nginx): {info['ingressUrl']}")
        print(f"objects: {status['objects']}")
        for resource, n in sorted(counts.items()):
            print(f"  {resource.lstrip('/') or resource}: {n}")
        print(f"kubeconfig: {paths.kubeconfig}")
    return 0 if info is not None else 3


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    paths = StatePaths(args.state_dir)
    if not paths.kubeconfig.exists():
        raise CliError(f"no kubeconfig in {paths.root}: run `rollouts cluster up` first")
    if args.path:
        print(paths.kubeconfig)
    else:
        sys.stdout.write(paths.kubeconfig.read_text())
    return 0


def cmd_prometheus_up(args: argparse.Namespace) -> int:
    paths = StatePaths(args.state_dir)
    try:
        interval = prometheus.parse_duration(args.scrape_interval)
        binary = prometheus.ensure_binary(args.binary, allow_install=prometheus.install_allowed(args.install))
    except prometheus.PrometheusError as e:
        raise CliError(str(e)) from e
    info = running(paths)
    if info is None:
        raise CliError(
            f"localcluster is not running (state {paths.root}): start it with `rollouts cluster up` first"
        )
    prom_paths = prometheus.PrometheusPaths.in_state_dir(paths.root)
    cfg = prometheus.config(
        cluster_url=str(info["url"]),
        token_file=paths.token.resolve(),
        ca_file=Pki.in_dir(paths.root).ca_cert.resolve(),
        scrape_interval_s=interval,
        namespace=args.namespace,
    )
    settings = {
        "scrapeInterval": prometheus.format_duration(interval),
        "namespace": args.namespace,
        "clusterUrl": info["url"],
    }
    try:
        started = prometheus.start(
            prom_paths,
            binary=binary,
            config_yaml=prometheus.config_text(cfg),
            port=args.port,
            timeout=args.timeout,
            settings=settings,
        )
    except prometheus.PrometheusError as e:
        raise CliError(str(e)) from e
    url, pid = started["url"], started["pid"]
    if started["alreadyRunning"]:
        note = ", config reloaded" if started.get("configReloaded") else ""
        print(f"prometheus is already running at {url} (pid {pid}{note})")
        if args.port and args.port != started["port"]:
            print(f"note: --port {args.port} ignored; run `prometheus down` first to move it")
    else:
        print(f"prometheus is running at {url} (pid {pid}), scraping every {settings['scrapeInterval']}")
    print(f"config: {prom_paths.config}")
    print(f"  export PROMETHEUS_URL={url}")
    return 0


def cmd_prometheus_down(args: argparse.Namespace) -> int:
    prom_paths = prometheus.PrometheusPaths.in_state_dir(StatePaths(args.state_dir).root)
    stopped = prometheus.stop(prom_paths, timeout=args.timeout)
    if stopped is None:
        print("prometheus is not running")
    elif stopped[1]:
        print(f"prometheus stopped (pid {stopped[0]}); its data stays in {prom_paths.data}")
    else:
        print(f"prometheus did not stop within {args.timeout:g}s and was killed (pid {stopped[0]})")
    return 0


def cmd_prometheus_status(args: argparse.Namespace) -> int:
    prom_paths = prometheus.PrometheusPaths.in_state_dir(StatePaths(args.state_dir).root)
    info = prometheus.running(prom_paths)
    status: dict[str, Any] = {"running": info is not None, "dir": str(prom_paths.root)}
    if info is not None:
        url = str(info["url"])
        status.update(
            url=url,
            pid=info["pid"],
            started=info.get("started"),
            ready=prometheus.ready(url),
            scrapeInterval=info.get("scrapeInterval"),
            namespace=info.get("namespace"),
            config=info.get("config"),
            targets=prometheus.targets_summary(url),
        )
    if args.output == "json":
        print(json.dumps(status, indent=2))
    elif info is None:
        print(f"prometheus is not running ({prom_paths.root})")
    else:
        print(f"prometheus is running at {status['url']} (pid {status['pid']}, since {status['started']})")
        print(f"ready: {'yes' if status['ready'] else 'no'}; scraping every {status['scrapeInterval']}")
        targets = status["targets"] or {}
        shown = ", ".join(f"{n} {health}" for health, n in sorted(targets.items())) or "none yet"
        print(f"targets: {shown}")
        print(f"config: {status['config']}")
    return 0 if info is not None else 3


def parser(prog: str = "localcluster") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="An embedded Kubernetes-compatible cluster on 127.0.0.1."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        default=default_state_dir(),
        help="where the cluster keeps its objects, token and kubeconfig (default: %(default)s)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="start the cluster (in the background)")
    up.add_argument(
        "--port", type=int, default=None, help="port on 127.0.0.1 (default: the last one, or any free)"
    )
    up.add_argument(
        "--ingress-port",
        type=int,
        default=None,
        help="port on 127.0.0.1 for Ingress traffic (class nginx; default: the last one, or any free)",
    )
    up.add_argument("--foreground", action="store_true", help="run in the foreground until Ctrl-C")
    up.add_argument("--timeout", type=float, default=30.0, help="seconds to wait until it is ready")
    up.add_argument("-v", "--verbose", action="store_true", help="log every request (with --foreground)")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", parents=[common], help="stop the cluster; its state is kept")
    down.add_argument("--timeout", type=float, default=10.0, help="seconds to wait before killing it")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", parents=[common], help="whether it runs, where, and what it holds")
    status.add_argument("-o", "--output", choices=["text", "json"], default="text")
    status.set_defaults(func=cmd_status)
    kc = sub.add_parser("kubeconfig", parents=[common], help="print the kubeconfig (or its path)")
    kc.add_argument("--path", action="store_true", help="print the file's path instead of its content")
    kc.set_defaults(func=cmd_kubeconfig)
    _prometheus_parser(sub, common)
    srv = sub.add_parser("serve", parents=[common], help="run the server in the foreground")
    srv.add_argument("--port", type=int, default=None)
    srv.add_argument("--ingress-port", type=int, default=None)
    srv.add_argument("-v", "--verbose", action="store_true")
    srv.set_defaults(func=cmd_serve)
    return p


def _prometheus_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    prom = sub.add_parser(
        "prometheus", help="a real Prometheus server scraping the cluster's pods (up, down, status)"
    )
    psub = prom.add_subparsers(dest="prometheus_command", required=True)
    up = psub.add_parser(
        "up", parents=[common], help="start Prometheus (in the background); it needs a running cluster"
    )
    up.add_argument(
        "--port", type=int, default=None, help="port on 127.0.0.1 (default: the last one, or any free)"
    )
    up.add_argument(
        "--scrape-interval",
        default=prometheus.format_duration(prometheus.DEFAULT_SCRAPE_INTERVAL_S),
        help="how often to scrape each pod, e.g. 2s, 500ms, 1m (default: %(default)s)",
    )
    up.add_argument("--namespace", default=None, help="scrape only this namespace's pods (default: all)")
    up.add_argument(
        "--install",
        action="store_true",
        help="install the Debian package with apt-get when the binary is missing (as root; CI=true does too)",
    )
    up.add_argument(
        "--binary",
        default=prometheus.DEFAULT_BINARY,
        help="the prometheus binary (default: %(default)s on PATH)",
    )
    up.add_argument("--timeout", type=float, default=30.0, help="seconds to wait until it is ready")
    up.set_defaults(func=cmd_prometheus_up)
    down = psub.add_parser("down", parents=[common], help="stop Prometheus by its PID; its data is kept")
    down.add_argument("--timeout", type=float, default=10.0, help="seconds to wait before killing it")
    down.set_defaults(func=cmd_prometheus_down)
    status = psub.add_parser(
        "status", parents=[common], help="whether Prometheus runs, where, and its targets"
    )
    status.add_argument("-o", "--output", choices=["text", "json"], default="text")
    status.set_defaults(func=cmd_prometheus_status)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parser(prog or os.environ.get("LOCALCLUSTER_PROG", "localcluster")).parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
