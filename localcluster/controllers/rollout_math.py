"""The pure arithmetic of Deployments and ReplicaSets: no I/O, no clock reads.

- ``maxSurge``/``maxUnavailable`` resolution (int or percent; surge rounds up, unavailable
  rounds down; both resolving to zero makes unavailable 1), as upstream's
  ``ResolveFenceposts``.
- the ``pod-template-hash`` (FNV-1a 32 of a canonical rendering of the pod template, plus the
  collision count, spelled with the alphabet Kubernetes uses for generated names), and
  template equality that ignores that label.
- the annotations a Deployment keeps on its ReplicaSets (revision, revision history, desired
  and max replicas) and the manifest of a new ReplicaSet.
- one step of a rolling update (scale the new ReplicaSet up within the surge, or the old ones
  down within the unavailability budget) and proportional scaling of several ReplicaSets when
  ``spec.replicas`` changes mid-rollout.

Time is passed in as seconds since the epoch; timestamps on objects are RFC 3339 strings.
"""

from __future__ import annotations

import calendar
import copy
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
REVISION_HISTORY_CHARS = 2000
# Deployment annotations not copied onto its ReplicaSets.
NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

Obj = Mapping[str, Any]


# -- time ---------------------------------------------------------------------------------


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp (``None`` when absent or malformed)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "")
    whole, _, fraction = text.partition(".")
    try:
        seconds = calendar.timegm(time.strptime(whole[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    digits = "".join(ch for ch in fraction if ch.isdigit())
    return seconds + (float("0." + digits) if digits else 0.0)


def format_time(epoch: float) -> str:
    """RFC 3339 with second precision, as ``metav1.Time`` is serialised."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# -- int or percent -----------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """An ``IntOrString`` resolved against ``total``: ints as they are, ``"N%"`` of total.

    Percentages round up or down as asked (upstream: surge up, unavailable down). A string
    that is not a percentage is an error, as in ``GetScaledValueFromIntOrPercent``.
    """
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(
            f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}"
        )
    try:
        percent = int(value[:-1])
    except ValueError:
        raise ValueError(f"invalid value for IntOrString: {value!r}") from None
    exact = percent * total
    return -((-exact) // 100) if round_up else exact // 100


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """(surge, unavailable) for ``desired`` replicas; never both zero (unavailable becomes 1)."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        # Validation forbids both being zero; rounding down can still make them so.
        unavailable = 1
    return surge, unavailable


def _rolling(deployment: Obj) -> Mapping[str, Any] | None:
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling = strategy.get("rollingUpdate")
    return rolling if isinstance(rolling, Mapping) else {"maxSurge": "25%", "maxUnavailable": "25%"}


def desired_replicas(deployment: Obj) -> int:
    replicas = (deployment.get("spec") or {}).get("replicas")
    return int(replicas) if isinstance(replicas, int) else 1


def max_surge(deployment: Obj) -> int:
    """How many pods above ``spec.replicas`` a rolling update may run (0 for Recreate)."""
    rolling = _rolling(deployment)
    if rolling is None:
        return 0
    surge, _ = resolve_fenceposts(
        rolling.get("maxSurge"), rolling.get("maxUnavailable"), desired_replicas(deployment)
    )
    return surge


def max_unavailable(deployment: Obj) -> int:
    """How many of ``spec.replicas`` may be unavailable during a rolling update."""
    rolling = _rolling(deployment)
    desired = desired_replicas(deployment)
    if rolling is None or desired == 0:
        return 0
    _, unavailable = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), desired)
    return min(unavailable, desired)


# -- pod-template-hash --------------------------------------------------------------------


def fnv32a(data: bytes) -> int:
    """32-bit FNV-1a."""
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """Each character mapped onto the consonant/digit alphabet of generated names."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def pod_template_hash(template: Obj, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a pod template: stable across processes and key order."""
    rendered = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        rendered += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\0\0\0\0"
    return safe_encode(str(fnv32a(rendered)))


def _normalised(value: Any) -> Any:
    """Drop empty maps, empty lists and nulls: Go's semantic equality treats them as unset."""
    if isinstance(value, Mapping):
        out = {k: _normalised(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def without_hash(template: Obj) -> dict[str, Any]:
    """A copy of ``template`` without the ``pod-template-hash`` label."""
    out = copy.deepcopy(dict(template))
    meta = out.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("labels"), dict):
        meta["labels"] = {k: v for k, v in meta["labels"].items() if k != HASH_LABEL}
    return out


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """Whether two pod templates are the same apart from their ``pod-template-hash`` label."""
    left: Any = _normalised(without_hash(a or {}))
    right: Any = _normalised(without_hash(b or {}))
    return bool(left == right)


# -- replica sets -------------------------------------------------------------------------


def revision_of(obj: Obj) -> int:
    """The ``deployment.kubernetes.io/revision`` annotation as a number (0 when absent)."""
    raw = (obj.get("metadata", {}).get("annotations") or {}).get(REVISION)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def creation_key(obj: Obj) -> tuple[float, str]:
    """Oldest first, ties by name (upstream ``ReplicaSetsByCreationTimestamp``)."""
    meta = obj["metadata"]
    return (parse_time(meta.get("creationTimestamp")) or 0.0, str(meta.get("name", "")))


@dataclass(frozen=True)
class RSState:
    """What rollout planning needs to know of one ReplicaSet.

    ``replicas`` is ``spec.replicas``; ``pods`` the active pods it has now (above ``replicas``
    while it scales down, below while it scales up); ``available`` its
    ``status.availableReplicas``; ``order`` sorts oldest first.
    """

    name: str
    replicas: int
    pods: int = 0
    available: int = 0
    order: tuple[float, str] = (0.0, "")

    @property
    def counted(self) -> int:
        """Pods it has or will have: what the surge budget is charged with."""
        return max(self.replicas, self.pods)

    @property
    def surely_available(self) -> int:
        """Available pods it keeps once it has scaled to ``replicas`` (unready ones go first)."""
        return max(0, min(self.available, self.replicas))


def new_rs_replicas_rolling(desired: int, surge: int, new: RSState, others: Sequence[RSState]) -> int:
    """The new ReplicaSet's next size in a rolling update: up to ``desired``, within the surge."""
    if new.replicas >= desired:
        return desired
    current = new.counted + sum(rs.counted for rs in others)
    room = desired + surge - current
    if room <= 0:
        return new.replicas
    return new.replicas + min(room, desired - new.replicas)


def plan_rolling_step(
    desired: int, surge: int, unavailable: int, new: RSState, olds: Sequence[RSState]
) -> dict[str, int]:
    """One reconcile of a rolling update: ReplicaSet name -> new ``spec.replicas``.

    Scale the new ReplicaSet up when the surge allows; otherwise scale old ones down: first
    their unavailable pods (oldest ReplicaSet first), then as many available ones as keep
    ``desired - unavailable`` pods available. Empty when nothing can move yet.
    """
    target = new_rs_replicas_rolling(desired, surge, new, olds)
    if target != new.replicas:
        return {new.name: target}
    active = sorted((rs for rs in olds if rs.replicas > 0), key=lambda rs: rs.order)
    if not active:
        return {}
    all_replicas = new.replicas + sum(rs.replicas for rs in active)
    min_available = desired - unavailable
    new_unavailable = new.replicas - min(new.available, new.replicas)
    max_scaled_down = all_replicas - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    sizes = {rs.name: rs.replicas for rs in active}
    cleaned = 0
    for rs in active:
        if cleaned >= max_scaled_down:
            break
        unhealthy = rs.replicas - rs.surely_available
        if unhealthy <= 0:
            continue
        step = min(max_scaled_down - cleaned, unhealthy)
        sizes[rs.name] -= step
        cleaned += step
    available = min(new.available, new.replicas) + sum(min(rs.available, sizes[rs.name]) for rs in active)
    budget = available - min_available
    scaled = 0
    for rs in active:
        if scaled >= budget:
            break
        step = min(sizes[rs.name], budget - scaled)
        sizes[rs.name] -= step
        scaled += step
    before = {rs.name: rs.replicas for rs in active}
    return {name: size for name, size in sizes.items() if size != before[name]}


@dataclass(frozen=True)
class ScaleRS:
    """A ReplicaSet as proportional scaling sees it."""

    name: str
    replicas: int
    order: tuple[float, str]
    max_replicas: int | None = None  # its deployment.kubernetes.io/max-replicas annotation


def _round_half_away(x: float) -> int:
    """Go's ``math.Round``: halves away from zero (Python's ``round`` goes to even)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _fraction(rs: ScaleRS, desired: int, surge: int, status_replicas: int) -> int:
    if desired == 0:
        return -rs.replicas
    new_max = desired + surge
    old_max = rs.max_replicas or status_replicas
    if not old_max:
        return rs.replicas
    return _round_half_away(rs.replicas * new_max / old_max) - rs.replicas


def plan_proportional(
    desired: int, surge: int, active: Sequence[ScaleRS], status_replicas: int
) -> dict[str, int]:
    """Sizes of several active ReplicaSets after ``spec.replicas`` changed mid-rollout.

    The change is shared in proportion to their sizes (largest first; ties: newer first when
    growing, older first when shrinking); leftovers go to the first. ``status_replicas`` is
    the deployment's ``status.replicas``, used for ReplicaSets missing their max-replicas
    annotation.
    """
    allowed = desired + surge if desired > 0 else 0
    to_add = allowed - sum(rs.replicas for rs in active)
    if to_add > 0:
        ordered = sorted(active, key=lambda rs: (-rs.replicas, -rs.order[0], _rev(rs.order[1])))
    else:
        ordered = sorted(active, key=lambda rs: (-rs.replicas, rs.order))
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        if to_add == 0 or rs.replicas == 0 or added == to_add:
            proportion = 0
        else:
            fraction = _fraction(rs, desired, surge, status_replicas)
            allowed_now = to_add - added
            proportion = min(fraction, allowed_now) if to_add > 0 else max(fraction, allowed_now)
        sizes[rs.name] = rs.replicas + proportion
        added += proportion
    if ordered and to_add != 0:
        first = ordered[0].name
        sizes[first] = max(0, sizes[first] + to_add - added)
    return sizes


def _rev(name: str) -> tuple[int, ...]:
    """A key that sorts names in reverse order."""
    return (*(-ord(ch) for ch in name), 1)


# -- what a Deployment writes on its ReplicaSets ------------------------------------------


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


def replicas_of(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas") or 0)


def replica_annotations(deployment: Obj) -> dict[str, str]:
    """``desired-replicas`` and ``max-replicas`` for the Deployment's current size."""
    desired = desired_replicas(deployment)
    return {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(desired + max_surge(deployment))}


def set_new_rs_annotations(deployment: Obj, rs: dict[str, Any], revision: int, *, exists: bool) -> bool:
    """Copy the Deployment's annotations onto its new ReplicaSet and give it ``revision``.

    A ReplicaSet that had an older revision (its template came back: a rollback) keeps that
    one at the end of ``revision-history`` (at most 2000 characters, oldest dropped first).
    A ReplicaSet about to be created also gets the replica annotations. Returns whether
    anything changed.
    """
    meta = rs["metadata"]
    annotations = dict(meta.get("annotations") or {})
    before = dict(annotations)
    for k, v in annotations_of(deployment).items():
        if k not in NOT_COPIED:
            annotations[k] = v
    old_text = annotations.get(REVISION)
    if revision_of(rs) < revision:
        annotations[REVISION] = str(revision)
        if old_text is not None:
            history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
            while history and len(",".join([*history, old_text])) > REVISION_HISTORY_CHARS:
                history.pop(0)
            annotations[REVISION_HISTORY] = ",".join([*history, old_text])
    if not exists:
        annotations.update(replica_annotations(deployment))
    meta["annotations"] = annotations
    return annotations != before


def new_replica_set(deployment: Obj, pod_hash: str, replicas: int) -> dict[str, Any]:
    """The ReplicaSet ``<deployment>-<hash>`` for the Deployment's current template."""
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    template = copy.deepcopy(dict(spec.get("template") or {}))
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), HASH_LABEL: pod_hash}
    selector = copy.deepcopy(dict(spec.get("selector") or {}))
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}",
            "namespace": meta.get("namespace"),
            "labels": dict(template["metadata"]["labels"]),
            "ownerReferences": [
                {
                    "apiVersion": deployment.get("apiVersion", "apps/v1"),
                    "kind": deployment.get("kind", "Deployment"),
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": int(spec.get("minReadySeconds") or 0),
            "selector": selector,
            "template": template,
        },
    }


def is_scaling_event(deployment: Obj, rss: Sequence[Obj]) -> bool:
    """An active ReplicaSet was sized for another ``spec.replicas`` than the current one."""
    desired = desired_replicas(deployment)
    for rs in rss:
        raw = annotations_of(rs).get(DESIRED_REPLICAS, "")
        if replicas_of(rs) > 0 and raw.isdigit() and int(raw) != desired:
            return True
    return False


def is_saturated(deployment: Obj, rs: Obj | None) -> bool:
    """The ReplicaSet has all the Deployment's replicas, all available."""
    if rs is None:
        return False
    desired = desired_replicas(deployment)
    raw = annotations_of(rs).get(DESIRED_REPLICAS, "")
    available = int((rs.get("status") or {}).get("availableReplicas") or 0)
    return raw.isdigit() and int(raw) == desired and replicas_of(rs) == desired and available == desired


def max_replicas_annotation(rs: Obj) -> int | None:
    raw = annotations_of(rs).get(MAX_REPLICAS, "")
    return int(raw) if raw.isdigit() else None
