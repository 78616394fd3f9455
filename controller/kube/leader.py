"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection``.

Several replicas of the controller run; the one holding the Lease does the work. The rules:

- **Acquire**: every ``retry_period`` (jittered by up to 1.2x) read the Lease; create it if it
  is missing; take it if it has no holder, or its holder has not renewed it within its
  ``leaseDurationSeconds``. Whether it was renewed is judged by *this* process's clock: the
  time we last saw the record change, plus its duration — never the ``renewTime`` written by
  another machine, whose clock may be skewed. So a new elector always waits one full lease
  duration before taking over from a holder it has never seen renew.
- **Renew**: every ``retry_period`` the leader writes a new ``renewTime``; if no renewal
  succeeds within ``renew_deadline`` it stops leading (``on_stopped_leading``) and
  :meth:`LeaderElector.run` returns — the process should then stop its workers (client-go
  controllers exit).
- **Write**: every write is a PUT carrying the resourceVersion just read (optimistic
  concurrency), so two candidates cannot both win: the second gets 409 Conflict.
- **Release**: cancelling :meth:`LeaderElector.run` while leading clears ``holderIdentity``
  (and sets ``leaseDurationSeconds`` to 1), so another replica takes over at its next retry
  instead of waiting out the lease. ``release_on_cancel=False`` skips it (a crash).

``leaseTransitions`` counts changes of holder; ``acquireTime`` is when the current holder took
the lease. Defaults are client-go's: lease 15 s, renew deadline 10 s, retry period 2 s.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
import math
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.kube.client import resource_path
from controller.kube.errors import KubeError, NotFound

log = logging.getLogger(__name__)

#: how much a retry period may be stretched at random while acquiring (client-go's JitterFactor)
JITTER_FACTOR = 1.2
LEASE_API_VERSION = "coordination.k8s.io/v1"


class LeaseClient(Protocol):
    """What an elector needs of :class:`~controller.kube.client.ApiClient`."""

    async def get(self, path: str) -> dict[str, Any]: ...

    async def create(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]: ...

    async def replace(
        self, path: str, body: Mapping[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]: ...


def micro_time(moment: datetime.datetime) -> str:
    """A Kubernetes ``MicroTime``: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity(env: Mapping[str, str] | None = None) -> str:
    """``<pod or host name>_<random>``: unique per process, readable in ``kubectl get lease``.

    The pod's name comes from ``$POD_NAME`` (the Downward API), else ``$HOSTNAME`` (a pod's
    hostname is its name), else the machine's hostname.
    """
    env = os.environ if env is None else env
    name = env.get("POD_NAME") or env.get("HOSTNAME") or socket.gethostname()
    return f"{name}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Which Lease, who we are, and the timings (seconds)."""

    #: namespace of the Lease
    namespace: str
    #: name of the Lease
    name: str
    #: this candidate's identity, unique per process (see :func:`default_identity`)
    identity: str
    #: how long a holder's claim lasts without renewal (written as whole seconds, rounded up)
    lease_duration: float = 15.0
    #: how long the leader keeps retrying a renewal before it gives up leading
    renew_deadline: float = 10.0
    #: the wait between attempts to acquire or renew
    retry_period: float = 2.0
    #: clear the holder when :meth:`LeaderElector.run` is cancelled while leading
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election needs a non-empty identity")
        if not self.namespace or not self.name:
            raise ValueError("leader election needs the Lease's namespace and name")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be greater than zero")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(f"renew_deadline must be greater than retry_period*{JITTER_FACTOR}")

    @property
    def lease_duration_seconds(self) -> int:
        """The duration as the Lease stores it (an integer, at least 1)."""
        return max(1, math.ceil(self.lease_duration))


