"""Extract and split a page, in this process or in a worker process.

``analyse_page`` is the pure step (extract -> stories). ``Analyser`` decides where it
runs: in the event loop's own thread for small runs (no start-up cost), in one worker
process when a run is large and there is a second core (parsing and splitting are most
of a check's CPU), and always in the worker for a page whose markup is pathological (a
100,000-deep nest of divs parses in seconds and would stall every fetch in flight).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from scraper.extract import extract_page
from scraper.models import ExtractedPage, StorySplit
from scraper.stories import split_stories

__all__ = ["HEAVY_TAGS", "INLINE", "PARALLEL_FROM", "Analyser", "analyse_page"]

HEAVY_TAGS = 30_000  # a 55 KB article has ~3,000 tags; hostile pages have 100,000s
PARALLEL_FROM = 50  # watches in a run before a worker process pays for its start-up


def analyse_page(
    html: str, url: str, include: tuple[str, ...], exclude: tuple[str, ...]
) -> tuple[ExtractedPage, StorySplit]:
    page = extract_page(html, url=url, include=include, exclude=exclude)
    return page, split_stories(page)


def _extract_only(
    html: str, url: str, include: tuple[str, ...], exclude: tuple[str, ...]
) -> tuple[ExtractedPage, StorySplit | None]:
    return extract_page(html, url=url, include=include, exclude=exclude), None


class Analyser:
    """Where pages are analysed; ``async with`` ends the worker."""

    def __init__(self, *, parallel: bool) -> None:
        self.parallel = parallel and (os.cpu_count() or 1) > 1
        self._pool: ProcessPoolExecutor | None = None

    @classmethod
    def for_run(cls, watches: int) -> Analyser:
        return cls(parallel=watches >= PARALLEL_FROM)

    def _worker(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver, not fork: this process has threads (aiosqlite's, zlib's).
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        return self._pool

    async def analyse(
        self, html: str, url: str, include: tuple[str, ...], exclude: tuple[str, ...]
    ) -> tuple[ExtractedPage, StorySplit | None]:
        """The page's blocks, and its stories when they came for free (from the worker);
        in this process they are left to the caller, who needs them only when the text
        changed."""
        if self.parallel or html.count("<") > HEAVY_TAGS:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._worker(), analyse_page, html, url, include, exclude)
        return _extract_only(html, url, include, exclude)

    async def __aenter__(self) -> Analyser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


# For callers with no Analyser of their own: in-process, a worker only for hostile pages.
INLINE = Analyser(parallel=False)
