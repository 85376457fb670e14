"""SQLite storage: ``async with open_store(path) as store``. All SQL lives in this package.

- WAL with synchronous=NORMAL and a busy timeout, so a daemon and a ``--once`` run can
  share one database; every write is one short ``BEGIN IMMEDIATE`` transaction through
  the one connection of this process, serialised by a lock because tasks sharing an
  aiosqlite connection would otherwise interleave their transactions.
- A check (fetch row, new snapshot, stories, alerts) is written in one transaction, so a
  crash (kill -9) leaves either all of it or none of it. Checks that finish while a
  transaction is being written share the next one (group commit).
- Page and text bodies are content-addressed (blake2b) and zlib-compressed: an unchanged
  page adds a fetch row, not a copy.
- The schema version is ``PRAGMA user_version``; ``_schema.MIGRATIONS[n]`` takes version n to n+1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from scraper.alerts import render_alert
from scraper.errors import StoreError
from scraper.models import Alert, Validators
from scraper.store._coalesce import Coalescer, fail_all
from scraper.store._records import (
    CheckRecord,
    FetchRow,
    FollowedRow,
    SnapshotInfo,
    StaleState,
    StoryRecord,
    WatchState,
    WatchStatus,
    _failure,
    _pack_group,
    _Packed,
    _to_signed,
    _to_unsigned,
    content_hash,
)
from scraper.store._schema import SCHEMA_VERSION, enable_wal, migrate

__all__ = [
    "SCHEMA_VERSION",
    "CheckRecord",
    "FetchRow",
    "FollowedRow",
    "SnapshotInfo",
    "StaleState",
    "Store",
    "StoryRecord",
    "WatchState",
    "WatchStatus",
    "content_hash",
    "open_store",
]


# Checks in one group commit: bounds a transaction's length (and its SQL variables).
_GROUP_MAX = 64


class Store:
    """One aiosqlite connection; use ``open_store``."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self._write_lock = asyncio.Lock()
        # robots.txt answers and outages waiting for the next write transaction, by
        # origin: (fetched_at, body) of a usable answer, or the float an outage began.
        self._robots_pending: dict[str, tuple[float, str | None] | float] = {}
        self._pending: list[tuple[CheckRecord, asyncio.Future[int | None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._watch_states = Coalescer(self._read_watch_states, WatchState(watch_id=None))
        self._robots: Coalescer[str, tuple[float, str | None] | None] = Coalescer(
            self._read_robots, None)

    # --- transactions ------------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time on this connection.

        Cancellation-safe: aiosqlite runs each statement in its thread whether or not the
        awaiting task is still there, so a task cancelled at BEGIN or COMMIT can leave a
        transaction open. Every exit rolls back what is still open (shielded, so a second
        cancellation cannot skip it) after waiting for what is still queued.
        """
        async with self._write_lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _failure(f"cannot start a write: {exc}", self.path) from exc
            except BaseException:
                await asyncio.shield(self._end_open_transaction())
                raise
            robots, self._robots_pending = self._robots_pending, {}
            try:
                if robots:
                    await self._write_robots(robots)
                yield self._db
            except BaseException:
                await asyncio.shield(self._end_open_transaction())
                raise
            try:
                await self._db.commit()
            except sqlite3.Error as exc:
                await asyncio.shield(self._end_open_transaction())
                raise _failure(f"cannot commit: {exc}", self.path) from exc
            except BaseException:
                await asyncio.shield(self._end_open_transaction())
                raise

    async def _write_robots(self, robots: dict[str, tuple[float, str | None] | float]) -> None:
        answers = [(origin, *value) for origin, value in robots.items()
                   if isinstance(value, tuple)]
        await self._db.executemany(
            "INSERT OR REPLACE INTO robots (origin, fetched_at, body) VALUES (?, ?, ?)",
            answers)
        await self._db.executemany(  # an answer ends the outage
            "DELETE FROM robots_outages WHERE origin = ?", [(a[0],) for a in answers])
        await self._db.executemany(  # another process may have seen it begin earlier
            "INSERT INTO robots_outages (origin, since) VALUES (?, ?) ON CONFLICT(origin) "
            "DO UPDATE SET since = MIN(since, excluded.since)",
            [(origin, value) for origin, value in robots.items()
             if not isinstance(value, tuple)])

    async def _end_open_transaction(self) -> None:
        # A cancelled statement may still wait in aiosqlite's queue; the queue is FIFO,
        # so once this no-op is answered, everything sent before it has run.
        await self._db.execute_fetchall("SELECT 1")
        if self._db.in_transaction:
            await self._db.rollback()

    # --- reads -------------------------------------------------------------------------

    async def watch_state(self, name: str) -> WatchState:
        """Every check starts here; the checks that start together share one query."""
        return await self._watch_states.get(name)

    async def _read_watch_states(self, names: Sequence[str]) -> dict[str, WatchState]:
        rows = await self._db.execute_fetchall(
            f"""
            SELECT w.name, w.id, w.etag, w.last_modified, w.consecutive_failures,
                   f.outcome, f.id, w.final_url,
                   s.id, s.taken_at, s.url, s.html_hash, s.blocks_hash, s.story_count, c.size
            FROM watches w
            LEFT JOIN fetches f ON f.id =
                (SELECT MAX(id) FROM fetches WHERE watch_id = w.id)
            LEFT JOIN snapshots s ON s.id =
                (SELECT MAX(id) FROM snapshots WHERE watch_id = w.id)
            LEFT JOIN contents c ON c.hash = s.html_hash
            WHERE w.name IN ({",".join("?" * len(names))})
            """,
            names,
        )
        states: dict[str, WatchState] = {}
        for row in rows:
            name, watch_id, etag, last_modified, failures, outcome, fetch_id, final = row[:8]
            states[name] = WatchState(
                watch_id=watch_id,
                validators=Validators(etag=etag, last_modified=last_modified),
                consecutive_failures=failures,
                latest=SnapshotInfo(*row[8:]) if row[8] is not None else None,
                last_outcome=outcome,
                last_fetch_id=fetch_id,
                final_url=final,
            )
        return states

    async def latest_snapshot(self, watch_id: int) -> SnapshotInfo | None:
        snapshots = await self.snapshots(watch_id, limit=1)
        return snapshots[0] if snapshots else None

    async def snapshots(self, watch_id: int, *, limit: int = -1) -> list[SnapshotInfo]:
        """Newest first."""
        rows = await self._db.execute_fetchall(
            "SELECT s.id, s.taken_at, s.url, s.html_hash, s.blocks_hash, s.story_count, c.size "
            "FROM snapshots s JOIN contents c ON c.hash = s.html_hash "
            "WHERE s.watch_id = ? ORDER BY s.id DESC LIMIT ?",
            (watch_id, limit),
        )
        return [SnapshotInfo(*row) for row in rows]

    async def watch_id(self, name: str) -> int | None:
        rows = await self._db.execute_fetchall("SELECT id FROM watches WHERE name = ?", (name,))
        return next(iter(rows))[0] if rows else None

    async def content(self, digest: str) -> bytes:
        rows = await self._db.execute_fetchall(
            "SELECT data FROM contents WHERE hash = ?", (digest,)
        )
        if not rows:
            raise StoreError(f"content {digest} is missing", path=self.path)
        return zlib.decompress(next(iter(rows))[0])

    async def blocks(self, snapshot: SnapshotInfo) -> list[dict[str, object]]:
        return json.loads(await self.content(snapshot.blocks_hash))

    async def snapshot_stories(self, snapshot_id: int) -> list[StoryRecord]:
        rows = await self._db.execute_fetchall(
            "SELECT ss.story_id, ss.title, ss.exact, ss.simhash, c.data "
            "FROM snapshot_stories ss JOIN contents c ON c.hash = ss.text_hash "
            "WHERE ss.snapshot_id = ? ORDER BY ss.position",
            (snapshot_id,),
        )
        return [
            StoryRecord(story_id, title, exact, _to_unsigned(simhash),
                        tuple(json.loads(zlib.decompress(data))))
            for story_id, title, exact, simhash, data in rows
        ]

    async def known_stories(self) -> list[tuple[str, int, str, str, str | None]]:
        """(story id, simhash, exact hash, first watch's name, title) of every story."""
        rows = await self._db.execute_fetchall(
            "SELECT s.id, s.simhash, s.exact, w.name, s.title FROM stories s "
            "JOIN watches w ON w.id = s.first_watch_id"
        )
        return [(sid, _to_unsigned(sh), exact, name, title)
                for sid, sh, exact, name, title in rows]

    async def fetches(self, watch_id: int, *, limit: int = 20) -> list[FetchRow]:
        rows = await self._db.execute_fetchall(
            "SELECT fetched_at, outcome, status, bytes, duration_ms, error FROM fetches "
            "WHERE watch_id = ? ORDER BY id DESC LIMIT ?",
            (watch_id, limit),
        )
        return [FetchRow(*row) for row in rows]

    async def statuses(self) -> list[WatchStatus]:
        rows = await self._db.execute_fetchall(
            """
            SELECT w.name, w.url, w.interval, w.last_checked_at, w.last_success_at,
                   w.last_changed_at, w.last_error, w.last_error_at, w.consecutive_failures,
                   COALESCE((SELECT s.story_count FROM snapshots s WHERE s.watch_id = w.id
                             ORDER BY s.id DESC LIMIT 1), 0),
                   (SELECT COUNT(*) FROM snapshots s WHERE s.watch_id = w.id)
            FROM watches w ORDER BY w.name
            """
        )
        return [WatchStatus(*row) for row in rows]

    async def followed(self, parent: str | None = None) -> list[FollowedRow]:
        """The articles followed watches found (of ``parent``, or all), oldest first."""
        where, args = ("WHERE f.parent = ?", (parent,)) if parent is not None else ("", ())
        rows = await self._db.execute_fetchall(
            "SELECT f.parent, f.name, f.url, f.title, f.found_at, f.retired_at, "
            "w.last_checked_at FROM followed f LEFT JOIN watches w ON w.name = f.name "
            f"{where} ORDER BY f.found_at, f.id", args)
        return [FollowedRow(*row) for row in rows]

    async def follow_kind(self, name: str) -> str | None:
        """What a followed watch's URL was found to be: "feed", "front", or None yet."""
        rows = list(await self._db.execute_fetchall(
            "SELECT follow_kind FROM watches WHERE name = ?", (name,)))
        return rows[0][0] if rows else None

    async def add_followed(
        self, parent: str, kind: str, found: Sequence[tuple[FollowedRow, Alert]],
        deliveries: Sequence[tuple[str, str]] = (),
    ) -> list[Alert]:
        """Start following articles, each with its ``article.found`` alert, in one
        transaction; returns the alerts of those added. An article whose URL (or name)
        another parent or process stored first is left out, with its alert: found once.
        """
        added: list[Alert] = []
        try:
            async with self._transaction() as db:
                await db.execute("UPDATE watches SET follow_kind = ? WHERE name = ?",
                                 (kind, parent))
                for row, alert in found:
                    cursor = await db.execute(
                        "INSERT OR IGNORE INTO followed (parent, name, url, title, found_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (row.parent, row.name, row.url, row.title, row.found_at))
                    if cursor.rowcount == 1:
                        added.append(alert)
                ids = {a.alert_id for a in added}
                await self._insert_alerts(db, [(
                    await self._watch_id_in(db, parent), added,
                    [d for d in deliveries if d[0] in ids],
                )])
        except sqlite3.Error as exc:
            raise _failure(f"cannot store the articles {parent!r} found: {exc}",
                           self.path) from exc
        return added

    async def _watch_id_in(self, db: aiosqlite.Connection, name: str) -> int | None:
        rows = list(await db.execute_fetchall("SELECT id FROM watches WHERE name = ?",
                                              (name,)))
        return int(rows[0][0]) if rows else None

    async def retire_followed(self, names: Sequence[str], when: str) -> None:
        """Mark articles past their ``follow_for``: no longer checked; history kept."""
        if not names:
            return
        try:
            async with self._transaction() as db:
                await db.executemany(
                    "UPDATE followed SET retired_at = ? WHERE name = ? AND retired_at IS NULL",
                    [(when, name) for name in names])
        except sqlite3.Error as exc:
            raise _failure(f"cannot retire followed articles: {exc}", self.path) from exc

    async def pending_alerts(self) -> list[tuple[str, str]]:
        """(alert_id, JSON line) of alerts stored but not yet appended to the log."""
        rows = await self._db.execute_fetchall(
            "SELECT alert_id, line FROM alerts WHERE emitted_at IS NULL ORDER BY seq"
        )
        return [(alert_id, line) for alert_id, line in rows]

    async def recent_story_versions(self, watch_id: int, n: int) -> dict[str, set[str]]:
        """story id -> exact hashes it had in the watch's newest ``n`` snapshots."""
        rows = await self._db.execute_fetchall(
            "SELECT ss.story_id, ss.exact FROM snapshot_stories ss WHERE ss.snapshot_id IN "
            "(SELECT id FROM snapshots WHERE watch_id = ? ORDER BY id DESC LIMIT ?)",
            (watch_id, n),
        )
        versions: dict[str, set[str]] = {}
        for story_id, exact in rows:
            versions.setdefault(story_id, set()).add(exact)
        return versions

    async def held_change(self, watch_id: int) -> tuple[SnapshotInfo, SnapshotInfo, str] | None:
        """(last announced snapshot, newest snapshot, time of the first held one), when
        newer snapshots than the announced one exist (a debounced change)."""
        rows = await self._db.execute_fetchall(
            "SELECT announced_snapshot_id FROM watches WHERE id = ?", (watch_id,)
        )
        announced_id = next(iter(rows))[0] if rows else None
        snapshots = await self.snapshots(watch_id)
        if announced_id is None or not snapshots or snapshots[0].id == announced_id:
            return None
        newer = [s for s in snapshots if s.id > announced_id]
        baseline = next((s for s in snapshots if s.id == announced_id), None)
        if baseline is None or not newer:
            return None  # the baseline was pruned: nothing sound to compare with
        return baseline, snapshots[0], newer[-1].taken_at

    async def stories_first_seen_since(self, watch_id: int, since: str) -> set[str]:
        rows = await self._db.execute_fetchall(
            "SELECT id FROM stories WHERE first_watch_id = ? AND first_seen_at > ?",
            (watch_id, since),
        )
        return {row[0] for row in rows}

    async def record_release(
        self, watch_name: str, baseline_id: int, snapshot_id: int, alerts: Sequence[Alert],
        deliveries: Sequence[tuple[str, str]] = (),
    ) -> bool:
        """Announce a held (debounced) change: its alerts, and the new baseline. False,
        and nothing stored, when the announced baseline is no longer ``baseline_id``:
        another process released this change first (as StaleState guards checks)."""
        try:
            async with self._transaction() as db:
                cursor = await db.execute(
                    "UPDATE watches SET announced_snapshot_id = ?, last_changed_at = "
                    "CASE WHEN ? THEN ? ELSE last_changed_at END "
                    "WHERE name = ? AND announced_snapshot_id = ? RETURNING id",
                    (snapshot_id, bool(alerts), alerts[0].ts if alerts else None,
                     watch_name, baseline_id),
                )
                row = await cursor.fetchone()
                await cursor.close()
                if row is None:
                    return False
                await self._insert_alerts(db, [(row[0], alerts, deliveries)])
        except sqlite3.Error as exc:
            raise _failure(f"cannot store the alerts of {watch_name!r}: {exc}",
                           self.path) from exc
        return True

    async def due_deliveries(self, now: float, limit: int = 100) -> list[tuple[int, str, str, int]]:
        """(delivery id, target, alert JSON line, attempts so far) due at ``now``."""
        rows = await self._db.execute_fetchall(
            "SELECT d.id, d.target, a.line, d.attempts FROM deliveries d "
            "JOIN alerts a ON a.alert_id = d.alert_id "
            "WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL AND d.next_attempt_at <= ? "
            "ORDER BY d.next_attempt_at, d.id LIMIT ?",
            (now, limit),
        )
        return [(i, target, line, attempts) for i, target, line, attempts in rows]

    async def next_delivery_at(self) -> float | None:
        rows = await self._db.execute_fetchall(
            "SELECT MIN(next_attempt_at) FROM deliveries "
            "WHERE delivered_at IS NULL AND gave_up_at IS NULL"
        )
        value = next(iter(rows))[0] if rows else None
        return float(value) if value is not None else None

    async def record_delivery(
        self, delivery_id: int, *, when: str, error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        """Delivered (no error), failed and due again at ``retry_at``, or given up."""
        try:
            async with self._transaction() as db:
                if error is None:
                    await db.execute(
                        "UPDATE deliveries SET attempts = attempts + 1, delivered_at = ?, "
                        "last_error = NULL WHERE id = ?", (when, delivery_id))
                elif retry_at is not None:
                    await db.execute(
                        "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, "
                        "next_attempt_at = ? WHERE id = ?", (error, retry_at, delivery_id))
                else:
                    await db.execute(
                        "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, "
                        "gave_up_at = ? WHERE id = ?", (error, when, delivery_id))
        except sqlite3.Error as exc:
            raise _failure(f"cannot record a delivery: {exc}", self.path) from exc

    async def deliveries(self) -> list[tuple[str, str, int, str | None, str | None, str | None]]:
        """(alert id, target, attempts, last error, delivered at, gave up at), oldest first."""
        rows = await self._db.execute_fetchall(
            "SELECT alert_id, target, attempts, last_error, delivered_at, gave_up_at "
            "FROM deliveries ORDER BY id"
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]

    # The RobotsCache of polite.py: a Store is one.
    async def load(self, origin: str) -> tuple[float, str | None] | None:
        return await self._robots.get(origin)

    async def _read_robots(
        self, origins: Sequence[str]
    ) -> dict[str, tuple[float, str | None] | None]:
        rows = await self._db.execute_fetchall(
            "SELECT origin, fetched_at, body FROM robots "
            f"WHERE origin IN ({','.join('?' * len(origins))})", origins,
        )
        return {origin: (float(fetched_at), body) for origin, fetched_at, body in rows}

    async def save(self, origin: str, fetched_at: float, body: str | None) -> None:
        """Kept until the next write transaction (a check's), which stores it too: one
        transaction per robots.txt cost a run of many sites ~10%. Lost if the process
        dies first, which costs a fetch of robots.txt, nothing more. Ends an outage."""
        self._robots_pending[origin] = (fetched_at, body)

    async def outage(self, origin: str) -> float | None:
        """Unix time robots.txt of ``origin`` became unavailable, if it still is."""
        pending = self._robots_pending.get(origin)
        if pending is not None:
            return None if isinstance(pending, tuple) else pending
        rows = await self._db.execute_fetchall(
            "SELECT since FROM robots_outages WHERE origin = ?", (origin,))
        return float(next(iter(rows))[0]) if rows else None

    async def save_outage(self, origin: str, since: float) -> None:
        """Written with the next transaction, like ``save``."""
        self._robots_pending[origin] = since

    async def integrity_check(self) -> str:
        rows = await self._db.execute_fetchall("PRAGMA integrity_check")
        return ", ".join(str(row[0]) for row in rows)

    # --- writes ------------------------------------------------------------------------

    async def record_check(self, record: CheckRecord) -> int | None:
        """Write one check; returns the new snapshot's id, if one was stored.

        Checks are committed in groups (group commit): a check waits while the group
        before it is written, then goes in the next transaction with every check that
        came meanwhile. Each statement runs once per group (executemany), not once per
        check: one aiosqlite round trip costs two thread hand-offs, and at a dozen
        statements a check those hand-offs were most of a busy run's time. A check
        alone is written at once. Raises StaleState for this check alone.
        """
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name="store-writer")
        # A caller cancelled before its group starts is left out; after, it is stored.
        return await future

    async def _write_pending(self) -> None:
        while self._pending:
            group: list[tuple[CheckRecord, asyncio.Future[int | None]]] = []
            later: list[tuple[CheckRecord, asyncio.Future[int | None]]] = []
            names: set[str] = set()
            for item in self._pending:
                if item[1].done():
                    continue
                if len(group) >= _GROUP_MAX or item[0].watch_name in names:
                    later.append(item)  # one check of a watch per group: ids are per name
                else:
                    names.add(item[0].watch_name)
                    group.append(item)
            self._pending = later
            if group:
                await self._write_group(group)

    async def _write_group(
        self, group: list[tuple[CheckRecord, asyncio.Future[int | None]]]
    ) -> None:
        records = [record for record, _ in group]
        try:
            packed = await asyncio.to_thread(_pack_group, records)
            try:
                results = await self._write_checks(records, packed)
            except sqlite3.Error as exc:
                if len(group) == 1:
                    raise _failure(f"cannot store the check of {records[0].watch_name!r}: "
                                   f"{exc}", self.path) from exc
                # One check's bad row must not lose the others: write them one by one,
                # so each failure names its own watch.
                for item in group:
                    await self._write_group([item])
                return
        except BaseException as exc:
            fail_all((future for _, future in group), exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(group, results, strict=True):
            if future.done():
                continue
            if isinstance(result, StaleState):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _write_checks(
        self, records: list[CheckRecord], packed: list[_Packed | None]
    ) -> list[int | StaleState | None]:
        """One transaction for a group of checks (of distinct watches)."""
        results: list[int | StaleState | None] = [None] * len(records)
        async with self._transaction() as db:
            names = [r.watch_name for r in records]
            marks = ",".join("?" * len(names))
            rows = await db.execute_fetchall(
                "SELECT w.name, (SELECT MAX(id) FROM fetches WHERE watch_id = w.id) "
                f"FROM watches w WHERE w.name IN ({marks})", names,
            )
            last_fetch: dict[str, int | None] = {name: last for name, last in rows}
            live: list[int] = []
            for i, record in enumerate(records):
                if last_fetch.get(record.watch_name) != record.based_on:
                    results[i] = StaleState(record.watch_name)
                else:
                    live.append(i)
            if not live:
                return results
            ids = await self._upsert_watches(db, [records[i] for i in live])
            snapshot_ids = await self._insert_snapshots(
                db, [(records[i], ids[records[i].watch_name], packed[i]) for i in live
                     if packed[i] is not None])
            await db.executemany(
                "INSERT INTO fetches (watch_id, fetched_at, url, outcome, status, bytes, "
                "duration_ms, error, snapshot_id, final_url) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(ids[r.watch_name], r.checked_at, r.url, r.fetch.outcome, r.fetch.status,
                  r.fetch.bytes, round(r.fetch.duration * 1000, 2), r.fetch.error,
                  snapshot_ids.get(r.watch_name), r.fetch.final_url)
                 for r in (records[i] for i in live)],
            )
            await self._insert_alerts(db, [
                (ids[records[i].watch_name], records[i].alerts, records[i].deliveries)
                for i in live])
            await db.executemany(
                "UPDATE watches SET announced_snapshot_id = ? WHERE id = ?",
                [(snapshot_ids[r.watch_name], ids[r.watch_name])
                 for r in (records[i] for i in live)
                 if r.announced and r.watch_name in snapshot_ids],
            )
            by_keep: dict[int, list[int]] = {}
            for i in live:
                if records[i].watch_name in snapshot_ids:
                    by_keep.setdefault(records[i].keep_snapshots, []).append(
                        ids[records[i].watch_name])
            for keep, watch_ids in by_keep.items():
                await self._prune(db, watch_ids, keep)
            for i in live:
                results[i] = snapshot_ids.get(records[i].watch_name)
        return results

    async def _upsert_watches(
        self, db: aiosqlite.Connection, records: list[CheckRecord]
    ) -> dict[str, int]:
        """name -> watch id, after creating new watches and updating their state."""
        await db.executemany(
            "INSERT INTO watches (name, url, created_at, interval) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET url = excluded.url, interval = excluded.interval",
            [(r.watch_name, r.url, r.checked_at, r.interval) for r in records],
        )
        # One statement for every outcome, so a group is one executemany: a failure
        # keeps the last success, a 304 keeps the validators, and a server that stops
        # sending validators on a 200 must not keep stale ones.
        await db.executemany(
            """
            UPDATE watches SET consecutive_failures = :failures, last_checked_at = :at,
                last_success_at = CASE WHEN :ok THEN :at ELSE last_success_at END,
                etag = CASE WHEN :fresh THEN :etag ELSE etag END,
                last_modified = CASE WHEN :fresh THEN :last_modified ELSE last_modified END,
                last_error = CASE WHEN :ok THEN last_error ELSE :error END,
                last_error_at = CASE WHEN :ok THEN last_error_at ELSE :at END,
                last_changed_at = CASE WHEN :changed THEN :at ELSE last_changed_at END,
                final_url = CASE WHEN :ok AND :final_url IS NOT NULL THEN :final_url
                            ELSE final_url END
            WHERE name = :name
            """,
            [{"failures": r.consecutive_failures, "at": r.checked_at,
              "ok": r.fetch.outcome in ("ok", "not_modified"),
              "fresh": r.fetch.outcome == "ok", "etag": r.fetch.validators.etag,
              "last_modified": r.fetch.validators.last_modified, "error": r.fetch.error,
              "changed": r.changed, "final_url": r.fetch.final_url,
              "name": r.watch_name} for r in records],
        )
        names = [r.watch_name for r in records]
        rows = await db.execute_fetchall(
            f"SELECT name, id FROM watches WHERE name IN ({','.join('?' * len(names))})",
            names,
        )
        return {name: watch_id for name, watch_id in rows}

    async def _insert_snapshots(
        self, db: aiosqlite.Connection, items: list[tuple[CheckRecord, int, _Packed]],
    ) -> dict[str, int]:
        """watch name -> new snapshot id."""
        if not items:
            return {}
        await db.executemany(
            "INSERT OR IGNORE INTO contents (hash, size, data) VALUES (?, ?, ?)",
            [content for _, _, packed in items for content in packed.contents],
        )
        rows = await db.execute_fetchall(
            "INSERT INTO snapshots (watch_id, taken_at, url, html_hash, blocks_hash, "
            "story_count) VALUES " + ",".join(["(?, ?, ?, ?, ?, ?)"] * len(items))
            + " RETURNING watch_id, id",
            [value for record, watch_id, packed in items
             for value in (watch_id, record.checked_at, record.url, packed.html_hash,
                           packed.blocks_hash, len(record.stories))],
        )
        by_watch: dict[int, int] = {watch_id: snapshot_id for watch_id, snapshot_id in rows}
        # An upsert even for stories the index already knows: the check that first saw
        # one may not have committed yet (checks run concurrently), and its row must
        # exist before snapshot_stories can point at it.
        await db.executemany(
            "INSERT INTO stories (id, simhash, exact, title, first_seen_at, first_watch_id, "
            "last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "simhash = excluded.simhash, exact = excluded.exact, "
            "title = COALESCE(excluded.title, stories.title), "
            "last_seen_at = excluded.last_seen_at",
            [(story.story_id, _to_signed(story.simhash), story.exact, story.title,
              record.checked_at, watch_id, record.checked_at)
             for record, watch_id, _ in items for story in record.stories],
        )
        await db.executemany(
            "INSERT INTO snapshot_stories (snapshot_id, position, story_id, title, exact, "
            "simhash, text_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(by_watch[watch_id], position, story.story_id, story.title, story.exact,
              _to_signed(story.simhash), text_hash)
             for record, watch_id, packed in items
             for position, (story, text_hash) in enumerate(
                 zip(record.stories, packed.story_hashes, strict=True))],
        )
        return {record.watch_name: by_watch[watch_id] for record, watch_id, _ in items}

    async def _insert_alerts(
        self, db: aiosqlite.Connection,
        groups: Iterable[tuple[int | None, Iterable[Alert], Iterable[tuple[str, str]]]],
    ) -> None:
        """(watch id, alerts, deliveries) of each check."""
        groups = list(groups)
        await db.executemany(
            "INSERT INTO alerts (alert_id, watch_id, created_at, event, line) "
            "VALUES (?, ?, ?, ?, ?)",
            [(alert.alert_id, watch_id, alert.ts, alert.event, render_alert(alert))
             for watch_id, alerts, _ in groups for alert in alerts],
        )
        await db.executemany(
            "INSERT INTO deliveries (alert_id, target, next_attempt_at) VALUES (?, ?, 0)",
            [delivery for _, _, deliveries in groups for delivery in deliveries],
        )

    async def _prune(self, db: aiosqlite.Connection, watch_ids: list[int], keep: int) -> None:
        """Keep the newest ``keep`` snapshots of each watch; drop contents nobody uses."""
        rows = await db.execute_fetchall(
            "SELECT id, html_hash, blocks_hash FROM (SELECT id, html_hash, blocks_hash, "
            "ROW_NUMBER() OVER (PARTITION BY watch_id ORDER BY id DESC) AS newer "
            f"FROM snapshots WHERE watch_id IN ({','.join('?' * len(watch_ids))})) "
            "WHERE newer > ?",
            (*watch_ids, keep),
        )
        if not rows:
            return
        ids = [row[0] for row in rows]
        hashes = {h for row in rows for h in row[1:]}
        marks = ",".join("?" * len(ids))
        story_rows = await db.execute_fetchall(
            f"SELECT text_hash FROM snapshot_stories WHERE snapshot_id IN ({marks})", ids
        )
        hashes.update(row[0] for row in story_rows)
        await db.execute(f"DELETE FROM snapshot_stories WHERE snapshot_id IN ({marks})", ids)
        await db.execute(
            f"UPDATE fetches SET snapshot_id = NULL WHERE snapshot_id IN ({marks})", ids
        )
        await db.execute(f"DELETE FROM snapshots WHERE id IN ({marks})", ids)
        await db.executemany(
            "DELETE FROM contents WHERE hash = ?1 "
            "AND NOT EXISTS (SELECT 1 FROM snapshots WHERE html_hash = ?1 OR blocks_hash = ?1) "
            "AND NOT EXISTS (SELECT 1 FROM snapshot_stories WHERE text_hash = ?1)",
            [(h,) for h in hashes],
        )

    async def mark_emitted(self, alert_ids: Sequence[str], when: str) -> None:
        if not alert_ids:
            return
        try:
            async with self._transaction() as db:
                await db.executemany(
                    # The first time it was written stands.
                    "UPDATE alerts SET emitted_at = ? WHERE alert_id = ? AND emitted_at IS NULL",
                    [(when, alert_id) for alert_id in alert_ids],
                )
        except sqlite3.Error as exc:
            raise _failure(f"cannot mark alerts as written: {exc}", self.path) from exc



@asynccontextmanager
async def open_store(path: str | os.PathLike[str]) -> AsyncIterator[Store]:
    """Open (creating and migrating as needed) the database at ``path``."""
    file = Path(path)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        if not file.exists():
            # Create it 0600 ourselves: snapshots may hold pages behind credentials.
            os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise _failure(f"cannot create the database: {exc.strerror}", file) from exc
    try:
        db = await aiosqlite.connect(file, isolation_level=None)
    except sqlite3.Error as exc:
        raise _failure(f"cannot open the database: {exc}", file) from exc
    try:
        try:
            await db.execute("PRAGMA busy_timeout = 10000")
            await enable_wal(db)
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await migrate(db, str(file))
        except sqlite3.Error as exc:
            raise _failure(f"cannot open the database: {exc}", file) from exc
        store = Store(db, str(file))
        yield store
        if store._writer is not None:
            await store._writer  # checks already handed to the store are stored
        if store._robots_pending:
            with contextlib.suppress(StoreError):  # a cache: never fail a run over it
                async with store._transaction():
                    pass  # the transaction writes what is pending
    finally:
        await db.close()
