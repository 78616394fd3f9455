"""The AnalysisRun controller end to end on localcluster.

The controller runs in-process (an asyncio task) against the session's localcluster; the runs'
web metrics ask a local HTTP server whose answers the tests set and flip, Prometheus metrics a
tiny server speaking its API, Job metrics run real processes through localcluster's kubelet.
The tests create AnalysisRuns through the API as the Rollout controller (or a user) would and
read back what the controller wrote.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web

from controller.api.crds import crd_manifests
from controller.kube import ApiClient, Conflict, NotFound, load_kubeconfig, resource_path
from controller.runtime.analysis import AnalysisOptions, AnalysisRunController
from tests.conftest import Cluster
from tests.integration.test_analysis_providers import serve

pytestmark = pytest.mark.slow

Obj = dict[str, Any]


def runs_path(ns: str, name: str | None = None) -> str:
    return resource_path("argoproj.io/v1alpha1", "analysisruns", namespace=ns, name=name)


async def until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


class World:
    """The test's side: its own API client, the answers server, one namespace."""

    def __init__(self, api: ApiClient, ns: str, base: str, answers: dict[str, Any]) -> None:
        self.api, self.ns, self.base, self.answers = api, ns, base, answers

    def url(self, key: str) -> str:
        return f"{self.base}/answer/{key}"

    async def create(self, name: str, metrics: list[Obj], **spec: Any) -> Obj:
        body = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisRun",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {"metrics": metrics, **spec},
        }
        return await self.api.create(runs_path(self.ns), body)

    async def run(self, name: str) -> Obj:
        return await self.api.get(runs_path(self.ns, name))

    async def wait(self, name: str, check: Callable[[Obj], bool], what: str, within: float = 30.0) -> Obj:
        async def probe() -> Obj | None:
            run = await self.run(name)
            return run if check(run) else None

        result: Obj = await until(probe, f"{name}: {what}", within)
        return result

    async def phase(self, name: str, phase: str, within: float = 30.0) -> Obj:
        return await self.wait(
            name, lambda r: (r.get("status") or {}).get("phase") == phase, f"phase {phase}", within
        )

    async def events(self) -> list[Obj]:
        items: list[Obj] = (await self.api.list(resource_path("v1", "events", namespace=self.ns)))["items"]
        return items


def job_metric(name: str, script: str) -> Obj:
    """A Job metric running ``sh -c script`` (localcluster runs the image's container as a process)."""
    container = {"name": "c", "image": "rollouts-controller", "command": ["sh", "-c", script]}
    template = {"spec": {"restartPolicy": "Never", "containers": [container]}}
    return {"name": name, "provider": {"job": {"spec": {"backoffLimit": 0, "template": template}}}}


def web_metric(name: str, url: str, **fields: Any) -> Obj:
    return {"name": name, "provider": {"web": {"url": url, **fields.pop("web", {})}}, **fields}


@contextlib.asynccontextmanager
async def analysis_running(cluster: Cluster, ns: str, **options: Any) -> AsyncIterator[World]:
    """CRDs, an answers server and the AnalysisRun controller for the block."""
    answers: dict[str, Any] = {}
    requests: list[web.Request] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        requests.append(request)
        value = answers.get(request.match_info["key"])
        if callable(value):
            value = value(request)
        if isinstance(value, web.StreamResponse):
            return value
        return web.json_response(value)

    config = load_kubeconfig(cluster.kubeconfig)
    async with (
        serve({"/answer/{key}": answer}) as base,
        ApiClient(config, timeout=10) as api,
        ApiClient(config, timeout=10) as controller_api,
    ):
        crds = resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions")
        for crd in crd_manifests():
            with contextlib.suppress(Conflict):
                await api.create(crds, crd)

        async def served() -> bool:
            try:
                await api.list(runs_path(ns))
            except Exception:
                return False
            return True

        await until(served, "the AnalysisRun CRD to be served")
        controller = AnalysisRunController(controller_api, AnalysisOptions(namespace=ns, **options))
        task = asyncio.create_task(controller.run())
        try:
            yield World(api, ns, base, answers)
            assert not task.done(), task.exception() if task.done() else None
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.25)


def _times(run: Obj, metric: str = "web") -> list[datetime]:
    """When each retained measurement of ``metric`` started ([] before the first)."""
    results = (run.get("status") or {}).get("metricResults") or []
    result = next((r for r in results if r["name"] == metric), {})
    return [
        datetime.fromisoformat(m["startedAt"].replace("Z", "+00:00")) for m in result.get("measurements", [])
    ]


