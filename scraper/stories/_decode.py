"""Step 3: where stories start, by weighed evidence and a global decoder.

Candidate boundaries are the places a story could start: a change of container, the top of
a run of headlines with body text above it, the block after a title block that trails its
story, a paragraph opening with a dateline, and (in long unmarked stretches) the valleys of
lexical cohesion. Each candidate carries context-free features (`LOCAL`: title-block
evidence, headline shape, dateline, local TextTiling similarity and depth, new names, lede
shape); a cut's score adds the features of the two whole segments it would create, which
depend on the neighbouring cuts (`CONTEXT`: their topic cosine, how much prose each has).
The score is a log-odds: a linear model whose weights `bench/fit_stories.py` fits on the
development set's tune split and writes to `_weights.py`.

Decoding picks the set of cuts with the highest total score, by dynamic programming over
the candidates with the last two cuts as state (a cut's score needs the segments on both
of its sides). Hard constraints: a container change always cuts (and splits the problem
into independent stretches); no cut falls inside a restatement span (a summary bullet or
title repeat and the block it restates stay together).
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from scraper.models import ArticleMeta
from scraper.stories._page import Page, summary_direction
from scraper.stories._text import cosine, dateline, strip_bullet, topic_terms
from scraper.stories._weights import WEIGHTS_MARKUP, WEIGHTS_PLAIN

LOCAL = (
    "bias",
    "lead_evidence",  # the run heads a title block (short link, repeat, bullets, byline)
    "evidence_kinds",  # how many kinds of that evidence, / 2
    "trailing",  # the cut follows a title block that closes the story above
    "dateline",  # the first paragraph below opens with a dateline
    "jsonld",  # a headline of the run is a JSON-LD headline
    "h1",  # the run holds a title (h1)
    "h2",  # ... a heading of level <= 2
    "plain_line",  # ... a headline-shaped line of a text dump
    "no_headline",  # a dateline or a cohesion valley alone
    "head_words",  # words of the longest headline of the run / 10 (at most 2)
    "head_stop",  # that headline ends like a sentence (". ? ! :")
    "run",  # more than one headline in the run (kicker, deck)
    "in_article",  # both sides in the same non-empty container
    "window_cos",  # topic cosine of the three paragraphs either side
    "depth",  # TextTiling depth of that similarity among its neighbours
    "new_names",  # share of the names below never seen in the ten paragraphs above
    "lede",  # the first paragraph below is long prose (>= 25 words)
    "head_above",  # topic cosine of the headline with the six paragraphs above
    "head_below",  # ... with the four paragraphs below
    "head_gap",  # head_below - head_above
    "long_head",  # the headline has six words or more
    "shift",  # new names below and little shared vocabulary across (new_names x low cos)
)
CONTEXT = (
    "segment_cos",  # topic cosine of the two whole segments the cut makes
    "segment_low",  # ... below 0.05
    "segment_hinge",  # ... how far below 0.2 (0-1)
    "short_side",  # one side has less than two paragraphs of prose
    "min_prose",  # log(1 + prose paragraphs of the smaller side)
    "valley_hinge",  # segment_hinge of a candidate with no headline or dateline
    "names_cos",  # cosine of the names (capitalised words) of the two segments
    "names_apart",  # ... below 0.02: no person or place in common
)
FEATURES = LOCAL + CONTEXT
_BARE = LOCAL.index("no_headline")

_WINDOW = 3
_NAMES_BEFORE = 10
_NAMES_AFTER = 3
_HEAD_ABOVE = 6  # body blocks compared with a headline, above and below it
_HEAD_BELOW = 4
# Stretches with more candidates keep the locally strongest (the decoder is cubic).
_MAX_CANDIDATES = 16
# Unmarked stretches propose cuts where the two sides' topic vectors meet this cosine.
_VALLEY_PROPOSE = 0.2
_VALLEY_MIN_SIDE = 5
# "LONDON, ENGLAND - NOVEMBER 18: Prince Andrew ...": an agency photo caption, not a lede.
_CAPTION_DATELINE = re.compile(r"^[A-Z][A-Z .,'\-]+ [-\u2013\u2014] [A-Z]{3,} \d{1,2}(?:, \d{4})?:")
_NAME = re.compile(r"(?<![.!?:\"\u201c] )(?<!^)\b[A-Z][a-z]{2,}")


@dataclass(frozen=True, slots=True)
class Candidate:
    k: int  # index into flow: the new story starts at flow[k]
    hard: bool  # a container change: always cut
    local: tuple[float, ...]  # values of LOCAL


@dataclass(frozen=True, slots=True)
class Problem:
    """The candidates of one page and what the context features need, computed once."""

    flow: tuple[int, ...]
    candidates: tuple[Candidate, ...]
    prose: tuple[int, ...]  # prose blocks in flow[:k], for k = 0..len(flow)
    weights: tuple[float, ...]


def weights_for(page: Page) -> tuple[float, ...]:
    return WEIGHTS_PLAIN if page.plain else WEIGHTS_MARKUP


def forbidden_positions(page: Page) -> list[tuple[int, int]]:
    """Restatement spans (lo, hi) of block positions: no story may start at a position in
    lo < p <= hi. A summary bullet and the paragraph it restates, a title and its repeat."""
    spans = []
    for drops in page.after:
        for d in drops:
            if d.restates is None:
                continue
            if d.reason == "restates" and d.block.kind != "list_item":
                continue  # a paragraph copying a paragraph may quote another story
            a, b = d.block.position, d.restates
            spans.append((min(a, b), max(a, b)))
    return spans


def build(
    page: Page,
    flow: list[int],
    matched: dict[int, ArticleMeta],
    trailing: set[int],
) -> Problem:
    blocks, head = page.blocks, page.headline
    n = len(flow)
    prose = [0]
    for i in flow:
        prose.append(prose[-1] + int(page.prose[i]))
    body_ks = [k for k, i in enumerate(flow) if not head[i]]
    spans = forbidden_positions(page)

    def forbidden(k: int) -> bool:
        p = blocks[flow[k]].position
        return any(lo < p <= hi for lo, hi in spans)

    # Datelines open wire stories, unless many paragraphs open with labels (a transcript).
    lines = {k: dateline(blocks[flow[k]].text) is not None for k in body_ks}
    transcript = sum(lines.values()) > max(1, len(body_ks) // 5)
    first_body = body_ks[0] if body_ks else n

    found: dict[int, dict[str, float]] = {}
    hard: set[int] = set()
    for k in range(1, n):
        if blocks[flow[k]].container != blocks[flow[k - 1]].container:
            hard.add(k)
            found.setdefault(k, {})
    # The top of each run of headlines (same container) below some body text.
    k = 0
    while k < n:
        if not head[flow[k]] or flow[k] in trailing:
            k += 1
            continue
        start = k
        while k < n and head[flow[k]] and flow[k] not in trailing \
                and blocks[flow[k]].container == blocks[flow[start]].container:
            k += 1
        # A story starts at its title block: headlines above one ("About the author",
        # the author's line) end the story above.
        titled = next((j for j in range(start, k) if summary_direction(page, flow[j]) > 0
                       and blocks[flow[j]].kind != "title"), None)
        if titled is not None and all(blocks[flow[j]].kind != "title" for j in range(start, k)):
            start = titled
        if start > first_body and k < n and not forbidden(start):
            f = _run_features(page, flow, start, k, matched)
            found.setdefault(start, {}).update(f)
            if f.get("jsonld"):
                hard.add(start)  # the site's own metadata names this headline a story
    # After a title block that closes the story above.
    for k, i in enumerate(flow):
        if i in trailing and k + 1 < n:
            # a title block closing the story above: what follows is another story
            found.setdefault(k + 1, {})["trailing"] = 1.0
            hard.add(k + 1)
    if not transcript:
        for k in body_ks:
            if lines[k] and k > first_body:
                top = k
                while top > 0 and head[flow[top - 1]] and flow[top - 1] not in trailing:
                    top -= 1
                if top > 0 and not forbidden(top):
                    found.setdefault(top, {})["dateline"] = 1.0
                    # A wire story's first line, below two paragraphs of another story's
                    # prose (not under a caption at the top of its own story).
                    last = max((j for j in found if j < top), default=0)
                    if prose[top] - prose[last] >= 2 and not _CAPTION_DATELINE.match(
                            blocks[flow[k]].text):
                        hard.add(top)
    # Cohesion valleys, between the cuts that are (nearly) certain: a story may have lost
    # its headline, and a crosshead is no evidence of a story either way.
    strong = {k for k, f in found.items() if k in hard or f.get("lead_evidence")
              or f.get("dateline")}
    bounds = sorted({0, n, *strong})
    for lo, hi in itertools.pairwise(bounds):
        for k in _valleys(page, flow, prose, lo, hi):
            while k > 0 and head[flow[k - 1]] and flow[k - 1] not in trailing:
                k -= 1  # a story starts at the headlines above its first paragraph
            if not forbidden(k) and k not in found:
                found[k] = {"no_headline": 1.0}

    cands = []
    win = _Windows(page, flow, body_ks)
    for k in sorted(found):
        f = found[k]
        f["head_gap"] = f.get("head_below", 0.0) - f.get("head_above", 0.0)
        f["long_head"] = 1.0 if f.get("head_words", 0.0) >= 0.6 else 0.0
        if k not in hard and not any(f.get(x) for x in ("h1", "h2", "plain_line", "jsonld")):
            f["no_headline"] = 1.0
        f["bias"] = 1.0
        if k in hard:  # always cut: its features weigh nothing
            cands.append(Candidate(k, True, tuple(f.get(x, 0.0) for x in LOCAL)))
            continue
        _cohesion_features(page, flow, k, body_ks, win, f)
        same = blocks[flow[k]].container and blocks[flow[k]].container == blocks[
            flow[k - 1]].container
        f["in_article"] = 1.0 if same else 0.0
        cands.append(Candidate(k, k in hard, tuple(f.get(x, 0.0) for x in LOCAL)))
    return Problem(tuple(flow), tuple(cands), tuple(prose), weights_for(page))


def _run_features(
    page: Page, flow: list[int], start: int, end: int, matched: dict[int, ArticleMeta]
) -> dict[str, float]:
    blocks = page.blocks
    f: dict[str, float] = {}
    kinds: set[str] = set()
    longest = ""
    for k in range(start, end):
        i = flow[k]
        b = blocks[i]
        if summary_direction(page, i) > 0:
            f["lead_evidence"] = 1.0
            kinds |= {d.reason.split(" ")[0] for d in page.after[i]}
        if i in matched:
            f["jsonld"] = 1.0
        if b.kind == "title":
            f["h1"] = 1.0
        elif b.kind == "heading" and b.level <= 2:
            f["h2"] = 1.0
        elif b.kind == "paragraph":
            f["plain_line"] = 1.0
        text = strip_bullet(b.text)
        if len(text) > len(longest):
            longest = text
    f["evidence_kinds"] = len(kinds) / 2
    f["head_words"] = min(2.0, len(longest.split()) / 10)
    f["head_stop"] = 1.0 if longest.rstrip("\"'\u2019\u201d)").endswith((".", "?", "!", ":")) \
        else 0.0
    f["run"] = 1.0 if end - start > 1 else 0.0
    if end < len(flow) and dateline(blocks[flow[end]].text):
        f["dateline"] = 1.0
    return f


class _Windows:
    """Topic vectors of runs of body blocks and the similarities between them, each
    computed once per page (neighbouring candidates share their windows)."""

    def __init__(self, page: Page, flow: list[int], body_ks: list[int]) -> None:
        self.terms = [page.terms[flow[k]] for k in body_ks]
        self.vectors: dict[tuple[int, int], dict[str, int]] = {}
        self.sims: dict[int, float | None] = {}

    def vector(self, lo: int, hi: int) -> dict[str, int]:
        lo, hi = max(0, lo), min(len(self.terms), hi)
        key = (lo, hi)
        got = self.vectors.get(key)
        if got is None:
            got = {}
            for t in self.terms[lo:hi]:
                for w, v in t.items():
                    got[w] = got.get(w, 0) + v
            self.vectors[key] = got
        return got

    def sim(self, gap: int) -> float | None:
        """Cosine of the _WINDOW body blocks before body gap `gap` and those after it."""
        if gap in self.sims:
            return self.sims[gap]
        value = None
        if 0 < gap < len(self.terms):
            left, right = self.vector(gap - _WINDOW, gap), self.vector(gap, gap + _WINDOW)
            value = cosine(left, right) if left and right else None
        self.sims[gap] = value
        return value


@lru_cache(maxsize=4096)
def _names(text: str) -> tuple[str, ...]:
    return tuple(w.lower()[:6] for w in _NAME.findall(text))


@lru_cache(maxsize=4096)
def name_counts(text: str) -> Mapping[str, int]:
    """Capitalised words not opening a sentence (people, places, firms), counted."""
    return Counter(_names(text))


def _cohesion_features(
    page: Page, flow: list[int], k: int, body_ks: list[int], win: _Windows,
    f: dict[str, float],
) -> None:
    """Local TextTiling similarity and depth around the gap before flow[k], new names, the
    headline's affinity above and below, lede."""
    g = bisect.bisect_left(body_ks, k)  # body_ks[g] is the first body block at or after k
    here = win.sim(g)
    if here is None:
        return
    f["window_cos"] = here
    left_peak = max((v for v in (win.sim(g - 1), win.sim(g - 2)) if v is not None),
                    default=here)
    right_peak = max((v for v in (win.sim(g + 1), win.sim(g + 2)) if v is not None),
                     default=here)
    f["depth"] = max(0.0, left_peak - here) + max(0.0, right_peak - here)
    seen: set[str] = set()
    for j in body_ks[max(0, g - _NAMES_BEFORE):g]:
        seen.update(page.tokens[flow[j]])
    names = [w for j in body_ks[g:g + _NAMES_AFTER] for w in _names(page.blocks[flow[j]].text)]
    if names:
        f["new_names"] = sum(1 for w in names if w not in seen) / len(names)
        f["shift"] = f["new_names"] * max(0.0, 1 - 5 * here)
    head_terms: Counter[str] = Counter()
    for j in range(k, body_ks[g]):
        head_terms.update(topic_terms(page.blocks[flow[j]].text))
    if head_terms:
        f["head_above"] = cosine(head_terms, win.vector(g - _HEAD_ABOVE, g))
        f["head_below"] = cosine(head_terms, win.vector(g, g + _HEAD_BELOW))
    first = page.blocks[flow[body_ks[g]]].text
    f["lede"] = 1.0 if page.prose[flow[body_ks[g]]] and len(first.split()) >= 25 else 0.0


