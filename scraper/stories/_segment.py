"""Step 3: cut the deduplicated, teaser-free blocks into stories and assemble them."""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections import Counter
from dataclasses import dataclass

from scraper.models import ArticleMeta, Block
from scraper.stories._dedup import Drop
from scraper.stories._page import (
    Page,
    features,
    real_body,
    restated_side,
    summary_direction,
)
from scraper.stories._teasers import teaser_zones
from scraper.stories._text import cosine, dateline, normalise, strip_bullet, topic_terms

# Cosine similarity of the topic words on either side of a headline-length heading below
# which it starts a new story (on the labelled corpus, same-topic stories split by a heading
# measure 0.19; sections of one story share more of their people and places).
HEAD_SHIFT = 0.3
# Crossheads are short ("Trump rebuked by Senate"); story headlines rarely are. And
# stories appended to a page are headed by h1 or h2 (level 0: a line of a text dump).
HEADLINE_WORDS = 6
_STORY_LEVEL = 2
# Unmarked text (no headings, no datelines) is split where the topic vectors of the two
# sides have cosine < TILE_SHIFT, or < TILE_VALLEY and < TILE_VALLEY_RATIO x the median
# over the stretch, with TILE_MIN_SIDE paragraphs of prose each side. On the article
# benchmark's bodies (>= 12 paragraphs) that splits 2 of 64 single stories and finds 364 of
# 401 concatenated pairs at their seam; the absolute bar alone found 283.
TILE_SHIFT = 0.05
TILE_VALLEY = 0.1
TILE_VALLEY_RATIO = 0.5
TILE_MIN_SIDE = 6
# The windows compared across a heading: the story so far, and the next paragraphs.
_LEFT_ITEMS = 30
_RIGHT_ITEMS = 4
# A trailing title shares its words with the body above it.
_AFFINITY = 0.1


@dataclass(frozen=True, slots=True)
class Segment:
    """One story as blocks: its headline, its body blocks in page order, its JSON-LD url."""

    title: str | None
    body: tuple[Block, ...]
    url: str | None = None


def _jsonld_matches(page: Page, articles: tuple[ArticleMeta, ...]) -> dict[int, ArticleMeta]:
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
    page = features(blocks, drops)
    zone = teaser_zones(page)
    teasers = [strip_bullet(blocks[i].text) for i in sorted(zone) if zone[i] == "teaser"]
    extra = [Drop(blocks[i], r) for i, r in sorted(zone.items()) if r != "teaser"]
    flow = [i for i in range(len(blocks)) if i not in zone]
    if not flow:
        return [], teasers, extra
    matched = _jsonld_matches(page, articles)
    cuts, trailing = _cuts(page, flow, matched)
    segments, more_teasers, more_drops = _assemble(page, flow, cuts, trailing, matched, articles)
    return segments, teasers + more_teasers, extra + more_drops


def _gap_similarity(page: Page, body: list[int], k: int, starts: list[int]) -> float | None:
    """Topic similarity across the gap before body[k]: everything since the last story
    start (a story's vocabulary accumulates: its people and places recur; at most
    _LEFT_ITEMS paragraphs) against the next _RIGHT_ITEMS paragraphs (up to the next
    start). None where a side is empty. `starts` are sorted indices into `body`."""
    n = bisect.bisect_right(starts, k)
    lo = max(starts[n - 1] if n else 0, k - _LEFT_ITEMS)
    hi = min(starts[n] if n < len(starts) else len(body), k + _RIGHT_ITEMS)
    left: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for j in range(lo, k):
        left.update(page.terms[body[j]])
    for j in range(k, hi):
        right.update(page.terms[body[j]])
    if not left or not right:
        return None
    return cosine(left, right)


