"""Watch over HTTP: framing, replay, expiry, selectors, bookmarks and timeouts."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import Cluster, start_cluster, stop_cluster
from tests.integration.test_api_objects import configmap


@contextmanager
def watch(cluster: Cluster, path: str, **query: str) -> Iterator[Iterator[dict[str, Any]]]:
    """Open a watch; yields an iterator of decoded events (one JSON object per line)."""
    url = urllib.parse.urlsplit(cluster.url)
    conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=15, context=cluster.ssl_context())
    params = urllib.parse.urlencode({"watch": "true", **query})
    conn.request("GET", f"{path}?{params}", headers={"Authorization": f"Bearer {cluster.token}"})
    resp = conn.getresponse()
    assert resp.status == 200

    def events() -> Iterator[dict[str, Any]]:
        while True:
            line = resp.readline()
            if not line:
                return
            yield json.loads(line)

    try:
        yield events()
    finally:
        conn.close()


def test_watch_without_resource_version_sends_added_for_existing(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    cluster.request("POST", path, configmap("w1", namespace))
    with watch(cluster, path, timeoutSeconds="5") as events:
        first = next(events)
        assert first["type"] == "ADDED"
        assert first["object"]["metadata"]["name"] == "w1"
        cluster.request("POST", path, configmap("w2", namespace))
        second = next(events)
        assert (second["type"], second["object"]["metadata"]["name"]) == ("ADDED", "w2")
        cluster.request("DELETE", f"{path}/w1")
        third = next(events)
        assert (third["type"], third["object"]["metadata"]["name"]) == ("DELETED", "w1")


def test_watch_replays_from_resource_version(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _, obj, _ = cluster.request("POST", path, configmap("r", namespace, v="1"))
    rv = obj["metadata"]["resourceVersion"]
    cluster.request("PATCH", f"{path}/r", {"data": {"v": "2"}}, content_type="application/merge-patch+json")
    cluster.request("PATCH", f"{path}/r", {"data": {"v": "3"}}, content_type="application/merge-patch+json")
    with watch(cluster, path, resourceVersion=rv, timeoutSeconds="2") as events:
        got = [(e["type"], e["object"]["data"]["v"]) for e in events]
    assert got == [("MODIFIED", "2"), ("MODIFIED", "3")]


def test_watch_from_expired_resource_version_gets_410(fresh_cluster: Cluster) -> None:
    # A restart drops the in-memory history: watches from before it must re-list.
    _, before, _ = fresh_cluster.request("GET", "/api/v1/namespaces/default/configmaps")
    old_rv = before["metadata"]["resourceVersion"]
    fresh_cluster.request("POST", "/api/v1/namespaces/default/configmaps", configmap("later", "default"))
    stop_cluster(fresh_cluster)
    restarted = start_cluster(fresh_cluster.state_dir)
    try:
        with watch(restarted, "/api/v1/namespaces/default/configmaps", resourceVersion=old_rv) as events:
            event = next(events)
        # from the current resourceVersion, nothing is missing: the watch is accepted
        _, now, _ = restarted.request("GET", "/api/v1/namespaces/default/configmaps")
        with watch(
            restarted,
            "/api/v1/namespaces/default/configmaps",
            resourceVersion=now["metadata"]["resourceVersion"],
            timeoutSeconds="1",
        ) as live:
            assert list(live) == []
    finally:
        stop_cluster(restarted)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"


def test_watch_with_label_selector_sees_objects_enter_and_leave(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    cluster.request("POST", path, configmap("sel", namespace))
    with watch(cluster, path, labelSelector="app=x", timeoutSeconds="5") as events:
        cluster.request(
            "PATCH",
            f"{path}/sel",
            {"metadata": {"labels": {"app": "x"}}},
            content_type="application/merge-patch+json",
        )
        assert next(events)["type"] == "ADDED"
        cluster.request(
            "PATCH",
            f"{path}/sel",
            {"metadata": {"labels": {"app": "y"}}},
            content_type="application/merge-patch+json",
        )
        assert next(events)["type"] == "DELETED"


def test_watch_field_selector_on_name(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    with watch(cluster, path, fieldSelector="metadata.name=only", timeoutSeconds="3") as events:
        cluster.request("POST", path, configmap("other", namespace))
        cluster.request("POST", path, configmap("only", namespace))
        names = [e["object"]["metadata"]["name"] for e in events]
    assert names == ["only"]


def test_watch_timeout_seconds_ends_stream(cluster: Cluster, namespace: str) -> None:
    import time

    started = time.monotonic()
    with watch(cluster, f"/api/v1/namespaces/{namespace}/configmaps", timeoutSeconds="1") as events:
        assert list(events) == []
    assert 0.9 <= time.monotonic() - started < 5


def test_watch_bookmarks_carry_the_current_resource_version(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "state", env={"LOCALCLUSTER_BOOKMARK_INTERVAL": "0.3"})
    try:
        path = "/api/v1/namespaces/default/configmaps"
        _, created, _ = cluster.request("POST", path, configmap("b", "default"))
        with watch(
            cluster,
            path,
            allowWatchBookmarks="true",
            resourceVersion=created["metadata"]["resourceVersion"],
            timeoutSeconds="5",
        ) as events:
            bookmark = next(events)
        # without allowWatchBookmarks there are none
        with watch(
            cluster, path, resourceVersion=created["metadata"]["resourceVersion"], timeoutSeconds="1"
        ) as events:
            assert list(events) == []
    finally:
        stop_cluster(cluster)
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["kind"] == "ConfigMap"
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(
        created["metadata"]["resourceVersion"]
    )