def _valleys(page: Page, flow: list[int], prose: list[int], lo: int, hi: int) -> list[int]:
    """Cut candidates in flow[lo:hi] where everything before and everything after share
    least vocabulary (divisively, each side again), when low enough to be worth weighing."""
    if prose[hi] - prose[lo] < 2 * _VALLEY_MIN_SIDE:
        return []
    body = [k for k in range(lo, hi) if not page.headline[flow[k]]]
    left: dict[str, int] = {}
    right: dict[str, int] = {}
    for k in body:
        for w, v in page.terms[flow[k]].items():
            right[w] = right.get(w, 0) + v
    dot = 0
    nl = 0
    nr = sum(v * v for v in right.values())
    best, best_k = 2.0, -1
    for n in range(1, len(body)):
        for w, c in page.terms[flow[body[n - 1]]].items():
            lv, rv = left.get(w, 0), right[w]
            dot += c * rv - c * lv - c * c
            nl += 2 * c * lv + c * c
            nr += -2 * c * rv + c * c
            left[w] = lv + c
            right[w] = rv - c
        k = body[n]
        before = prose[k] - prose[lo]
        if before < _VALLEY_MIN_SIDE or prose[hi] - prose[k] < _VALLEY_MIN_SIDE or nl <= 0 \
                or nr <= 0:
            continue
        cos = dot / (nl * nr) ** 0.5
        if cos < best:
            best, best_k = cos, k
    if best_k < 0 or best >= _VALLEY_PROPOSE:
        return []
    return [*_valleys(page, flow, prose, lo, best_k), best_k,
            *_valleys(page, flow, prose, best_k, hi)]


