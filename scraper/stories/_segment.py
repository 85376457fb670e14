"""Steps 2-3: cut the deduplicated blocks into stories and set teaser lists aside."""

from __future__ import annotations

import bisect
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

from scraper.models import ArticleMeta, Block
from scraper.stories._dedup import Drop
from scraper.stories._text import (
    dateline,
    is_url,
    looks_like_headline,
    normalise,
    sentence_count,
    strip_bullet,
    topic_terms,
)

# Cosine similarity of the topic words on either side of a heading below which the heading
# starts a new story rather than a section of the same one (measured: see _tune notes in
# the package docstring).
HEAD_SHIFT = 0.3
# Crossheads are short ("Trump rebuked by Senate"); story headlines rarely are.
HEADLINE_WORDS = 6
# For unmarked text (no headings, no datelines) a stricter bar: a vocabulary valley this
# low and this deep, with enough text on both sides.
TILE_SHIFT = 0.03
TILE_DEPTH = 0.3
TILE_MIN_SIDE = 5
_LEFT_ITEMS = 30
_RIGHT_ITEMS = 4
_MIN_UNLINKED_UNITS = 3
# A teaser blurb: one short line under a teaser headline.
_BLURB_CHARS = 220
# A story needs a real body: two paragraphs of prose, or this much text.
_BODY_CHARS = 400
_PROSE_WORDS = 8

