"""scraper.reader: the log's files, parsing, filters, --follow across rotation and
truncation, the human view and the word diff."""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest

from scraper.alerts import AlertLog, make_alert, render_alert
from scraper.reader import (
    CAUGHT_UP,
    AlertFilter,
    LogLine,
    Malformed,
    Unreadable,
    check_event_patterns,
    follow_log,
    format_alert,
    log_files,
    parse_line,
    parse_since,
    read_log,
    word_diff,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def ts(hours_ago: float) -> str:
    when = NOW - timedelta(hours=hours_ago)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_line(n: int, *, event: str = "story.changed", watch: str = "w",
               hours_ago: float = 0, **fields: object) -> str:
    fields.setdefault("title", f"Story {n}")
    alert = make_alert(event, watch=watch, url="https://example.org/", ts=ts(hours_ago),
                       **fields)
    return render_alert(alert)


def entry(raw: str) -> LogLine:
    parsed = parse_line(raw.encode(), "alerts.jsonl", 1)
    assert isinstance(parsed, LogLine)
    return parsed


# --- parsing ----------------------------------------------------------------------------


def test_parse_since_durations_and_dates():
    assert parse_since("2h", now=NOW) == NOW - timedelta(hours=2)
    assert parse_since("30m", now=NOW) == NOW - timedelta(minutes=30)
    assert parse_since("1d", now=NOW) == NOW - timedelta(days=1)
    assert parse_since("2026-11-26T08:00Z") == datetime(2026, 11, 26, 8, tzinfo=UTC)
    assert parse_since("2026-11-26T09:00+01:00") == datetime(2026, 11, 26, 8, tzinfo=UTC)
    # No zone: local time, as a person means it.
    local = datetime(2026, 11, 26).astimezone()
    assert parse_since("2026-11-26") == local.astimezone(UTC)
    with pytest.raises(ValueError, match="neither a duration"):
        parse_since("yesterday")


def test_event_patterns_must_match_a_known_event():
    assert check_event_patterns(["story.*", "page.new", "*.failed"]) == (
        "story.*", "page.new", "*.failed")
    with pytest.raises(ValueError, match=r"did you mean 'story\.changed'"):
        check_event_patterns(["story.chaged"])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"event": "page.new", "ts": "2026', "not JSON"),
        (b'["page.new"]', "not a JSON object"),
        (b'{"ts": "2026-11-26T06:00:00Z"}', "no event"),
        (b'{"event": "page.new", "ts": "last tuesday"}', "no valid ts"),
        (b'{"event": "page.new", "ts": "2026-11-26T06:00:00Z", "t": "\xff"}', "not UTF-8"),
    ],
)
def test_malformed_lines_say_why(raw, reason):
    parsed = parse_line(raw, "log", 7)
    assert parsed == Malformed("log", 7, reason)
    assert str(parsed).startswith("log:7: malformed line skipped")


def test_a_good_line_keeps_its_text_exactly():
    raw = alert_line(1, hours_ago=1)
    parsed = entry(raw + "\n")
    assert parsed.raw == raw
    assert parsed.ts == NOW - timedelta(hours=1)
    assert parse_line(b"   \n", "log", 2) is None  # blank lines are not alerts


# --- filters ----------------------------------------------------------------------------


def test_filter_since():
    selected = AlertFilter(since=NOW - timedelta(hours=2))
    assert selected.matches(entry(alert_line(1, hours_ago=1)))
    assert not selected.matches(entry(alert_line(2, hours_ago=3)))


def test_filter_watch_is_repeatable():
    selected = AlertFilter(watches=("a", "b"))
    assert selected.matches(entry(alert_line(1, watch="a")))
    assert selected.matches(entry(alert_line(2, watch="b")))
    assert not selected.matches(entry(alert_line(3, watch="c")))


def test_filter_event_names_and_families():
    changed = entry(alert_line(1, event="story.changed"))
    new_page = entry(alert_line(2, event="page.new"))
    failed = entry(alert_line(3, event="fetch.failed", error="HTTP 500"))
    assert AlertFilter(events=("story.changed",)).matches(changed)
    assert not AlertFilter(events=("story.changed",)).matches(new_page)
    family = AlertFilter(events=("story.*",))
    assert family.matches(changed) and not family.matches(new_page)
    both = AlertFilter(events=("page.new", "*.failed"))
    assert both.matches(new_page) and both.matches(failed) and not both.matches(changed)