# --- scoring and decoding -------------------------------------------------------------------


def context_values(
    cos: float, prose_left: int, prose_right: int, bare: float, names: float
) -> tuple[float, ...]:
    low = min(prose_left, prose_right)
    hinge = max(0.0, 0.2 - cos) * 5
    return (cos, 1.0 if cos < 0.05 else 0.0, hinge, 1.0 if low < 2 else 0.0,
            math.log1p(low), bare * hinge, names, 1.0 if names < 0.02 else 0.0)


class _Cohesion:
    """Topic cosines of any two adjacent segments of a stretch, in O(1) each: the stretch is
    cut into pieces at every candidate, the pieces' pairwise dot products are summed once
    (through an inverted index), and 2-D prefix sums give any block of them."""

    def __init__(self, vectors: list[Mapping[str, int]], flow: tuple[int, ...],
                 nodes: list[int]) -> None:
        m = len(nodes) - 1  # pieces: flow[nodes[p]:nodes[p + 1]]
        postings: dict[str, list[tuple[int, int]]] = {}
        for p in range(m):
            vec: Counter[str] = Counter()
            for k in range(nodes[p], nodes[p + 1]):
                vec.update(vectors[flow[k]])
            for w, c in vec.items():
                postings.setdefault(w, []).append((p, c))
        dots = [[0] * m for _ in range(m)]
        for plist in postings.values():
            for p, cp in plist:
                row = dots[p]
                for q, cq in plist:
                    row[q] += cp * cq
        pre = [[0] * (m + 1) for _ in range(m + 1)]
        for p in range(m):
            acc = 0
            for q in range(m):
                acc += dots[p][q]
                pre[p + 1][q + 1] = pre[p][q + 1] + acc
        self.pre = pre

    def _block(self, a: int, b: int, c: int, d: int) -> int:
        pre = self.pre
        return pre[b][d] - pre[a][d] - pre[b][c] + pre[a][c]

    def cos(self, a: int, b: int, c: int) -> float:
        """Cosine of pieces a..b-1 against pieces b..c-1."""
        dot = self._block(a, b, b, c)
        if dot <= 0:
            return 0.0
        na, nb = self._block(a, b, a, b), self._block(b, c, b, c)
        return dot / math.sqrt(na * nb) if na > 0 and nb > 0 else 0.0


