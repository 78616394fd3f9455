"""The ``prometheus`` provider: a PromQL query over Prometheus' HTTP API.

Fields (metricproviders/prometheus): ``address`` (else the controller's default, from
``--prometheus-address`` or ``$ARGO_ROLLOUTS_PROMETHEUS_ADDRESS``/``$ROLLOUTS_PROMETHEUS_ADDRESS``),
``query``, ``timeout`` (seconds, default 30), ``insecure``, ``headers: [{key, value}]``,
``authentication`` (``basicAuth: {username, password}`` or ``oauth2: {tokenUrl, clientId,
clientSecret, scopes}``; ``sigv4`` is not supported here), and ``rangeQuery: {start, end, step}``
whose bounds are expressions such as ``now() - duration("10m")``.

An instant query goes to ``/api/v1/query`` (``time`` = now), a range query to
``/api/v1/query_range``, both as form POSTs. ``result`` is a float for a scalar answer and a
list of floats for a vector (one per series) or a matrix (every sample of every series, in
order), so conditions read ``result[0]``. The measurement's value prints as Argo's does
(``0.95``, ``[0.99,1]``, ``NaN``); Prometheus warnings go to its metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from controller.analysis.conditions import evaluate_result
from controller.analysis.expr import ExprError, evaluate_time
from controller.analysis.goformat import format_float_f
from controller.analysis.providers.base import Clock, ImmediateProvider, MetricContext, mark_error, utcnow
from controller.analysis.providers.common import AuthError, header_map, is_url, oauth2_token
from controller.analysis.status import Measurement
from controller.api.analysis import Metric
from controller.api.values import DurationError, parse_go_duration
from controller.kube.http import HttpClient, HttpFailure

ADDRESS_ENV: Final = ("ARGO_ROLLOUTS_PROMETHEUS_ADDRESS", "ROLLOUTS_PROMETHEUS_ADDRESS")
RESOLVED_QUERY: Final = "ResolvedPrometheusQuery"
DEFAULT_TIMEOUT: Final = 30.0


def default_address(env: Mapping[str, str] | None = None) -> str:
    """The Prometheus address from the environment ('' when unset)."""
    env = os.environ if env is None else env
    return next((env[k] for k in ADDRESS_ENV if env.get(k)), "")


class QueryError(Exception):
    """The query could not be made or answered."""


def _float(sample: Any) -> float:
    """A ``[timestamp, "value"]`` pair's value."""
    if not isinstance(sample, list) or len(sample) != 2:
        raise QueryError("Prometheus answered a sample that is not [time, value]")
    try:
        return float(sample[1])
    except (TypeError, ValueError):
        raise QueryError(f"Prometheus answered a sample value that is not a number: {sample[1]!r}") from None


def parse_result(data: Mapping[str, Any]) -> tuple[float | list[float], str]:
    """``(result, value text)`` of the ``data`` of a successful API answer."""
    kind = data.get("resultType")
    raw = data.get("result")
    if kind == "scalar":
        value = _float(raw)
        return value, format_float_f(value)
    if kind == "vector" and isinstance(raw, list):
        values = [_float(s.get("value")) for s in raw if isinstance(s, Mapping)]
    elif kind == "matrix" and isinstance(raw, list):
        values = [_float(p) for s in raw if isinstance(s, Mapping) for p in s.get("values") or ()]
    else:
        raise QueryError("Prometheus metric type not supported")
    return values, "[" + ",".join(format_float_f(v) for v in values) + "]"


