"""Go durations, canary pause durations and int-or-percent values, read as Argo reads them."""

from __future__ import annotations

import pytest

from controller.api import DurationError, IntOrPercent, parse_go_duration, pause_duration_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("500ms", 0.5),
        ("250us", 0.00025),
        ("1µs", 0.000001),
        ("10ns", 0.00000001),
        ("-2m", -120.0),
        ("+3h", 10800.0),
        ("0", 0.0),
        ("1h0m0s", 3600.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", 'time: invalid duration ""'),
        ("30", 'time: missing unit in duration "30"'),
        ("5m3", 'time: missing unit in duration "5m3"'),
        ("2x", 'time: unknown unit "x" in duration "2x"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("bogus", 'time: invalid duration "bogus"'),
        (".", 'time: invalid duration "."'),
        ("1 h", 'time: unknown unit " h" in duration "1 h"'),
    ],
)
def test_go_durations_rejected_with_go_wording(text: str, error: str) -> None:
    with pytest.raises(DurationError) as e:
        parse_go_duration(text)
    assert str(e.value) == error


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (10, 10),  # an int is seconds
        ("10", 10),  # so is a string of digits ("special case where no unit was specified")
        ("30s", 30),
        ("2m", 120),
        ("1h", 3600),
        ("1.9s", 1),  # truncated to whole seconds, as Go's int32(d.Seconds())
        ("500ms", 0),
        (-5, -5),  # negative values read; validation rejects them
        ("-1m", -60),
        (0, 0),
    ],
)
def test_pause_durations(value: int | str, seconds: int) -> None:
    assert pause_duration_seconds(value) == seconds


@pytest.mark.parametrize("value", ["5x", "", "ten", "99999999999"])
def test_pause_durations_argo_cannot_read(value: str) -> None:
    with pytest.raises(DurationError):
        pause_duration_seconds(value)


@pytest.mark.parametrize(
    ("raw", "parsed", "text"),
    [
        (1, IntOrPercent(1, percent=False), "1"),
        (0, IntOrPercent(0, percent=False), "0"),
        ("25%", IntOrPercent(25, percent=True), "25%"),
        ("25", IntOrPercent(25, percent=True), "25%"),  # any string is a percentage (defaults.go's "25")
        ("0%", IntOrPercent(0, percent=True), "0%"),
        ("100%", IntOrPercent(100, percent=True), "100%"),
    ],
)
def test_int_or_percent(raw: int | str, parsed: IntOrPercent, text: str) -> None:
    assert IntOrPercent.parse(raw) == parsed
    assert str(parsed) == text


@pytest.mark.parametrize("raw", ["abc", "%", "1.5%", "25 %"])
def test_int_or_percent_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="must be an integer or a percentage"):
        IntOrPercent.parse(raw)


@pytest.mark.parametrize(
    ("value", "total", "up", "down"),
    [
        (IntOrPercent(25, percent=True), 5, 2, 1),  # 1.25 pods
        (IntOrPercent(25, percent=True), 4, 1, 1),
        (IntOrPercent(25, percent=True), 1, 1, 0),
        (IntOrPercent(50, percent=True), 3, 2, 1),
        (IntOrPercent(100, percent=True), 7, 7, 7),
        (IntOrPercent(0, percent=True), 10, 0, 0),
        (IntOrPercent(3, percent=False), 10, 3, 3),
    ],
)
def test_int_or_percent_scaled(value: IntOrPercent, total: int, up: int, down: int) -> None:
    assert value.scaled(total, round_up=True) == up
    assert value.scaled(total, round_up=False) == down
