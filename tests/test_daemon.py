"""``scrape run`` as a real subprocess against a server on 127.0.0.1: the schedule, reload
on SIGHUP, a bounded shutdown on SIGTERM, and the systemd notify messages it sends to a
socket the test binds. Plus ``scrape status`` and the signal handlers in-process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs
from werkzeug import Request, Response

from scraper.cli import main
from scraper.config import load_config
from scraper.daemon import _keep_fixed, serve
from scraper.models import Settings
from scraper.pipeline import run_once
from tests.conftest import REPO, article_html, read_alerts

PARAS = [
    "The harbour bridge reopened to traffic on Monday after two years of repairs.",
    "Cyclists get a separate lane on the eastern side of the deck.",
]


class Page:
    """A page the test can change; records when each request came, and can hold it."""

    def __init__(self, html: str, hold: float = 0.0) -> None:
        self.html = html
        self.hold = hold
        self.times: list[float] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.stuck = False

    def __call__(self, request: Request) -> Response:
        self.times.append(time.monotonic())
        self.entered.set()
        if self.stuck:
            self.release.wait(20)
        time.sleep(self.hold)
        return Response(self.html, content_type="text/html; charset=utf-8")


def serve_pages(server, pages: dict[str, Page]) -> list[dict[str, object]]:
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    for name, page in pages.items():
        server.expect_request(f"/{name}").respond_with_handler(page)
    return [{"name": name, "url": server.url_for(f"/{name}")} for name in pages]


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        time.sleep(0.02)


def events(log: Path, name: str) -> list[dict[str, object]]:
    """Operational log lines (JSON, as the daemon writes them when piped) of one event."""
    found = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == name:
            found.append(record)
    return found


class Notify:
    """The systemd side of sd_notify: a datagram socket bound in tmp_path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []
        self.seen = 0  # messages before this one were matched by an earlier expect()

    def expect(self, line: str, timeout: float = 5.0) -> str:
        """The next datagram with ``line`` (a full line or a 'KEY=' prefix) in it."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self.seen, len(self.messages)):
                if _has_line(self.messages[index], line):
                    self.seen = index + 1
                    return self.messages[index]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {line!r} from the daemon; got {self.messages}")
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue


def _has_line(message: str, line: str) -> bool:
    return any(part == line or (line.endswith("=") and part.startswith(line))
               for part in message.splitlines())


class Daemon:
    """``python -m scraper run --config PATH``, its log in a file, systemd's socket beside."""

    def __init__(self, config: Path, workdir: Path, env: dict[str, str] | None = None) -> None:
        workdir.mkdir()
        self.log = workdir / "daemon.log"
        self.notify = Notify(workdir / "notify")
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scraper", "run", "--config", str(config)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=self._log_file,
            env={**os.environ, "NOTIFY_SOCKET": str(self.notify.path), **(env or {})},
        )

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()
        self.notify.sock.close()
        self.notify.path.unlink(missing_ok=True)


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, env: dict[str, str] | None = None) -> Daemon:
        daemon = Daemon(config, tmp_path / f"daemon{len(started)}", env)
        started.append(daemon)  # closed at teardown even if it never gets ready
        daemon.notify.expect("READY=1")
        return daemon

    yield start
    for daemon in started:
        daemon.close()


# --- the schedule -----------------------------------------------------------------------


def test_watches_fire_on_schedule_and_a_change_is_announced(server, write_config,
                                                           start_daemon):
    page = Page(article_html("Bridge reopens", PARAS))
    watches = serve_pages(server, {"bridge": page})
    config = write_config([{**watches[0], "interval": "1s"}], jitter=0, host_delay=0)
    alert_log = config.parent / "alerts.jsonl"

    daemon = start_daemon(config)
    wait_until(lambda: len(page.times) >= 3)
    first = read_alerts(alert_log)
    assert [a["event"] for a in first].count("page.new") == 1  # and nothing since
    gaps = [b - a for a, b in pairwise(page.times)]
    assert all(0.7 < gap < 1.5 for gap in gaps), gaps  # once a second, not in bursts

    page.html = article_html("Bridge reopens", [*PARAS, "Tolls return in the spring."])
    changed_at = time.monotonic()

    def change_alerts() -> list[dict[str, object]]:
        # page.changed or story.changed: which one is the pipeline's business.
        return [a for a in read_alerts(alert_log)[len(first):]
                if "+Tolls return in the spring." in str(a.get("diff"))]

    wait_until(change_alerts)
    assert time.monotonic() - changed_at < 2.5  # announced on the next tick
    time.sleep(1.2)  # another tick: announced once, not at every check
    assert len(change_alerts()) == 1

    assert daemon.stop() == 0
    assert events(daemon.log, "daemon.stopped")


