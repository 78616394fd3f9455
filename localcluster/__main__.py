"""``python -m localcluster``: the cluster's lifecycle commands."""

import sys

from localcluster.cli import main

sys.exit(main())
