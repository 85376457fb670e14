"""schema.org Article items from a page's JSON-LD scripts.

Sites publish JSON-LD in every shape: one object, a list, an @graph, an Article nested as a
WebPage's mainEntity, HTML entities inside strings, trailing semicolons, comments. Whatever
does not parse is ignored: metadata must never fail an extraction. Nesting is bounded before
parsing (`MAX_NESTING`): a script of a thousand nested arrays is 2 KB, and Python's json
module would recurse once per level.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

from scraper.extract._text import clean_text
from scraper.models import ArticleMeta

_ARTICLE_TYPES = frozenset({
    "Article", "NewsArticle", "BlogPosting", "ReportageNewsArticle", "AnalysisNewsArticle",
    "OpinionNewsArticle", "BackgroundNewsArticle", "ReviewNewsArticle", "LiveBlogPosting",
    "TechArticle", "ScholarlyArticle", "SatiricalArticle", "Report", "SocialMediaPosting",
})
_MAX_DEPTH = 6  # Article items sit near the top; deep data (offers, images) is not walked
MAX_NESTING = 100  # deeper JSON is not metadata anyone publishes: the script is ignored
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def too_deep(raw: str, limit: int = MAX_NESTING) -> bool:
    """Whether brackets nest deeper than `limit` in a JSON text, strings left out (a scan,
    no recursion; it stops at the first level past the limit)."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", raw)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _loads(raw: str) -> Any:
    raw = raw.strip()
    # Some CMSs wrap the JSON in an HTML comment or CDATA, or end it with a semicolon.
    for prefix, suffix in (("<!--", "-->"), ("/*<![CDATA[*/", "/*]]>*/"), ("<![CDATA[", "]]>")):
        if raw.startswith(prefix) and raw.endswith(suffix):
            raw = raw[len(prefix) : -len(suffix)].strip()
    raw = raw.rstrip(";").strip()
    if not raw or too_deep(raw):
        return None
    try:
        return json.loads(raw, strict=False)  # strict=False: raw newlines inside strings
    except (ValueError, RecursionError):  # RecursionError: a deep stack at the call site
        return None


def _items(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every dict that could be an item: top level, lists, @graph, nested entities."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(data, list):
        for item in data:
            yield from _items(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        for key, value in data.items():
            if isinstance(value, dict | list) and key not in ("image", "logo", "offers"):
                yield from _items(value, depth + 1)


def _is_article(item: dict[str, Any]) -> bool:
    types = item.get("@type")
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list):
        return False
    for name in types:
        if isinstance(name, str):
            name = name.rsplit("/", 1)[-1].rsplit(":", 1)[-1]  # "schema:NewsArticle", URLs
            if name in _ARTICLE_TYPES:
                return True
    return False


def _text(value: Any) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, str):
        return None
    text = " ".join(clean_text(html.unescape(value)).split())
    return text or None


def _url(item: dict[str, Any]) -> str | None:
    url = _text(item.get("url"))
    if url:
        return url
    page = item.get("mainEntityOfPage")
    if isinstance(page, dict):
        return _text(page.get("@id")) or _text(page.get("url"))
    return _text(page)


def _body(value: Any) -> str | None:
    """articleBody keeps its line breaks: they are the paragraphs."""
    if isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, str):
        return None
    lines = (" ".join(line.split()) for line in clean_text(html.unescape(value)).splitlines())
    body = "\n".join(line for line in lines if line)
    return body or None


def parse_articles(scripts: list[str]) -> tuple[ArticleMeta, ...]:
    """ArticleMeta for every Article-like item in the given JSON-LD script texts."""
    found: list[ArticleMeta] = []
    seen: set[tuple[str | None, str | None]] = set()
    for raw in scripts:
        for item in _items(_loads(raw)):
            if not _is_article(item):
                continue
            meta = ArticleMeta(
                headline=_text(item.get("headline")) or _text(item.get("name")),
                url=_url(item),
                body=_body(item.get("articleBody")),
            )
            key = (meta.headline, meta.url)
            if key in seen:  # the same item repeated in two scripts
                continue
            seen.add(key)
            found.append(meta)
    return tuple(found)
