"""Cut an extracted page into stories: extract -> **stories** -> diff.

``split_stories(page)`` is pure, synchronous and fast (well under 5 ms for a 100-block
page). It works in four steps:

1. Deduplicate (``_dedup``): drop exact repeats (a repeated title or link line), bare
   short links, and blocks that restate another: a bullet (or a short paragraph) whose word
   bigrams mostly (>= 60 %) occur in a longer paragraph, or in two adjacent ones, of the
   page: summaries that copy body sentences with small edits ("US-made" / "U.S.-made",
   "defense" / "defence"). Bylines and captions are not body: they are dropped too, with
   the reason "byline, not body" / "caption, not body", so nothing vanishes silently.
2. Set teaser lists aside (``_segment._teaser_zones``): a "Related" / "Most read" / ...
   heading and the units under it, or a run of headline units that each carry at most one
   short blurb (two or more; one is enough for a link line). Their headlines become
   ``StorySplit.teasers``; blurbs are dropped as "teaser blurb".
3. Find story starts (``_segment._cuts``), from strongest signal to weakest: a change of
   ``Block.container``; a headline followed by a dropped summary (short link, title
   repeat, restating bullets; when the bullets restate the paragraphs *above*, the
   headline trails its story and closes it instead); a JSON-LD headline; a dateline
   ("CARACAS:", "LONDON (Reuters) -"); an h1 after body text; any other heading with a
   vocabulary shift across it (topic-word cosine < ``HEAD_SHIFT``); in unmarked text, a
   TextTiling-style valley of topic similarity. A heading without any of these is a
   crosshead and stays in the story's paragraphs.
4. Assemble: a segment without a real body (two prose paragraphs or ~400 chars) is a
   teaser when it has a headline, the title of the article that follows when that has
   none, else the tail of the story above. Each story is fingerprinted (``_text``).
"""

from __future__ import annotations

from scraper.models import Dropped, ExtractedPage, Story, StorySplit
from scraper.stories._dedup import Drop, dedup
from scraper.stories._render import render_split_json, render_split_text
from scraper.stories._segment import segment
from scraper.stories._text import NEAR_DISTANCE, fingerprint_text, hamming, normalise

__all__ = [
    "NEAR_DISTANCE",
    "fingerprint_text",
    "hamming",
    "normalise",
    "render_split_json",
    "render_split_text",
    "split_stories",
]


def split_stories(page: ExtractedPage) -> StorySplit:
    """The page's stories in page order, the teaser headlines, and every dropped block."""
    kept, drops = dedup(page.blocks)
    segments, teasers, more = segment(kept, drops, page.articles)
    stories = tuple(
        Story(
            title=s.title.text if s.title else None,
            paragraphs=tuple(b.text for b in s.body),
            fingerprint=fingerprint_text(b.text for b in s.body),
            url=s.url,
        )
        for s in segments
    )
    # Where each kept block ended up, to name the paragraph a restatement copies.
    where: dict[int, tuple[int, int]] = {}
    for n, s in enumerate(segments):
        for p, b in enumerate(s.body):
            where[b.position] = (n, p)
    by_position = {d.block.position: d for d in drops}
    dropped = []
    for d in sorted(drops + more, key=lambda d: d.block.position):
        dropped.append(Dropped(d.block.text, _reason(d, where, by_position, len(segments))))
    return StorySplit(stories=stories, dropped=tuple(dropped), teasers=tuple(teasers))


def _reason(
    d: Drop, where: dict[int, tuple[int, int]], by_position: dict[int, Drop], n: int
) -> str:
    if d.reason != "restates":
        return d.reason
    target = d.restates
    seen = set()
    # The original may itself have been dropped as a restatement: follow the chain.
    while target in by_position and by_position[target].restates is not None \
            and target not in seen:
        seen.add(target)
        target = by_position[target].restates
    if target is None or target not in where:
        return "restates another block"
    story, para = where[target]
    return f"restates a sentence of paragraph {para + 1}" + (f" of story {story + 1}"
                                                               if n > 1 else "")
