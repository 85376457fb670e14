"""RSS 0.9x/2.0, Atom 0.3/1.0 and RDF feeds -> the articles they list (feedparser)."""

from __future__ import annotations

import re
import time
import xml.sax
from datetime import UTC, datetime

import feedparser

from scraper.discover._model import Discovery, FoundArticle
from scraper.discover._text import clean_title
from scraper.discover._urls import resolve_link

__all__ = ["MAX_FEED_BYTES", "looks_like_feed", "parse_feed"]

# feedparser's cost grows with the items: 2 s for 10 MB of 10,000 long items, 4 s for 1 MB
# of 12,500 tiny ones (on a busy 2-core machine). Real news feeds are 20-100 items, well
# under 1 MB. Anything larger is refused before it is parsed; the caller still runs
# parse_feed off the event loop (asyncio.to_thread), as it is CPU-bound.
MAX_FEED_BYTES = 2_000_000

_FEED_ROOTS = frozenset({"rss", "feed", "rdf"})  # local names; rdf:RDF is RSS 0.90/1.0
_FEED_TYPES = frozenset({
    "application/rss+xml", "application/atom+xml", "application/rdf+xml",
    "application/xml", "text/xml", "application/x-rss+xml",
})
_SNIFF_CHARS = 4096
_ROOT = re.compile(r"<([A-Za-z_][\w.:-]*)")
_SY_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400,
               "monthly": 30 * 86400, "yearly": 365 * 86400}


def _head(body: bytes | str, chars: int = _SNIFF_CHARS) -> str:
    """The body's first characters after leading white space (as some servers send)."""
    if isinstance(body, str):
        return body[: chars * 16].lstrip()[:chars]
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body[: chars * 2].decode("utf-16", errors="ignore")
    return body[: chars * 16].lstrip()[:chars].decode("utf-8", errors="ignore")


def _prolog_end(head: str) -> int | None:
    """Where the root element may start: after a BOM, white space, the XML declaration
    and processing instructions, comments and a doctype (with an internal subset).
    None when one of these runs past the sniffed start. A plain scan, not a regex: a
    regex of alternatives under a star backtracks for ever on "<!DOCTYPE [][][]..."."""
    pos, size = 0, len(head)
    while True:
        while pos < size and (head[pos].isspace() or head[pos] == "\ufeff"):
            pos += 1
        if head.startswith("<?", pos):
            end = head.find("?>", pos + 2)
            step = 2
        elif head.startswith("<!--", pos):
            end = head.find("-->", pos + 4)
            step = 3
        elif head[pos : pos + 9].upper() == "<!DOCTYPE":
            end, step = head.find(">", pos + 9), 1
            subset = head.find("[", pos + 9)
            if subset != -1 and (end == -1 or subset < end):
                closing = head.find("]", subset)
                end = head.find(">", closing) if closing != -1 else -1
        else:
            return pos
        if end == -1:
            return None
        pos = end + step


def _root_name(body: bytes | str) -> str | None:
    """The root element's qualified name, or None when the start shows none."""
    head = _head(body)
    start = _prolog_end(head)
    found = _ROOT.match(head, start) if start is not None else None
    return found.group(1) if found else None


def _local(name: str) -> str:
    return name.rpartition(":")[2].lower()


def looks_like_feed(body: bytes | str, content_type: str | None = None) -> bool:
    """Whether a fetched body is a feed: its root element is <rss>, <feed> or <rdf:RDF>.

    The content decides: an HTML page is a front whatever its Content-Type says, and a
    feed served as text/html is still a feed. Only when the start of the body shows no
    root element at all (an empty or garbled body) does a feed Content-Type make it a
    feed, so that `parse_feed` reports what is wrong with it.
    """
    root = _root_name(body)
    if root is not None:
        return _local(root) in _FEED_ROOTS
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in _FEED_TYPES


def _size(body: bytes | str) -> int:
    return len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "replace"))


