"""Which raw blocks are article content: score elements by the text under them.

Each block is worth its plain (non-link) text, link-dense blocks cost their link text. An
element's score is the sum over the blocks under it, so the best element is the one that
gathers the article's paragraphs without the link lists around them. The deepest element
holding nearly the best score wins (the wrapper of a wrapper adds nothing), then every other
story container (<article>, articleBody, a named content box) with a real body of its own
joins it: pages carrying several articles keep all of them, each with its own container.
"""

from __future__ import annotations

import re

from scraper.extract._text import weighted_len
from scraper.extract._walk import (
    ARTICLE,
    BOILER,
    CONTENT,
    STORY,
    RawBlock,
    Walk,
    container_of,
)

# An element keeps the region if it holds this share of the best score: a wrapper that only
# adds a footer line does not win over the article body it wraps.
NEAR_BEST = 0.9
# Another story container (<article>, articleBody, a named content box) joins the main
# body when it holds this much prose of its own, however short next to the main body: an
# appended news brief is a story, a teaser card (a linked headline, a line) is not.
MIN_STORY = 250.0
MIN_STORY_HEADED = 100.0
STORY_MASK = ARTICLE | STORY | CONTENT
FEED_SHARE = 0.7  # the stories of a feed hold most of its text; elsewhere they are asides
MIN_BODY = 150.0  # below this much prose in any element the page has no article body
LINK_DENSE = 0.5  # link text share above which a block is navigation, not prose
LINK_COST = 1.0  # what each link character costs a block: prose is the text outside links
LIST_SHARE = 0.5  # list items count half: menus and link lists are lists too
TEASER_COST = 150.0  # a linked headline also cancels about one teaser summary
# Outside the body, these kinds are still taken from its story container (the headline,
# byline and lead picture caption sit above the body, not in it).
HEAD_KINDS = frozenset({"title", "byline", "caption"})
TITLE_REACH = 3  # how many levels above the body a headline outside any container is sought
LABEL_CHARS = 12  # weighted characters of a chart label, at most
LABEL_RUN = 5  # tiny paragraphs in a row that make a chart, not text
TABLE_PARTS = frozenset({"tbody", "thead", "tfoot", "tr"})
KNOWN_COVER = 0.6  # the blocks found in the JSON-LD articleBody cover this much of it
KNOWN_CHARS = 40  # blocks shorter than this are not looked up there (too easily found)
LEAD_REACH = 5  # how many levels above the body the headline of a lead is sought
ALONE = 1.2  # a lead's own box holds no more prose than the lead itself (and a little)
LEAD_OTHER = 0.8  # ... and no less: a linked headline in it would cost its score
LEAD_BLOCKS = 3  # at most this many intro blocks are taken from just above a headless body
LEAD_CHARS = 60  # weighted characters of a lead paragraph, at least
ENDS_SENTENCE = re.compile(r"[.!?。！？…][\"'\u2019\u201d»)\]]*$")


# A box named like furniture (`share`, `widget`, `comment`, <aside>) is dropped unless it
# holds this share of the page's prose, alone or with the other boxes of its word (a page of
# Elementor `widget` blocks, a forum thread of `comment` posts) when the page has little
# prose outside such boxes.
HOLDS_MOST = 0.5
OUTSIDE_FEW = 0.25
# An article inside a dropped box (an appended story in <aside>) is rescued: a heading and
# at least this many long paragraphs of prose.
RESCUE_PARAGRAPHS = 3
RESCUE_LONG = 120  # weighted characters of a "long" paragraph
# Boxes whose long paragraphs under a heading are still not a story: a comment section.
NEVER_STORIES = frozenset({"comment", "comments", "disqus"})
# Prose outside the links: a paragraph with several inline links is still prose when this
# much of its text (weighted) is not link text.
OWN_PROSE = 60


# To be kept as a paragraph, also this share of it: a sentence among a dozen pop-up links
# counts for its element's score, but is not shown as a paragraph.
OWN_SHARE = 0.3


def own_prose(block: RawBlock, share: float = 0.0) -> bool:
    """A sentence's worth of text outside the block's links (and `share` of it)."""
    length = len(block.text)
    outside = length - block.link_chars
    if outside < share * length:
        return False
    return outside >= OWN_PROSE or (
        outside >= OWN_PROSE // 3 and weighted_len(block.text) - block.link_chars >= OWN_PROSE
    )