def test_filter_story_by_id_prefix_and_in_page_new_lists():
    changed = entry(alert_line(1, story_id="3fa2b1c4d5e6f708"))
    other = entry(alert_line(2, story_id="aaaaaaaaaaaaaaaa"))
    first = entry(alert_line(3, event="page.new", blocks=3,
                             stories=[{"story_id": "3fa2b1c4d5e6f708", "title": "x"}]))
    selected = AlertFilter(story="3fa2b1c4")
    assert selected.matches(changed) and selected.matches(first)
    assert not selected.matches(other)


def test_filter_grep_title_diff_and_line_any_case():
    line = entry(alert_line(1, title="Harbour Bridge closes",
                            diff='--- before\n+++ after\n-old "quoted" text\n+new text'))
    assert AlertFilter(grep="harbour bridge").matches(line)  # title, any case
    assert AlertFilter(grep='OLD "QUOTED"').matches(line)  # decoded diff, not JSON escapes
    assert AlertFilter(grep="example.org").matches(line)  # anywhere in the line
    assert not AlertFilter(grep="ferry").matches(line)


def test_filters_combine():
    selected = AlertFilter(watches=("a",), events=("story.*",), grep="bridge")
    assert selected.matches(entry(alert_line(1, watch="a", title="Bridge")))
    assert not selected.matches(entry(alert_line(2, watch="b", title="Bridge")))
    assert not selected.matches(entry(alert_line(3, watch="a", title="Ferry")))


# --- files ------------------------------------------------------------------------------


def write(path: Path, lines: list[str], *, compress: bool = False) -> None:
    data = "".join(text + "\n" for text in lines).encode()
    path.write_bytes(gzip.compress(data) if compress else data)


def test_log_files_oldest_first(tmp_path):
    log = tmp_path / "alerts.jsonl"
    write(log, [])
    write(tmp_path / "alerts.jsonl.1", [])
    write(tmp_path / "alerts.jsonl.2.gz", [], compress=True)
    write(tmp_path / "alerts.jsonl.10.gz", [], compress=True)
    write(tmp_path / "alerts.jsonl.3", [])
    write(tmp_path / "alerts.jsonl.3.gz", [], compress=True)  # mid-compression
    (tmp_path / "alerts.jsonl.lock").touch()
    (tmp_path / "alerts.jsonl.bak").touch()
    (tmp_path / "other.jsonl.1").touch()
    names = [p.name for p in log_files(log)]
    assert names == ["alerts.jsonl.10.gz", "alerts.jsonl.3", "alerts.jsonl.2.gz",
                     "alerts.jsonl.1", "alerts.jsonl"]


def test_log_files_dateext(tmp_path):
    log = tmp_path / "alerts.jsonl"
    write(tmp_path / "alerts.jsonl-20261125.gz", [], compress=True)
    write(tmp_path / "alerts.jsonl-20261124", [])
    assert [p.name for p in log_files(log)] == ["alerts.jsonl-20261124",
                                                "alerts.jsonl-20261125.gz"]


def test_read_log_across_rotated_and_gzipped_files(tmp_path):
    log = tmp_path / "alerts.jsonl"
    lines = [alert_line(n) for n in range(6)]
    write(tmp_path / "alerts.jsonl.2.gz", lines[:2], compress=True)
    write(tmp_path / "alerts.jsonl.1", lines[2:4])
    write(log, lines[4:])
    assert [e.raw for e in read_log(log) if isinstance(e, LogLine)] == lines


def test_malformed_line_is_reported_with_its_number_and_skipped(tmp_path):
    log = tmp_path / "alerts.jsonl"
    good = [alert_line(n) for n in range(3)]
    log.write_text(f"{good[0]}\n{{half a line\n\n{good[1]}\n{good[2]}", encoding="utf-8")
    entries = list(read_log(log))
    assert entries[1] == Malformed(str(log), 2, "not JSON")
    assert [e.lineno for e in entries if isinstance(e, LogLine)] == [1, 4, 5]
    assert [e.raw for e in entries if isinstance(e, LogLine)] == good


