"""The ``rollouts`` command (also installed as ``kubectl-rollouts``, so ``kubectl rollouts ...`` works).

``cluster`` and ``prometheus`` hand over to ``python -m localcluster`` (a process boundary, not
an import: localcluster and the controller meet only over HTTP); ``controller`` and
``load-test`` have parsers of their own; every other verb is in :mod:`controller.cli.app`.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("rollouts")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def _localcluster(argv: list[str], prog: str) -> int:
    """Run localcluster's own CLI in this process's place, with ``prog`` as its name."""
    command = [sys.executable, "-m", "localcluster", *argv]
    os.environ["LOCALCLUSTER_PROG"] = prog
    os.execv(sys.executable, command)
    return 0  # pragma: no cover - execv does not return


def _cluster(argv: list[str]) -> int:
    """``rollouts cluster ...`` runs ``python -m localcluster ...``."""
    return _localcluster(argv, "rollouts cluster")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    prog = "kubectl rollouts" if os.path.basename(sys.argv[0]).startswith("kubectl-") else "rollouts"
    if args and args[0] == "cluster":
        if len(args) == 1 or args[1] in ("-h", "--help"):
            args = [*args[:1], "--help"]
        return _cluster(args[1:])
    if args and args[0] == "prometheus":
        # ``rollouts prometheus ...`` is ``python -m localcluster prometheus ...``
        return _localcluster(args, prog)
    if args and args[0] == "load-test":
        # Imported here so that other commands do not pay for aiohttp and rich.
        from controller.loadtest.command import main as load_test

        return load_test(args[1:], prog=f"{prog} load-test")
    if args and args[0] == "controller":
        # Imported here so that other commands do not pay for the controller runtime.
        from controller.runtime.cli import main as controller_main

        return controller_main(args[1:], prog=f"{prog} controller")
    from controller.cli.app import run

    return run(args, prog)


if __name__ == "__main__":
    sys.exit(main())
