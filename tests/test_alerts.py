"""AlertLog: whole lines, size rotation that keeps N backups and loses nothing, reopening
after external rotation, and ids_in_tail across a rotation."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from scraper.alerts import AlertLog, make_alert, render_alert
from scraper.errors import AlertLogError
from tests.conftest import REPO


def line(n: int, pad: int = 60) -> str:
    return json.dumps({"ts": "2026-11-26T06:00:00.000Z", "event": "page.changed",
                       "alert_id": f"{n:032x}", "n": n, "pad": "x" * pad})


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def all_lines(log: Path, backups: int) -> list[str]:
    """Oldest first: .N ... .1, then the log."""
    files = [log.with_name(f"{log.name}.{n}") for n in range(backups, 0, -1)] + [log]
    return [text for f in files if f.exists() for text in lines_of(f)]


def test_no_rotation_by_default(tmp_path):
    log = AlertLog(tmp_path / "alerts.jsonl")
    assert (log.max_size, log.backups) == (0, 5)
    log.write_lines(line(n, pad=1000) for n in range(50))
    log.close()
    assert len(lines_of(tmp_path / "alerts.jsonl")) == 50
    # Beside it only its lock file, which every writer takes (and nothing rotates).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.jsonl", "alerts.jsonl.lock"]


def test_size_rotation_loses_no_line(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, max_size=1000, backups=100)
    written = [line(n) for n in range(60)]
    for text in written[:30]:
        log.write_lines([text])  # one at a time, as alerts come
    log.write_lines(written[30:])  # and a batch
    log.close()
    assert all_lines(path, 100) == written  # every line, once, in order
    rotated = sorted(tmp_path.glob("alerts.jsonl.[0-9]*"))
    assert len(rotated) >= 5
    for file in [*rotated, path]:
        assert file.stat().st_size <= 1000
        assert file.read_bytes().endswith(b"\n")
        for text in lines_of(file):
            json.loads(text)  # whole lines only


def test_size_rotation_keeps_n_backups(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, max_size=500, backups=3)
    written = [line(n) for n in range(40)]
    for text in written:
        log.write_lines([text])
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".lock")
    assert names == ["alerts.jsonl", "alerts.jsonl.1", "alerts.jsonl.2", "alerts.jsonl.3"]
    kept = all_lines(path, 3)
    # The oldest files were dropped whole: what is kept is the newest run of lines.
    assert kept == written[-len(kept):]
    per_file = 500 // (len(written[0]) + 1)
    for n in (1, 2, 3):  # full files: as many lines as fit
        assert len(lines_of(path.with_name(f"alerts.jsonl.{n}"))) == per_file


def test_oversized_line_is_written_whole_in_a_file_of_its_own(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, max_size=300, backups=5)
    log.write_lines([line(1), line(2, pad=2000), line(3)])
    log.close()
    assert lines_of(path.with_name("alerts.jsonl.1")) == [line(2, pad=2000)]
    assert all_lines(path, 5) == [line(1), line(2, pad=2000), line(3)]


WRITER = """
import json, sys
from scraper.alerts import AlertLog
log = AlertLog(sys.argv[1], max_size=300, backups=2000)
for n in range(300):
    log.write_lines([json.dumps({"writer": sys.argv[2], "n": n, "pad": "y" * 20})])