def test_concurrency_bounds_checks_and_every_slot_is_given_back(server, write_config, start_daemon):
    # Eight watches due together, two slots: never more than two pages in flight, and
    # every watch still checked (a slot is given back however its check ends).
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most seen

    class Counted(Page):
        def __call__(self, request: Request) -> Response:
            with lock:
                in_flight[0] += 1
                in_flight[1] = max(in_flight[1], in_flight[0])
            try:
                return super().__call__(request)
            finally:
                with lock:
                    in_flight[0] -= 1

    pages = {f"p{i}": Counted(article_html(f"Story {i}", PARAS), hold=0.2) for i in range(8)}
    watches = serve_pages(server, pages)
    config = write_config([{**w, "interval": "1m"} for w in watches], jitter=0,
                          host_delay=0, concurrency=2, per_host=8)
    daemon = start_daemon(config)
    wait_until(lambda: all(page.times for page in pages.values()), timeout=15)
    assert in_flight[1] == 2
    assert daemon.stop() == 0
    assert len(events(daemon.log, "check.done")) == 8


def test_start_continues_the_schedule_from_the_database(server, write_config, start_daemon):
    page = Page(article_html("Bridge reopens", PARAS))
    watches = serve_pages(server, {"bridge": page})
    config = write_config([{**watches[0], "interval": "1m"}], jitter=0, host_delay=0)
    asyncio.run(run_once(load_config(config)))  # checked just now
    assert len(page.times) == 1

    daemon = start_daemon(config)
    time.sleep(1.0)
    assert len(page.times) == 1  # next due in a minute, not at start
    assert re.search(r"next run in (5\d|60) s", daemon.notify.messages[0])
    assert daemon.stop() == 0


def test_alerts_are_delivered_to_notify_targets_at_once(server, write_config,
                                                       start_daemon):
    page = Page(article_html("Bridge reopens", PARAS))
    [watch] = serve_pages(server, {"bridge": page})
    posts: list[dict[str, object]] = []

    def hook(request: Request) -> Response:
        posts.append(json.loads(request.get_data()))
        return Response("", status=204)

    server.expect_request("/hook", method="POST").respond_with_handler(hook)
    config = write_config([{**watch, "interval": "1m"}], jitter=0, host_delay=0)
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f'\n[[notify]]\nname = "hook"\nurl = "{server.url_for("/hook")}"\n')

    daemon = start_daemon(config)
    wait_until(lambda: posts, timeout=3)  # woken by the check, not its one-minute nap
    assert posts[0]["event"] == "page.new" and posts[0]["watch"] == "bridge"
    assert daemon.stop() == 0


# --- reload -----------------------------------------------------------------------------


def test_sighup_adds_removes_and_reschedules_watches_without_restart(server, write_config,
                                                                     start_daemon):
    pages = {name: Page(article_html(f"Story {name}", PARAS)) for name in "abcd"}
    watches = {w["name"]: {**w, "interval": "1s"} for w in serve_pages(server, pages)}
    config = write_config([watches["a"], watches["b"], watches["d"]], jitter=0, host_delay=0)
    alert_log = config.parent / "alerts.jsonl"
    daemon = start_daemon(config)
    wait_until(lambda: pages["a"].times and pages["b"].times and pages["d"].times)

    slower = {**watches["d"], "interval": "1m"}
    write_config([watches["a"], watches["c"], slower], jitter=0, host_delay=0)
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: events(daemon.log, "config.reloaded"))
    wait_until(lambda: pages["c"].times)
    counts = {name: len(page.times) for name, page in pages.items()}
    time.sleep(1.5)

    assert len(pages["b"].times) == counts["b"]  # removed: no longer checked
    assert len(pages["d"].times) == counts["d"]  # rescheduled: next due in a minute
    assert len(pages["a"].times) > counts["a"]  # unchanged: still checked every second
    assert len(pages["c"].times) > counts["c"]  # added: checked every second
    [reloaded] = events(daemon.log, "config.reloaded")
    assert (reloaded["added"], reloaded["removed"], reloaded["changed"]) == (["c"], ["b"], ["d"])
    new = sorted(a["watch"] for a in read_alerts(alert_log) if a["event"] == "page.new")
    assert new == ["a", "b", "c", "d"]  # history kept: no second page.new for a or d
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0


