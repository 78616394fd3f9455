"""``python -m controller.demo SCENARIO ...``: what ``invoke demo`` and ``just demo`` run."""

import sys

from controller.demo.cli import main

sys.exit(main())
