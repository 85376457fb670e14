"""The exceptions this package raises, each carrying what it is about.

    ScraperError                 base of everything below
    ├── ConfigError              a config file is missing, unreadable or wrong (file, key, line)
    ├── StoreError               the database could not be opened, migrated or written (path)
    ├── AlertLogError            the alert log could not be written (path); the alerts stay
    │                            stored and the next run appends them
    └── PageError                one fetched page could not be analysed: refused as too
                                 complex, over its deadline or memory bound, or extraction
                                 raised; stored as that watch's failed check, never a run's

A page that cannot be fetched is not an exception: it is a FetchResult with
outcome "failed" and the reason, like a 304 or a robots.txt block.

Library errors (httpx, sqlite3, tomllib) are wrapped with ``raise ... from`` at the stage
edge; only the CLI turns these into exit codes (0 ok, 1 some watch failed, 2 config/usage).
"""

from __future__ import annotations

import os
from pathlib import Path


class ScraperError(Exception):
    """Base class: catch this to catch every error of ours."""


class ConfigError(ScraperError):
    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        watch: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.watch = watch
        self.key = key
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.watch is not None:
            parts.append(f"watch {self.watch!r}")
        if self.key is not None:
            parts.append(f"key {self.key!r}")
        return ": ".join(parts) + f": {self.message}"


class StoreError(ScraperError):
    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class AlertLogError(ScraperError):
    def __init__(self, message: str, *, path: Path | str) -> None:
        self.message = message
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class PageError(ScraperError):
    """``str(error)`` is the reason, as stored and shown: "page too complex: ..." or
    "analysis failed: ..."."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def disk_reason(path: Path | str) -> str | None:
    """Why writing under ``path`` fails, when the file system says: read-only or full.

    SQLite reports a full or read-only disk as "disk I/O error" or "unable to open
    database file"; this names the cause for the user.
    """
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        info = os.statvfs(folder)
    except OSError:
        return None
    if info.f_flag & os.ST_RDONLY:
        return "the file system is read-only"
    free = info.f_bavail * info.f_frsize
    if free < 1_000_000:
        return f"the disk is full ({free // 1024} KiB free)"
    return None
