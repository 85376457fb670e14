"""Process faults: kill -9 mid-run, two writers on one database, a full or read-only disk.

Every case runs the real ``scrape`` command against a local newsroom and then checks the
database (integrity, no half-written snapshot) and the alert log (each alert_id once, each
change announced exactly once, in a chain of versions with no gap and no repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, read_alerts
from tests.faults.conftest import (
    Newsroom,
    check_alert_log,
    check_change_chains,
    check_database,
    has_command,
    log_events,
    run_scrape,
    scrape_command,
    wait_for,
)

KILL_SEED = 20261126  # the kill points of the 50 runs; change it to explore others


def _popen(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*scrape_command(), *args, "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


# The real CLI, with the first check that stores alerts held between its commit and its
# announcement: it writes "stored WATCH" to the descriptor HOLD_FD, then waits for a line
# on stdin. The rest of the process runs on. So a test can make another process start
# exactly then, with no sleep: the interleaving behind the double announcements of
# issue 12.
HOLD_AFTER_STORE = """
import asyncio, os, sys
import scraper.pipeline as pipeline
check_watch = pipeline.check_watch
held = False
async def holding(*args, **kwargs):
    global held
    result = await check_watch(*args, **kwargs)
    if result.alerts and not held:
        held = True
        os.write(int(os.environ["HOLD_FD"]), f"stored {result.watch}\\n".encode())
        await asyncio.to_thread(sys.stdin.readline)
    return result