def test_sighup_with_a_broken_config_keeps_the_old_one(server, write_config, start_daemon):
    page = Page(article_html("Bridge reopens", PARAS))
    [watch] = serve_pages(server, {"bridge": page})
    config = write_config([{**watch, "interval": "1s"}], jitter=0, host_delay=0)
    daemon = start_daemon(config)
    wait_until(lambda: page.times)

    write_config([{**watch, "intervall": "1s"}], jitter=0, host_delay=0)  # a typo
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: events(daemon.log, "config.invalid"))
    before = len(page.times)
    wait_until(lambda: len(page.times) >= before + 2, timeout=4)  # the old config runs on

    [invalid] = events(daemon.log, "config.invalid")
    assert invalid["level"] == "error"
    assert invalid["file"] == str(config) and invalid["key"] == "intervall"
    assert "unknown key" in str(invalid["error"])
    assert not events(daemon.log, "config.reloaded")
    daemon.signal(signal.SIGINT)  # Ctrl-C stops it as SIGTERM does
    assert daemon.proc.wait(5) == 0
    assert events(daemon.log, "daemon.stopping")[0]["signal"] == "SIGINT"


# --- shutdown ---------------------------------------------------------------------------


def test_sigterm_mid_fetch_drains_then_cancels_within_the_deadline(server, write_config,
                                                                   start_daemon, tmp_path):
    stuck = Page(article_html("Stuck", PARAS))
    stuck.stuck = True  # holds the request until the test lets go
    slowish = Page(article_html("Slowish", PARAS), hold=0.5)
    watches = serve_pages(server, {"stuck": stuck, "slowish": slowish})
    config = write_config([{**w, "interval": "1m"} for w in watches], jitter=0,
                          host_delay=0, shutdown_timeout="1500ms")
    try:
        daemon = start_daemon(config)
        assert stuck.entered.wait(5) and slowish.entered.wait(5)
        signalled = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(5) == 0
        took = time.monotonic() - signalled
        assert took < 1.5 + 1.0  # the deadline, and a little for closing
        daemon.notify.expect("STOPPING=1")
        [cancelled] = events(daemon.log, "shutdown.cancelled")
        assert cancelled["checks"] == ["stuck"]  # slowish finished while draining

        database = sqlite3.connect(tmp_path / "scraper.db")
        try:
            assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            fetched = database.execute(
                "SELECT w.name FROM fetches f JOIN watches w ON w.id = f.watch_id").fetchall()
            assert fetched == [("slowish",)]
        finally:
            database.close()
    finally:
        stuck.release.set()

    # Restarted on the same database, the cancelled watch is simply due at once.
    stuck.stuck = False
    alerts = tmp_path / "alerts.jsonl"
    again = start_daemon(config)
    wait_until(lambda: any(a["watch"] == "stuck" for a in read_alerts(alerts)))
    assert again.stop() == 0


# --- systemd notify ---------------------------------------------------------------------


def test_notify_ready_status_watchdog_reloading_stopping(server, write_config, start_daemon):
    page = Page(article_html("Bridge reopens", PARAS))
    [watch] = serve_pages(server, {"bridge": page})
    server.expect_request("/gone").respond_with_data("gone", status=404)
    gone = {"name": "gone", "url": server.url_for("/gone")}
    config = write_config([{**watch, "interval": "1m"}, {**gone, "interval": "1m"}],
                          jitter=0, host_delay=0)
    daemon = start_daemon(config, env={"WATCHDOG_USEC": "200000"})  # ping every 0.1 s
    notify = daemon.notify

    ready = notify.messages[0]  # start_daemon waited for it
    assert ready.startswith("READY=1\nSTATUS=2 watches, 0 failing, next run in ")
    watchdog_seen = time.monotonic()
    notify.expect("WATCHDOG=1", timeout=1.0)
    assert time.monotonic() - watchdog_seen < 1.0

    daemon.signal(signal.SIGHUP)
    reloading = notify.expect("RELOADING=1")
    assert "MONOTONIC_USEC=" in reloading
    usec = int(reloading.split("MONOTONIC_USEC=")[1].split()[0])
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert 0 <= now - usec < 5_000_000
    wait_until(lambda: events(daemon.log, "check.done"))
    reloaded = notify.expect("READY=1")  # the reload is over
    assert "STATUS=2 watches, 1 failing, next run in " in reloaded

    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(10) == 0
    notify.expect("STOPPING=1")


