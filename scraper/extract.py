"""HTML (or a plain-text dump) -> ordered text blocks.

Pure and synchronous: no network, no event loop. Placeholder version: every heading,
paragraph and list item; the main-content detector replaces it.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from scraper.models import Block, BlockKind, ExtractedPage

__all__ = ["extract_blocks", "extract_page", "text_to_page"]

_SPACE = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def text_to_page(text: str) -> ExtractedPage:
    """A plain-text dump, one block per line, as blocks (blank lines are skipped)."""
    blocks: list[Block] = []
    for line in text.splitlines():
        cleaned = _clean(line)
        if not cleaned:
            continue
        kind: BlockKind = "paragraph"
        if cleaned.startswith(("- ", "• ", "* ")):
            kind = "list_item"
        elif re.fullmatch(r"https?://\S+", cleaned):
            kind = "link_line"
        blocks.append(Block(kind=kind, text=cleaned, position=len(blocks)))
    return ExtractedPage(blocks=tuple(blocks))


_KINDS: dict[str, BlockKind] = {
    "h1": "title", "h2": "heading", "h3": "heading", "h4": "heading",
    "p": "paragraph", "li": "list_item", "blockquote": "quote",
}


def extract_page(
    html: str,
    *,
    url: str = "",
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> ExtractedPage:
    tree = LexborHTMLParser(html)
    for node in tree.css("script, style, nav, header, footer, form, noscript"):
        node.decompose()
    for selector in exclude:
        for node in tree.css(selector):
            node.decompose()
    roots = [n for s in include for n in tree.css(s)] if include else [tree.body or tree.root]
    blocks: list[Block] = []
    for root in roots:
        if root is None:
            continue
        for node in root.css("h1, h2, h3, h4, p, li, blockquote"):
            text = _clean(node.text(separator=" "))
            if text:
                tag = node.tag or "p"
                blocks.append(Block(kind=_KINDS[tag], text=text, position=len(blocks)))
    title_node = tree.css_first("title")
    title = _clean(title_node.text()) if title_node else None
    return ExtractedPage(blocks=tuple(blocks), title=title or None)


def extract_blocks(html: str, **options: tuple[str, ...] | str) -> tuple[Block, ...]:
    return extract_page(html, **options).blocks  # type: ignore[arg-type]
