"""The CRD manifests shipped with the package (``controller/api/crds/*.yaml``), read as package data.

This is the only I/O ``controller.api`` does: reading its own files through ``importlib.resources``,
so it works from a source tree, a wheel or a zip alike.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Final

import yaml

#: the files, in the order to apply them
CRD_FILES: Final = (
    "rollout-crd.yaml",
    "analysis-template-crd.yaml",
    "cluster-analysis-template-crd.yaml",
    "analysis-run-crd.yaml",
)


def crd_text(filename: str) -> str:
    """The YAML text of one shipped CRD file (one of :data:`CRD_FILES`)."""
    if filename not in CRD_FILES:
        raise ValueError(f"no CRD file {filename!r}; the files are {', '.join(CRD_FILES)}")
    return resources.files("controller.api").joinpath("crds", filename).read_text(encoding="utf-8")


def crd_manifests() -> list[dict[str, Any]]:
    """The four CRDs as dicts, in :data:`CRD_FILES` order."""
    manifests = []
    for filename in CRD_FILES:
        manifest = yaml.safe_load(crd_text(filename))
        if not isinstance(manifest, dict):
            raise ValueError(f"{filename} is not a YAML mapping")
        manifests.append(manifest)
    return manifests
