"""Container logs as ``kubectl logs`` reads them: tail, timestamps, previous run, follow."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from localcluster.kubelet.logs import LogBook, rfc3339nano

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z"


def test_rfc3339nano_trims_trailing_zeros_like_go() -> None:
    assert rfc3339nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def _book(tmp_path: Path) -> LogBook:
    return LogBook(tmp_path / "logs")


def test_read_tail_timestamps_and_previous(tmp_path: Path) -> None:
    async def scenario() -> None:
        book = _book(tmp_path)
        assert book.read("ns", "p", "app", previous=False, tail_lines=None, timestamps=False) is None
        log = book.container("ns", "p", "uid-1", "app")
        first = log.new_run(0)
        first.append("one\ntwo\n")
        first.append("three")
        assert (
            book.read("ns", "p", "app", previous=False, tail_lines=None, timestamps=False)
            == "one\ntwo\nthree\n"
        )
        assert book.read("ns", "p", "app", previous=False, tail_lines=2, timestamps=False) == "two\nthree\n"
        assert book.read("ns", "p", "app", previous=False, tail_lines=0, timestamps=False) == ""
        stamped = book.read("ns", "p", "app", previous=False, tail_lines=1, timestamps=True)
        assert stamped is not None
        assert re.fullmatch(STAMP + r" three\n", stamped)
        assert book.read("ns", "p", "app", previous=True, tail_lines=None, timestamps=False) is None
        second = log.new_run(1)
        second.append("again")
        assert book.read("ns", "p", "app", previous=False, tail_lines=None, timestamps=False) == "again\n"
        assert (
            book.read("ns", "p", "app", previous=True, tail_lines=None, timestamps=False)
            == "one\ntwo\nthree\n"
        )
        files = sorted(p.name for p in (tmp_path / "logs" / "ns_p_uid-1" / "app").iterdir())
        assert files == ["0.log", "1.log"]
        record = (tmp_path / "logs" / "ns_p_uid-1" / "app" / "1.log").read_text()
        assert re.fullmatch(STAMP + r" stdout F again\n", record)
        log.new_run(2)
        files = sorted(p.name for p in (tmp_path / "logs" / "ns_p_uid-1" / "app").iterdir())
        assert files == ["1.log", "2.log"]  # only the current and previous runs are kept
        book.drop_pod("ns", "p", "uid-1")
        assert book.read("ns", "p", "app", previous=False, tail_lines=None, timestamps=False) is None
        assert not (tmp_path / "logs" / "ns_p_uid-1").exists()

    asyncio.run(scenario())


def test_memory_is_capped(tmp_path: Path) -> None:
    async def scenario() -> None:
        book = LogBook(None)
        run = book.container("ns", "p", "u", "app").new_run(0)
        run.lines = type(run.lines)(maxlen=3)
        for i in range(5):
            run.append(str(i))
        assert book.read("ns", "p", "app", previous=False, tail_lines=None, timestamps=False) == "2\n3\n4\n"
        assert book.read("ns", "p", "app", previous=False, tail_lines=10, timestamps=False) == "2\n3\n4\n"

    asyncio.run(scenario())


def test_follow_streams_new_lines_and_ends_when_the_container_stops(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        book = _book(tmp_path)
        run = book.container("ns", "p", "u", "app").new_run(0)
        run.append("before-1")
        run.append("before-2")
        got: list[str] = []

        async def reader() -> None:
            async for line in book.follow("ns", "p", "app", tail_lines=1, timestamps=False):
                got.append(line)

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.05)
        run.append("after")
        await asyncio.sleep(0.05)
        assert not task.done()
        run.close()
        await asyncio.wait_for(task, 2)
        return got

    assert asyncio.run(scenario()) == ["before-2\n", "after\n"]


def test_a_new_pod_of_the_same_name_starts_with_an_empty_log(tmp_path: Path) -> None:
    async def scenario() -> None:
        book = _book(tmp_path)
        book.container("ns", "p", "old", "app").new_run(0).append("old pod")
        book.container("ns", "p", "new", "app").new_run(0).append("new pod")
        book.drop_pod("ns", "p", "old")  # the old pod's clean-up comes late
        assert book.read("ns", "p", "app", previous=False, tail_lines=None, timestamps=False) == "new pod\n"

    asyncio.run(scenario())
