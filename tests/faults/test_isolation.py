"""Isolation: 200 watches fetched at once, each page its own; nothing crosses between them.
And one hostile page (too deep, raising in extraction, a bug in a stage) is that watch's
failed check, counted and announced, never the run's; its worker dies with the run.

changedetection.io has an open bug where one watch's content lands in another's diff.
Here every page carries a ``desk-NNN`` token, responses come back in a shuffled order
(random delays), and afterwards every stored snapshot, story and alert is read back and
must name its own watch's token and no other.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import scraper.analyse
import scraper.daemon
import scraper.pipeline
from scraper.config import load_config
from scraper.daemon import serve, watch_reports
from scraper.extract import extract_page
from scraper.fetch import fetch_page
from scraper.models import ExtractedPage
from scraper.pipeline import run_once
from scraper.stories import NEAR_DISTANCE, fingerprint_text, hamming, split_stories
from tests.conftest import article_html, read_alerts, toml_value
from tests.faults.conftest import (
    Handler,
    Newsroom,
    RawRequest,
    RawServer,
    check_alert_log,
    check_change_chains,
    check_database,
    log_events,
    response_head,
    run_scrape,
    scrape_command,
    wait_for,
    words,
)

TOKEN = re.compile(r"desk-\d{3}")


@dataclass
class Run:
    newsroom: Newsroom
    folder: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """200 new pages, then all 200 edited: two ``scrape --once`` runs, shared by the tests."""
    folder = tmp_path_factory.mktemp("isolation")
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    try:
        newsroom = Newsroom(start, 200, delay=0.1, seed=200)
        # One host serves all 200 here: lift the per-host politeness meant for real sites.
        settings = {"database": str(folder / "scraper.db"),
                    "alert_log": str(folder / "alerts.jsonl"),
                    "concurrency": 64, "per_host": 64, "host_delay": 0}
        lines = ["[settings]", *(f"{k} = {toml_value(v)}" for k, v in settings.items())]
        for watch in newsroom.watches():
            lines += ["[[watch]]", *(f"{k} = {toml_value(v)}" for k, v in watch.items())]
        config = folder / "scraper.toml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        first = run_scrape("--once", "--config", str(config))
        for i in range(newsroom.count):
            newsroom.bump(i)
        second = run_scrape("--once", "--config", str(config))
        yield Run(newsroom, folder, first, second)
    finally:
        for server in servers:
            server.stop()


@pytest.mark.slow
def test_two_hundred_watches_keep_their_own_content(two_runs):
    newsroom, folder = two_runs.newsroom, two_runs.folder
    assert two_runs.first.returncode == 0, two_runs.first.stderr
    assert "200 new, 0 changed, 0 unchanged, 0 failed" in two_runs.first.stdout
    assert two_runs.second.returncode == 0, two_runs.second.stderr
    assert "0 new, 200 changed, 0 unchanged, 0 failed" in two_runs.second.stdout

    db = check_database(folder / "scraper.db")
    try:
        snapshots = db.execute(
            "SELECT w.name, h.data, b.data FROM snapshots s JOIN watches w ON w.id = s.watch_id "
            "JOIN contents h ON h.hash = s.html_hash JOIN contents b ON b.hash = s.blocks_hash"
        ).fetchall()
        assert len(snapshots) == 400
        for name, html, blocks in snapshots:
            assert set(TOKEN.findall(zlib.decompress(html).decode())) == {name}
            assert set(TOKEN.findall(zlib.decompress(blocks).decode())) == {name}
        stories = db.execute(
            "SELECT w.name, ss.title, c.data FROM snapshot_stories ss "
            "JOIN snapshots s ON s.id = ss.snapshot_id JOIN watches w ON w.id = s.watch_id "
            "JOIN contents c ON c.hash = ss.text_hash"
        ).fetchall()
        assert len(stories) == 400
        owners: dict[str, set[str]] = {}
        for name, story_id in db.execute(
            "SELECT w.name, ss.story_id FROM snapshot_stories ss "
            "JOIN snapshots s ON s.id = ss.snapshot_id JOIN watches w ON w.id = s.watch_id"
        ):
            owners.setdefault(story_id, set()).add(name)
        assert len(owners) == 200  # one story a page, never merged with another page's
        assert all(len(names) == 1 for names in owners.values())
        for name, title in db.execute(
            "SELECT w.name, st.title FROM stories st JOIN watches w ON w.id = st.first_watch_id"
        ):
            assert TOKEN.findall(title or "") == [name]
        for name, title, text in stories:
            paragraphs = " ".join(json.loads(zlib.decompress(text)))
            assert set(TOKEN.findall(f"{title} {paragraphs}")) == {name}
        alerts = check_alert_log(folder / "alerts.jsonl", db)
        assert len(alerts) == 400
        for alert in alerts:
            # The whole line (title, diff, story list) names its own watch only.
            assert set(TOKEN.findall(json.dumps(alert))) == {alert["watch"]}, alert
        check_change_chains(alerts, newsroom, db)
    finally:
        db.close()


def _unrelated_pair_within_near_distance() -> tuple[list[str], list[str]] | None:
    """Two stories with no word in common whose SimHashes are NEAR_DISTANCE bits or less
    apart, as the real extractor and splitter fingerprint them; None if none turns up.

    Random 64-bit SimHashes are that close with chance 3.5e-6 a pair, so among 3,000
    random texts (4.5 million pairs) there are a dozen or so."""
    candidates = []
    for i in range(3000):
        rng = random.Random(f"unrelated-{i}")
        candidates.append([words(rng, 20) for _ in range(4)])
    hashes = [fingerprint_text(paragraphs).simhash for paragraphs in candidates]
    for a, hash_a in enumerate(hashes):
        for b in range(a + 1, len(hashes)):
            if hamming(hash_a, hashes[b]) > NEAR_DISTANCE:
                continue
            first, second = candidates[a], candidates[b]
            if set(" ".join(first).split()) & set(" ".join(second).split()):
                continue  # sharing a word: not plainly unrelated
            stories = [split_stories(extract_page(article_html(f"Story {n}", texts))).stories
                       for n, texts in enumerate((first, second))]
            if hamming(stories[0][0].fingerprint.simhash,
                       stories[1][0].fingerprint.simhash) <= NEAR_DISTANCE:
                return first, second
    return None


async def test_an_unrelated_story_is_never_taken_for_another_watchs(raw_server, write_config):
    # A new story is looked up against every stored one (StoryIndex.find); random
    # SimHashes within NEAR_DISTANCE (14 bits) of each other turn up once there are
    # 100,000 stories, so near alone must not make two stories one.
    pair = _unrelated_pair_within_near_distance()
    if pair is None:
        pytest.skip(f"no two unrelated texts within {NEAR_DISTANCE} bits: nothing to test")
    first, second = pair
    pages = {"/alpha": article_html("Harbour dredging contract signed", first),
             "/beta": article_html("Library opening hours extended", PARAS_FILLER)}

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        body = pages[request.target].encode()
        writer.write(response_head(content_type="text/html", content_length=len(body)) + body)
        await writer.drain()

    server = raw_server(handler)
    config = load_config(write_config([{"name": "alpha", "url": server.url("/alpha")},
                                       {"name": "beta", "url": server.url("/beta")}]))
    await run_once(config)
    pages["/beta"] = article_html("Council approves new bus lanes", second)
    run = await run_once(config)
    beta = next(r for r in run.results if r.watch == "beta")
    events = [(a.event, a.fields.get("first_watch")) for a in beta.alerts]
    assert ("story.new", None) in events, events
    assert not any(event == "story.duplicate" for event, _ in events), events


PARAS_FILLER = [
    "The central library will stay open until nine on weekdays from next month.",
    "Staff said evening visits had doubled since the reading room was refurbished.",
]


# --- one hostile page among many: its own failed check, never the run's ---------------------

DEEP_NEST = "<html><body>" + "<div>" * 100_001 + "<p>deep</p></body></html>"
DEEP_JSONLD = ("<html><head><title>Deep</title><script type='application/ld+json'>"
               + "[" * 1000 + "]" * 1000 + "</script></head><body><article><h1>Deep</h1>"
               "<p>A story under a JSON-LD block nested a thousand deep.</p></article>"
               "</body></html>")
INJECTED = "inject-a-recursion-error"  # pages holding this make the patched extractor raise
NESTED_REASON = "page too complex: markup nests deeper than 10,000 elements"


class Site:
    """Pages by path on a raw server; ``pages`` can be edited while it serves."""

    def __init__(self, start: Callable[[Handler], RawServer], pages: dict[str, str]) -> None:
        self.pages = pages
        self.server = start(self._handle)

    def watches(self, **extra: object) -> list[dict[str, object]]:
        return [{"name": path.strip("/"), "url": self.server.url(path), **extra}
                for path in self.pages]

    async def _handle(self, request: RawRequest, writer: asyncio.StreamWriter) -> None:
        page = self.pages.get(request.target)
        if page is None:
            writer.write(response_head(404, "Not Found", content_length=0))
            return
        body = page.encode()
        writer.write(response_head(content_type="text/html; charset=utf-8",
                                   content_length=len(body)) + body)
        await writer.drain()


def good_pages(count: int) -> dict[str, str]:
    pages = {}
    for i in range(count):
        rng = random.Random(f"good-{i}")
        pages[f"/good-{i:02d}"] = article_html(
            f"Good story {i}", [words(rng, 18) + "." for _ in range(3)])
    return pages


def patch_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The extractor raises RecursionError on pages holding INJECTED (in this process:
    the runs here are small, so pages are analysed inline)."""
    real = scraper.analyse.extract_page

    def extract(html: str, **kwargs: object) -> ExtractedPage:
        if INJECTED in html:
            raise RecursionError("maximum recursion depth exceeded")
        return real(html, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scraper.analyse, "extract_page", extract)


