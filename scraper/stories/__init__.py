"""Cut an extracted page into stories: extract -> **stories** -> diff.

``split_stories(page)`` is pure and synchronous: a few milliseconds for a 100-block page.

1. Deduplicate (``_dedup``). Dropped, each with a reason in ``StorySplit.dropped``: exact
   repeats ("repeats title 'X'" when the first copy is a headline, else "exact repeat"),
   bare URLs ("short link" up to 45 characters, else "bare link"), link lines of one or
   two words (buttons, menus), and blocks that restate a longer one: a bullet whose word
   bigrams mostly (>= 60 %) occur in a paragraph, or in two adjacent ones with the same
   figures (summaries fuse sentences and respell them:
   "US-made" / "U.S.-made", "defense" / "defence"); a paragraph needs >= 85 %. The reason
   names the paragraph copied: "restates a sentence of paragraph N [of story K]". Bylines,
   captions, photo credits, time stamps and copyright lines are not body: they are dropped
   as "byline, not body" etc. rather than silently ignored, so the user sees where they
   went.
2. Set teaser lists aside (``_teasers``): a "Related" / "Most read" / "Read next" heading and
   the headline units under it, link lines ("SEE MORE: ..."), or (outside any <article>) a
   run of three or more headlines each carrying at most one short blurb. Their headlines go
   to ``StorySplit.teasers``; blurbs are dropped as "teaser blurb".
3. Find story starts (``_segment._cuts``), strongest signal first: a change of
   ``Block.container``; a headline followed by a dropped summary (short link, its own
   repeat, restating bullets, a byline) - when the bullets restate the paragraphs *above*
   it, or (with no bullets) its words belong to the untitled body above, the headline
   trails its story (the seed's story A) and closes it instead; a JSON-LD headline; a
   dateline ("CARACAS:", "LONDON (Reuters) -", "WASHINGTON —") unless many paragraphs
   open with labels (a transcript); an h1 below body text; outside <article> elements, an
   h1/h2 (or text-dump line) of headline length (>= 6 words) with two paragraphs of prose
   on each side and a vocabulary shift across it. Anything else is a crosshead and stays
   in the story. Last, stretches without any of these are split divisively where the
   topic-word vectors of the two sides are least alike (cosine < 0.05, or a clear valley
   < 0.10 and under half the median), with six paragraphs of prose on each side.
4. Assemble (``_segment._assemble``): the title is a trailing title block, else the
   JSON-LD headline, the h1 or the first headline above the body (headlines above it are
   kickers, dropped; those below it stay in the body). A segment without a real body (two
   paragraphs of prose, or ~400 characters under a headline) is a teaser when it has a
   headline, the title of the untitled article that follows, or else the tail of the
   story above; text resuming after an inserted <article> rejoins the story it left.
   Each story is fingerprinted (``_text.fingerprint_text``): blake2b of the normalised
   text, SimHash of its word 3-shingles; ``Story.id`` is the SimHash.

Rendering (``_render``): ``render_split_json`` (the stable public shape) and
``render_split_text`` (a human summary).
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
            title=s.title,
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