pipeline.check_watch = holding  # before scraper.daemon imports it
from scraper.cli import main
main(sys.argv[1:], prog_name="scrape")
"""


class Held:
    """A ``scrape`` process held after its first stored check (HOLD_AFTER_STORE)."""

    def __init__(self, config: Path, *args: str) -> None:
        said, tell = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", HOLD_AFTER_STORE, *args, "--config", str(config)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, cwd=REPO, pass_fds=(tell,),
                env={**os.environ, "HOLD_FD": str(tell)})
        finally:
            os.close(tell)
        with os.fdopen(said, "r") as messages:
            line = messages.readline()  # blocks until it is held, or has ended
        if not line.startswith("stored "):
            _, stderr = self.proc.communicate(timeout=30)
            raise AssertionError(f"never held: {line!r} {stderr[-3000:]}")
        self.watch = line.split()[1]

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60) -> str:
        """Release it if not yet, wait for it to end; its stderr."""
        with contextlib.suppress(OSError):  # BrokenPipeError: it has ended already
            self.release()
        _, stderr = self.proc.communicate(timeout=timeout)
        return stderr


def _logged(log: Path, watch: str, event: str) -> list[dict[str, object]]:
    return [a for a in read_alerts(log) if a["watch"] == watch and a["event"] == event]


def _check_everything(tmp: Path, newsroom: Newsroom, log: Path | None = None) -> None:
    db = check_database(tmp / "scraper.db")
    try:
        alerts = check_alert_log(log or tmp / "alerts.jsonl", db)
        check_change_chains(alerts, newsroom, db)
    finally:
        db.close()


@pytest.mark.slow
def test_kill_9_at_random_points_then_a_clean_run(raw_server, write_config, tmp_path):
    newsroom = Newsroom(raw_server, 30, delay=0.05, seed=8)
    config = write_config(newsroom.watches())
    rng = random.Random(KILL_SEED)  # seeded: a failure replays with the same kill points
    first = run_scrape("--once", "--config", str(config))
    assert first.returncode == 0, first.stderr
    # Aim the kills inside a run like the ones killed below: some pages changed.
    for i in rng.sample(range(newsroom.count), 10):
        newsroom.bump(i)
    started = time.perf_counter()
    second = run_scrape("--once", "--config", str(config))
    length = time.perf_counter() - started
    assert second.returncode == 0, second.stderr
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + 120
    for _ in range(50):
        for i in rng.sample(range(newsroom.count), 10):
            newsroom.bump(i)
        process = _popen(config, "--once")
        time.sleep(rng.uniform(0.05, length * 1.1))
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=30)
        outcomes["killed" if process.returncode == -signal.SIGKILL else "finished"] += 1
        assert "Traceback" not in stderr
        assert time.monotonic() < deadline, "the kill loop is too slow for CI"
    assert outcomes["killed"] >= 25, outcomes  # most runs were really cut short

    clean = run_scrape("--once", "--config", str(config))
    assert clean.returncode == 0, clean.stderr
    _check_everything(tmp_path, newsroom)
    # And nothing is left to announce: a second clean run says every page is unchanged.
    lines = (tmp_path / "alerts.jsonl").read_bytes()
    again = run_scrape("--once", "--config", str(config))
    assert again.returncode == 0
    assert f"0 new, 0 changed, {newsroom.count} unchanged, 0 failed" in again.stdout
    assert (tmp_path / "alerts.jsonl").read_bytes() == lines


def _two_at_once(config: Path, newsroom: Newsroom, rounds: int) -> None:
    """Rounds of: edit every page, start two ``--once`` runs together, wait for both."""
    for _ in range(rounds):
        for i in range(newsroom.count):
            newsroom.bump(i)
        runs = [_popen(config, "--once") for _ in range(2)]
        for run in runs:
            _, stderr = run.communicate(timeout=60)
            assert "locked" not in stderr, stderr
            assert "Traceback" not in stderr, stderr[-3000:]
            assert run.returncode == 0, stderr


@pytest.mark.slow
def test_two_once_runs_at_the_same_time_share_the_database(raw_server, write_config,
                                                           tmp_path):
    # Each fetch takes 0.3-0.6 s, so the two runs check every page at the same moment.
    newsroom = Newsroom(raw_server, 12, delay=0.6)
    config = write_config(newsroom.watches())
    assert run_scrape("--once", "--config", str(config)).returncode == 0
    _two_at_once(config, newsroom, rounds=3)
    db = check_database(tmp_path / "scraper.db")
    try:
        check_alert_log(tmp_path / "alerts.jsonl", db)  # whole lines, each alert_id once
    finally:
        db.close()


@pytest.mark.slow
def test_two_once_runs_at_the_same_time_announce_each_change_once(raw_server, write_config,
                                                                  tmp_path):
    newsroom = Newsroom(raw_server, 12, delay=0.6)
    config = write_config(newsroom.watches())
    assert run_scrape("--once", "--config", str(config)).returncode == 0
    _two_at_once(config, newsroom, rounds=2)
    _check_everything(tmp_path, newsroom)


async def test_two_openers_of_a_new_database(tmp_path):
    from scraper.store import open_store

    async def open_and_check(path: Path) -> str:
        async with open_store(path) as store:
            return await store.integrity_check()

    # Three connections, as three processes would have (a daemon and --once runs started
    # together), on ten new databases: the race is lost at least once, every time.
    for attempt in range(10):
        path = tmp_path / f"new-{attempt}.db"
        assert await asyncio.gather(*(open_and_check(path) for _ in range(3))) == ["ok"] * 3


def test_two_once_runs_one_held_between_commit_and_announcement(raw_server, write_config,
                                                               tmp_path):
    # The race of issue 12, made to happen every time: run A has stored a change and not
    # yet written its alert when run B starts, whose start-up delivery takes every
    # unwritten alert. Whoever writes it, it is written once.
    newsroom = Newsroom(raw_server, 6)
    config = write_config(newsroom.watches())
    log = tmp_path / "alerts.jsonl"
    assert run_scrape("--once", "--config", str(config)).returncode == 0
    newsroom.bump(0)  # one change: only its check has alerts to hold
    held = Held(config, "--once")
    assert held.watch == newsroom.token(0)
    other = run_scrape("--once", "--config", str(config), timeout=60)
    assert other.returncode == 0, other.stderr
    assert "0 new, 0 changed, 6 unchanged" in other.stdout  # A stored the change first
    # B wrote A's alert (its start-up delivery), while A still holds it.
    assert len(_logged(log, newsroom.token(0), "story.changed")) == 1
    stderr = held.finish()
    assert held.proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    _check_everything(tmp_path, newsroom)  # each alert_id once, each change once


def test_two_once_runs_each_held_in_turn_with_many_changes(raw_server, write_config,
                                                          tmp_path):
    newsroom = Newsroom(raw_server, 12, delay=0.05, seed=3)
    config = write_config(newsroom.watches())
    assert run_scrape("--once", "--config", str(config)).returncode == 0
    for _ in range(3):
        for i in range(newsroom.count):
            newsroom.bump(i)
        held = Held(config, "--once")  # its other checks run on and announce theirs
        other = run_scrape("--once", "--config", str(config), timeout=60)
        assert other.returncode == 0, other.stderr
        stderr = held.finish()
        for code, text in ((other.returncode, other.stderr), (held.proc.returncode, stderr)):
            assert code == 0, text[-3000:]
            assert "locked" not in text and "Traceback" not in text, text[-3000:]
    _check_everything(tmp_path, newsroom)


@pytest.mark.slow
def test_daemon_and_once_on_one_database(raw_server, write_config, tmp_path):
    if not has_command("run"):
        pytest.skip("`scrape run` (the daemon) does not exist yet; "
                    "test_two_once_runs_at_the_same_time_* cover two writers meanwhile")
    newsroom = Newsroom(raw_server, 20, delay=0.05, seed=10)
    # One host serves every page here: lift the politeness limits meant for real sites.
    config = write_config(newsroom.watches(interval="1s"), jitter=0, per_host=16,
                          host_delay=0, shutdown_timeout="5s")
    log = tmp_path / "alerts.jsonl"
    # Created first: two openers of a new database is its own test above.
    assert run_scrape("--once", "--config", str(config)).returncode == 0
    # The race of issue 12, every time: the daemon holds a stored, unwritten change
    # while a --once run starts (and takes every unwritten alert at its start).
    newsroom.bump(0)
    daemon = Held(config, "run")
    try:
        assert daemon.watch == newsroom.token(0)
        once = run_scrape("--once", "--config", str(config), timeout=60)
        assert once.returncode == 0, once.stderr
        assert len(_logged(log, newsroom.token(0), "story.changed")) == 1
        daemon.release()
        # Then both at work on changing pages, in whatever order the machine gives.
        rng = random.Random(11)
        for _ in range(4):
            for i in rng.sample(range(newsroom.count), 8):
                newsroom.bump(i)
            once = run_scrape("--once", "--config", str(config), timeout=60)
            assert "locked" not in once.stderr, once.stderr
            assert "Traceback" not in once.stderr, once.stderr[-3000:]
            assert once.returncode == 0, once.stderr
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        stderr = daemon.finish(timeout=30)
    assert daemon.proc.returncode == 0, stderr[-3000:]
    assert "locked" not in stderr and "Traceback" not in stderr, stderr[-3000:]
    # A last --once announces what the daemon's last checks did not see; then every
    # change is announced once, by one of the two.
    final = run_scrape("--once", "--config", str(config), timeout=60)
    assert final.returncode == 0, final.stderr
    _check_everything(tmp_path, newsroom)


# --- a full or read-only disk --------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs (we run as root here); skipped where mounting is not allowed."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs",
                              str(mount_point)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path, leave: int = 0) -> Path:
    """Write a file until the disk says ENOSPC, then give back ``leave`` bytes; return it
    (delete it to free the space)."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:  # unbuffered: close has nothing to flush
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
        handle.truncate(max(0, handle.tell() - leave))
    return filler