def _cuts(
    page: Page, flow: list[int], matched: dict[int, ArticleMeta]
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
    # bullets) or a byline heads a story - or trails one, closing it, when its bullets
    # restate the paragraphs above it or (no bullets) its words belong to the untitled
    # body above (_trails). A JSON-LD headline, or an h1 below body text, heads a story.
    for i in flow:
        if not head[i] or first_body is None:
            continue
        direction = summary_direction(page, i)
        if first_body < i and (direction < 0 or (
                restated_side(page, i) == 0 and _trails(page, flow, pos_in_flow[i], trailing,
                                                        evidence=direction != 0))):
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
    strong = sorted({_next_body(body, c) for c in cuts})
    # A headline-length heading (crossheads are short: "Trump rebuked by Senate") with a
    # real body on both sides starts a story unless the vocabulary runs on across it.
    # Inside one <article> element, headings are the article's own sections, and so are
    # h3-h6 anywhere; a run of headings over one paragraph each is a listicle.
    long_heads = [k for k, i in enumerate(flow) if head[i] and i not in trailing
                  and not blocks[i].container and blocks[i].level <= _STORY_LEVEL
                  and len(strip_bullet(blocks[i].text).split()) >= HEADLINE_WORDS]
    prose_before = list(itertools.accumulate(
        (int(page.prose[i]) for i in flow), initial=0))
    for n, k in enumerate(long_heads):
        i = flow[k]
        start = long_heads[n - 1] if n else 0
        end = long_heads[n + 1] if n + 1 < len(long_heads) else len(flow)
        if prose_before[k] - prose_before[start] < 2 or prose_before[end] - prose_before[k] < 2:
            continue
        nb = _next_body(body, i)
        sim = _gap_similarity(page, body, nb, strong) if nb < len(body) else None
        if sim is not None and sim < HEAD_SHIFT:
            cuts.add(back_over_headlines(i))
    # Unmarked stretches: split where the two sides share least vocabulary.
    bounds = sorted({0, len(body)} | {_next_body(body, c) for c in cuts})
    for lo, hi in itertools.pairwise(bounds):
        if lo >= hi:
            continue
        for k in _divide(page, body, lo, hi):
            cuts.add(back_over_headlines(body[k]))
    cuts.discard(flow[0])
    return cuts, trailing


def _trails(page: Page, flow: list[int], k: int, trailing: set[int], evidence: bool) -> bool:
    """Whether headline flow[k] is the title block of the untitled story above it rather
    than a headline of what follows: it directly follows that story's body, which has no
    headline of its own; it comes as a block (a short link or its own repeat after it, or
    the next story's headline right below); and its words belong above (cosine with the
    body above >= _AFFINITY and more than twice that with the body below)."""
    head, blocks = page.headline, page.blocks
    if k == 0 or head[flow[k - 1]] or blocks[flow[k]].kind == "link_line":
        return False
    if not evidence and not (k + 1 < len(flow) and head[flow[k + 1]]):
        return False
    j = k - 1
    while j >= 0 and not head[flow[j]]:
        j -= 1
    if j >= 0 and flow[j] not in trailing:
        return False  # the story above already has its headline
    above: Counter[str] = Counter()
    for m in range(j + 1, k):
        above.update(page.terms[flow[m]])
    m = k + 1
    while m < len(flow) and head[flow[m]]:
        m += 1
    below: Counter[str] = Counter()
    while m < len(flow) and not head[flow[m]]:
        below.update(page.terms[flow[m]])
        m += 1
    own = topic_terms(blocks[flow[k]].text)
    up, down = cosine(own, above), cosine(own, below)
    return up >= _AFFINITY and up > 2 * down


def _divide(page: Page, body: list[int], lo: int, hi: int) -> list[int]:
    """Story starts inside body[lo:hi], found divisively: the split point where the topic
    vectors of everything before and everything after are least alike (cosine), kept when
    below TILE_SHIFT with at least TILE_MIN_SIDE paragraphs on each side, then each side
    again. Two halves of one story share its people, places and subject (median cosine
    0.27 on the article benchmark); two stories do not (median 0.03)."""
    # Each side needs TILE_MIN_SIDE paragraphs of prose: a list of tour dates or results
    # under an article is not a second story however different its words.
    prose = [0]
    for j in range(lo, hi):
        prose.append(prose[-1] + page.prose[body[j]])
    if prose[-1] < 2 * TILE_MIN_SIDE:
        return []
    left: dict[str, int] = {}
    right: dict[str, int] = {}
    for j in range(lo, hi):
        for w, v in page.terms[body[j]].items():
            right[w] = right.get(w, 0) + v
    dot = 0
    nl = 0
    nr = sum(v * v for v in right.values())
    best, best_k = 2.0, -1
    curve: list[float] = []
    for k in range(lo + 1, hi):
        # move body[k - 1] from the right side to the left, updating the sums in place
        for w, c in page.terms[body[k - 1]].items():
            lv, rv = left.get(w, 0), right[w]
            dot += c * rv - c * lv - c * c
            nl += 2 * c * lv + c * c
            nr += -2 * c * rv + c * c
            left[w] = lv + c
            right[w] = rv - c
        before = prose[k - lo]
        if before < TILE_MIN_SIDE or prose[-1] - before < TILE_MIN_SIDE or nl <= 0 or nr <= 0:
            continue
        cos = dot / (nl * nr) ** 0.5
        curve.append(cos)
        if cos < best:
            best, best_k = cos, k
    # Very low, or a clear valley: two political stories still share "party", "government"
    # (cosine ~0.07) while splits inside either one stay near 0.2.
    valley = best < TILE_VALLEY and best < TILE_VALLEY_RATIO * statistics.median(curve)
    if not curve or not (best < TILE_SHIFT or valley):
        return []
    return [*_divide(page, body, lo, best_k), best_k, *_divide(page, body, best_k, hi)]


def _next_body(body: list[int], i: int) -> int:
    """Index into `body` of the first body block at or after block i."""
    return bisect.bisect_left(body, i)


def _assemble(
    page: Page,
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

    drops: list[Drop] = []

    def split_title(g: list[int]) -> tuple[int | None, list[int]]:
        """The group's title (a trailing title block, else the JSON-LD headline, the h1 or
        the first headline above the body) and its body. Headlines above the title are
        kickers ("Politics", "BREAKING NEWS") and dropped; those below it (a deck) stay."""
        tail = [i for i in g if i in trailing]
        if tail:
            return tail[0], [i for i in g if i != tail[0]]
        lead = list(itertools.takewhile(lambda i: page.headline[i], g))
        if not lead:
            return None, g
        pick = next((i for i in lead if i in matched), None)
        pick = pick if pick is not None else next(
            (i for i in lead if blocks[i].kind == "title"), lead[0])
        kickers = lead[: lead.index(pick)]
        drops.extend(Drop(blocks[i], "label above the title") for i in kickers)
        return pick, [i for i in g if i != pick and i not in kickers]

    parts = [split_title(g) for g in groups]
    real = [real_body([blocks[i] for i in body if not page.headline[i]], t is not None)
            for t, body in parts]
    if not any(real):
        # Nothing reaches a story's length: the page is one short story.
        t, _ = parts[0]
        kicked = {d.block.position for d in drops}
        rest = [i for g in groups for i in g if i != t and blocks[i].position not in kicked]
        return [_make_segment(page, t, rest, matched, articles, 1)], [], drops
    teasers: list[str] = []
    out: list[tuple[int | None, list[int]]] = []
    for k, (title, body) in enumerate(parts):
        nxt = parts[k + 1] if k + 1 < len(parts) else None
        resumed = _resumed(blocks, out, title, body)
        if resumed is not None:
            # The rest of a story that an inserted <article> element interrupted.
            out[resumed] = (out[resumed][0], out[resumed][1] + body)
        elif real[k]:
            out.append((title, body))
        elif title is not None and nxt is not None and real[k + 1] and nxt[0] is None:
            # A headline (and standfirst) just outside the article element it heads.
            parts[k + 1] = (title, body + nxt[1])
        elif title is not None:
            teasers.append(strip_bullet(blocks[title].text))
            drops += [Drop(blocks[i], "teaser blurb") for i in body]
        else:
            # A short untitled stretch: the tail of the story above in its container, the
            # head of an untitled story below in its container, else furniture.
            here = blocks[body[0]].container
            below = nxt is not None and real[k + 1] and blocks[nxt[1][0]].container == here
            if out and (_containers(blocks, out[-1][1]) & {here} or (here and not below)):
                out[-1] = (out[-1][0], out[-1][1] + body)
            elif below and nxt is not None and nxt[0] is None:
                parts[k + 1] = (None, body + nxt[1])
            else:
                drops += [Drop(blocks[i], "outside any story") for i in body]
    stories = [_make_segment(page, t, b, matched, articles, len(out)) for t, b in out]
    return stories, teasers, drops


def _resumed(
    blocks: tuple[Block, ...], out: list[tuple[int | None, list[int]]], title: int | None,
    body: list[int],
) -> int | None:
    """The index in `out` of the story an untitled segment continues, when an article
    element of another container was inserted into it (A, <article>B</article>, A's end)."""
    if title is not None or not body or not out or not out[-1][1]:
        return None
    here = blocks[body[0]].container
    if _containers(blocks, out[-1][1]) & {"", here}:
        return None
    for n in range(len(out) - 2, -1, -1):
        if here in _containers(blocks, out[n][1]):
            return n
    return None


def _containers(blocks: tuple[Block, ...], body: list[int]) -> set[str]:
    return {blocks[i].container for i in body}


def _make_segment(
    page: Page,
    title: int | None,
    body: list[int],
    matched: dict[int, ArticleMeta],
    articles: tuple[ArticleMeta, ...],
    n_stories: int,
) -> Segment:
    blocks = page.blocks
    art = matched.get(title) if title is not None else None
    if art is None and n_stories == 1 and len(articles) == 1:
        art = articles[0]  # a one-story page and a one-article JSON-LD: the same story
    if title is not None:
        headline: str | None = strip_bullet(blocks[title].text)
    else:
        headline = art.headline if art else None
    return Segment(
        title=headline,
        body=tuple(blocks[i] for i in sorted(body)),
        url=art.url if art else None,
    )
