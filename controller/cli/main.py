"""The ``rollouts`` command (also installed as ``kubectl-rollouts``)."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("rollouts")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def _cluster(argv: list[str]) -> int:
    """``rollouts cluster ...`` runs localcluster's own CLI in its place.

    localcluster and the controller meet only over HTTP and processes, never imports, so this
    hands over to ``python -m localcluster``.
    """
    command = [sys.executable, "-m", "localcluster", *argv]
    os.environ["LOCALCLUSTER_PROG"] = "rollouts cluster"
    os.execv(sys.executable, command)
    return 0  # pragma: no cover - execv does not return


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    prog = "kubectl rollouts" if os.path.basename(sys.argv[0]).startswith("kubectl-") else "rollouts"
    if args and args[0] == "cluster":
        if len(args) == 1 or args[1] in ("-h", "--help"):
            args = [*args[:1], "--help"]
        return _cluster(args[1:])
    if args and args[0] == "load-test":
        # Imported here so that other commands do not pay for aiohttp and rich.
        from controller.loadtest.command import main as load_test

        return load_test(args[1:], prog=f"{prog} load-test")
    if args and args[0] == "controller":
        # Imported here so that other commands do not pay for the controller runtime.
        from controller.runtime.cli import main as controller_main

        return controller_main(args[1:], prog=f"{prog} controller")
    parser = argparse.ArgumentParser(prog=prog, description="Progressive delivery for Kubernetes.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("cluster", help="manage localcluster: up, down, status, kubeconfig")
    sub.add_parser("controller", help="run the Rollouts controller: controller run [--namespace NS] ...")
    sub.add_parser("load-test", help="send HTTP load to a URL or Service; show the share per version")
    sub.add_parser("version", help="print the version")
    parsed = parser.parse_args(args)
    if parsed.command == "version":
        print(f"{prog}: v{_version()}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