def _snapshot_count(path: Path) -> int:
    db = check_database(path)
    try:
        return db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
    finally:
        db.close()


def _message(result: subprocess.CompletedProcess[str], tmp: Path) -> str:
    """stderr without the test's paths (which hold words like "full" themselves)."""
    return result.stderr.replace(str(tmp), "<tmp>").lower()


def _full_disk_run(raw_server, write_config, small_disk: Path, tmp_path: Path, *,
                   leave: int, where: str) -> tuple[subprocess.CompletedProcess[str],
                                                    Newsroom, Path, bytes]:
    """A first run with room, then a run of changed, larger pages on a full disk; the
    space is given back afterwards. ``where``: "database" or "alert_log" on the small disk."""
    newsroom = Newsroom(raw_server, 6, padding=40_000)
    database = small_disk / "scraper.db" if where == "database" else tmp_path / "scraper.db"
    log = small_disk / "alerts.jsonl" if where == "alert_log" else tmp_path / "alerts.jsonl"
    config = write_config(newsroom.watches(), database=str(database), alert_log=str(log))
    first = run_scrape("--once", "--config", str(config))
    assert first.returncode == 0, first.stderr
    before = log.read_bytes()
    filler = _fill(small_disk, leave)
    for i in range(newsroom.count):
        newsroom.bump(i)
    full = run_scrape("--once", "--config", str(config))
    filler.unlink()
    # Nothing stored before is lost, whatever the failing run managed.
    assert log.read_bytes().startswith(before)
    assert _snapshot_count(database) >= newsroom.count
    # With space again, the changes the full disk held back are announced, once each.
    again = run_scrape("--once", "--config", str(config))
    assert again.returncode == 0, again.stderr
    return full, newsroom, log, before


