"""The schema and its migrations: ``PRAGMA user_version`` is the version, and
``MIGRATIONS[n]`` takes version n to n+1. Never edit a released migration; add one."""

from __future__ import annotations

import asyncio
import random
import sqlite3

import aiosqlite

from scraper.errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "enable_wal", "migrate"]

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: the first release.
    """
    CREATE TABLE watches (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        url TEXT NOT NULL,
        created_at TEXT NOT NULL,
        interval REAL,
        etag TEXT,
        last_modified TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_checked_at TEXT,
        last_success_at TEXT,
        last_changed_at TEXT,
        last_error TEXT,
        last_error_at TEXT
    );
    CREATE TABLE contents (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        watch_id INTEGER NOT NULL REFERENCES watches(id),
        taken_at TEXT NOT NULL,
        url TEXT NOT NULL,
        html_hash TEXT NOT NULL REFERENCES contents(hash),
        blocks_hash TEXT NOT NULL REFERENCES contents(hash),
        story_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX snapshots_by_watch ON snapshots(watch_id, id);
    CREATE TABLE fetches (
        id INTEGER PRIMARY KEY,
        watch_id INTEGER NOT NULL REFERENCES watches(id),
        fetched_at TEXT NOT NULL,
        url TEXT NOT NULL,
        outcome TEXT NOT NULL,
        status INTEGER,
        bytes INTEGER NOT NULL DEFAULT 0,
        duration_ms REAL NOT NULL DEFAULT 0,
        error TEXT,
        snapshot_id INTEGER REFERENCES snapshots(id) ON DELETE SET NULL
    );
    CREATE INDEX fetches_by_watch ON fetches(watch_id, id);
    CREATE TABLE stories (
        id TEXT PRIMARY KEY,
        simhash INTEGER NOT NULL,
        exact TEXT NOT NULL,
        title TEXT,
        first_seen_at TEXT NOT NULL,
        first_watch_id INTEGER NOT NULL REFERENCES watches(id),
        last_seen_at TEXT NOT NULL
    );
    CREATE TABLE snapshot_stories (
        snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        story_id TEXT NOT NULL REFERENCES stories(id),
        title TEXT,
        exact TEXT NOT NULL,
        simhash INTEGER NOT NULL,
        text_hash TEXT NOT NULL REFERENCES contents(hash),
        PRIMARY KEY (snapshot_id, position)
    );
    CREATE INDEX snapshot_stories_by_story ON snapshot_stories(story_id);
    CREATE TABLE alerts (
        seq INTEGER PRIMARY KEY,
        alert_id TEXT NOT NULL UNIQUE,
        watch_id INTEGER REFERENCES watches(id),
        created_at TEXT NOT NULL,
        event TEXT NOT NULL,
        line TEXT NOT NULL,
        emitted_at TEXT
    );
    CREATE INDEX alerts_pending ON alerts(seq) WHERE emitted_at IS NULL;
    """,
    # 1 -> 2: webhook/Apprise deliveries (an outbox per target), and the snapshot whose
    # content was last announced (debounce announces the net change since it).
    """
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        alert_id TEXT NOT NULL REFERENCES alerts(alert_id),
        target TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        delivered_at TEXT,
        gave_up_at TEXT,
        UNIQUE (alert_id, target)
    );
    CREATE INDEX deliveries_due ON deliveries(next_attempt_at)
        WHERE delivered_at IS NULL AND gave_up_at IS NULL;
    ALTER TABLE watches ADD COLUMN announced_snapshot_id INTEGER;
    UPDATE watches SET announced_snapshot_id =
        (SELECT MAX(id) FROM snapshots WHERE snapshots.watch_id = watches.id);
    """,
    # 2 -> 3: robots.txt answers, so runs in separate processes share them.
    """
    CREATE TABLE robots (
        origin TEXT PRIMARY KEY,
        fetched_at REAL NOT NULL,
        body TEXT
    );
    """,
    # 3 -> 4: the URL each fetch ended at (after redirects), and the watch's latest one,
    # so a move is announced; and since when each origin's robots.txt has been
    # unavailable, so the 12-hour limit on "disallow all" holds across --once runs.
    """
    ALTER TABLE fetches ADD COLUMN final_url TEXT;
    ALTER TABLE watches ADD COLUMN final_url TEXT;
    CREATE TABLE robots_outages (
        origin TEXT PRIMARY KEY,
        since REAL NOT NULL
    );
    """,
    # 4 -> 5: following a site. Each article a followed feed or front linked to, by its
    # canonical URL (once, whichever parent found it first), tracked as its own watch
    # named ``name``; and what each followed URL was found to be (feed or front).
    """
    CREATE TABLE followed (
        id INTEGER PRIMARY KEY,
        parent TEXT NOT NULL,
        name TEXT NOT NULL UNIQUE,
        url TEXT NOT NULL UNIQUE,
        title TEXT,
        found_at TEXT NOT NULL,
        retired_at TEXT
    );
    CREATE INDEX followed_by_parent ON followed(parent, found_at);
    ALTER TABLE watches ADD COLUMN follow_kind TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

async def enable_wal(db: aiosqlite.Connection) -> None:
    """Switch to WAL. Switching needs an exclusive lock and SQLite answers "locked" at
    once, busy timeout or not, when another connection is opening the same new file (a
    daemon and a --once run started together): so wait and try again, briefly."""
    for attempt in range(50):
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            await asyncio.sleep(0.05 + 0.05 * random.random())


async def _user_version(db: aiosqlite.Connection) -> int:
    rows = await db.execute_fetchall("PRAGMA user_version")
    return int(next(iter(rows))[0])


async def migrate(db: aiosqlite.Connection, path: str) -> None:
    version = await _user_version(db)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {version}, newer than this program's "
            f"{SCHEMA_VERSION}; upgrade scraper", path=path,
        )
    if version == SCHEMA_VERSION:
        return
    await db.execute("BEGIN IMMEDIATE")
    try:
        # Another process (a daemon and a --once run started together) may have migrated
        # while we waited for the write lock: read the version again under it.
        for target in range(await _user_version(db), SCHEMA_VERSION):
            # executescript would COMMIT first; run statements one by one inside our BEGIN.
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {target + 1}")
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
