"""Read the alert log back: its files, its lines, filters and ``--follow``.

- ``log_files(path)``: the log and its rotated files, oldest first (``alerts.jsonl.N``
  ... ``.1``, logrotate's ``-DATE`` names, either of them gzipped), then the log itself.
- ``read_log(path)`` yields every line of them as a ``LogLine``, a ``Malformed`` line
  (reported, skipped, never fatal) or an ``Unreadable`` file.
- ``follow_log(path)`` does the same, then keeps reading as lines arrive, across a
  rotation (finish the old descriptor, then open the new file) or a truncation.
- ``AlertFilter`` selects lines.

Plain functions over bytes and dicts: no event loop, no database.
"""

from __future__ import annotations

import difflib
import fnmatch
import gzip
import json
import os
import re
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from scraper.alerts import EVENTS, parse_ts
from scraper.config import parse_duration

__all__ = [
    "CAUGHT_UP",
    "AlertFilter",
    "CaughtUp",
    "Entry",
    "LogLine",
    "Malformed",
    "Unreadable",
    "check_event_patterns",
    "follow_log",
    "log_files",
    "parse_line",
    "parse_since",
    "parse_ts",
    "read_file",
    "read_log",
]


@dataclass(frozen=True, slots=True)
class LogLine:
    """One well-formed line: the text exactly as written, and its parsed object."""

    path: str
    lineno: int
    raw: str  # without the newline
    alert: dict[str, Any]
    ts: datetime  # the alert's ``ts``, aware (UTC)


@dataclass(frozen=True, slots=True)
class Malformed:
    path: str
    lineno: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: malformed line skipped ({self.reason})"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A whole file that could not be opened or read to its end."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: cannot read: {self.reason}"


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """``follow_log`` has read everything there is for now and is waiting for more."""


CAUGHT_UP = CaughtUp()
Entry = LogLine | Malformed | Unreadable


# --- parsing --------------------------------------------------------------------------


def parse_line(raw: bytes, path: str, lineno: int) -> LogLine | Malformed | None:
    """One line of the log (with or without its newline); None for a blank line."""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return Malformed(path, lineno, "not UTF-8")
    if not text.strip():
        return None
    try:
        alert = json.loads(text)
    except ValueError:
        return Malformed(path, lineno, "not JSON")
    if not isinstance(alert, dict):
        return Malformed(path, lineno, "not a JSON object")
    if not isinstance(alert.get("event"), str):
        return Malformed(path, lineno, "no event")
    ts = parse_ts(alert.get("ts"))
    if ts is None:
        return Malformed(path, lineno, "no valid ts")
    return LogLine(path, lineno, text, alert, ts)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """'30m', '2h', '1d' (that long ago) or an ISO date/datetime -> an aware datetime.

    A date or time without a zone is local time: that is what a person types.
    """
    value = text.strip()
    try:
        seconds = parse_duration(value)
    except ValueError:
        pass
    else:
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30m, 2h, 1d) nor a date "
            "(2026-11-26, 2026-11-26T08:00, 2026-11-26T08:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # naive: local time
    return parsed.astimezone(UTC)


def check_event_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    """Each pattern ('story.changed', 'story.*', '*.failed') must match a known event."""
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(event, pattern) for event in EVENTS):
            close = difflib.get_close_matches(pattern, EVENTS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(EVENTS)}"
            raise ValueError(f"no event matches {pattern!r}; {hint}")
    return tuple(patterns)


# --- filtering ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which lines to show. Empty fields select everything; all given fields must match."""

    since: datetime | None = None
    watches: tuple[str, ...] = ()
    events: tuple[str, ...] = ()  # names or shell patterns: 'story.*'
    story: str | None = None  # a story id or its first digits
    grep: str | None = None  # case-insensitive, in the title, the diff or the whole line

    def matches(self, line: LogLine) -> bool:
        alert = line.alert
        if self.since is not None and line.ts < self.since:
            return False
        if self.watches and alert.get("watch") not in self.watches:
            return False
        if self.events and not any(
            fnmatch.fnmatchcase(alert["event"], p) for p in self.events
        ):
            return False
        if self.story is not None and not any(
            sid.startswith(self.story) for sid in _story_ids(alert)
        ):
            return False
        if self.grep is not None:
            needle = self.grep.casefold()
            # The raw line has JSON escapes (\" and \n); the decoded fields have none.
            fields = [alert.get(k) for k in ("title", "diff", "lead", "error", "reason")]
            haystacks = [f for f in fields if isinstance(f, str)] + [line.raw]
            if not any(needle in h.casefold() for h in haystacks):
                return False
        return True


