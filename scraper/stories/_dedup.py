"""Step 1: drop blocks that repeat other blocks, with the reason for each."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from scraper.models import Block
from scraper.stories._text import is_url, looks_like_headline, normalise

# A block restates another when this share of its word bigrams occurs in it (or in it and
# its neighbour: summary bullets often fuse two adjacent body sentences).
RESTATE_SHARE = 0.6
_MIN_RESTATE_WORDS = 8  # shorter list entries ("Reduced bus routes") are body lists
_SHORT_LINK_CHARS = 45
_MAX_RESTATE_WORDS = 80  # longer blocks are body, not summaries
_RARE = 6  # bigrams in more blocks than this ("of the") nominate no targets
_NOMINEES = 3


# "By James Mabry", "By Jane Doe and John Roe, Reuters": a byline line in a text dump.
_BYLINE = re.compile(
    r"By [A-Z][\w'.\-]+(?: [A-Z][\w'.\-]+){0,3}"
    r"(?:(?:,| and) [A-Z][\w'.\-]+(?: [A-Z][\w'.\-]+){0,3}){0,3}\.?"
)


@dataclass(frozen=True, slots=True)
class Drop:
    block: Block
    reason: str
    # For a restatement: the position of the block it restates, so the reason can name the
    # paragraph once stories are known, and the splitter can tell which story a summary
    # block (title + bullets) belongs to.
    restates: int | None = None


def _bigrams(tokens: list[str]) -> set[tuple[str, str]]:
    return set(zip(tokens, tokens[1:], strict=False))


def dedup(blocks: tuple[Block, ...]) -> tuple[list[Block], list[Drop]]:
    """The blocks to keep (page order) and the dropped ones with reasons."""
    kept: list[Block] = []
    drops: list[Drop] = []
    first_seen: dict[str, Block] = {}
    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        if block.kind in ("byline", "caption") or _BYLINE.fullmatch(text):
            # Bylines and captions are not body: recorded so the user sees where they went.
            kind = "caption" if block.kind == "caption" else "byline"
            drops.append(Drop(block, f"{kind}, not body"))
            continue
        if is_url(text):
            short = len(text) <= _SHORT_LINK_CHARS
            drops.append(Drop(block, "short link" if short else "bare link"))
            continue
        key = normalise(text)
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
            headline = first.kind in ("title", "heading") or looks_like_headline(first.text)
            reason = f"repeats title '{first.text}'" if headline else "exact repeat"
            drops.append(Drop(block, reason, restates=first.position))
            continue
        first_seen[key] = block
        kept.append(block)
    return _drop_restatements(kept, drops)


def _drop_restatements(kept: list[Block], drops: list[Drop]) -> tuple[list[Block], list[Drop]]:
    tokens = [normalise(b.text).split() for b in kept]
    grams = [_bigrams(t) for t in tokens]
    # A bullet may copy a paragraph or another bullet; a paragraph only copies paragraphs.
    index: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, gs in enumerate(grams):
        if kept[i].kind in ("paragraph", "quote", "list_item"):
            for g in gs:
                index[g].append(i)
    # Bullets always may restate; other blocks only when they do not look like headlines
    # (a title may legitimately reuse a phrase of its own lead).
    # Items of a list introduced in the body ("The main savings are:") are body, not summary.
    in_body_list: set[int] = set()
    for i, b in enumerate(kept):
        if b.kind == "list_item" and i > 0 and (
            i - 1 in in_body_list or (kept[i - 1].kind != "list_item"
                                      and kept[i - 1].text.rstrip().endswith(":"))
        ):
            in_body_list.add(i)
    candidates = [
        i for i, b in enumerate(kept)
        if i not in in_body_list
        if _MIN_RESTATE_WORDS <= len(tokens[i]) <= _MAX_RESTATE_WORDS
        and (b.kind == "list_item" or (b.kind in ("paragraph", "quote")
                                       and not looks_like_headline(b.text)))
    ]
    candidates.sort(key=lambda i: len(tokens[i]))  # shortest first: they restate longer ones
    dropped: set[int] = set()
    restated: dict[int, int] = {}
    for c in candidates:
        # Rare bigrams nominate a few targets cheaply; the share is then exact.
        votes: dict[int, int] = defaultdict(int)
        for g in grams[c]:
            posting = index.get(g, ())
            if len(posting) <= _RARE:
                for t in posting:
                    votes[t] += 1
        nominees = [
            t for t in sorted(votes, key=votes.__getitem__, reverse=True)[:_NOMINEES]
            if t != c and t not in dropped and (kept[c].kind == "list_item"
                                                or kept[t].kind != "list_item")
        ]
        best, best_share = -1, 0.0
        for t in nominees:
            hs = grams[c] & grams[t]
            share = len(hs) / len(grams[c]) if _longer(tokens, t, c) else 0.0
            for nxt in (t - 1, t + 1):  # summaries often fuse two adjacent sentences
                if 0 <= nxt < len(kept) and nxt != c and nxt not in dropped \
                        and len(tokens[t]) + len(tokens[nxt]) > len(tokens[c]):
                    share = max(share, len(hs | (grams[c] & grams[nxt])) / len(grams[c]))
            if share > best_share:
                best, best_share = t, share
        if best_share >= RESTATE_SHARE:
            dropped.add(c)
            restated[c] = best
    for c, t in restated.items():
        drops.append(Drop(kept[c], "restates", restates=kept[t].position))
    drops.sort(key=lambda d: d.block.position)
    return [b for i, b in enumerate(kept) if i not in dropped], drops


def _longer(tokens: list[list[str]], t: int, c: int) -> bool:
    """Only a longer block (or an equal earlier one) can be the original of block c."""
    return len(tokens[t]) > len(tokens[c]) or (len(tokens[t]) == len(tokens[c]) and t < c)