_DEBUG = bool(__import__("os").environ.get("STORIES_DEBUG"))
_MARKER = re.compile(
    r"(related|related (stories|articles|news|content|coverage|links|reading|topics)"
    r"|most (read|popular|viewed|shared|commented)|read (next|more|also)|also read"
    r"|more (from|on|in|stories|news|top stories|like this)( .*)?|recommended( for you)?"
    r"|you (may|might) (also )?(like|be interested in)|trending( now| stories)?|popular"
    r"|latest( news| stories)?|see also|top stories|editors? picks|what to read next"
    r"|further reading|in other news|don t miss|more to explore|up next|next story)"
)
_MARKER_PREFIX = re.compile(r"(read more|related|also read|see also|read next|more)\s*:\s*\S",
                            re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Segment:
    title: Block | None
    body: tuple[Block, ...]
    url: str | None = None


@dataclass(slots=True)
class _Page:
    """Per-block features of the kept blocks, computed once."""

    blocks: list[Block]
    headline: list[bool] = field(default_factory=list)
    marker: list[bool] = field(default_factory=list)
    terms: list[Counter[str]] = field(default_factory=list)
    after: list[list[Drop]] = field(default_factory=list)  # drops between block i and i+1


def _features(blocks: list[Block], drops: list[Drop]) -> _Page:
    page = _Page(blocks)
    for b in blocks:
        text = b.text
        head = (
            b.kind in ("title", "heading")
            or (b.kind == "link_line" and not is_url(text))
            # list items are list entries (or "- crosshead -" lines), never headlines
            or (b.kind == "paragraph" and looks_like_headline(text))
            or _MARKER_PREFIX.match(text) is not None
        )
        page.headline.append(head)
        marker = len(text) < 40 and _MARKER.fullmatch(normalise(text)) is not None
        page.headline[-1] = head or marker
        page.marker.append(marker)
        page.terms.append(Counter() if head else topic_terms(text))
    page.after = [[] for _ in blocks]
    j = 0
    for d in drops:
        while j + 1 < len(blocks) and blocks[j + 1].position < d.block.position:
            j += 1
        if blocks and blocks[j].position < d.block.position:
            page.after[j].append(d)
    return page


def _is_prose(b: Block) -> bool:
    return len(b.text.split()) >= _PROSE_WORDS and sentence_count(b.text) >= 1


def _real_body(body: list[Block]) -> bool:
    prose = [b for b in body if _is_prose(b)]
    return len(prose) >= 2 or sum(len(b.text) for b in body) >= _BODY_CHARS


# A long bare link after a heading is a citation, not a title block's short link.
_EVIDENCE = ("short link", "repeats title", "restates", "byline")


def _summary_direction(page: _Page, i: int) -> int:
    """For headline i followed by dropped summary lines (short link, title repeat, restating
    bullets, byline): -1 if they restate earlier paragraphs (a title block trailing its
    story), +1 otherwise (a title block leading its story), 0 if there are none."""
    drops = [d for d in page.after[i] if d.reason.startswith(_EVIDENCE)]
    if not drops:
        return 0
    pos = page.blocks[i].position
    targets = [d.restates for d in drops if d.reason == "restates" and d.restates is not None]
    if targets and all(t < pos for t in targets):
        return -1
    return 1


def _teaser_zones(page: _Page) -> dict[int, str]:
    """Blocks of teaser lists -> 'teaser' (a headline) or a drop reason."""
    zone: dict[int, str] = {}
    n = len(page.blocks)
    blocks = page.blocks

    def unit_end(i: int) -> int | None:
        """If headline i heads a teaser unit (headline + at most one short blurb), the index
        after the unit; None otherwise."""
        if not page.headline[i] or page.marker[i] or _summary_direction(page, i):
            return None
        j = i + 1
        if j < n and not page.headline[j] and blocks[j].container == blocks[i].container:
            if len(blocks[j].text) > _BLURB_CHARS or sentence_count(blocks[j].text) > 2:
                return None
            j += 1
        if j < n and not page.headline[j] and blocks[j].container == blocks[i].container:
            return None  # two body lines: the start of a body, not a teaser
        return j

    i = 0
    while i < n:
        units: list[tuple[int, int]] = []
        start = i + 1 if page.marker[i] else i
        j = start
        while j < n and (end := unit_end(j)) is not None:
            units.append((j, end))
            j = end
            if blocks[j - 1].container != blocks[start].container:
                break
        linkish = all(
            blocks[u].kind == "link_line" or blocks[u].href or _MARKER_PREFIX.match(blocks[u].text)
            for u, _ in units
        )
        # Unlinked headings with one-line paragraphs can be an article's own sections: they
        # need a "Related"-style heading above them, or a longer run.
        if page.marker[i] or len(units) >= _MIN_UNLINKED_UNITS or (units and linkish):
            if page.marker[i]:
                zone[i] = "teaser list heading"
            for u, end in units:
                zone[u] = "teaser"
                for k in range(u + 1, end):
                    zone[k] = "teaser blurb"
            i = max(j, i + 1)
        else:
            i += 1
    return zone


def _jsonld_matches(page: _Page, articles: tuple[ArticleMeta, ...]) -> dict[int, ArticleMeta]:
    heads = {normalise(a.headline): a for a in articles if a.headline}
    found: dict[int, ArticleMeta] = {}
    if not heads:
        return found
    for i, b in enumerate(page.blocks):
        if page.headline[i] or b.kind in ("title", "heading"):
            key = normalise(strip_bullet(b.text))
            art = heads.get(key)
            if art is None:  # sites trim or extend headlines: allow near matches
                words = set(key.split())
                for h, a in heads.items():
                    hw = set(h.split())
                    if words and hw and len(words & hw) / len(words | hw) >= 0.8:
                        art = a
                        break
            if art is not None:
                found[i] = art
    return found


def segment(
    blocks: list[Block], drops: list[Drop], articles: tuple[ArticleMeta, ...] = ()
) -> tuple[list[Segment], list[str], list[Drop]]:
    """Stories (as segments), teaser headlines, and the blocks set aside here."""
    page = _features(blocks, drops)
    zone = _teaser_zones(page)
    teasers = [strip_bullet(blocks[i].text) for i in sorted(zone) if zone[i] == "teaser"]
    extra = [Drop(blocks[i], r) for i, r in sorted(zone.items()) if r != "teaser"]
    flow = [i for i in range(len(blocks)) if i not in zone]
    if not flow:
        return [], teasers, extra
    matched = _jsonld_matches(page, articles)
    cuts, trailing = _cuts(page, flow, matched)
    segments, more_teasers, more_drops = _assemble(page, flow, cuts, trailing, matched, articles)
    return segments, teasers + more_teasers, extra + more_drops


def _gap_similarities(page: _Page, body: list[int], hard: set[int]) -> list[float | None]:
    """Topic similarity across the gap before each body[k]: everything since the last hard
    cut (a story's vocabulary accumulates: its people and places recur; at most
    _LEFT_ITEMS paragraphs) against the next _RIGHT_ITEMS paragraphs. None where a side is
    empty. Both windows slide, so the whole pass is linear in the text."""
    n = len(body)
    sims: list[float | None] = [None] * n
    left: dict[str, int] = {}
    right: dict[str, int] = {}
    norms = [0, 0]  # squared norms of left and right, kept up to date

    def add(window: dict[str, int], which: int, terms: Counter[str], sign: int) -> None:
        for w, v in terms.items():
            old = window.get(w, 0)
            if old + sign * v:
                window[w] = old + sign * v
            else:
                del window[w]
            norms[which] += 2 * old * sign * v + v * v

    # segments between hard cuts are independent
    starts = [k for k in range(n) if k == 0 or body[k] in hard] + [n]
    for lo, hi in itertools.pairwise(starts):
        left.clear()
        right.clear()
        norms[:] = [0, 0]
        for j in range(lo, min(hi, lo + _RIGHT_ITEMS)):
            add(right, 1, page.terms[body[j]], 1)
        for k in range(lo + 1, hi):
            add(left, 0, page.terms[body[k - 1]], 1)
            if k - 1 - lo >= _LEFT_ITEMS:
                add(left, 0, page.terms[body[k - 1 - _LEFT_ITEMS]], -1)
            add(right, 1, page.terms[body[k - 1]], -1)
            if k - 1 + _RIGHT_ITEMS < hi:
                add(right, 1, page.terms[body[k - 1 + _RIGHT_ITEMS]], 1)
            if norms[0] > 0 and norms[1] > 0:
                small, big = (right, left) if len(right) < len(left) else (left, right)
                dot = sum(v * big.get(w, 0) for w, v in small.items())
                sims[k] = dot / (norms[0] * norms[1]) ** 0.5
    return sims


def _cuts(
    page: _Page, flow: list[int], matched: dict[int, ArticleMeta]
) -> tuple[set[int], set[int]]:
    """Indices (into page.blocks) where a story starts; headlines that trail their story."""
    blocks = page.blocks
    head = page.headline
    cuts: set[int] = set()
    trailing: set[int] = set()
    pos_in_flow = {b: k for k, b in enumerate(flow)}
    body = [i for i in flow if not head[i]]
    first_body = body[0] if body else None

    def back_over_headlines(i: int) -> int:
        """A story starts at the headlines right above its first block."""
        k = pos_in_flow[i]
        while k > 0 and head[flow[k - 1]] and flow[k - 1] not in trailing \
                and blocks[flow[k - 1]].container == blocks[i].container:
            k -= 1
        return flow[k]

    # Different <article> containers are different stories.
    for prev, cur in itertools.pairwise(flow):
        if blocks[cur].container != blocks[prev].container:
            cuts.add(cur)
    # A headline followed by a dropped summary (short link, title repeat, restating
    # bullets) or a byline heads a story, or trails one when its bullets restate the
    # paragraphs above it. So does a JSON-LD headline, or an h1 below body text.
    for i in flow:
        if not head[i] or first_body is None:
            continue
        direction = _summary_direction(page, i)
        if direction < 0 and first_body < i:
            trailing.add(i)
            nxt = pos_in_flow[i] + 1
            if nxt < len(flow):
                cuts.add(flow[nxt])
        elif direction > 0 or i in matched or (blocks[i].kind == "title" and first_body < i):
            cuts.add(back_over_headlines(i))
    # Datelines open wire stories; a page where many paragraphs open with a capitalised
    # label is a transcript, whose labels are speakers, not places.
    lines = {i: dateline(blocks[i].text) for i in body}
    if sum(1 for v in lines.values() if v) <= max(1, len(body) // 5):
        for k, i in enumerate(body):
            if lines[i] and k > 0:
                cuts.add(back_over_headlines(i))
    # Lexical cohesion, measured within the stretches the signals above left whole.
    body_rank = {b: k for k, b in enumerate(body)}
    strong = {body[_next_body(body, c)] for c in cuts if _next_body(body, c) < len(body)}
    sims = _gap_similarities(page, body, strong)
    # A headline-length heading (crossheads are short: "Trump rebuked by Senate") between
    # two bodies starts a story unless the vocabulary runs on across it.
    for k, i in enumerate(flow):
        if not head[i] or i in trailing or k == 0 or first_body is None or first_body > i:
            continue
        nb = _next_body(body, i)
        if nb + 1 >= len(body) or len(strip_bullet(blocks[i].text).split()) < HEADLINE_WORDS:
            continue
        sim = sims[nb]
        if _DEBUG:
            print("HEADSIM", round(sim or -1, 3), len(blocks[i].text.split()), blocks[i].text[:50])
        if sim is not None and sim < HEAD_SHIFT:
            cuts.add(back_over_headlines(i))
    # Unmarked text outside any article element: TextTiling-style valleys.
    last_cut = 0
    for k in range(1, len(body)):
        if any(c <= body[k] and c > body[k - 1] for c in cuts):
            last_cut = k
        s = sims[k]
        if s is None or s >= TILE_SHIFT or k - last_cut < TILE_MIN_SIDE \
                or blocks[body[k]].container:
            continue
        if len(body) - k < TILE_MIN_SIDE:
            break
        left_peak = max((x for x in sims[max(1, k - 6) : k] if x is not None), default=s)
        right_peak = max((x for x in sims[k + 1 : k + 7] if x is not None), default=s)
        if (left_peak - s) + (right_peak - s) >= TILE_DEPTH:
            cuts.add(back_over_headlines(body[k]))
            last_cut = k
    del body_rank
    cuts.discard(flow[0])
    return cuts, trailing


def _next_body(body: list[int], i: int) -> int:
    """Index into `body` of the first body block at or after block i."""
    return bisect.bisect_left(body, i)


def _assemble(
    page: _Page,
    flow: list[int],
    cuts: set[int],
    trailing: set[int],
    matched: dict[int, ArticleMeta],
    articles: tuple[ArticleMeta, ...],
) -> tuple[list[Segment], list[str], list[Drop]]:
    blocks = page.blocks
    groups: list[list[int]] = []
    for i in flow:
        if not groups or i in cuts:
            groups.append([])
        groups[-1].append(i)

    def split_title(g: list[int]) -> tuple[int | None, list[int]]:
        tail = [i for i in g if i in trailing]
        if tail:
            return tail[0], [i for i in g if i != tail[0]]
        lead = []
        for i in g:
            if not page.headline[i]:
                break
            lead.append(i)
        if not lead:
            return None, g
        pick = next((i for i in lead if i in matched), None)
        pick = pick if pick is not None else next(
            (i for i in lead if blocks[i].kind == "title"), lead[0])
        return pick, [i for i in g if i != pick]

    parts = [split_title(g) for g in groups]
    real = [_real_body([blocks[i] for i in body if not page.headline[i]]) for _, body in parts]
    if not any(real):
        # Nothing reaches a story's length: the page is one short story.
        t, _ = parts[0]
        rest = [i for g in groups for i in g if i != t]
        return [_segment(page, t, rest, matched, articles, 1)], [], []
    drops: list[Drop] = []
    teasers: list[str] = []
    out: list[tuple[int | None, list[int]]] = []
    for k, (title, body) in enumerate(parts):
        nxt = parts[k + 1] if k + 1 < len(parts) else None
        if real[k]:
            out.append((title, body))
        elif title is not None and nxt is not None and real[k + 1] and nxt[0] is None:
            # A headline (and standfirst) just outside the article element it heads.
            parts[k + 1] = (title, body + nxt[1])
        elif title is not None:
            teasers.append(strip_bullet(blocks[title].text))
            drops += [Drop(blocks[i], "teaser blurb") for i in body]
        elif out and blocks[body[0]].container == blocks[out[-1][1][-1]].container:
            out[-1] = (out[-1][0], out[-1][1] + body)  # the tail of the story above
        elif nxt is not None and real[k + 1] and nxt[0] is None \
                and blocks[body[-1]].container == blocks[nxt[1][0]].container:
            parts[k + 1] = (None, body + nxt[1])
        else:
            drops += [Drop(blocks[i], "outside any story") for i in body]
    stories = [_segment(page, t, b, matched, articles, len(out)) for t, b in out]
    return stories, teasers, drops


def _segment(
    page: _Page,
    title: int | None,
    body: list[int],
    matched: dict[int, ArticleMeta],
    articles: tuple[ArticleMeta, ...],
    n_stories: int,
) -> Segment:
    blocks = page.blocks
    art = matched.get(title) if title is not None else None
    if art is None and n_stories == 1 and len(articles) == 1:
        art = articles[0]
    return Segment(
        title=blocks[title] if title is not None else None,
        body=tuple(blocks[i] for i in sorted(body)),
        url=art.url if art else None,
    )
