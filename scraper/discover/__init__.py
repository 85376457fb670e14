"""Discovery: a feed or a section front -> the articles it links to. Pure and synchronous.

The network-free core of following a news site (issue 15): no fetching, no store, no
clock. The caller fetches (with robots.txt and the per-host limits like any fetch), hands
the body here, and decides what is new.

- `discover(body, url, content_type)` reads one fetched body: a feed (recognised by its
  root element, `looks_like_feed`) through `parse_feed`, anything else as a front through
  `front_links`. It returns a `Discovery`: the `FoundArticle`s (absolute canonical URL,
  title, published time for feed items), the feed's own ``ttl_s``, and ``error`` when the
  body could not be read as what it claims to be (truncated or non-XML feed, HTML at a
  feed URL, empty or oversized body). A bad body is a result, not an exception.
- `canonical_url(url, page_html)` is the one URL an article is compared by: the page's
  same-site rel=canonical / og:url, tracking parameters (`TRACKING_PARAMS`) and the
  fragment removed, host and scheme lower-cased, default port dropped.
- `next_check_delay(age_s, interval_s)` is the decaying cadence, `is_retired(age_s,
  follow_for_s)` the end of tracking, `child_watch_name(parent, url, taken)` the name of
  an article's own watch (``courier-world/<slug>``), `feed_interval` honours a feed's
  <ttl> and Cache-Control max-age when longer than the interval, and
  `pick_new_articles(found, known, following, follow_max)` which articles are new and
  within the parent's cap.

How to wire it (not done yet):

*Config* (`config.py`, `Watch`): ``follow: bool = False``; ``follow_for`` a duration,
default "2d" (seconds -> ``follow_for_s``); ``follow_max: int = 500``; ``follow_match``
a list of regexes, checked at load with `compile_follow_match` (its ValueError names the
pattern: wrap it in a ConfigError naming the watch and key). ``follow`` without an
``interval`` takes the usual default.

*Pipeline* (`pipeline.check_watch`): a watch with ``follow`` is fetched as usual, but an
"ok" result goes to ``discover(result.text, result.final_url or watch.url,
result.content_type, follow_match=watch.follow_match, kind=<kind seen on the first
fetch, once stored>)`` (through ``asyncio.to_thread``: parsing is CPU-bound) instead of
extract/stories/diff. ``not discovery.ok`` is handled as a failed fetch with
``discovery.error`` as its reason (the followed articles and their history are
untouched). Then ``pick_new_articles(discovery.articles, known=<every followed URL,
across parents, so the feed and the front of one site add an article once>,
following=<this parent's unretired count>, follow_max=watch.follow_max)``; for each of
its ``added``: store (parent, url, name = ``child_watch_name(parent, url, taken=<names
in use>)``, found_at, title) and emit ``article.found`` (watch = parent, url, title,
name); its ``over_cap`` are logged once, as a count, and not followed. Articles that
drop off the front stay tracked. A feed parent's next fetch is ``feed_interval(interval,
discovery.ttl_s, <Cache-Control header>)`` after this one.

*Child watches*: an article's watch is an ordinary page watch (fetch -> extract ->
stories -> diff -> store -> alerts, so ``story.changed`` and ``page.mixed`` come for
free) with the parent's headers and timeout (not its include/exclude: those are for the
front's page). On its first "ok"
fetch, ``canonical_url(url, result.text)`` may name another URL already followed: keep
one. The daemon schedules it ``next_check_delay(now - found_at, parent.interval)`` after
each check, and when ``is_retired(now - found_at, parent.follow_for_s)`` logs
``article.retired`` at debug level in the operational log (not the alert log) and stops
scheduling it; its history stays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from selectolax.lexbor import LexborHTMLParser

from scraper.discover._feed import MAX_FEED_BYTES, looks_like_feed, parse_feed
from scraper.discover._follow import (
    FRESH_S,
    MAX_CHECK_DELAY_S,
    NewArticles,
    child_watch_name,
    feed_interval,
    is_retired,
    next_check_delay,
    pick_new_articles,
)
from scraper.discover._front import compile_follow_match, front_links, keep_matching
from scraper.discover._model import Discovery, FoundArticle, SourceKind
from scraper.discover._text import clean_title
from scraper.discover._urls import (
    TRACKING_PARAMS,
    TRACKING_PREFIXES,
    canonical_url,
    same_site,
)

__all__ = [
    "FRESH_S",
    "MAX_CHECK_DELAY_S",
    "MAX_FEED_BYTES",
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "Discovery",
    "FoundArticle",
    "NewArticles",
    "SourceKind",
    "canonical_url",
    "child_watch_name",
    "compile_follow_match",
    "discover",
    "feed_interval",
    "front_links",
    "is_retired",
    "keep_matching",
    "looks_like_feed",
    "next_check_delay",
    "parse_feed",
    "pick_new_articles",
    "same_site",
]


def discover(
    body: bytes | str,
    url: str,
    content_type: str | None = None,
    *,
    follow_match: Sequence[str | re.Pattern[str]] = (),
    kind: SourceKind | None = None,
) -> Discovery:
    """The articles one fetched feed or front links to.

    ``kind`` is what the watch's URL was found to be on an earlier fetch: given "feed", a
    body that is no longer a feed (an HTML error page) is an ``error``, not a front.
    Without it, `looks_like_feed` decides. ``follow_match`` narrows both kinds.
    """
    if kind == "feed" or (kind is None and looks_like_feed(body, content_type)):
        feed = parse_feed(body, url)
        if not feed.ok or not follow_match:
            return feed
        return Discovery(
            kind="feed", url=url, articles=keep_matching(feed.articles, follow_match),
            title=feed.title, ttl_s=feed.ttl_s, note=feed.note,
        )
    html = body if isinstance(body, str) else body.decode("utf-8", errors="replace")
    if not html.strip():
        return Discovery(kind="front", url=url, error="empty body: no page to read")
    title_node = LexborHTMLParser(html).css_first("title")
    return Discovery(
        kind="front",
        url=url,
        articles=front_links(html, url, follow_match),
        title=clean_title(title_node.text()) if title_node is not None else None,
    )
