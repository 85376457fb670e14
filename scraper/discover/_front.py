"""A section front -> the article links on it, told from navigation, section and tag links.

Three signals, read per link:
- where the link sits: inside page chrome (<nav>, the page's own <header>/<footer>, menus,
  breadcrumbs, share and tag lists) it is never an article; inside a story block (<article>,
  a headline <h1>-<h4>, a teaser, card or story box) it probably is;
- what its URL looks like: a date (/2026/11/30/), a slug of three or more words or a long
  numeric id is an article's shape; /tag/, /category/, /author/, /page/2, login, share
  and feed URLs never are; a bare word (/world, /world/europe) is a section;
- whether it stays on the site (the same host, give or take www.).
A link is an article when it is on the site, outside chrome, not of an excluded shape, and
either of article shape or of a weaker one (a two-word slug, a digit, a .html page) inside
a story block.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from urllib.parse import unquote, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from scraper.discover._model import FoundArticle
from scraper.discover._text import clean_title
from scraper.discover._urls import resolve_link, same_site

__all__ = ["compile_follow_match", "front_links", "keep_matching"]

_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")
_CHROME_TAGS = frozenset({"nav", "menu"})
_PAGE_FURNITURE_TAGS = frozenset({"header", "footer"})  # chrome unless inside a story
_CHROME_ROLES = frozenset({"navigation", "menu", "menubar", "banner", "contentinfo", "search"})
_CHROME_TOKENS = frozenset({
    "nav", "navbar", "navigation", "subnav", "menu", "megamenu", "breadcrumb",
    "breadcrumbs", "footer", "masthead", "share", "sharing", "social", "pagination",
    "pager", "skip", "tags", "taglist", "topics", "sitemap",
})
_STORY_TAGS = frozenset({"article", "h1", "h2", "h3", "h4"})
_STORY_TOKENS = frozenset({
    "story", "stories", "teaser", "teasers", "card", "cards", "headline", "headlines",
    "post", "entry", "article", "articles", "promo", "lede", "lead",
})
_HEADINGS = "h1, h2, h3, h4"
# Path segments that mark a listing, a person, an account or site furniture.
_EXCLUDED_SEGMENTS = frozenset({
    "tag", "tags", "topic", "topics", "category", "categories", "section", "sections",
    "author", "authors", "people", "profile", "profiles", "contributor", "contributors",
    "search", "login", "logout", "signin", "sign-in", "signup", "sign-up", "register",
    "subscribe", "subscription", "subscriptions", "account", "my-account", "newsletter",
    "newsletters", "share", "sharer", "feed", "feeds", "rss", "about", "about-us",
    "contact", "contact-us", "privacy", "privacy-policy", "terms", "cookies",
    "cookie-policy", "help", "faq", "advertise", "jobs", "careers", "wp-login.php",
})
_EXCLUDED_QUERY_KEYS = frozenset({"page", "share", "replytocom", "s", "q", "search"})
_FILE_EXTENSIONS = frozenset({
    "jpg", "jpeg", "png", "gif", "webp", "svg", "pdf", "mp3", "mp4", "css", "js", "xml",
    "rss", "json", "zip", "ics", "txt",
})
_PAGE_EXTENSIONS = frozenset({"html", "htm", "shtml", "php", "asp", "aspx"})
_DATE = re.compile(r"(?:^|[/_-])(?:19|20)\d\d(?:[/_-]?)(?:0[1-9]|1[0-2])(?:[/_-]?\d\d)?(?:[/_-]|$)")
_LONG_ID = re.compile(r"\d{5,}")
_GENERIC_LINK_TEXT = frozenset({
    "read more", "more", "continue reading", "full story", "read the full story",
    "read full story", "keep reading", "»", "›", "…", "...", "here", "link",
})
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "sms:", "#")


def compile_follow_match(patterns: Iterable[str | re.Pattern[str]]) -> tuple[re.Pattern[str], ...]:
    """The ``follow_match`` regexes, compiled; a bad one raises ValueError naming it."""
    compiled = []
    for pattern in patterns:
        if isinstance(pattern, re.Pattern):
            compiled.append(pattern)
            continue
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"invalid follow_match regex {pattern!r}: {exc}") from None
    return tuple(compiled)


def keep_matching(
    articles: Iterable[FoundArticle], follow_match: Sequence[str | re.Pattern[str]]
) -> tuple[FoundArticle, ...]:
    """The articles whose URL matches one of ``follow_match`` (all of them when empty)."""
    patterns = compile_follow_match(follow_match)
    if not patterns:
        return tuple(articles)
    return tuple(a for a in articles if any(p.search(a.url) for p in patterns))


def _tokens(node: LexborNode) -> set[str]:
    attrs = node.attributes
    words = f"{attrs.get('class') or ''} {attrs.get('id') or ''}".lower()
    return {t for t in _TOKEN_SPLIT.split(words) if t}


def _placement(anchor: LexborNode) -> tuple[bool, LexborNode | None]:
    """(inside page chrome, the innermost story block holding the link or None)."""
    chrome = in_furniture = False
    story: LexborNode | None = None
    node = anchor.parent
    while node is not None and node.tag not in ("body", "html", "-undef"):
        tag = node.tag or ""
        role = (node.attributes.get("role") or "").strip().lower()
        tokens = _tokens(node)
        if tag in _CHROME_TAGS or role in _CHROME_ROLES or tokens & _CHROME_TOKENS:
            chrome = True
        is_container = tag == "article" or bool(tokens & _STORY_TOKENS)
        if in_furniture and is_container:
            in_furniture = False  # an <article>'s own <header>/<footer>: headline, byline
        if tag in _PAGE_FURNITURE_TAGS:
            in_furniture = True
        if story is None and (is_container or tag in _STORY_TAGS):
            story = node
        node = node.parent
    return chrome or in_furniture, story


def _segments(url: str, front_url: str) -> list[str]:
    path = unquote(urlsplit(url).path)
    if urlsplit(front_url).scheme == "file":
        # A file: front's own directory is not part of the site's URL shape.
        folder = posixpath.dirname(unquote(urlsplit(front_url).path)).rstrip("/") + "/"
        if path.startswith(folder):
            path = path[len(folder):]
    return [s for s in path.lower().split("/") if s]


def _shape(url: str, front_url: str) -> str:
    """"excluded", "article", "weak" (article-like inside a story block) or "section"."""
    segments = _segments(url, front_url)
    if not segments:
        return "excluded"
    for i, segment in enumerate(segments):
        if segment in _EXCLUDED_SEGMENTS:
            return "excluded"
        if segment == "page" and i + 1 < len(segments) and segments[i + 1].isdigit():
            return "excluded"
    query_keys = {p.split("=", 1)[0].lower() for p in urlsplit(url).query.split("&") if p}
    if query_keys & _EXCLUDED_QUERY_KEYS:
        return "excluded"
    stem, dot, extension = segments[-1].rpartition(".")
    if not dot:
        stem, extension = segments[-1], ""
    if extension in _FILE_EXTENSIONS:
        return "excluded"
    if extension and extension not in _PAGE_EXTENSIONS:
        stem = segments[-1]  # a dot inside a slug, not an extension
    words = [w for w in re.split(r"[-_+.\s]+", stem) if w]
    alphabetic = [w for w in words if w.isalpha()]
    if _LONG_ID.search("/".join(segments)):
        return "article"
    if _DATE.search("/" + "/".join(segments) + "/"):
        # /2026/11/30/ferry-strike is an article, /2026/11/ a month's archive
        return "section" if stem.isdigit() else "article"
    if len(words) >= 3 and len(alphabetic) >= 2:
        return "article"
    if len(words) == 2 or any(c.isdigit() for c in stem):
        return "weak"
    if extension in _PAGE_EXTENSIONS and stem not in ("index", "default", "home", "main"):
        return "weak"
    return "section"


def _in_heading(anchor: LexborNode) -> bool:
    if anchor.css_first(_HEADINGS) is not None:  # <a class="card"><h3>Title</h3></a>
        return True
    node = anchor.parent
    while node is not None and node.tag not in ("body", "html", "-undef"):
        if node.tag in ("h1", "h2", "h3", "h4"):
            return True
        node = node.parent
    return False


def _links_one_place(block: LexborNode) -> bool:
    """Whether every link in a block goes to one page: a teaser, whose heading is its
    article's, not a list of several articles under a section's heading."""
    targets = {
        (a.attributes.get("href") or "").split("#", 1)[0].split("?", 1)[0].strip()
        for a in block.css("a[href]")
    }
    return len(targets) <= 1


def _title(anchor: LexborNode, story: LexborNode | None) -> tuple[str | None, int]:
    """The link's title and how sure it is: 3 a headline link's own text, 2 other link
    text, 1 a label, its teaser's heading or an image's alt, 0 none."""
    text = clean_title(anchor.text(separator=" "))
    if text and text.lower() not in _GENERIC_LINK_TEXT:
        return text, 3 if _in_heading(anchor) else 2
    for attribute in ("aria-label", "title"):
        label = clean_title(anchor.attributes.get(attribute))
        if label:
            return label, 1
    if story is not None and _links_one_place(story):
        heading = story if story.tag in ("h1", "h2", "h3", "h4") else story.css_first(_HEADINGS)
        if heading is not None:
            found = clean_title(heading.text(separator=" "))
            if found:
                return found, 1
    image = anchor.css_first("img[alt]")
    alt = clean_title(image.attributes.get("alt")) if image is not None else None
    return (alt, 1) if alt else (text, 0)


def front_links(
    html: str, url: str, follow_match: Sequence[str | re.Pattern[str]] = ()
) -> tuple[FoundArticle, ...]:
    """The article links of a section front, in page order, each URL absolute and canonical.

    ``url`` is the front's own URL (relative links resolve against it, or its <base>).
    With ``follow_match``, only links whose canonical URL matches one of the regexes are
    kept; a bad regex raises ValueError (the config loader checks them first).
    """
    patterns = compile_follow_match(follow_match)
    tree = LexborHTMLParser(html)
    base = url
    base_tag = tree.css_first("base[href]")
    if base_tag is not None:
        try:
            base = urljoin(url, (base_tag.attributes.get("href") or "").strip())
        except ValueError:
            base = url

    # url -> (article, title rank): a link seen twice keeps its first place in the page
    # and its best title (the headline's, not the picture's or a "Read more").
    found: dict[str, tuple[FoundArticle, int]] = {}
    for anchor in tree.css("a[href]"):
        href = (anchor.attributes.get("href") or "").strip()
        if not href or href.lower().startswith(_SKIP_SCHEMES):
            continue
        article_url = resolve_link(href, base, url)
        if article_url is None or not same_site(article_url, url):
            continue
        if patterns and not any(p.search(article_url) for p in patterns):
            continue
        chrome, story = _placement(anchor)
        if chrome:
            continue
        shape = _shape(article_url, url)
        if shape == "article" or (shape == "weak" and story is not None):
            title, rank = _title(anchor, story)
            earlier = found.get(article_url)
            if earlier is None or rank > earlier[1]:
                found[article_url] = (
                    FoundArticle(url=article_url, title=title, source="front"), rank)
    return tuple(article for article, _ in found.values())