def local_score(weights: tuple[float, ...], local: tuple[float, ...]) -> float:
    return sum(w * x for w, x in zip(weights, local, strict=False))


def decode(page: Page, problem: Problem) -> list[int]:
    """The flow indices where stories start: hard cuts plus the best-scoring set of others."""
    cands = problem.candidates
    n = len(problem.flow)
    w = problem.weights
    wc = w[len(LOCAL):]
    chosen = [c.k for c in cands if c.hard]
    edges = [0, *chosen, n]
    for lo, hi in itertools.pairwise(edges):
        # A candidate whose score stays negative in any context is never a cut.
        # (every context feature lies in [0, 1] but min_prose, at most log(1 + prose))
        top = [1.0] * len(CONTEXT)
        top[CONTEXT.index("min_prose")] = math.log1p(problem.prose[hi] - problem.prose[lo])
        room = sum(max(0.0, x) * t for x, t in zip(wc, top, strict=True))
        inner = [c for c in cands if lo < c.k < hi and not c.hard
                 and local_score(w, c.local) + room > 0]
        if len(inner) > _MAX_CANDIDATES:
            inner = sorted(inner, key=lambda c: -local_score(w, c.local))[:_MAX_CANDIDATES]
            inner.sort(key=lambda c: c.k)
        if inner:
            chosen += _decode_stretch(page, problem, lo, hi, inner, w, wc)
    return sorted(chosen)


