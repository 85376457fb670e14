"""End to end: a real HTTP server on 127.0.0.1, pages that change between runs, the
alert log parsed back line by line."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

from werkzeug import Request, Response

from scraper.config import load_config
from scraper.pipeline import run_once
from scraper.store import open_store
from tests.conftest import article_html, read_alerts

PARAS = [
    "The county council approved the new cycle lanes on Tuesday after a long debate.",
    "Work on the first section along the river road is due to start in March.",
    "Residents near the school asked for a crossing and the council agreed to study it.",
]


class Page:
    """A page whose content tests change between runs; honours ETag / Last-Modified."""

    def __init__(self, html: str, *, etag: bool = False, last_modified: bool = False) -> None:
        self.html = html
        self.etag = etag
        self.last_modified = last_modified
        self.version = 1
        self.requests: list[Request] = []

    def set(self, html: str) -> None:
        self.html = html
        self.version += 1

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        tag = f'"v{self.version}"'
        stamp = f"Wed, 0{self.version} Jan 2025 10:00:00 GMT"
        if self.etag and request.headers.get("If-None-Match") == tag:
            return Response(status=304, headers={"ETag": tag})
        if self.last_modified and request.headers.get("If-Modified-Since") == stamp:
            return Response(status=304, headers={"Last-Modified": stamp})
        headers = {}
        if self.etag:
            headers["ETag"] = tag
        if self.last_modified:
            headers["Last-Modified"] = stamp
        return Response(self.html, content_type="text/html; charset=utf-8", headers=headers)


def config_for(write_config, server, pages: dict[str, Page], **settings):
    for name, page in pages.items():
        server.expect_request(f"/{name}").respond_with_handler(page)
    watches = [{"name": name, "url": server.url_for(f"/{name}")} for name in pages]
    return load_config(write_config(watches, **settings))


async def test_new_then_unchanged_then_changed_paragraph(server, write_config, tmp_path):
    page = Page(article_html("Cycle lanes approved", PARAS))
    config = config_for(write_config, server, {"cycle": page})
    log = Path(config.settings.alert_log)

    first = await run_once(config)
    assert [r.status for r in first.results] == ["new"]
    alerts = read_alerts(log)
    assert [a["event"] for a in alerts] == ["page.new"]
    assert alerts[0]["watch"] == "cycle" and alerts[0]["url"] == config.watches[0].url
    assert alerts[0]["ts"].endswith("Z")

    second = await run_once(config)
    assert [r.status for r in second.results] == ["unchanged"]
    assert len(read_alerts(log)) == 1  # nothing changed, nothing announced

    edited = [*PARAS[:1], "Work on the first section is now due to start in May.", PARAS[2]]
    page.set(article_html("Cycle lanes approved", edited))
    third = await run_once(config)
    assert [r.status for r in third.results] == ["changed"]
    alerts = read_alerts(log)
    # An article page holds one story: the edit is announced as a change of that story.
    assert [a["event"] for a in alerts] == ["page.new", "story.changed"]
    change = alerts[1]
    assert change["story_id"] == alerts[0]["stories"][0]["story_id"]
    assert change["title"] == "Cycle lanes approved"
    assert (change["added"], change["removed"], change["changed"]) == (0, 0, 1)
    assert "-Work on the first section along the river road" in change["diff"]
    assert "+Work on the first section is now due to start in May." in change["diff"]
    assert len({a["alert_id"] for a in alerts}) == 2


async def test_whitespace_only_change_is_not_announced(server, write_config):
    page = Page(article_html("Cycle lanes approved", PARAS))
    config = config_for(write_config, server, {"cycle": page})
    await run_once(config)
    spaced = [p.replace(" ", "  \n ") for p in PARAS]
    page.set(article_html("Cycle lanes approved", spaced))
    run = await run_once(config)
    assert [r.status for r in run.results] == ["unchanged"]
    assert [a["event"] for a in read_alerts(Path(config.settings.alert_log))] == ["page.new"]


async def test_etag_sent_back_and_304_is_unchanged(server, write_config):
    page = Page(article_html("Cycle lanes approved", PARAS), etag=True)
    config = config_for(write_config, server, {"cycle": page})
    await run_once(config)
    run = await run_once(config)
    assert page.requests[0].headers.get("If-None-Match") is None
    assert page.requests[1].headers.get("If-None-Match") == '"v1"'
    assert [r.status for r in run.results] == ["unchanged"]
    async with open_store(config.settings.database) as store:
        watch_id = await store.watch_id("cycle")
        assert watch_id is not None
        fetches = await store.fetches(watch_id)
        assert [f.outcome for f in fetches] == ["not_modified", "ok"]
        assert fetches[0].status == 304
        assert len(await store.snapshots(watch_id)) == 1


async def test_last_modified_sent_back(server, write_config):
    page = Page(article_html("Cycle lanes approved", PARAS), last_modified=True)
    config = config_for(write_config, server, {"cycle": page})
    await run_once(config)
    await run_once(config)
    assert page.requests[1].headers.get("If-Modified-Since") == "Wed, 01 Jan 2025 10:00:00 GMT"
    page.set(article_html("Cycle lanes approved", PARAS[:2]))
    run = await run_once(config)
    assert [r.status for r in run.results] == ["changed"]


async def test_failures_alert_only_at_threshold_then_recovered(server, write_config):
    state = {"fail": True}
    html = article_html("Cycle lanes approved", PARAS)

    def handler(request: Request) -> Response:
        if state["fail"]:
            return Response("oops", status=500)
        return Response(html, content_type="text/html")

    server.expect_request("/flaky").respond_with_handler(handler)
    config = load_config(write_config(
        [{"name": "flaky", "url": server.url_for("/flaky")}], failure_threshold=3))
    log = Path(config.settings.alert_log)
    for expected in ([], [], ["fetch.failed"], ["fetch.failed"]):
        run = await run_once(config)
        assert run.results[0].status == "failed"
        assert "HTTP 500" in (run.results[0].error or "")
        assert [a["event"] for a in read_alerts(log)] == expected
    failed = read_alerts(log)[0]
    assert failed["failures"] == 3 and failed["status"] == 500
    state["fail"] = False
    run = await run_once(config)
    assert run.results[0].status == "new"
    events = [a["event"] for a in read_alerts(log)]
    assert events == ["fetch.failed", "fetch.recovered", "page.new"]
    assert read_alerts(log)[1]["failures"] == 4


async def test_timeout_is_a_total_deadline(server, write_config):
    def slow(request: Request) -> Response:
        time.sleep(3)
        return Response("<p>late</p>", content_type="text/html")

    server.expect_request("/slow").respond_with_handler(slow)
    server.expect_request("/fast").respond_with_data(
        article_html("Fast", PARAS), content_type="text/html")
    config = load_config(write_config([
        {"name": "slow", "url": server.url_for("/slow"), "timeout": "500ms"},
        {"name": "fast", "url": server.url_for("/fast")},
    ]))
    started = time.perf_counter()
    run = await run_once(config)
    elapsed = time.perf_counter() - started
    statuses = {r.watch: r for r in run.results}
    assert statuses["slow"].status == "failed"
    assert statuses["slow"].error == "timed out after 0.5 s"
    assert statuses["fast"].status == "new"  # one slow server does not hold the run
    assert elapsed < 2.5


async def test_oversized_body_refused_plain_and_gzip(server, write_config):
    big = "<p>" + "x" * 5000 + "</p>"
    bomb = gzip.compress(b"<p>" + b"a" * 2_000_000 + b"</p>")
    server.expect_request("/big").respond_with_data(big, content_type="text/html")
    server.expect_request("/bomb").respond_with_data(
        bomb, content_type="text/html", headers={"Content-Encoding": "gzip"})
    config = load_config(write_config([
        {"name": "big", "url": server.url_for("/big")},
        {"name": "bomb", "url": server.url_for("/bomb")},
    ], max_body=4000))
    run = await run_once(config)
    for result in run.results:
        assert result.status == "failed"
        assert "cap" in (result.error or "")
    assert len(bomb) < 4000  # the cap holds on the decoded size, not the wire size


async def test_gzip_page_is_decoded(server, write_config):
    html = article_html("Cycle lanes approved", PARAS).encode()
    server.expect_request("/gz").respond_with_data(
        gzip.compress(html), content_type="text/html",
        headers={"Content-Encoding": "gzip"})
    config = load_config(write_config([{"name": "gz", "url": server.url_for("/gz")}]))
    run = await run_once(config)
    assert run.results[0].status == "new"
    assert server.log[0][0].headers["Accept-Encoding"] == "gzip, deflate"


async def test_configured_headers_are_sent(server, write_config):
    server.expect_request("/h", headers={"Accept-Language": "ga"}).respond_with_data(
        article_html("T", PARAS), content_type="text/html")
    config = load_config(write_config([{
        "name": "h", "url": server.url_for("/h"), "headers": {"Accept-Language": "ga"}}]))
    run = await run_once(config)
    assert run.results[0].status == "new"
    assert server.log[0][0].headers["User-Agent"].startswith("scraper/")


async def test_file_urls_only_when_allowed(tmp_path, write_config):
    page = tmp_path / "page.html"
    page.write_text(article_html("Local", PARAS), encoding="utf-8")
    config = load_config(write_config(
        [{"name": "local", "url": page.as_uri()}], allow_file_urls=True))
    run = await run_once(config)
    assert run.results[0].status == "new"


async def test_redirect_to_file_url_is_refused(server, write_config, tmp_path):
    secret = tmp_path / "secret.html"
    secret.write_text("<p>secret</p>")
    server.expect_request("/r").respond_with_data(
        "", status=302, headers={"Location": secret.as_uri()})
    config = load_config(write_config(
        [{"name": "r", "url": server.url_for("/r")}], allow_file_urls=True))
    run = await run_once(config)
    assert run.results[0].status == "failed"
    assert "refused redirect" in (run.results[0].error or "")


async def test_retention_keeps_last_n_snapshots(server, write_config):
    page = Page(article_html("v0", PARAS))
    config = config_for(write_config, server, {"p": page}, keep_snapshots=2)
    for version in range(1, 5):
        await run_once(config)
        page.set(article_html(f"v{version}", PARAS))
    async with open_store(config.settings.database) as store:
        watch_id = await store.watch_id("p")
        assert watch_id is not None
        snapshots = await store.snapshots(watch_id)
        assert len(snapshots) == 2
        for snap in snapshots:
            blocks = await store.blocks(snap)
            assert blocks  # contents of kept snapshots survive the pruning
        assert len(await store.fetches(watch_id)) == 4
        assert await store.integrity_check() == "ok"


async def test_same_bytes_without_validators_are_not_parsed_again(server, write_config,
                                                                  monkeypatch):
    from scraper import analyse

    page = Page(article_html("Cycle lanes approved", PARAS))  # no ETag, no Last-Modified
    config = config_for(write_config, server, {"cycle": page})
    await run_once(config)
    calls: list[str] = []
    real = analyse.Analyser.analyse

    async def counting(self, html, *args):
        calls.append(html)
        return await real(self, html, *args)

    monkeypatch.setattr(analyse.Analyser, "analyse", counting)
    same = await run_once(config)
    page.set(article_html("Cycle lanes approved", [*PARAS, "A fourth paragraph."]))
    edited = await run_once(config)
    assert [r.status for r in same.results] == ["unchanged"]
    assert [r.status for r in edited.results] == ["changed"]
    assert len(calls) == 1 and "A fourth paragraph." in calls[0]  # only the new bytes
    async with open_store(config.settings.database) as store:
        watch_id = await store.watch_id("cycle")
        assert watch_id is not None
        assert [f.outcome for f in await store.fetches(watch_id)] == ["ok"] * 3
        assert len(await store.snapshots(watch_id)) == 2


async def test_the_worker_process_stores_what_this_process_stores(
        server, write_config, tmp_path, monkeypatch):
    # Large runs parse in a worker process: the same pages must give the same stored
    # bodies, story texts and statuses as a small run parsed in this process.
    import os
    import sqlite3

    import pytest

    from scraper import analyse

    if (os.cpu_count() or 1) < 2:
        pytest.skip("the worker process is used only with a second core")
    pages = {
        "one": Page(article_html("Cycle lanes approved", PARAS)),
        "two": Page(article_html("Ferry timetable", [p.replace("council", "ferry company")
                                                     for p in PARAS])),
    }
    for name, page in pages.items():
        server.expect_request(f"/{name}").respond_with_handler(page)
    watches = [{"name": name, "url": server.url_for(f"/{name}")} for name in pages]

    def stored(db: Path) -> tuple[list[tuple[str, int]], list[tuple[int, str]]]:
        with sqlite3.connect(db) as conn:
            contents = conn.execute("SELECT hash, size FROM contents ORDER BY hash").fetchall()
            texts = conn.execute("SELECT position, text_hash FROM snapshot_stories "
                                 "ORDER BY text_hash").fetchall()
        return contents, texts

    made: list[bool] = []
    for_run = analyse.Analyser.for_run.__func__

    def spy(cls, watches):
        analyser = for_run(cls, watches)
        made.append(analyser.parallel)
        return analyser

    monkeypatch.setattr(analyse.Analyser, "for_run", classmethod(spy))
    results = []
    for parallel_from in (10**6, 1):  # in this process, then in the worker
        monkeypatch.setattr(analyse, "PARALLEL_FROM", parallel_from)
        db = tmp_path / f"from-{parallel_from}.db"
        config = load_config(write_config(watches, database=str(db),
                                          alert_log=str(tmp_path / f"{parallel_from}.jsonl")))
        first = await run_once(config)
        pages["one"].set(article_html("Cycle lanes approved", [*PARAS, "Work starts soon."]))
        second = await run_once(config)
        pages["one"].set(article_html("Cycle lanes approved", PARAS))
        results.append(([r.status for r in first.results + second.results], stored(db)))
    assert made == [False, False, True, True]
    (inline_status, inline_stored), (worker_status, worker_stored) = results
    assert inline_status == worker_status == ["new", "new", "changed", "unchanged"]
    assert inline_stored == worker_stored
    assert len(inline_stored[0]) == 2 * 2 + 1 * 2 + 3  # pages and blocks; story texts