def _closes(body: bytes | str, root: str) -> bool:
    """Whether the body ends with the root's closing tag (a truncated feed does not)."""
    if isinstance(body, str):
        tail = body[-_SNIFF_CHARS * 16 :].rstrip()[-_SNIFF_CHARS:]
    elif body.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec = "utf-16-le" if body.startswith(b"\xff\xfe") else "utf-16-be"
        tail = body[-_SNIFF_CHARS * 2 :].decode(codec, errors="ignore")
    else:
        tail = body[-_SNIFF_CHARS * 16 :].rstrip()[-_SNIFF_CHARS:].decode("utf-8", "ignore")
    return re.search(rf"</\s*{re.escape(root)}\s*>", tail) is not None


def _describe(exc: object) -> str:
    if isinstance(exc, xml.sax.SAXParseException):
        return f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}: {exc.getMessage()}"
    return str(exc) or type(exc).__name__


def _when(entry: feedparser.FeedParserDict) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _ttl_s(channel: feedparser.FeedParserDict) -> float | None:
    ttl = str(channel.get("ttl") or "").strip()
    if ttl.isdigit() and int(ttl) > 0:
        return int(ttl) * 60.0  # RSS <ttl> is in minutes
    period = _SY_PERIODS.get(str(channel.get("sy_updateperiod") or "").strip().lower())
    if period is None:
        return None
    frequency = str(channel.get("sy_updatefrequency") or "1").strip()
    return period / (int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1)


def _article_url(entry: feedparser.FeedParserDict, feed_url: str) -> str | None:
    link = entry.get("link") or ""
    if not link:
        guid = str(entry.get("id") or "")
        link = guid if guid.startswith(("http://", "https://")) else ""
    if not link:
        return None
    return resolve_link(link, feed_url, feed_url)


def parse_feed(
    body: bytes | str, url: str, *, max_bytes: int = MAX_FEED_BYTES
) -> Discovery:
    """The articles a feed lists, each with its absolute canonical URL, title and date.

    Never raises on bad input: what is wrong is the result's ``error``. feedparser is
    lenient (it sets ``bozo`` and carries on); a lenient read still counts when the feed
    is complete and gave items (an undefined entity, a wrong Content-Type: said in
    ``note``). It is a failure when the body is empty, too large, HTML or some other XML,
    truncated (no closing root tag: the items it lists may be a fraction), or so broken
    that no item could be read.
    """

    def failed(error: str) -> Discovery:
        return Discovery(kind="feed", url=url, error=error)

    size = _size(body)
    if not body.strip():
        return failed("empty body: no feed to read")
    if size > max_bytes:
        return failed(f"feed is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit")
    root = _root_name(body)
    if root is None:
        return failed("not a feed: no XML root element at the start of the body")
    if _local(root) in ("html", "head", "body"):
        return failed("not a feed: the body is an HTML page")
    if _local(root) not in _FEED_ROOTS:
        return failed(f"not a feed: the root element is <{root}>, not <rss>, <feed> or <rdf:RDF>")

    # Relative links are joined to ``url`` here, not by feedparser (given a content-location
    # it mangles file: URLs into file://host/...). A str body is sent as UTF-8 whatever its
    # XML declaration says; bytes keep the declaration's encoding.
    if isinstance(body, str):
        data, media = body.encode("utf-8"), "application/xml; charset=utf-8"
    else:
        data, media = body, "application/xml"
    try:
        parsed = feedparser.parse(
            data, response_headers={"content-type": media}
        )
    except Exception as exc:  # feedparser is not meant to raise; never let it escape
        return failed(f"unreadable feed: {type(exc).__name__}: {exc}")

    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not _closes(body, root):
        detail = f" ({_describe(problem)})" if problem is not None else ""
        return failed(f"truncated feed: the body ends before </{root}>{detail}")
    entries = parsed.get("entries") or []
    if problem is not None and not entries:
        return failed(f"not well-formed XML, no items read: {_describe(problem)}")

    articles: list[FoundArticle] = []
    seen: set[str] = set()
    for entry in entries:
        article_url = _article_url(entry, url)
        if article_url is None or article_url in seen:
            continue
        seen.add(article_url)
        articles.append(FoundArticle(
            url=article_url,
            title=clean_title(entry.get("title")),
            source="feed",
            published=_when(entry),
        ))
    channel = parsed.get("feed") or feedparser.FeedParserDict()
    return Discovery(
        kind="feed",
        url=url,
        articles=tuple(articles),
        title=clean_title(channel.get("title")),
        ttl_s=_ttl_s(channel),
        note=_describe(problem) if problem is not None else None,
    )