class PrometheusProvider(ImmediateProvider):
    """Measures with a PromQL query."""

    kind = "Prometheus"

    def __init__(self, http: HttpClient, *, address: str = "", clock: Clock = utcnow) -> None:
        super().__init__(clock)
        self.http = http
        self.address = address

    def metadata(self, metric: Metric) -> dict[str, str]:
        query = (metric.provider.get("prometheus") or {}).get("query")
        return {RESOLVED_QUERY: str(query)} if query else {}

    async def run(self, ctx: MetricContext) -> Measurement:
        started = self.clock()
        measurement = Measurement(phase="Running", started_at=started)
        try:
            result, value, warnings = await self._query(ctx.provider_config("prometheus"), started)
        except (QueryError, AuthError) as e:
            return mark_error(measurement, str(e), self.clock())
        phase, message = evaluate_result(result, ctx.metric.success_condition, ctx.metric.failure_condition)
        finished = self.clock()
        if message:
            return mark_error(measurement, message, finished)
        metadata = {"warnings": ", ".join(f'"{w}"' for w in warnings)} if warnings else {}
        return Measurement(
            phase=phase, started_at=started, finished_at=finished, value=value, metadata=metadata
        )

    async def _query(
        self, config: Mapping[str, Any], now: datetime
    ) -> tuple[float | list[float], str, list[str]]:
        address = str(config.get("address") or "") or self.address or default_address()
        if not address:
            raise QueryError("prometheus address is not configured")
        if not is_url(address):
            raise QueryError(f"prometheus address {address!r} is not a URL")
        timeout = config.get("timeout")
        if timeout is not None and (not isinstance(timeout, int | float) or timeout < 0):
            raise QueryError("prometheus timeout should not be negative")
        seconds = float(timeout) if timeout else DEFAULT_TIMEOUT
        insecure = config.get("insecure") is True
        headers = header_map(config.get("headers"))
        basic: tuple[str, str] | None = None
        bearer: str | None = None
        auth = config.get("authentication")
        if isinstance(auth, Mapping):
            if isinstance(auth.get("basicAuth"), Mapping):
                b = auth["basicAuth"]
                basic = (str(b.get("username") or ""), str(b.get("password") or ""))
            elif isinstance(auth.get("oauth2"), Mapping) and auth["oauth2"].get("tokenUrl"):
                bearer = await oauth2_token(
                    self.http, auth["oauth2"], timeout_seconds=seconds, insecure=insecure
                )
            elif isinstance(auth.get("sigv4"), Mapping) and auth["sigv4"]:
                raise QueryError("prometheus authentication.sigv4 is not supported by this controller")
        query = str(config.get("query") or "")
        form = {"query": query}
        range_query = config.get("rangeQuery")
        if isinstance(range_query, Mapping):
            path = "/api/v1/query_range"
            try:
                start = evaluate_time(str(range_query.get("start") or "now()"), now)
                end = evaluate_time(str(range_query.get("end") or "now()"), now)
                step = parse_go_duration(str(range_query.get("step") or ""))
            except ExprError as e:
                raise QueryError(f"rangeQuery: {e}") from None
            except DurationError as e:
                raise QueryError(f"rangeQuery.step: {e}") from None
            form.update(start=f"{start.timestamp():.3f}", end=f"{end.timestamp():.3f}", step=f"{step:g}")
        else:
            path = "/api/v1/query"
            form["time"] = f"{now.timestamp():.3f}"
        url = address.rstrip("/") + path
        answer = await self.http.request(
            "POST",
            url,
            form=form,
            headers=headers,
            timeout_seconds=seconds,
            insecure=insecure,
            basic_auth=basic,
            bearer_token=bearer,
        )
        if isinstance(answer, HttpFailure):
            raise QueryError(answer.message)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping):
            raise QueryError(
                f"server returned HTTP status {answer.status} from {url} with a body that is not JSON"
            )
        if body.get("status") != "success":
            raise QueryError(
                f"{body.get('errorType') or 'error'}: {body.get('error') or f'HTTP {answer.status}'}"
            )
        data = body.get("data")
        if not isinstance(data, Mapping):
            raise QueryError("Prometheus answered success without data")
        result, value = parse_result(data)
        warnings = [str(w) for w in body.get("warnings") or () if w]
        return result, value, warnings
