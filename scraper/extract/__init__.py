"""HTML (or a plain-text dump) -> ordered text blocks of the page's article content.

Pure and synchronous: no network, no event loop. One parse, one walk over the tree:

1. `exclude` selectors are removed, JSON-LD and the title are read.
2. The walk (`_walk`) cuts the page into raw blocks, skipping what is never content
   (scripts, nav, hidden elements, cookie banners and ad slots), and marks the boxes that
   only look like furniture (`share`, `widget`, `comment`, ... by class or id, <aside>,
   <noscript>). Text is cleaned on the way (`_text`: control characters, soft hyphens, NFC).
3. The selector (`_select`) weighs the marked boxes by the prose they hold (dropping them,
   keeping them, or rescuing an article from one), then keeps the blocks of the element
   holding the most prose (or the one the JSON-LD articleBody points at), its lead, and
   every other story container (<article>, articleBody, a named content box) with a body of
   its own, so that pages carrying several articles keep all of them, each with its own
   `container`. A page with no article body at all (a section front) keeps every block.
4. Blocks get their final kinds: a lone link is a `link_line`, a run of links is dropped
   (a paragraph with several links but a sentence of its own is not a run).

With `include`, the chosen elements are the content: everything under them is kept (what is
never text aside: scripts, hidden elements, form controls, nested <nav>/<aside>), with no
class/id vocabularies and no content detection: the user picked the region.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from scraper.extract._jsonld import parse_articles
from scraper.extract._select import LINK_DENSE, OWN_SHARE, is_link_line, own_prose, select
from scraper.extract._text import clean_text
from scraper.extract._walk import RawBlock, container_of, walk
from scraper.models import Block, BlockKind, ExtractedPage

__all__ = ["extract_blocks", "extract_page", "text_to_page", "validate_selector"]

_SPACE = re.compile(r"\s+")
# (<noscript> stays: some pages carry their article only there; the walk weighs it.)
_JUNK_TAGS = ("script", "style", "template", "svg", "iframe", "object", "head")
_APOSTROPHES = str.maketrans({c: "'" for c in "\u2019\u2018\u02bc`\u00b4\u2032"})


def _label_key(text: str) -> str:
    """A label as compared: casefolded, every apostrophe the same ("Don’t" = "Don't")."""
    return text.casefold().translate(_APOSTROPHES)


# Whole-block labels of ad slots and screen-reader furniture: never content, whatever box
# holds them.
_LABELS = frozenset(_label_key(label) for label in (
    "advertisement", "advert", "ad", "ads", "sponsored", "sponsored content", "paid content",
    "story continues below advertisement", "article continues below advertisement",
    "continue reading below", "scroll to continue with content", "skip to main content",
    "skip to content", "loading", "loading...", "loading…", "this slideshow requires javascript.",
    "you're offline", "we're sorry, this content is not available",
))
_PROBE = LexborHTMLParser("<p></p>")  # selectors are validated against a tiny document


def _clean(text: str) -> str:
    return _SPACE.sub(" ", clean_text(text)).strip()


def validate_selector(selector: str) -> None:
    """Raise ValueError, naming the selector, when it is not CSS the parser accepts."""
    if not isinstance(selector, str) or not selector.strip():
        raise ValueError(f"invalid CSS selector {selector!r}: empty")
    try:
        _PROBE.css(selector)
    except Exception as exc:  # selectolax raises its own SelectolaxError
        raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from None


def text_to_page(text: str) -> ExtractedPage:
    """A plain-text dump, one block per line, as blocks (blank lines are skipped)."""
    blocks: list[Block] = []
    for line in text.splitlines():
        cleaned = _clean(line)
        if not cleaned:
            continue
        kind: BlockKind = "paragraph"
        href = None
        if cleaned.startswith(("- ", "• ", "* ")):
            kind = "list_item"
        elif re.fullmatch(r"https?://\S+", cleaned):
            kind = "link_line"
            href = cleaned
        blocks.append(Block(kind=kind, text=cleaned, position=len(blocks), href=href))
    return ExtractedPage(blocks=tuple(blocks))


def _title(tree: LexborHTMLParser) -> str | None:
    # og:title is the headline without the " | Site name" suffix most <title>s carry.
    for selector in ('meta[property="og:title"]', 'meta[name="og:title"]'):
        node = tree.css_first(selector)
        if node is not None:
            title = _clean(node.attributes.get("content") or "")
            if title:
                return title
    node = tree.css_first("title")
    if node is not None:
        return _clean(node.text()) or None
    return None


def _roots(tree: LexborHTMLParser, include: tuple[str, ...]) -> list[LexborNode]:
    """The elements matching `include`, in page order, without those nested in another."""
    matched: dict[int, LexborNode] = {}
    for selector in include:
        for node in tree.css(selector):
            matched.setdefault(node.mem_id, node)
    roots = []
    for node in matched.values():
        parent = node.parent
        while parent is not None and parent.mem_id not in matched:
            parent = parent.parent
        if parent is None:
            roots.append(node)
    if len(include) > 1:  # selectors were matched one after the other: restore page order
        order = {n.mem_id: i for i, n in enumerate(tree.root.traverse())} if tree.root else {}
        roots.sort(key=lambda n: order.get(n.mem_id, 0))
    return roots


def _to_block(
    raw: RawBlock, position: int, container: str, url: str, keep_link_lists: bool
) -> Block | None:
    """The public block for a raw one: its final kind, or None when it is navigation."""
    kind = raw.kind
    length = len(raw.text)
    if length < 40 and _label_key(raw.text) in _LABELS:
        return None
    href = raw.href
    if kind in ("paragraph", "list_item"):
        if is_link_line(raw):
            kind = "link_line"
        elif (
            raw.links > 1
            and raw.link_chars > LINK_DENSE * length
            and not own_prose(raw, OWN_SHARE)
        ):
            if not keep_link_lists:
                return None  # a run of links: menus, tag lists, "more on" rows
            kind = "link_line"
    # Only a link line, or a heading that *is* a link (a teaser headline), carries a target.
    if kind != "link_line" and not (kind in ("title", "heading") and is_link_line(raw)):
        href = None
    if href is not None and url:
        href = urljoin(url, href)
    return Block(
        kind=kind, text=raw.text, position=position, container=container,
        level=raw.level if kind in ("title", "heading") else 0, href=href,
    )


def extract_page(
    html: str,
    *,
    url: str = "",
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> ExtractedPage:
    """The article content of a page as ordered blocks, with its title and JSON-LD items."""
    for selector in (*include, *exclude):
        validate_selector(selector)
    tree = LexborHTMLParser(html)
    for selector in exclude:
        for node in tree.css(selector):
            node.decompose()
    scripts = [node.text() for node in tree.css('script[type="application/ld+json" i]')]
    articles = parse_articles(scripts) if scripts else ()
    title = _title(tree)
    # Never text, and their contents would skew the text lengths the walk compares.
    tree.strip_tags(list(_JUNK_TAGS))

    # Pairs of (walk number, raw block, container element), in page order.
    chosen: list[tuple[int, RawBlock, int]] = []
    if include:
        for number, root in enumerate(_roots(tree, include)):
            result = walk(root, filter_boilerplate=False)
            for raw in result.blocks:
                chosen.append((number, raw, container_of(raw.path, result.flags)))
    else:
        root = tree.body or tree.root
        if root is not None:
            bodies = [a.body for a in articles if a.body]
            known = " ".join(max(bodies, key=len).lower().split()) if bodies else ""
            chosen = [(0, raw, c) for raw, c in select(walk(root), known)]

    names: dict[tuple[int, int], str] = {}
    blocks: list[Block] = []
    for number, raw, element in chosen:
        container = ""
        if element >= 0:
            container = names.setdefault((number, element), f"article-{len(names) + 1}")
        block = _to_block(raw, len(blocks), container, url, keep_link_lists=bool(include))
        if block is not None:
            blocks.append(block)
    return ExtractedPage(blocks=tuple(blocks), title=title, articles=articles)


def extract_blocks(
    html: str,
    *,
    url: str = "",
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> tuple[Block, ...]:
    """The blocks of `extract_page`."""
    return extract_page(html, url=url, include=include, exclude=exclude).blocks
