"""A real Prometheus server for a localcluster: its config, its process, its install.

``localcluster prometheus up`` runs the ``prometheus`` binary (Debian's package) on
127.0.0.1 with a config generated here: one scrape job, ``kubernetes-pods``, whose targets
come from the API server's HTTP service discovery endpoint
(:mod:`localcluster.apiserver.prometheus_sd`) over HTTPS with the cluster's bearer token and CA,
and whose relabelling is the one a real cluster's pod job typically has. Everything it keeps
lives in ``<state-dir>/prometheus/``:

- ``prometheus.yml``  the generated config
- ``data/``           the TSDB
- ``info.json``       pid, url, port, start time and settings of the running server
- ``prometheus.log``  what the server printed

The process is started in a session of its own and stopped by its PID (SIGTERM, then SIGKILL
after a timeout); a PID is only trusted while ``/proc`` shows it running this config.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: How to get the binary on Debian and Ubuntu.
INSTALL_HINT = "sudo apt-get install -y prometheus"
DEFAULT_BINARY = "prometheus"
DEFAULT_SCRAPE_INTERVAL_S = 2.0
DEFAULT_RETENTION = "1d"
JOB_NAME = "kubernetes-pods"
SD_PATH = "/localcluster/prometheus/http_sd"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class PrometheusError(Exception):
    """A problem the user can act on, said in one line."""


@dataclass(frozen=True)
class PrometheusPaths:
    """Where one cluster's Prometheus keeps its files."""

    root: Path

    @staticmethod
    def in_state_dir(state_dir: Path) -> PrometheusPaths:
        # Absolute, so the PID check matches whatever directory a later command runs in.
        return PrometheusPaths(state_dir.resolve() / "prometheus")

    @property
    def config(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def info(self) -> Path:
        return self.root / "info.json"

    @property
    def log(self) -> Path:
        return self.root / "prometheus.log"


# -- durations ---------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds from ``"2s"``, ``"500ms"``, ``"1m"``, ``"1.5"`` (a bare number is seconds)."""
    match = _DURATION.match(text)
    if match is None:
        raise PrometheusError(f"invalid duration {text!r}: use a number of seconds or e.g. 2s, 500ms, 1m")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    if seconds < 0.1:
        raise PrometheusError(f"duration {text!r} is too short: Prometheus scrapes at most every 100ms")
    return seconds


def format_duration(seconds: float) -> str:
    """A Prometheus duration (whole milliseconds): 2.0 -> ``2s``, 0.5 -> ``500ms``."""
    millis = round(seconds * 1000)
    if millis % 1000 == 0:
        return f"{millis // 1000}s"
    return f"{millis}ms"


# -- config ------------------------------------------------------------------------------


def sd_url(cluster_url: str, namespace: str | None = None) -> str:
    """The service discovery URL on the API server at ``cluster_url``."""
    query = f"?{urllib.parse.urlencode({'namespace': namespace})}" if namespace else ""
    return f"{cluster_url.rstrip('/')}{SD_PATH}{query}"


def relabel_configs() -> list[dict[str, Any]]:
    """What a real cluster's pod scrape job typically does with ``role: pod`` targets."""
    return [
        # Pods opt out with the annotation prometheus.io/scrape: "false".
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
            "regex": "false",
            "action": "drop",
        },
        # Only running pods; init containers serve no metrics.
        {
            "source_labels": ["__meta_kubernetes_pod_phase"],
            "regex": "Pending|Succeeded|Failed|Completed",
            "action": "drop",
        },
        {"source_labels": ["__meta_kubernetes_pod_container_init"], "regex": "true", "action": "drop"},
        # Only targets with a port: a declared containerPort, or the prometheus.io/port annotation.
        {
            "source_labels": [
                "__meta_kubernetes_pod_container_port_number",
                "__meta_kubernetes_pod_annotation_prometheus_io_port",
            ],
            "regex": ";",
            "action": "drop",
        },
        {
            "source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
            "regex": r"([^:]+)(?::\d+)?;(\d+)",
            "replacement": "$1:$2",
            "target_label": "__address__",
        },
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
            "regex": "(.+)",
            "target_label": "__metrics_path__",
        },
        # Every pod label becomes a target label (app, rollouts_pod_template_hash, ...).
        {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
    ]


