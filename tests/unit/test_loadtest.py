"""The load test's pure parts: durations, the summary maths, labels, Service addresses, flags."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.loadtest import (
    LoadTest,
    Result,
    TargetError,
    format_duration,
    label_body,
    parse_duration,
    percentile,
    service_addresses,
    summarize,
)
from controller.loadtest.command import build_parser, normalize_url
from controller.loadtest.target import parse_service_ref, url_for
from controller.loadtest.view import bar_style, render

# -- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("1m30.5s", 90.5),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("250us", 0.00025),
        ("3µs", 0.000003),
        ("0", 0.0),
        ("45", 45.0),
        ("+2s", 2.0),
        ("-1m", -60.0),
        (" 30s ", 30.0),
    ],
)
def test_parse_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "10x", "1 s", "10s5", "m10", "1h-2m", "--1s", "ten"])
def test_invalid_durations_name_the_input(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=99), st.integers(min_value=0, max_value=59))
def test_minutes_and_seconds_add_up(minutes: int, seconds: int) -> None:
    assert parse_duration(f"{minutes}m{seconds}s") == minutes * 60 + seconds


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.25, 12.0, 12.5, 90, 120)] == [
        "250ms",
        "12s",
        "12.5s",
        "1m30s",
        "2m",
    ]


# -- the summary ----------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 90) == 90.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([], 50) is None


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1), st.floats(min_value=0, max_value=100))
def test_a_percentile_is_one_of_the_values(values: list[float], p: float) -> None:
    ordered = sorted(values)
    found = percentile(ordered, p)
    assert found is not None and found in ordered
    assert sum(v <= found for v in ordered) >= p / 100 * len(ordered)


def ok(version: str, latency: float = 0.01, color: str | None = None) -> Result:
    return Result(0.0, latency, status=200, version=version, color=color or version)


def test_summary_shares_errors_and_latency() -> None:
    results = (
        [ok("blue", 0.010) for _ in range(6)]
        + [ok("green", 0.020) for _ in range(2)]
        + [Result(0.0, 0.030, status=500, version="green", color="green", error="HTTP 500")]
        + [Result(0.0, 5.0, error="timeout", detail="no answer in time")]
    )
    summary = summarize(results, target="http://x/color", elapsed=2.0, target_rps=5.0, duration=10.0)
    assert summary.requests == 10
    assert summary.answered == 9
    assert summary.errors == 2
    assert summary.error_percent == pytest.approx(20.0)
    assert summary.rps == pytest.approx(5.0)
    assert summary.errors_by_kind == (("HTTP 500", 1), ("timeout", 1))
    blue, green = summary.versions
    assert (blue.version, blue.requests, blue.errors) == ("blue", 6, 0)
    assert blue.percent == pytest.approx(100 * 6 / 9)
    assert (green.version, green.requests, green.errors) == ("green", 3, 1)
    assert green.error_percent == pytest.approx(100 / 3)
    assert sum(v.percent for v in summary.versions) == pytest.approx(100.0)
    # Latency is over the answered requests only: the timed-out one does not count.
    assert summary.p50 == pytest.approx(0.010)
    assert summary.p90 == pytest.approx(0.030)  # nearest rank: the 9th of 9
    assert summary.p99 == pytest.approx(0.030)
    assert summary.max_latency == pytest.approx(0.030)
    assert summary.reachable
    assert summary.first_error == "no answer in time"


def test_summary_as_json() -> None:
    results = [
        ok("blue", 0.004),
        ok("blue", 0.006),
        Result(0.0, 0.01, status=503, version="x", error="HTTP 503"),
    ]
    data = summarize(results, target="http://x", elapsed=1.0, target_rps=3.0, duration=1.0).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["requests"] == 3
    assert data["rps"] == 3.0
    assert data["versions"][0] == {
        "version": "blue",
        "color": "blue",
        "requests": 2,
        "percent": 66.67,
        "errors": 0,
    }
    assert data["errors"] == {"count": 1, "percent": 33.33, "byKind": {"HTTP 503": 1}}
    assert data["latencyMs"]["p50"] == pytest.approx(6.0)
    assert data["latencyMs"]["max"] == pytest.approx(10.0)


def test_nothing_answered_is_unreachable() -> None:
    failed = [Result(0.0, 0.001, error="connection refused", detail="refused") for _ in range(5)]
    summary = summarize(failed, target="http://x", elapsed=0.2, target_rps=20, duration=30)
    assert not summary.reachable
    assert summary.versions == ()
    assert summary.p50 is None
    assert summary.to_dict()["latencyMs"]["p99"] is None
    empty = summarize([], target="http://x", elapsed=0.0, target_rps=20, duration=30)
    assert (empty.rps, empty.error_percent, empty.reachable) == (0.0, 0.0, False)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"color":"blue","version":"v2","pod":"p"}', ("v2", "blue")),
        (b'{"color":"green"}', ("green", "green")),
        (b'{"version":"1.0"}', ("1.0", None)),
        (b"hello from v3\nmore", ("hello from v3", None)),
        (b'["not", "an object"]', ('["not", "an object"]', None)),
        (b'{"other": 1}', ('{"other": 1}', None)),
        (b"", ("(empty)", None)),
        (b"x" * 100, ("x" * 60, None)),
    ],
)
def test_answers_are_labelled_by_version(body: bytes, expected: tuple[str, str | None]) -> None:
    assert label_body(body) == expected


def test_the_view_shows_versions_errors_and_latency() -> None:
    from rich.console import Console

    results = [ok("blue", color="blue"), ok("v2", color="not-a-colour")]
    results.append(Result(0.0, 0.01, status=500, version="v2", error="HTTP 500"))
    summary = summarize(results, target="http://x/color", elapsed=1.0, target_rps=3.0, duration=10.0)
    console = Console(width=120, record=True, color_system=None)
    console.print(render(summary, final=True))
    text = console.export_text()
    assert "http://x/color" in text
    assert "v2" in text and "66.7" in text and "1 (50.0%)" in text
    assert "HTTP 500: 1" in text
    assert "p90" in text and "p99" in text
    assert bar_style("blue") == "blue"
    assert bar_style("not-a-colour") == bar_style(None) == "cyan"


# -- targets and flags ----------------------------------------------------------------------------


def service(
    type_: str = "ClusterIP", ports: list[dict[str, Any]] | None = None, ip: str = "127.96.3.4"
) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": type_, "clusterIP": ip, "ports": ports or [{"port": 80, "targetPort": 8080}]},
    }


def test_service_addresses() -> None:
    assert service_addresses(service()) == [("127.96.3.4", 80)]
    node = service("NodePort", [{"port": 80, "nodePort": 30080}])
    assert service_addresses(node) == [("127.96.3.4", 80), ("127.0.0.1", 30080)]
    ports = [{"name": "metrics", "port": 9090}, {"name": "http", "port": 8080}]
    assert service_addresses(service(ports=ports)) == [("127.96.3.4", 8080)]
    assert service_addresses(service(ports=ports), port="metrics") == [("127.96.3.4", 9090)]
    assert service_addresses(service(ports=ports), port="9090") == [("127.96.3.4", 9090)]
    with pytest.raises(
        TargetError, match=r"service shop/web has no port 81 \(it has 9090 \(metrics\), 8080 \(http\)\)"
    ):
        service_addresses(service(ports=ports), port="81")
    with pytest.raises(TargetError, match="headless"):
        service_addresses(service(ip="None"))
    with pytest.raises(TargetError, match="no ports"):
        service_addresses(service(ports=[]) | {"spec": {"ports": []}})
    external = {
        "metadata": {},
        "spec": {"type": "ExternalName", "externalName": "example.org", "ports": [{"port": 80}]},
    }
    assert service_addresses(external) == [("example.org", 80)]


def test_service_refs_and_urls() -> None:
    assert parse_service_ref("shop/web") == ("shop", "web")
    assert parse_service_ref("web") == (None, "web")
    with pytest.raises(TargetError, match="NAMESPACE/NAME"):
        parse_service_ref("a/b/c")
    with pytest.raises(TargetError):
        parse_service_ref("shop/")
    assert url_for("127.96.0.5", 80, "/color") == "http://127.96.0.5:80/color"
    assert url_for("::1", 8080, "color") == "http://[::1]:8080/color"
    assert normalize_url("127.0.0.1:8080/color") == "http://127.0.0.1:8080/color"
    assert normalize_url("https://example.org/") == "https://example.org/"
    with pytest.raises(TargetError, match="invalid URL"):
        normalize_url("ftp://example.org/")


def test_flags_and_defaults() -> None:
    parser = build_parser()
    args = parser.parse_args(["--service", "shop/web"])
    assert (args.rps, args.duration, args.concurrency, args.keep_alive, args.output) == (
        20.0,
        30.0,
        50,
        False,
        "text",
    )
    args = parser.parse_args(
        ["--url", "http://x", "--duration", "2m", "--rps", "5", "-o", "json", "--keep-alive"]
    )
    assert (args.duration, args.rps, args.output, args.keep_alive) == (120.0, 5.0, "json", True)
    for bad in (
        ["--url", "x", "--duration", "soon"],
        ["--url", "x", "--rps", "0"],
        ["--url", "x", "--service", "y"],
        [],
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_load_test_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match="rate"):
        LoadTest("http://x", rps=0)
    with pytest.raises(ValueError, match="duration"):
        LoadTest("http://x", duration=0)
    with pytest.raises(ValueError, match="concurrency"):
        LoadTest("http://x", concurrency=0)


def test_headers_and_ingress_addresses() -> None:
    from controller.loadtest.command import parse_headers
    from controller.loadtest.target import TargetError, ingress_address

    assert parse_headers(["X-Beta: yes", "Host:shop"]) == {"X-Beta": "yes", "Host": "shop"}
    with pytest.raises(TargetError, match="NAME:VALUE"):
        parse_headers(["no-colon"])
    ingress = {
        "metadata": {"name": "web"},
        "spec": {"rules": [{"http": {}}, {"host": "shop.example", "http": {}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ports": [{"port": 31080}]}]}},
    }
    assert ingress_address(ingress, "/color") == ("http://127.0.0.1:31080/color", {"Host": "shop.example"})
    with pytest.raises(TargetError, match="has no address yet"):
        ingress_address({"metadata": {"name": "web"}}, "/")
