"""Following a site end to end: a real HTTP server on 127.0.0.1 serving a section front
and an RSS feed of the same site, changed between runs; the alert log read back."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from werkzeug import Request, Response

from scraper.config import load_config
from scraper.models import Config
from scraper.pipeline import run_once
from tests.conftest import article_html, read_alerts

DAY = 86400


class Site:
    """A news site: articles by slug; a front and a feed listing some of them."""

    def __init__(self) -> None:
        self.articles: dict[str, tuple[str, list[str]]] = {}
        self.on_front: list[str] = []
        self.in_feed: list[str] = []
        self.feed_body: bytes | None = None  # served as the feed instead, when set
        self.feed_type = "application/rss+xml"
        self.requests: list[str] = []

    def add(self, slug: str, title: str, *, front: bool = True, feed: bool = True) -> None:
        self.articles[slug] = (title, [
            f"{title}: the first paragraph says what happened, and to whom, at length.",
            f"The second paragraph of {slug} adds the context a reader needs to follow it.",
            "A third paragraph quotes a witness who saw it all from the harbour wall.",
        ])
        if front:
            self.on_front.insert(0, slug)
        if feed:
            self.in_feed.insert(0, slug)

    def front(self) -> str:
        teasers = "".join(
            f"<div class='teaser'><h3><a href='/world/2026/12/01/{slug}.html?ref=front'>"
            f"{self.articles[slug][0]}</a></h3><p>A teaser line about it.</p></div>"
            for slug in self.on_front)
        return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>World</title>"
                "</head><body><nav><a href='/'>Home</a> <a href='/world/'>World</a> "
                "<a href='/tag/ships/'>Ships</a></nav>"
                f"<main><h1>World</h1><section class='teasers'>{teasers}</section></main>"
                "</body></html>")

    def feed(self) -> bytes:
        items = "".join(
            f"<item><title>{self.articles[slug][0]}</title>"
            f"<link>http://HOST/world/2026/12/01/{slug}.html?utm_source=rss&amp;utm_medium=feed"
            f"</link><guid>{slug}</guid></item>"
            for slug in self.in_feed)
        return ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
                f"<title>World</title><link>http://HOST/world/</link>{items}</channel></rss>"
                ).encode()

    def __call__(self, request: Request) -> Response:
        self.requests.append(request.path)
        host = request.host
        if request.path == "/world/":
            return Response(self.front(), content_type="text/html; charset=utf-8")
        if request.path == "/world/feed.xml":
            body = self.feed_body if self.feed_body is not None else self.feed()
            return Response(body.replace(b"HOST", host.encode()), content_type=self.feed_type)
        found = re.fullmatch(r"/world/2026/12/01/(.+)\.html", request.path)
        if found and found.group(1) in self.articles:
            title, paragraphs = self.articles[found.group(1)]
            return Response(article_html(title, paragraphs),
                            content_type="text/html; charset=utf-8")
        return Response("not found", status=404)


@pytest.fixture
def site(server):
    site = Site()
    server.expect_request(re.compile(r"/.*")).respond_with_handler(site)
    return site


def _config(write_config, server, **both: object) -> Config:
    # ``both``: keys of the two parents alike, since which of them finds an article
    # shared by the front and the feed first is a race of the run's concurrent checks.
    watches = [
        {"name": "front", "url": server.url_for("/world/"), "follow": True,
         "follow_match": [r"/world/\d{4}/\d{2}/\d{2}/"], **both},
        {"name": "feed", "url": server.url_for("/world/feed.xml"), "follow": True, **both},
    ]
    return load_config(write_config(watches))


def _events(config: Config, event: str) -> list[dict[str, object]]:
    return [a for a in read_alerts(Path(config.settings.alert_log)) if a["event"] == event]


def _db(config: Config) -> sqlite3.Connection:
    return sqlite3.connect(config.settings.database)


def _age(config: Config, seconds: float, name: str | None = None) -> None:
    """Move the followed articles' found and last-checked times ``seconds`` back: the
    store's clock, not a sleep."""
    with _db(config) as db:
        where, args = ("WHERE name = ?", (name,)) if name else ("", ())
        for column, table in (("found_at", "followed"), ("last_checked_at", "watches")):
            db.execute(
                f"UPDATE {table} SET {column} = strftime('%Y-%m-%dT%H:%M:%fZ', {column}, "
                f"'-{int(seconds)} seconds') {where}", args)


def _followed(config: Config) -> dict[str, tuple[str, str, str | None]]:
    with _db(config) as db:
        rows = db.execute("SELECT url, parent, name, retired_at FROM followed").fetchall()
    return {url: (parent, name, retired) for url, parent, name, retired in rows}


async def test_articles_found_once_across_front_and_feed(write_config, server, site):
    site.add("storm-closes-railway", "Storm closes the coastal railway")
    site.add("ferry-strike", "Ferry crews vote to strike")
    site.add("glacier-melt", "Glacier retreats twice as fast", front=False)
    config = _config(write_config, server)
    first = await run_once(config)

    found = _events(config, "article.found")
    urls = sorted(str(a["url"]) for a in found)
    assert urls == sorted(server.url_for(f"/world/2026/12/01/{s}.html")
                          for s in site.articles)  # tracking parameters and ?ref= gone
    assert {a["title"] for a in found} == {t for t, _ in site.articles.values()}
    # Each article became its own watch, checked in the same run, named after its parent.
    children = {r.watch for r in first.results} - {"front", "feed"}
    assert children == {str(a["name"]) for a in found}
    assert all(name.startswith(("front/", "feed/")) for name in children)
    assert {r.status for r in first.results if r.watch in children} == {"new"}

    site.add("harbour-fire", "Fire on the harbour front")  # on the front and the feed
    await run_once(config)
    again = _events(config, "article.found")
    assert len(again) == 4 and len({a["url"] for a in again}) == 4
    assert str(again[-1]["url"]).endswith("/harbour-fire.html")


