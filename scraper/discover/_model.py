"""The values discovery returns: an article found, and what one feed or front gave."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SourceKind = Literal["feed", "front"]


@dataclass(frozen=True, slots=True)
class FoundArticle:
    """One article a feed or a section front links to."""

    url: str  # absolute and canonical (`canonical_url` without the page): compare by this
    title: str | None  # the feed item's title, or the link's text / nearest heading
    source: SourceKind
    published: datetime | None = None  # UTC, from the feed item; fronts give none


@dataclass(frozen=True, slots=True)
class Discovery:
    """What one fetched feed or front gave.

    ``error`` says why nothing could be read (a truncated or non-XML feed, an HTML page
    served at a feed URL, an empty or oversized body): the caller records it as a failed
    fetch and keeps every article it already follows. ``note`` says what a lenient parse
    forgave in a feed that was still read (an undefined entity, a wrong content type).
    """

    kind: SourceKind
    url: str
    articles: tuple[FoundArticle, ...] = ()
    title: str | None = None  # the feed's or the page's title
    ttl_s: float | None = None  # a feed's own <ttl> (or sy:updatePeriod), in seconds
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
