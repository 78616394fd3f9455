"""The stale-cache guard: a cached copy older than our own last write is not acted on."""

from __future__ import annotations

from typing import Any

from controller.kube.versions import VersionTracker, is_older, resource_version_of


def obj(rv: str) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns", "resourceVersion": rv}}


def test_without_a_write_nothing_is_stale() -> None:
    tracker = VersionTracker()
    assert not tracker.is_stale("ns/web", obj("1"))
    assert tracker.last_written("ns/web") is None


def test_a_cache_older_than_the_last_write_is_stale_until_it_catches_up() -> None:
    tracker = VersionTracker()
    tracker.record_write("ns/web", obj("120"))
    assert tracker.is_stale("ns/web", obj("119"))
    assert tracker.is_stale("ns/web", "99")  # numerically, not as text ("99" > "120")
    assert not tracker.is_stale("ns/web", obj("120"))
    assert not tracker.is_stale("ns/web", obj("121"))
    assert not tracker.is_stale("ns/other", obj("1"))


def test_an_out_of_order_older_write_does_not_move_the_mark_back() -> None:
    tracker = VersionTracker()
    tracker.record_write("ns/web", "200")
    tracker.record_write("ns/web", "150")
    assert tracker.last_written("ns/web") == "200"
    assert tracker.is_stale("ns/web", obj("180"))
    tracker.record_write("ns/web", "210")
    assert tracker.last_written("ns/web") == "210"


def test_versions_that_are_not_integers_are_never_stale() -> None:
    tracker = VersionTracker()
    tracker.record_write("ns/web", "Cg4xMjM0NTY=")
    assert not tracker.is_stale("ns/web", obj("1"))
    tracker.record_write("ns/api", "100")
    assert not tracker.is_stale("ns/api", obj("opaque-token"))
    assert not is_older("abc", "def")


def test_missing_versions_and_forget() -> None:
    tracker = VersionTracker()
    tracker.record_write("ns/web", {"metadata": {}})  # nothing to remember
    assert len(tracker) == 0
    tracker.record_write("ns/web", "5")
    assert not tracker.is_stale("ns/web", None)  # not cached: nothing to act on anyway
    assert not tracker.is_stale("ns/web", {"metadata": {}})
    tracker.forget("ns/web")
    assert not tracker.is_stale("ns/web", obj("1"))
    assert resource_version_of(obj("7")) == "7" and resource_version_of(None) == ""