def _decode_stretch(
    page: Page, problem: Problem, lo: int, hi: int, inner: list[Candidate],
    w: tuple[float, ...], wc: tuple[float, ...],
) -> list[int]:
    nodes = [lo, *(c.k for c in inner), hi]
    m = len(nodes) - 1  # node indices 0..m; 0 and m are the stretch's ends (fixed)
    base = [0.0] + [local_score(w, c.local) for c in inner] + [0.0]
    coh = _Cohesion(list(page.terms), problem.flow, nodes)
    # The people and places of each side: stories rarely share their names.
    names = _Cohesion([name_counts(b.text) for b in page.blocks], problem.flow, nodes)
    prose = problem.prose

    bare = [0.0] + [c.local[_BARE] for c in inner] + [0.0]

    def cut_score(a: int, b: int, c: int) -> float:
        ctx = context_values(coh.cos(a, b, c), prose[nodes[b]] - prose[nodes[a]],
                             prose[nodes[c]] - prose[nodes[b]], bare[b], names.cos(a, b, c))
        return base[b] + sum(x * y for x, y in zip(wc, ctx, strict=True))

    # best[(a, b)]: the best total of cuts before b, given the last two nodes are a, b
    # (the score of b itself is added once its right neighbour is known).
    neg = -math.inf
    best: dict[tuple[int, int], float] = {(-1, 0): 0.0}
    back: dict[tuple[int, int], int] = {}
    for b in range(0, m):
        for c in range(b + 1, m + 1):
            top, arg = neg, -2
            for a in range(-1, b):
                prev = best.get((a, b))
                if prev is None:
                    continue
                value = prev + (cut_score(a, b, c) if b > 0 else 0.0)
                if value > top:
                    top, arg = value, a
            if arg != -2:
                best[(b, c)] = top
                back[(b, c)] = arg
    end = max(((a, m) for a in range(0, m) if (a, m) in best), key=lambda s: best[s])
    picked: list[int] = []
    a, b = end
    while a > 0:
        picked.append(nodes[a])
        a, b = back[(a, b)], a
    return picked