log.close()
"""


@pytest.mark.slow
def test_processes_rotating_one_log_lose_nothing(tmp_path):
    # A daemon and a --once run may share a log: with several lines a file, they race
    # to rotate it hundreds of times; a backup pushed off by the other would lose lines.
    path = tmp_path / "alerts.jsonl"
    names = ("a", "b", "c", "d")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], cwd=REPO)
             for name in names]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    seen = [json.loads(text) for text in all_lines(path, 2000)]
    for name in names:
        mine = [entry["n"] for entry in seen if entry["writer"] == name]
        assert mine == list(range(300))  # each line once, in each writer's order
    assert len(seen) == 1200


def test_reopens_after_external_rotation(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path)
    log.write_lines([line(1)])
    os.rename(path, tmp_path / "alerts.jsonl.1")  # what logrotate does
    log.write_lines([line(2)])
    log.close()
    assert lines_of(tmp_path / "alerts.jsonl.1") == [line(1)]
    assert lines_of(path) == [line(2)]


def test_ids_in_tail_looks_in_every_rotated_file_within_the_budget(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, max_size=400, backups=5)
    alerts = [make_alert("page.new", watch="w", url="https://e.org/", title="t" * 100)
              for _ in range(4)]
    log.write(alerts)  # each ~250 bytes: one a file, so one batch spans three rotations
    log.close()
    assert [render_alert(a) for a in alerts] == all_lines(path, 5)
    assert path.with_name("alerts.jsonl.3").exists()
    ids = {a.alert_id for a in alerts}
    # A crash after the batch: its lines are in .3, .2, .1 and the log, all found.
    assert AlertLog(path, max_size=400, backups=5).ids_in_tail(ids) == ids
    # The byte budget covers the current file first, then .1, .2 ...
    current = path.stat().st_size
    one = path.with_name("alerts.jsonl.1").stat().st_size
    assert log.ids_in_tail(ids, tail_bytes=current) == {alerts[3].alert_id}
    assert log.ids_in_tail(ids, tail_bytes=current + one) == {alerts[3].alert_id,
                                                              alerts[2].alert_id}


def test_after_settle_only_what_came_since_is_read(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path)
    before, after = line(1), line(2)
    log.write_lines([before])
    log.settle()  # what a step does once its lines are marked written
    AlertLog(path).write_lines([after])  # another process, which died before marking
    ids = {f"{1:032x}", f"{2:032x}"}
    assert log.ids_in_tail(ids) == {f"{2:032x}"}
    assert AlertLog(path).ids_in_tail(ids) == ids  # a fresh one reads the whole tail
    os.rename(path, tmp_path / "alerts.jsonl.1")  # rotated: the settled place is gone
    assert log.ids_in_tail(ids) == ids


def test_a_log_that_ends_mid_line_gets_a_newline_first(tmp_path):
    path = tmp_path / "alerts.jsonl"
    cut = line(1)[:40]
    path.write_text(line(0) + "\n" + cut, encoding="utf-8")  # another writer's crash
    log = AlertLog(path)
    log.write_lines([line(2), line(3)])
    log.close()
    assert lines_of(path) == [line(0), cut, line(2), line(3)]
    # The reader reports the cut line and reads every other.
    from scraper.reader import LogLine, Malformed, read_log
    entries = list(read_log(path))
    assert [e.alert["n"] for e in entries if isinstance(e, LogLine)] == [0, 2, 3]
    assert [(e.lineno, e.reason) for e in entries if isinstance(e, Malformed)] == [
        (2, "not JSON")]


def test_a_rotated_in_file_that_ends_mid_line_gets_a_newline_too(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, max_size=10_000)
    log.write_lines([line(1)])
    os.rename(path, tmp_path / "alerts.jsonl.1")  # rotated by hand, and a new file
    path.write_text(line(2)[:30], encoding="utf-8")  # ... cut by a crash
    log.write_lines([line(3)])
    log.close()
    assert lines_of(path) == [line(2)[:30], line(3)]


def test_lines_that_would_drive_a_terminal_are_escaped_and_stay_json():
    title = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202egnp.exe\x7f\u2028end"
    alert = make_alert("page.new", watch="w", url="https://e.org/", title=title)
    rendered = render_alert(alert)
    assert json.loads(rendered)["title"] == title  # the same value
    assert not any(c in rendered for c in "\x1b\x07\x9b\u202e\x7f\u2028")
    assert "\\u009b" in rendered and "\\u202e" in rendered and "\\u001b" in rendered


def test_a_full_disk_leaves_no_half_line(tmp_path, monkeypatch):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path)
    log.write_lines([line(1)])
    real_write = os.write

    def disk_fills(fd: int, data: bytes) -> int:
        if len(data) > 10:  # half the line goes in, then the disk is full
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_fills)
    with pytest.raises(AlertLogError, match="No space left"):
        log.write_lines([line(2)])
    monkeypatch.setattr(os, "write", real_write)
    assert lines_of(path) == [line(1)]  # the half line was taken back
    log.write_lines([line(3)])  # space again: the next line starts on a line of its own
    log.close()
    assert lines_of(path) == [line(1), line(3)]


# --- the step under the lock (pipeline.deliver_pending) ---------------------------------


async def _store_unwritten(store, alerts) -> None:
    """Alerts stored and not yet written, as a check leaves them."""
    async with store._transaction() as db:
        await store._insert_alerts(db, [(None, alerts, [])])


async def test_a_step_waits_for_another_process_and_skips_what_it_wrote(tmp_path):
    from scraper.pipeline import deliver_pending
    from scraper.store import open_store

    path = tmp_path / "alerts.jsonl"
    alert = make_alert("page.new", watch="w", url="https://e.org/", title="t")
    async with open_store(tmp_path / "db.sqlite") as store:
        await _store_unwritten(store, [alert])
        other = AlertLog(path)  # another process: its own descriptor of the lock file
        lock = other.wait_lock()
        step = asyncio.create_task(deliver_pending(store, AlertLog(path)))
        for _ in range(20):
            await asyncio.sleep(0)  # the loop runs on while the step waits
        assert not step.done()
        with other.holding(lock):  # ... which writes and marks the alert meanwhile
            other.write([alert])
            await store.mark_emitted([alert.alert_id], "2026-11-26T06:00:00.000Z")
        assert await step == 0  # read again inside the lock: nothing left to write
    assert lines_of(path) == [render_alert(alert)]


async def test_a_step_cancelled_while_waiting_gives_the_lock_back(tmp_path, monkeypatch):
    from scraper.pipeline import deliver_pending
    from scraper.store import open_store

    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path)
    waiting = threading.Event()
    real_wait = log.wait_lock

    def wait_lock() -> int:
        waiting.set()
        return real_wait()

    monkeypatch.setattr(log, "wait_lock", wait_lock)
    async with open_store(tmp_path / "db.sqlite") as store:
        await _store_unwritten(store, [make_alert("page.new", watch="w", url="u")])
        other = AlertLog(path)
        lock = other.wait_lock()
        step = asyncio.create_task(deliver_pending(store, log))
        await asyncio.to_thread(waiting.wait, 10)
        step.cancel()
        with pytest.raises(asyncio.CancelledError):
            await step
        os.close(lock)  # the other process lets go: the waiting thread takes it ...
        for _ in range(500):  # ... and gives it straight back (bounded only for a hang)
            if (free := AlertLog(path).try_lock()) is not None:
                break
            await asyncio.sleep(0.01)
        assert free is not None
        os.close(free)
        assert await deliver_pending(store, AlertLog(path)) == 1  # the alert still waits