@dataclass(frozen=True)
class LeaseRecord:
    """The fields of a Lease's spec that election reads and writes."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: Mapping[str, Any]) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.lease_transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time is not None:
            spec["renewTime"] = self.renew_time
        return spec


def next_record(
    observed: LeaseRecord | None, *, identity: str, lease_valid: bool, now: str, lease_duration_seconds: int
) -> LeaseRecord | None:
    """The record ``identity`` writes to take or renew the lease; None while another holder's is valid.

    ``lease_valid``: the observed holder renewed within its duration, by our clock.
    """
    if observed is None:
        return LeaseRecord(identity, lease_duration_seconds, now, now, 0)
    if observed.holder_identity == identity:
        return LeaseRecord(
            identity, lease_duration_seconds, observed.acquire_time or now, now, observed.lease_transitions
        )
    if observed.holder_identity and lease_valid:
        return None
    return LeaseRecord(identity, lease_duration_seconds, now, now, observed.lease_transitions + 1)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaderElector:
    """Campaigns for the Lease and holds it; see the module docstring.

    ``on_started_leading()`` / ``on_stopped_leading()`` are called when this process gains and
    loses the lease; ``on_new_leader(identity)`` whenever the observed holder changes ('' when
    the lease is released). They are plain callbacks: start or stop work from them quickly.
    """

    def __init__(
        self,
        api: LeaseClient,
        config: LeaderElectionConfig,
        *,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime.datetime] = _utcnow,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.api = api
        self.config = config
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._rng = rng
        self._path = resource_path(LEASE_API_VERSION, "leases", namespace=config.namespace, name=config.name)
        self._collection = resource_path(LEASE_API_VERSION, "leases", namespace=config.namespace)
        self._lease: dict[str, Any] | None = None
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._reported: str | None = None
        self._leading = False
        self._leading_event = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        """Whether this process holds the lease now (between started and stopped leading)."""
        return self._leading

    @property
    def leader(self) -> str:
        """The holder we last observed ('' when none)."""
        return self._observed.holder_identity if self._observed else ""

    async def wait_until_leading(self) -> None:
        """Return once this process leads."""
        await self._leading_event.wait()

    async def run(self) -> None:
        """Acquire the lease, then renew it; return when leadership is lost.

        Cancel the task running this to stop: the lease is released first when
        ``release_on_cancel`` is set and this process leads.
        """
        try:
            await self._acquire()
            self._set_leading(True)
            await self._renew_until_lost()
            log.warning(
                "%s: lost the lease %s/%s", self.config.identity, self.config.namespace, self.config.name
            )
        except asyncio.CancelledError:
            if self._leading and self.config.release_on_cancel:
                await self._release()
            raise
        finally:
            self._set_leading(False)

    # -- the loops -----------------------------------------------------------------------------

    async def _acquire(self) -> None:
        while True:
            if await self._attempt(self.config.renew_deadline):
                return
            await asyncio.sleep(self.config.retry_period * (1.0 + JITTER_FACTOR * self._rng()))

    async def _renew_until_lost(self) -> None:
        while True:
            await asyncio.sleep(self.config.retry_period)
            deadline = self._monotonic() + self.config.renew_deadline
            while not await self._attempt(deadline - self._monotonic()):
                if self._monotonic() + self.config.retry_period >= deadline:
                    return
                await asyncio.sleep(self.config.retry_period)

    async def _attempt(self, budget: float) -> bool:
        """One try to acquire or renew, within ``budget`` seconds; False on any failure."""
        if budget <= 0:
            return False
        try:
            async with asyncio.timeout(budget):
                return await self._try_acquire_or_renew()
        except TimeoutError:
            log.info("%s: no answer from the API within %.1fs", self.config.identity, budget)
        except KubeError as e:
            log.info("%s: could not acquire or renew the lease: %s", self.config.identity, e)
        return False

    # -- one step ------------------------------------------------------------------------------

    async def _try_acquire_or_renew(self) -> bool:
        now = micro_time(self._wall_clock())
        duration = self.config.lease_duration_seconds
        try:
            lease: dict[str, Any] | None = await self.api.get(self._path)
        except NotFound:
            lease = None
        if lease is None:
            record = next_record(
                None,
                identity=self.config.identity,
                lease_valid=False,
                now=now,
                lease_duration_seconds=duration,
            )
            assert record is not None
            body = {
                "apiVersion": LEASE_API_VERSION,
                "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": record.to_spec(),
            }
            self._observe(await self.api.create(self._collection, body))
            return True
        self._observe(lease)
        valid = self._observed_at + (self._observed.lease_duration_seconds if self._observed else 0) > (
            self._monotonic()
        )
        record = next_record(
            self._observed,
            identity=self.config.identity,
            lease_valid=valid,
            now=now,
            lease_duration_seconds=duration,
        )
        if record is None:
            return False
        self._observe(await self.api.replace(self._path, self._with_spec(lease, record)))
        return True

    async def _release(self) -> None:
        if self._lease is None or self._observed is None:
            return
        if self._observed.holder_identity != self.config.identity:
            return
        now = micro_time(self._wall_clock())
        record = LeaseRecord("", 1, now, now, self._observed.lease_transitions)
        try:
            async with asyncio.timeout(self.config.renew_deadline):
                self._observe(await self.api.replace(self._path, self._with_spec(self._lease, record)))
            log.info("%s: released the lease", self.config.identity)
        except (KubeError, TimeoutError) as e:
            log.warning("%s: could not release the lease: %s", self.config.identity, e)

    # -- bookkeeping ---------------------------------------------------------------------------

    @staticmethod
    def _with_spec(lease: Mapping[str, Any], record: LeaseRecord) -> dict[str, Any]:
        body = copy.deepcopy(dict(lease))
        body["spec"] = {**(body.get("spec") or {}), **record.to_spec()}
        return body

    def _observe(self, lease: dict[str, Any]) -> None:
        """Remember the Lease as last read or written; restart the validity clock if it changed."""
        record = LeaseRecord.from_lease(lease)
        self._lease = lease
        if record != self._observed:
            self._observed = record
            self._observed_at = self._monotonic()
        if record.holder_identity != self._reported:
            self._reported = record.holder_identity
            if self.on_new_leader is not None:
                self._call(self.on_new_leader, record.holder_identity)

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        if leading:
            self._leading_event.set()
            log.info("%s: started leading", self.config.identity)
            if self.on_started_leading is not None:
                self._call(self.on_started_leading)
        else:
            self._leading_event.clear()
            log.info("%s: stopped leading", self.config.identity)
            if self.on_stopped_leading is not None:
                self._call(self.on_stopped_leading)

    def _call(self, fn: Callable[..., None], *args: str) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%s: a leader election callback failed", self.config.identity)
