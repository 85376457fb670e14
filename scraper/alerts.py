"""The alert log: one JSON object per line, appended, never rewritten.

The alert log is a product surface: event names and fields are documented in the README
and stable. Alerts are made here (``make_alert``), stored in the database with the change
they announce (an outbox), then appended to the log by ``pipeline.deliver_pending`` under
the log's lock (``AlertLog.try_lock``/``wait_lock`` and ``holding``): every process takes
it for the whole step "still unwritten? -> already in the log? -> append -> mark
written", so each ``alert_id`` appears once however many processes share the log.

Operational logging (what the program is doing) goes to stderr via ``configure_logging``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from scraper.errors import AlertLogError
from scraper.models import Alert

__all__ = [
    "EVENTS",
    "AlertLog",
    "configure_logging",
    "make_alert",
    "render_alert",
    "utc_now",
]

# Event names: stable, documented in README.md ("The alert log").
PAGE_NEW = "page.new"
PAGE_CHANGED = "page.changed"
PAGE_MIXED = "page.mixed"
STORY_NEW = "story.new"
STORY_CHANGED = "story.changed"
STORY_REMOVED = "story.removed"
STORY_DUPLICATE = "story.duplicate"
FETCH_FAILED = "fetch.failed"
FETCH_RECOVERED = "fetch.recovered"
FETCH_BLOCKED = "fetch.blocked"
FETCH_REDIRECTED = "fetch.redirected"
ARTICLE_FOUND = "article.found"  # a followed feed or front linked to a new article
EVENTS = (
    PAGE_NEW, PAGE_CHANGED, PAGE_MIXED, STORY_NEW, STORY_CHANGED, STORY_REMOVED,
    STORY_DUPLICATE, FETCH_FAILED, FETCH_RECOVERED, FETCH_BLOCKED, FETCH_REDIRECTED,
    ARTICLE_FOUND,
)

_render_json = structlog.processors.JSONRenderer(ensure_ascii=False)

# What a terminal acts on or that reorders what it shows: C0 and C1 controls, DEL, the
# line and paragraph separators and the bidirectional overrides ("Trojan Source").
TERMINAL_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def format_ts(when: datetime) -> str:
    """The timestamp format of alerts and the database: UTC, milliseconds, ``Z``."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> str:
    return format_ts(datetime.now(UTC))