async def _phases(cluster: Cluster, ns: str) -> None:
    async with analysis_running(cluster, ns, workers=4) as world:
        world.answers.update(
            {"ok": {"ok": True}, "flip": {"ok": True}, "mid": {"rate": 0.7}, "on": {"ok": True}}
        )
        ok = "result.ok == true"
        await asyncio.gather(
            world.create(
                "succeeds", [web_metric("web", world.url("ok"), interval="1s", count=3, successCondition=ok)]
            ),
            world.create(
                "fails",
                [web_metric("web", world.url("flip"), interval="1s", failureLimit=1, successCondition=ok)],
            ),
            world.create(
                "inconclusive",
                [
                    web_metric(
                        "web",
                        world.url("mid"),
                        successCondition="result.rate > 0.9",
                        failureCondition="result.rate < 0.5",
                    )
                ],
            ),
            world.create(
                "terminated", [web_metric("web", world.url("on"), interval="1s", successCondition=ok)]
            ),
            world.create(
                "retained",
                [web_metric("web", world.url("ok"), interval="1s", count=4, successCondition=ok)],
                measurementRetention=[{"metricName": "web", "limit": 2}],
            ),
            world.create("invalid", [web_metric("web", world.url("ok"), count=2)]),
            world.create("job-check", [job_metric("smoke", "exit 0")]),
            world.create("job-stopped", [job_metric("long", "sleep 60")]),
        )

        # a measurement that does not hold: flip the answer once the first one is in
        await world.wait("fails", lambda r: len(_times(r)) >= 1, "a measurement")
        world.answers["flip"] = {"ok": False}
        # terminate a run whose Job is still running: the Job is deleted
        stopped = await world.wait("job-stopped", lambda r: bool(_times(r, "long")), "a Job")
        long_job = stopped["status"]["metricResults"][0]["measurements"][0]["metadata"]["job-name"]
        await world.api.patch(runs_path(ns, "job-stopped"), {"spec": {"terminate": True}})
        # terminate an indefinite run once it has measured twice
        await world.wait("terminated", lambda r: len(_times(r)) >= 2, "2 measurements")
        await world.api.patch(runs_path(ns, "terminated"), {"spec": {"terminate": True}})

        succeeded = await world.phase("succeeds", "Successful")
        status = succeeded["status"]
        [result] = status["metricResults"]
        assert (result["phase"], result["count"], result["successful"]) == ("Successful", 3, 3)
        assert [m["phase"] for m in result["measurements"]] == ["Successful"] * 3
        assert result["measurements"][0]["value"] == '{"ok":true}'
        assert status["runSummary"] == {"count": 1, "successful": 1}
        assert status["startedAt"] and status["completedAt"]
        times = _times(succeeded)
        assert all(1 <= (b - a).total_seconds() <= 3 for a, b in itertools.pairwise(times)), times

        failed = await world.phase("fails", "Failed")
        assert (
            failed["status"]["message"] == 'Metric "web" assessed Failed due to failed (2) > failureLimit (1)'
        )
        assert failed["status"]["metricResults"][0]["failed"] == 2

        inconclusive = await world.phase("inconclusive", "Inconclusive")
        assert inconclusive["status"]["metricResults"][0]["inconclusive"] == 1

        terminated = await world.phase("terminated", "Successful")
        assert terminated["status"]["message"] == "Run Terminated"
        assert terminated["status"]["metricResults"][0]["phase"] == "Successful"

        retained = await world.phase("retained", "Successful")
        [result] = retained["status"]["metricResults"]
        assert result["count"] == 4 and len(result["measurements"]) == 2

        invalid = await world.phase("invalid", "Error")
        assert invalid["status"]["message"] == (
            "Analysis spec invalid: metrics[0]: interval must be specified when count > 1"
        )

        job_run = await world.phase("job-check", "Successful")
        [measurement] = job_run["status"]["metricResults"][0]["measurements"]
        assert measurement["metadata"]["job-name"] == f"{job_run['metadata']['uid']}.smoke.1"

        stopped = await world.phase("job-stopped", "Successful")
        assert stopped["status"]["message"] == "Run Terminated"
        assert stopped["status"]["metricResults"][0]["measurements"][0]["message"] == "Metric Terminated"
        job_path = resource_path("batch/v1", "jobs", namespace=ns, name=long_job)

        async def job_gone() -> bool:
            try:
                await world.api.get(job_path)
            except NotFound:
                return True
            return False

        await until(job_gone, "the terminated run's Job to be deleted")

        # the status stops changing once the run is complete
        version = failed["metadata"]["resourceVersion"]
        await asyncio.sleep(1.5)
        assert (await world.run("fails"))["metadata"]["resourceVersion"] == version

        reasons = {(e["involvedObject"]["name"], e["reason"]) for e in await world.events()}
        assert {
            ("succeeds", "AnalysisRunSuccessful"),
            ("succeeds", "MetricSuccessful"),
            ("fails", "AnalysisRunFailed"),
            ("fails", "MetricFailed"),
            ("inconclusive", "AnalysisRunInconclusive"),
            ("invalid", "AnalysisRunError"),
        } <= reasons


