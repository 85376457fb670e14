"""Frozen dataclasses passed between the stages.

Data flows one way: config -> fetch -> extract -> stories -> diff -> store -> alerts.
Each stage takes values from this module and returns values from it; none of them
mutates what it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal[
    "title",  # the page's or an article's headline (<h1>, og:title)
    "heading",  # <h2>..<h6> inside the content
    "paragraph",
    "list_item",
    "quote",
    "table",  # one block per table row, cells joined by " | "
    "caption",  # figure captions: kept apart from the body
    "byline",  # author / date lines: kept apart from the body
    "link_line",  # a block whose text is (almost) all one link: short links, teasers
]


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of text on a page, in page order."""

    kind: BlockKind
    text: str
    position: int  # 0-based index in the page's block sequence
    # Which story-level container the block came from: the same string for blocks of
    # one <article> (or articleBody) element, different for different elements, "" when
    # the block is in none. The story splitter uses it as its strongest boundary signal.
    container: str = ""
    level: int = 0  # heading level 1-6 for "title"/"heading", else 0
    href: str | None = None  # the link target of a "link_line" (or a linked heading)


@dataclass(frozen=True, slots=True)
class ArticleMeta:
    """A schema.org Article/NewsArticle item found in the page's JSON-LD."""

    headline: str | None
    url: str | None = None
    body: str | None = None  # articleBody, when the site publishes it


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """What extraction gives the story splitter: the blocks and the page's metadata."""

    blocks: tuple[Block, ...]
    title: str | None = None  # <title> / og:title
    articles: tuple[ArticleMeta, ...] = ()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """How a story is recognised: exactly (same normalised text) and nearly (SimHash)."""

    exact: str  # hex digest of the normalised text
    simhash: int  # 64-bit SimHash over word shingles


@dataclass(frozen=True, slots=True)
class Story:
    title: str | None
    paragraphs: tuple[str, ...]  # body blocks in page order; the title is not repeated
    fingerprint: Fingerprint
    url: str | None = None

    @property
    def id(self) -> str:
        return f"{self.fingerprint.simhash:016x}"

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass(frozen=True, slots=True)
class Dropped:
    text: str
    reason: str  # e.g. "duplicate of title", "restates paragraph 3", "short link"


@dataclass(frozen=True, slots=True)
class StorySplit:
    """A page cut into stories, with every block the deduplicator dropped and why."""

    stories: tuple[Story, ...]
    dropped: tuple[Dropped, ...] = field(default=())
    teasers: tuple[str, ...] = field(default=())  # teaser headlines: not stories

    @property
    def mixed(self) -> bool:
        return len(self.stories) > 1