def parse_ts(value: object) -> datetime | None:
    """A timestamp (ISO 8601, ``Z`` or an offset) as an aware UTC datetime; None if it
    is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # we write UTC
    return parsed.astimezone(UTC)


def make_alert(event: str, *, watch: str, url: str, ts: str | None = None,
               **fields: Any) -> Alert:
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}")
    return Alert(alert_id=uuid.uuid4().hex, ts=ts or utc_now(), event=event, watch=watch,
                 url=url, fields=fields)


def render_alert(alert: Alert) -> str:
    """The alert's log line (without the newline): structlog's JSON renderer, with
    what a terminal would act on written as ``\\u`` escapes (``json_safe``)."""
    rendered = _render_json(None, "", alert.as_dict())
    return json_safe(rendered if isinstance(rendered, str) else rendered.decode())


def json_safe(text: str) -> str:
    """A JSON text with DEL, C1 controls and bidi overrides as ``\\uXXXX`` escapes: the
    same value, but ``cat`` or ``tail -f`` of it cannot drive a terminal. (Inside its
    strings JSON escapes C0 controls itself and may leave these raw; outside them only
    the whitespace a pretty-printed text has, which stays as it is.)"""
    if _JSON_UNSAFE.search(text) is None:
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


_JSON_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
    "\u202a-\u202e\u2066-\u2069]")


class AlertLog:
    """Appends whole lines to the alert log; never rewrites or truncates what it holds.

    - One writer at a time, across processes: every step that appends takes an flock on
      ``<log>.lock`` (``try_lock``/``wait_lock``, then ``holding``; a bare ``write``
      takes it itself). The kernel drops the lock of a process that dies, so a kill -9
      never leaves it held. ``pipeline.deliver_pending`` holds it from "which alerts are
      still unwritten?" to "marked written", so two processes never both append one.
    - External rotation (logrotate renames the file away): the next write reopens the
      path, as ``logging.handlers.WatchedFileHandler`` does.
    - In-process rotation (``max_size`` > 0): a line that would take the file past
      ``max_size`` bytes first renames alerts.jsonl -> .1 -> .2 ... (keeping ``backups``
      files) and starts a new file. Renames move whole files, so no line is lost or cut.
    - Each line is one ``os.write`` of its bytes and newline on an O_APPEND descriptor,
      so concurrent writers never interleave inside a line; a line cut short by a full
      disk is taken back, so the next one does not start mid-line. A file that ends
      mid-line anyway (another writer's crash, an editor) gets a newline first.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_size: int = 0,
                 backups: int = 5) -> None:
        if max_size < 0 or backups < 1:
            raise ValueError("AlertLog needs max_size >= 0 and backups >= 1")
        self.path = Path(path)
        self.max_size = max_size
        self.backups = backups
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None
        self._held = False  # inside ``holding``: writes take no lock of their own
        # (device, inode, size) of the log when our last step was marked written: every
        # line before that is known, so the next step reads only what came after.
        self._settled: tuple[int, int, int] | None = None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Read too: to see whether the file ends mid-line.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        stat = os.fstat(fd)
        self._inode = (stat.st_dev, stat.st_ino)
        return fd

    def _current(self) -> int:
        # logrotate renames the file away: write to the new one at our path.
        try:
            stat = os.stat(self.path)
            moved = (stat.st_dev, stat.st_ino) != self._inode
        except FileNotFoundError:
            moved = True
        if self._fd is None or moved:
            self._close_fd()
            self._fd = self._open()
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def rotated_path(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _rotate(self) -> None:
        """alerts.jsonl.(N-1) -> .N ... alerts.jsonl -> .1; the next open starts afresh."""
        if self._fd is not None:
            os.fsync(self._fd)  # the file leaves our hands whole
        self._close_fd()
        prefix = self.path.name + "."
        existing = [int(rest) for name in os.listdir(self.path.parent)
                    if name.startswith(prefix) and (rest := name[len(prefix):]).isdigit()]
        # Oldest first, so nothing is overwritten but the file past ``backups``.
        for n in sorted((n for n in existing if 0 < n < self.backups), reverse=True):
            os.replace(self.rotated_path(n), self.rotated_path(n + 1))
        os.replace(self.path, self.rotated_path(1))

    # --- the lock ----------------------------------------------------------------------

    def try_lock(self) -> int | None:
        """A descriptor holding the log's lock, or None while another holds it."""
        return self._take_lock(wait=False)

    def wait_lock(self) -> int:
        """A descriptor holding the log's lock, once its holder lets go (blocks)."""
        fd = self._take_lock(wait=True)
        assert fd is not None
        return fd

    def _take_lock(self, *, wait: bool) -> int | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT, 0o640)
        except OSError as exc:
            raise self._error(exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextmanager
    def holding(self, lock: int) -> Iterator[None]:
        """A step under ``lock`` (from try_lock or wait_lock), which is given back at the
        end. One step at a time per AlertLog: the caller serialises its own tasks."""
        self._held = True
        try:
            yield
        finally:
            self._held = False
            os.close(lock)  # releases the flock

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._held:
            yield
            return
        with self.holding(self.wait_lock()):
            yield

    # --- writing -----------------------------------------------------------------------

    def write_lines(self, lines: Iterable[str]) -> None:
        try:
            self._write_lines(lines)
        except OSError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: OSError) -> AlertLogError:
        reason = exc.strerror or str(exc)
        return AlertLogError(
            f"cannot append to the alert log: {reason}; the alerts are kept in the "
            "database and written once the log can take them", path=self.path,
        )

    def _write_lines(self, lines: Iterable[str]) -> None:
        with self._locked():
            fd = self._current()
            first = _ends_mid_line(fd)
            for line in lines:
                data = (line + "\n").encode("utf-8")
                if self.max_size:
                    # Another process may have rotated since our last write: follow it.
                    held = self._inode
                    fd = self._current()
                    size = os.fstat(fd).st_size
                    # An oversized line still goes in whole, alone in its file.
                    if size and size + len(data) > self.max_size:
                        self._rotate()
                        fd = self._current()
                    if self._inode != held:
                        first = _ends_mid_line(fd)
                if first:
                    # The file ends mid-line: end that line, so both stay readable.
                    data = b"\n" + data
                    first = False
                _write_all(fd, data)
            os.fsync(fd)

    def write(self, alerts: Iterable[Alert]) -> None:
        self.write_lines(render_alert(alert) for alert in alerts)

    # --- what is in the log already ------------------------------------------------------

    def settle(self) -> None:
        """Note where the log stands (call under the lock, once what a step appended is
        marked written): the next ``ids_in_tail`` reads only what is appended after."""
        try:
            stat = os.stat(self.path)
        except OSError:
            self._settled = None
            return
        self._settled = (stat.st_dev, stat.st_ino, stat.st_size)

    def ids_in_tail(self, ids: set[str], tail_bytes: int = 4_000_000) -> set[str]:
        """Which of ``ids`` already stand in the last ``tail_bytes`` of the log.

        After a ``settle`` on this same file, only the lines appended since are read
        (another process's step that died before it marked them). Otherwise the log and
        then its rotated files, newest first, within ``tail_bytes`` in all: a batch
        that spanned several rotations before a crash left its lines in .1, .2, ...
        """
        if not ids:
            return set()
        regions: list[tuple[Path, int]] = []  # (file, offset to read from)
        settled = self._settled
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            stat = None
        if (settled is not None and stat is not None
                and (stat.st_dev, stat.st_ino) == settled[:2] and stat.st_size >= settled[2]):
            regions.append((self.path, max(settled[2], stat.st_size - tail_bytes)))
        else:
            budget = tail_bytes
            for path in (self.path, *map(self.rotated_path, range(1, self.backups + 1))):
                if budget <= 0:
                    break
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                regions.append((path, max(0, size - budget)))
                budget -= size
        found: set[str] = set()
        for path, offset in regions:
            try:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    for raw in handle:
                        try:
                            alert_id = json.loads(raw).get("alert_id")
                        except (ValueError, AttributeError):
                            continue  # the cut first line, or a malformed one
                        if alert_id in ids:
                            found.add(alert_id)
            except FileNotFoundError:
                continue  # rotated away meanwhile by a writer that does not lock
        return found

    def close(self) -> None:
        self._close_fd()


def _ends_mid_line(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _write_all(fd: int, data: bytes) -> None:
    """Append ``data`` whole or not at all: a full disk must not leave half a line."""
    before = os.fstat(fd).st_size
    view = memoryview(data)
    written = 0
    try:
        # A regular file takes the whole buffer in one write; loop for a short one.
        while written < len(view):
            written += os.write(fd, view[written:])
    except OSError:
        # Cut back only our own part-line: if the size is not ours alone, another
        # writer appended after it, and cutting would drop their line.
        if written and os.fstat(fd).st_size == before + written:
            os.ftruncate(fd, before)
        raise


def configure_logging(*, json_output: bool | None = None, level: int = logging.INFO) -> None:
    """Operational logs to stderr: coloured key=value on a terminal, JSON lines otherwise."""
    if json_output is None:
        json_output = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_output
        else structlog.dev.ConsoleRenderer(colors=True)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
