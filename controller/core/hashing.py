"""Hashes Argo Rollouts writes into labels and status, computed without I/O.

- :func:`pod_template_hash` is the ``rollouts-pod-template-hash`` label value (Argo's
  ``controller.ComputeHash``): an FNV-1a 32-bit hash of the pod template (plus the collision
  count, when set), rendered with Kubernetes' ``rand.SafeEncodeString`` alphabet so it never
  spells words. Argo hashes Go's printed struct; we hash canonical JSON, so values differ
  from Argo's but behave the same (stable for equal templates, different for changed ones).
- :func:`step_hash` is ``status.currentStepHash`` (Argo's ``ComputeStepHash``): FNV-1a over
  the JSON of the canary steps, same alphabet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

#: the label every ReplicaSet, pod and managed Service selector carries
POD_TEMPLATE_HASH_LABEL: Final = "rollouts-pod-template-hash"

_SAFE_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET: Final = 0x811C9DC5
_FNV_PRIME: Final = 0x01000193


def fnv32a(data: bytes) -> int:
    """The FNV-1a 32-bit hash of ``data`` (Go's ``hash/fnv.New32a``)."""
    value = _FNV_OFFSET
    for byte in data:
        value ^= byte
        value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """Kubernetes' ``rand.SafeEncodeString``: map each byte onto a vowel-free alphabet."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def canonical_json(value: Any) -> bytes:
    """Deterministic compact JSON (sorted keys) used as hash input."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pod_template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The ``rollouts-pod-template-hash`` of a pod template.

    Any ``rollouts-pod-template-hash`` label already on the template is ignored, so the hash
    of a ReplicaSet's template equals the hash of the Rollout template it came from.
    """
    metadata = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k != POD_TEMPLATE_HASH_LABEL}
    if labels or "labels" in metadata:
        metadata["labels"] = labels
    data = canonical_json({**template, "metadata": metadata} if metadata else dict(template))
    if collision_count is not None:
        data += int(collision_count).to_bytes(4, "little", signed=False)
    return safe_encode(str(fnv32a(data)))


def step_hash(steps: Sequence[Mapping[str, Any]] | None) -> str:
    """``status.currentStepHash`` for a canary's steps (``None``/absent hashes as JSON null)."""
    return safe_encode(str(fnv32a(canonical_json(list(steps) if steps is not None else None))))
