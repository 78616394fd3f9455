"""Pod IPs: on 127.10.0.0/16, never .0/.255, and never the same twice on one machine."""

from __future__ import annotations

import ipaddress
import random

import pytest

from localcluster.kubelet.ipam import POD_NETWORK, NoFreePodIPError, PodIPAllocator, assignable, claim


@pytest.mark.parametrize(
    ("ip", "ok"),
    [
        ("127.10.0.1", True),
        ("127.10.255.254", True),
        ("127.10.3.0", False),
        ("127.10.3.255", False),
        ("127.11.0.1", False),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("not-an-ip", False),
    ],
)
def test_assignable_addresses(ip: str, ok: bool) -> None:
    assert assignable(ip) is ok


class _Fixed(random.Random):
    """A random source that picks the given offsets into the pod network, in order."""

    def __init__(self, offsets: list[int]) -> None:
        super().__init__(0)
        self._offsets = list(offsets)

    def randrange(self, *args: object, **kwargs: object) -> int:  # type: ignore[override]
        return self._offsets.pop(0)


def _offset(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip)) - int(POD_NETWORK.network_address)


def _free_addresses(count: int, avoid: set[str]) -> list[str]:
    """``count`` pod addresses no process on this machine holds right now (probed, then let go)."""
    rng = random.Random()
    found: list[str] = []
    while len(found) < count:
        ip = str(POD_NETWORK.network_address + rng.randrange(1, POD_NETWORK.num_addresses - 1))
        if not assignable(ip) or ip in avoid or ip in found:
            continue
        sock = claim(ip)
        if sock is not None:
            sock.close()
            found.append(ip)
    return found


def test_allocated_addresses_are_in_the_pod_network_and_distinct() -> None:
    allocator = PodIPAllocator(rng=random.Random(7))
    try:
        ips = [allocator.allocate() for _ in range(50)]
        assert len(set(ips)) == 50
        assert all(assignable(ip) for ip in ips)
    finally:
        allocator.release_all()


def test_an_address_held_by_another_server_is_skipped() -> None:
    """Two allocators stand for two servers: the second cannot get the first one's address."""
    first = PodIPAllocator(rng=random.Random(1))
    ip = first.allocate()
    other, third = _free_addresses(2, avoid={ip})  # free now, whatever else runs on this machine
    second = PodIPAllocator(rng=_Fixed([_offset(ip), _offset(other), _offset(third)]))
    try:
        assert second.allocate() == other
        assert second.allocate(preferred=ip) == third  # even when asked for it
    finally:
        first.release_all()
        second.release_all()


def test_released_addresses_are_free_again_machine_wide() -> None:
    first = PodIPAllocator()
    ip = first.allocate()
    assert claim(ip) is None
    first.release(ip)
    sock = claim(ip)
    assert sock is not None
    sock.close()


def test_preferred_address_is_kept_when_free() -> None:
    allocator = PodIPAllocator()
    try:
        ip = allocator.allocate()
        allocator.release(ip)
        assert allocator.allocate(preferred=ip) == ip
        assert allocator.allocate(preferred=ip) == ip  # already ours: same answer
        assert allocator.held == {ip}
        assert allocator.allocate(preferred="127.10.5.0") != "127.10.5.0"  # not assignable
    finally:
        allocator.release_all()


def test_avoided_addresses_are_not_picked() -> None:
    avoided = "127.10.9.9"
    allocator = PodIPAllocator(rng=_Fixed([_offset(avoided), _offset("127.10.9.10")]))
    try:
        assert allocator.allocate(avoid={avoided}) == "127.10.9.10"
    finally:
        allocator.release_all()


def test_exhaustion_is_an_error_naming_the_network() -> None:
    holder = PodIPAllocator()
    ip = holder.allocate()
    allocator = PodIPAllocator(rng=_Fixed([_offset(ip)] * 3), attempts=3)
    try:
        with pytest.raises(NoFreePodIPError, match=r"127\.10\.0\.0/16"):
            allocator.allocate()
    finally:
        holder.release_all()