def test_cut_gzip_file_is_unreadable_after_what_it_gave(tmp_path):
    log = tmp_path / "alerts.jsonl"
    data = gzip.compress("".join(alert_line(n) + "\n" for n in range(200)).encode())
    (tmp_path / "alerts.jsonl.1.gz").write_bytes(data[: len(data) // 2])
    write(log, [alert_line(999)])
    entries = list(read_log(log))
    unreadable = [e for e in entries if isinstance(e, Unreadable)]
    assert len(unreadable) == 1 and unreadable[0].path.endswith(".1.gz")
    assert isinstance(entries[-1], LogLine) and '"Story 999"' in entries[-1].raw


# --- follow -----------------------------------------------------------------------------


class Follower:
    """follow_log in a thread, collecting what it yields."""

    def __init__(self, path: Path) -> None:
        self.stop = threading.Event()
        self.seen: list[str] = []
        self.caught_up = threading.Event()
        self.errors: list[object] = []
        self.thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self.thread.start()

    def _run(self, path: Path) -> None:
        for item in follow_log(path, stop=self.stop, poll=0.01):
            if item is CAUGHT_UP:
                self.caught_up.set()
            elif isinstance(item, LogLine):
                self.seen.append(item.alert["title"])
            else:
                self.errors.append(item)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.seen)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


@pytest.fixture
def follower() -> Callable[[Path], Follower]:
    started: list[Follower] = []

    def start(path: Path) -> Follower:
        started.append(Follower(path))
        return started[-1]

    yield start
    for one in started:
        one.close()


def titles(numbers: range) -> list[str]:
    return [f"Story {n}" for n in numbers]


def test_follow_across_rename_and_new_file(tmp_path, follower):
    log = tmp_path / "alerts.jsonl"
    writer = AlertLog(log)
    writer.write_lines(alert_line(n) for n in range(3))  # history
    follow = follower(log)
    assert follow.caught_up.wait(5)
    writer.write_lines(alert_line(n) for n in range(3, 6))
    assert follow.wait_for(6) == titles(range(6))
    # logrotate: rename; the writer still has the old file open and writes once more.
    os.rename(log, tmp_path / "alerts.jsonl.1")
    with (tmp_path / "alerts.jsonl.1").open("a") as old:
        old.write(alert_line(6) + "\n")
    time.sleep(0.05)
    writer.write_lines(alert_line(n) for n in range(7, 10))  # reopens: the new file
    writer.close()
    assert follow.wait_for(10) == titles(range(10))  # each once, in order
    time.sleep(0.1)
    assert follow.seen == titles(range(10)) and not follow.errors


def test_follow_across_in_process_size_rotation(tmp_path, follower):
    log = tmp_path / "alerts.jsonl"
    writer = AlertLog(log, max_size=600, backups=50)
    follow = follower(log)  # before the log exists: waits for it
    for n in range(40):
        writer.write_lines([alert_line(n)])
        if n % 7 == 0:
            time.sleep(0.02)  # let the follower fall behind and catch up
    writer.close()
    assert len(list(tmp_path.glob("alerts.jsonl.*[0-9]"))) > 5  # it did rotate
    assert follow.wait_for(40) == titles(range(40))
    time.sleep(0.1)
    assert len(follow.seen) == 40


def test_follow_history_includes_rotated_files(tmp_path, follower):
    log = tmp_path / "alerts.jsonl"
    write(tmp_path / "alerts.jsonl.2.gz", [alert_line(0)], compress=True)
    write(tmp_path / "alerts.jsonl.1", [alert_line(1)])
    write(log, [alert_line(2)])
    follow = follower(log)
    assert follow.caught_up.wait(5)
    assert follow.seen == titles(range(3))


def test_follow_waits_for_the_rest_of_a_half_written_line(tmp_path, follower):
    log = tmp_path / "alerts.jsonl"
    text = alert_line(0)
    with log.open("w") as handle:
        handle.write(text[:20])
        handle.flush()
        follow = follower(log)
        assert follow.caught_up.wait(5)
        time.sleep(0.05)
        assert follow.seen == [] and not follow.errors  # half a line is not a line
        handle.write(text[20:] + "\n")
    assert follow.wait_for(1) == ["Story 0"]
    assert not follow.errors


def test_follow_finishes_the_old_file_before_the_new_one(tmp_path, follower):
    # A foreign writer left the last line without its newline: while the file is the
    # log, that may be half a line; once it is rotated away, it is the last line.
    log = tmp_path / "alerts.jsonl"
    log.write_text(alert_line(0) + "\n" + alert_line(1))
    follow = follower(log)
    assert follow.wait_for(1) == ["Story 0"]
    assert follow.caught_up.wait(5)
    os.rename(log, tmp_path / "alerts.jsonl.1")
    write(log, [alert_line(2)])
    assert follow.wait_for(3) == titles(range(3))
    assert not follow.errors


def test_follow_after_truncation_reads_from_the_start(tmp_path, follower):
    log = tmp_path / "alerts.jsonl"
    write(log, [alert_line(n) for n in range(3)])
    follow = follower(log)
    assert follow.wait_for(3) == titles(range(3))
    with log.open("r+") as handle:  # logrotate's copytruncate
        handle.truncate(0)
    time.sleep(0.05)
    with log.open("a") as handle:
        handle.write(alert_line(3) + "\n")
    assert follow.wait_for(4) == titles(range(4))


def test_follow_reports_malformed_lines_and_goes_on(tmp_path, follower):
    log = tmp_path / "alerts.jsonl"
    write(log, [alert_line(0), "not json", alert_line(1)])
    follow = follower(log)
    assert follow.wait_for(2) == titles(range(2))
    assert follow.errors == [Malformed(str(log), 2, "not JSON")]


# --- the human view ---------------------------------------------------------------------


def test_format_alert_summary_and_diff():
    line = entry(alert_line(
        1, title="Harbour bridge to close", story_id="3fa2b1c4d5e6f708", added=1,
        removed=0, changed=2, diff="--- before\n+++ after\n@@ -1,2 +1,2 @@\n-six weeks\n"
                                   "+eight weeks\n same",
    ))
    styled = format_alert(line.alert, line.ts, utc=True)
    assert click.style("+1", fg="green") in styled  # click.echo drops it off a terminal
    text = click.unstyle(styled)
    assert text.startswith("2026-11-26 12:00:00Z  story.changed")
    assert "Harbour bridge to close" in text and "+1 -0 ~2" in text
    assert "[3fa2b1c4d5e6f708]" in text and "\n" not in text
    shown = click.unstyle(format_alert(line.alert, line.ts, utc=True, diff=True)).splitlines()
    assert shown[1:] == ["    @@ -1,2 +1,2 @@", "    -six weeks", "    +eight weeks",
                         "     same"]


def test_format_failures_and_unknown_events():
    failed = entry(alert_line(1, event="fetch.failed", title=None, error="timed out",
                              status=None, failures=3))
    assert "timed out, 3 times in a row" in click.unstyle(format_alert(failed.alert, failed.ts))
    future = json.dumps({"ts": ts(0), "event": "notify.sent", "watch": "w"})
    later = entry(future)
    assert "notify.sent" in format_alert(later.alert, later.ts)  # no crash on new events


# --- word diff --------------------------------------------------------------------------


def test_word_diff_marks_changed_words_and_whole_blocks():
    old = ["Same start.", "The bridge closes for six weeks from January.", "Gone block."]
    new = ["Same start.", "The bridge closes for eight weeks from  February.", "New block.",
           "Added block."]
    lines = [click.unstyle(line) for line in word_diff(old, new)]
    assert lines[0].startswith("@@")
    assert " Same start." in lines
    assert "~The bridge closes for [-six-]{+eight+} weeks from [-January.-]{+February.+}" in lines
    assert "~[-Gone-]{+New+} block." in lines
    # A phrase is marked as one, not word by word around the spaces between.
    assert word_diff(["in the river road is due"], ["in is now due"])[1:] == [
        click.style("~", fg="yellow") + "in " + click.style("[-the river road-]", fg="red") + " is "
        + click.style("{+now+}", fg="green") + " due"]
    assert "+Added block." in lines
    assert word_diff(["a  b"], ["a b"]) == []  # whitespace alone is no change


def test_a_rotated_file_missing_from_one_listing_is_not_read_twice(tmp_path, monkeypatch):
    # A listing taken while the writer renames .N to .N+1 can miss a file; the next
    # listing has it again, and it must not be read a second time (seen under load).
    from scraper.reader import _log

    log = tmp_path / "alerts.jsonl"
    (tmp_path / "alerts.jsonl.2").write_text(alert_line(0) + "\n")
    (tmp_path / "alerts.jsonl.1").write_text(alert_line(1) + "\n")
    log.write_text(alert_line(2) + "\n")
    real = _log.log_files
    seen: dict = {}
    first = [e.alert["title"] for e in _log._unseen_rotated(log, None, seen, history=True)]
    assert first == titles(range(2))
    monkeypatch.setattr(_log, "log_files", lambda path: [
        f for f in real(path) if f.name != "alerts.jsonl.1"])
    assert list(_log._unseen_rotated(log, None, seen)) == []
    monkeypatch.setattr(_log, "log_files", real)
    assert list(_log._unseen_rotated(log, None, seen)) == []  # back in the listing: known


def test_a_reused_inode_number_with_other_lines_is_read(tmp_path):
    from scraper.reader import _log

    log = tmp_path / "alerts.jsonl"
    rotated = tmp_path / "alerts.jsonl.1"
    rotated.write_text(alert_line(5) + "\n")
    log.write_text("")
    stat = rotated.stat()
    # As if an older file with this inode number had been read, then deleted.
    seen = {(stat.st_dev, stat.st_ino): (alert_line(0) + "\n").encode()}
    assert [e.alert["title"] for e in _log._unseen_rotated(log, None, seen)] == ["Story 5"]
