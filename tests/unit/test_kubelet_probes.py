"""Probes: thresholds, ports by name, and the handlers against a real demo app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import pytest

from localcluster.demoapp import behaviour_for, serve
from localcluster.kubelet.probes import Prober, ProbeResult, ProbeSpec, parse_probe, resolve_port, run_probe


def test_parse_probe_defaults_and_minimums() -> None:
    assert parse_probe(None) is None
    spec = parse_probe(
        {"httpGet": {"path": "/"}, "periodSeconds": 2, "timeoutSeconds": 0, "failureThreshold": 1}
    )
    assert spec is not None
    assert (
        spec.initial_delay,
        spec.period,
        spec.timeout,
        spec.success_threshold,
        spec.failure_threshold,
    ) == (
        0.0,
        2.0,
        1.0,
        1,
        1,
    )


def test_ports_by_number_or_name() -> None:
    container = {"ports": [{"name": "http", "containerPort": 8080}]}
    assert resolve_port(8080, container) == 8080
    assert resolve_port("9090", container) == 9090
    assert resolve_port("http", container) == 8080
    assert resolve_port("metrics", container) is None


def _results(outcomes: Sequence[bool], *, initial: bool, success: int, failure: int) -> list[bool]:
    """The changes ``run_probe`` reports for a sequence of check outcomes."""

    async def scenario() -> list[bool]:
        changes: list[bool] = []
        remaining = list(outcomes)
        done = asyncio.Event()

        async def check(_: ProbeSpec) -> ProbeResult:
            if not remaining:
                done.set()
                await asyncio.sleep(3600)
            return ProbeResult(remaining.pop(0), "failed")

        spec = ProbeSpec(handler={}, period=0.001, success_threshold=success, failure_threshold=failure)
        task = asyncio.create_task(run_probe(spec, check, changes.append, initial=initial))
        await asyncio.wait_for(done.wait(), 5)
        task.cancel()
        return changes

    return asyncio.run(scenario())


def test_readiness_needs_success_threshold_successes_in_a_row() -> None:
    assert _results([False, True, False, True, True], initial=False, success=2, failure=3) == [True]
    assert _results([False, False], initial=False, success=1, failure=1) == []


def test_failure_needs_failure_threshold_failures_in_a_row() -> None:
    outcomes = [False, False, True, False, False, False, True]
    assert _results(outcomes, initial=True, success=1, failure=3) == [False, True]


def _with_demo_app(
    env: dict[str, str], body: Callable[[Prober, aiohttp.ClientSession], Awaitable[Any]]
) -> Any:
    async def scenario() -> Any:
        server = await serve(
            behaviour_for("argoproj/rollouts-demo:blue", env),
            host="127.0.0.1",
            port=0,
            pod="p",
            image="i",
            log=lambda _: None,
        )
        session = aiohttp.ClientSession()
        try:
            container = {"ports": [{"name": "http", "containerPort": server.port}]}
            return await body(Prober("127.0.0.1", container, lambda: session), session)
        finally:
            await session.close()
            await server.stop()

    return asyncio.run(scenario())


def test_http_probes_against_the_demo_app() -> None:
    async def body(prober: Prober, _: aiohttp.ClientSession) -> list[ProbeResult]:
        probes = [
            {"httpGet": {"path": "/healthz", "port": "http"}},
            {"httpGet": {"path": "/no-such-path", "port": "http"}},
            {"httpGet": {"path": "/color", "port": "http"}},
            {"httpGet": {"path": "/healthz", "port": "other"}},
            {"tcpSocket": {"port": "http"}},
            {"exec": {"command": ["false"]}},  # a demo-app container: exec always succeeds
        ]
        return [await prober.check(ProbeSpec(handler=p)) for p in probes]

    # ERROR_RATE=1: every /color answer is a 500, but /healthz still passes.
    results = _with_demo_app({"ERROR_RATE": "1"}, body)
    assert [r.ok for r in results] == [True, False, False, False, True, True]
    assert results[1].message == "HTTP probe failed with statuscode: 404"
    assert results[2].message == "HTTP probe failed with statuscode: 500"
    assert results[3].message == "port 'other' is not a container port"


def test_probes_to_a_closed_port_fail_with_connection_refused() -> None:
    async def scenario() -> list[ProbeResult]:
        async with aiohttp.ClientSession() as session:
            prober = Prober("127.0.0.1", {}, lambda: session)
            return [
                await prober.check(ProbeSpec(handler={"tcpSocket": {"port": 1}})),
                await prober.check(ProbeSpec(handler={"httpGet": {"path": "/x", "port": 1}})),
            ]

    tcp, http = asyncio.run(scenario())
    assert tcp == ProbeResult(False, "dial tcp 127.0.0.1:1: connect: connection refused")
    assert http == ProbeResult(False, 'Get "http://127.0.0.1:1/x": connect: connection refused')


@pytest.mark.parametrize(("code", "ok"), [(0, True), (1, False)])
def test_exec_probes_use_the_runner(code: int, ok: bool) -> None:
    async def runner(argv: Sequence[str], seconds: float) -> ProbeResult:
        return ProbeResult(argv == ["check"] and code == 0, "output")

    async def scenario() -> ProbeResult:
        async with aiohttp.ClientSession() as session:
            prober = Prober("127.0.0.1", {}, lambda: session, runner)
            return await prober.check(ProbeSpec(handler={"exec": {"command": ["check"]}}))

    assert asyncio.run(scenario()).ok is ok