def block_value(block: RawBlock) -> float:
    """A block's contribution to the score of every element it sits in."""
    kind = block.kind
    length = weighted_len(block.text)
    links = block.link_chars
    if links > LINK_DENSE * len(block.text) and (block.links < 2 or not own_prose(block)):
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
    """One link and little else: "Read more: <a>...</a>", a teaser, a bare URL."""
    if block.links != 1:
        return False
    length, links = len(block.text), block.link_chars
    return links >= 0.8 * length or (links >= 0.6 * length and length - links <= 20)


def judge_boxes(walk: Walk) -> Walk:
    """The walk without the blocks of furniture boxes, weighed by the prose they hold.

    A BOILER box is dropped unless it (or the boxes of its word together, when the page has
    little prose elsewhere) holds most of the page's prose. Inside a dropped box, an article
    of its own (a heading and several long paragraphs) is rescued as a story container.
    """
    flags = walk.flags
    if not walk.words:
        return walk
    values = [max(block_value(b), 0.0) for b in walk.blocks]
    total = sum(values)
    prose: dict[int, float] = {}
    word_prose: dict[str, float] = {}
    chars: dict[int, int] = {}  # BOILER box -> (text, link text) lengths
    link_chars: dict[int, int] = {}
    for block, value in zip(walk.blocks, values, strict=True):
        seen: set[str] = set()
        for e in block.path:
            if flags[e] & BOILER:
                prose[e] = prose.get(e, 0.0) + value
                chars[e] = chars.get(e, 0) + len(block.text)
                link_chars[e] = link_chars.get(e, 0) + block.link_chars
                seen.add(walk.words[e])
        for word in seen:
            word_prose[word] = word_prose.get(word, 0.0) + value
    # (A page with no prose at all, a section front of links, exempts nothing.)
    exempt = {e for e, p in prose.items() if p > 0 and p >= HOLDS_MOST * total}
    # <noscript> is the article only on a page that has none without it.
    if total - word_prose.get("noscript", 0.0) >= MIN_BODY:
        exempt = {e for e in exempt if walk.words[e] != "noscript"}

    # An <aside> keeps out what is not a rescued article, however much it holds: a long
    # appended story in the sidebar is a story of its own, under its own heading.
    for e in [e for e in exempt if walk.tags[e] == "aside"]:
        inside = [i for i, b in enumerate(walk.blocks) if e in b.path]
        if _rescue(walk.blocks, inside, flags, set()) is not None:
            exempt.discard(e)

    def boxed(block: RawBlock) -> int:
        """The outermost box on the block's path that drops it, or -1."""
        return next((e for e in block.path if flags[e] & BOILER and e not in exempt), -1)

    outside = sum(v for b, v in zip(walk.blocks, values, strict=True) if boxed(b) < 0)
    if outside < OUTSIDE_FEW * total and outside < 2 * MIN_BODY:
        words = {w for w, p in word_prose.items() if p > 0 and p >= HOLDS_MOST * total}
        words.discard("noscript")
        # Not the boxes made of links: the sidebar's link widgets stay out.
        exempt.update(
            e for e in prose
            if walk.words[e] in words and link_chars[e] <= LINK_DENSE * chars[e]
        )
    blocks = walk.blocks
    keep = [True] * len(blocks)
    dropped: dict[int, list[int]] = {}  # box -> the indices of its blocks
    for i, block in enumerate(blocks):
        box = boxed(block)
        if box >= 0:
            keep[i] = False
            dropped.setdefault(box, []).append(i)
    new_flags = list(flags)
    for box, indices in dropped.items():
        if walk.words[box] in NEVER_STORIES:
            continue
        rescued = _rescue(blocks, indices, flags, exempt)
        if rescued is not None:
            element, kept = rescued
            new_flags[element] |= ARTICLE
            for i in kept:
                keep[i] = True
    return Walk(
        blocks=[b for b, k in zip(blocks, keep, strict=True) if k],
        tags=walk.tags, parents=walk.parents, flags=new_flags, words=walk.words,
    )


