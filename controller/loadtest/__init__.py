"""``rollouts load-test``: steady HTTP load against a URL or a Service, with per-version shares.

For the demos and tests: :func:`run_load_test` (or :class:`LoadTest` for more control) sends
the load and returns a :class:`Summary`; :func:`summarize` builds one from recorded
:class:`Result` objects without any I/O; :func:`resolve_service` turns a Service into a URL.
"""

from controller.loadtest.duration import format_duration, parse_duration
from controller.loadtest.run import LoadTest, run_load_test
from controller.loadtest.summary import Result, Summary, VersionShare, label_body, percentile, summarize
from controller.loadtest.target import TargetError, resolve_service, service_addresses

__all__ = [
    "LoadTest",
    "Result",
    "Summary",
    "TargetError",
    "VersionShare",
    "format_duration",
    "label_body",
    "parse_duration",
    "percentile",
    "resolve_service",
    "run_load_test",
    "service_addresses",
    "summarize",
]
