"""The metric providers over real HTTP and a real cluster.

- web: against a local aiohttp server on an ephemeral port, whose answers the tests set;
- prometheus: against a tiny local server speaking Prometheus' HTTP API (``/api/v1/query``,
  ``/api/v1/query_range``, form POSTs, the JSON envelope); the real Prometheus comes elsewhere;
- job: against the session's localcluster, whose kubelet runs the Job's command as a process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from controller.analysis.providers import MetricContext, PrometheusProvider, RunRef, WebProvider
from controller.analysis.providers.job import JobProvider
from controller.analysis.status import Measurement
from controller.api.analysis import Metric
from controller.api.crds import crd_manifests
from controller.api.problems import Reader
from controller.kube import ApiClient, Conflict, NotFound, load_kubeconfig, resource_path
from controller.kube.http import HttpClient
from tests.conftest import Cluster

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serve(routes: dict[str, Handler]) -> AsyncIterator[str]:
    """A local HTTP server on an ephemeral port; yields its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def metric(provider: str, config: dict[str, Any], **fields: Any) -> MetricContext:
    raw = {"name": "m", "provider": {provider: config}, **fields}
    return MetricContext(RunRef("run", "ns", "uid-1"), Metric.read(Reader(), raw, "m"))


# -- web ---------------------------------------------------------------------------------------------


async def _web_cases() -> None:
    answer: dict[str, Any] = {"status": 200, "body": {"data": {"ok": True, "rate": 0.97}}}
    seen: list[dict[str, Any]] = []

    async def metrics(request: web.Request) -> web.StreamResponse:
        seen.append(
            {
                "method": request.method,
                "auth": request.headers.get("Authorization"),
                "type": request.headers.get("Content-Type"),
                "body": await request.text(),
            }
        )
        body = answer["body"]
        if isinstance(body, str):
            return web.Response(status=answer["status"], text=body)
        return web.json_response(body, status=answer["status"])

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return web.json_response(True)

    async def token(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        ok = form.get("grant_type") == "client_credentials" and form.get("client_secret") == "shh"
        return web.json_response({"access_token": "tok-1"} if ok else {}, status=200 if ok else 401)

    async with serve({"/metrics": metrics, "/slow": slow, "/token": token}) as base, HttpClient() as http:
        web_provider = WebProvider(http)
        url = f"{base}/metrics"
        ok = metric(
            "web",
            {
                "url": url,
                "jsonPath": "{$.data.ok}",
                "headers": [{"key": "Authorization", "value": "Bearer abc"}],
            },
            successCondition="result == true",
        )
        m = await web_provider.run(ok)
        assert (m.phase, m.value, m.message) == ("Successful", "true", "")
        assert m.started_at is not None and m.finished_at is not None
        assert seen[-1]["auth"] == "Bearer abc" and seen[-1]["method"] == "GET"

        answer["body"] = {"data": {"ok": False, "rate": 0.5}}
        m = await web_provider.run(ok)
        assert (m.phase, m.value) == ("Failed", "false")

        rate = metric(
            "web",
            {"url": url, "jsonPath": "{$.data}"},
            successCondition="result.rate >= 0.9",
            failureCondition="result.rate < 0.3",
        )
        m = await web_provider.run(rate)
        assert (m.phase, m.value) == ("Inconclusive", '{"ok":false,"rate":0.5}')

        whole = metric("web", {"url": url}, successCondition="result.data.rate < 0.9")
        assert (await web_provider.run(whole)).phase == "Successful"  # default jsonPath {$}

        answer["status"] = 500
        m = await web_provider.run(ok)
        assert (m.phase, m.message) == ("Error", "received non 2xx response code: 500")

        answer.update(status=200, body="plain text")
        m = await web_provider.run(ok)
        assert (m.phase, m.value) == ("Successful", "plain text")  # as Argo: not JSON, no evaluation

        answer["body"] = {"data": {}}
        m = await web_provider.run(ok)
        assert m.phase == "Error" and m.message == "Could not find JSONPath in body: ok is not found"

        answer["body"] = {"data": {"ok": 1.0}}
        m = await web_provider.run(
            metric("web", {"url": url, "jsonPath": "{$.data.ok}"}, successCondition="result >")
        )
        assert m.phase == "Error" and "unexpected end of expression" in m.message

        post = metric(
            "web",
            {"url": url, "method": "POST", "jsonBody": {"q": "x"}, "jsonPath": "{$.data.ok}"},
            successCondition="result == 1",
        )
        m = await web_provider.run(post)
        assert m.phase == "Successful"
        assert seen[-1] == {"method": "POST", "auth": None, "type": "application/json", "body": '{"q": "x"}'}

        bad_get = metric("web", {"url": url, "body": "x"})
        m = await web_provider.run(bad_get)
        assert m.phase == "Error" and "only be used with POST or PUT" in m.message
        both = metric("web", {"url": url, "method": "PUT", "body": "x", "jsonBody": {}})
        assert "use either Body or JSONBody" in (await web_provider.run(both)).message

        started = time.monotonic()
        m = await web_provider.run(metric("web", {"url": f"{base}/slow", "timeoutSeconds": 1}))
        assert m.phase == "Error" and "timeout" in m.message
        assert time.monotonic() - started < 1.4

        m = await web_provider.run(metric("web", {"url": "http://127.0.0.1:1/nothing"}))
        assert m.phase == "Error" and m.message.startswith("GET http://127.0.0.1:1/nothing: ")

        oauth = metric(
            "web",
            {
                "url": url,
                "jsonPath": "{$.data.ok}",
                "authentication": {
                    "oauth2": {"tokenUrl": f"{base}/token", "clientId": "c", "clientSecret": "shh"}
                },
            },
        )
        assert (await web_provider.run(oauth)).phase == "Successful"
        assert seen[-1]["auth"] == "Bearer tok-1"


def test_web_provider() -> None:
    asyncio.run(asyncio.wait_for(_web_cases(), 30))


# -- prometheus -----------------------------------------------------------------------------------------


def _vector(*values: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"i": str(i)}, "value": [1.7e9, v]} for i, v in enumerate(values)],
        },
    }


