"""Text output of the CLI, as pure functions of data and ``now`` (golden-testable).

A line is a list of :data:`Segment` ``(text, style)``; ``style`` is a rich style name or ''.
:func:`plain` joins the text; :func:`styled` makes a ``rich.text.Text`` for a terminal.
Columns are laid out as Go's ``text/tabwriter`` lays out ``kubectl argo rollouts`` tables
(each tab-terminated cell padded to its column's widest cell plus two spaces; the last cell of a
line is not padded); trailing spaces are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from rich.text import Text

from controller.cli import info as i
from controller.core.conditions import parse_time
from controller.core.phase import rollout_phase
from controller.core.replicas import desired_weight

Segment = tuple[str, str]
Line = list[Segment]
Cell = list[Segment]

ICON_ROLLOUT: Final = "⟳"
ICON_REVISION: Final = "#"
ICON_REPLICA_SET: Final = "⧉"
ICON_POD: Final = "□"
ICON_ANALYSIS: Final = "\u03b1"  # Greek small alpha

#: colours of icons, tags and analysis phases (Argo's colour mapping)
COLORS: Final = {
    i.ICON_WAITING: "yellow",
    i.ICON_PROGRESSING: "bright_blue",
    i.ICON_WARNING: "red",
    i.ICON_UNKNOWN: "yellow",
    i.ICON_OK: "green",
    i.ICON_BAD: "red",
    i.TAG_CANARY: "yellow",
    i.TAG_STABLE: "green",
    i.TAG_ACTIVE: "green",
    i.TAG_PREVIEW: "bright_blue",
    "Pending": "bright_blue",
    "Running": "bright_blue",
}
HEADER_WIDTH: Final = 17


def colored(text: str, key: str | None = None) -> Segment:
    """``text`` in the colour Argo gives ``key`` (default: ``text`` itself)."""
    return text, COLORS.get(text if key is None else key, "")


def plain(lines: Iterable[Line]) -> str:
    """The text of ``lines``, one per line, with a final newline."""
    return "".join("".join(text for text, _ in line) + "\n" for line in lines)


def styled(lines: Iterable[Line]) -> Text:
    """A rich ``Text`` of ``lines`` with their colours."""
    out = Text()
    for line in lines:
        for text, style in line:
            out.append(text, style=style or None)
        out.append("\n")
    return out


def _width(cell: Cell) -> int:
    return sum(len(text) for text, _ in cell)


def _rstrip(line: Line) -> Line:
    out = list(line)
    while out:
        text, style = out[-1]
        stripped = text.rstrip(" ")
        if stripped:
            out[-1] = (stripped, style)
            break
        out.pop()
    return out


def tabulate(rows: Sequence[Sequence[Cell]], padding: int = 2) -> list[Line]:
    """Lay out rows of cells as tabwriter does (every cell but a row's last one is padded)."""
    widths: dict[int, int] = {}
    for row in rows:
        for col, cell in enumerate(row[:-1]):
            widths[col] = max(widths.get(col, 0), _width(cell) + padding)
    lines: list[Line] = []
    for row in rows:
        line: Line = []
        for col, cell in enumerate(row):
            line.extend(cell)
            if col < len(row) - 1:
                line.append((" " * (widths[col] - _width(cell)), ""))
        lines.append(_rstrip(line))
    return lines


def text_cells(*values: Any) -> list[Cell]:
    return [[(str(v), "")] for v in values]


# -- durations ------------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """A short age such as ``45s``, ``3m20s``, ``2h``, ``7d`` (Kubernetes' ``HumanDuration``)."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(created: datetime | None, now: datetime) -> str:
    """How long ago ``created`` was; '' when unknown."""
    if created is None:
        return ""
    return human_duration((now - created).total_seconds())


# -- get rollout ----------------------------------------------------------------------------------


def _header(label: str, value: Line | str) -> Line:
    body: Line = [(value, "")] if isinstance(value, str) else value
    return _rstrip([(label.ljust(HEADER_WIDTH), ""), *body])


def rollout_lines(info: i.RolloutInfo, now: datetime) -> list[Line]:
    """The header block and the tree of ``get rollout``."""
    lines: list[Line] = [
        _header("Name:", info.name),
        _header("Namespace:", info.namespace),
        _header("Status:", [colored(info.icon), (f" {info.status}", "")]),
    ]
    if info.message:
        lines.append(_header("Message:", info.message))
    lines.append(_header("Strategy:", info.strategy))
    if info.strategy == "Canary":
        lines.append(_header("  Step:", info.step))
        lines.append(_header("  SetWeight:", info.set_weight))
        lines.append(_header("  ActualWeight:", info.actual_weight))
    for n, (image, tags) in enumerate(info.images()):
        value: Line = [(image, "")]
        if tags:
            value.append((" (", ""))
            for k, tag in enumerate(tags):
                value.extend([(", ", "")] if k else [])
                value.append(colored(tag))
            value.append((")", ""))
        lines.append(_header("Images:" if n == 0 else "", value))
    lines.append([("Replicas:", "")])
    for label, number in (
        ("  Desired:", info.desired),
        ("  Current:", info.current),
        ("  Updated:", info.updated),
        ("  Ready:", info.ready),
        ("  Available:", info.available),
    ):
        lines.append(_header(label, str(number)))
    lines.append([])
    lines.extend(tabulate(tree_rows(info, now)))
    return lines


def _prefixes(last: bool, parent: str) -> tuple[str, str]:
    return (parent + "└──", parent + "   ") if last else (parent + "├──", parent + "│  ")


def tree_rows(info: i.RolloutInfo, now: datetime) -> list[list[Cell]]:
    """The rows of the NAME/KIND/STATUS/AGE/INFO tree."""
    rows: list[list[Cell]] = [text_cells("NAME", "KIND", "STATUS", "AGE", "INFO")]
    rows.append(
        [
            [(f"{ICON_ROLLOUT} {info.name}", "")],
            [("Rollout", "")],
            [colored(info.icon), (f" {info.status}", "")],
            [(age(info.created, now), "")],
            [],
        ]
    )
    revisions = info.revisions()
    for n, revision in enumerate(revisions):
        prefix, sub = _prefixes(n == len(revisions) - 1, "")
        rows.append([[(f"{prefix}{ICON_REVISION} revision:{revision}", "")], [], [(" ", "")], [], []])
        children: list[i.ReplicaSetInfo | i.AnalysisRunInfo] = [
            *(rs for rs in info.replica_sets if rs.revision == revision),
            *(ar for ar in info.analysis_runs if ar.revision == revision),
        ]
        for k, child in enumerate(children):
            child_prefix, child_sub = _prefixes(k == len(children) - 1, sub)
            if isinstance(child, i.ReplicaSetInfo):
                rows.extend(_replica_set_rows(child, child_prefix, child_sub, now))
            else:
                rows.append(_analysis_row(child, child_prefix, now))
    return rows


def _replica_set_rows(rs: i.ReplicaSetInfo, prefix: str, sub: str, now: datetime) -> list[list[Cell]]:
    tags = rs.tags
    name_style = COLORS.get(tags[-1], "") if tags else ""
    info: Cell = []
    for k, tag in enumerate(tags):
        info.extend([(",", "")] if k else [])
        info.append(colored(tag))
    if rs.scale_down_deadline:
        info.extend([(",", "")] if info else [])
        info.append((f"delay:{_delay(rs.scale_down_deadline, now)}", ""))
    rows: list[list[Cell]] = [
        [
            [(f"{prefix}{ICON_REPLICA_SET} ", ""), (rs.name, name_style)],
            [("ReplicaSet", "")],
            [colored(rs.icon), (f" {rs.status}", "")],
            [(age(rs.created, now), "")],
            info,
        ]
    ]
    for k, pod in enumerate(rs.pods):
        pod_prefix, _ = _prefixes(k == len(rs.pods) - 1, sub)
        pod_info = f"ready:{pod.ready}" + (f",restarts:{pod.restarts}" if pod.restarts > 0 else "")
        rows.append(
            [
                [(f"{pod_prefix}{ICON_POD} {pod.name}", "")],
                [("Pod", "")],
                [colored(pod.icon), (f" {pod.status}", "")],
                [(age(pod.created, now), "")],
                [(pod_info, "")],
            ]
        )
    return rows


def _delay(deadline: str, now: datetime) -> str:
    moment = parse_time(deadline)
    if moment is None:
        return ""
    if moment < now:
        return "passed"
    return human_duration((moment - now).total_seconds())


def _analysis_row(run: i.AnalysisRunInfo, prefix: str, now: datetime) -> list[Cell]:
    info: Cell = []
    for icon, count in (
        (i.ICON_OK, run.successful),
        (i.ICON_BAD, run.failed),
        (i.ICON_UNKNOWN, run.inconclusive),
        (i.ICON_WARNING, run.error),
    ):
        if count > 0:
            info.extend([(",", "")] if info else [])
            info.extend([colored(icon), (f" {count}", "")])
    return [
        [(f"{prefix}{ICON_ANALYSIS} ", ""), (run.name, COLORS.get(run.status, ""))],
        [("AnalysisRun", "")],
        [colored(run.icon), (f" {run.status}", "")],
        [(age(run.created, now), "")],
        info,
    ]


def render_rollout(
    rollout: dict[str, Any],
    replica_sets: Iterable[dict[str, Any]],
    pods: Iterable[dict[str, Any]],
    analysis_runs: Iterable[dict[str, Any]],
    now: datetime,
) -> str:
    """``get rollout NAME --no-color``: the whole output as text."""
    return plain(rollout_lines(i.rollout_info(rollout, replica_sets, pods, analysis_runs), now))


# -- list rollouts --------------------------------------------------------------------------------

LIST_HEADER: Final = (
    "NAME",
    "STRATEGY",
    "STATUS",
    "STEP",
    "SET-WEIGHT",
    "READY",
    "DESIRED",
    "UP-TO-DATE",
    "AVAILABLE",
)
#: the minimum width of each column's values (Argo pads them so the table lines up while watching)
LIST_WIDTHS: Final = (10, 9, 12, 4, 10, 5, 7, 10, 9)


def list_row(rollout: dict[str, Any]) -> dict[str, Any]:
    """The columns of one Rollout in ``list rollouts``."""
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    strategy_spec = spec.get("strategy") or {}
    strategy, step, weight = "unknown", "-", "-"
    canary = strategy_spec.get("canary")
    if canary is not None:
        strategy = "Canary"
        steps = list(canary.get("steps") or [])
        index = status.get("currentStepIndex")
        if index is not None and steps:
            step = f"{int(index)}/{len(steps)}"
        weight = str(
            desired_weight(steps, None if index is None else int(index), aborted=bool(status.get("abort")))
        )
    elif strategy_spec.get("blueGreen") is not None:
        strategy = "BlueGreen"
    phase, _ = rollout_phase(rollout)
    replicas = spec.get("replicas")
    meta = rollout.get("metadata") or {}
    return {
        "namespace": str(meta.get("namespace") or ""),
        "name": str(meta.get("name") or ""),
        "strategy": strategy,
        "status": phase,
        "step": step,
        "setWeight": weight,
        "ready": f"{int(status.get('readyReplicas') or 0)}/{int(status.get('replicas') or 0)}",
        "desired": 1 if replicas is None else int(replicas),
        "upToDate": int(status.get("updatedReplicas") or 0),
        "available": int(status.get("availableReplicas") or 0),
    }


def _list_cells(row: dict[str, Any], *, namespaces: bool, timestamp: str | None) -> list[Cell]:
    values = [
        row["name"],
        row["strategy"],
        row["status"],
        row["step"],
        row["setWeight"],
        row["ready"],
        row["desired"],
        row["upToDate"],
        row["available"],
    ]
    cells = [str(v).ljust(w) for v, w in zip(values, LIST_WIDTHS, strict=True)]
    if namespaces:
        cells.insert(0, row["namespace"].ljust(9))
    if timestamp is not None:
        cells.insert(0, timestamp.ljust(20))
    return [[(c, "")] for c in cells]


def list_lines(
    rows: Sequence[dict[str, Any]], *, namespaces: bool = False, timestamp: str | None = None
) -> list[Line]:
    """The ``list rollouts`` table."""
    header = list(LIST_HEADER)
    if namespaces:
        header.insert(0, "NAMESPACE")
    if timestamp is not None:
        header.insert(0, "TIMESTAMP")
    table: list[list[Cell]] = [[[(h, "")] for h in header]]
    table.extend(_list_cells(r, namespaces=namespaces, timestamp=timestamp) for r in rows)
    return tabulate(table)


def list_line(row: dict[str, Any], *, namespaces: bool = False, timestamp: str | None = None) -> Line:
    """One row on its own (``list rollouts -w`` prints a line per change)."""
    cells = _list_cells(row, namespaces=namespaces, timestamp=timestamp)
    line: Line = []
    for k, cell in enumerate(cells):
        line.extend(cell)
        if k < len(cells) - 1:
            line.append(("  ", ""))
    return _rstrip(line)
