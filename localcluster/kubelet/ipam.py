"""Pod IPs: one loopback address of its own per pod, unique across every server on the machine.

Pods get addresses from ``127.10.0.0/16`` (Linux routes all of ``127.0.0.0/8`` to the
loopback interface, so a workload can listen on any of them without configuration).

**Why the addresses stay unique across servers.** Two localcluster servers (two test runs,
or a demo beside a test run) share the loopback interface, so a pod IP must not be handed
out twice machine-wide, not only within one server. Each pod's address is *claimed by a
socket*: the kubelet binds a UDP socket to ``<pod IP>:65535`` (without ``SO_REUSEADDR``) and
holds it for as long as the pod runs. The kernel lets only one socket bind one address and
port, so a second server that picks the same address fails to bind and picks another. The
claim needs no shared file, no lock and no clean-up: whatever way a server ends (``kill -9``
included), the kernel closes its sockets and the addresses are free again. Port 65535 is
outside Linux's default ephemeral range (32768-60999), so no outgoing connection takes it
by chance; the claim is on UDP, so every TCP port of the address stays free for the pod.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import Iterable

POD_NETWORK = ipaddress.IPv4Network("127.10.0.0/16")
#: The UDP port whose binding claims a pod IP machine-wide.
CLAIM_PORT = 65535


class NoFreePodIPError(Exception):
    """Every address tried was taken (by this server or another)."""


def assignable(ip: str) -> bool:
    """Whether ``ip`` may be a pod IP: in the pod network, not ending in ``.0`` or ``.255``."""
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    return address in POD_NETWORK and address.packed[3] not in (0, 255)


def random_candidate(rng: random.Random) -> str:
    """A random assignable address of the pod network."""
    while True:
        ip = str(POD_NETWORK[rng.randrange(POD_NETWORK.num_addresses)])
        if assignable(ip):
            return ip


def claim(ip: str) -> socket.socket | None:
    """Claim ``ip`` machine-wide by binding the claim port; None when another socket holds it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((ip, CLAIM_PORT))
    except OSError:
        sock.close()
        return None
    return sock


class PodIPAllocator:
    """Hands out pod IPs, each claimed by a socket held until :meth:`release`."""

    def __init__(self, *, rng: random.Random | None = None, attempts: int = 500) -> None:
        self._rng = rng or random.Random()
        self._attempts = attempts
        self._claims: dict[str, socket.socket] = {}

    @property
    def held(self) -> frozenset[str]:
        """The addresses this allocator holds now."""
        return frozenset(self._claims)

    def allocate(self, *, preferred: str | None = None, avoid: Iterable[str] = ()) -> str:
        """Claim ``preferred`` when it is assignable and free, else a random free address.

        ``avoid`` lists addresses not to pick at random (e.g. pods of this server that have
        not been started again yet).
        """
        if preferred and preferred in self._claims:
            return preferred
        if preferred and assignable(preferred):
            sock = claim(preferred)
            if sock is not None:
                self._claims[preferred] = sock
                return preferred
        skip = set(avoid) | set(self._claims)
        for _ in range(self._attempts):
            ip = random_candidate(self._rng)
            if ip in skip:
                continue
            sock = claim(ip)
            if sock is not None:
                self._claims[ip] = sock
                return ip
            skip.add(ip)
        raise NoFreePodIPError(f"no free pod IP found in {POD_NETWORK} after {self._attempts} tries")

    def release(self, ip: str) -> None:
        """Give ``ip`` back (to every server on the machine)."""
        sock = self._claims.pop(ip, None)
        if sock is not None:
            sock.close()

    def release_all(self) -> None:
        for ip in list(self._claims):
            self.release(ip)
