"""The demo app: image behaviours, env overrides, and real HTTP over loopback addresses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from localcluster.demoapp import (
    BAD_ERROR_RATE,
    SLOW_LATENCY_MS,
    Behaviour,
    DemoServer,
    behaviour_for,
    resolve_behaviour,
    serve,
)
from localcluster.demoapp.app import color_url
from localcluster.demoapp.behaviour import PALETTE, color_for_tag

DIGEST = "sha256:" + "0123456789abcdef" * 4
DEMO = "argoproj/rollouts-demo"


def _address() -> str:
    """A random loopback address other than 127.0.0.1, as the kubelet gives pods."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@contextlib.asynccontextmanager
async def running(
    image: str = f"{DEMO}:blue",
    env: Mapping[str, str] | None = None,
    *,
    logs: list[str] | None = None,
    rng: random.Random | None = None,
    host: str | None = None,
    port: int = 0,
) -> AsyncIterator[DemoServer]:
    """A demo app served on a loopback address for the duration of the block."""
    server = await serve(
        behaviour_for(image, env or {}),
        host=host or _address(),
        port=port,
        pod=f"pod-{image.rsplit(':', 1)[-1]}",
        image=image,
        log=(logs if logs is not None else []).append,
        rng=rng,
    )
    try:
        yield server
    finally:
        await server.stop()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    """Status and body (JSON when it is JSON) of a GET."""
    async with session.get(url) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


def _counts(metrics_text: str) -> dict[tuple[str, str, str], float]:
    """``http_requests_total`` samples by (code, method, path)."""
    return {
        (s.labels["code"], s.labels["method"], s.labels["path"]): s.value
        for family in text_string_to_metric_families(metrics_text)
        for s in family.samples
        if s.name == "http_requests_total"
    }


# --- images and environment -------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "color", "version", "error_rate", "latency_ms"),
    [
        (f"{DEMO}:blue", "blue", "blue", 0.0, 0.0),
        (f"docker.io/{DEMO}:purple", "purple", "purple", 0.0, 0.0),
        (f"{DEMO}:bad-red", "red", "bad-red", BAD_ERROR_RATE, 0.0),
        (f"{DEMO}:slow-yellow", "yellow", "slow-yellow", 0.0, SLOW_LATENCY_MS),
        (f"{DEMO}:bad-slow-green", "green", "bad-slow-green", BAD_ERROR_RATE, SLOW_LATENCY_MS),
        (f"{DEMO}:slow-bad-orange", "orange", "slow-bad-orange", BAD_ERROR_RATE, SLOW_LATENCY_MS),
        (f"{DEMO}:blue@{DIGEST}", "blue", "blue", 0.0, 0.0),
        ("nginx:1.27", None, "1.27", 0.0, 0.0),
        ("nginx", None, "latest", 0.0, 0.0),
        ("registry:5000/x/y", None, "latest", 0.0, 0.0),
        ("registry/x/y:1.0", None, "1.0", 0.0, 0.0),
        (f"img@{DIGEST}", None, "sha256:0123456789ab", 0.0, 0.0),
        ("myapp:bad-red", None, "bad-red", 0.0, 0.0),
        ("myapp:green", "green", "green", 0.0, 0.0),
        (f"{DEMO}:bad-bad-red", None, "bad-bad-red", 0.0, 0.0),
    ],
)
def test_image_table(
    image: str, color: str | None, version: str, error_rate: float, latency_ms: float
) -> None:
    behaviour = behaviour_for(image, {})
    assert behaviour.version == version
    assert behaviour.color == (color or color_for_tag(version))
    assert color is not None or behaviour.color in PALETTE
    assert (behaviour.error_rate, behaviour.latency_ms, behaviour.upstreams) == (error_rate, latency_ms, ())


