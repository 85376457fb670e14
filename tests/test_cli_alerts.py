"""`scrape alerts`, `scrape history`, `scrape diff` as a user runs them: filters, --json,
--follow in a real process across a rotation, malformed lines, and history and diffs of
a database written by real run_once runs against a local server."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from werkzeug import Response

from scraper.alerts import AlertLog, make_alert, render_alert
from scraper.cli import main
from scraper.config import load_config
from scraper.pipeline import run_once
from tests.conftest import REPO, article_html, read_alerts


def scrape(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ago(**delta: float) -> str:
    when = datetime.now(UTC) - timedelta(**delta)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def line(title: str, *, event: str = "story.changed", watch: str = "front",
         ts: str | None = None, **fields: object) -> str:
    if event in ("story.changed", "page.changed"):
        fields = {"added": 1, "removed": 0, "changed": 1,
                  "diff": f"--- before\n+++ after\n@@ -1 +1 @@\n-old {title}\n+new {title}",
                  **fields}
    return render_alert(make_alert(event, watch=watch, url=f"https://news.example/{watch}",
                                   ts=ts or ago(minutes=1), title=title, **fields))


@pytest.fixture
def log(tmp_path) -> Path:
    """A log with a gzipped rotated file, a plain one and the current file."""
    path = tmp_path / "alerts.jsonl"
    old = [line("Bridge closes", ts=ago(days=3), story_id="1111aaaa22223333"),
           line("School reopens", watch="schools", event="story.new", ts=ago(days=2),
                story_id="4444bbbb55556666", paragraphs=3, lead="Pupils returned.")]
    (tmp_path / "alerts.jsonl.2.gz").write_bytes(
        gzip.compress("".join(x + "\n" for x in old).encode()))
    (tmp_path / "alerts.jsonl.1").write_text(
        line("Ferry strike", ts=ago(hours=5), story_id="7777cccc88889999") + "\n")
    path.write_text("".join(x + "\n" for x in [
        line("Market rents frozen", watch="market", ts=ago(hours=1),
             story_id="1111aaaa22223333"),
        line("Timeout", event="fetch.failed", watch="schools", ts=ago(minutes=30),
             error="timed out after 30 s", status=None, failures=3),
    ]))
    return path


def titles(result: Result) -> list[str]:
    return [json.loads(x).get("title") for x in result.stdout.splitlines()]


def test_json_passes_every_line_unchanged_oldest_first(log):
    result = scrape("alerts", "--log", str(log), "--json")
    assert result.exit_code == 0
    files = [log.with_name("alerts.jsonl.2.gz"), log.with_name("alerts.jsonl.1"), log]
    expected = b"".join(gzip.decompress(f.read_bytes()) if f.suffix == ".gz"
                        else f.read_bytes() for f in files)
    assert result.stdout.encode() == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "6h"], ["Ferry strike", "Market rents frozen", "Timeout"]),
        (["--since", ago(hours=2)], ["Market rents frozen", "Timeout"]),
        (["--watch", "schools"], ["School reopens", "Timeout"]),
        (["--watch", "schools", "--watch", "market"],
         ["School reopens", "Market rents frozen", "Timeout"]),
        (["--event", "story.changed"], ["Bridge closes", "Ferry strike",
                                        "Market rents frozen"]),
        (["--event", "story.*", "--event", "fetch.failed"],
         ["Bridge closes", "School reopens", "Ferry strike", "Market rents frozen",
          "Timeout"]),
        (["--story", "1111aaaa"], ["Bridge closes", "Market rents frozen"]),
        (["--grep", "FERRY"], ["Ferry strike"]),
        (["--grep", "timed out"], ["Timeout"]),  # the error, in the line
        (["--grep", "new market"], ["Market rents frozen"]),  # the diff
        (["--watch", "schools", "--since", "1d"], ["Timeout"]),
        (["--last", "2"], ["Market rents frozen", "Timeout"]),
    ],
)
def test_filters(log, args, expected):
    result = scrape("alerts", "--log", str(log), "--json", *args)
    assert result.exit_code == 0, result.output
    assert titles(result) == expected


def test_human_view_is_plain_off_a_terminal_and_shows_diffs_on_request(log):
    result = scrape("alerts", "--log", str(log), "--utc")
    assert result.exit_code == 0
    out = result.stdout.splitlines()
    assert len(out) == 5 and "\x1b" not in result.stdout
    assert "story.changed" in out[0] and "front" in out[0] and "Bridge closes" in out[0]
    assert "+1 -0 ~1" in out[0] and "[1111aaaa22223333]" in out[0]
    assert "timed out after 30 s, 3 times in a row" in out[4]
    assert out[0][:20].endswith("Z")  # --utc
    shown = scrape("alerts", "--log", str(log), "--diff", "--story", "7777").stdout
    assert shown.splitlines()[1:] == ["    @@ -1 +1 @@", "    -old Ferry strike",
                                      "    +new Ferry strike", ""]
    coloured = scrape("alerts", "--log", str(log), "--diff", "--color", "always").stdout
    assert "\x1b[32m+new Ferry strike\x1b[0m" in coloured


def test_malformed_line_is_reported_with_its_number_and_skipped(tmp_path):
    log = tmp_path / "alerts.jsonl"
    log.write_text(line("One") + "\n{\"event\": \"page.new\", \"ts\": \n" + line("Two") + "\n")
    result = scrape("alerts", "--log", str(log), "--json")
    assert result.exit_code == 0
    assert titles(result) == ["One", "Two"]
    assert f"{log}:2: malformed line skipped" in result.stderr


def test_no_log_yet_is_said_plainly(tmp_path):
    result = scrape("alerts", "--log", str(tmp_path / "none.jsonl"))
    assert result.exit_code == 0
    assert "no alerts yet" in result.stderr and result.stdout == ""


def test_unreadable_log_is_exit_1(tmp_path):
    (tmp_path / "alerts.jsonl").mkdir()
    result = scrape("alerts", "--log", str(tmp_path / "alerts.jsonl"))
    assert result.exit_code == 1 and "is not a file" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "neither a duration"),
        (["--event", "story.chnaged"], "did you mean 'story.changed'"),
    ],
)
def test_usage_mistakes_exit_2(log, args, message):
    result = scrape("alerts", "--log", str(log), *args)
    assert result.exit_code == 2 and message in result.stderr


def test_the_config_names_the_log(write_config, tmp_path):
    path = write_config([{"name": "front", "url": "https://news.example/"}],
                        alert_log=str(tmp_path / "logs" / "a.jsonl"))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.jsonl").write_text(line("From the config") + "\n")
    for args in (["alerts", "--config", str(path)], ["--config", str(path), "alerts"]):
        result = scrape(*args, "--json")
        assert result.exit_code == 0 and titles(result) == ["From the config"]


def test_every_reading_command_has_an_example():
    for name in ("alerts", "history", "diff"):
        assert "Example" in (main.commands[name].help or ""), name


# --- --follow, in a real process ------------------------------------------------------


@pytest.mark.slow
def test_follow_across_rotation_misses_nothing(tmp_path):
    path = tmp_path / "alerts.jsonl"
    writer = AlertLog(path)
    written = [line(f"Story {n}") for n in range(12)]
    writer.write_lines(written[:3])  # history: shown first
    seen: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "scraper", "alerts", "--follow", "--json", "--log",
         str(path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        out = proc.stdout
        reader = threading.Thread(target=lambda: seen.extend(x.rstrip("\n") for x in out),
                                  daemon=True)
        reader.start()

        def wait_for(count: int) -> None:
            deadline = time.monotonic() + 20
            while len(seen) < count and time.monotonic() < deadline:
                time.sleep(0.02)

        try:
            wait_for(3)
            writer.write_lines(written[3:6])
            wait_for(6)
            os.rename(path, tmp_path / "alerts.jsonl.1")  # logrotate
            with (tmp_path / "alerts.jsonl.1").open("a") as old:  # a lagging writer
                old.write(written[6] + "\n")
            writer.write_lines(written[7:9])  # reopens: a new file
            writer.write_lines(written[9:])
            wait_for(12)
            time.sleep(0.3)  # anything twice would show up now
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
            returncode = proc.wait(timeout=10)
            reader.join(timeout=5)
            writer.close()
        errors = proc.stderr.read()
    assert seen == written
    assert returncode == 0
    assert "Traceback" not in errors


# --- history and diff of real runs ---------------------------------------------------

PARAS = [
    "The county council approved the new cycle lanes on Tuesday after a long debate.",
    "Work on the first section along the river road is due to start in March.",
    "Residents near the school asked for a crossing and the council agreed to study it.",
]


@pytest.fixture
def monitored(server, write_config) -> Path:
    """Three runs of a watch whose article changes twice (paragraph 2, then 3)."""
    html = {"page": article_html("Cycle lanes approved", PARAS)}
    server.expect_request("/cycle").respond_with_handler(
        lambda request: Response(html["page"], content_type="text/html"))
    path = write_config([{"name": "cycle", "url": server.url_for("/cycle")}])
    config = load_config(path)
    asyncio.run(run_once(config))
    html["page"] = article_html("Cycle lanes approved", [
        PARAS[0], "Work on the first section is now due to start in May.", PARAS[2]])
    asyncio.run(run_once(config))
    html["page"] = article_html("Cycle lanes approved", [
        PARAS[0], "Work on the first section is now due to start in May.",
        "Residents near the school asked for a crossing and got one."])
    asyncio.run(run_once(config))
    events = [a["event"] for a in read_alerts(Path(config.settings.alert_log))]
    assert events == ["page.new", "story.changed", "story.changed"]
    return path


def test_history_lists_snapshots_newest_first_and_fetches(monitored):
    result = scrape("history", "cycle", "--config", str(monitored))
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0].startswith("cycle  http://127.0.0.1:")
    assert "3 snapshots, newest first" in out[1]
    rows = [x.split() for x in out[3:6]]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    stamps = [r[1] + " " + r[2] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert all(r[-1] == "1" for r in rows)  # one story each
    assert all(r[-2] == "kB" or r[-2] == "B" for r in rows)
    assert out[6] == "last 3 fetches:"
    assert all(" ok " in x and " 200 " in x for x in out[7:10])


def test_diff_defaults_to_the_last_two_snapshots(monitored):
    result = scrape("diff", "cycle", "--config", str(monitored))
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0].startswith("--- #2 ") and out[1].startswith("+++ #1 ")
    assert "-Residents near the school asked for a crossing and the council agreed to " \
           "study it." in out
    assert "+Residents near the school asked for a crossing and got one." in out
    assert not any("May" in x for x in out if x[:1] in "+-" and not x.startswith("+++"))


def test_diff_any_two_snapshots_by_number_and_by_word(monitored):
    result = scrape("diff", "cycle", "--config", str(monitored), "--from", "3", "--to", "1")
    out = result.stdout.splitlines()
    assert "+Work on the first section is now due to start in May." in out
    assert "+Residents near the school asked for a crossing and got one." in out
    word = scrape("diff", "cycle", "--config", str(monitored), "--from", "3", "--word")
    assert ("~Work on the first section [-along the river road-] is {+now+} due to start "
            "in [-March.-]{+May.+}") in word.stdout.splitlines()


def test_diff_of_the_oldest_snapshot_says_there_is_nothing_older(monitored):
    result = scrape("diff", "cycle", "--config", str(monitored), "--to", "3")
    assert result.exit_code == 0, result.output
    assert "note: snapshot 3 is the oldest kept: nothing older to compare it with" \
        in result.stderr
    assert "only one snapshot" not in result.stderr  # there are three


def test_diff_of_one_story_defaults_to_its_last_change(monitored):
    story_id = read_alerts(monitored.parent / "alerts.jsonl")[0]["stories"][0]["story_id"]
    result = scrape("diff", "cycle", "--config", str(monitored), "--story", story_id[:6])
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0].startswith("--- #2") and " # Cycle lanes approved" not in out  # context 1
    assert "+Residents near the school asked for a crossing and got one." in out
    first = scrape("diff", "cycle", "--config", str(monitored), "--story", story_id,
                   "--from", "3", "--to", "2", "-U", "5")
    lines = first.stdout.splitlines()
    assert " # Cycle lanes approved" in lines
    assert "+Work on the first section is now due to start in May." in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diff", "nope"], "no watch named 'nope'"),
        (["history", "nope"], "known: cycle"),
        (["diff", "cycle", "--from", "9"], "snapshots 1 to 3"),
        (["diff", "cycle", "--story", "ffffffff"], "no story 'ffffffff'"),
    ],
)
def test_history_and_diff_mistakes_exit_2(monitored, args, message):
    result = scrape(*args, "--config", str(monitored))
    assert result.exit_code == 2 and message in result.stderr


def test_no_database_yet_is_not_created(tmp_path):
    database = tmp_path / "none.db"
    for args in (["history", "w"], ["diff", "w"]):
        result = scrape(*args, "--db", str(database))
        assert result.exit_code == 0 and "no history yet" in result.stderr
    assert not database.exists()


# --- text that would drive a terminal -------------------------------------------------

# Set the window title (OSC), clear the screen (CSI), a C1 CSI, BEL, DEL, a bidi override.
HOSTILE = "Bridge\x1b]0;owned\x07 \x1b[2J\x1b[H\x9b31m \u202egnp.exe\x7f\u2066end"
UNSAFE = "\x1b\x07\x9b\x7f\u202e\u2066"


def _no_raw_unsafe(text: str) -> None:
    assert not [c for c in text if c in UNSAFE], repr(text)


@pytest.fixture
def hostile_log(tmp_path) -> Path:
    """Our own line for a hostile title, and a foreign writer's with C1, DEL and bidi
    characters raw inside its JSON strings (valid JSON all the same)."""
    path = tmp_path / "alerts.jsonl"
    ours = line(HOSTILE, story_id="1111aaaa22223333")
    foreign = json.dumps({"ts": ago(minutes=1), "event": "fetch.failed", "watch": "w\x9bx",
                          "alert_id": "f" * 32, "url": "https://e.org/",
                          "error": "HTTP 500 \x9b2J\u202eboom\x7f", "failures": 3},
                         ensure_ascii=False)
    assert "\x9b" in foreign and "\u202e" in foreign  # raw, not escaped
    path.write_text(ours + "\n" + foreign + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("color", ["never", "always"])
def test_alerts_show_escape_sequences_escaped(hostile_log, color):
    result = scrape("alerts", "--log", str(hostile_log), "--diff", "--color", color)
    assert result.exit_code == 0, result.output
    _no_raw_unsafe(result.stdout.replace("\x1b[", "") if color == "always" else result.stdout)
    out = click.unstyle(result.stdout)
    assert "Bridge\\x1b]0;owned\\x07 \\x1b[2J\\x1b[H\\x9b31m \\u202egnp.exe\\x7f\\u2066end" in out
    assert "+new Bridge\\x1b]0;owned\\x07" in out  # the diff too
    assert "HTTP 500 \\x9b2J\\u202eboom\\x7f, 3 times in a row" in out
    assert "w\\x9bx" in out


def test_alerts_on_a_real_terminal_show_escape_sequences_escaped(hostile_log):
    # A pseudo-terminal: colours on, and what a terminal would receive.
    main_fd, child_fd = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "scraper", "alerts", "--log",
                             str(hostile_log)], stdout=child_fd, stderr=child_fd, cwd=REPO)
    os.close(child_fd)
    received = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(main_fd)
    assert proc.wait(timeout=30) == 0
    text = received.decode("utf-8")
    assert "\x1b[" in text  # coloured: it did see a terminal
    # Only our own colour codes (ESC [ ... m) reach the terminal; none of the page's.
    assert not re.search(r"\x1b(?!\[[0-9;]*m)", text), repr(text)
    assert not [c for c in text if c in UNSAFE.replace("\x1b", "")], repr(text)
    assert "\\x1b]0;owned\\x07" in text and "\\u202egnp.exe" in text


def test_alerts_json_lines_stay_valid_json_with_unsafe_characters_escaped(hostile_log):
    result = scrape("alerts", "--log", str(hostile_log), "--json")
    assert result.exit_code == 0
    _no_raw_unsafe(result.stdout)
    shown = [json.loads(x) for x in result.stdout.splitlines()]
    written = [json.loads(x) for x in hostile_log.read_text(encoding="utf-8").splitlines()]
    assert shown == written  # the same values, only escaped
    assert shown[0]["title"] == HOSTILE


def _make_hostile(database: Path) -> None:
    """What a server said, stored as a failed fetch's error (as an error text quoting a
    reason phrase or a redirect target would be)."""
    db = sqlite3.connect(database)
    with db:
        db.execute("UPDATE fetches SET outcome = 'failed', error = ? WHERE id = "
                   "(SELECT MAX(id) FROM fetches)", (f"HTTP 500 {HOSTILE}",))
        db.execute("UPDATE watches SET consecutive_failures = 1, last_error = ?, "
                   "last_error_at = last_checked_at", (f"HTTP 500 {HOSTILE}",))
    db.close()


def test_history_and_status_show_escape_sequences_escaped(monitored):
    _make_hostile(monitored.parent / "scraper.db")
    escaped = "HTTP 500 Bridge\\x1b]0;owned\\x07 \\x1b[2J\\x1b[H\\x9b31m \\u202egnp.exe"
    history = scrape("history", "cycle", "--config", str(monitored), "--color", "never")
    assert history.exit_code == 0, history.output
    _no_raw_unsafe(history.stdout)
    assert escaped in history.stdout
    status = scrape("status", "--config", str(monitored))
    _no_raw_unsafe(status.stdout)
    assert escaped in status.stdout
    as_json = scrape("status", "--config", str(monitored), "--json")
    _no_raw_unsafe(as_json.stdout)
    [report] = json.loads(as_json.stdout)
    assert report["last_error"] == f"HTTP 500 {HOSTILE}"  # the same value


def test_diff_shows_page_text_escaped(server, write_config):
    # Whatever extraction keeps of a hostile page, none of it reaches the terminal raw.
    html = {"page": article_html("Plain", PARAS)}
    server.expect_request("/p").respond_with_handler(
        lambda request: Response(html["page"], content_type="text/html"))
    path = write_config([{"name": "p", "url": server.url_for("/p")}])
    config = load_config(path)
    asyncio.run(run_once(config))
    html["page"] = article_html("Plain", [PARAS[0], f"Now {HOSTILE}", PARAS[2]])
    asyncio.run(run_once(config))
    for extra in ([], ["--word"]):
        result = scrape("diff", "p", "--config", str(path), "--color", "always", *extra)
        assert result.exit_code == 0, result.output
        assert "Now" in result.stdout
        assert not re.search(r"\x1b(?!\[[0-9;]*m)", result.stdout), repr(result.stdout)
        assert not [c for c in result.stdout if c in UNSAFE.replace("\x1b", "")]
