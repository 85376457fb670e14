from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat

import pytest

from scraper.errors import StoreError
from scraper.models import Alert, FetchResult
from scraper.store import SCHEMA_VERSION, CheckRecord, StaleState, StoryRecord, open_store


def record(name: str = "w", html: str | None = "<p>x</p>", **kw) -> CheckRecord:
    kw.setdefault("fetch", FetchResult(url="https://e.org/", outcome="ok", status=200))
    return CheckRecord(
        watch_name=name, url="https://e.org/", interval=60, checked_at="2026-01-01T00:00:00Z",
        consecutive_failures=0, html=html,
        blocks_json=json.dumps([{"kind": "paragraph", "text": html, "position": 0}]).encode()
        if html else None,
        **kw,
    )


async def test_new_database_is_private_and_versioned(tmp_path):
    path = tmp_path / "sub" / "s.db"
    async with open_store(path) as store:
        assert await store.integrity_check() == "ok"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this program"):
        async with open_store(path):
            pass


async def test_unchanged_content_is_stored_once(tmp_path):
    async with open_store(tmp_path / "s.db") as store:
        await store.record_check(record(html="<p>same</p>"))
        await store.record_check(record("other", html="<p>same</p>"))
        rows = await store._db.execute_fetchall("SELECT COUNT(*) FROM contents")
        assert next(iter(rows))[0] == 2  # one html body, one blocks list: shared by both


async def test_failed_write_rolls_back_everything(tmp_path):
    alert = Alert("id1", "2026-01-01T00:00:00Z", "page.new", "w", "https://e.org/")
    async with open_store(tmp_path / "s.db") as store:
        await store.record_check(record(alerts=[alert]))
        state = await store.watch_state("w")
        # The same alert id again violates UNIQUE: the whole check must roll back.
        with pytest.raises(StoreError):
            await store.record_check(record(html="<p>second</p>", alerts=[alert],
                                            based_on=state.last_fetch_id))
        watch_id = await store.watch_id("w")
        assert watch_id is not None
        assert len(await store.snapshots(watch_id)) == 1
        assert len(await store.fetches(watch_id)) == 1
        assert await store.integrity_check() == "ok"


async def test_stories_round_trip_with_unsigned_simhash(tmp_path):
    big = (1 << 64) - 5
    story = StoryRecord("abc", "T", "e1", big, ("p1", "p2"))
    async with open_store(tmp_path / "s.db") as store:
        snap = await store.record_check(record(stories=[story], new_story_ids=["abc"]))
        assert snap is not None
        assert await store.snapshot_stories(snap) == [story]
        assert await store.known_stories() == [("abc", big, "e1", "w", "T")]


async def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the database"):
        async with open_store(blocker / "s.db"):
            pass


async def test_a_check_computed_from_stale_state_is_refused(tmp_path):
    # Another process stored a check meanwhile: storing ours would announce twice.
    async with open_store(tmp_path / "s.db") as store:
        await store.record_check(record())
        stale = await store.watch_state("w")
        await store.record_check(record(html="<p>other</p>", based_on=stale.last_fetch_id))
        with pytest.raises(StaleState):
            await store.record_check(record(html="<p>mine</p>", based_on=stale.last_fetch_id))
        watch_id = await store.watch_id("w")
        assert watch_id is not None
        assert len(await store.fetches(watch_id)) == 2


async def test_a_story_known_to_the_index_but_not_yet_stored(tmp_path):
    # Checks run concurrently: the check that first met a story may commit after one
    # that met it second. The second must store anyway, creating the story's row.
    story = StoryRecord("abc", "T", "e1", 5, ("p",))
    async with open_store(tmp_path / "s.db") as store:
        snap = await store.record_check(record("second", stories=[story], new_story_ids=[]))
        assert snap is not None
        assert [s.story_id for s in await store.snapshot_stories(snap)] == ["abc"]
        first = await store.record_check(record("first", stories=[story],
                                                new_story_ids=["abc"]))
        assert first is not None
        assert await store.known_stories() == [("abc", 5, "e1", "second", "T")]


async def test_a_cancelled_write_leaves_no_transaction_open(tmp_path):
    # aiosqlite runs a statement in its thread even when the awaiting task is cancelled:
    # a task cancelled at BEGIN or COMMIT must not leave the next write "within a
    # transaction".
    import asyncio

    async with open_store(tmp_path / "s.db") as store:
        for step in range(40):
            task = asyncio.create_task(store.mark_emitted(["x"], "now"))
            for _ in range(step % 8):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.record_check(record(f"w{step}"))  # must not fail
        assert await store.integrity_check() == "ok"


async def _counts(store, table: str) -> int:
    rows = await store._db.execute_fetchall(f"SELECT COUNT(*) FROM {table}")
    return next(iter(rows))[0]