def config(
    *,
    cluster_url: str,
    token_file: Path,
    ca_file: Path,
    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The Prometheus config scraping the pods of the cluster at ``cluster_url``."""
    interval = format_duration(scrape_interval_s)
    return {
        "global": {
            "scrape_interval": interval,
            # The timeout may not exceed the interval; Prometheus's default is 10s.
            "scrape_timeout": format_duration(min(scrape_interval_s, 10.0)),
            "evaluation_interval": interval,
        },
        "scrape_configs": [
            {
                "job_name": JOB_NAME,
                "http_sd_configs": [
                    {
                        "url": sd_url(cluster_url, namespace),
                        # New pods become targets within about one scrape interval.
                        "refresh_interval": format_duration(max(scrape_interval_s, 1.0)),
                        "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                        "tls_config": {"ca_file": str(ca_file)},
                    }
                ],
                "relabel_configs": relabel_configs(),
            }
        ],
    }


def config_text(cfg: dict[str, Any]) -> str:
    """A config as YAML, with a header saying where it came from."""
    header = "# Generated by `localcluster prometheus up`; rewritten on every `up`.\n"
    return header + yaml.safe_dump(cfg, sort_keys=False)


# -- the binary --------------------------------------------------------------------------


def install_allowed(flag: bool) -> bool:
    """Whether ``up`` may install the package: ``--install``, or ``CI=true``."""
    return flag or os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def find_binary(binary: str = DEFAULT_BINARY) -> str | None:
    """The binary's path: ``binary`` itself when it names a file, else looked up on PATH."""
    if os.sep in binary:
        return binary if os.access(binary, os.X_OK) else None
    return shutil.which(binary)


def install_with_apt() -> None:
    """``apt-get install prometheus`` (as root); its output goes to stderr."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
    ):
        print(f"running: {' '.join(command)}", file=sys.stderr)
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr, check=False)
        if done.returncode != 0:
            raise PrometheusError(
                f"`{' '.join(command)}` failed with exit code {done.returncode}; install it with `{INSTALL_HINT}`"
            )


def ensure_binary(binary: str = DEFAULT_BINARY, *, allow_install: bool = False) -> str:
    """The path of the prometheus binary, installing the Debian package where allowed."""
    found = find_binary(binary)
    if found is not None:
        return found
    if binary != DEFAULT_BINARY:
        raise PrometheusError(f"prometheus binary {binary!r} not found or not executable")
    can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if allow_install and can_install:
        install_with_apt()
        found = find_binary(binary)
        if found is not None:
            return found
        raise PrometheusError(f"the prometheus package was installed but `{binary}` is not on PATH")
    how = f"install it with `{INSTALL_HINT}`"
    if can_install:
        how += " (or run this again with --install)"
    elif allow_install:
        how += " (--install needs root and apt-get)"
    raise PrometheusError(f"the prometheus binary is not installed (not on PATH): {how}")


# -- the process -------------------------------------------------------------------------


def read_info(paths: PrometheusPaths) -> dict[str, Any] | None:
    try:
        data = json.loads(paths.info.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_info(paths: PrometheusPaths, info: dict[str, Any]) -> None:
    tmp = paths.info.with_name(paths.info.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, paths.info)


def pid_alive(pid: int, paths: PrometheusPaths) -> bool:
    """True while ``pid`` runs Prometheus with this config (not gone, not a zombie, not reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return True  # no /proc: trust the PID
    return f"--config.file={paths.config}".encode() in cmdline


def running(paths: PrometheusPaths) -> dict[str, Any] | None:
    """The running server's info, or None."""
    info = read_info(paths)
    if not info or not isinstance(info.get("pid"), int) or not pid_alive(info["pid"], paths):
        return None
    return info


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """(status, body) of a GET; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def ready(url: str, timeout: float = 1.0) -> bool:
    return http_get(f"{url}/-/ready", timeout)[0] == 200


def _free_port(host: str, preferred: int | None) -> int:
    """``preferred`` when it is free, else a free ephemeral port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Prometheus's own listener
        if preferred:
            try:
                s.bind((host, preferred))
                return preferred
            except OSError:
                pass
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _log_tail(paths: PrometheusPaths, lines: int = 3) -> str:
    try:
        text = paths.log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def reload(url: str, timeout: float = 10.0) -> None:
    """Ask a running server to read its config again (``--web.enable-lifecycle``)."""
    request = urllib.request.Request(f"{url}/-/reload", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return
    except urllib.error.HTTPError as e:
        raise PrometheusError(f"prometheus at {url} refused its new config: {e.read().decode()[:300]}") from e
    except (urllib.error.URLError, OSError) as e:
        raise PrometheusError(f"prometheus at {url} did not answer the reload: {e}") from e


def write_config(paths: PrometheusPaths, text: str) -> bool:
    """Write the config; True when it changed."""
    paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if paths.config.read_text() == text:
            return False
    except OSError:
        pass
    tmp = paths.config.with_name(paths.config.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, paths.config)
    return True


def start(
    paths: PrometheusPaths,
    *,
    binary: str,
    config_yaml: str,
    port: int | None = None,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    retention: str = DEFAULT_RETENTION,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start the server (or, when it runs, refresh its config) and wait until it is ready.

    Returns its info, with ``alreadyRunning`` (and ``configReloaded``) saying what happened.
    """
    changed = write_config(paths, config_yaml)
    info = running(paths)
    if info is not None:
        if changed:
            reload(str(info["url"]))
            info.update(settings or {})
            _write_info(paths, info)
        return {**info, "alreadyRunning": True, "configReloaded": changed}
    paths.data.mkdir(parents=True, exist_ok=True)
    previous = read_info(paths) or {}
    attempts = 1 if port else 3
    last_error = ""
    for _ in range(attempts):
        chosen = port or _free_port(
            host, previous.get("port") if isinstance(previous.get("port"), int) else None
        )
        url = f"http://{host}:{chosen}"
        command = [
            binary,
            f"--config.file={paths.config}",
            f"--storage.tsdb.path={paths.data}",
            f"--storage.tsdb.retention.time={retention}",
            f"--web.listen-address={host}:{chosen}",
            "--web.enable-lifecycle",
        ]
        with open(paths.log, "ab") as log_file:
            log_file.write(f"--- {_now()} {' '.join(command)}\n".encode())
            log_file.flush()
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        info = {
            "pid": proc.pid,
            "url": url,
            "host": host,
            "port": chosen,
            "started": _now(),
            "binary": binary,
            "config": str(paths.config),
            "storage": str(paths.data),
            "log": str(paths.log),
            **(settings or {}),
        }
        _write_info(paths, info)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_error = (
                    f"prometheus exited with code {proc.returncode} while starting: {_log_tail(paths)}"
                )
                break
            if ready(url):
                return {**info, "alreadyRunning": False}
            time.sleep(0.1)
        else:
            _terminate(proc.pid, paths, 5.0)
            proc.wait(timeout=5)
            raise PrometheusError(f"prometheus did not become ready within {timeout:g}s: {_log_tail(paths)}")
        if "address already in use" not in _log_tail(paths, 20):
            break
        previous = {}  # that port was taken after all: pick a fresh one
    raise PrometheusError(last_error)


def _terminate(pid: int, paths: PrometheusPaths, timeout: float) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True when it stopped on SIGTERM."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, paths):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and pid_alive(pid, paths):
        time.sleep(0.05)
    return False


def stop(paths: PrometheusPaths, timeout: float = 10.0) -> tuple[int, bool] | None:
    """Stop the running server by its PID: (pid, stopped on SIGTERM), or None when none ran."""
    info = running(paths)
    if info is None:
        return None
    pid = int(info["pid"])
    graceful = _terminate(pid, paths, timeout)
    info.pop("pid", None)
    info["stopped"] = _now()
    _write_info(paths, info)
    return pid, graceful


def targets_summary(url: str) -> dict[str, int] | None:
    """Active targets by health (``up``, ``down``, ``unknown``), or None when it did not answer."""
    status, body = http_get(f"{url}/api/v1/targets?state=active")
    if status != 200:
        return None
    try:
        active = json.loads(body)["data"]["activeTargets"]
    except (ValueError, KeyError, TypeError):
        return None
    summary: dict[str, int] = {}
    for target in active:
        health = str(target.get("health") or "unknown")
        summary[health] = summary.get(health, 0) + 1
    return summary
