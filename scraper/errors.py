"""The exceptions this package raises, each carrying what it is about.

    ScraperError                 base of everything below
    ├── ConfigError              a config file is missing, unreadable or wrong (file, key, line)
    ├── FetchError               a page could not be fetched (url); inside fetch it becomes
    │                            a failed FetchResult: an outcome, not an exception
    └── StoreError               the database could not be opened, migrated or written (path)

Library errors (httpx, sqlite3, tomllib) are wrapped with ``raise ... from`` at the stage
edge; only the CLI turns these into exit codes (0 ok, 1 some watch failed, 2 config/usage).
"""

from __future__ import annotations

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


class FetchError(ScraperError):
    def __init__(self, message: str, *, url: str) -> None:
        self.message = message
        self.url = url
        super().__init__(f"{url}: {message}")


class StoreError(ScraperError):
    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)