@pytest.mark.parametrize(("leave", "words"), [(0, ("full", "no space")), (64_000, ("full",))],
                         ids=["no-room-at-all", "full-mid-run"])
def test_full_disk_under_the_database_loses_nothing_and_says_so(
        raw_server, write_config, small_disk, tmp_path, leave, words):
    full, newsroom, log, _ = _full_disk_run(raw_server, write_config, small_disk, tmp_path,
                                            leave=leave, where="database")
    assert full.returncode == 1
    _check_everything(small_disk, newsroom, log)
    message = _message(full, tmp_path)
    assert "traceback" not in message, message[-3000:]
    assert any(word in message for word in words), message


def test_full_disk_under_the_alert_log_leaves_only_whole_lines_and_says_so(
        raw_server, write_config, small_disk, tmp_path):
    full, newsroom, log, _ = _full_disk_run(raw_server, write_config, small_disk, tmp_path,
                                            leave=0, where="alert_log")
    _check_everything(tmp_path, newsroom, log)
    assert full.returncode == 1
    message = _message(full, tmp_path)
    assert "traceback" not in message, message[-3000:]
    assert "no space" in message, message


def _read_only_run(raw_server, write_config, small_disk: Path, tmp_path: Path
                   ) -> subprocess.CompletedProcess[str]:
    newsroom = Newsroom(raw_server, 4)
    database = small_disk / "scraper.db"
    config = write_config(newsroom.watches(), database=str(database))
    log = tmp_path / "alerts.jsonl"
    assert run_scrape("--once", "--config", str(config)).returncode == 0
    before = log.read_bytes()
    # Root ignores permission bits, so only a read-only mount really refuses writes.
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        assert _is_read_only(small_disk)
        for i in range(newsroom.count):
            newsroom.bump(i)
        readonly = run_scrape("--once", "--config", str(config))
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert log.read_bytes() == before
    assert _snapshot_count(database) == newsroom.count
    again = run_scrape("--once", "--config", str(config))
    assert again.returncode == 0, again.stderr
    _check_everything(small_disk, newsroom, log)
    return readonly


def test_read_only_disk_is_a_clear_error_and_loses_nothing(raw_server, write_config,
                                                           small_disk, tmp_path):
    readonly = _read_only_run(raw_server, write_config, small_disk, tmp_path)
    assert readonly.returncode == 1, readonly.stdout + readonly.stderr
    assert "Traceback" not in readonly.stderr, readonly.stderr[-3000:]
    assert readonly.stderr.strip().startswith(f"error: {small_disk / 'scraper.db'}")
    assert "read-only" in _message(readonly, tmp_path), readonly.stderr


def _is_read_only(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)






def _unwritten(database: Path) -> int:
    db = sqlite3.connect(database)
    try:
        return db.execute("SELECT COUNT(*) FROM alerts WHERE emitted_at IS NULL").fetchone()[0]
    finally:
        db.close()


