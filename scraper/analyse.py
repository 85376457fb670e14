"""Extract and split a page, in this process or in a worker process, within bounds.

``analyse_page`` is the pure step (extract -> stories). ``Analyser`` decides where it
runs, and keeps what one page can cost bounded:

- In the event loop's own thread for a small page of a small run (no start-up cost): at
  most INLINE_MAX characters and HEAVY_TAGS tags, which bounds what it can take.
- In one worker process when a run is large and there is a second core (parsing and
  splitting are most of a check's CPU), and always for a big or tag-heavy page. There a
  page gets ``deadline`` seconds (DEADLINE; past it the worker is killed and the next
  page starts a new one) and ``memory`` bytes of address space (MEMORY, RLIMIT_AS), one
  page at a time. The worker dies with the process that started it (PR_SET_PDEATHSIG,
  and end of file on its pipe when idle), so a kill -9 of a run leaves no worker behind.
- A page whose markup nests deeper than MAX_NESTING elements is refused before it is
  parsed: nesting is quadratic in extraction (100,000 nested divs took 26 s).

Whatever goes wrong raises PageError with a reason a reader can act on ("page too
complex: parsing took over 20 s", "analysis failed: RecursionError: ..."); check_watch
stores it as that watch's failed check, never as the run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import pickle
import re
import resource
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from scraper.errors import PageError
from scraper.extract import extract_page, text_to_page
from scraper.models import ExtractedPage, StorySplit
from scraper.stories import split_stories

__all__ = [
    "DEADLINE",
    "HEAVY_TAGS",
    "INLINE",
    "INLINE_MAX",
    "MAX_NESTING",
    "MEMORY",
    "PARALLEL_FROM",
    "Analyser",
    "analyse_page",
    "analyse_text",
    "describe_error",
    "refusal",
]

HEAVY_TAGS = 30_000  # a 55 KB article has ~3,000 tags; hostile pages have 100,000s
INLINE_MAX = 200_000  # characters; bigger pages go to the worker, where bounds hold
PARALLEL_FROM = 50  # watches in a run before a worker process pays for its start-up
DEADLINE = 20.0  # seconds of the worker's time one page may take
MEMORY = 512 * 1024 * 1024  # bytes of address space of the worker (~62 MB when idle)
MAX_NESTING = 10_000  # 10,000 nested divs extract in 0.1 s, 100,000 in 26 s
STARTUP_LIMIT = 60.0  # seconds a new worker may take to start (~0.5 s when idle)

T = TypeVar("T")

# Container elements the HTML parser never closes by itself: their open tags minus their
# end tags bound from below how deep the parsed tree nests. (A <p> or <li> closes the
# one before it, so counting those would make an ordinary page look deep.)
_NESTING_TAG = re.compile(
    r"<(/?)(?:div|span|section|article|main|aside|nav|header|footer|form|ul|ol|dl|"
    r"blockquote|figure|table|a|b|i|em|strong|font)[\s>/]",
    re.IGNORECASE,
)


def refusal(html: str) -> str | None:
    """Why the page is refused before parsing, or None. Linear, and free for a page of
    fewer than MAX_NESTING tags (it cannot nest deeper than its tag count)."""
    if html.count("<") <= MAX_NESTING:
        return None
    depth = deepest = 0
    for match in _NESTING_TAG.finditer(html):
        if match.group(1):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_NESTING:
                    return f"page too complex: markup nests deeper than {MAX_NESTING:,} elements"
    return None


def analyse_page(
    html: str, url: str, include: tuple[str, ...], exclude: tuple[str, ...]
) -> tuple[ExtractedPage, StorySplit]:
    """Extract then split; PageError if the page is refused before parsing."""
    reason = refusal(html)
    if reason:
        raise PageError(reason)
    page = extract_page(html, url=url, include=include, exclude=exclude)
    return page, split_stories(page)


def analyse_text(text: str) -> tuple[ExtractedPage, StorySplit]:
    """A plain-text dump (one block per line), split into stories."""
    page = text_to_page(text)
    return page, split_stories(page)


def _extract_only(
    html: str, url: str, include: tuple[str, ...], exclude: tuple[str, ...]
) -> tuple[ExtractedPage, StorySplit | None]:
    reason = refusal(html)
    if reason:
        raise PageError(reason)
    return extract_page(html, url=url, include=include, exclude=exclude), None


def describe_error(exc: BaseException) -> str:
    """``RecursionError: maximum recursion depth exceeded ...``, cut to one short line."""
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _heavy(html: str) -> bool:
    return len(html) > INLINE_MAX or html.count("<") > HEAVY_TAGS


class Analyser:
    """Where pages are analysed; ``async with`` ends the worker.

    Loop-agnostic (the module's INLINE analyser serves every event loop): the worker is
    talked to from one thread of the analyser's own, which also queues the pages.
    """

    def __init__(self, *, parallel: bool, deadline: float | None = None,
                 memory: int | None = None) -> None:
        self.parallel = parallel and (os.cpu_count() or 1) > 1
        self.deadline = DEADLINE if deadline is None else deadline
        self.memory = MEMORY if memory is None else memory
        self._lock = threading.Lock()  # guards _worker, _busy, _threads and _closes
        self._worker: _Worker | None = None
        self._busy: _Worker | None = None  # the worker while a page is in it
        self._threads: ThreadPoolExecutor | None = None
        self._closes = 0  # times closed: a worker started across a close is not kept
        self.workers_started = 0  # a new one after each kill: for tests and logs

    @classmethod
    def for_run(cls, watches: int) -> Analyser:
        return cls(parallel=watches >= PARALLEL_FROM)

    async def analyse(
        self, html: str, url: str, include: tuple[str, ...], exclude: tuple[str, ...],
        *, split: bool = False,
    ) -> tuple[ExtractedPage, StorySplit | None]:
        """The page's blocks, and its stories when they came for free (from the worker)
        or ``split`` asks for them; else, in this process, they are left to the caller,
        who needs them only when the text changed. PageError says why a page could not
        be analysed."""
        if self.parallel or _heavy(html):
            return await self.in_worker(analyse_page, html, url, include, exclude)
        try:
            if split:
                return analyse_page(html, url, include, exclude)
            return _extract_only(html, url, include, exclude)
        except PageError:
            raise
        except Exception as exc:  # RecursionError from a deep JSON-LD, say
            raise PageError(f"analysis failed: {describe_error(exc)}") from exc

    async def analyse_text(self, text: str) -> tuple[ExtractedPage, StorySplit]:
        """A plain-text dump, split into stories, within the same bounds as a page."""
        if self.parallel or len(text) > INLINE_MAX:
            return await self.in_worker(analyse_text, text)
        try:
            return analyse_text(text)
        except Exception as exc:
            raise PageError(f"analysis failed: {describe_error(exc)}") from exc

    async def in_worker(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in the worker, within its deadline and memory bound."""
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(1, thread_name_prefix="analyser")
            threads = self._threads
        loop = asyncio.get_running_loop()
        try:
            kind, value = await loop.run_in_executor(threads, self._exchange, function, args)
        except Exception as exc:  # the page would not pickle, say
            raise PageError(f"analysis failed: {describe_error(exc)}") from exc
        if kind != "ok":
            raise PageError(value)
        return value  # type: ignore[no-any-return]

    def _exchange(self, function: Callable[..., object], args: tuple[Any, ...]
                  ) -> tuple[str, Any]:
        """One page through the worker (in the analyser's thread): ("ok", result) or
        ("failed", reason). A worker past its deadline is killed; one that died, ran out
        of memory or was killed is replaced at the next page."""
        payload = pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            worker = self._running_worker()
        except PageError as exc:
            return "failed", str(exc)
        try:
            return self._ask(worker, payload)
        finally:
            with self._lock:
                self._busy = None

    def _ask(self, worker: _Worker, payload: bytes) -> tuple[str, Any]:
        try:
            worker.conn.send_bytes(payload)
            if not worker.conn.poll(self.deadline):
                self._discard(worker)
                return "failed", f"page too complex: parsing took over {self.deadline:g} s"
            kind, value = pickle.loads(worker.conn.recv_bytes())
        except (EOFError, OSError):
            self._discard(worker)
            return "failed", f"analysis failed: the worker process {worker.exit_reason()}"
        if kind == "memory":
            self._discard(worker)  # it exits after a MemoryError: its heap is fragmented
            return "failed", (f"page too complex: parsing needed over "
                              f"{self.memory // (1024 * 1024)} MiB")
        if kind == "refused":
            return "failed", value
        if kind == "error":
            return "failed", f"analysis failed: {value}"
        return "ok", value

    def _running_worker(self) -> _Worker:
        """The worker, marked busy; a new one if there is none or it died."""
        with self._lock:
            worker, closes = self._worker, self._closes
            if worker is not None and worker.process.is_alive():
                self._busy = worker
                return worker
        if worker is not None:
            self._discard(worker)
        fresh = _Worker.start(self.memory)  # not under the lock: the loop may want it
        with self._lock:
            if self._closes == closes:
                self._worker = self._busy = fresh
                self.workers_started += 1
                return fresh
        fresh.stop()  # the analyser was closed meanwhile
        raise PageError("analysis failed: the run ended before the page was analysed")

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            if self._worker is worker:
                self._worker = None
        worker.stop()

    async def __aenter__(self) -> Analyser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
            busy = worker is not None and worker is self._busy
            threads, self._threads = self._threads, None
            self._closes += 1
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)
        if busy and worker is not None:
            # On a page (a cancelled run): killed; the analyser's thread, waiting on its
            # pipe, wakes at the end of file and is done. (Closing the pipe under that
            # thread instead would not wake it.)
            worker.process.kill()
        if threads is not None:
            await asyncio.to_thread(threads.shutdown, wait=True)
        if worker is not None:
            # Idle, it exits at end of file on its pipe.
            await asyncio.to_thread(worker.stop, grace=0.0 if busy else 1.0)


