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
2. Set teaser lists aside (``_teasers``): a "Related" / "Most read" / "Read next" heading
   (or prev/next post cards, "Continue Reading") and the headline units under it (a
   headline with one short blurb or up to three bullets), link lines ("SEE MORE: ..."),
   news tickers (lines over leads cut with "..."), or (outside any <article>) a run of
   three or more headlines with evidence: not under a "...:" line nor list entries
   ("Battery: 4,500 mAh"), and either foreign to the story around or carrying blurbs at the
   edge of a story. Their headlines go to ``StorySplit.teasers``; blurbs are dropped as
   "teaser blurb".
3. Find story starts (``_decode``): candidate boundaries (container changes, tops of
   headline runs below body text, the block after a trailing title block, datelines,
   cohesion valleys) are scored by a linear model over weighed evidence (title-block
   evidence, headline shape, dateline, TextTiling similarity and depth, new names, lede,
   and the topic and name cosines of the two whole segments a cut makes), fitted on a
   development set (``bench/fit_stories.py`` writes ``_weights.py``), and a dynamic
   programme picks the best set of cuts. A container change, a JSON-LD headline, a
   trailing title block (the seed's story A: its bullets restate the paragraphs above it)
   and a wire dateline below another story always cut; nothing cuts between a summary
   bullet or title repeat and the block it restates.
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
