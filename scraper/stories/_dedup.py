"""Step 1: drop blocks that repeat other blocks, with the reason for each."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

from scraper.models import Block
from scraper.stories._text import STOPWORDS, is_url, looks_like_headline, normalise

# A block restates another when this share of its word bigrams occurs in it (or in it and
# its neighbour: summary bullets often fuse two adjacent body sentences).
RESTATE_SHARE = 0.6
# A paragraph (not a bullet) must be a closer copy: lists of similar lines ("Name: charge,
# charge") share most of their bigrams without restating each other.
RESTATE_SHARE_PARAGRAPH = 0.85
_MIN_RESTATE_WORDS = 8  # shorter list entries ("Reduced bus routes") are body lists
# ... unless a short bullet copies a run of words of one paragraph nearly word for word
# ("The releases were announced by"): summaries cut sentences short.
_MIN_SHORT_BULLET_WORDS = 4
_SHORT_BULLET_SHARE = 0.75
_CROSSHEAD = re.compile(r"\s[-\u2013\u2014]$")  # "- Trump rebuked by Senate -"
_SHORT_LINK_CHARS = 45
_TITLE_REPEAT_GAP = 3
_TITLE_WORDS = 25
_TEASER_WORDS = 3  # a linked line shorter than this is a button or a menu entry
_MAX_RESTATE_WORDS = 80  # longer blocks are body, not summaries
_RARE = 6  # words in more blocks than this ("the", "said") nominate no targets
_NOMINEES = 3


# "By James Mabry", "By Jane Doe and John Roe, Reuters", "Posted by X", "Written by X",
# "By X | 3 min read", "X | 3 min read", "Posted by X on March 3, 2024": a byline line.
_NAME = r"[A-Z][\w'.\-]+(?: (?:[A-Z][\w'.\-]+|van|de|da|von|bin|al)){0,3}"
_BYLINE = re.compile(
    rf"(?:(?:(?:Posted|Written|Words|Reported|Story|Text|Published) )?[Bb]y:? {_NAME}"
    rf"(?:(?:,| and| &) {_NAME}){{0,3}}\.?"
    rf"|{_NAME} ?(?=\|))"
    r"(?: ?(?:\||\u00b7|\u2022|-|\u2013|\u2014|,|on|at) ?(?:[\w ,:.]{0,40}\d[\w ,:.]{0,30}"
    r"|\d+ min(?:ute)?s? read))?"
)

# A photo credit closing a line marks a caption: "... (Image: GETTY)", "... Photo: AFP".
_CREDIT = re.compile(
    r"(?:\((?:Image|Photo|Picture|Pic|Credit)s?:[^)]{1,60}\)|\b(?:Photo|Image|Picture)"
    r"(?:graph)?(?: credit)?:\s*[^.:]{2,60})\s*$"
)
# "Published 2:16 AM EST Nov 20, 2019", "Updated: 18 Nov 2019": a dateline of the page.
_STAMP = re.compile(r"(?:Published|Updated|Posted|Last updated|First published)\b.{0,80}\d")
_COPYRIGHT = re.compile(r"(?:\u00a9|Copyright\b)", re.IGNORECASE)
_COUNTER = re.compile(r"\d+ (?:of|/) \d+")  # "1 of 6" under a gallery


def _chrome(block: Block) -> str | None:
    """Why a block is page furniture rather than story text, or None."""
    text = block.text.strip()
    if block.kind == "byline" or _BYLINE.fullmatch(text) or (
            len(text) < 120 and _STAMP.match(text)):
        return "byline, not body"
    if block.kind == "caption" or (len(text) < 300 and _CREDIT.search(text)) \
            or _COUNTER.fullmatch(text):
        return "caption, not body"
    if len(text) < 200 and _COPYRIGHT.match(text):
        return "copyright line, not body"
    return None


@dataclass(frozen=True, slots=True)
class Drop:
    block: Block
    reason: str
    # For a restatement: the position of the block it restates, so the reason can name the
    # paragraph once stories are known, and the splitter can tell which story a summary
    # block (title + bullets) belongs to.
    restates: int | None = None


def dedup(blocks: tuple[Block, ...]) -> tuple[list[Block], list[Drop]]:
    """The blocks to keep (page order) and the dropped ones with reasons."""
    kept: list[Block] = []
    drops: list[Drop] = []
    first_seen: dict[str, Block] = {}
    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        chrome = _chrome(block)
        if chrome:
            # Bylines, captions and the like are not body: recorded, so nothing vanishes.
            drops.append(Drop(block, chrome))
            continue
        if is_url(text):
            short = len(text) <= _SHORT_LINK_CHARS
            drops.append(Drop(block, "short link" if short else "bare link"))
            continue
        key = normalise(text)
        if block.kind == "link_line" and len(key.split()) < _TEASER_WORDS:
            drops.append(Drop(block, "link, not body"))  # "Share", "Print", "Latest"
            continue
        if not key:
            drops.append(Drop(block, "no words"))
            continue
        first = first_seen.get(key)
        if first is not None and first.kind == "list_item" and block.kind in ("paragraph", "quote"):
            # A summary bullet copying a body paragraph word for word: the bullet goes.
            kept.remove(first)
            drops.append(Drop(first, "restates", restates=block.position))
            first_seen[key] = block
            kept.append(block)
            continue
        if first is not None:
            # A short line repeated right below itself is a title block ("Title / link /
            # Title"), whatever its punctuation.
            headline = first.kind in ("title", "heading") or (
                first.kind == "paragraph" and (looks_like_headline(first.text) or (
                    block.position - first.position <= _TITLE_REPEAT_GAP
                    and len(key.split()) <= _TITLE_WORDS)))
            reason = f"repeats title '{first.text}'" if headline else "exact repeat"
            drops.append(Drop(block, reason, restates=first.position))
            continue
        first_seen[key] = block
        kept.append(block)
    return _drop_restatements(kept, drops)


def _drop_restatements(kept: list[Block], drops: list[Drop]) -> tuple[list[Block], list[Drop]]:
    tokens = [normalise(b.text).split() for b in kept]
    # Items of a list introduced in the body ("The main savings are:") are body, not summary.
    in_body_list: set[int] = set()
    for i, b in enumerate(kept):
        if b.kind == "list_item" and i > 0 and (
            i - 1 in in_body_list or (kept[i - 1].kind != "list_item"
                                      and kept[i - 1].text.rstrip().endswith(":"))
        ):
            in_body_list.add(i)
    # Bullets may restate; other blocks only when they do not look like headlines (a title
    # may legitimately reuse a phrase of its own lead).
    candidates = [
        i for i, b in enumerate(kept)
        if i not in in_body_list
        and (_MIN_RESTATE_WORDS if b.kind != "list_item" or _CROSSHEAD.search(b.text)
             else _MIN_SHORT_BULLET_WORDS) <= len(tokens[i]) <= _MAX_RESTATE_WORDS
        and (b.kind == "list_item" or (b.kind in ("paragraph", "quote")
                                       and not looks_like_headline(b.text)))
    ]
    if not candidates:
        return kept, sorted(drops, key=lambda d: d.block.position)
    # Document frequencies of words (counted in C by Counter.update) screen candidates;
    # only the few that pass look for targets, nominated by the rare words they share.
    indexed = [kept[i].kind in ("paragraph", "quote", "list_item") for i in range(len(kept))]
    word_sets = [set(t) for t in tokens]
    df: Counter[str] = Counter()
    for i, ws in enumerate(word_sets):
        if indexed[i]:
            df.update(ws)
    # Postings of the rare words alone (in at most _RARE blocks): they nominate targets.
    rare_index: dict[str, list[int]] = {w: [] for w, n in df.items() if n <= _RARE}
    for i, ws in enumerate(word_sets):
        if indexed[i]:
            for w in ws & rare_index.keys():
                rare_index[w].append(i)
    grams: dict[int, set[tuple[str, str]]] = {}

    def bigrams(i: int) -> set[tuple[str, str]]:
        if i not in grams:
            grams[i] = set(itertools.pairwise(tokens[i]))
        return grams[i]

    candidates.sort(key=lambda i: len(tokens[i]))  # shortest first: they restate longer ones
    dropped: set[int] = set()
    restated: dict[int, int] = {}
    for c in candidates:
        # A bullet may copy a paragraph or another bullet; a paragraph only paragraphs.
        bullet = kept[c].kind == "list_item"
        paragraph = kept[c].kind == "paragraph"
        short = len(tokens[c]) < _MIN_RESTATE_WORDS
        need = RESTATE_SHARE_PARAGRAPH if paragraph else (
            _SHORT_BULLET_SHARE if short else RESTATE_SHARE)
        words = word_sets[c]
        # A copy shares nearly all its content words with other blocks; most paragraphs
        # have words of their own: skip those before any bigram work.
        content = [df[w] for w in words if w not in STOPWORDS]
        if sum(1 for n in content if n > 1) < len(content) * need:
            continue
        votes: Counter[int] = Counter()
        for w in words:
            votes.update(rare_index.get(w, ()))
        numbers = {w for w in words if w.isdigit()}
        nominees: list[int] = []
        for t in sorted(votes, key=lambda t: (-votes[t], t)):
            if t == c or t in dropped or (not bullet and kept[t].kind == "list_item") or (
                    short and kept[t].kind not in ("paragraph", "quote")):
                continue
            # a copy keeps the figures: "12 points" does not restate "40 points"
            if numbers and not numbers <= word_sets[t] | word_sets[max(t - 1, 0)] | word_sets[
                    min(t + 1, len(kept) - 1)]:
                continue
            nominees.append(t)
            if len(nominees) == _NOMINEES:
                break
        own = bigrams(c)
        best, best_share = -1, 0.0
        for t in nominees:
            hs = own & bigrams(t)
            share = len(hs) / len(own) if _longer(tokens, t, c) else 0.0
            for nxt in () if short else (t - 1, t + 1):  # summaries fuse two sentences
                if 0 <= nxt < len(kept) and nxt != c and nxt not in dropped \
                        and len(tokens[t]) + len(tokens[nxt]) > len(tokens[c]):
                    share = max(share, len(hs | (own & bigrams(nxt))) / len(own))
            if share > best_share:
                best, best_share = t, share
        if best_share >= need:
            dropped.add(c)
            restated[c] = best
    for c, t in restated.items():
        drops.append(Drop(kept[c], "restates", restates=kept[t].position))
    drops.sort(key=lambda d: d.block.position)
    return [b for i, b in enumerate(kept) if i not in dropped], drops


def _longer(tokens: list[list[str]], t: int, c: int) -> bool:
    """Only a longer block (or an equal earlier one) can be the original of block c."""
    return len(tokens[t]) > len(tokens[c]) or (len(tokens[t]) == len(tokens[c]) and t < c)
