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


# --- configuration --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Watch:
    """One watched page, as configured."""

    name: str
    url: str
    interval: float  # seconds between checks (daemon)
    timeout: float  # total deadline of one fetch, seconds
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # kept as pairs: frozen and hashable
    enabled: bool = True
    robots: bool = True  # obey robots.txt (daemon)
    ignore: tuple[str, ...] = ()  # regexes removed from text before diffing
    debounce: float = 0.0  # seconds: hold story.changed until the page is quiet this long
    follow: bool = False  # a feed or section front: discover its articles and track each
    follow_for: float = 2 * 86400.0  # seconds each discovered article is tracked
    follow_match: tuple[str, ...] = ()  # regexes an article URL must match (any one)
    follow_max: int = 500  # articles this watch tracks at once
    parent: str | None = None  # set on a followed article's own watch: who found it


@dataclass(frozen=True, slots=True)
class Settings:
    """Global settings: the [settings] table."""

    database: str
    alert_log: str
    user_agent: str
    concurrency: int = 16
    per_host: int = 2
    interval: float = 900.0
    timeout: float = 30.0
    max_body: int = 10_000_000
    failure_threshold: int = 3
    keep_snapshots: int = 100
    allow_file_urls: bool = False
    jitter: float = 0.1  # share of the interval
    host_delay: float = 1.0  # seconds between two requests to one host (daemon)
    shutdown_timeout: float = 10.0
    compare_versions: int = 1  # a flip back to one of the last N versions is not announced
    alert_log_max_size: int = 0  # rotate the alert log in-process past this size; 0: never
    alert_log_backups: int = 5  # rotated files kept (alerts.jsonl.1 ... .N)


@dataclass(frozen=True, slots=True)
class Notify:
    """A [[notify]] table: where chosen events are delivered beyond the log."""

    name: str
    url: str  # http(s) webhook, or an Apprise URL when kind = "apprise"
    kind: Literal["webhook", "apprise"] = "webhook"
    events: tuple[str, ...] = ()  # empty: every event
    watches: tuple[str, ...] = ()  # empty: every watch
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 10.0
    retries: int = 5


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    settings: Settings
    watches: tuple[Watch, ...]
    notify: tuple[Notify, ...] = ()

    def watch(self, name: str) -> Watch:
        for watch in self.watches:
            if watch.name == name:
                return watch
        raise KeyError(name)


# --- fetching -------------------------------------------------------------------------

FetchOutcome = Literal["ok", "not_modified", "failed", "blocked"]


@dataclass(frozen=True, slots=True)
class Validators:
    """The server's own cache validators, sent back as If-None-Match / If-Modified-Since."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    outcome: FetchOutcome
    status: int | None = None
    text: str | None = None  # decoded body, for "ok"
    final_url: str | None = None
    content_type: str | None = None
    encoding: str | None = None
    validators: Validators = field(default_factory=Validators)
    bytes: int = 0  # decoded body size
    duration: float = 0.0  # seconds
    error: str | None = None  # why it failed or was blocked
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After
    # No (complete) answer from the site: connection refused or reset, name not
    # resolved, TLS handshake failed, timed out. The site is down or cut off from us.
    unreachable: bool = False


# --- changes --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDiff:
    """A unified diff of block texts and how many blocks it touches."""

    unified: str
    added: int
    removed: int
    changed: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


# --- alerts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """One line of the alert log. ``fields`` holds the event's own fields (JSON values)."""

    alert_id: str
    ts: str  # UTC, ISO 8601
    event: str
    watch: str
    url: str
    fields: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "ts": self.ts, "event": self.event, "alert_id": self.alert_id,
            "watch": self.watch, "url": self.url, **self.fields,
        }
