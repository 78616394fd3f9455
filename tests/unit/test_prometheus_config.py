"""The generated Prometheus config, durations, and what ``up`` does when the binary is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import prometheus
from localcluster.prometheus import PrometheusError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("500ms", 0.5), ("1m", 60.0), ("1.5", 1.5), (" 3 ", 3.0), ("1h", 3600.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert prometheus.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2 seconds", "-1s", "abc", "50ms"])
def test_parse_duration_rejects_what_prometheus_cannot_use(text: str) -> None:
    with pytest.raises(PrometheusError, match=repr(text).replace("(", r"\(")):
        prometheus.parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(2.0, "2s"), (0.5, "500ms"), (1.25, "1250ms"), (60.0, "60s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert prometheus.format_duration(seconds) == text


def _config(scrape_interval_s: float = 2.0) -> dict[str, Any]:
    return prometheus.config(
        cluster_url="https://127.0.0.1:6443",
        token_file=Path("/state/token"),
        ca_file=Path("/state/ca.crt"),
        scrape_interval_s=scrape_interval_s,
    )


def test_the_job_discovers_pods_over_https_with_the_cluster_token_and_ca() -> None:
    cfg = yaml.safe_load(prometheus.config_text(_config(scrape_interval_s=2.0)))
    assert cfg["global"] == {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "2s"}
    [job] = cfg["scrape_configs"]
    assert job["job_name"] == "kubernetes-pods"
    [sd] = job["http_sd_configs"]
    assert sd["url"] == "https://127.0.0.1:6443/localcluster/prometheus/http_sd"
    assert sd["authorization"] == {"type": "Bearer", "credentials_file": "/state/token"}
    assert sd["tls_config"] == {"ca_file": "/state/ca.crt"}
    assert sd["refresh_interval"] == "2s"


def test_the_scrape_timeout_never_exceeds_the_interval_nor_ten_seconds() -> None:
    assert _config(0.5)["global"]["scrape_timeout"] == "500ms"
    assert _config(30.0)["global"]["scrape_timeout"] == "10s"


def test_a_namespace_restricts_discovery_with_a_query_parameter() -> None:
    url = prometheus.sd_url("https://127.0.0.1:6443/", "team a")
    assert url == "https://127.0.0.1:6443/localcluster/prometheus/http_sd?namespace=team+a"


def test_relabelling_keeps_ported_targets_and_makes_pod_labels_target_labels() -> None:
    rules = prometheus.relabel_configs()
    drop_portless = next(r for r in rules if r.get("regex") == ";")
    assert drop_portless["action"] == "drop"
    assert drop_portless["source_labels"][0] == "__meta_kubernetes_pod_container_port_number"
    assert {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"} in rules
    targets = {r.get("target_label") for r in rules}
    assert {"namespace", "pod", "container", "__address__", "__metrics_path__"} <= targets


def test_install_is_allowed_by_the_flag_or_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert not prometheus.install_allowed(False)
    assert prometheus.install_allowed(True)
    monkeypatch.setenv("CI", "true")
    assert prometheus.install_allowed(False)


def test_a_missing_binary_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither prometheus nor apt-get
    with pytest.raises(PrometheusError, match=r"sudo apt-get install -y prometheus"):
        prometheus.ensure_binary(allow_install=True)


def test_an_explicit_binary_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(PrometheusError, match="not found or not executable"):
        prometheus.ensure_binary(str(tmp_path / "prometheus"))
    binary = tmp_path / "prom"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert prometheus.ensure_binary(str(binary)) == str(binary)