async def test_concurrent_checks_are_committed_in_groups_with_their_own_results(tmp_path):
    import asyncio

    async with open_store(tmp_path / "s.db") as store:
        statements: list[str] = []
        await store._db.set_trace_callback(statements.append)
        snaps = await asyncio.gather(*(
            store.record_check(record(f"w{i}", html=f"<p>page {i}</p>" if i % 2 else None))
            for i in range(40)))
        await store._db.set_trace_callback(None)
        # Odd watches stored a snapshot, even ones only a fetch; every id is its own.
        assert all(s is None for s in snaps[::2])
        assert len(set(snaps[1::2])) == 20 and None not in snaps[1::2]
        for i in (1, 7, 39):
            watch_id = await store.watch_id(f"w{i}")
            assert [s.id for s in await store.snapshots(watch_id)] == [snaps[i]]
        assert await _counts(store, "fetches") == 40
        # One transaction for checks that arrived together, not one each.
        assert 1 <= statements.count("BEGIN IMMEDIATE") < 5


async def test_a_stale_or_broken_check_in_a_group_fails_alone(tmp_path):
    import asyncio

    alert = Alert("dup", "2026-01-01T00:00:00Z", "page.new", "a", "https://e.org/")
    async with open_store(tmp_path / "s.db") as store:
        await store.record_check(record("a", alerts=[alert]))
        await store.record_check(record("b"))
        a_state = await store.watch_state("a")
        results = await asyncio.gather(
            store.record_check(record("b", html="<p>b2</p>", based_on=None)),  # stale
            store.record_check(record("a", html="<p>a2</p>", alerts=[alert],  # dup alert
                                      based_on=a_state.last_fetch_id)),
            *(store.record_check(record(f"new{i}")) for i in range(5)),
            return_exceptions=True,
        )
        assert isinstance(results[0], StaleState)
        assert isinstance(results[1], StoreError) and "'a'" in str(results[1])
        assert all(isinstance(r, int) for r in results[2:])
        assert await _counts(store, "fetches") == 2 + 5
        assert await store.integrity_check() == "ok"


async def test_a_check_cancelled_before_its_group_starts_is_not_stored(tmp_path):
    import asyncio

    async with open_store(tmp_path / "s.db") as store:
        first = asyncio.create_task(store.record_check(record("first")))
        await asyncio.sleep(0)  # the first group is being written
        waiting = asyncio.create_task(store.record_check(record("waiting")))
        await asyncio.sleep(0)
        waiting.cancel()
        assert await first is not None
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await store.record_check(record("after"))
        assert await store.watch_id("waiting") is None
        assert await store.watch_id("after") is not None


async def test_concurrent_state_reads_share_one_query(tmp_path):
    import asyncio

    async with open_store(tmp_path / "s.db") as store:
        for name in ("a", "b"):
            await store.record_check(record(name, html=f"<p>{name}</p>"))
        await store.save("https://e.org", 1.0, "User-agent: *")
        await store.record_check(record("c"))  # its transaction stores the robots.txt
        statements: list[str] = []
        await store._db.set_trace_callback(statements.append)
        states = await asyncio.gather(*(store.watch_state(n) for n in ("a", "b", "a", "zz")))
        robots = await asyncio.gather(store.load("https://e.org"), store.load("https://x.org"))
        await store._db.set_trace_callback(None)
        assert [s.watch_id is not None for s in states] == [True, True, True, False]
        assert states[0] == states[2] and states[0].latest != states[1].latest
        assert states[0].latest is not None and states[0].latest.html_size == len("<p>a</p>")
        assert robots == [(1.0, "User-agent: *"), None]
        assert len(statements) == 2  # one query for the four states, one for both origins


async def test_a_failed_shared_read_fails_every_caller(tmp_path):
    import asyncio

    async with open_store(tmp_path / "s.db") as store:
        await store._db.execute("DROP TABLE robots")
        results = await asyncio.gather(store.load("https://e.org"), store.load("https://f.org"),
                                       return_exceptions=True)
        assert all(isinstance(r, sqlite3.OperationalError) for r in results)
        assert (await store.watch_state("w")).watch_id is None  # the store still answers


async def test_a_held_change_is_released_once(tmp_path):
    # A daemon and a --once run may both find the same held change: the second release
    # must store nothing, as a stale check does.
    first = Alert("a1", "2026-01-01T00:00:00Z", "story.changed", "w", "https://e.org/")
    second = Alert("a2", "2026-01-01T00:00:01Z", "story.changed", "w", "https://e.org/")
    async with open_store(tmp_path / "s.db") as store:
        baseline = await store.record_check(record(html="<p>one</p>"))
        state = await store.watch_state("w")
        held = await store.record_check(record(html="<p>two</p>", announced=False,
                                               based_on=state.last_fetch_id))
        assert baseline is not None and held is not None
        assert await store.record_release("w", baseline, held, [first]) is True
        assert await store.record_release("w", baseline, held, [second]) is False
        assert [alert_id for alert_id, _ in await store.pending_alerts()] == ["a1"]
        watch_id = await store.watch_id("w")
        assert watch_id is not None and await store.held_change(watch_id) is None