async def _prometheus_cases() -> None:
    answer: dict[str, Any] = {"body": _vector("0.99", "1"), "status": 200}
    seen: list[dict[str, Any]] = []

    async def api(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        seen.append(
            {
                "path": request.path,
                "form": dict(form),
                "auth": request.headers.get("Authorization"),
                "x": request.headers.get("X-Scope-OrgID"),
            }
        )
        return web.json_response(answer["body"], status=answer["status"])

    async with serve({"/api/v1/query": api, "/api/v1/query_range": api}) as base, HttpClient() as http:
        now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        prom = PrometheusProvider(http, clock=lambda: now)
        query = "sum(rate(http_requests_total{status!~'5.*'}[1m])) / sum(rate(http_requests_total[1m]))"
        ctx = metric(
            "prometheus",
            {"address": base, "query": query, "headers": [{"key": "X-Scope-OrgID", "value": "team-a"}]},
            successCondition="result[0] >= 0.95",
        )
        m = await prom.run(ctx)
        assert (m.phase, m.value) == ("Successful", "[0.99,1]")
        assert seen[-1]["path"] == "/api/v1/query"
        assert seen[-1]["form"] == {"query": query, "time": f"{now.timestamp():.3f}"}
        assert seen[-1]["x"] == "team-a"
        assert prom.metadata(ctx.metric) == {"ResolvedPrometheusQuery": query}

        answer["body"] = _vector("0.5")
        assert (await prom.run(ctx)).phase == "Failed"

        answer["body"] = _vector()
        m = await prom.run(ctx)
        assert (m.phase, m.value) == ("Error", "")
        assert m.message == "index out of range: 0 (array length is 0)"
        empty_ok = metric(
            "prometheus",
            {"address": base, "query": "q"},
            successCondition="len(result) == 0 || result[0] >= 0.95",
        )
        assert (await prom.run(empty_ok)).phase == "Successful"

        answer["body"] = {"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "NaN"]}}
        nan = metric(
            "prometheus", {"address": base, "query": "q"}, successCondition="isNaN(result) || result >= 0.95"
        )
        m = await prom.run(nan)
        assert (m.phase, m.value) == ("Successful", "NaN")

        answer["body"] = {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [
                    {"metric": {}, "values": [[1, "0.9"], [2, "0.95"]]},
                    {"metric": {}, "values": [[1, "1"]]},
                ],
            },
        }
        ranged = metric(
            "prometheus",
            {
                "address": base,
                "query": "q",
                "rangeQuery": {"start": 'now() - duration("10m")', "end": "now()", "step": "1m"},
            },
            successCondition="all(result, # >= 0.9)",
        )
        m = await prom.run(ranged)
        assert (m.phase, m.value) == ("Successful", "[0.9,0.95,1]")
        assert seen[-1]["path"] == "/api/v1/query_range"
        assert seen[-1]["form"]["start"] == f"{now.timestamp() - 600:.3f}"
        assert seen[-1]["form"]["end"] == f"{now.timestamp():.3f}" and seen[-1]["form"]["step"] == "60"

        answer.update(
            status=400,
            body={"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected "}"'},
        )
        m = await prom.run(ctx)
        assert (m.phase, m.message) == ("Error", 'bad_data: parse error: unexpected "}"')

        answer.update(
            status=200, body={"status": "success", "data": {"resultType": "string", "result": [1, "x"]}}
        )
        assert (await prom.run(ctx)).message == "Prometheus metric type not supported"

        answer["body"] = {**_vector("1"), "warnings": ["too many samples"]}
        m = await prom.run(ctx)
        assert m.phase == "Successful" and m.metadata == {"warnings": '"too many samples"'}

        basic = metric(
            "prometheus",
            {
                "address": base,
                "query": "q",
                "authentication": {"basicAuth": {"username": "u", "password": "p"}},
            },
        )
        await prom.run(basic)
        assert seen[-1]["auth"] == "Basic " + base64.b64encode(b"u:p").decode()

        defaulted = PrometheusProvider(http, address=base, clock=lambda: now)
        assert (await defaulted.run(metric("prometheus", {"query": "q"}))).phase == "Successful"
        m = await prom.run(metric("prometheus", {"address": "not a url", "query": "q"}))
        assert m.phase == "Error" and "is not a URL" in m.message
        m = await prom.run(metric("prometheus", {"address": base, "query": "q", "timeout": -1}))
        assert m.message == "prometheus timeout should not be negative"


def test_prometheus_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARGO_ROLLOUTS_PROMETHEUS_ADDRESS", raising=False)
    monkeypatch.delenv("ROLLOUTS_PROMETHEUS_ADDRESS", raising=False)
    asyncio.run(asyncio.wait_for(_prometheus_cases(), 30))


def test_prometheus_address_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        async def api(request: web.Request) -> web.StreamResponse:
            return web.json_response(_vector("1"))

        async with serve({"/api/v1/query": api}) as base, HttpClient() as http:
            monkeypatch.setenv("ARGO_ROLLOUTS_PROMETHEUS_ADDRESS", base)
            m = await PrometheusProvider(http).run(metric("prometheus", {"query": "up"}))
            assert m.phase == "Successful"
            monkeypatch.delenv("ARGO_ROLLOUTS_PROMETHEUS_ADDRESS")
            m = await PrometheusProvider(http).run(metric("prometheus", {"query": "up"}))
            assert m.message == "prometheus address is not configured"

    monkeypatch.delenv("ROLLOUTS_PROMETHEUS_ADDRESS", raising=False)
    asyncio.run(run())


# -- job ----------------------------------------------------------------------------------------------


def job_metric(script: str, name: str) -> Metric:
    """A Job running ``sh -c script``: localcluster's kubelet runs the rollouts-controller image's
    container as a real process, with the pod's command replacing the image's entrypoint."""
    raw = {
        "name": name,
        "provider": {
            "job": {
                "metadata": {"labels": {"team": "a"}},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "check",
                                    "image": "rollouts-controller:latest",
                                    "command": ["sh", "-c", script],
                                }
                            ],
                        }
                    },
                },
            }
        },
    }
    return Metric.read(Reader(), raw, name)


