"""Step 2: teaser lists ("Related", "Most read": headlines with one-line blurbs) are set
aside before stories are cut, so that they neither become stories nor split one."""

from __future__ import annotations

from scraper.stories._page import MARKER_PREFIX, Page, summary_direction
from scraper.stories._text import sentence_count

# A teaser blurb: one short line under a teaser headline.
_BLURB_CHARS = 220
# Unlinked headline units outside any article element that make a teaser list unmarked.
_MIN_UNLINKED_UNITS = 3


def teaser_zones(page: Page) -> dict[int, str]:
    """Blocks of teaser lists -> 'teaser' (a headline) or a drop reason."""
    zone: dict[int, str] = {}
    n = len(page.blocks)
    blocks = page.blocks

    def body_at(j: int, i: int) -> bool:
        return j < n and not page.headline[j] and blocks[j].container == blocks[i].container

    def unit_end(i: int) -> int | None:
        """If headline i heads a teaser unit (headline + at most one short blurb), the index
        after the unit; None otherwise. A link line ("SEE MORE: ...") is a teaser even in
        the middle of a story: the story goes on after it."""
        if not page.headline[i] or page.marker[i] or summary_direction(page, i):
            return None
        link = blocks[i].kind == "link_line"
        j = i + 1
        if body_at(j, i) and len(blocks[j].text) <= _BLURB_CHARS \
                and sentence_count(blocks[j].text) <= 2 and not body_at(j + 1, i):
            return j + 1  # headline + blurb
        if body_at(j, i) and not link:
            return None  # the start of a body, not a teaser
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
            blocks[u].kind == "link_line" or blocks[u].href or MARKER_PREFIX.match(blocks[u].text)
            for u, _ in units
        )
        # Unlinked headings with one-line paragraphs can be an article's own sections: they
        # need a "Related"-style heading above them, or a longer run outside any article.
        outside = not blocks[start].container if start < n else True
        if page.marker[i] or (units and linkish) or (
            outside and len(units) >= _MIN_UNLINKED_UNITS
        ):
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
