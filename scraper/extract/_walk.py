"""One pass over a parsed page: text cut into raw blocks, boilerplate boxes marked.

Each raw block remembers the chain of elements it sits in (its `path`), so that the content
selector can score elements by the text under them without walking the tree again.

What is never text (scripts, forms controls, navigation, hidden elements) is skipped here.
What only *looks* like furniture (a class or id word such as `share`, `widget`, `comment`,
an `<aside>`, a `<noscript>`) is walked and marked BOILER with the word that matched: the
selector weighs that evidence against how much of the page's prose the box holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from selectolax.lexbor import LexborNode

from scraper.extract._text import clean_text
from scraper.models import BlockKind

# "a | | | b": the separators around empty cells collapse to one (str.replace would
# leave one doubled pair for every two empty cells in a row).
_EMPTY_CELLS = re.compile(r"\|(?: \|)+")

# Subtrees that never hold article text.
SKIP_TAGS = frozenset({
    "head", "script", "style", "template", "svg", "iframe", "object",
    "annotation", "annotation-xml",  # a formula's TeX source, beside its MathML
    "embed", "canvas", "video", "audio", "map", "button", "select", "option", "input",
    "textarea", "label", "dialog", "nav", "link", "meta", "img", "picture", "source",
    "rt", "rp",  # ruby readings: a second rendering of the text beside it
})
# Boxes that usually hold no article text but sometimes do (an appended story in <aside>,
# a page whose article is only in <noscript>): walked and marked BOILER under this word.
BOXED_TAGS = frozenset({"aside", "noscript"})
# Page furniture: skipped unless it holds the page's headline or article body (some sites put
# the <h1> in a <header>, ASP.NET sites wrap the whole page in one <form>). A <header> inside
# an <article> is the article's own.
GUARDED_TAGS = frozenset({"header", "footer", "form"})
_GUARD = "h1, main, article, [itemprop=articleBody]"
SKIP_ROLES = frozenset({
    "navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog",
    "menu", "menubar", "toolbar",
})

# Elements whose whitespace-only text children never matter (they sit between <li>, <tr>,
# <td> ...): skipped without a look, a large share of a pretty-printed page's nodes.
_LIST_PARENTS = frozenset({
    "html", "body", "ul", "ol", "dl", "table", "thead", "tbody", "tfoot", "tr", "select",
})
CARD_CHARS = 300  # a link around blocks holding at most this much text is a card

# Tags that end the running block of inline text.
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hgroup", "li", "main", "ol", "p", "pre", "section", "summary", "table",
    "noscript",
    "tbody", "thead", "tfoot", "tr", "ul", "center", "caption", "legend", "html",
})
TAG_KINDS: dict[str, tuple[BlockKind, int]] = {
    "h1": ("title", 1), "h2": ("heading", 2), "h3": ("heading", 3), "h4": ("heading", 4),
    "h5": ("heading", 5), "h6": ("heading", 6), "li": ("list_item", 0),
    "dt": ("list_item", 0), "dd": ("list_item", 0), "blockquote": ("quote", 0),
    "figcaption": ("caption", 0), "caption": ("caption", 0), "address": ("byline", 0),
}
# Inside a data-table row the cells are joined, not cut; a row holding block content is layout.
_LAYOUT_ROW = "p, div, table, ul, ol, h1, h2, h3, h4, h5, h6, blockquote, article, section"

# Class/id words of boilerplate containers, matched as whole words after camelCase is split
# ("article-comments" matches, "commentary" does not). Layout words count only at the start
# or the end of a class token, where they name the box: "sidebar-widget" is a sidebar,
# "content-with-sidebar" is the content. State classes (has-/with-/no-...) never count.
#
# Two strengths. Furniture words name boxes that never carry an article (a cookie banner,
# an ad slot, a pager): skipped in the walk, unless the box holds the headline or most of
# the page's text. Boilerplate words are only evidence (a WordPress theme's
# `entry themeform share`, Elementor's `widget`, a forum's `comment` posts): the box is
# walked and marked, and the selector weighs it by the prose it holds.
_FURNITURE_WORDS = (
    r"cookies?|cookie-banner|consent|gdpr|newsletters?|subscribe|signup|"
    r"sign-up|optin|advert|adverts|advertisement|advertising|adslot|ad-slot|dfp|gpt-ad|"
    r"outbrain|taboola|breadcrumbs?|skip-link|pagination|pager|"
    r"print-only|visually-hidden|sr-only|screen-reader-text|offscreen"
)
_FURNITURE_LAYOUT = r"ads?|navbar|site-header|site-footer|toolbar"
_BOILER_WORDS = (
    r"share|shares|sharing|sharebar|sharedaddy|social|socials|comments?|subscription|"
    r"disqus|related|recommended|recommendations?|recirc|more-stories|most-read|mostread|"
    r"most-popular|popular|trending|read-next|readmore|also-read|promo|promos|promotion|"
    r"sponsor|sponsored|modal|popup|author-bio|gallery|slideshow|carousel|donate|donation|"
    r"donations|support-us|teasers?"
)
_LAYOUT_WORDS = (
    r"sidebar|navigation|nav|menu|masthead|footer|"
    r"overlay|tags|tag-list|topics|inline-related|rail|widget|widgets|banner|cmp"
)
_STATE = r"(?<!has)(?<!with)(?<!no)(?<!show)(?<!enable)"


def _vocabulary(words: str, layout: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?:^|(?<=[^a-z0-9]))(?<!has-)(?<!with-)(?<!no-)(?:{words})(?=$|[^a-z0-9])"
        rf"|(?:^|\s|__)(?:{layout})(?=$|\s|[-_])"
        rf"|{_STATE}[-_](?:{layout})(?=$|\s)"
    )


_FURNITURE = _vocabulary(_FURNITURE_WORDS, _FURNITURE_LAYOUT)
_BOILERPLATE = _vocabulary(_BOILER_WORDS, _LAYOUT_WORDS)
_BYLINE = re.compile(
    r"(?:^|[^a-z0-9])(?:byline|bylines|author|authors|dateline|date|timestamp|published|"
    r"pubdate|publish-date|posted-on|post-date|article-date|meta-date|entry-date|"
    r"article-meta|post-meta|entry-meta|contributor)(?=$|[^a-z0-9])"
)
_CAPTION = re.compile(
    r"(?:^|[^a-z0-9])(?:caption|image-caption|photo-caption|credit|image-credit|"
    r"photo-credit|wp-caption-text)(?=$|[^a-z0-9])"
)
# Content words: an element carrying one of these is never skipped by the vocabularies, and
# is a candidate story body.
_CONTENT = re.compile(
    r"(?:^|[^a-z0-9])(?:article-body|articlebody|article-content|article-text|story-body|"
    r"story-content|story-text|entry-content|post-content|post-body|post-text|"
    r"content-body|body-text|main-content|article__body|article__content|rich-text|"
    r"paywall-content|articlebodytext)(?=$|[^a-z0-9])"
)
# Embedded posts quoted by a story are its content, whatever "social" box holds them; they
# are only shielded from the vocabularies, not taken for a story body.
_EMBED = re.compile(
    r"(?:^|[^a-z0-9])(?:embed|embedded|twitter-tweet|instagram-media|tiktok-embed)"
    r"(?=$|[^a-z0-9])"
)
_CAMEL = re.compile(r"([a-z])([A-Z])")

ARTICLE = 1  # an <article> element: a story container
STORY = 8  # an articleBody or schema.org Article element: a container when no <article> is
CONTENT = 2  # <main>, or a content class/id: a bonus for the content selector
BOILER = 16  # a class/id word, <aside> or <noscript> says "furniture": see the selector


@dataclass(slots=True)
class RawBlock:
    kind: BlockKind
    text: str
    level: int
    path: tuple[int, ...]  # element indices, outermost first
    link_chars: int
    links: int
    href: str | None
    meta_chars: int = 0  # text inside <time> or a rel=author link


@dataclass(slots=True)
class Walk:
    blocks: list[RawBlock] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # per element index
    parents: list[int] = field(default_factory=list)  # -1 for the root
    flags: list[int] = field(default_factory=list)
    words: dict[int, str] = field(default_factory=dict)  # BOILER element -> its word


def _is_hidden(attrs: dict[str, str | None]) -> bool:
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = attrs.get("style")
    if style:
        style = style.replace(" ", "").lower()
        return "display:none" in style or "visibility:hidden" in style
    return False


# What the class/id vocabularies say about an element.
NEUTRAL, CONTENT_WORD, FURNITURE_WORD, BOILER_WORD, BYLINE_WORD, CAPTION_WORD = range(6)


# An id made from a heading ("sharing-with-a-single-developer") names a section, not a box:
# ids of this many words or more are not read for class words (classes are, however long:
# "wp-block-social-links-wrapper" is a share bar).
_SLUG_WORDS = 5


# Every token of every vocabulary word: a class string with none of them matches no
# vocabulary, which one set test tells (most class strings are "css-1ygdjhk" or "col-md-8").
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_VOCABULARY_TOKENS = frozenset(
    token
    for source in (_FURNITURE_WORDS, _FURNITURE_LAYOUT, _BOILER_WORDS, _LAYOUT_WORDS,
                   _BYLINE.pattern, _CAPTION.pattern, _CONTENT.pattern, _EMBED.pattern)
    for word in re.findall(r"[a-z0-9]+", source)
    for token in (word, word[:-1] if word.endswith("s") else word)
)


@lru_cache(maxsize=8192)
def _classify(class_and_id: str) -> tuple[bool, int, str]:
    """(content word?, other role, the boilerplate word matched) of a "class id" string;
    cached: pages repeat classes."""
    words = _CAMEL.sub(r"\1-\2", class_and_id).lower()
    if _VOCABULARY_TOKENS.isdisjoint(_NON_ALNUM.split(words)):
        return False, NEUTRAL, ""
    if _CONTENT.search(words):
        return True, NEUTRAL, ""
    if _EMBED.search(words):
        return False, NEUTRAL, ""
    if _FURNITURE.search(words):
        return False, FURNITURE_WORD, ""
    boiler = _BOILERPLATE.search(words)
    if boiler:
        return False, BOILER_WORD, boiler.group().strip(" _-")
    if _BYLINE.search(words):
        return False, BYLINE_WORD, ""
    if _CAPTION.search(words):
        return False, CAPTION_WORD, ""
    return False, NEUTRAL, ""


def walk(root: LexborNode, *, filter_boilerplate: bool = True) -> Walk:
    """Cut the subtree under `root` into raw blocks, in document order.

    With `filter_boilerplate` off (the user chose the region with `include`), only SKIP_TAGS
    and hidden elements are skipped: no vocabularies, no page-furniture tags. The root itself
    is always walked.
    """
    out = Walk()
    blocks, tags, flags, parents = out.blocks, out.tags, out.flags, out.parents
    el_stack: list[int] = []
    kinds: list[tuple[BlockKind, int]] = [("paragraph", 0)]
    buf: list[str] = []
    link_depth = 0
    link_chars = 0
    links = 0
    href: str | None = None
    meta_depth = 0
    meta_chars = 0

    # The <a> elements around the current text: [href, node, is a card (None: not known)].
    open_links: list[list] = []

    def flush() -> None:
        nonlocal link_chars, links, href, meta_chars
        text = "".join(buf)
        if dirty:
            text = clean_text(text)
        text = " ".join(text.split())
        buf.clear()
        if text and text != "|":
            kind, level = kinds[-1]
            if kind == "table":  # empty cells leave doubled separators
                text = _EMPTY_CELLS.sub("|", text.strip("| "))
            elif (
                meta_chars
                and kind in ("paragraph", "list_item")
                and (meta_chars >= 0.5 * len(text) or len(text) < 120)
            ):
                kind = "byline"  # a <time>-only line, or a short line naming its rel=author
            blocks.append(
                RawBlock(kind, text, level, tuple(el_stack), link_chars, links, href, meta_chars)
            )
        link_chars = 0
        # A block that starts inside an open link (<a><div><p>title</p></div></a>, a
        # whole card as one link) is that link's text too.
        links = 0
        href = None
        if open_links:
            link = open_links[-1]
            if link[2] is None:
                # A short link around blocks is a card; a long one is markup gone wrong
                # (an unclosed <a> the parser stretched over the article), not a link.
                link[2] = len(link[1].text()) <= CARD_CHARS
            if link[2]:
                links = 1
                href = link[0]
        meta_chars = 0

    all_text = root.text()
    wrapper_chars = 0.6 * len(all_text) if filter_boilerplate else 0.0
    # Most pages need no cleaning at all: one look at the whole text says so.
    dirty = clean_text(all_text) != all_text
    stack: list[tuple[bool, object]] = [(False, root)]
    while stack:
        leaving, item = stack.pop()
        if leaving:
            is_block, pushed_kind, is_link, is_meta = item  # type: ignore[misc]
            if is_link:
                open_links.pop()
            if is_block:
                flush()
            if is_link:
                link_depth -= 1
            if is_meta:
                meta_depth -= 1
            if pushed_kind:
                kinds.pop()
            el_stack.pop()
            continue
        node: LexborNode = item  # type: ignore[assignment]
        tag = node.tag or ""
        if tag == "-text":
            text = node.text_content
            if text:
                buf.append(text)
                if link_depth:
                    link_chars += len(text.strip())
                if meta_depth:
                    meta_chars += len(text.strip())
            continue
        is_root = node is root  # the root is walked whatever it is: the caller chose it
        if tag[:1] == "-" or (tag in SKIP_TAGS and not is_root):
            continue
        if tag in BOXED_TAGS and not filter_boilerplate and not is_root:
            continue  # the user's region: its own asides are not its content
        if tag == "br" or tag == "hr":
            flush()
            continue
        attrs = node.attributes
        if _is_hidden(attrs) and not is_root:
            continue
        flag = 0
        kind: tuple[BlockKind, int] | None = TAG_KINDS.get(tag)
        if filter_boilerplate and not is_root:
            skip = tag in GUARDED_TAGS or attrs.get("role") in SKIP_ROLES
            if tag == "header" and any(flags[e] & ARTICLE for e in el_stack):
                skip = False  # an article's own header: its headline, byline, date
            content = tag == "main" or attrs.get("itemprop") == "articleBody"
            role = NEUTRAL
            word = ""
            if "class" in attrs or "id" in attrs:
                ident = attrs.get("id") or ""
                if ident.count("-") + ident.count("_") >= _SLUG_WORDS - 1:
                    ident = ""  # made from a heading: names a section, not a box
                names = f"{attrs.get('class') or ''} {ident}"
                named_content, role, word = _classify(names)
                content = content or named_content
                skip = skip or role == FURNITURE_WORD
            if content:
                word = ""
            elif tag in BOXED_TAGS:
                word = word or tag
            elif word and tag not in BLOCK_TAGS:
                # An inline element ("share-count" <span>, an ad <a>) would be merged into
                # the block around it, out of the selector's sight: judged here.
                skip = True
            # A wrapper of the whole page (an ASP.NET <form>, "page has-ads") can match too:
            # keep what holds the headline or most of the page's text.
            if (
                skip
                and not content
                and tag not in ("article", "main", "body")
                and node.css_first(_GUARD) is None
                and len(node.text()) < wrapper_chars
            ):
                continue
            if content:
                flag |= CONTENT
            if word and tag not in ("article", "main", "body"):
                flag |= BOILER
                out.words[len(tags)] = word  # the index this element is about to get
            if role > BOILER_WORD and kind is None:
                # Short wrappers only: a whole article inside "post-meta" is not a byline.
                if role == BYLINE_WORD and len(node.text()) < 300:
                    kind = ("byline", 0)
                elif role == CAPTION_WORD and len(node.text()) < 500:
                    kind = ("caption", 0)
        if tag == "article":
            flag |= ARTICLE
        elif attrs.get("itemprop") == "articleBody":
            flag |= STORY
        elif "itemtype" in attrs:
            itemtype = attrs.get("itemtype") or ""
            if itemtype.endswith(("Article", "BlogPosting", "NewsArticle")):
                flag |= STORY

        # An inline caption (<span class="newsCaption">) is a block of its own: merged
        # into the text around it, it would read as a paragraph.
        is_block = tag in BLOCK_TAGS or (kind is not None and kind[0] == "caption")
        if tag == "tr":
            # A row holding block content is page layout: its cells are plain blocks.
            layout = node.css_first(_LAYOUT_ROW) is not None
            kind = ("paragraph", 0) if layout else ("table", 0)
        elif tag in ("td", "th"):
            if kinds[-1][0] == "table":
                if buf and "".join(buf).strip():
                    buf.append(" | ")
            else:
                is_block = True
        if is_block:
            flush()
        index = len(tags)
        tags.append(tag)
        flags.append(flag)
        parents.append(el_stack[-1] if el_stack else -1)
        el_stack.append(index)
        is_link = is_meta = False
        if tag == "a":
            target = attrs.get("href")
            if target is not None:
                is_link = True
                link_depth += 1
                links += 1
                open_links.append([target, node, None])
                if href is None:
                    href = target
            if "author" in (attrs.get("rel") or ""):
                is_meta = True
        elif tag == "time":
            is_meta = True
        if is_meta:
            meta_depth += 1
        pushed = False
        if kind is not None and kinds[-1][0] != "table":
            kinds.append(kind)
            pushed = True
        stack.append((True, (is_block, pushed, is_link, is_meta)))
        children = [
            (False, child)
            for child in node.iter(include_text=True, skip_empty=tag in _LIST_PARENTS)
        ]
        children.reverse()
        stack.extend(children)
    flush()
    return out


def container_of(path: tuple[int, ...], flags: list[int]) -> int:
    """The story container of a block: its innermost <article>, else its outermost
    articleBody / schema.org Article element (so a headline above the articleBody and the
    body share one container), else -1."""
    for element in reversed(path):
        if flags[element] & ARTICLE:
            return element
    for element in path:
        if flags[element] & STORY:
            return element
    return -1