def test_daemon_retries_a_full_alert_log_and_keeps_the_order(raw_server, write_config,
                                                             small_disk, tmp_path):
    if not has_command("run"):
        pytest.skip("`scrape run` (the daemon) does not exist yet")
    newsroom = Newsroom(raw_server, 16)
    log = small_disk / "alerts.jsonl"
    config = write_config(newsroom.watches(interval="1s"), alert_log=str(log), jitter=0,
                          per_host=16, host_delay=0, shutdown_timeout="5s")
    assert run_scrape("--once", "--config", str(config)).returncode == 0
    before = log.read_bytes()
    filler = _fill(small_disk)
    for i in range(newsroom.count):
        newsroom.bump(i)  # 16 changes: more than the slack of the log's last page
    stderr = tmp_path / "daemon.log"
    with stderr.open("w") as errors:
        daemon = subprocess.Popen([*scrape_command(), "run", "--config", str(config)],
                                  stdout=subprocess.DEVNULL, stderr=errors, text=True)
    try:
        wait_for(lambda: log_events(stderr, "alert_log.unwritable"), "alert_log.unwritable")
        [first, *_] = log_events(stderr, "alert_log.unwritable")
        assert "No space left on device" in str(first["error"]), first
        assert first["retry_in_s"] == 1.0
        filler.unlink()  # room again: the running daemon writes what it held back
        wait_for(lambda: log_events(stderr, "alert_log.writable"), "alert_log.writable")
        wait_for(lambda: _unwritten(tmp_path / "scraper.db") == 0, "every alert written")
        assert daemon.poll() is None  # no restart needed
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    assert daemon.returncode == 0, stderr.read_text()[-3000:]
    assert "Traceback" not in stderr.read_text()
    assert log.read_bytes().startswith(before)
    db = check_database(tmp_path / "scraper.db")
    try:
        alerts = check_alert_log(log, db)
        check_change_chains(alerts, newsroom, db)
        # In the order they were stored, however the full disk cut the batches.
        stored = [row[0] for row in db.execute("SELECT alert_id FROM alerts ORDER BY seq")]
        assert [a["alert_id"] for a in alerts] == stored
    finally:
        db.close()


# A run that stored its alerts and wrote none (as if killed between the two steps),
# then one killed (SIGKILL) right after its start-up step appended them all, before it
# marked them written.
SKIP_WRITING = """
import sys
import scraper.pipeline as pipeline
async def skip(store, alert_log):
    return 0
pipeline.deliver_pending = skip
from scraper.cli import main
main(sys.argv[1:], prog_name="scrape")
"""
KILL_AT_MARK = """
import os, signal, sys
import scraper.store as store
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
store.Store.mark_emitted = die
from scraper.cli import main
main(sys.argv[1:], prog_name="scrape")
"""


def test_kill_9_after_a_batch_that_spanned_several_rotations(raw_server, write_config,
                                                             tmp_path):
    newsroom = Newsroom(raw_server, 8)
    config = write_config(newsroom.watches(), alert_log_max_size="1KB",
                          alert_log_backups=20)
    log = tmp_path / "alerts.jsonl"

    def scrape(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", script, "--once", "--config",
                               str(config)], capture_output=True, text=True, cwd=REPO,
                              timeout=60, check=False)

    stored = scrape(SKIP_WRITING)
    assert stored.returncode == 0, stored.stderr
    assert _unwritten(tmp_path / "scraper.db") == newsroom.count
    killed = scrape(KILL_AT_MARK)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _unwritten(tmp_path / "scraper.db") == newsroom.count  # appended, not marked
    # One batch of 8 page.new lines (each over 500 bytes) moved the log up several times.
    assert log.with_name("alerts.jsonl.3").exists()
    clean = run_scrape("--once", "--config", str(config))
    assert clean.returncode == 0, clean.stderr
    assert _unwritten(tmp_path / "scraper.db") == 0
    from scraper.reader import LogLine, read_log
    ids = [str(e.alert["alert_id"]) for e in read_log(log) if isinstance(e, LogLine)]
    assert len(ids) == len(set(ids)) == newsroom.count  # none written twice
