"""``rollouts history NAME``: the revisions of a Rollout, worked out from objects (pure).

A revision is a ReplicaSet the Rollout owns, numbered by its ``rollout.argoproj.io/revision``
annotation; ReplicaSets beyond ``revisionHistoryLimit`` are deleted by the controller, so
older revisions are gone. For each one it shows the images, when its ReplicaSet was created,
and — from the Rollout's Events — when it became stable and when an update to it was aborted:

- ``RolloutCompleted`` ("Rollout completed update to revision N (HASH): ...") marks the moment
  the revision became the stable one; it is matched by its pod-template hash, else its number;
- ``RolloutAborted`` ("Rollout aborted update to revision N") marks an abort of the update to
  revision N.

Events expire (after an hour, by default, on Kubernetes and on localcluster), so for an older
revision these times may be unknown; the revision's status (stable, current) still comes from
the Rollout's status, which never expires.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from controller.cli.render import Cell, Line, age, tabulate, text_cells
from controller.core.conditions import format_time, parse_time

HASH_LABEL: Final = "rollouts-pod-template-hash"
REVISION_ANNOTATION: Final = "rollout.argoproj.io/revision"
COMPLETED_REASON: Final = "RolloutCompleted"
ABORTED_REASON: Final = "RolloutAborted"
_REVISION_AND_HASH: Final = re.compile(r"revision (\d+)(?: \(([^)]*)\))?")

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Revision:
    """One revision of a Rollout."""

    revision: int
    replica_set: str
    pod_hash: str
    images: tuple[str, ...]
    #: pods wanted now (the ReplicaSet's spec.replicas)
    pods: int
    created: datetime | None
    #: when it became stable (RolloutCompleted events), oldest first
    stable_at: tuple[datetime, ...] = ()
    #: when an update to it was aborted (RolloutAborted events), oldest first
    aborted_at: tuple[datetime, ...] = ()
    #: the revision of spec.template (status.currentPodHash)
    current: bool = False
    #: the revision serving as stable (status.stableRS)
    stable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "replicaSet": self.replica_set,
            "podTemplateHash": self.pod_hash,
            "images": list(self.images),
            "pods": self.pods,
            "created": format_time(self.created) if self.created else None,
            "becameStable": [format_time(t) for t in self.stable_at],
            "aborted": [format_time(t) for t in self.aborted_at],
            "current": self.current,
            "stable": self.stable,
        }


def _event_time(event: Obj) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        moment = parse_time(event.get(key))
        if moment is not None:
            return moment
    return parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def _about(event: Obj, rollout: Obj) -> bool:
    involved = event.get("involvedObject") or {}
    meta = rollout.get("metadata") or {}
    if involved.get("kind") != "Rollout" or involved.get("name") != meta.get("name"):
        return False
    uid = meta.get("uid")
    return not (uid and involved.get("uid") and involved.get("uid") != uid)


def revision_history(rollout: Obj, replica_sets: Iterable[Obj], events: Iterable[Obj] = ()) -> list[Revision]:
    """The revisions of ``rollout`` (owned ReplicaSets), newest first."""
    meta = rollout.get("metadata") or {}
    status = rollout.get("status") or {}
    uid = str(meta.get("uid") or "")
    owned = [
        rs
        for rs in replica_sets
        if any(r.get("uid") == uid for r in (rs.get("metadata") or {}).get("ownerReferences") or ())
    ]
    completed: dict[str, list[datetime]] = {}
    aborted: dict[str, list[datetime]] = {}
    for event in events:
        if not _about(event, rollout):
            continue
        moment = _event_time(event)
        match = _REVISION_AND_HASH.search(str(event.get("message") or ""))
        if moment is None or match is None:
            continue
        if event.get("reason") == COMPLETED_REASON:
            key = f"hash:{match.group(2)}" if match.group(2) else f"rev:{match.group(1)}"
            completed.setdefault(key, []).append(moment)
        elif event.get("reason") == ABORTED_REASON:
            aborted.setdefault(f"rev:{match.group(1)}", []).append(moment)
    rows: list[Revision] = []
    for rs in owned:
        rs_meta = rs.get("metadata") or {}
        pod_hash = str((rs_meta.get("labels") or {}).get(HASH_LABEL) or "")
        try:
            number = int(str((rs_meta.get("annotations") or {}).get(REVISION_ANNOTATION)))
        except ValueError:
            number = 0
        containers = (((rs.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or ()
        replicas = (rs.get("spec") or {}).get("replicas")
        stable_times = completed.get(f"hash:{pod_hash}", []) + completed.get(f"rev:{number}", [])
        rows.append(
            Revision(
                revision=number,
                replica_set=str(rs_meta.get("name") or ""),
                pod_hash=pod_hash,
                images=tuple(str(c.get("image", "")) for c in containers if isinstance(c, Mapping)),
                pods=1 if replicas is None else int(replicas),
                created=parse_time(rs_meta.get("creationTimestamp")),
                stable_at=tuple(sorted(set(stable_times))),
                aborted_at=tuple(sorted(set(aborted.get(f"rev:{number}", [])))),
                current=bool(pod_hash) and pod_hash == status.get("currentPodHash"),
                stable=bool(pod_hash) and pod_hash == status.get("stableRS"),
            )
        )
    rows.sort(key=lambda r: (-r.revision, r.replica_set))
    return rows


def _times(moments: tuple[datetime, ...], now: datetime) -> str:
    return ", ".join(f"{age(m, now)} ago" for m in moments)


def _note(row: Revision) -> str:
    if row.current and row.stable:
        return "current, stable"
    if row.current:
        return "current (canary)" if not row.aborted_at else "current (aborted)"
    if row.stable:
        return "stable"
    return ""


def history_lines(rows: Iterable[Revision], now: datetime) -> list[Line]:
    """The ``history`` table."""
    table: list[list[Cell]] = [
        text_cells(
            "REVISION", "REPLICASET", "PODS", "IMAGES", "CREATED", "BECAME STABLE", "ABORTED", "STATUS"
        )
    ]
    for row in rows:
        stable = _times(row.stable_at, now) or ("? (event expired)" if row.stable else "-")
        table.append(
            text_cells(
                row.revision,
                row.replica_set,
                row.pods,
                ",".join(row.images),
                f"{age(row.created, now)} ago" if row.created else "",
                stable,
                _times(row.aborted_at, now) or "-",
                _note(row) or "-",
            )
        )
    return tabulate(table)
