"""The controller's wiring (handlers to queue keys), its metrics, and its command line — no server."""

from __future__ import annotations

import argparse
import asyncio
import urllib.request
from typing import Any

import pytest

from controller.__main__ import _main as module_main
from controller.cli.main import main as rollouts_main
from controller.kube import ApiClient, KubeConfig, WatchEvent
from controller.runtime.cli import build_parser, duration, options_from
from controller.runtime.controller import Controller, ControllerOptions, lease_namespace
from controller.runtime.metrics import Metrics, MetricsServer

Obj = dict[str, Any]


def rollout(name: str, **canary: str) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "1"},
        "spec": {"strategy": {"canary": canary}},
    }


def replica_set(owner: str | None) -> Obj:
    meta: Obj = {"name": "rs", "namespace": "ns", "resourceVersion": "2"}
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "name": owner,
                "uid": "u",
                "controller": True,
            }
        ]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta}


def test_events_map_to_the_rollout_key() -> None:
    async def scenario() -> list[str]:
        api = ApiClient(KubeConfig(server="https://127.0.0.1:1"))
        c = Controller(api, ControllerOptions(leader_elect=False))
        # feed the caches as the watch would (the informer's own event path)
        c.rollouts._apply(WatchEvent("ADDED", rollout("a", stableService="web")))
        c.rollouts._apply(WatchEvent("ADDED", rollout("b", canaryService="web", stableService="other")))
        c.rollouts._apply(WatchEvent("ADDED", rollout("c")))
        seen = []
        while len(c.queue):
            key = await c.queue.get()
            assert key is not None
            seen.append(key)
            c.queue.done(key)
        assert sorted(seen) == ["ns/a", "ns/b", "ns/c"]
        c.replica_sets._apply(WatchEvent("ADDED", replica_set("c")))
        c.replica_sets._apply(
            WatchEvent("ADDED", {**replica_set(None), "metadata": {"name": "x", "namespace": "ns"}})
        )
        c.services._apply(
            WatchEvent(
                "MODIFIED",
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "ns"}},
            )
        )
        keys = []
        while len(c.queue):
            key = await c.queue.get()
            assert key is not None
            keys.append(key)
            c.queue.done(key)
        await api.close()
        return keys

    keys = asyncio.run(scenario())
    assert sorted(keys) == ["ns/a", "ns/b", "ns/c"]


def test_metrics_track_phase_and_serve_healthz() -> None:
    metrics = Metrics()
    r = {**rollout("a", stableService="web"), "status": {"phase": "Progressing"}}
    metrics.reconciled(r, 0.01)
    metrics.reconciled({**r, "status": {"phase": "Healthy"}}, 0.02)
    metrics.event("Normal", "ScalingReplicaSet")
    metrics.api_request("GET", "200", 0.001)
    labels = {"namespace": "ns", "name": "a", "strategy": "canary"}
    assert metrics.registry.get_sample_value("rollout_info", {**labels, "phase": "Healthy"}) == 1
    assert metrics.registry.get_sample_value("rollout_info", {**labels, "phase": "Progressing"}) is None
    server = MetricsServer(metrics, 0, "127.0.0.1")
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
            assert resp.read() == b"ok\n"
        with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        assert 'rollout_events_total{reason="ScalingReplicaSet",type="Normal"} 1.0' in text
        assert "rollout_reconcile_seconds_bucket" in text
        assert 'rollout_controller_api_requests_total{code="200",verb="GET"} 1.0' in text
    finally:
        server.stop()
    metrics.forget("ns/a")
    assert metrics.registry.get_sample_value("rollout_info", {**labels, "phase": "Healthy"}) is None


def test_run_flags() -> None:
    args = build_parser("rollouts controller").parse_args(
        [
            "run",
            "--namespace",
            "apps",
            "--workers",
            "3",
            "--no-leader-elect",
            "--instance-id",
            "x",
            "--metrics-port",
            "0",
        ]
    )
    options = options_from(args)
    assert options == ControllerOptions(namespace="apps", workers=3, leader_elect=False, instance_id="x")
    defaults = build_parser("p").parse_args(["run"])
    assert defaults.leader_elect is True
    assert defaults.metrics_port == 8090
    assert options_from(defaults).namespace is None
    assert (options_from(defaults).lease_duration, options_from(defaults).resync_period) == (15.0, 900.0)


def test_lease_timing_and_resync_flags() -> None:
    args = build_parser("p").parse_args(
        [
            "run",
            "--leader-election-lease-duration",
            "1m",
            "--leader-election-renew-deadline",
            "30s",
            "--leader-election-retry-period",
            "500ms",
            "--rollout-resync",
            "0",
        ]
    )
    options = options_from(args)
    assert (options.lease_duration, options.renew_deadline, options.retry_period) == (60.0, 30.0, 0.5)
    assert options.resync_period is None
    assert duration("1m30s") == 90.0
    for bad in ("10x", "5m3", "s"):
        with pytest.raises(argparse.ArgumentTypeError):
            duration(bad)
    inverted = build_parser("p").parse_args(["run", "--leader-election-renew-deadline", "20s"])
    with pytest.raises(SystemExit, match="renew-deadline"):
        options_from(inverted)


def test_lease_namespace_defaults() -> None:
    assert lease_namespace(KubeConfig(server="s"), env={}) == "rollouts"
    assert lease_namespace(KubeConfig(server="s", namespace="ops"), env={}) == "ops"
    assert lease_namespace(KubeConfig(server="s", namespace="ops"), env={"POD_NAMESPACE": "pod"}) == "pod"


def test_entry_points_reach_the_controller_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        rollouts_main(["controller", "run", "--help"])
    assert e.value.code == 0
    assert "--leader-elect" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        module_main(["--help"])
    assert "run" in capsys.readouterr().out
    # a kubeconfig that does not exist: a clear error, exit 1
    assert module_main(["--kubeconfig", "/nonexistent/kubeconfig", "--metrics-port", "0"]) == 1
    assert rollouts_main(["version"]) == 0
