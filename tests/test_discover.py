"""scraper.discover: feeds, fronts, canonical URLs, the follow cadence and child names."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape as html_escape
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scraper.discover import (
    FRESH_S,
    MAX_CHECK_DELAY_S,
    MAX_FEED_BYTES,
    Discovery,
    canonical_url,
    child_watch_name,
    compile_follow_match,
    discover,
    feed_interval,
    front_links,
    is_retired,
    keep_matching,
    looks_like_feed,
    next_check_delay,
    parse_feed,
    pick_new_articles,
    same_site,
)
from scraper.discover._follow import MAX_SLUG_CHARS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FRONT = (FIXTURES / "demo" / "front.html").read_text(encoding="utf-8")
FEED = (FIXTURES / "demo" / "feed.xml").read_bytes()
ATOM = (FIXTURES / "discover" / "atom.xml").read_bytes()
RDF = (FIXTURES / "discover" / "rdf.xml").read_bytes()
SITE = "https://courier.example"
FRONT_URL = f"{SITE}/front.html"
FEED_URL = f"{SITE}/feed.xml"

FRONT_ARTICLES = [
    f"{SITE}/world/2026-11-30-ferry-crews-vote-to-strike.html",
    f"{SITE}/world/2026-11-30-glacier-survey-finds-faster-melt.html",
    f"{SITE}/world/2026-11-29-port-city-elects-independent-mayor.html",
    f"{SITE}/world/2026-11-29-grain-convoy-reaches-northern-harbour.html",
    f"{SITE}/world/2026-11-28-fishing-quota-talks-resume.html",
    f"{SITE}/world/2026-11-28-lighthouse-keepers-museum-opens.html",
]
FEED_ARTICLES = [
    f"{SITE}/world/2026-11-30-storm-closes-coastal-railway.html",
    *FRONT_ARTICLES[:3],
]


def _rss(items: str, channel_extra: str = "") -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
        f"{channel_extra}{items}</channel></rss>"
    ).encode()


# --- looks_like_feed ----------------------------------------------------------------------


@pytest.mark.parametrize("body", [FEED, ATOM, RDF, FEED.decode("utf-8")])
def test_feeds_are_recognised_by_their_root(body: bytes | str) -> None:
    assert looks_like_feed(body, "text/html")  # the content decides, not the header


def test_a_front_is_html_whatever_its_content_type() -> None:
    assert not looks_like_feed(FRONT, "application/rss+xml")
    assert not looks_like_feed(FRONT.encode(), None)
    assert not looks_like_feed("<html><body></body></html>", "text/xml")


def test_prolog_comments_doctype_and_bom_are_skipped() -> None:
    body = (
        "\ufeff<?xml version='1.0'?>\n<!-- generated -->\n<?xml-stylesheet href='s.xsl'?>"
        "<!DOCTYPE rss [<!ENTITY nbsp '&#160;'>]>\n<rss version='0.91'><channel/></rss>"
    )
    assert looks_like_feed(body.encode("utf-8"), None)
    assert looks_like_feed(body.encode("utf-16"), None)
    assert not looks_like_feed("<!-- x --><!DOCTYPE html><html></html>", None)
    assert looks_like_feed(b"\n" * 10_000 + FEED, None)  # blank lines before the prolog
    # prologs that never end: no root, and no runaway regex backtracking either
    for endless in ("<!DOCTYPE " + "[]" * 3000, "<!--" + "-" * 5000, "<?" + "?" * 5000):
        assert not looks_like_feed(endless, None)
        assert parse_feed(endless, FEED_URL).error == (
            "not a feed: no XML root element at the start of the body"
        )


def test_other_xml_is_not_a_feed() -> None:
    assert not looks_like_feed(b"<?xml version='1.0'?><urlset><url/></urlset>", "text/xml")


def test_a_body_with_no_root_falls_back_to_the_content_type() -> None:
    assert looks_like_feed(b"", "application/rss+xml; charset=utf-8")
    assert looks_like_feed(b"\x00\x01garbage", "application/atom+xml")
    assert not looks_like_feed(b"", "text/html")
    assert not looks_like_feed(b"plain words", None)


# --- parse_feed ---------------------------------------------------------------------------


def test_rss_items_resolved_cleaned_and_dated() -> None:
    feed = parse_feed(FEED, FEED_URL)
    assert feed.ok and feed.error is None and feed.kind == "feed"
    assert [a.url for a in feed.articles] == FEED_ARTICLES  # relative, tracking dropped
    first = feed.articles[0]
    assert first.title == "Storm closes the coastal railway for a second day"
    assert first.published == datetime(2026, 11, 30, 17, 40, tzinfo=UTC)
    assert first.source == "feed"
    assert feed.title == "The Coastal Courier: World"
    assert feed.ttl_s == 30 * 60


def test_trailing_white_space_is_not_truncation() -> None:
    assert [a.url for a in parse_feed(FEED + b"\n" * 20_000, FEED_URL).articles] == FEED_ARTICLES


def test_a_str_body_reads_like_bytes() -> None:
    assert parse_feed(FEED.decode("utf-8"), FEED_URL) == parse_feed(FEED, FEED_URL)


def test_atom_1_0() -> None:
    feed = parse_feed(ATOM, "https://lanternbay.example/science/atom.xml")
    assert feed.ok
    assert [a.url for a in feed.articles] == [
        "https://lanternbay.example/science/2026/11/30/kelp-forest-returns",
        "https://www.lanternbay.example/science/2026/11/29/fireball-over-headland",
    ]  # the entry with no link is skipped; the enclosure is not the article
    kelp, fireball = feed.articles
    assert kelp.title == "Kelp forest returns to the bay after sea-urchin cull"  # no <em>
    assert kelp.published == datetime(2026, 11, 30, 13, 20, tzinfo=UTC)  # from +01:00
    assert fireball.published == datetime(2026, 11, 29, 21, 47, tzinfo=UTC)  # <updated>
    assert feed.ttl_s is None


def test_atom_0_3() -> None:
    body = (
        b"<?xml version='1.0'?><feed version='0.3' xmlns='http://purl.org/atom/ns#'>"
        b"<title>Old</title><entry><title>Tide tables reprinted</title>"
        b"<link rel='alternate' type='text/html' href='https://old.example/2026/11/tide-tables'/>"
        b"<issued>2026-11-30T10:00:00Z</issued></entry></feed>"
    )
    feed = parse_feed(body, "https://old.example/atom")
    assert feed.ok
    assert [(a.url, a.title) for a in feed.articles] == [
        ("https://old.example/2026/11/tide-tables", "Tide tables reprinted")
    ]
    assert feed.articles[0].published == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_rdf_rss_1_0_in_latin_1_with_syndication_period() -> None:
    feed = parse_feed(RDF, "https://moorland-echo.example/rss.rdf")
    assert feed.ok
    assert [a.url for a in feed.articles] == [
        "https://moorland-echo.example/news/village-shop-saved-by-co-op",
        "https://moorland-echo.example/news/reservoir-at-record-low?page_id=7",  # gclid gone
    ]
    assert feed.articles[1].title == "Reservoir at record low as café owners count the cost"
    assert feed.articles[1].published is None
    assert feed.ttl_s == 1800  # hourly, twice


def test_rss_0_91_and_guid_permalinks() -> None:
    body = (
        b"<?xml version='1.0'?><rss version='0.91'><channel><title>Old</title>"
        b"<item><title>One</title><link>https://old.example/news/one-item-here</link></item>"
        b"</channel></rss>"
    )
    assert [a.url for a in parse_feed(body, "https://old.example/rss").articles] == [
        "https://old.example/news/one-item-here"
    ]
    guids = _rss(
        "<item><title>G</title><guid isPermaLink='true'>https://a.example/x/perma-link</guid>"
        "</item><item><title>H</title><guid isPermaLink='false'>tag:a,1</guid></item>"
    )
    assert [a.url for a in parse_feed(guids, "https://a.example/rss").articles] == [
        "https://a.example/x/perma-link"
    ]


def test_duplicate_and_unsafe_links_are_dropped() -> None:
    body = _rss(
        "<item><title>A</title><link>https://a.example/n/story-one?utm_source=x</link></item>"
        "<item><title>A again</title><link>https://a.example/n/story-one#c</link></item>"
        "<item><title>J</title><link>javascript:alert(1)</link></item>"
        "<item><title>F</title><link>file:///etc/passwd</link></item>"
    )
    feed = parse_feed(body, "https://a.example/rss")
    assert [(a.url, a.title) for a in feed.articles] == [("https://a.example/n/story-one", "A")]


def test_a_complete_feed_with_a_forgivable_error_still_counts() -> None:
    body = _rss("<item><title>Caf&eacute;&nbsp;owners</title>"
                "<link>https://a.example/n/cafe-owners-meet</link></item>")
    feed = parse_feed(body, "https://a.example/rss")
    assert feed.ok
    assert [a.url for a in feed.articles] == ["https://a.example/n/cafe-owners-meet"]
    assert feed.note is not None and "undefined entity" in feed.note


def test_a_well_formed_empty_feed_is_not_an_error() -> None:
    feed = parse_feed(_rss(""), "https://a.example/rss")
    assert feed.ok and feed.articles == () and feed.note is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (FEED[: len(FEED) // 2], "truncated feed: the body ends before </rss>"),
        (FEED[:-20], "truncated feed"),
        (ATOM[: len(ATOM) // 3], "ends before </feed>"),
        (FRONT.encode(), "not a feed: the body is an HTML page"),
        (b"\n<head><title>Error</title></head><body>503</body>", "the body is an HTML page"),
        (b"", "empty body"),
        (b"  \n\t ", "empty body"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "no XML root element"),
        (b"<?xml version='1.0'?><urlset><url/></urlset>", "root element is <urlset>"),
        (_rss("").replace(b"<title>T</title>", b"<title>&bogus; <<</title>"), "no items read"),
    ],
)
def test_a_broken_feed_is_an_error_not_an_exception(body: bytes, says: str) -> None:
    feed = parse_feed(body, FEED_URL)
    assert not feed.ok
    assert feed.error is not None and says in feed.error
    assert feed.articles == ()


def test_an_oversized_feed_is_refused_before_parsing() -> None:
    item = b"<item><title>t</title><link>https://a.example/n/some-story-here</link></item>"
    body = b"<rss version='2.0'><channel>" + item * (10_000_000 // len(item)) + b"</channel></rss>"
    assert len(body) > MAX_FEED_BYTES
    feed = parse_feed(body, "https://a.example/rss")
    assert feed.error is not None and "10.0 MB, over the 2 MB limit" in feed.error
    small = _rss(item.decode())
    assert parse_feed(small, "https://a.example/rss").ok
    capped = parse_feed(small, "https://a.example/rss", max_bytes=len(small) - 1)
    assert capped.error is not None and "over the" in capped.error


def test_a_truncated_feed_names_the_parse_error_line() -> None:
    feed = parse_feed(FEED[: len(FEED) // 2], FEED_URL)
    assert feed.error is not None and re.search(r"line \d+, column \d+", feed.error)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"", b"<rss version='2.0'><channel>", b"<feed>"]))
def test_parse_feed_never_raises(noise: bytes, prefix: bytes) -> None:
    feed = parse_feed(prefix + noise, "https://a.example/rss")
    assert isinstance(feed, Discovery)
    assert feed.ok or feed.articles == ()


# --- front_links --------------------------------------------------------------------------


def test_front_article_links_only() -> None:
    links = front_links(FRONT, FRONT_URL)
    assert [a.url for a in links] == FRONT_ARTICLES
    assert all(a.source == "front" and a.published is None for a in links)


def test_front_nav_tag_section_and_furniture_links_are_excluded() -> None:
    urls = " ".join(a.url for a in front_links(FRONT, FRONT_URL))
    for never in ("/tag/", "/author/", "/page/2", "/login", "/subscribe", "/europe",
                  "/about-us", "/privacy", "feed.xml", "news-front", "twitter",
                  "elsewhere.example", "our-coverage-explained",  # in the <nav>
                  "corrections-and-clarifications"):  # in the page <footer>
        assert never not in urls


def test_front_titles_from_link_text_or_nearest_heading() -> None:
    titles = {a.url: a.title for a in front_links(FRONT, FRONT_URL)}
    assert titles[FRONT_ARTICLES[0]] == "Ferry crews vote to strike over winter rosters"
    # an image link and a "Read more": the teaser's heading names the article
    assert titles[FRONT_ARTICLES[3]] == "Grain convoy reaches northern harbour after storm delay"


def test_same_article_from_feed_and_front_is_one_url() -> None:
    feed = {a.url for a in parse_feed(FEED, FEED_URL).articles}
    front = {a.url for a in front_links(FRONT, FRONT_URL)}
    assert feed & front == set(FRONT_ARTICLES[:3])  # ?ref=, utm_*, fbclid, #top all gone
    assert len(feed | front) == 7


def test_follow_match_narrows_front_and_feed() -> None:
    links = front_links(FRONT, FRONT_URL, follow_match=[r"/2026-11-30-"])
    assert [a.url for a in links] == FRONT_ARTICLES[:2]
    # a regex narrows, it never adds: a tag link matching it stays out
    assert front_links(FRONT, FRONT_URL, follow_match=["/tag/"]) == ()
    feed = discover(FEED, FEED_URL, follow_match=[re.compile(r"storm|ferry")])
    assert [a.url for a in feed.articles] == [FEED_ARTICLES[0], FEED_ARTICLES[1]]
    assert feed.ttl_s == 1800


def test_a_bad_follow_match_names_the_pattern() -> None:
    with pytest.raises(ValueError, match=r"invalid follow_match regex '\(unclosed'"):
        compile_follow_match(["(unclosed"])
    assert keep_matching(parse_feed(FEED, FEED_URL).articles, ()) == parse_feed(
        FEED, FEED_URL).articles


def test_the_older_demo_front_two_word_slugs_under_headlines() -> None:
    html = (FIXTURES / "demo" / "news-front.html").read_text(encoding="utf-8")
    links = front_links(html, f"{SITE}/news")
    assert [a.url.removeprefix(f"{SITE}/news/") for a in links] == [
        "harbour-bridge-repairs", "school-roof", "lifeboat-callouts", "market-hall",
    ]  # not /news, /sport (nav) nor /news/a, /news/b ("most read", no headline, no slug)
    assert links[1].title == "Primary school reopens after storm damage to roof"


def _page(body: str) -> str:
    return f"<html><head><title>t</title></head><body>{body}</body></html>"


def test_a_headline_names_the_article_never_a_section_heading() -> None:
    html = _page(
        "<section class='teasers'><h2><a href='/world/europe'>Europe</a></h2>"
        "<div><a href='/world/2026-11-30-a-story'><img src='a.jpg' alt='A harbour'></a>"
        "<a href='/world/2026-11-30-a-story'><h3>The headline</h3></a></div>"
        "<div><a href='/world/2026-11-29-b-story'><img src='b.jpg' alt='Ships'></a></div>"
        "<div><a href='/world/2026-11-28-c-story'><img src='c.jpg'></a></div></section>"
    )
    assert [(a.url.rpartition("/")[2], a.title) for a in front_links(html, SITE)] == [
        ("2026-11-30-a-story", "The headline"),
        ("2026-11-29-b-story", "Ships"),  # not "Europe": that heading is the section's
        ("2026-11-28-c-story", None),
    ]


def test_same_site_means_same_host_or_its_www_variant() -> None:
    html = _page(
        "<article><h2><a href='https://www.courier.example/world/a-www-story-here'>W</a></h2>"
        "<h2><a href='https://news.courier.example/world/a-subdomain-story-here'>S</a></h2>"
        "<h2><a href='http://courier.example:8080/world/other-port-story-here'>P</a></h2>"
        "<h2><a href='file:///world/a-local-file-story'>F</a></h2></article>"
    )
    assert [a.url for a in front_links(html, "https://courier.example/world")] == [
        "https://www.courier.example/world/a-www-story-here",
        "http://courier.example:8080/world/other-port-story-here",
    ]


def test_url_shape_and_placement_decide_together() -> None:
    html = _page(
        "<ul class='latest'><li><a href='/2026/11/30/x'>Dated, outside any block</a></li>"
        "<li><a href='/world/ice-melt-speeds-up-again'>A long slug</a></li>"
        "<li><a href='/world/news/881234567'>A long id</a></li>"
        "<li><a href='/world/two-words'>A weak shape outside blocks</a></li>"
        "<li><a href='/world/europe'>Europe</a></li>"
        "<li><a href='/2026/11/'>November's archive</a></li>"
        "<li><a href='/world/2026/11/30/'>A day's archive</a></li></ul>"
        "<div class='card'><a href='/world/two-words-card'>Weak shape in a card</a></div>"
        "<article><header><h2><a href='/n/header-in-article'>In an article's header</a></h2>"
        "</header></article>"
        "<header><h2><a href='/n/site-header-story-link'>In the page header</a></h2></header>"
        "<div class='story'><a href='/n/img.jpg'>Image</a><a href='/n/story-1.pdf'>P</a>"
        "<a href='/world/ice-melt?page=2'>Paged</a><a href='mailto:desk@courier.example'>M</a>"
        "<a href='/world'>Self</a></div>"
    )
    assert [a.url for a in front_links(html, "https://courier.example/world")] == [
        "https://courier.example/2026/11/30/x",
        "https://courier.example/world/ice-melt-speeds-up-again",
        "https://courier.example/world/news/881234567",
        "https://courier.example/world/two-words-card",
        "https://courier.example/n/header-in-article",
    ]


def test_base_href_and_a_later_title() -> None:
    html = (
        "<html><head><base href='https://courier.example/archive/'></head><body>"
        "<div class='teaser'><a href='2026-11-30-a-moved-story.html'><img src='x.jpg'></a>"
        "</div><h3><a href='2026-11-30-a-moved-story.html'>The real title</a></h3></body></html>"
    )
    assert [(a.url, a.title) for a in front_links(html, "https://courier.example/world")] == [
        ("https://courier.example/archive/2026-11-30-a-moved-story.html", "The real title")
    ]


def test_demo_front_and_feed_follow_file_urls() -> None:
    folder = (FIXTURES / "demo").as_uri()
    front = discover(FRONT, f"{folder}/front.html", "text/html")
    feed = discover(FEED, f"{folder}/feed.xml", "application/rss+xml")
    assert front.kind == "front" and feed.kind == "feed"
    for article in (*front.articles, *feed.articles):
        assert article.url.startswith(f"{folder}/world/2026-")
        page = Path(article.url.removeprefix("file://"))
        assert page.is_file()  # the demo can follow every one offline
        assert canonical_url(article.url, page.read_text(encoding="utf-8")) == article.url
    assert len({a.url for a in (*front.articles, *feed.articles)}) == 7


# --- discover -----------------------------------------------------------------------------


def test_discover_dispatches_on_content() -> None:
    front = discover(FRONT.encode(), FRONT_URL, "application/rss+xml")
    assert front.kind == "front" and front.ok and front.title == "World | The Coastal Courier"
    assert discover(FEED, FEED_URL, "text/html").kind == "feed"


def test_discover_holds_a_known_feed_to_being_a_feed() -> None:
    error_page = discover(FRONT, FEED_URL, "text/html", kind="feed")
    assert error_page.kind == "feed" and error_page.error is not None
    assert "HTML page" in error_page.error
    assert discover(b"", FRONT_URL, "text/html").error == "empty body: no page to read"


# --- canonical_url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://a.example/n/x?utm_source=rss&utm_medium=feed", "https://a.example/n/x"),
        ("https://a.example/n/x?id=7&UTM_Campaign=z&fbclid=1&b=2", "https://a.example/n/x?id=7&b=2"),
        ("https://a.example/n/x?gclid=1&mc_cid=2&mc_eid=3&igshid=4&ref=5", "https://a.example/n/x"),
        ("https://a.example/n/x?pk_campaign=1&_ga=2&q=a%20b+c", "https://a.example/n/x?q=a%20b+c"),
        ("https://a.example/n/x?z=1&a=2&m=3", "https://a.example/n/x?z=1&a=2&m=3"),  # order kept
        ("https://a.example/n/x?flag&&utm_x=", "https://a.example/n/x?flag"),
        ("https://a.example/n/x#comments", "https://a.example/n/x"),
        ("HTTPS://A.Example/N/X", "https://a.example/N/X"),  # the path keeps its case
        ("https://a.example:443/n/x", "https://a.example/n/x"),
        ("http://a.example:80/n/x", "http://a.example/n/x"),
        ("http://a.example:8080/n/x", "http://a.example:8080/n/x"),
        ("https://a.example", "https://a.example/"),
        ("https://a.example./n", "https://a.example/n"),
        ("  https://a.example/n/x  ", "https://a.example/n/x"),
        ("https://[2001:DB8::1]:443/n", "https://[2001:db8::1]/n"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical
    assert canonical_url(canonical) == canonical  # idempotent


def test_the_pages_own_canonical_wins_when_on_the_same_site() -> None:
    page = ("<html><head><link rel='alternate canonical' "
            "href='/world/the-story?utm_source=x#top'></head></html>")
    assert canonical_url("https://www.a.example/amp/the-story?amp=1", page) == (
        "https://www.a.example/world/the-story"
    )
    og = "<html><head><meta property='og:url' content='https://a.example/w/og-story'></head>"
    assert canonical_url("https://www.a.example/w/og-story?s=1", og) == (
        "https://a.example/w/og-story"
    )


def test_a_canonical_on_another_site_is_ignored() -> None:
    page = "<link rel='canonical' href='https://syndicator.example/copy'>"
    assert canonical_url("https://a.example/n/x?utm_source=y", page) == "https://a.example/n/x"
    assert canonical_url("https://a.example/n/x", "<link rel='canonical' href='file:///x'>") == (
        "https://a.example/n/x"
    )
    assert canonical_url("https://a.example/n/x", "<p>no canonical</p>") == "https://a.example/n/x"


def test_same_site() -> None:
    assert same_site("https://www.a.example/x", "http://A.example/y")
    assert not same_site("https://b.a.example/x", "https://a.example/y")
    assert not same_site("file:///a", "https://a/")
    assert same_site("file:///a/b", "file:///c")
    assert not same_site("ftp://a.example/x", "https://a.example/")


# --- cadence ------------------------------------------------------------------------------


def test_cadence_is_the_interval_while_fresh_then_doubles_to_six_hours() -> None:
    base = 600.0
    hour = 3600.0
    assert next_check_delay(0, base) == base
    assert next_check_delay(FRESH_S - 1, base) == base
    assert next_check_delay(3 * hour, base) == 2 * base
    assert next_check_delay(6 * hour, base) == 4 * base
    assert next_check_delay(12 * hour, base) == 8 * base
    assert next_check_delay(24 * hour, base) == 16 * base
    assert next_check_delay(48 * hour, base) == 32 * base
    assert next_check_delay(96 * hour, base) == MAX_CHECK_DELAY_S  # 64x would pass 6 h
    assert next_check_delay(30 * 24 * hour, base) == 6 * hour
    assert next_check_delay(24 * hour, base, max_s=2 * hour) == 2 * hour


def test_cadence_never_shrinks_and_never_beats_the_front() -> None:
    ages = [i * 900.0 for i in range(4 * 24 * 7)]
    for base in (60.0, 600.0, 3600.0):
        delays = [next_check_delay(age, base) for age in ages]
        assert delays == sorted(delays)
        assert min(delays) == base and max(delays) <= MAX_CHECK_DELAY_S
        # one doubling per doubling of age: 2^6 by a week, so a 1-minute front's
        # articles are checked hourly at a week old; a 10-minute front's reach the cap
        assert max(delays) == min(base * 64, MAX_CHECK_DELAY_S)
    assert next_check_delay(10 * 3600.0, 12 * 3600.0) == 12 * 3600.0  # interval above the cap
    assert next_check_delay(-50.0, 600.0) == 600.0  # clock skew: treated as fresh
    assert next_check_delay(float("inf"), 600.0) == MAX_CHECK_DELAY_S
    with pytest.raises(ValueError, match="positive"):
        next_check_delay(0, 0)


def test_retirement() -> None:
    two_days = 2 * 86400.0
    assert not is_retired(0, two_days)
    assert not is_retired(two_days - 1, two_days)
    assert is_retired(two_days, two_days)


def test_feed_interval_honours_longer_ttl_and_max_age_only() -> None:
    assert feed_interval(600, ttl_s=1800) == 1800
    assert feed_interval(600, ttl_s=60) == 600
    assert feed_interval(600, cache_control="public, max-age=3600") == 3600
    assert feed_interval(600, ttl_s=1800, cache_control="s-maxage=7200, max-age=60") == 7200
    assert feed_interval(600, cache_control="no-cache, max-age=3600") == 600
    assert feed_interval(600, cache_control="private") == 600


# --- child_watch_name ---------------------------------------------------------------------

_SAFE = re.compile(r"[a-z0-9-]+/[a-z0-9-]+")


def test_child_names_are_parent_slash_slug() -> None:
    name = child_watch_name("courier-world", FRONT_ARTICLES[0])
    assert name == "courier-world/2026-11-30-ferry-crews-vote-to-strike"
    assert child_watch_name("courier-world", FRONT_ARTICLES[0]) == name  # stable
    assert child_watch_name("w", "https://a.example/news/world/881234") == "w/world-881234"
    assert child_watch_name("w", "https://a.example/Gr%C3%BC%C3%9Fe/Caf%C3%A9-Cr%C3%A8me") == (
        "w/cafe-creme"
    )


def test_child_names_are_safe_and_bounded() -> None:
    urls = [
        "https://a.example/" + "-".join(["word"] * 80),
        "https://a.example/n/..%2F..%2Fetc%2Fpasswd",
        "https://a.example/n/\u202eevil\x1bname",
        "https://a.example/",
        "https://a.example/story/index.html",
        "https://a.example/article.php?id=12",
    ]
    for url in urls:
        name = child_watch_name("w", url)
        assert _SAFE.fullmatch(name), name
        assert len(name) <= len("w/") + MAX_SLUG_CHARS + 9


def test_empty_or_query_identified_slugs_get_a_hash() -> None:
    root = child_watch_name("w", "https://a.example/")
    assert re.fullmatch(r"w/[0-9a-f]{8}", root)
    generic = child_watch_name("w", "https://a.example/story/index.html")  # says nothing
    assert re.fullmatch(r"w/[0-9a-f]{8}", generic) and generic != root
    one = child_watch_name("w", "https://a.example/article.php?id=12")  # generic path
    two = child_watch_name("w", "https://a.example/article.php?id=13")
    assert one != two and re.fullmatch(r"w/[0-9a-f]{8}", one)
    viewed = child_watch_name("w", "https://a.example/news/view-story?id=12")
    assert re.fullmatch(r"w/view-story-[0-9a-f]{8}", viewed)


def test_colliding_slugs_get_a_hash() -> None:
    first_url = "https://a.example/2025/budget"
    second_url = "https://a.example/2026/budget"
    first = child_watch_name("w", first_url)
    assert first == "w/budget"
    second = child_watch_name("w", second_url, taken={first})
    assert second != first and second.startswith("w/budget-")
    assert child_watch_name("w", second_url, taken={first}) == second
    third = child_watch_name("w", second_url, taken={first, second})
    assert third not in {first, second} and third.startswith("w/budget-")


_KEYS = st.sampled_from(["id", "page_id", "lang", "v", "utm_source", "UTM_Medium", "fbclid",
                         "gclid", "ref", "mc_eid", "pk_kwd", "q"])
_WORDS = st.text(alphabet="abcxyz019-_.%20+", min_size=0, max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["a.example", "WWW.A.example", "a.example:443", "a.example:8443"]),
    st.lists(_WORDS.filter(bool), max_size=4),
    st.lists(st.tuples(_KEYS, _WORDS), max_size=6),
    st.sampled_from(["", "#frag", "#"]),
)
def test_canonical_url_drops_only_tracking_and_is_idempotent(
    scheme: str, host: str, path: list[str], params: list[tuple[str, str]], fragment: str
) -> None:
    query = "&".join(f"{k}={v}" for k, v in params)
    url = f"{scheme}://{host}/{'/'.join(path)}{'?' + query if query else ''}{fragment}"
    canonical = canonical_url(url)
    assert canonical_url(canonical) == canonical
    assert "#" not in canonical
    kept = [f"{k}={v}" for k, v in params
            if k.lower() not in {"utm_source", "utm_medium", "fbclid", "gclid", "ref",
                                 "mc_eid", "pk_kwd"}]
    assert canonical.partition("?")[2] == "&".join(kept)  # the rest kept as written, in order


def test_pick_new_articles_skips_known_and_enforces_the_cap() -> None:
    feed = parse_feed(FEED, FEED_URL).articles
    front = front_links(FRONT, FRONT_URL)
    first = pick_new_articles(front, known=set(), following=0, follow_max=500)
    assert [a.url for a in first.added] == FRONT_ARTICLES and first.over_cap == ()
    known = {a.url for a in first.added}
    second = pick_new_articles(feed, known=known, following=len(known), follow_max=500)
    assert [a.url for a in second.added] == [FEED_ARTICLES[0]]  # the rest came from the front
    capped = pick_new_articles((*front, *front), known=set(), following=3, follow_max=5)
    assert [a.url for a in capped.added] == FRONT_ARTICLES[:2]
    assert [a.url for a in capped.over_cap] == FRONT_ARTICLES[2:]  # each once
    assert pick_new_articles(front, set(), following=9, follow_max=5).added == ()


_MALFORMED = ["http://[oops/x-y-z", "https://a.example:99999/n/a-b-c",
              "https://a.example:port/n/a-b-c", "//[::1/x", "https://a.exa mple/n/a-b-c",
              "https://%zz/n/a-b-c", "\x00", " ", "javascript:void(0)", "mailto:x@a.example",
              "data:text/html,hi", "ftp://a.example/n/a-b-c"]


@pytest.mark.parametrize("href", _MALFORMED)
def test_malformed_links_are_skipped_not_raised(href: str) -> None:
    good = "https://a.example/n/2026-11-30-a-good-story"
    html = _page(f"<article><h2><a href='{href}'>x</a></h2><h2><a href='{good}'>G</a></h2>"
                 "</article>")
    assert [a.url for a in front_links(html, "https://a.example/n/")] == [good]
    body = _rss(f"<item><title>x</title><link>{href}</link></item>"
                f"<item><title>G</title><link>{good}</link></item>")
    assert [a.url for a in parse_feed(body, "https://a.example/rss").articles] == [good]


def test_canonical_url_encodes_spaces_and_refuses_what_is_not_a_url() -> None:
    assert canonical_url("https://a.example/n/a café story?q=a b") == (
        "https://a.example/n/a%20caf%C3%A9%20story?q=a%20b"
    )
    assert canonical_url("https://a.example/n/caf%C3%A9") == "https://a.example/n/caf%C3%A9"
    for bad in ("https://a.example:99999/x", "http://[oops/x", "https://a b.example/x"):
        with pytest.raises(ValueError, match="not a valid URL"):
            canonical_url(bad)
    # a malformed canonical in the page is ignored, not fatal
    assert canonical_url("https://a.example/x", "<link rel=canonical href='http://[x'>") == (
        "https://a.example/x"
    )


_HREFS = st.one_of(
    st.text(max_size=30),
    st.builds(lambda a, b: f"/{a}/{b}", st.text(max_size=12), st.text(max_size=20)),
    st.sampled_from(["https://a.example/2026/11/30/x-y-z", "//a.example/tag/x", "#top"]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["article", "nav", "div", "h3", "footer", "li"]),
                          _HREFS, st.text(max_size=20)), max_size=8))
def test_front_links_never_raises_and_keeps_only_same_site_http(
    links: list[tuple[str, str, str]],
) -> None:
    html = "".join(
        f"<{tag}><a href='{html_escape(href)}'>{html_escape(text)}</a></{tag}>"
        for tag, href, text in links
    )
    for article in front_links(_page(html), "https://a.example/world"):
        assert article.url.startswith(("https://a.example/", "https://www.a.example/"))
        assert canonical_url(article.url) == article.url
        assert article.title is None or "\n" not in article.title