@dataclass(frozen=True, slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection

    @classmethod
    def start(cls, memory: int) -> _Worker:
        # spawn, not fork: this process has threads (aiosqlite's, zlib's); not forkserver
        # either: a forked worker's parent would be the forkserver, which lives on while
        # its children do, so their death signal would never come.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs, memory, os.getpid()),
                                  name="scraper-analyser", daemon=True)
        process.start()
        theirs.close()  # the worker holds the only other end: our exit is its EOF
        worker = cls(process, ours)
        # Its start-up (an interpreter, the extractor's imports) is not a page's time.
        try:
            if ours.poll(STARTUP_LIMIT) and ours.recv_bytes() == b"ready":
                return worker
        except (EOFError, OSError):
            pass
        reason = worker.exit_reason()
        worker.stop()
        raise PageError(f"analysis failed: the worker process {reason} at start-up")

    def stop(self, grace: float = 0.0) -> None:
        """End the worker: at once, or after ``grace`` seconds to exit at EOF."""
        self.conn.close()
        if grace:
            self.process.join(grace)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()

    def exit_reason(self) -> str:
        self.process.join(1.0)
        code = self.process.exitcode
        if code is None:
            return "stopped answering"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"was killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"


# --- the worker process ----------------------------------------------------------------

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(run_pid: int) -> None:
    """SIGKILL this process when the thread that started it ends (the analyser's own
    thread, which lives as long as the analyser; with the process, it goes too)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: end of file on the pipe still ends it
        return
    if os.getppid() != run_pid:  # it went before prctl took effect: nobody will signal
        os._exit(0)


def _limit_memory(memory: int) -> None:
    with contextlib.suppress(OSError, ValueError):  # a sandbox may forbid it: MemoryMax holds
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            memory = min(memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (memory, hard))


def _serve(conn: Connection, memory: int, run_pid: int) -> None:
    """The worker's loop: one job in, one reply out, until end of file."""
    _die_with_parent(run_pid)
    _limit_memory(memory)
    conn.send_bytes(b"ready")
    while True:
        try:
            function, args = pickle.loads(conn.recv_bytes())
        except EOFError:
            return  # the run is over (or gone)
        except MemoryError:
            conn.send_bytes(pickle.dumps(("memory", None)))
            return
        try:
            reply = pickle.dumps(("ok", function(*args)), protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            del args
            conn.send_bytes(pickle.dumps(("memory", None)))
            return
        except PageError as exc:
            reply = pickle.dumps(("refused", str(exc)))
        except Exception as exc:  # whatever extraction raises is this page's failure
            reply = pickle.dumps(("error", describe_error(exc)))
        del function, args
        conn.send_bytes(reply)


# For callers with no Analyser of their own: in-process, a worker only for hostile pages.
INLINE = Analyser(parallel=False)
