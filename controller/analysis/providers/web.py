"""The ``web`` provider: an HTTP request whose JSON answer (or a part of it) is the result.

Fields (metricproviders/webmetric): ``method`` (GET, POST or PUT; default GET), ``url``,
``headers: [{key, value}]``, ``body`` (a string) or ``jsonBody`` (an object, sent as JSON with
``Content-Type: application/json``; neither with GET), ``timeoutSeconds`` (default 10),
``jsonPath`` (Kubernetes JSONPath, default ``{$}``: the whole document), ``insecure``, and
``authentication.oauth2`` (client credentials).

A non-2xx answer is an Error. A JSON answer is decoded (numbers as floats, as Go does), the
first value ``jsonPath`` selects is ``result`` and is evaluated against the conditions; the
measurement's value is that value as JSON. As in Argo, an answer that is not JSON is Successful
with the raw text as its value, whatever the conditions say.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from controller.analysis.conditions import evaluate_result
from controller.analysis.goformat import json_go
from controller.analysis.jsonpath import JsonPathError, find, parse
from controller.analysis.providers.base import Clock, ImmediateProvider, MetricContext, mark_error, utcnow
from controller.analysis.providers.common import AuthError, header_map, is_url, oauth2_token
from controller.analysis.status import SUCCESSFUL, Measurement
from controller.kube.http import HttpClient, HttpFailure

DEFAULT_TIMEOUT: Final = 10.0
METHODS: Final = ("GET", "POST", "PUT")


class WebProvider(ImmediateProvider):
    """Measures with one HTTP request."""

    kind = "Web"

    def __init__(self, http: HttpClient, *, clock: Clock = utcnow) -> None:
        super().__init__(clock)
        self.http = http

    async def run(self, ctx: MetricContext) -> Measurement:
        started = self.clock()
        measurement = Measurement(phase="Running", started_at=started)
        config = ctx.provider_config("web")
        method = str(config.get("method") or "GET").upper()
        url = str(config.get("url") or "")
        body = config.get("body")
        json_body = config.get("jsonBody")
        if method not in METHODS:
            return mark_error(
                measurement, f"web method {method} is not supported (use GET, POST or PUT)", started
            )
        if not is_url(url):
            return mark_error(measurement, f"web url {url!r} is not a URL", started)
        if body and json_body is not None:
            return mark_error(
                measurement, "use either Body or JSONBody; both cannot exists for WebMetric payload", started
            )
        if (body or json_body is not None) and method == "GET":
            return mark_error(
                measurement, "Body/JSONBody can only be used with POST or PUT WebMetric Method types", started
            )
        json_path = str(config.get("jsonPath") or "{$}")
        try:
            parse(json_path)
        except JsonPathError as e:
            return mark_error(measurement, f"jsonPath: {e}", started)
        timeout = config.get("timeoutSeconds")
        seconds = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else DEFAULT_TIMEOUT
        insecure = config.get("insecure") is True
        bearer: str | None = None
        auth = config.get("authentication")
        if (
            isinstance(auth, Mapping)
            and isinstance(auth.get("oauth2"), Mapping)
            and auth["oauth2"].get("tokenUrl")
        ):
            try:
                bearer = await oauth2_token(
                    self.http, auth["oauth2"], timeout_seconds=seconds, insecure=insecure
                )
            except AuthError as e:
                return mark_error(measurement, str(e), self.clock())
        answer = await self.http.request(
            method,
            url,
            headers=header_map(config.get("headers")),
            body=str(body) if body else None,
            json_body=json_body,
            timeout_seconds=seconds,
            insecure=insecure,
            bearer_token=bearer,
        )
        if isinstance(answer, HttpFailure):
            return mark_error(measurement, answer.message, self.clock())
        if not answer.ok:
            return mark_error(measurement, f"received non 2xx response code: {answer.status}", self.clock())
        text = answer.text()
        try:
            document: Any = json.loads(text, parse_int=float)
        except ValueError:
            return Measurement(phase=SUCCESSFUL, started_at=started, finished_at=self.clock(), value=text)
        try:
            values = find(json_path, document)
        except JsonPathError as e:
            return mark_error(measurement, f"Could not find JSONPath in body: {e}", self.clock())
        if not values:
            return mark_error(measurement, "result of web metric produced no value", self.clock())
        result = values[0]
        phase, message = evaluate_result(result, ctx.metric.success_condition, ctx.metric.failure_condition)
        finished = self.clock()
        if message:
            return mark_error(measurement, message, finished)
        return Measurement(phase=phase, started_at=started, finished_at=finished, value=json_go(result))