def test_runs_end_successful_failed_inconclusive_terminated(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_phases(cluster, namespace), 90))


SECRET = "s3cr3t-Value-42"


async def _secrets(cluster: Cluster, ns: str) -> None:
    prom_queries: list[str] = []

    async def prometheus(request: web.Request) -> web.StreamResponse:
        prom_queries.append(str((await request.post()).get("query")))
        return web.json_response({"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}})

    async with (
        analysis_running(cluster, ns, workers=2) as world,
        serve({"/api/v1/query": prometheus}) as prom,
    ):

        def guarded(request: web.Request) -> Any:
            if request.headers.get("Authorization") != f"Bearer {SECRET}":
                return web.json_response({"ok": False}, status=401)
            return {"ok": True}

        world.answers["guarded"] = guarded
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "api", "namespace": ns},
            "data": {"token": base64.b64encode(SECRET.encode()).decode()},
        }
        await world.api.create(resource_path("v1", "secrets", namespace=ns), secret)
        args = [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}]
        await world.create(
            "with-secret",
            [
                web_metric(
                    "authorized",
                    world.url("guarded"),
                    successCondition="result.ok",
                    web={"headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}]},
                ),
                {
                    "name": "query",
                    "successCondition": "result == 1",
                    "provider": {"prometheus": {"address": prom, "query": "up{token='{{args.token}}'}"}},
                },
                web_metric("leaky", "http://127.0.0.1:1/?key={{ args.token }}", consecutiveErrorLimit=0),
            ],
            args=args,
        )
        await world.create(
            "missing-secret",
            [web_metric("w", world.url("guarded"))],
            args=[{"name": "x", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}],
        )

        run = await world.phase("with-secret", "Error")
        results = {r["name"]: r for r in run["status"]["metricResults"]}
        assert results["authorized"]["phase"] == "Successful"  # the server saw the real token
        assert results["query"]["phase"] == "Successful"
        assert prom_queries == [f"up{{token='{SECRET}'}}"]
        assert results["query"]["metadata"] == {"ResolvedPrometheusQuery": "up{token='*****'}"}
        leaky = results["leaky"]["measurements"][0]["message"]
        assert leaky.startswith("GET http://127.0.0.1:1/?key=*****: "), leaky
        assert "*****" in run["status"]["message"]

        missing = await world.phase("missing-secret", "Error")
        assert missing["status"]["message"] == 'Unable to resolve metric arguments: secrets "nope" not found'

        everything = json.dumps([run, missing, await world.events()])
        assert SECRET not in everything
        assert base64.b64encode(SECRET.encode()).decode() not in everything


def test_secrets_are_used_but_never_shown(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_secrets(cluster, namespace), 60))


async def _many_runs(cluster: Cluster, ns: str, count: int, interval: float, measurements: int) -> None:
    async with analysis_running(cluster, ns) as world:
        world.answers["ok"] = {"ok": True}
        metric = web_metric(
            "web",
            world.url("ok"),
            interval=f"{interval:g}s",
            count=measurements,
            successCondition="result.ok",
        )
        await asyncio.gather(*(world.create(f"run-{i}", [metric]) for i in range(count)))

        async def all_done() -> list[Obj] | None:
            items: list[Obj] = (await world.api.list(runs_path(ns)))["items"]
            done = [r for r in items if (r.get("status") or {}).get("phase") == "Successful"]
            return items if len(done) == count else None

        runs = await until(all_done, f"{count} runs Successful", within=interval * measurements + 30)
        gaps = [(b - a).total_seconds() for run in runs for a, b in itertools.pairwise(_times(run))]
        assert len(gaps) == count * (measurements - 1)
        # timestamps have whole seconds: a measurement on time is at most interval + 1 s after the last
        late = [g for g in gaps if g > interval + 1]
        assert not late, f"{len(late)} of {len(gaps)} measurements were late: {sorted(late)[-5:]}"


def test_many_runs_measure_on_time(cluster: Cluster, namespace: str) -> None:
    """200 runs measuring every 2 s, on time: measurements run concurrently, waits are requeues."""
    asyncio.run(asyncio.wait_for(_many_runs(cluster, namespace, 200, 2.0, 3), 120))