# --- in-process: the signal handlers are installed and restored ---------------------------


async def test_serve_handles_real_signals_and_restores_handlers(write_config, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(article_html("Bridge reopens", PARAS), encoding="utf-8")
    config = load_config(write_config(
        [{"name": "local", "url": page.as_uri(), "interval": "1s"}],
        allow_file_urls=True, jitter=0,
    ))
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT,
                                                      signal.SIGHUP)}
    alerts = tmp_path / "alerts.jsonl"
    task = asyncio.create_task(serve(config))
    while not alerts.exists() and not task.done():
        await asyncio.sleep(0.02)
    os.kill(os.getpid(), signal.SIGHUP)  # reload, same file: nothing changes
    await asyncio.sleep(0.1)
    assert not task.done()
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 5)

    after = {sig: signal.getsignal(sig) for sig in before}
    assert after == before
    assert [a["event"] for a in read_alerts(alerts)] == ["page.new"]


# --- scrape status ----------------------------------------------------------------------


def test_status_lists_watches_and_marks_stale_ones(server, write_config):
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    server.expect_request("/ok").respond_with_data(article_html("Fine", PARAS),
                                                   content_type="text/html")
    server.expect_request("/broken").respond_with_data("no", status=500)
    watches = [
        {"name": "fine", "url": server.url_for("/ok"), "interval": "1h"},
        {"name": "broken", "url": server.url_for("/broken"), "interval": "1h"},
        {"name": "quick", "url": server.url_for("/ok"), "interval": "100ms"},
        {"name": "later", "url": server.url_for("/ok")},
    ]
    path = write_config(watches)
    config = load_config(path)
    for _ in range(3):  # three failures in a row make "broken" stale
        asyncio.run(run_once(config, [w for w in config.watches if w.name != "later"]))
    time.sleep(0.35)  # "quick" had its success more than 3 intervals ago

    runner = CliRunner()
    result = runner.invoke(main, ["status", "--config", str(path)])
    assert result.exit_code == 1, result.output  # some watch is stale
    lines = {line.split()[1] if line.startswith("!") else line.split()[0]: line
             for line in result.output.splitlines()[1:-1]}
    assert lines["broken"].startswith("!") and "HTTP 500" in lines["broken"]
    assert lines["quick"].startswith("!")
    assert not lines["fine"].startswith("!") and " in 59m" in lines["fine"]
    assert "not checked" in lines["later"] and "at start" in lines["later"]
    assert result.output.splitlines()[-1] == "4 watches, 1 failing, 2 stale"

    as_json = runner.invoke(main, ["status", "--config", str(path), "--json"])
    reports = {r["name"]: r for r in json.loads(as_json.output)}
    assert reports["broken"]["consecutive_failures"] == 3
    assert reports["broken"]["stale"] and reports["quick"]["stale"]
    assert not reports["fine"]["stale"] and reports["fine"]["last_error"] is None
    assert reports["fine"]["next_due_at"] > reports["fine"]["last_checked_at"]
    assert reports["later"]["last_checked_at"] is None


def test_status_without_a_database_creates_none(write_config, tmp_path):
    path = write_config([{"name": "w", "url": "https://example.org/"}])
    result = CliRunner().invoke(main, ["status", "--config", str(path)])
    assert result.exit_code == 0
    assert "not checked" in result.output
    assert not (tmp_path / "scraper.db").exists()


def test_reload_keeps_settings_fixed_at_start():
    old = Settings(database="a.db", alert_log="a.jsonl", user_agent="ua", host_delay=1.0)
    new = replace(old, database="b.db", per_host=5, host_delay=2.0, failure_threshold=9)
    with capture_logs() as logs:
        kept = _keep_fixed(old, new, "scraper.toml")
    assert (kept.database, kept.per_host) == ("a.db", 2)  # need a restart
    assert (kept.host_delay, kept.failure_threshold) == (2.0, 9)  # apply at once
    assert logs[0]["event"] == "config.restart_needed"
    assert logs[0]["keys"] == ["database", "per_host"]
