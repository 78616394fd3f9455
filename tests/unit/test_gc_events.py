"""Events expire an hour after they were last seen, as with the real API server's --event-ttl."""

from __future__ import annotations

import datetime

from localcluster.apiserver.objects import Objects
from localcluster.apiserver.registry import Registry
from localcluster.controllers.gc import EVENT_TTL, GarbageCollector
from localcluster.store import Store


def event(name: str, last: datetime.datetime) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "lastTimestamp": last.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": "Test",
    }


def test_only_events_older_than_the_ttl_are_deleted() -> None:
    store = Store(None)
    gc = GarbageCollector(Objects(store, Registry()))
    now = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)
    store.put("/events", event("old", now - datetime.timedelta(seconds=EVENT_TTL + 60)))
    store.put("/events", event("recent", now - datetime.timedelta(seconds=EVENT_TTL - 60)))
    assert gc.expire_events(now.timestamp()) == 1
    assert [e["metadata"]["name"] for e in store.list("/events")] == ["recent"]