def stored_snapshots(database: Path) -> dict[str, int]:
    db = sqlite3.connect(database)
    try:
        return dict(db.execute(
            "SELECT w.name, COUNT(s.id) FROM watches w LEFT JOIN snapshots s "
            "ON s.watch_id = w.id GROUP BY w.name"))
    finally:
        db.close()


async def test_a_hostile_page_fails_alone_and_every_other_watch_is_stored(
        raw_server, write_config, monkeypatch, tmp_path):
    patch_extractor(monkeypatch)
    pages = good_pages(40)
    pages["/deep-nest"] = DEEP_NEST
    pages["/injected"] = article_html("Injected", [f"Text that trips the {INJECTED}."])
    pages["/deep-jsonld"] = DEEP_JSONLD
    site = Site(raw_server, pages)
    config = load_config(write_config(site.watches(), failure_threshold=2))

    first = {r.watch: r for r in (await run_once(config)).results}
    assert [first[f"good-{i:02d}"].status for i in range(40)] == ["new"] * 40
    assert (first["deep-nest"].status, first["deep-nest"].error) == ("failed", NESTED_REASON)
    assert (first["injected"].status, first["injected"].error) == (
        "failed", "analysis failed: RecursionError: maximum recursion depth exceeded")
    # The extractor bounds JSON-LD nesting (extract/_jsonld.py): the page is stored.
    assert first["deep-jsonld"].status == "new", first["deep-jsonld"]
    snapshots = stored_snapshots(tmp_path / "scraper.db")
    assert all(snapshots[f"good-{i:02d}"] == 1 for i in range(40))
    assert snapshots["deep-nest"] == snapshots["injected"] == 0

    second = {r.watch: r for r in (await run_once(config)).results}
    assert [second[f"good-{i:02d}"].status for i in range(40)] == ["unchanged"] * 40
    for name, reason in (("deep-nest", NESTED_REASON), ("injected", "analysis failed")):
        assert second[name].status == "failed"
        assert [(a.event, a.fields["failures"]) for a in second[name].alerts] == [
            ("fetch.failed", 2)]  # announced at the threshold, like a fetch that failed
        assert str(second[name].alerts[0].fields["error"]).startswith(reason)
    reports = {r.name: r for r in await watch_reports(config)}
    assert reports["deep-nest"].consecutive_failures == 2
    assert reports["deep-nest"].last_error == NESTED_REASON
    assert reports["good-00"].consecutive_failures == 0

    pages["/deep-nest"] = article_html("Shallow again", ["The page is an article again."])
    third = {r.watch: r for r in (await run_once(config)).results}
    assert third["deep-nest"].status == "new"
    assert [a.event for a in third["deep-nest"].alerts][:1] == ["fetch.recovered"]
    fetch_alerts = [(a["event"], a["watch"]) for a in read_alerts(tmp_path / "alerts.jsonl")
                    if str(a["event"]).startswith("fetch.") and a["watch"] != "deep-jsonld"]
    assert sorted(fetch_alerts[:2]) == [("fetch.failed", "deep-nest"),
                                        ("fetch.failed", "injected")]
    assert fetch_alerts[2:] == [("fetch.recovered", "deep-nest")]


