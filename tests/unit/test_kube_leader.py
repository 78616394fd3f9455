"""Leader election: the acquire/renew decision, config checks, and electors on an in-memory Lease."""

from __future__ import annotations

import asyncio
import copy
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from controller.kube import Conflict, LeaderElectionConfig, LeaderElector, NotFound, Unreachable
from controller.kube.leader import LeaseRecord, micro_time, next_record

NOW = "2025-01-01T00:00:10.000000Z"


def test_next_record_creates_takes_renews_and_waits() -> None:
    fresh = next_record(None, identity="a", lease_valid=False, now=NOW, lease_duration_seconds=15)
    assert fresh == LeaseRecord("a", 15, NOW, NOW, 0)
    held_by_b = LeaseRecord("b", 15, "t0", "t1", 3)
    # b's lease is still valid: wait
    assert next_record(held_by_b, identity="a", lease_valid=True, now=NOW, lease_duration_seconds=15) is None
    # expired: take it, one more transition, a new acquire time
    assert next_record(held_by_b, identity="a", lease_valid=False, now=NOW, lease_duration_seconds=15) == (
        LeaseRecord("a", 15, NOW, NOW, 4)
    )
    # released (no holder): take it at once even if "valid"
    released = LeaseRecord("", 1, "t0", "t1", 4)
    assert next_record(released, identity="a", lease_valid=True, now=NOW, lease_duration_seconds=15) == (
        LeaseRecord("a", 15, NOW, NOW, 5)
    )
    # our own: renew, keeping the acquire time and the transitions
    mine = LeaseRecord("a", 15, "t0", "t1", 5)
    assert next_record(mine, identity="a", lease_valid=True, now=NOW, lease_duration_seconds=15) == (
        LeaseRecord("a", 15, "t0", NOW, 5)
    )


def test_lease_record_round_trips_through_a_lease_spec() -> None:
    record = LeaseRecord("a", 15, NOW, NOW, 2)
    spec = record.to_spec()
    assert spec == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 15,
        "acquireTime": NOW,
        "renewTime": NOW,
        "leaseTransitions": 2,
    }
    assert LeaseRecord.from_lease({"spec": spec}) == record
    assert LeaseRecord.from_lease({}) == LeaseRecord()


def test_micro_time_is_rfc3339_utc_with_microseconds() -> None:
    moment = datetime.datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=datetime.UTC)
    assert micro_time(moment) == "2025-01-02T03:04:05.000678Z"


@pytest.mark.parametrize(
    ("timings", "message"),
    [
        ({"lease_duration": 10, "renew_deadline": 10}, "lease_duration must be greater"),
        ({"renew_deadline": 2, "retry_period": 2}, "renew_deadline must be greater"),
        ({"retry_period": 0}, "retry_period"),
    ],
)
def test_config_checks_timings_as_client_go(timings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LeaderElectionConfig(namespace="ns", name="lock", identity="a", **timings)


def test_config_defaults_are_client_gos_and_duration_rounds_up() -> None:
    config = LeaderElectionConfig(namespace="ns", name="lock", identity="a")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15.0, 10.0, 2.0)
    short = LeaderElectionConfig("ns", "lock", "a", lease_duration=1.5, renew_deadline=1, retry_period=0.1)
    assert short.lease_duration_seconds == 2
    with pytest.raises(ValueError, match="identity"):
        LeaderElectionConfig(namespace="ns", name="lock", identity="")


# -- electors on an in-memory Lease -----------------------------------------------------------------


@dataclass
class MemoryLeases:
    """One Lease with resourceVersion checks, as the API server keeps it."""

    lease: dict[str, Any] | None = None
    rv: int = 0
    down: bool = False
    writes: list[str] = field(default_factory=list)

    def _check(self) -> None:
        if self.down:
            raise Unreachable("memory", "down")

    async def get(self, path: str) -> dict[str, Any]:
        self._check()
        await asyncio.sleep(0)
        if self.lease is None:
            raise NotFound(404, "NotFound", "no lease")
        return copy.deepcopy(self.lease)

    async def create(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]:
        self._check()
        await asyncio.sleep(0)
        if self.lease is not None:
            raise Conflict(409, "AlreadyExists", "exists")
        return self._store(body)

    async def replace(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]:
        self._check()
        await asyncio.sleep(0)
        assert self.lease is not None
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "the object has been modified")
        return self._store(body)

    def _store(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.rv += 1
        self.lease = copy.deepcopy(dict(body))
        self.lease["metadata"]["resourceVersion"] = str(self.rv)
        self.writes.append(self.lease["spec"]["holderIdentity"])
        return copy.deepcopy(self.lease)


def quick(identity: str, *, release: bool = True) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        "ns",
        "lock",
        identity,
        lease_duration=1,
        renew_deadline=0.3,
        retry_period=0.05,
        release_on_cancel=release,
    )


def test_candidates_racing_for_a_missing_lease_elect_exactly_one() -> None:
    async def main() -> tuple[list[bool], MemoryLeases, list[str]]:
        store = MemoryLeases()
        reported: list[str] = []
        electors = [LeaderElector(store, quick(f"c{i}"), on_new_leader=reported.append) for i in range(3)]
        tasks = [asyncio.create_task(e.run()) for e in electors]
        await asyncio.sleep(0.3)
        leading = [e.is_leader for e in electors]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return leading, store, reported

    leading, store, reported = asyncio.run(main())
    assert leading.count(True) == 1
    winner = f"c{leading.index(True)}"
    assert store.writes[0] == winner and set(store.writes[:-1]) == {winner}  # renewals by the winner only
    assert store.lease is not None and store.lease["spec"]["holderIdentity"] == ""  # released at the end
    assert store.lease["spec"]["leaseTransitions"] == 0
    assert winner in reported


def test_a_leader_that_cannot_renew_within_the_deadline_stops_leading() -> None:
    async def main() -> tuple[list[str], float]:
        store = MemoryLeases()
        calls: list[str] = []
        elector = LeaderElector(
            store,
            quick("a"),
            on_started_leading=lambda: calls.append("started"),
            on_stopped_leading=lambda: calls.append("stopped"),
        )
        task = asyncio.create_task(elector.run())
        await asyncio.wait_for(elector.wait_until_leading(), 1)
        store.down = True
        loop = asyncio.get_running_loop()
        cut = loop.time()
        await asyncio.wait_for(task, 2)  # run() returns: leadership lost
        return calls, loop.time() - cut

    calls, took = asyncio.run(main())
    assert calls == ["started", "stopped"]
    assert took < 0.3 + 0.05 + 0.2  # renew deadline + one retry period + slack


def test_a_lease_taken_by_someone_else_ends_leadership() -> None:
    async def main() -> bool:
        store = MemoryLeases()
        elector = LeaderElector(store, quick("a"))
        task = asyncio.create_task(elector.run())
        await asyncio.wait_for(elector.wait_until_leading(), 1)
        assert store.lease is not None
        # another writer (say after a partition) holds it now
        store._store({**store.lease, "spec": {**store.lease["spec"], "holderIdentity": "b"}})
        await asyncio.wait_for(task, 2)
        return elector.is_leader

    assert asyncio.run(main()) is False


def test_default_identity_names_the_pod() -> None:
    from controller.kube.leader import default_identity

    assert default_identity({"POD_NAME": "rollouts-controller-7d9f"}).startswith("rollouts-controller-7d9f_")
    assert default_identity({"HOSTNAME": "host-a"}).startswith("host-a_")
    assert default_identity({"POD_NAME": "p"}) != default_identity({"POD_NAME": "p"})
