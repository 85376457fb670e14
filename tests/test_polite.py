"""The polite fetcher against a real server on 127.0.0.1: robots.txt, host slots and pace,
Retry-After, retries with backoff, and a fetcher that survives cancelled requests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
from werkzeug import Request, Response

from scraper import polite
from scraper.config import DEFAULT_USER_AGENT, load_config
from scraper.fetch import HttpClient, make_client
from scraper.models import FetchResult, Settings, Validators, Watch
from scraper.pipeline import run_once
from scraper.polite import ROBOTS_TTL, is_transient, make_polite_fetcher, robots_token
from scraper.store import open_store
from tests.conftest import article_html, read_alerts

PAGE = article_html("Harbour bridge reopens", [
    "The harbour bridge reopened to traffic on Monday after two years of repairs.",
    "Cyclists get a separate lane on the eastern side of the deck.",
])


def make_settings(**changes: object) -> Settings:
    settings = Settings(database="", alert_log="", user_agent=DEFAULT_USER_AGENT,
                        host_delay=0.0, timeout=5.0)
    return replace(settings, **changes)  # type: ignore[arg-type]


def make_watch(url: str, name: str = "w", **changes: object) -> Watch:
    return replace(Watch(name=name, url=url, interval=60.0, timeout=5.0), **changes)  # type: ignore[arg-type]


def requested(server) -> list[str]:
    return [request.path for request, _ in server.log]


def robots(server, text: str | None, status: int = 200) -> None:
    server.expect_request("/robots.txt").respond_with_data(
        text or "", status=status, content_type="text/plain")


def page(server, path: str) -> str:
    server.expect_request(path).respond_with_data(PAGE, content_type="text/html")
    return server.url_for(path)


class Timeline:
    """A handler that records when each request entered and left, and can be slow."""

    def __init__(self, responses: list[Response] | None = None, hold: float = 0.0) -> None:
        self.responses = responses or []
        self.hold = hold
        self.spans: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        entered = time.monotonic()
        time.sleep(self.hold)
        with self.lock:
            index = len(self.spans)
            self.spans.append((entered, time.monotonic()))
        if index < len(self.responses):
            return self.responses[index]
        return Response(PAGE, content_type="text/html")

    @property
    def starts(self) -> list[float]:
        return sorted(start for start, _ in self.spans)


async def fetch_all(settings: Settings, watches: list[Watch], **options: object) -> list:
    fetcher = make_polite_fetcher(settings, **options)  # type: ignore[arg-type]
    async with make_client(settings) as client:
        return await asyncio.gather(
            *(fetcher(client, w, Validators(), settings) for w in watches))


# --- robots.txt ---------------------------------------------------------------------------


async def test_disallowed_page_is_never_requested_and_announced(server, write_config):
    robots(server, "User-agent: *\nDisallow: /private\n")
    watches = [
        {"name": "secret", "url": page(server, "/private/page")},
        {"name": "open", "url": page(server, "/public")},
    ]
    config = load_config(write_config(watches, host_delay=0))

    run = await run_once(config, fetcher=make_polite_fetcher(config.settings))

    assert {r.watch: r.status for r in run.results} == {"secret": "blocked", "open": "new"}
    assert "/private/page" not in requested(server)
    assert requested(server).count("/robots.txt") == 1  # cached for the second watch
    blocked = [a for a in read_alerts(Path(config.settings.alert_log))
               if a["event"] == "fetch.blocked"]
    assert len(blocked) == 1
    assert blocked[0]["watch"] == "secret"
    assert blocked[0]["reason"] == "robots.txt disallows /private/page for 'scraper'"


async def test_group_for_our_token_applies_and_robots_false_turns_it_off(server):
    robots(server, "User-agent: otherbot\nAllow: /\n\nUser-agent: scraper\nDisallow: /news\n")
    url = page(server, "/news")

    obeyed, ignored = await fetch_all(make_settings(), [
        make_watch(url), make_watch(url, name="no-robots", robots=False)])

    assert obeyed.outcome == "blocked" and "robots.txt disallows /news" in obeyed.error
    assert ignored.outcome == "ok"
    assert requested(server).count("/news") == 1
    assert robots_token(DEFAULT_USER_AGENT) == "scraper"


async def test_missing_robots_allows_everything(server):
    robots(server, "not found", status=404)
    [result] = await fetch_all(make_settings(), [make_watch(page(server, "/a"))])
    assert result.outcome == "ok"


async def test_empty_robots_allows_everything(server):
    robots(server, "")  # fetch_page calls an empty 200 a failure; for robots.txt it is "no rules"
    [result] = await fetch_all(make_settings(), [make_watch(page(server, "/a"))])
    assert result.outcome == "ok"


async def test_robots_5xx_with_no_copy_is_a_failed_fetch_and_the_page_is_not_asked(server):
    robots(server, "down", status=503)
    [result] = await fetch_all(make_settings(), [make_watch(page(server, "/a"))])
    assert result.outcome == "failed"  # a site in an outage is failing, not forbidding
    assert result.status == 503
    assert result.error.startswith("HTTP 503")
    assert result.error.endswith("(asking for robots.txt)")
    assert "/a" not in requested(server)


async def test_robots_429_with_no_copy_blocks_the_host(server):
    robots(server, "slow down", status=429)
    [result] = await fetch_all(make_settings(), [make_watch(page(server, "/a"))])
    assert result.outcome == "blocked"
    assert "robots.txt unavailable (HTTP 429" in result.error
    assert "/a" not in requested(server)


async def test_robots_5xx_after_a_good_copy_keeps_obeying_the_copy(server, monkeypatch):
    monkeypatch.setattr(polite, "ROBOTS_TTL", 0.0)  # every request asks for robots.txt again
    answers = [Response("User-agent: *\nDisallow: /private\n", content_type="text/plain"),
               Response("oops", status=500)]
    server.expect_request("/robots.txt").respond_with_handler(Timeline(answers))
    settings = make_settings()
    fetcher = make_polite_fetcher(settings)
    async with make_client(settings) as client:
        first = await fetcher(client, make_watch(page(server, "/public")), Validators(), settings)
        public = await fetcher(client, make_watch(server.url_for("/public")), Validators(),
                               settings)
        private = await fetcher(client, make_watch(page(server, "/private/x")), Validators(),
                                settings)
    assert first.outcome == "ok"
    assert requested(server).count("/robots.txt") >= 2  # asked again and got the 500
    assert public.outcome == "ok"  # not "disallow all": the good copy still rules
    assert private.outcome == "blocked"


async def test_crawl_delay_raises_the_host_delay(server):
    robots(server, "User-agent: *\nCrawl-delay: 0.3\n")
    timeline = Timeline()
    server.expect_request("/a").respond_with_handler(timeline)
    url = server.url_for("/a")
    await fetch_all(make_settings(per_host=4), [make_watch(url, name=n) for n in "xyz"])
    starts = timeline.starts
    assert len(starts) == 3
    assert all(b - a >= 0.28 for a, b in pairwise(starts))


async def test_file_urls_skip_robots_and_host_limits(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    calls: list[str] = []

    async def fetch(client: HttpClient, watch: Watch, validators: Validators,
                    settings: Settings) -> FetchResult:
        calls.append(watch.url)
        return FetchResult(url=watch.url, outcome="ok", status=200, text=PAGE)

    settings = make_settings(allow_file_urls=True, host_delay=5.0)
    started = time.monotonic()
    results = await fetch_all(settings, [make_watch(path.as_uri(), name=n) for n in "ab"],
                              fetch=fetch)
    assert [r.outcome for r in results] == ["ok", "ok"]
    assert calls == [path.as_uri()] * 2  # no robots.txt asked for
    assert time.monotonic() - started < 2  # and no 5 s host delay between them


# --- host slots and pace ----------------------------------------------------------------


async def test_one_slot_per_host_means_no_overlap(server):
    robots(server, None, status=404)
    timeline = Timeline(hold=0.2)
    for path in ("/a", "/b", "/c"):
        server.expect_request(path).respond_with_handler(timeline)
    watches = [make_watch(server.url_for(p), name=p) for p in ("/a", "/b", "/c")]

    await fetch_all(make_settings(per_host=1), watches)

    spans = sorted(timeline.spans)
    assert len(spans) == 3
    assert all(later[0] >= earlier[1] for earlier, later in pairwise(spans))
    assert requested(server).count("/robots.txt") == 1


async def test_more_slots_per_host_do_overlap(server):
    # The counterpart of the test above: the same requests overlap when allowed to.
    robots(server, None, status=404)
    timeline = Timeline(hold=0.3)
    for path in ("/a", "/b"):
        server.expect_request(path).respond_with_handler(timeline)
    watches = [make_watch(server.url_for(p), name=p) for p in ("/a", "/b")]
    await fetch_all(make_settings(per_host=2), watches)
    (first, second) = sorted(timeline.spans)
    assert second[0] < first[1]


async def test_host_delay_spaces_request_starts(server):
    robots(server, None, status=404)
    timeline = Timeline()
    server.expect_request("/a").respond_with_handler(timeline)
    url = server.url_for("/a")
    await fetch_all(make_settings(per_host=3, host_delay=0.3),
                    [make_watch(url, name=n) for n in "xyz"])
    starts = timeline.starts
    assert len(starts) == 3
    assert all(b - a >= 0.28 for a, b in pairwise(starts))


# --- Retry-After and retries ------------------------------------------------------------


async def test_retry_after_delays_the_retry(server):
    robots(server, None, status=404)
    timeline = Timeline([Response("slow down", status=429, headers={"Retry-After": "1"})])
    server.expect_request("/a").respond_with_handler(timeline)
    [result] = await fetch_all(make_settings(), [make_watch(server.url_for("/a"))],
                               backoff=0.01)
    assert result.outcome == "ok"
    first, second = timeline.starts
    assert second - first >= 0.95


async def test_long_retry_after_gives_up_and_holds_the_host(server):
    robots(server, None, status=404)
    timeline = Timeline([Response("later", status=503, headers={"Retry-After": "3600"})])
    server.expect_request("/a").respond_with_handler(timeline)
    settings = make_settings()
    fetcher = make_polite_fetcher(settings, backoff=0.01)
    async with make_client(settings) as client:
        first = await fetcher(client, make_watch(server.url_for("/a")), Validators(), settings)
        second = await fetcher(client, make_watch(server.url_for("/a")), Validators(),
                               settings)
    assert first.status == 503 and first.retry_after == 3600
    assert second.outcome == "failed" and "Retry-After" in (second.error or "")
    assert len(timeline.spans) == 1  # neither retried nor asked again


async def test_404_is_not_retried(server):
    robots(server, None, status=404)
    timeline = Timeline([Response("gone", status=404)] * 3)
    server.expect_request("/a").respond_with_handler(timeline)
    [result] = await fetch_all(make_settings(), [make_watch(server.url_for("/a"))],
                               backoff=0.01)
    assert result.outcome == "failed" and result.status == 404
    assert len(timeline.spans) == 1


async def test_500_is_retried_with_backoff(server):
    robots(server, None, status=404)
    timeline = Timeline([Response("oops", status=500), Response("oops", status=502)])
    server.expect_request("/a").respond_with_handler(timeline)
    [result] = await fetch_all(make_settings(), [make_watch(server.url_for("/a"))],
                               backoff=0.2)
    assert result.outcome == "ok"
    one, two, three = timeline.starts
    assert two - one >= 0.1  # half of the first step, at least
    assert three - two >= 0.2  # the second step is twice as long


async def test_retries_are_bounded(server):
    robots(server, None, status=404)
    timeline = Timeline([Response("oops", status=500)] * 10)
    server.expect_request("/a").respond_with_handler(timeline)
    [result] = await fetch_all(make_settings(), [make_watch(server.url_for("/a"))],
                               backoff=0.01, retries=2)
    assert result.status == 500
    assert len(timeline.spans) == 3


async def test_connect_errors_are_retried_with_growing_waits():
    calls: list[str] = []
    pauses: list[float] = []

    async def fetch(client: HttpClient, watch: Watch, validators: Validators,
                    settings: Settings) -> FetchResult:
        calls.append(watch.url)
        if watch.url.endswith("/robots.txt"):
            return FetchResult(url=watch.url, outcome="failed", status=404, error="HTTP 404")
        return FetchResult(url=watch.url, outcome="failed", unreachable=True,
                           error="connection refused (example.test:80)")

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    settings = make_settings()
    fetcher = make_polite_fetcher(settings, retries=2, backoff=1.0, fetch=fetch, sleep=sleep)
    result = await fetcher(None, make_watch("http://example.test/a"), Validators(), settings)  # type: ignore[arg-type]
    assert result.error == "connection refused (example.test:80)"
    assert calls.count("http://example.test/a") == 3
    assert 0.5 <= pauses[0] <= 1.0 and 1.0 <= pauses[1] <= 2.0


@pytest.mark.parametrize(("result", "expected"), [
    (FetchResult(url="u", outcome="failed", error="timed out after 5 s"), True),
    (FetchResult(url="u", outcome="failed", error="connection refused (e.org:80)"), True),
    (FetchResult(url="u", outcome="failed", error="name not resolved (e.invalid)"), True),
    (FetchResult(url="u", outcome="failed", error="connection reset mid-body"), True),
    (FetchResult(url="u", outcome="failed", status=500, error="HTTP 500"), True),
    (FetchResult(url="u", outcome="failed", status=503, error="HTTP 503"), True),
    (FetchResult(url="u", outcome="failed", status=404, error="HTTP 404"), False),
    (FetchResult(url="u", outcome="failed", status=429, error="HTTP 429"), False),
    (FetchResult(url="u", outcome="failed", status=429, error="HTTP 429", retry_after=2), True),
    (FetchResult(url="u", outcome="failed", error="refused redirect to a file: URL"), False),
    (FetchResult(url="u", outcome="failed", error="invalid URL: Invalid non-printable ASCII "
                 "character in URL"), False),
    (FetchResult(url="u", outcome="failed", status=200, error="empty response body"), False),
    (FetchResult(url="u", outcome="blocked", error="robots.txt disallows /"), False),
    (FetchResult(url="u", outcome="ok", status=200), False),
])
def test_what_is_transient(result: FetchResult, expected: bool):
    assert is_transient(result) is expected


# --- cancellation -----------------------------------------------------------------------


async def test_fetcher_works_after_cancelled_requests(server):
    # One connection, one host slot, one global slot: anything a cancelled request kept
    # (a pool connection, a semaphore) would make the next fetch hang until its deadline.
    robots(server, None, status=404)
    release = threading.Event()
    entered = threading.Event()

    def stuck(request: Request) -> Response:
        entered.set()
        release.wait(10)
        return Response(PAGE, content_type="text/html")

    server.expect_request("/stuck").respond_with_handler(stuck)
    fast = page(server, "/fast")
    settings = make_settings(concurrency=1, per_host=1)
    fetcher = make_polite_fetcher(settings)
    try:
        async with make_client(settings) as client:
            slow_task = asyncio.create_task(
                fetcher(client, make_watch(server.url_for("/stuck")), Validators(), settings))
            waiting = asyncio.create_task(  # queued behind it, for the host slot
                fetcher(client, make_watch(fast, name="queued"), Validators(), settings))
            await asyncio.to_thread(entered.wait, 5)
            slow_task.cancel()
            waiting.cancel()
            await asyncio.gather(slow_task, waiting, return_exceptions=True)
            assert slow_task.cancelled() and waiting.cancelled()

            async with asyncio.timeout(3):  # a leaked slot would wait forever
                result = await fetcher(client, make_watch(fast, timeout=2.0), Validators(),
                                       settings)
            assert result.outcome == "ok"
    finally:
        release.set()


async def test_robots_txt_is_remembered_across_runs(server, write_config):
    # A --once run every few minutes must not ask every site for robots.txt each time.
    server.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /private\n", content_type="text/plain")
    server.expect_request("/news").respond_with_data(
        "<article><h1>Quay</h1><p>Text of the story, long enough.</p></article>",
        content_type="text/html")
    config = load_config(write_config([
        {"name": "news", "url": server.url_for("/news")},
        {"name": "private", "url": server.url_for("/private")},
    ]))
    first = await run_once(config)
    second = await run_once(config)
    robots_requests = [r for r, _ in server.log if r.path == "/robots.txt"]
    assert len(robots_requests) == 1
    assert [r.status for r in second.results] == ["unchanged", "blocked"]
    assert [r.status for r in first.results] == ["new", "blocked"]
    async with open_store(config.settings.database) as store:
        origin = server.url_for("/").rstrip("/").lower()
        stored = await store.load(origin)
        assert stored is not None and "Disallow: /private" in (stored[1] or "")
        await store.save(origin, stored[0] - ROBOTS_TTL - 1, stored[1])  # now stale
    await run_once(config)
    assert len([r for r, _ in server.log if r.path == "/robots.txt"]) == 2


# --- a site that cannot be reached, and outages of robots.txt ------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once it is closed


async def test_unreachable_site_is_a_failed_fetch_with_its_cause_not_blocked():
    port = free_port()
    settings = make_settings()
    [result] = await fetch_all(settings, [make_watch(f"http://127.0.0.1:{port}/news")])
    assert result.outcome == "failed" and result.unreachable
    assert result.error == f"connection refused (127.0.0.1:{port}) (asking for robots.txt)"
    assert is_transient(result)  # retried like any page that cannot be reached


async def test_no_answer_is_shared_with_waiting_checks_and_asked_again_later():
    robots_calls: list[float] = []

    async def fetch(client: HttpClient, watch: Watch, validators: Validators,
                    settings: Settings) -> FetchResult:
        if watch.url.endswith("/robots.txt"):
            robots_calls.append(time.monotonic())
            await asyncio.sleep(0.05)  # the other checks queue behind this one
            return FetchResult(url=watch.url, outcome="failed", unreachable=True,
                               error="connection refused (example.test:80)")
        raise AssertionError("the page must not be asked for")

    settings = make_settings()
    fetcher = make_polite_fetcher(settings, retries=0, fetch=fetch)
    watches = [make_watch(f"http://example.test/{n}", name=n) for n in "abc"]
    together = await asyncio.gather(*(fetcher(None, w, Validators(), settings)  # type: ignore[arg-type]
                                      for w in watches))
    assert len(robots_calls) == 1
    assert {r.outcome for r in together} == {"failed"}
    later = await fetcher(None, watches[0], Validators(), settings)  # type: ignore[arg-type]
    assert later.outcome == "failed" and len(robots_calls) == 2  # not cached for later


async def test_robots_5xx_after_no_robots_txt_keeps_fetching_the_page(server, monkeypatch):
    # A site that has no robots.txt and then fails as a whole (500 everywhere): the page's
    # own failure, not "blocked".
    monkeypatch.setattr(polite, "ROBOTS_TTL", 0.0)
    server.expect_request("/robots.txt").respond_with_handler(
        Timeline([Response("no", status=404), Response("oops", status=500)]))
    server.expect_request("/a").respond_with_handler(
        Timeline([Response(PAGE, content_type="text/html"), Response("oops", status=500)]))
    settings = make_settings()
    fetcher = make_polite_fetcher(settings, retries=0)
    async with make_client(settings) as client:
        first = await fetcher(client, make_watch(server.url_for("/a")), Validators(), settings)
        second = await fetcher(client, make_watch(server.url_for("/a")), Validators(), settings)
    assert first.outcome == "ok"
    assert second.outcome == "failed" and second.status == 500
    assert requested(server) == ["/robots.txt", "/a", "/robots.txt", "/a"]


async def test_a_stored_copy_of_any_age_is_obeyed_while_robots_txt_fails(server,
                                                                         write_config):
    # --once runs are one process each: an hour after the last good robots.txt, a 5xx
    # outage of the whole site is still the page's failure, counted, then announced.
    server.expect_request("/robots.txt").respond_with_data("oops", status=503)
    server.expect_request("/private").respond_with_data(PAGE, content_type="text/html")
    server.expect_request("/news").respond_with_data("oops", status=503)
    config = load_config(write_config([
        {"name": "news", "url": server.url_for("/news")},
        {"name": "private", "url": server.url_for("/private")},
    ], failure_threshold=2))
    origin = server.url_for("/").rstrip("/").lower()
    async with open_store(config.settings.database) as store:
        # Two hours old: written when the store closes.
        await store.save(origin, time.time() - 2 * ROBOTS_TTL,
                         "User-agent: *\nDisallow: /private\n")
    runs = [await run_once(config) for _ in range(2)]
    assert [[r.status for r in run.results] for run in runs] == [["failed", "blocked"]] * 2
    assert runs[1].results[0].error == "HTTP 503 SERVICE UNAVAILABLE"
    assert "/private" not in requested(server)  # the old copy still forbids it
    failed = [a for a in read_alerts(Path(config.settings.alert_log))
              if a["event"] == "fetch.failed"]
    assert [(a["watch"], a["failures"]) for a in failed] == [("news", 2)]


async def test_the_12_hour_limit_is_kept_in_the_database(server, write_config):
    server.expect_request("/robots.txt").respond_with_data("oops", status=503)
    server.expect_request("/news").respond_with_data(PAGE, content_type="text/html")
    config = load_config(write_config([{"name": "news", "url": server.url_for("/news")}]))
    origin = server.url_for("/").rstrip("/").lower()
    first = await run_once(config)
    assert first.results[0].status == "failed"  # a site in an outage: not asked, failing
    async with open_store(config.settings.database) as store:
        since = await store.outage(origin)
        assert since is not None and abs(since - time.time()) < 60
    second = await run_once(config)  # another process: the outage began with the first
    assert second.results[0].status == "failed"
    async with open_store(config.settings.database) as store:
        assert await store.outage(origin) == since
        await store.save_outage(origin, since - polite.ROBOTS_UNREACHABLE_LIMIT)  # at close
    third = await run_once(config)  # 12 h later: as if there were no robots.txt
    assert third.results[0].status == "new"
    assert requested(server).count("/news") == 1
