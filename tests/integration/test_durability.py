"""An acknowledged write survives the server being killed with SIGKILL."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from tests.conftest import start_cluster, stop_cluster
from tests.integration.test_api_objects import configmap


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cluster = start_cluster(state)
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            name = f"d{i}"
            try:
                status, _, _ = cluster.request(
                    "POST", "/api/v1/namespaces/default/configmaps", configmap(name, "default", n=str(i))
                )
            except OSError:
                return  # the server died mid-request: that write was never acknowledged
            if status == 201:
                acknowledged.append(name)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(acknowledged) < 200:
            thread.join(0.01)
        stop_cluster(cluster, signal.SIGKILL)
    finally:
        stop.set()
        thread.join(30)
    assert cluster.proc.returncode == -signal.SIGKILL

    restarted = start_cluster(state)
    try:
        status, body, _ = restarted.request("GET", "/api/v1/namespaces/default/configmaps")
        assert status == 200
        stored = {item["metadata"]["name"] for item in body["items"]}
        missing = [n for n in acknowledged if n not in stored]
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"
        # resourceVersions keep increasing across the restart
        _, after, _ = restarted.request(
            "POST", "/api/v1/namespaces/default/configmaps", configmap("after", "default")
        )
        highest = max(int(i["metadata"]["resourceVersion"]) for i in body["items"])
        assert int(after["metadata"]["resourceVersion"]) > highest
    finally:
        stop_cluster(restarted)