def _story_ids(alert: dict[str, Any]) -> list[str]:
    """The story an alert is about, or (page.new, page.mixed) the stories it lists."""
    ids = [alert["story_id"]] if isinstance(alert.get("story_id"), str) else []
    stories = alert.get("stories")
    if isinstance(stories, list):
        ids += [s["story_id"] for s in stories
                if isinstance(s, dict) and isinstance(s.get("story_id"), str)]
    return ids


# --- files ----------------------------------------------------------------------------

_NUMBERED = re.compile(r"\.(\d+)(\.gz)?")
_DATED = re.compile(r"-(\d[\d-]*)(\.gz)?")  # logrotate's dateext: alerts.jsonl-20261126


def log_files(path: str | os.PathLike[str]) -> list[Path]:
    """Rotated files oldest first, then the log itself; only files that exist."""
    log = Path(path)
    numbered: dict[int, Path] = {}
    dated: dict[str, Path] = {}
    try:
        siblings = list(log.parent.iterdir())
    except OSError:
        siblings = []
    for candidate in siblings:
        if not candidate.name.startswith(log.name) or not candidate.is_file():
            continue
        rest = candidate.name[len(log.name):]
        # Mid-compression both alerts.jsonl.2 and a partial .2.gz exist: the plain
        # file is the complete one, so it wins.
        if match := _NUMBERED.fullmatch(rest):
            _prefer_plain(numbered, int(match[1]), candidate)
        elif match := _DATED.fullmatch(rest):
            _prefer_plain(dated, match[1], candidate)
    files = [dated[k] for k in sorted(dated)]
    files += [numbered[n] for n in sorted(numbered, reverse=True)]
    if log.is_file():
        files.append(log)
    return files


def _prefer_plain(files: dict[Any, Path], key: object, candidate: Path) -> None:
    if key not in files or candidate.suffix != ".gz":
        files[key] = candidate


