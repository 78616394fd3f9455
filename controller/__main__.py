"""``python -m controller [run] [flags]``: run the controller (the ``rollouts-controller`` image's command)."""

from __future__ import annotations

import sys

from controller.runtime.cli import main


def _main(argv: list[str]) -> int:
    # ``python -m controller --namespace x`` means ``run --namespace x``
    if not argv or argv[0] not in ("run", "-h", "--help"):
        argv = ["run", *argv]
    return main(argv, prog="python -m controller")


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
