"""What the API server needs from whoever keeps pod logs (the kubelet), for ``pods/log``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class PodLogs(Protocol):
    def read(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        previous: bool,
        tail_lines: int | None,
        timestamps: bool,
    ) -> str | None:
        """The container's log so far (or its previous run's), or None when it has none."""

    def follow(
        self, namespace: str, pod: str, container: str, *, tail_lines: int | None, timestamps: bool
    ) -> AsyncIterator[str]:
        """The log so far, then new lines as they come, until the container stops."""