def _open_log(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def read_file(path: Path) -> Iterator[Entry]:
    """Every line of one file (gzipped or not); a file that fails is ``Unreadable``."""
    name = str(path)
    lineno = 0
    try:
        with _open_log(path) as handle:
            for lineno, raw in enumerate(handle, start=1):
                entry = parse_line(raw, name, lineno)
                if entry is not None:
                    yield entry
    except (OSError, EOFError, zlib.error) as exc:
        where = f" after line {lineno}" if lineno else ""
        yield Unreadable(name, f"{getattr(exc, 'strerror', None) or exc}{where}")


def read_log(path: str | os.PathLike[str]) -> Iterator[Entry]:
    """Every line of the log and its rotated files, oldest first."""
    for file in log_files(path):
        yield from read_file(file)


def _inode(stat: os.stat_result) -> tuple[int, int]:
    return (stat.st_dev, stat.st_ino)


def follow_log(
    path: str | os.PathLike[str], *, stop: threading.Event | None = None,
    poll: float = 0.2,
) -> Iterator[Entry | CaughtUp]:
    """Every line there is, then every line as it is appended, until ``stop`` is set.

    Yields ``CAUGHT_UP`` each time it has read all there is (first: the history).
    Rotation (the log renamed away, a new file in its place): the old descriptor is read
    to its end, then the new file is opened; rotated files we never held (the log
    rotated twice between two looks) are read in between, so no line is missed.
    Truncation in place (logrotate's copytruncate): read again from the start.
    A line is only taken once its newline is there: a reader never sees half a line.
    """
    log = Path(path)
    stop = stop or threading.Event()
    # Open the current file before listing the rotated ones: if a rotation happens in
    # between, the file we hold is among them too, and is skipped there.
    handle = _open_current(log)
    seen: dict[tuple[int, int], bytes] = {}
    yield from _unseen_rotated(log, handle, seen, history=True)
    name, lineno, pending, reading = str(log), 0, b"", True
    try:
        while True:
            if handle is None and (handle := _open_current(log)) is not None:
                yield from _unseen_rotated(log, handle, seen)
            if handle is not None:
                chunk = handle.read(1 << 16)
                if chunk:
                    reading = True
                    *lines, pending = (pending + chunk).split(b"\n")
                    for raw in lines:
                        lineno += 1
                        if (entry := parse_line(raw, name, lineno)) is not None:
                            yield entry
                    continue
                change = _changed(log, handle)
                if change == "rotated":
                    yield from _drain(handle, name, lineno, pending)
                    handle.close()
                    handle, lineno, pending = None, 0, b""
                    continue
                if change == "truncated":
                    handle.seek(0)
                    lineno, pending = 0, b""
                    continue
            if reading:
                reading = False
                yield CAUGHT_UP
            # No portable file-change notification in the standard library: poll.
            if stop.wait(poll):
                return
    finally:
        if handle is not None:
            handle.close()


def _unseen_rotated(
    log: Path, handle: IO[bytes] | None, seen: dict[tuple[int, int], bytes], *,
    history: bool = False,
) -> Iterator[Entry]:
    """Rotated files not read yet, oldest first; marks the held file and them as seen.

    At the start (``history``) every rotated file is new, gzipped ones included; later
    only plain ones are: a .gz is a compressed copy of a file already read.

    A file is known by its inode and its first bytes. A listing taken while the writer
    renames ``.N`` to ``.N+1`` can miss a file, so a file missing from one listing is not
    forgotten (it would be read twice); an inode number reused by a new file is told
    apart by its first bytes instead (the files only grow, so a known file's start
    never changes).
    """
    held = _inode(os.fstat(handle.fileno())) if handle is not None else None
    for file in log_files(log):
        if file == log or (file.suffix == ".gz" and not history):
            continue
        try:
            inode = _inode(file.stat())
            start = _start(file)
        except OSError:
            continue
        if inode == held or _known(seen, inode, start):
            continue
        seen[inode] = start
        yield from read_file(file)
    if handle is not None and held is not None:
        start = os.pread(handle.fileno(), _START, 0)
        if not _known(seen, held, start):
            seen[held] = start


_START = 512  # bytes that tell a file from another with a reused inode number


def _start(file: Path) -> bytes:
    with file.open("rb") as f:
        return f.read(_START)


def _known(seen: dict[tuple[int, int], bytes], inode: tuple[int, int], start: bytes) -> bool:
    known = seen.get(inode)
    if known is None or not (start.startswith(known) or known.startswith(start)):
        return False
    if len(start) > len(known):
        seen[inode] = start  # it grew: remember the longer start
    return True


def _open_current(log: Path) -> IO[bytes] | None:
    try:
        return log.open("rb", buffering=0)
    except FileNotFoundError:
        return None


def _changed(log: Path, handle: IO[bytes]) -> str | None:
    """'rotated' when the path names another file now, 'truncated' when ours shrank."""
    try:
        current = log.stat()
    except FileNotFoundError:
        return None  # renamed away, nothing new yet: keep reading the old file
    ours = os.fstat(handle.fileno())
    if _inode(current) != _inode(ours):
        return "rotated"
    if ours.st_size < handle.tell():
        return "truncated"
    return None


def _drain(handle: IO[bytes], name: str, lineno: int, pending: bytes) -> Iterator[Entry]:
    """The rest of a rotated file, including a last line without its newline."""
    rest = pending + b"".join(iter(lambda: handle.read(1 << 16), b""))
    for raw in rest.split(b"\n"):
        lineno += 1
        if (entry := parse_line(raw, name, lineno)) is not None:
            yield entry

