"""Value types Argo's API shares: Go durations, pause durations and int-or-percent values.

- Durations (``interval: 5m``, ``experiment.duration: 1h``) are Go ``time.ParseDuration``
  strings: one or more ``<number><unit>`` with units ns, us, µs, ms, s, m, h; a bare number is
  an error except ``0`` (Argo's ``DurationString.Duration``, analysis_types.go).
- A canary pause duration is IntOrString (``RolloutPause.DurationSeconds``, types.go): an int
  is seconds; a string of digits is seconds; any other string is a Go duration. Argo truncates
  to whole seconds and turns anything it cannot read into -1, which validation rejects.
- ``maxSurge``/``maxUnavailable`` are IntOrString: an int is a count, a string is a percentage.
  Argo reads them with the deprecated ``intstr.GetValueFromIntOrPercent``, which takes *any*
  string as a percentage with its ``%`` signs removed, so ``"25"`` means 25% (that is how its
  ``DefaultMaxSurge = "25"`` means 25%, utils/defaults/defaults.go).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_NANOS: Final[dict[str, int]] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_COMPONENT: Final = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_DECIMAL: Final = re.compile(r"[+-]?[0-9]+")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_MAX_NANOS: Final = 2**63 - 1


class DurationError(ValueError):
    """A duration string that Go's ``time.ParseDuration`` would reject."""


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string (``"1h30m"``, ``"1.5s"``, ``"-2m"``, ``"0"``).

    Raises :class:`DurationError` with Go's wording for anything ``time.ParseDuration`` rejects.
    """
    original, s = text, text
    negative = s[:1] == "-"
    if s[:1] in ("-", "+"):
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise DurationError(f'time: invalid duration "{original}"')
    total = 0  # nanoseconds, kept exact with integer arithmetic
    pos = 0
    while pos < len(s):
        m = _COMPONENT.match(s, pos)
        if m is None or not (m.group(1) or m.group(2)):
            raise DurationError(f'time: invalid duration "{original}"')
        whole, frac, unit = m.group(1) or "0", m.group(2) or "", m.group(3)
        if not unit:
            raise DurationError(f'time: missing unit in duration "{original}"')
        if unit not in _NANOS:
            raise DurationError(f'time: unknown unit "{unit}" in duration "{original}"')
        scale = _NANOS[unit]
        total += int(whole) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
        if total > _MAX_NANOS:
            raise DurationError(f'time: invalid duration "{original}"')
        pos = m.end()
    seconds = total / 1_000_000_000
    return -seconds if negative else seconds


def pause_duration_seconds(value: int | str) -> int:
    """Whole seconds of a canary ``pause.duration``, exactly as Argo's ``DurationSeconds`` reads it.

    ``10`` and ``"10"`` are ten seconds; ``"2m"`` is 120; ``"1.9s"`` is 1 (truncated). Raises
    :class:`DurationError` where Argo would return -1.
    """
    if isinstance(value, int):
        return value
    if _DECIMAL.fullmatch(value) and _INT32_MIN <= int(value) <= _INT32_MAX:
        return int(value)
    return int(parse_go_duration(value))  # int() truncates toward zero, as Go's int32() does


@dataclass(frozen=True)
class IntOrPercent:
    """An IntOrString count such as ``maxSurge``: ``value`` pods, or ``value`` percent of a total."""

    value: int
    percent: bool

    @classmethod
    def parse(cls, raw: int | str) -> IntOrPercent:
        """Read an IntOrString as Argo does: an int is a count, any string a percentage."""
        if isinstance(raw, int):
            return cls(raw, percent=False)
        digits = raw.replace("%", "")
        if not _DECIMAL.fullmatch(digits):
            raise ValueError(f"invalid value {raw!r}: must be an integer or a percentage such as '25%'")
        return cls(int(digits), percent=True)

    def scaled(self, total: int, *, round_up: bool) -> int:
        """The count this value means out of ``total`` (percentages rounded up or down)."""
        if not self.percent:
            return self.value
        product = self.value * total
        return -(-product // 100) if round_up else product // 100

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)