def _is_long(block: RawBlock) -> bool:
    """A long paragraph of prose (sentences, not a list of sources or links)."""
    return (
        block.kind in ("paragraph", "quote")
        and block.link_chars <= LINK_DENSE * len(block.text)
        and weighted_len(block.text) >= RESCUE_LONG
        and ENDS_SENTENCE.search(block.text) is not None
    )


def _rescue(
    blocks: list[RawBlock], indices: list[int], flags: list[int], exempt: set[int]
) -> tuple[int, list[int]] | None:
    """A real article inside a dropped box: the innermost element holding
    RESCUE_PARAGRAPHS long paragraphs under a heading of its own, and the indices of its
    blocks from its last heading before the prose on. The box's own headings ("Related",
    "Newsletter") stay out, and so does furniture nested in the article (its share bar)."""
    long_count: dict[int, int] = {}
    depth: dict[int, int] = {}
    for i in indices:
        path = blocks[i].path
        for d, e in enumerate(path):
            depth[e] = d
        if _is_long(blocks[i]):
            for e in path:
                long_count[e] = long_count.get(e, 0) + 1
    candidates = [e for e, n in long_count.items() if n >= RESCUE_PARAGRAPHS]
    if not candidates:
        return None
    # The innermost element whose prose has a heading of its own above it (a story card's
    # body <div> has none: its card has).
    for element in sorted(candidates, key=lambda e: -depth[e]):
        inside = [i for i in indices if element in blocks[i].path]
        first_long = next(i for i in inside if _is_long(blocks[i]))
        heads = [
            i for i in inside
            if i < first_long and blocks[i].kind in ("title", "heading")
            and blocks[i].link_chars <= LINK_DENSE * len(blocks[i].text)
        ]
        if heads:
            break
    else:
        return None
    below = depth[element] + 1
    kept = [
        i for i in inside
        if i >= heads[-1] and not any(
            flags[e] & BOILER and e not in exempt for e in blocks[i].path[below:]
        )
    ]
    return element, kept


def select(walk: Walk, known_body: str = "") -> list[tuple[RawBlock, int]]:
    """The content blocks in page order, each with its story container index (-1: none).
    `known_body`: the page's JSON-LD articleBody (lowercased, spaces collapsed), if any:
    evidence of where the article is."""
    walk = judge_boxes(walk)
    blocks = walk.blocks
    if not blocks:
        return []
    flags, parents = walk.flags, walk.parents
    score, depth = _scores(walk)
    best_score = max(score)
    if best_score < MIN_BODY:
        # No article on the page (a section front, a list of links): every block the walk
        # kept is the content, for the story splitter to sort into teasers.
        return [(block, container_of(block.path, flags)) for block in blocks]
    threshold = NEAR_BEST * best_score
    near = (e for e in range(len(score)) if score[e] >= threshold)
    best = max(near, key=lambda e: (depth[e], score[e]))  # the deepest: no bare wrappers
    known = _known_region(walk, known_body) if known_body else -1
    if known >= 0 and score[known] >= MIN_BODY:
        best = known
    # A table's body is not the body without its header row and caption.
    while walk.tags[best] in TABLE_PARTS and parents[best] >= 0:
        best = parents[best]
    best_chain = _chain(best, parents)  # the body and its ancestors, innermost first

    # The headline and byline sit next to the body, not in it: take them from the body's
    # story container, or from the nearest ancestor holding a title when that has none.
    body_container = container_of(tuple(reversed(best_chain)), flags)
    head = body_container
    titled = {e for b in blocks if b.kind == "title" for e in b.path}
    if head not in titled:
        start = best_chain.index(head) if head >= 0 else 0
        reach = best_chain[start + 1 : start + 1 + TITLE_REACH]
        head = next((e for e in reach if e in titled), head)

    floor = _story_floors(walk)
    regions, above = _regions(walk, score, floor, best, best_chain)

    # Story containers inside a region: those with a body of their own are stories (a feed
    # of full articles), the others teaser cards and embeds, dropped. In a feed, the lines
    # between the stories ("Up next") belong to none of them and are dropped too.
    teaser: dict[int, bool] = {}  # container -> is a teaser; only containers inside a region
    for block in blocks:
        container = container_of(block.path, flags)
        if (
            container >= 0
            and container not in teaser
            and container not in above
            and regions.intersection(block.path)
        ):
            teaser[container] = score[container] < floor[container]
    stories = [c for c, is_teaser in teaser.items() if not is_teaser]
    feed = len(stories) >= 2 and sum(score[c] for c in stories) >= FEED_SHARE * score[best]
    boxes = _content_boxes(walk, score, floor, best, above)

    # On a page of several stories, a story without <article> markup is still one container:
    # its content box, or the region that holds it (the main one: its story head, else its
    # body).
    extra = regions - {best}
    mixed = bool(extra) or len(stories) + len(boxes) >= 2
    main = head if head >= 0 else best

    lead = _lead(walk, score, best, best_chain, head, body_container)
    out: list[tuple[RawBlock, int]] = []
    for number, block in enumerate(blocks):
        path = block.path
        container = container_of(path, flags)
        inside = regions.intersection(path)
        if not inside:
            if not (head in path and block.kind in HEAD_KINDS) and number not in lead:
                continue
            if container < 0:
                container = body_container  # a headline above its article: the same story
        elif teaser.get(container, False) if container >= 0 else feed:
            continue  # a teaser card inside the region, or a label between feed stories
        if container < 0 and mixed:
            box = [e for e in path if e in boxes]
            container = box[0] if box else next(iter(inside & extra), main)
        out.append((block, container))
    return _drop_label_runs(out)