def test_other_images_get_a_stable_colour_per_tag() -> None:
    assert behaviour_for("myapp:v1", {}).color == behaviour_for("registry/x/other:v1", {}).color
    assert behaviour_for("myapp:v1", {}).color != behaviour_for("myapp:v2", {}).color
    assert behaviour_for(f"a@{DIGEST}", {}).color == behaviour_for(f"b@{DIGEST}", {}).color


def test_env_overrides() -> None:
    env = {
        "COLOR": "Teal",
        "VERSION": "v2-canary",
        "ERROR_RATE": "0.25",
        "LATENCY_MS": "12.5",
        "UPSTREAM_URL": "http://backend:8080, 127.0.0.9:80/api/color ,",
    }
    assert behaviour_for(f"{DEMO}:bad-slow-red", env) == Behaviour(
        color="teal",
        version="v2-canary",
        error_rate=0.25,
        latency_ms=12.5,
        upstreams=("http://backend:8080", "http://127.0.0.9:80/api/color"),
    )
    assert behaviour_for(f"{DEMO}:slow-red", {"ERROR_RATE": "0", "LATENCY_MS": "0"}).latency_ms == 0.0
    # The real image's LATENCY (seconds) is read when LATENCY_MS is absent.
    assert behaviour_for("x:1", {"LATENCY": "0.5"}).latency_ms == 500.0
    assert behaviour_for("x:1", {"LATENCY": "0.5", "LATENCY_MS": "3"}).latency_ms == 3.0
    assert behaviour_for("x:1", {"COLOR": "#00ff00"}).color == "#00ff00"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ERROR_RATE", "abc"),
        ("ERROR_RATE", "15"),
        ("ERROR_RATE", "-0.1"),
        ("ERROR_RATE", "nan"),
        ("LATENCY_MS", "-5"),
        ("LATENCY_MS", "inf"),
        ("LATENCY_MS", "slow"),
        ("LATENCY", "x"),
        ("COLOR", "red; background: url(x)"),
        ("VERSION", "v1\nv2"),
        ("UPSTREAM_URL", "ftp://backend"),
        ("UPSTREAM_URL", "http://backend:99999"),
    ],
)
def test_invalid_env_values_are_ignored_with_a_warning(
    name: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    image = f"{DEMO}:slow-blue"
    behaviour, warnings = resolve_behaviour(image, {name: value})
    assert behaviour == behaviour_for(image, {})
    assert len(warnings) == 1
    assert name in warnings[0]
    with caplog.at_level(logging.WARNING, logger="localcluster.demoapp"):
        behaviour_for(image, {name: value})
    assert [r.getMessage() for r in caplog.records] == [f"{image}: {warnings[0]}"]


def test_color_url() -> None:
    assert color_url("http://b:8080") == "http://b:8080/color"
    assert color_url("http://b:8080/?x=1") == "http://b:8080/color?x=1"
    assert color_url("http://b:8080/api/color") == "http://b:8080/api/color"


# --- serving ------------------------------------------------------------------------------


def test_color_page_and_health() -> None:
    async def scenario() -> None:
        image = f"{DEMO}:green"
        async with running(image, {"VERSION": "<v2>"}) as app, aiohttp.ClientSession() as http:
            status, body = await _get(http, f"{app.url}/color")
            assert (status, body) == (
                200,
                {"color": "green", "version": "<v2>", "pod": "pod-green", "image": image},
            )
            status, page = await _get(http, f"{app.url}/")
            assert status == 200
            assert "background: green" in page
            assert "&lt;v2&gt;" in page
            assert "<v2>" not in page
            assert "pod-green" in page
            assert await _get(http, f"{app.url}/healthz") == (200, "ok")
            assert await _get(http, f"{app.url}/readyz") == (200, "ok")
            async with http.post(f"{app.url}/color", data=b'"[]"') as response:
                assert (await response.json())["color"] == "green"

    asyncio.run(scenario())


def test_error_rate_over_1000_requests_is_exact_with_a_seed() -> None:
    seed, rate, n = 20240501, 0.3, 1000
    draws = random.Random(seed)
    expected = sum(draws.random() < rate for _ in range(n))

    async def scenario() -> list[int]:
        env = {"ERROR_RATE": str(rate)}
        async with running("myapp:v1", env, rng=random.Random(seed)) as app:
            connector = aiohttp.TCPConnector(limit=32)
            async with aiohttp.ClientSession(connector=connector) as http:
                results = await asyncio.gather(*(_get(http, f"{app.url}/color") for _ in range(n)))
        for status, body in results:
            assert body["version"] == "v1"  # errors carry the colour and version too
            assert (status == 500) == ("error" in body)
        return [status for status, _ in results]

    statuses = asyncio.run(scenario())
    assert set(statuses) <= {200, 500}
    errors = statuses.count(500)
    assert errors == expected
    # Binomial(1000, 0.3): standard deviation 14.5; 4 standard deviations either way.
    assert abs(errors - rate * n) <= 4 * (n * rate * (1 - rate)) ** 0.5


def test_full_error_rate_fails_color_but_never_the_page_health_or_metrics() -> None:
    async def scenario() -> None:
        async with running(f"{DEMO}:red", {"ERROR_RATE": "1"}) as app, aiohttp.ClientSession() as http:
            for _ in range(5):
                status, body = await _get(http, f"{app.url}/color")
                assert status == 500
                assert (body["color"], body["version"]) == ("red", "red")
                assert (await _get(http, f"{app.url}/"))[0] == 200  # static page, as the real image
                assert await _get(http, f"{app.url}/healthz") == (200, "ok")
                assert await _get(http, f"{app.url}/readyz") == (200, "ok")
                assert (await _get(http, f"{app.url}/metrics"))[0] == 200

    asyncio.run(scenario())


def test_latency_is_added_to_color_but_not_to_health() -> None:
    async def scenario() -> None:
        async with (
            running(f"{DEMO}:slow-yellow", {"LATENCY_MS": "150"}) as app,
            aiohttp.ClientSession() as http,
        ):
            started = time.perf_counter()
            assert (await _get(http, f"{app.url}/color"))[0] == 200
            assert time.perf_counter() - started >= 0.15
            started = time.perf_counter()
            assert (await _get(http, f"{app.url}/healthz"))[0] == 200
            assert time.perf_counter() - started < 0.15

    asyncio.run(scenario())


def test_metrics_count_by_code_method_and_path_per_app() -> None:
    async def scenario() -> None:
        env = {"ERROR_RATE": "1"}
        async with running("a:1", env) as bad, running("b:1") as good, aiohttp.ClientSession() as http:
            for _ in range(3):
                await _get(http, f"{bad.url}/color")
            await _get(http, f"{bad.url}/healthz")
            await _get(http, f"{bad.url}/nowhere")
            await _get(http, f"{good.url}/color")
            _, text = await _get(http, f"{bad.url}/metrics")
            assert _counts(text) == {
                ("500", "GET", "/color"): 3.0,
                ("200", "GET", "/healthz"): 1.0,
                ("404", "GET", "other"): 1.0,
            }
            histogram = {
                (s.labels["path"], s.name): s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if f.name == "http_request_duration_seconds"
            }
            assert histogram[("/color", "http_request_duration_seconds_count")] == 3.0
            _, text = await _get(http, f"{good.url}/metrics")
            assert _counts(text) == {("200", "GET", "/color"): 1.0}
        assert prometheus_client.REGISTRY.get_sample_value("http_requests_total") is None

    asyncio.run(scenario())


def test_three_tier_upstream_chain() -> None:
    async def scenario() -> None:
        async with (
            running(f"{DEMO}:green") as backend,
            running("middle:v1", {"UPSTREAM_URL": backend.url}) as middle,
            running(f"{DEMO}:blue", {"UPSTREAM_URL": f"{middle.host}:{middle.port}"}) as frontend,
            aiohttp.ClientSession() as http,
        ):
            status, body = await _get(http, f"{frontend.url}/color")
            assert status == 200
            assert body["color"] == "blue"
            assert body["upstream"][0]["version"] == "v1"
            assert body["upstream"][0]["upstream"][0]["color"] == "green"
            status, page = await _get(http, f"{middle.url}/")
            assert status == 200
            assert "background:green" in page

    asyncio.run(scenario())


def test_failing_upstreams_give_502_naming_them() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"

    async def scenario() -> None:
        async with running(f"{DEMO}:bad-red", {"ERROR_RATE": "1"}) as bad:
            env = {"UPSTREAM_URL": f"{dead},{bad.url}"}
            async with running(f"{DEMO}:blue", env) as frontend, aiohttp.ClientSession() as http:
                status, body = await _get(http, f"{frontend.url}/color")
                assert status == 502
                assert body["color"] == "blue"
                assert dead in body["error"]
                assert f"{bad.url} answered HTTP 500" in body["error"]
                assert body["upstream"][0]["url"] == dead
                assert body["upstream"][1]["response"]["color"] == "red"
                status, page = await _get(http, f"{frontend.url}/")
                assert status == 502
                assert dead in page

    asyncio.run(scenario())


def test_an_upstream_loop_is_cut() -> None:
    host = _address()
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        env = {"UPSTREAM_URL": f"http://{host}:{port}"}
        async with running("loop:1", env, host=host, port=port) as app, aiohttp.ClientSession() as http:
            status, body = await _get(http, f"{app.url}/color")
            assert status == 502
            while "upstream" in body:  # down the chain to the app that cut it
                body = body["upstream"][0]["response"]
            assert "loop" in body["error"]

    asyncio.run(scenario())


def test_access_log_has_one_line_per_request() -> None:
    logs: list[str] = []

    async def scenario() -> None:
        async with running(f"{DEMO}:blue", logs=logs) as app, aiohttp.ClientSession() as http:
            await _get(http, f"{app.url}/color?x=1")
            await _get(http, f"{app.url}/healthz")
            await _get(http, f"{app.url}/missing")

    asyncio.run(scenario())
    assert "listening on" in logs[0]
    line = re.compile(r'^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1 "GET (\S+) HTTP/1\.1" (\d{3}) \d+\.\dms$')
    matches = [line.match(entry) for entry in logs[1:]]
    assert [(m.group(1), m.group(2)) for m in matches if m] == [
        ("/color?x=1", "200"),
        ("/healthz", "200"),
        ("/missing", "404"),
    ]


def test_serve_binds_the_exact_address_and_names_a_taken_port() -> None:
    async def scenario() -> None:
        async with running() as app:
            with socket.create_connection((app.host, app.port), timeout=1):
                pass
            with pytest.raises(
                OSError, match=rf"{re.escape(app.host)}:{app.port}: the port is already in use"
            ):
                async with running(host=app.host, port=app.port):
                    pass
            with pytest.raises(ConnectionRefusedError):  # another address: nothing listens there
                socket.create_connection((_address(), app.port), timeout=1).close()

    asyncio.run(scenario())


def test_stop_is_prompt_with_a_request_in_flight_and_frees_the_port() -> None:
    logs: list[str] = []

    async def scenario() -> None:
        app = await serve(
            behaviour_for("slow:1", {"LATENCY_MS": "5000"}),
            host=_address(),
            port=0,
            pod="p",
            image="slow:1",
            log=logs.append,
        )
        async with aiohttp.ClientSession() as http:
            in_flight = asyncio.ensure_future(_get(http, f"{app.url}/color"))
            await asyncio.sleep(0.1)
            started = time.perf_counter()
            await app.stop()
            assert time.perf_counter() - started < 1.0
            with pytest.raises(aiohttp.ClientError):
                await in_flight
            await app.stop()  # twice is harmless
        async with running(host=app.host, port=app.port) as again:
            assert again.port == app.port
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((app.host, app.port))

    asyncio.run(scenario())
    assert any('"GET /color HTTP/1.1" 499' in entry for entry in logs)
