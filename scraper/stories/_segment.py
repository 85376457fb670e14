"""Step 3: cut the deduplicated, teaser-free blocks into stories (the cuts come from
_decode) and assemble them."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

from scraper.models import ArticleMeta, Block
from scraper.stories._decode import Problem, build, decode
from scraper.stories._dedup import Drop
from scraper.stories._page import (
    Page,
    features,
    real_body,
    restated_side,
    summary_direction,
)
from scraper.stories._teasers import teaser_zones
from scraper.stories._text import cosine, normalise, strip_bullet, topic_terms

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


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the boundary decoder sees of a page (bench/fit_stories.py fits on this)."""

    page: Page
    flow: list[int]
    trailing: set[int]
    problem: Problem


def prepare(
    blocks: list[Block], drops: list[Drop], articles: tuple[ArticleMeta, ...] = ()
) -> Prepared | None:
    page = features(blocks, drops)
    zone = teaser_zones(page)
    flow = [i for i in range(len(blocks)) if i not in zone]
    if not flow:
        return None
    matched = _jsonld_matches(page, articles)
    trailing = _trailing_titles(page, flow)
    return Prepared(page, flow, trailing, build(page, flow, matched, trailing))


def _cuts(
    page: Page, flow: list[int], matched: dict[int, ArticleMeta]
) -> tuple[set[int], set[int]]:
    """Indices (into page.blocks) where a story starts; headlines that trail their story."""
    trailing = _trailing_titles(page, flow)
    problem = build(page, flow, matched, trailing)
    cuts = {flow[k] for k in decode(page, problem)}
    cuts.discard(flow[0])
    return cuts, trailing


def _trailing_titles(page: Page, flow: list[int]) -> set[int]:
    """Headlines that close the story above them (the seed's story A): followed by a
    summary whose bullets restate the paragraphs above, or (no bullets) whose words belong
    to the untitled body above (_trails)."""
    head = page.headline
    trailing: set[int] = set()
    pos_in_flow = {b: k for k, b in enumerate(flow)}
    body = [i for i in flow if not head[i]]
    first_body = body[0] if body else None
    for i in flow:
        if not head[i] or first_body is None or first_body > i:
            continue
        direction = summary_direction(page, i)
        if direction < 0 or (
                restated_side(page, i) == 0 and _trails(page, flow, pos_in_flow[i], trailing,
                                                        evidence=direction != 0)):
            trailing.add(i)
    return trailing


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
