"""The values the store takes and gives, and the hashing and packing of bodies."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scraper.errors import StoreError, disk_reason
from scraper.models import Alert, FetchResult, Validators


def _failure(message: str, path: Path | str) -> StoreError:
    """A StoreError that names the cause when the disk is full or read-only."""
    reason = disk_reason(Path(path).parent)
    return StoreError(f"{message} ({reason})" if reason else message, path=path)


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _to_signed(value: int) -> int:
    """SQLite integers are signed 64-bit; SimHashes are unsigned."""
    return value - (1 << 64) if value >= (1 << 63) else value


def _to_unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


@dataclass(frozen=True, slots=True)
class StoryRecord:
    """A story as stored with a snapshot."""

    story_id: str
    title: str | None
    exact: str
    simhash: int
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    id: int
    taken_at: str
    url: str
    html_hash: str
    blocks_hash: str
    story_count: int
    html_size: int = 0


@dataclass(frozen=True, slots=True)
class FollowedRow:
    """An article a followed watch found, tracked as the watch ``name``."""

    parent: str
    name: str
    url: str  # canonical
    title: str | None
    found_at: str  # UTC, ISO 8601
    retired_at: str | None = None
    last_checked_at: str | None = None  # of its own watch; None: never checked


@dataclass(frozen=True, slots=True)
class WatchState:
    """What a check needs to know about a watch's past."""

    watch_id: int | None  # None: never seen
    validators: Validators = field(default_factory=Validators)
    consecutive_failures: int = 0
    latest: SnapshotInfo | None = None
    last_outcome: str | None = None  # of the previous fetch
    last_fetch_id: int | None = None  # a check is stored only if this is still the last
    final_url: str | None = None  # where the latest ok or 304 fetch ended, after redirects


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """Everything one check writes, in one transaction."""

    watch_name: str
    url: str
    interval: float
    checked_at: str
    fetch: FetchResult
    consecutive_failures: int
    html: str | None = None  # set when a new snapshot is stored
    blocks_json: bytes | None = None  # the page's blocks, JSON-encoded as stored
    stories: Sequence[StoryRecord] = ()
    new_story_ids: Sequence[str] = ()  # stories first seen in this check
    changed: bool = False
    alerts: Sequence[Alert] = ()
    deliveries: Sequence[tuple[str, str]] = ()  # (alert_id, notify target name)
    announced: bool = True  # False: a debounced change, announced later
    keep_snapshots: int = 100
    based_on: int | None = None  # WatchState.last_fetch_id the check was computed from


class StaleState(Exception):
    """Another process stored a check of this watch since its state was read: the
    comparison must be made again (else both would announce the same change)."""


@dataclass(frozen=True, slots=True)
class FetchRow:
    fetched_at: str
    outcome: str
    status: int | None
    bytes: int
    duration_ms: float
    error: str | None


@dataclass(frozen=True, slots=True)
class WatchStatus:
    name: str
    url: str
    interval: float | None
    last_checked_at: str | None
    last_success_at: str | None
    last_changed_at: str | None
    last_error: str | None
    last_error_at: str | None
    consecutive_failures: int
    story_count: int
    snapshot_count: int


def _pack(data: bytes) -> bytes:
    # Level 1: on real news pages 2.4x faster than level 6 for 20% more bytes (40 pages
    # of the extraction benchmark: 0.91 vs 2.22 ms, 41 vs 35 KiB a page); compression
    # was the costliest step of storing a new page.
    return zlib.compress(data, 1)


@dataclass(frozen=True, slots=True)
class _Packed:
    """A snapshot's bodies, hashed and compressed before its transaction begins."""

    contents: list[tuple[str, int, bytes]]  # (hash, size, compressed data)
    html_hash: str
    blocks_hash: str
    story_hashes: list[str]


def _pack_group(records: Sequence[CheckRecord]) -> list[_Packed | None]:
    """Runs in a worker thread: zlib releases the GIL, so compressing pages (the
    costliest step of storing them) overlaps with the event loop's work on the other core."""
    return [_pack_snapshot(r) if r.html is not None and r.blocks_json is not None else None
            for r in records]


def _pack_snapshot(record: CheckRecord) -> _Packed:
    assert record.html is not None and record.blocks_json is not None
    bodies = [
        record.html.encode("utf-8"),
        record.blocks_json,
        *(json.dumps(list(s.paragraphs), ensure_ascii=False).encode() for s in record.stories),
    ]
    contents = [(content_hash(body), len(body), _pack(body)) for body in bodies]
    hashes = [digest for digest, _, _ in contents]
    return _Packed(contents, hashes[0], hashes[1], hashes[2:])


