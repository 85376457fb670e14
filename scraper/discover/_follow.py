"""How a followed article is tracked: its cadence, its retirement, its watch name."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from scraper.discover._model import FoundArticle

__all__ = [
    "FRESH_S",
    "MAX_CHECK_DELAY_S",
    "MAX_SLUG_CHARS",
    "NewArticles",
    "child_watch_name",
    "feed_interval",
    "is_retired",
    "next_check_delay",
    "pick_new_articles",
]

FRESH_S = 3 * 3600.0  # an article is checked at its front's interval for its first 3 hours
MAX_CHECK_DELAY_S = 6 * 3600.0
MAX_SLUG_CHARS = 60
_HASH_CHARS = 8
_UNSAFE = re.compile(r"[^a-z0-9]+")
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)
# Segments that say nothing about which article a URL is.
_GENERIC_SEGMENTS = frozenset({
    "index", "default", "article", "articles", "story", "stories", "news", "amp", "post",
    "posts", "content", "view", "item", "p", "a", "s", "html",
})


def next_check_delay(
    age_s: float, base_interval_s: float, max_s: float = MAX_CHECK_DELAY_S
) -> float:
    """Seconds until a followed article's next check, given its age (since first found).

    The front's own interval while the article is fresh (under `FRESH_S`), then doubled
    each time its age doubles (2x from 3 h, 4x from 6 h, 8x from 12 h ...), up to
    ``max_s``. Edits cluster in an article's first hours; a week-old one changes rarely.
    An interval longer than ``max_s`` is kept: an article is never checked more often
    than its front.
    """
    if not base_interval_s > 0:
        raise ValueError(f"base interval must be positive, got {base_interval_s!r}")
    age = max(age_s, 0.0) if math.isfinite(age_s) else (math.inf if age_s > 0 else 0.0)
    if age < FRESH_S:
        return base_interval_s
    if math.isinf(age):
        return max(max_s, base_interval_s)
    doublings = math.floor(math.log2(age / FRESH_S)) + 1
    delay = base_interval_s * 2.0 ** min(doublings, 64)
    return max(min(delay, max_s), base_interval_s)


def is_retired(age_s: float, follow_for_s: float) -> bool:
    """Whether an article found ``age_s`` ago is past its ``follow_for`` and stops."""
    return age_s >= follow_for_s


def feed_interval(
    interval_s: float, ttl_s: float | None = None, cache_control: str | None = None
) -> float:
    """How often to fetch a feed: its watch's interval, or longer when the feed asks.

    A feed's <ttl> (`Discovery.ttl_s`) and its response's Cache-Control max-age are
    honoured when longer than the interval, never to check more often.
    """
    longest = interval_s
    if ttl_s is not None and ttl_s > longest:
        longest = ttl_s
    if cache_control and "no-cache" not in cache_control.lower():
        found = _MAX_AGE.search(cache_control)
        if found and int(found.group(1)) > longest:
            longest = float(found.group(1))
    return longest


def _slug(url: str) -> str:
    """Words of the URL's last telling path segment: lower-case ASCII letters, digits, -."""
    segments = [unquote(s) for s in urlsplit(url).path.split("/") if s]
    telling = []
    for segment in reversed(segments):
        stem = re.sub(r"\.(?:s?html?|php|aspx?)$", "", segment, flags=re.IGNORECASE)
        ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
        words = _UNSAFE.sub("-", ascii_text.lower()).strip("-")
        if not words or words in _GENERIC_SEGMENTS:
            continue
        telling.insert(0, words)
        # A bare number (a story id) is joined by the segment before it: world-12345.
        if not words.isdigit():
            break
        if len(telling) == 2:
            break
    slug = "-".join(telling)
    if len(slug) > MAX_SLUG_CHARS:
        cut = slug[:MAX_SLUG_CHARS]
        slug = cut.rsplit("-", 1)[0] if "-" in cut[MAX_SLUG_CHARS // 2 :] else cut
    return slug.strip("-")


def child_watch_name(parent: str, url: str, taken: Collection[str] = ()) -> str:
    """The name of the watch tracking the article at ``url`` (canonical) found by ``parent``.

    ``parent/<slug>``, the slug made of the URL path's last telling segment (at most
    `MAX_SLUG_CHARS` of ``a-z0-9-``). A short hash of the URL is appended when the slug
    is empty, when the URL's query is what identifies the article (``?id=123``), or when
    the name is already in ``taken`` by another article. The same URL with the same names
    taken always gives the same name; the caller keeps the name it was given.
    """
    slug = _slug(url)
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    if not slug:
        return f"{parent}/{digest}"
    name = f"{parent}/{slug}"
    if urlsplit(url).query or name in taken:
        name = f"{name}-{digest}"
    if name in taken:  # two URLs whose short hashes collide too: take the long hash
        name = f"{parent}/{slug}-{hashlib.sha1(url.encode('utf-8')).hexdigest()}"
    return name


@dataclass(frozen=True, slots=True)
class NewArticles:
    """The articles of one discovery that are new, split by the parent's cap."""

    added: tuple[FoundArticle, ...]  # to follow now, in the order found
    over_cap: tuple[FoundArticle, ...] = ()  # new, but the parent already follows its max


def pick_new_articles(
    found: Iterable[FoundArticle], known: Collection[str], following: int, follow_max: int
) -> NewArticles:
    """Which found articles to start following.

    ``known`` holds the URLs already followed by any parent (so an article reached
    through a site's feed and its front is added once), ``following`` how many articles
    this parent tracks now (retired ones not counted), ``follow_max`` its cap. Those
    over the cap are returned, not dropped silently, so the caller can say so; a later
    discovery offers them again once older articles retire.
    """
    new: list[FoundArticle] = []
    seen: set[str] = set()
    for article in found:
        if article.url in known or article.url in seen:
            continue
        seen.add(article.url)
        new.append(article)
    room = max(follow_max - following, 0)
    return NewArticles(added=tuple(new[:room]), over_cap=tuple(new[room:]))
