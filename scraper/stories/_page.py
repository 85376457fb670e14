"""Per-block features the splitter's steps share: which blocks are headlines, teaser-list
markers, prose; each block's topic words; the dropped blocks that follow each block."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

from scraper.models import Block
from scraper.stories._dedup import Drop
from scraper.stories._text import (
    block_stems,
    block_words,
    dateline,
    is_url,
    looks_like_headline,
    normalise,
    sentence_count,
    topic_terms,
)

# A story needs a real body: two paragraphs of prose, or (under a headline) this much text.
BODY_CHARS = 400
PROSE_WORDS = 8

# Headings over teaser lists ("Related", "Most read", "More from Sport"), as `normalise`
# leaves them: it glues apostrophes ("Don’t Miss" -> "dont miss"), and NFKC turns an acute
# accent used as one into a space ("Don´t" -> "don t").
MARKER = re.compile(
    r"(related|related (stories|articles|news|content|coverage|links|reading|topics)"
    r"|most (read|popular|viewed|shared|commented)|read (next|more|also)|also read"
    r"|more (from|on|in|stories|news|top stories|like this)( .*)?|recommended( for you)?"
    r"|you (may|might) (also )?(like|be interested in)|trending( now| stories)?|popular"
    r"|latest( news| stories)?|see also|top stories|editors? picks|what to read next"
    r"|further reading|in other news|don ?t miss|more to explore|up next|next story"
    # prev/next post cards: their titles change whenever the site publishes
    r"|(previous|prev|next|older|newer)( post| article| story| entry)?|continue reading"
    r"|keep reading|read the full story)"
)
# "Q: Where did you grow up?" heads an answer, not a story.
QUESTION = re.compile(r"^(?:Q|A|Question|Answer)\s*[:.\-]\s|\?['\"\u2019\u201d]?$")
# "Read more: ...", "Related: ..." lines are teasers.
MARKER_PREFIX = re.compile(r"(read more|related|also read|see also|read next|more)\s*:\s*\S",
                            re.IGNORECASE)

ENDS_SENTENCE = re.compile(r"[.!?][\"'\u2019\u201d)\]]*$")
MARKUP_KINDS = frozenset({"title", "heading", "byline", "caption", "quote", "table"})


@dataclass(frozen=True, slots=True)
class Page:
    """Per-block features of the kept blocks, computed once, indexed like `blocks`."""

    blocks: tuple[Block, ...]
    headline: tuple[bool, ...]  # a title, heading, link line or headline-like line
    marker: tuple[bool, ...]  # a teaser-list heading ("Related")
    terms: tuple[Counter[str], ...]  # topic words (empty for headlines)
    prose: tuple[bool, ...]  # a sentence or more of running text (see is_prose)
    after: tuple[tuple[Drop, ...], ...]  # the dropped blocks between block i and i + 1
    tokens: tuple[frozenset[str], ...]  # normalised words cut to 6 letters (new names)
    plain: bool  # a text dump: no block carries markup


def features(blocks: list[Block], drops: list[Drop]) -> Page:
    """Compute the features of the kept blocks once."""
    # In a plain-text dump every line is a "paragraph", so a short line that does not end
    # like a sentence is a headline; where the extractor saw markup, headings say so.
    plain = not any(
        b.kind in MARKUP_KINDS for b in itertools.chain(blocks, (d.block for d in drops)))
    after: list[list[Drop]] = [[] for _ in blocks]
    j = 0
    for d in drops:  # both lists are in page order
        while j + 1 < len(blocks) and blocks[j + 1].position < d.block.position:
            j += 1
        if blocks and blocks[j].position < d.block.position:
            after[j].append(d)
    headline: list[bool] = []
    marker: list[bool] = []
    terms: list[Counter[str]] = []
    tokens: list[frozenset[str]] = []
    listing = False  # in a text dump, the lines under "The key figures:" are its entries
    for n, (b, below) in enumerate(zip(blocks, after, strict=True)):
        text = b.text
        words = block_words(text)
        titled = _title_block_follows(b, below) or (
            # a line over bullets heads them (a title block, or a teaser with its summary)
            plain and n + 1 < len(blocks) and blocks[n + 1].kind == "list_item"
            and not below and not text.rstrip().endswith(":")
            and len(words) <= _TITLE_WORDS and blocks[n + 1].text.startswith("- ")
            and not blocks[n + 1].text.rstrip().endswith(" -"))
        line = plain and b.kind == "paragraph"
        shaped = line and looks_like_headline(text)
        listing = shaped and (listing or (n > 0 and blocks[n - 1].text.rstrip().endswith(":")))
        # A one-sentence line right above a dateline ("CARACAS: ...") is its story's title.
        over_dateline = line and not shaped and len(words) <= _TITLE_WORDS and n + 1 < len(
            blocks) and not below and dateline(blocks[n + 1].text) is not None and (
            sentence_count(text) == 1) and _title_case(text)
        head = (
            b.kind in ("title", "heading")
            or (b.kind == "link_line" and not is_url(text))
            # list items are list entries (or "- crosshead -" lines), never headlines
            or (line and ((shaped and not listing) or titled or over_dateline))
            or MARKER_PREFIX.match(text) is not None
        ) and (titled or not QUESTION.search(text))
        is_marker = len(text) < 40 and MARKER.fullmatch(normalise(text)) is not None
        headline.append(head or is_marker)
        marker.append(is_marker)
        terms.append(Counter() if head else topic_terms(text))
        tokens.append(block_stems(text))
    prose = tuple(not h and is_prose(b) for b, h in zip(blocks, headline, strict=True))
    return Page(tuple(blocks), tuple(headline), tuple(marker), tuple(terms), prose,
                tuple(tuple(a) for a in after), tuple(tokens), plain)


# A title is a title whatever its punctuation ("Is the ferry worth saving?", "Crews walk
# out.") when its own repeat, a short link or a byline follows it: sites print title blocks.
_TITLE_WORDS = 25


def _title_case(text: str) -> bool:
    """Most words capitalised, as headlines are ("Doobie Brothers to reunite with Michael
    McDonald for Blossom show."), unlike the last sentence of a story."""
    words = text.split()
    return sum(1 for w in words if w[:1].isupper()) >= _TITLE_CASE_SHARE * len(words)


_TITLE_CASE_SHARE = 0.4


def _title_block_follows(b: Block, below: list[Drop]) -> bool:
    if b.kind not in ("paragraph", "title", "heading") or len(b.text.split()) > _TITLE_WORDS:
        return False
    return any(d.reason in ("short link", "byline, not body") or (
        d.reason.startswith("repeats title") and d.restates == b.position) or (
        d.reason == "restates" and d.block.kind == "list_item") for d in below[:2])


def is_prose(b: Block) -> bool:
    """A sentence or more of running text, not a list entry or a label."""
    return len(b.text.split()) >= PROSE_WORDS and ENDS_SENTENCE.search(b.text) is not None


def real_body(body: list[Block], titled: bool) -> bool:
    """Two paragraphs of prose, or (under a headline) one long one. An untitled lone
    paragraph is a card or a section of the story above, however long."""
    prose = sum(1 for b in body if is_prose(b))
    return prose >= 2 or (titled and sum(len(b.text) for b in body) >= BODY_CHARS)


# A long bare link after a heading is a citation, not a title block's short link.
EVIDENCE = ("short link", "repeats title", "restates", "byline")


def summary_direction(page: Page, i: int) -> int:
    """For headline i followed by dropped summary lines (short link, title repeat, restating
    bullets, byline): -1 if they restate earlier paragraphs (a title block trailing its
    story), +1 otherwise (a title block leading its story), 0 if there are none."""
    if page.blocks[i].kind == "link_line":
        return 0  # a link line is a teaser, whatever follows it
    pos = page.blocks[i].position
    drops = [
        d for d in page.after[i] if d.reason.startswith(EVIDENCE)
        # a repeat counts only when it repeats this headline ("Title / link / Title")
        and (not d.reason.startswith("repeats title") or d.restates == pos)
        # a byline under a two-word heading ("Ryan Reed") is an author box, not a story
        and (not d.reason.startswith("byline") or len(page.blocks[i].text.split()) >= 4)
    ]
    if not drops:
        return 0
    targets = [d.restates for d in drops if d.reason == "restates" and d.restates is not None]
    if targets and all(t < pos for t in targets):
        return -1
    return 1


def restated_side(page: Page, i: int) -> int:
    """-1 if the bullets dropped right after headline i restate paragraphs above it, +1 if
    below it, 0 if there are none (or both)."""
    pos = page.blocks[i].position
    targets = [d.restates for d in page.after[i]
               if d.reason == "restates" and d.restates is not None]
    if targets and all(t < pos for t in targets):
        return -1
    if targets and all(t > pos for t in targets):
        return 1
    return 0