def _is_label(block: RawBlock) -> bool:
    return block.kind == "paragraph" and weighted_len(block.text) < LABEL_CHARS


def _drop_label_runs(out: list[tuple[RawBlock, int]]) -> list[tuple[RawBlock, int]]:
    """Without runs of LABEL_RUN or more tiny paragraphs in a row, half of them numbers: the
    axis labels and values of a chart drawn in HTML ("$915", "billion", "'17" ...)."""
    drop: set[int] = set()
    run_start = 0
    for i in range(len(out) + 1):
        if i < len(out) and _is_label(out[i][0]):
            continue
        numbers = sum(any(c.isdigit() for c in out[j][0].text) for j in range(run_start, i))
        if i - run_start >= LABEL_RUN and 2 * numbers >= i - run_start:
            drop.update(range(run_start, i))
        run_start = i + 1
    if not drop:
        return out
    return [item for i, item in enumerate(out) if i not in drop]


def _is_lead(block: RawBlock) -> bool:
    """A standfirst or intro: a sentence or more of prose, not a run of links, a dateline
    ("Published Monday ...") or a label."""
    return (
        block.kind == "paragraph"
        and block.link_chars <= LINK_DENSE * len(block.text)
        and weighted_len(block.text) >= LEAD_CHARS
        and ENDS_SENTENCE.search(block.text) is not None
    )


def _lead(
    walk: Walk, score: list[float], best: int, best_chain: list[int], head: int,
    body_container: int,
) -> set[int]:
    """The lead above the body: the standfirst, intro or deck that sits between the
    headline and the chosen body (or, with no headline near, just above the body, within a
    few levels of it). Block numbers."""
    blocks, flags = walk.blocks, walk.flags
    start = next((i for i, b in enumerate(blocks) if best in b.path), -1)
    if start <= 0:
        return set()
    own = {-1, body_container}
    chain = set(best_chain)
    # The element holding both the headline and the body: the story head, or the nearest
    # of the body's ancestors (within LEAD_REACH levels) that holds a headline.
    holders = [head] if head >= 0 else []
    holders += [e for e in best_chain[1 : 1 + LEAD_REACH] if e != head]
    for holder in holders:
        titles = [i for i in range(start) if holder in blocks[i].path
                  and blocks[i].kind == "title"]
        if titles:
            return {
                i for i in range(titles[-1] + 1, start)
                if holder in blocks[i].path and _is_lead(blocks[i])
                and container_of(blocks[i].path, flags) in own
                and _stands_alone(blocks[i], score, chain)
            }
    # No headline in reach: the prose just above the body (and the subheading between
    # them: "Films with time loops" over a list page's table), stopping at anything else.
    near = set(best_chain[1 : 1 + TITLE_REACH])
    lead: set[int] = set()
    for i in range(start - 1, max(-1, start - 1 - LEAD_BLOCKS), -1):
        block = blocks[i]
        if block.kind in HEAD_KINDS:
            continue
        subheading = (
            block.kind == "heading" and block.link_chars <= LINK_DENSE * len(block.text)
        )
        if not (near.intersection(block.path) and (_is_lead(block) or subheading)):
            break
        if container_of(block.path, flags) not in own:
            break
        if not _stands_alone(block, score, chain):
            break
        lead.add(i)
    if not any(_is_lead(blocks[i]) for i in lead):
        return set()
    return lead


