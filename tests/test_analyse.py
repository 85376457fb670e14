"""The Analyser: the same result inline and in the worker, and every way a page can go
wrong (refused, raising, over its deadline or memory, killing the worker) is a PageError
with its reason, after which the next page is analysed as usual. The worker dies with
the process that started it, under a real SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import scraper.analyse
from scraper.analyse import (
    HEAVY_TAGS,
    INLINE_MAX,
    MAX_NESTING,
    Analyser,
    analyse_page,
    refusal,
)
from scraper.errors import PageError
from scraper.extract import extract_page
from scraper.stories import split_stories
from tests.conftest import FIXTURES, REPO

PAGE = (FIXTURES / "demo" / "appended-next-article.html").read_text(encoding="utf-8")
MiB = 1024 * 1024


def nested(depth: int, tag: str = "div") -> str:
    return f"<html><body>{f'<{tag}>' * depth}<p>deep</p></body></html>"


# Run in the worker process (imported there by name): each misbehaves in its own way.


def _raise_recursion() -> None:
    raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")


def _allocate(size: int) -> int:
    return len(bytearray(size))


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _pid() -> int:
    return os.getpid()


def _busy(marker: str) -> None:
    Path(marker).touch()
    time.sleep(60)


async def test_worker_and_inline_give_the_same_result():
    inline_page, inline_split = await Analyser(parallel=False).analyse(PAGE, "u", (), ())
    assert inline_split is None  # stories are left to the caller, needed only on change
    async with Analyser(parallel=True) as analyser:
        page, split = await analyser.analyse(PAGE, "u", (), ())
    assert page == inline_page == extract_page(PAGE, url="u")
    assert split == split_stories(page)
    assert split is not None and [s.title for s in split.stories] == [
        "Lifeboat crew records busiest autumn in twenty years",
        "Market hall traders win two-year rent freeze",
    ]


async def test_a_heavy_page_goes_to_the_worker_even_inline():
    many = "<html><body>" + "<span>x</span>" * (HEAVY_TAGS + 1) + "<p>many</p></body></html>"
    big = "<html><body><p>" + "word " * (INLINE_MAX // 5) + "</p></body></html>"
    for html in (many, big):
        analyser = Analyser(parallel=False)
        async with analyser:
            page, split = await analyser.analyse(html, "u", (), ())
            assert analyser.workers_started == 1  # it ran out of this process
        assert split is not None and page.blocks


def test_analyse_page_is_extract_then_split():
    page, split = analyse_page(PAGE, "u", (), ("article:last-of-type",))
    assert len(split.stories) == 1 and page == extract_page(
        PAGE, url="u", exclude=("article:last-of-type",))


def test_a_page_nesting_deeper_than_the_cap_is_refused_before_parsing():
    assert refusal(nested(MAX_NESTING)) is None
    for tag in ("div", "span", "section"):
        reason = refusal(nested(MAX_NESTING + 1, tag))
        assert reason == "page too complex: markup nests deeper than 10,000 elements"
    # Many elements side by side, or closed as they go, are not deep.
    assert refusal("<div></div>" * (3 * MAX_NESTING)) is None
    assert refusal("<p>a" * (3 * MAX_NESTING)) is None  # each <p> closes the one before


async def test_refused_pages_fail_inline_and_in_the_worker():
    for parallel in (False, True):
        async with Analyser(parallel=parallel) as analyser:
            with pytest.raises(PageError, match="nests deeper than 10,000"):
                await analyser.analyse(nested(100_000), "u", (), ())


async def test_an_exception_in_extraction_is_the_pages_failure(monkeypatch):
    def explode(html: str, **_: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(scraper.analyse, "extract_page", explode)
    with pytest.raises(PageError) as caught:
        await Analyser(parallel=False).analyse(PAGE, "u", (), ())
    assert str(caught.value) == "analysis failed: RecursionError: maximum recursion depth exceeded"


async def test_in_the_worker_each_failure_has_its_reason_and_the_next_page_works():
    async with Analyser(parallel=True, memory=256 * MiB) as analyser:
        with pytest.raises(PageError, match=r"^analysis failed: RecursionError: maximum"):
            await analyser.in_worker(_raise_recursion)
        await analyser.in_worker(_pid)
        assert analyser.workers_started == 1  # an exception costs no worker

        with pytest.raises(PageError) as caught:
            await analyser.in_worker(_allocate, 1024 * MiB)
        assert str(caught.value) == "page too complex: parsing needed over 256 MiB"
        assert await analyser.in_worker(_allocate, 64 * MiB) == 64 * MiB
        with pytest.raises(PageError) as caught:
            await analyser.in_worker(_die)
        assert str(caught.value) == "analysis failed: the worker process was killed by SIGKILL"

        _, split = await analyser.analyse(PAGE, "u", (), ())
        assert split is not None and len(split.stories) == 2
        assert analyser.workers_started == 3  # one more after each kill
        last = await analyser.in_worker(_pid)
    assert not _alive(last)  # and the analyser's end ends it


async def test_a_page_past_its_deadline_is_refused_and_its_worker_killed():
    async with Analyser(parallel=True, deadline=1.0) as analyser:
        first = await analyser.in_worker(_pid)
        with pytest.raises(PageError) as caught:
            await analyser.in_worker(time.sleep, 60)
        assert str(caught.value) == "page too complex: parsing took over 1 s"
        assert not _alive(first)  # killed at its deadline, not left to finish
        assert await analyser.in_worker(_pid) != first
        assert analyser.workers_started == 2


async def test_ending_a_run_with_a_page_in_the_worker_kills_it(tmp_path):
    # A daemon's shutdown cancels the checks in flight, then ends the analyser: that must
    # not wait out the page's deadline (60 s here), nor leave the worker running.
    marker = tmp_path / "busy"
    analyser = Analyser(parallel=True, deadline=60.0)
    pid = await analyser.in_worker(_pid)
    page = asyncio.create_task(analyser.in_worker(_busy, str(marker)))
    while not marker.exists():
        await asyncio.sleep(0.01)
    page.cancel()
    await asyncio.wait_for(analyser.__aexit__(None, None, None), 30)  # a hang, not speed
    assert not _alive(pid)
    with pytest.raises(asyncio.CancelledError):
        await page


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


CHILD = textwrap.dedent("""
    import asyncio, os, sys, time
    from pathlib import Path
    from scraper.analyse import Analyser

    def busy(marker):
        Path(marker).touch()
        time.sleep(120)

    async def main():
        analyser = Analyser(parallel=True)
        pid = await analyser.in_worker(os.getpid)  # started, its set-up done
        if sys.argv[1] == "busy":  # on a page when its parent is killed
            asyncio.create_task(analyser.in_worker(busy, sys.argv[2]))
            while not os.path.exists(sys.argv[2]):
                await asyncio.sleep(0.01)
        print(pid, flush=True)
        await asyncio.sleep(120)

    if __name__ == "__main__":
        asyncio.run(main())
""")


@pytest.mark.parametrize("worker", ["busy", "idle"])
def test_the_worker_dies_with_its_parent_under_sigkill(tmp_path, worker):
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    with subprocess.Popen([sys.executable, str(script), worker, str(tmp_path / "busy")],
                          cwd=REPO,
                          stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            pid = int(proc.stdout.readline())
            assert _alive(pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert _wait_gone([pid]) == [], f"the {worker} worker outlived its parent"
        finally:
            proc.kill()
