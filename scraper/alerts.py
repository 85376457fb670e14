"""The alert log: one JSON object per line, appended, never rewritten.

The alert log is a product surface: event names and fields are documented in the README
and stable. Alerts are made here (``make_alert``), stored in the database with the change
they announce (an outbox), then appended by ``AlertLog.write``; ``deliver_pending``
appends what a killed run stored but did not write, skipping lines already in the log, so
each ``alert_id`` appears once.

Operational logging (what the program is doing) goes to stderr via ``configure_logging``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import structlog

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
EVENTS = (
    PAGE_NEW, PAGE_CHANGED, PAGE_MIXED, STORY_NEW, STORY_CHANGED, STORY_REMOVED,
    STORY_DUPLICATE, FETCH_FAILED, FETCH_RECOVERED, FETCH_BLOCKED,
)

_render_json = structlog.processors.JSONRenderer(ensure_ascii=False)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_alert(event: str, *, watch: str, url: str, ts: str | None = None,
               **fields: Any) -> Alert:
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}")
    return Alert(alert_id=uuid.uuid4().hex, ts=ts or utc_now(), event=event, watch=watch,
                 url=url, fields=fields)


def render_alert(alert: Alert) -> str:
    """The alert's log line (without the newline): structlog's JSON renderer."""
    rendered = _render_json(None, "", alert.as_dict())
    return rendered if isinstance(rendered, str) else rendered.decode()


class AlertLog:
    """Appends whole lines to the alert log; reopens it after external rotation."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._inode: tuple[int, int] | None = None

    def _open(self) -> IO[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        handle = os.fdopen(fd, "a", encoding="utf-8")
        stat = os.fstat(fd)
        self._inode = (stat.st_dev, stat.st_ino)
        return handle

    def _current(self) -> IO[str]:
        # logrotate renames the file away: write to the new one at our path, as
        # logging.handlers.WatchedFileHandler does.
        try:
            stat = os.stat(self.path)
            moved = (stat.st_dev, stat.st_ino) != self._inode
        except FileNotFoundError:
            moved = True
        if self._file is None or moved:
            if self._file is not None:
                self._file.close()
            self._file = self._open()
        return self._file

    def write_lines(self, lines: Iterable[str]) -> None:
        handle = self._current()
        logger = structlog.WriteLogger(handle)
        for line in lines:
            # One write call per whole line (WriteLogger writes line + "\n" and flushes),
            # so a reader never sees half a line.
            logger.msg(line)
        os.fsync(handle.fileno())

    def write(self, alerts: Iterable[Alert]) -> None:
        self.write_lines(render_alert(alert) for alert in alerts)

    def ids_in_tail(self, ids: set[str], tail_bytes: int = 4_000_000) -> set[str]:
        """Which of ``ids`` already stand in the last part of the log."""
        if not ids or not self.path.exists():
            return set()
        found: set[str] = set()
        with self.path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - tail_bytes))
            for raw in handle:
                try:
                    alert_id = json.loads(raw).get("alert_id")
                except (ValueError, AttributeError):
                    continue
                if alert_id in ids:
                    found.add(alert_id)
        return found

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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