async def test_an_exception_in_one_fetch_is_that_watchs_failed_check(raw_server,
                                                                       write_config):
    site = Site(raw_server, good_pages(5))
    config = load_config(write_config(site.watches()))

    async def fetcher(client, watch, validators, settings):
        if watch.name == "good-02":
            raise KeyError("content-type")
        return await fetch_page(client, watch, validators, settings)

    run = await run_once(config, fetcher=fetcher)
    assert [(r.watch, r.status) for r in run.results if r.status != "new"] == [
        ("good-02", "failed")]
    # The innermost line of ours is where the fetcher was called (it is the test's).
    assert re.fullmatch(r"fetch failed: KeyError: 'content-type' \(at scraper/pipeline\.py:\d+\)",
                        str(run.failed[0].error)), run.failed[0].error


async def test_an_exception_past_check_watch_fails_that_watch_not_the_run(
        raw_server, write_config, monkeypatch):
    site = Site(raw_server, good_pages(5))
    config = load_config(write_config(site.watches()))
    real = scraper.pipeline.check_watch

    async def check(client, store, watch, settings, **kwargs):
        if watch.name == "good-03":
            raise ValueError("a bug before the check began")
        return await real(client, store, watch, settings, **kwargs)

    monkeypatch.setattr(scraper.pipeline, "check_watch", check)
    run = await run_once(config)
    assert [(r.watch, r.status) for r in run.results if r.status != "new"] == [
        ("good-03", "failed")]
    assert str(run.failed[0].error).startswith(
        "check failed: ValueError: a bug before the check began")
    reports = {r.name: r for r in await watch_reports(config)}
    assert reports["good-03"].consecutive_failures == 1
    assert reports["good-03"].last_checked_at is not None


