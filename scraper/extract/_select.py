"""Which raw blocks are article content: score elements by the text under them.

Each block is worth its plain (non-link) text, link-dense blocks cost their link text. An
element's score is the sum over the blocks under it, so the best element is the one that
gathers the article's paragraphs without the link lists around them. The deepest element
holding nearly the best score wins (the wrapper of a wrapper adds nothing), then every other
story container (<article>, articleBody) with a real body of its own joins it: pages carrying
several articles keep all of them.
"""

from __future__ import annotations

from scraper.extract._walk import ARTICLE, CONTENT, RawBlock, Walk

# An element keeps the region if it holds this share of the best score: a wrapper that only
# adds a footer line does not win over the article body it wraps.
NEAR_BEST = 0.9
# Another story container joins when its own score is this share of the main one's (and at
# least MIN_STORY): the second and third full articles of a page, not teaser cards.
OTHER_STORY_SHARE = 0.25
MIN_STORY = 400.0
LINK_DENSE = 0.5
LINK_COST = 1.0
LIST_SHARE = 0.5
TEASER_COST = 150.0  # link text share above which a block is navigation, not prose


def block_value(block: RawBlock) -> float:
    """A block's contribution to the score of every element it sits in."""
    kind = block.kind
    length = len(block.text)
    links = block.link_chars
    if links > LINK_DENSE * length:
        if kind in ("title", "heading"):
            # A linked headline is a teaser pointing at another story: it also cancels the
            # summary that usually follows it.
            return -float(links) - TEASER_COST
        return -float(links)
    if kind in ("title", "heading", "caption", "byline"):
        return 0.0
    if length < 25:
        return 0.0
    value = float(length - LINK_COST * links)
    if kind == "list_item":
        value *= LIST_SHARE
    return value


def is_link_line(block: RawBlock) -> bool:
    return block.links == 1 and block.link_chars >= 0.8 * len(block.text)


def select(walk: Walk) -> list[tuple[RawBlock, int]]:
    """The content blocks in page order, each with its story container index (-1: none)."""
    blocks = walk.blocks
    if not blocks:
        return []
    flags = walk.flags
    n = len(walk.tags)
    score = [0.0] * n
    depth = [0] * n
    for block in blocks:
        value = block_value(block)
        path = block.path
        for d, element in enumerate(path):
            depth[element] = d
        if value:
            for element in path:
                score[element] += value
    # Elements marked as content by the page itself get a small edge over their wrappers.
    for element in range(n):
        if flags[element] & CONTENT and score[element] > 0:
            score[element] *= 1.1

    best_score = max(score)
    if best_score <= 0:
        return []
    threshold = NEAR_BEST * best_score
    best = max((e for e in range(n) if score[e] >= threshold), key=lambda e: (depth[e], score[e]))

    regions = {best}
    # Climb to the story container around the body, if any, for its headline and byline.
    head = best
    for block in blocks:
        if best in block.path:
            path = block.path
            i = path.index(best)
            for element in reversed(path[: i + 1]):
                if flags[element] & ARTICLE:
                    head = element
                    break
            break
    # Other story containers with a body of their own (several articles on one page).
    floor = max(MIN_STORY, OTHER_STORY_SHARE * score[best])
    parents = walk.parents
    above = set(_chain(best, parents))  # the regions and their ancestors
    for element in range(n):
        if flags[element] & ARTICLE and score[element] >= floor and element not in above:
            chain = _chain(element, parents)
            if not regions.intersection(chain):  # not inside a region either
                regions.add(element)
                above.update(chain)

    out: list[tuple[RawBlock, int]] = []
    for block in blocks:
        path = block.path
        inside = any(element in regions for element in path)
        if not inside:
            # The headline and byline just outside the body, within its story container.
            if head in path and block.kind in ("title", "byline"):
                inside = True
            else:
                continue
        container = -1
        for element in reversed(path):
            if flags[element] & ARTICLE:
                container = element
                break
        out.append((block, container))
    return out


def _chain(element: int, parents: list[int]) -> list[int]:
    """The element and its ancestors."""
    chain = []
    while element >= 0:
        chain.append(element)
        element = parents[element]
    return chain