async def _until_done(provider: JobProvider, ctx: MetricContext, m: Measurement) -> Measurement:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = await provider.resume(ctx, m)
        if m.completed:
            return m
        await asyncio.sleep(0.2)
    raise AssertionError(f"the job of {ctx.metric.name} did not finish")


async def _owner_run(api: ApiClient, ns: str) -> RunRef:
    """An AnalysisRun for the Jobs to belong to (no controller runs it here)."""
    crds = resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions")
    for crd in crd_manifests():
        with contextlib.suppress(Conflict):
            await api.create(crds, crd)
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": "smoke", "namespace": ns},
        "spec": {"metrics": [{"name": "passes", "provider": {"job": {}}}]},
    }
    path = resource_path("argoproj.io/v1alpha1", "analysisruns", namespace=ns)
    deadline = time.monotonic() + 20
    while True:
        try:
            return RunRef.of(await api.create(path, body))
        except NotFound:  # the CRD is not served yet
            assert time.monotonic() < deadline, "the AnalysisRun CRD was not served"
            await asyncio.sleep(0.1)


async def _job_cases(cluster: Cluster, ns: str) -> None:
    config = load_kubeconfig(cluster.kubeconfig)
    async with ApiClient(config, timeout=10) as api:
        run = await _owner_run(api, ns)  # Jobs are owned by it: without it the cluster's GC deletes them
        provider = JobProvider(api)
        ok = MetricContext(run, job_metric("exit 0", "passes"))
        bad = MetricContext(run, job_metric("exit 3", "fails"))
        slow = MetricContext(run, job_metric("sleep 60", "slow"))
        started = await asyncio.gather(provider.run(ok), provider.run(bad), provider.run(slow))
        for m in started:
            assert m.phase == "Running" and not m.message
        job_name = started[0].metadata["job-name"]
        assert job_name == f"{run.uid}.passes.1"
        job = await api.get(resource_path("batch/v1", "jobs", namespace=ns, name=job_name))
        assert job["metadata"]["labels"] == {"team": "a", "analysisrun.argoproj.io/uid": run.uid}
        assert job["metadata"]["annotations"]["analysisrun.argoproj.io/metric-name"] == "passes"
        assert job["metadata"]["ownerReferences"][0]["kind"] == "AnalysisRun"
        passed, failed = await asyncio.gather(
            _until_done(provider, ok, started[0]), _until_done(provider, bad, started[1])
        )
        assert passed.phase == "Successful" and passed.finished_at is not None
        assert failed.phase == "Failed"

        still = await provider.resume(slow, started[2])
        assert still.phase == "Running"
        stopped = await provider.terminate(slow, still)
        assert stopped.phase == "Successful"
        slow_path = resource_path("batch/v1", "jobs", namespace=ns, name=started[2].metadata["job-name"])

        async def gone() -> bool:
            try:
                await api.get(slow_path)
            except NotFound:
                return True
            return False

        deadline = time.monotonic() + 20
        while not await gone():
            assert time.monotonic() < deadline, "the terminated Job was not deleted"
            await asyncio.sleep(0.2)

        # a second measurement of the same metric gets the next name; a repeated create is adopted
        second = await provider.run(MetricContext(run, ok.metric, taken=1))
        assert second.metadata["job-name"] == f"{run.uid}.passes.2"
        again = await provider.run(MetricContext(run, ok.metric, taken=1))
        assert again.phase == "Running" and again.metadata == second.metadata


def test_job_provider(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_job_cases(cluster, namespace), 60))


def test_web_provider_tls_verification(cluster: Cluster) -> None:
    """localcluster serves HTTPS with its own CA: refused unless ``insecure: true``."""

    async def run() -> None:
        async with HttpClient() as http:
            web_provider = WebProvider(http)
            url = f"{cluster.url}/readyz"
            checked = await web_provider.run(metric("web", {"url": url}))
            assert checked.phase == "Error" and "certificate" in checked.message.lower(), checked.message
            trusting = await web_provider.run(metric("web", {"url": url, "insecure": True}))
            assert (trusting.phase, trusting.value) == ("Successful", "ok")

    asyncio.run(asyncio.wait_for(run(), 30))