@pytest.mark.slow
def test_scrape_once_with_a_hostile_page_exits_1_and_status_counts_it(raw_server,
                                                                       write_config):
    pages = {**good_pages(40), "/deep-nest": DEEP_NEST}
    site = Site(raw_server, pages)
    config = write_config(site.watches(), failure_threshold=2)
    runs = [run_scrape("--once", "--config", str(config)) for _ in range(2)]
    for run in runs:
        assert run.returncode == 1, run.stderr
        assert "Traceback" not in run.stderr
        assert f"  failed: deep-nest {site.server.url('/deep-nest')}: {NESTED_REASON}" \
            in run.stdout.splitlines()
    assert "40 new, 0 changed, 0 unchanged, 1 failed" in runs[0].stdout
    assert "0 new, 0 changed, 40 unchanged, 1 failed" in runs[1].stdout
    alerts = read_alerts(config.parent / "alerts.jsonl")
    assert [a["event"] for a in alerts].count("page.new") == 40
    assert [(a["event"], a["watch"], a["error"]) for a in alerts
            if a["event"] == "fetch.failed"] == [("fetch.failed", "deep-nest", NESTED_REASON)]

    status = run_scrape("status", "--config", str(config))
    assert status.stdout.splitlines()[-1] == "41 watches, 1 failing, 0 stale"
    nest = next(line for line in status.stdout.splitlines() if "deep-nest" in line)
    assert nest.split()[:3] == ["deep-nest", "never", "2"]  # no success, 2 failures
    assert f"  {NESTED_REASON} (" in nest


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _cpu_seconds(pid: int) -> float:
    """CPU time the process has used; infinite once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("inf")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["--once", "run"])
def test_kill_9_of_a_run_leaves_no_worker_behind(raw_server, write_config, command):
    # Ninety closed nests of 9,999 divs: under the nesting cap, ~15 s of the worker's
    # time, so a worker that outlived its run would still be at it.
    slow = ("<html><body>" + ("<div>" * 9_999 + "<p>deep</p>" + "</div>" * 9_999) * 90
            + "</body></html>")
    site = Site(raw_server, {"/slow": slow})
    config = write_config(site.watches(), jitter=0)
    args = ["--once", "--config", str(config)] if command == "--once" else [
        "run", "--config", str(config)]
    with subprocess.Popen([*scrape_command(), *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as proc:
        try:
            deadline = time.monotonic() + 30
            workers: list[int] = []
            while not workers and proc.poll() is None and time.monotonic() < deadline:
                workers = [p for p in _descendants(proc.pid) if _running(p)
                           and b"multiprocessing.spawn" in _cmdline(p)]
                time.sleep(0.05)
            assert workers, "no analysis worker started"
            # Killed once the worker is on the page (past its start-up's ~0.5 s of CPU):
            # an idle one would also end at end of file on its pipe.
            while _cpu_seconds(workers[0]) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            deadline = time.monotonic() + 5
            while any(map(_running, workers)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not [p for p in workers if _running(p)], "a worker outlived its run"
        finally:
            proc.kill()


# --- the daemon --------------------------------------------------------------------------




@pytest.mark.slow
def test_the_daemon_records_a_hostile_page_as_failing_then_recovered(raw_server,
                                                                      write_config, tmp_path):
    pages = {**good_pages(10), "/deep-nest": DEEP_NEST}
    site = Site(raw_server, pages)
    config = write_config(site.watches(interval="1s"), failure_threshold=2, jitter=0)
    alert_log = tmp_path / "alerts.jsonl"
    daemon_log = tmp_path / "daemon.log"

    def alerts(event: str) -> list[dict[str, object]]:
        return [a for a in read_alerts(alert_log) if a["event"] == event]

    with daemon_log.open("ab") as log_file, subprocess.Popen(
            [*scrape_command(), "run", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=log_file) as proc:
        try:
            wait_for(lambda: alerts("fetch.failed"))
            assert [(a["watch"], a["error"], a["failures"]) for a in alerts("fetch.failed")] \
                == [("deep-nest", NESTED_REASON, 2)]
            assert sorted(a["watch"] for a in alerts("page.new")) == sorted(
                f"good-{i:02d}" for i in range(10))
            status = run_scrape("status", "--config", str(config), "--json")
            nest = next(r for r in json.loads(status.stdout) if r["name"] == "deep-nest")
            assert nest["consecutive_failures"] >= 2 and nest["last_error"] == NESTED_REASON
            assert nest["last_checked_at"] is not None

            pages["/deep-nest"] = article_html("Shallow again", ["An article again."])
            wait_for(lambda: alerts("fetch.recovered"))
            assert [a["watch"] for a in alerts("fetch.recovered")] == ["deep-nest"]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
        finally:
            proc.kill()
    assert not log_events(daemon_log, "check.crashed")
    failed = [e for e in log_events(daemon_log, "check.done") if e["status"] == "failed"]
    assert failed and all(e["watch"] == "deep-nest" and e["error"] == NESTED_REASON
                          for e in failed)


async def test_in_the_daemon_an_exception_anywhere_in_a_check_is_its_failure(
        raw_server, write_config, monkeypatch, tmp_path):
    patch_extractor(monkeypatch)
    real = scraper.daemon.check_watch

    async def check(client, store, watch, settings, **kwargs):
        if watch.name == "escaped":  # past check_watch's own net: the daemon's last one
            raise ValueError("a bug after the check")
        return await real(client, store, watch, settings, **kwargs)

    monkeypatch.setattr(scraper.daemon, "check_watch", check)
    pages = good_pages(3)
    pages["/injected"] = article_html("Injected", [f"Text that trips the {INJECTED}."])
    pages["/escaped"] = article_html("Escaped", ["Any page at all."])
    site = Site(raw_server, pages)
    config = load_config(write_config(site.watches(interval="1s"), failure_threshold=2,
                                      jitter=0))
    alert_log = tmp_path / "alerts.jsonl"

    def failed() -> set[str]:
        return {str(a["watch"]) for a in read_alerts(alert_log) if a["event"] == "fetch.failed"}

    with capture_logs() as logs:
        task = asyncio.create_task(serve(config))
        for _ in range(400):
            if failed() == {"injected", "escaped"} or task.done():
                break
            await asyncio.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 15)
    assert failed() == {"injected", "escaped"}
    reports = {r.name: r for r in await watch_reports(config)}
    assert reports["injected"].last_error == (
        "analysis failed: RecursionError: maximum recursion depth exceeded")
    assert str(reports["escaped"].last_error).startswith(
        "check failed: ValueError: a bug after the check")
    assert reports["escaped"].consecutive_failures >= 2
    assert all(reports[f"good-{i:02d}"].consecutive_failures == 0 for i in range(3))
    crashed = {e["watch"] for e in logs if e["event"] == "check.crashed"}
    assert crashed == {"escaped"}  # a bug past check_watch still says so, and is counted