async def test_edited_and_retitled_article_is_story_changed(write_config, server, site):
    site.add("storm-closes-railway", "Storm closes the coastal railway")
    config = _config(write_config, server, interval="10m")
    await run_once(config)
    (name,) = {n for _, n, _ in _followed(config).values()}

    title, paragraphs = site.articles["storm-closes-railway"]
    site.articles["storm-closes-railway"] = (title, [
        paragraphs[0], paragraphs[1] + " Engineers expect repairs to take a week.",
        paragraphs[2]])
    await run_once(config)  # not due yet: checked one interval after its last check
    assert _events(config, "story.changed") == []
    _age(config, 11 * 60)
    await run_once(config)
    (edit,) = _events(config, "story.changed")
    assert edit["watch"] == name and "repairs to take a week" in str(edit["diff"])

    site.articles["storm-closes-railway"] = ("Storm shuts railway for a week",
                                             site.articles["storm-closes-railway"][1])
    _age(config, 11 * 60)
    await run_once(config)
    retitled = _events(config, "story.changed")[-1]
    assert retitled["title"] == "Storm shuts railway for a week"
    assert "# Storm shuts railway for a week" in str(retitled["diff"])
    assert len(_events(config, "article.found")) == 1  # a new headline is not a new article


async def test_dropped_article_tracked_until_follow_for(write_config, server, site):
    site.add("ferry-strike", "Ferry crews vote to strike")
    config = _config(write_config, server, interval="10m", follow_for="1d")
    await run_once(config)
    site.on_front.clear()
    site.in_feed.clear()
    _age(config, 12 * 3600)  # half a day: off the front, still followed
    site.requests.clear()
    await run_once(config)
    assert "/world/2026/12/01/ferry-strike.html" in site.requests
    (_, _, retired), = _followed(config).values()
    assert retired is None

    _age(config, 13 * 3600)  # past follow_for: retired, no longer fetched, history kept
    site.requests.clear()
    result = await run_once(config)
    assert "/world/2026/12/01/ferry-strike.html" not in site.requests
    assert {r.watch for r in result.results} == {"front", "feed"}
    (_, _, retired), = _followed(config).values()
    assert retired is not None
    with _db(config) as db:
        assert db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] >= 2


async def test_follow_max_caps_what_one_watch_adds(write_config, server, site):
    for n in range(5):
        site.add(f"story-{n}", f"Story number {n} of the day", feed=False)
    config = _config(write_config, server, follow_max=2)
    await run_once(config)
    assert len(_events(config, "article.found")) == 2
    await run_once(config)  # still at the cap: nothing more
    assert len(_events(config, "article.found")) == 2
    assert {p for p, _, _ in _followed(config).values()} == {"front"}


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"<?xml version='1.0'?><rss version='2.0'><channel><title>World</title><item><ti",
     "application/rss+xml", "cannot read the feed"),
    (b"<!DOCTYPE html><html><body><h1>Gateway error</h1></body></html>", "text/html",
     "cannot read the feed"),
    (b"<?xml version='1.0'?><rss version='2.0'><channel><title>World</title>"
     + b"<item><title>x</title><description>" + b"y" * 10_500_000 + b"</description></item>"
     + b"</channel></rss>", "application/rss+xml", "cannot read the feed"),
])
async def test_broken_feed_is_a_failed_fetch_and_keeps_what_was_followed(
    write_config, server, site, body, content_type, reason
):
    site.add("ferry-strike", "Ferry crews vote to strike", front=False)
    config = load_config(write_config(
        [{"name": "feed", "url": server.url_for("/world/feed.xml"), "follow": True}],
        max_body="20MB"))
    await run_once(config)
    before = _followed(config)
    assert len(before) == 1

    site.feed_body, site.feed_type = body, content_type
    result = await run_once(config)
    (feed,) = [r for r in result.results if r.watch == "feed"]
    assert feed.status == "failed" and reason in str(feed.error)
    assert _followed(config) == before
    with _db(config) as db:
        (error,) = db.execute("SELECT last_error FROM watches WHERE name = 'feed'").fetchone()
    assert reason in error


async def test_status_lists_followed_articles_under_their_parent(write_config, server, site):
    from scraper.daemon import watch_reports

    site.add("ferry-strike", "Ferry crews vote to strike", feed=False)
    site.add("storm-closes-railway", "Storm closes the coastal railway", feed=False)
    config = _config(write_config, server)
    await run_once(config)
    _age(config, 3600, name=next(n for _, n, _ in _followed(config).values()))
    reports = {r.name: r for r in await watch_reports(config)}
    assert set(reports) == {"front", "feed"}  # the articles' watches are not rows
    front = reports["front"]
    assert front.followed_count == 2 and reports["feed"].followed_count == 0
    assert front.followed_oldest is not None and front.followed_newest is not None
    assert front.followed_oldest < front.followed_newest
