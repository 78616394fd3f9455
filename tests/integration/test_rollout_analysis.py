"""Rollouts with analysis, end to end on localcluster: the controller creates the AnalysisRuns, the
AnalysisRun controller measures them, and the Rollout promotes or aborts on its own.

- a ``web`` metric against a local HTTP server whose answer the test flips;
- the real Prometheus (Debian's ``prometheus``, started by ``localcluster prometheus up``)
  scraping the demo pods, with the success-rate template of docs/localcluster.md: a good
  version passes and is promoted; a ``bad-`` version fails and traffic is back on stable within
  one analysis interval plus 5 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from controller.kube import resource_path
from controller.loadtest.run import run_load_test
from tests.conftest import Cluster
from tests.integration.test_rollout_controller import (
    World,
    _new_hash,
    controller_running,
    rollout,
    rollouts_path,
    until,
)

pytestmark = pytest.mark.slow

Obj = dict[str, Any]


def templates_path(ns: str) -> str:
    return resource_path("argoproj.io/v1alpha1", "analysistemplates", namespace=ns)


def runs_path(ns: str) -> str:
    return resource_path("argoproj.io/v1alpha1", "analysisruns", namespace=ns)


@contextlib.asynccontextmanager
async def answering_server() -> AsyncIterator[dict[str, Any]]:
    """A local HTTP server answering ``{"ok": state["ok"]}``; yields the mutable state with its url."""
    state: dict[str, Any] = {"ok": True, "hits": 0}

    async def handle(request: web.Request) -> web.Response:
        state["hits"] += 1
        return web.json_response({"ok": state["ok"]})

    app = web.Application()
    app.router.add_get("/check", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state["url"] = f"http://127.0.0.1:{port}/check"
    try:
        yield state
    finally:
        await runner.cleanup()


def web_template(ns: str, url: str) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "smoke", "namespace": ns},
        "spec": {
            "metrics": [
                {
                    "name": "smoke",
                    "count": 2,
                    "interval": "1s",
                    "successCondition": "result == true",
                    "provider": {"web": {"url": url, "jsonPath": "{$.ok}", "timeoutSeconds": 2}},
                }
            ]
        },
    }


async def counts(world: World) -> dict[str, int]:
    return {h: spec for h, (spec, _) in (await world.replicas()).items()}


async def _web_analysis(cluster: Cluster, ns: str) -> None:
    steps = [{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "smoke"}]}}, {"setWeight": 100}]
    async with answering_server() as server, controller_running(cluster, ns) as world:
        await world.api.create(templates_path(ns), web_template(ns, server["url"]))
        await world.api.create(rollouts_path(ns), rollout(ns, steps))
        blue = await world.current_hash()
        await world.wait_healthy(blue)
        # a good canary: the run succeeds and the Rollout goes on to 100%
        await world.set_image("argoproj/rollouts-demo:green")
        green = await until(lambda: _new_hash(world, blue), "the green ReplicaSet")
        done = await world.wait_healthy(green, within=45)
        run_status = done["status"]["canary"].get("currentStepAnalysisRunStatus")
        assert run_status is None  # the step is behind: no current step run
        runs = (await world.api.list(runs_path(ns)))["items"]
        (run,) = [r for r in runs if r["metadata"]["labels"]["rollouts-pod-template-hash"] == green]
        assert run["status"]["phase"] == "Successful"
        assert run["metadata"]["labels"]["rollout-type"] == "Step"
        assert run["metadata"]["ownerReferences"][0]["name"] == "frontend"
        assert server["hits"] >= 2
        # a bad canary: the run fails, the Rollout aborts back to 100% stable
        server["ok"] = False
        await world.set_image("argoproj/rollouts-demo:yellow")
        aborted = await world.wait_phase("Degraded", within=45)
        assert aborted["status"]["abort"] is True
        assert 'Metric "smoke" assessed Failed' in aborted["status"]["message"], aborted["status"]["message"]
        yellow = await _new_hash(world, green)

        async def back_on_stable() -> bool:
            c = await counts(world)
            return c.get(green) == 2 and c.get(yellow) == 0

        await until(back_on_stable, "100% back on the stable ReplicaSet", within=20)
        events = (await world.api.list(resource_path("v1", "events", namespace=ns)))["items"]
        reasons = {e["reason"] for e in events}
        assert {"AnalysisRunSuccessful", "AnalysisRunFailed", "RolloutAborted"} <= reasons, reasons


def test_a_web_analysis_step_promotes_a_good_canary_and_aborts_a_bad_one(
    cluster: Cluster, namespace: str
) -> None:
    asyncio.run(asyncio.wait_for(_web_analysis(cluster, namespace), 150))


# --- the real Prometheus --------------------------------------------------------------------------


def localcluster(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCALCLUSTER_STATE_DIR": str(cluster.state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "localcluster", *args, "--state-dir", str(cluster.state_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def success_rate_template(ns: str, address: str) -> Obj:
    selector = f'namespace="{ns}", rollouts_pod_template_hash="{{{{args.canary-hash}}}}", path="/color"'
    query = (
        f'sum(rate(http_requests_total{{{selector}, code!~"5.."}}[15s]))'
        f" / sum(rate(http_requests_total{{{selector}}}[15s]))"
    )
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate", "namespace": ns},
        "spec": {
            "args": [{"name": "canary-hash"}],
            "metrics": [
                {
                    "name": "success-rate",
                    "initialDelay": "6s",
                    "interval": "4s",
                    "count": 3,
                    "failureLimit": 0,
                    "successCondition": "len(result) == 0 || result[0] >= 0.95",
                    "provider": {"prometheus": {"address": address, "query": query}},
                }
            ],
        },
    }


async def _prometheus_analysis(cluster: Cluster, ns: str, address: str) -> None:
    analysis = {
        "templates": [{"templateName": "success-rate"}],
        "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}],
    }
    steps = [{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}]
    async with controller_running(cluster, ns) as world:
        await world.api.create(templates_path(ns), success_rate_template(ns, address))
        body = rollout(ns, steps)
        body["spec"]["strategy"]["canary"]["analysis"] = analysis  # background, from step 0
        # the seed's shape: one Service over every pod (a stableService would send all to stable)
        del body["spec"]["strategy"]["canary"]["stableService"]
        await world.api.create(rollouts_path(ns), body)
        blue = await world.current_hash()
        await world.wait_healthy(blue)
        svc = await world.api.get(resource_path("v1", "services", namespace=ns, name="frontend"))
        target = f"http://{svc['spec']['clusterIP']}:80/color"
        load = asyncio.create_task(run_load_test(target, rps=30, duration=80, concurrency=4))
        try:
            # good: green passes its background analysis while paused; promote it by hand
            await world.set_image("argoproj/rollouts-demo:green")
            await world.wait_phase("Paused", within=30)
            green = await _new_hash(world, blue)

            async def run_of(pod_hash: str, phase: str) -> Obj | None:
                for run in (await world.api.list(runs_path(ns)))["items"]:
                    labels = run["metadata"]["labels"]
                    if (
                        labels["rollouts-pod-template-hash"] == pod_hash
                        and (run.get("status") or {}).get("phase") == phase
                    ):
                        return run
                return None

            passed = await until(
                lambda: run_of(green, "Successful"), "green's analysis to succeed", within=40
            )
            values = [m["value"] for m in passed["status"]["metricResults"][0]["measurements"]]
            assert values, passed["status"]
            await world.api.patch_status(rollouts_path(ns, "frontend"), {"status": {"pauseConditions": None}})
            await world.wait_healthy(green, within=30)
            # bad: bad-red's errors fail the analysis; the Rollout aborts with nobody touching it
            await world.set_image("argoproj/rollouts-demo:bad-red")
            await world.wait_phase("Paused", within=30)
            bad = await _new_hash(world, green)
            try:
                failed = await until(lambda: run_of(bad, "Failed"), "bad-red's analysis to fail", within=40)
            except AssertionError:
                for run in (await world.api.list(runs_path(ns)))["items"]:
                    print("RUN", run["metadata"]["name"], json.dumps(run.get("status"))[:3000])
                print("RO", json.dumps((await world.rollout()).get("status"))[:2000])
                raise
            failed_at = time.monotonic()

            async def stable_only() -> bool:
                c = await counts(world)
                return c.get(bad) == 0 and c.get(green) == 2

            await until(stable_only, "100% of the pods back on green", within=4 + 5)
            back_after = time.monotonic() - failed_at
            r = await world.rollout()
            assert r["status"]["phase"] == "Degraded"
            assert "success-rate" in r["status"]["message"]
            measured = failed["status"]["metricResults"][0]["measurements"][-1]["value"]
            assert float(json.loads(measured)[0]) < 0.95
            assert back_after <= 9
        finally:
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load


def test_real_prometheus_analysis_promotes_good_and_aborts_bad(
    fresh_cluster: Cluster, namespace_of: Any
) -> None:
    started = localcluster(fresh_cluster, "prometheus", "up", "--scrape-interval", "1s")
    assert started.returncode == 0, started.stderr + started.stdout
    try:
        status = localcluster(fresh_cluster, "prometheus", "status", "-o", "json")
        address = json.loads(status.stdout)["url"]
        ns = namespace_of(fresh_cluster)
        asyncio.run(asyncio.wait_for(_prometheus_analysis(fresh_cluster, ns, address), 200))
    finally:
        localcluster(fresh_cluster, "prometheus", "down")


@pytest.fixture
def namespace_of() -> Any:
    """Makes a namespace in the given cluster (the ``namespace`` fixture is the session cluster's)."""

    def make(cluster: Cluster) -> str:
        name = f"t-{os.urandom(5).hex()}"
        status, body, _ = cluster.request(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
        assert status == 201, body
        return name

    return make


async def _inconclusive(cluster: Cluster, ns: str) -> None:
    steps = [{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "smoke"}]}}, {"setWeight": 100}]
    async with answering_server() as server, controller_running(cluster, ns) as world:
        server["ok"] = 0.5  # neither success (>= 0.9) nor failure (< 0.1): inconclusive
        template = web_template(ns, server["url"])
        metric = template["spec"]["metrics"][0]
        metric.update(count=1, successCondition="result >= 0.9", failureCondition="result < 0.1")
        del metric["interval"]
        await world.api.create(templates_path(ns), template)
        await world.api.create(rollouts_path(ns), rollout(ns, steps))
        blue = await world.current_hash()
        await world.wait_healthy(blue)
        await world.set_image("argoproj/rollouts-demo:green")
        paused = await world.wait_phase("Paused", within=45)
        assert paused["status"]["pauseConditions"][0]["reason"] == "InconclusiveAnalysisRun"
        assert paused["status"]["canary"]["currentStepAnalysisRunStatus"]["status"] == "Inconclusive"
        green = await _new_hash(world, blue)
        assert (await counts(world)) == {blue: 1, green: 1}  # held where it was, nothing aborted
        # promote, as `rollouts promote` does on an inconclusive step: skip the step
        patch = {"status": {"pauseConditions": None, "controllerPause": False, "currentStepIndex": 2}}
        await world.api.patch_status(rollouts_path(ns, "frontend"), patch)
        await world.wait_healthy(green, within=45)


def test_an_inconclusive_analysis_pauses_until_promoted(cluster: Cluster, namespace: str) -> None:
    asyncio.run(asyncio.wait_for(_inconclusive(cluster, namespace), 150))
