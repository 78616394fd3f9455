"""The patch engines: JSON merge patch, JSON patch, strategic merge patch, server-side apply."""

from __future__ import annotations


class PatchError(ValueError):
    """A patch that cannot be applied. ``path`` names where (``.spec.template.spec.containers``)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message
