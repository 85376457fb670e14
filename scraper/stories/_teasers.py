"""Step 2: teaser lists ("Related", "Most read": headlines with one-line blurbs or a few
bullets, news tickers, prev/next post cards) are set aside before stories are cut, so that
they neither become stories nor split one."""

from __future__ import annotations

import re
from collections import Counter

from scraper.stories._page import MARKER_PREFIX, Page, summary_direction
from scraper.stories._text import cosine, sentence_count, topic_terms

# A teaser blurb: one short line under a teaser headline (or a ticker's lead cut with "...").
_BLURB_CHARS = 220
_TICKER_CHARS = 400
_MAX_BULLETS = 3  # a teaser item may carry a few summary bullets
# Unlinked headline units outside any article element that make a teaser list unmarked,
# given evidence: most carry a blurb, or their vocabulary is foreign to the story around.
_MIN_UNLINKED_UNITS = 3
_FOREIGN = 0.08
_AROUND = 8  # paragraphs either side that stand for the surrounding story
# In-body list entries: "Battery: 4,500 mAh", "2 cups plain flour", "Monday: 9am to 5pm".
_ENTRY = re.compile(r"^(?:[\w'\- ]{1,25}:\s+\S|\d|[A-Z][a-z]+ \d)")
_ELLIPSIS = ("...", "\u2026")
_CARD_WORDS = 25
_TEASER_HEAD_WORDS = 5


def teaser_zones(page: Page) -> dict[int, str]:
    """Blocks of teaser lists -> 'teaser' (a headline) or a drop reason."""
    zone: dict[int, str] = {}
    n = len(page.blocks)
    blocks = page.blocks

    def body_at(j: int, i: int) -> bool:
        return j < n and not page.headline[j] and blocks[j].container == blocks[i].container

    def unit_end(i: int) -> int | None:
        """If headline i heads a teaser unit (headline + at most one short blurb, or a few
        bullets), the index after the unit; None otherwise. A link line ("SEE MORE: ...")
        is a teaser even in the middle of a story: the story goes on after it."""
        if page.marker[i] or summary_direction(page, i):
            return None
        j = i + 1
        if not page.headline[i]:
            # A ticker item: a short line ("... time to be careful?") over a lead cut
            # with "...", whatever the line's punctuation.
            if len(blocks[i].text.split()) <= _CARD_WORDS and body_at(j, i) \
                    and _ticker_lead(blocks[j].text) and not body_at(j + 1, i):
                return j + 1
            return None
        link = blocks[i].kind == "link_line"
        b = j
        while b < n and b - j < _MAX_BULLETS and blocks[b].kind == "list_item" \
                and blocks[b].text.startswith(("- ", "\u2022 ", "* ")) \
                and blocks[b].container == blocks[i].container:
            b += 1
        if b > j and not body_at(b, i):
            return b  # headline + bullets
        if body_at(j, i) and not body_at(j + 1, i):
            text = blocks[j].text
            if (len(text) <= _BLURB_CHARS and sentence_count(text) <= 2) or _ticker_lead(text):
                return j + 1  # headline + blurb
        if body_at(j, i) and not link:
            return None  # the start of a body, not a teaser
        return j

    i = 0
    while i < n:
        units: list[tuple[int, int]] = []
        start = i
        while start < n and page.marker[start]:  # "Continue Reading", "Previous post"
            start += 1
        j = start
        if start > i and start < n and not page.headline[start] \
                and len(blocks[start].text.split()) <= _CARD_WORDS \
                and blocks[start].container == blocks[i].container:
            units.append((start, start + 1))  # "Next post" / a title ending in "?"
            j = start + 1
        while j < n and (end := unit_end(j)) is not None:
            units.append((j, end))
            j = end
            if blocks[j - 1].container != blocks[start].container:
                break
        linkish = all(
            blocks[u].kind == "link_line" or blocks[u].href or MARKER_PREFIX.match(blocks[u].text)
            for u, _ in units
        )
        outside = not blocks[start].container if start < n else True
        ticker = len(units) >= 2 and all(
            end == u + 2 and _ticker_lead(blocks[u + 1].text) for u, end in units)
        if page.marker[i] or (units and linkish) or ticker or (
            outside and len(units) >= _MIN_UNLINKED_UNITS and _unmarked_teasers(page, units)
        ):
            for k in range(i, start):
                zone[k] = "teaser list heading"
            for u, end in units:
                zone[u] = "teaser"
                for k in range(u + 1, end):
                    zone[k] = "teaser blurb"
            i = max(j, i + 1)
        else:
            i += 1
    return zone


def _ticker_lead(text: str) -> bool:
    """A news ticker's lead: the start of a story cut short with "..."."""
    return len(text) <= _TICKER_CHARS and text.rstrip().endswith(_ELLIPSIS)


def _unmarked_teasers(page: Page, units: list[tuple[int, int]]) -> bool:
    """Whether a run of headline units with no "Related" heading is a teaser list rather
    than a list of the story's own (specs, ingredients, steps, opening times): not
    introduced by "...:", not entries of a list, and either their words are foreign to
    the paragraphs around them, or most carry a blurb and they end the page or a story."""
    blocks = page.blocks
    first, last = units[0][0], units[-1][1]
    if first > 0 and blocks[first - 1].text.rstrip().endswith(":"):
        return False
    heads = [blocks[u].text for u, _ in units]
    if sum(1 for h in heads if _ENTRY.match(h)) * 2 >= len(heads):
        return False
    blurbs = sum(1 for u, end in units if end > u + 1)
    # Headlines with blurbs at the edge of the page (or of a story: another title block
    # right after) are a teaser list; in the middle of a story they are its sections.
    at_edge = first == 0 or last >= len(blocks) or page.marker[last] or summary_direction(
        page, last) != 0
    own: Counter[str] = Counter()
    for u, end in units:
        for k in range(u, end):
            own.update(topic_terms(blocks[k].text))
    around: Counter[str] = Counter()
    for k in [*range(max(0, first - _AROUND), first), *range(last, min(len(blocks),
                                                                       last + _AROUND))]:
        around.update(page.terms[k])
    sim = cosine(own, around) if around else 0.0
    # Bare headlines must be headline-long: "Shortcut bar Oxyd" is a section, a label.
    long_heads = sum(len(h.split()) for h in heads) >= _TEASER_HEAD_WORDS * len(heads)
    return (sim < _FOREIGN and (long_heads or blurbs * 2 >= len(units))) or (
        blurbs * 2 >= len(units) and at_edge)