def _stands_alone(block: RawBlock, score: list[float], chain: set[int]) -> bool:
    """A lead stands alone (its own <p>, or a "standfirst" box with a byline): the box that
    holds it beside the body holds no other prose (another region above the body) and no
    linked headline (a teaser card)."""
    path = block.path
    shared = max(i for i, e in enumerate(path) if e in chain)
    if shared + 1 >= len(path):
        return True
    value = max(block_value(block), 1.0)
    return LEAD_OTHER * value <= score[path[shared + 1]] <= ALONE * value


def _known_region(walk: Walk, known_body: str) -> int:
    """The deepest element holding nearly all the blocks found in the page's own JSON-LD
    articleBody, when they cover most of it (the metadata says where the article is); -1
    when there is none, or it is not on the page (a summary, another language)."""
    n = len(walk.tags)
    known = [0.0] * n
    depth = [0] * n
    found = 0
    for block in walk.blocks:
        if len(block.text) < KNOWN_CHARS:
            continue
        text = " ".join(block.text.lower().split())
        if text not in known_body:
            continue
        found += len(text)
        for d, element in enumerate(block.path):
            known[element] += len(text)
            depth[element] = d
    if found < KNOWN_COVER * len(known_body):
        return -1
    near = [e for e in range(n) if known[e] >= NEAR_BEST * found]
    return max(near, key=lambda e: depth[e]) if near else -1


def _scores(walk: Walk) -> tuple[list[float], list[int]]:
    """Every element's score (the value of the blocks under it) and depth."""
    flags = walk.flags
    n = len(walk.tags)
    score = [0.0] * n
    depth = [0] * n
    for block in walk.blocks:
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
    return score, depth


def _story_floors(walk: Walk) -> list[float]:
    """The score an element needs to be a story: less when it holds its own headline (not a
    link: a teaser's headline is one)."""
    headed = {
        e
        for b in walk.blocks
        if b.kind in ("title", "heading") and b.link_chars <= LINK_DENSE * len(b.text)
        for e in b.path
    }
    return [MIN_STORY_HEADED if e in headed else MIN_STORY for e in range(len(walk.tags))]


def _regions(
    walk: Walk, score: list[float], floor: list[float], best: int, best_chain: list[int]
) -> tuple[set[int], set[int]]:
    """The body plus every story container outside it with a body of its own (several
    articles on one page); and the regions with all their ancestors."""
    flags, parents = walk.flags, walk.parents
    regions = {best}
    above = set(best_chain)
    for element in range(len(score)):
        if flags[element] & STORY_MASK and score[element] >= floor[element]:
            if element in above:
                continue
            chain = _chain(element, parents)
            if not regions.intersection(chain):  # not inside a region either
                regions.add(element)
                above.update(chain)
    return regions, above


def _content_boxes(
    walk: Walk, score: list[float], floor: list[float], best: int, above: set[int]
) -> set[int]:
    """Named content boxes ("post-content") with a story's worth of text inside the body
    region and outside any story container: on a page of several stories, each is one."""
    flags, parents = walk.flags, walk.parents
    boxes = set()
    for element in range(len(score)):
        if flags[element] & CONTENT and element not in above and score[element] >= floor[element]:
            chain = _chain(element, parents)
            if best in chain and container_of(tuple(reversed(chain)), flags) < 0:
                boxes.add(element)
    # The outermost ones: a box inside a box is the same story.
    return {e for e in boxes if not boxes.intersection(_chain(parents[e], parents))}


def _chain(element: int, parents: list[int]) -> list[int]:
    """The element and its ancestors."""
    chain = []
    while element >= 0:
        chain.append(element)
        element = parents[element]
    return chain
