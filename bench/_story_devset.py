"""A development set for the story splitter, composed from real articles (deterministic).

    .venv/bin/python bench/_story_devset.py --out /tmp/devset --seed 14   # write it to look at

The articles are the ground-truth bodies of both shared benchmarks
(``../shared/benchmarks/article-extraction`` and ``../shared/benchmarks/readability-pages``):
English ones with at least four paragraphs of prose. Each article goes to one split, ``tune``
or ``report``, by a hash of its id and the seed, and a page only ever uses articles of its own
split, so no text of the report split is seen while tuning.

Every page is built from a plan (`Page`: stories, each with its title block, body and
furniture, plus noise lines outside any story) and rendered twice: as HTML in one of several
container shapes real sites use, and as a text dump in the seed's format (one block per line,
bullets as "- ", the short link as a bare URL). The gold is the plan: each story's title and
paragraphs, and the noise lines (title repeats, short links, restating bullets, bylines,
captions, teaser items, prev/next cards) that must end up in no story.

Nothing is written into the repository: `build_devset` returns the cases in memory, and
``--out`` writes them where you say (a temporary directory).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"
SOURCES = (SHARED / "article-extraction", SHARED / "readability-pages")

# --- articles -------------------------------------------------------------------------------

_EN = frozenset(
    [
        "the",
        "a",
        "of",
        "and",
        "to",
        "in",
        "is",
        "that",
        "for",
        "on",
        "with",
        "as",
        "was",
        "it",
        "by",
        "at",
        "from",
        "are",
        "be",
        "this",
        "have",
    ]
)
_SITE_SUFFIX = re.compile(r"\s+[|\u2013\u2014\-:]\s+[^|\u2013\u2014\-]{2,40}$")
_URL = re.compile(r"https?://|www\.")


@dataclass(frozen=True, slots=True)
class Article:
    key: str  # "<set>/<id>"
    title: str
    paragraphs: tuple[str, ...]


def _english(text: str) -> bool:
    words = re.findall(r"[a-z]+", text.lower())
    return len(words) > 50 and sum(w in _EN for w in words) / len(words) > 0.2


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    for _ in range(2):
        stripped = _SITE_SUFFIX.sub("", title)
        if len(stripped.split()) >= 3:
            title = stripped
    return title


def _og_title(path: Path) -> str | None:
    raw = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
    m = re.search(r"<meta[^>]+property=[\"']og:title[\"'][^>]*content=[\"']([^\"']+)", raw)
    if m is None:
        m = re.search(r"<title[^>]*>([^<]+)</title>", raw)
    return html.unescape(m.group(1)) if m else None


def load_articles() -> list[Article]:
    """Every usable article of both shared sets, in a stable order."""
    out: list[Article] = []
    seen: set[str] = set()
    for directory in SOURCES:
        truth_path = directory / "ground-truth.json"
        if not truth_path.is_file():
            continue
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        for key in sorted(truth):
            entry = truth[key]
            body = entry.get("articleBody") or ""
            if entry.get("readerable") is False or "lorem ipsum" in body.lower():
                continue
            if not _english(body):
                continue
            title = entry.get("title")
            if title is None:
                page = directory / "html" / f"{key}.html.gz"
                title = _og_title(page) if page.is_file() else None
            if not title:
                continue
            title = _clean_title(title)
            if not 3 <= len(title.split()) <= 22:
                continue
            paragraphs: list[str] = []
            for line in body.split("\n"):
                line = " ".join(line.split())
                # Lines that no splitter could tell from furniture are left out of the gold.
                if len(line.split()) < 3 or _URL.search(line) or line in seen:
                    continue
                if line == title or line.lower().startswith(("by ", "photo", "image")):
                    continue
                seen.add(line)
                paragraphs.append(line)
            prose = [p for p in paragraphs if len(p.split()) >= 10]
            # Tables of contents and link lists are not articles to split.
            if len(prose) < 4 or len(prose) < 0.6 * len(paragraphs):
                continue
            out.append(Article(f"{directory.name}/{key}", title, tuple(paragraphs)))
    return out


def split_of(article: Article, seed: int) -> str:
    digest = hashlib.blake2b(f"{seed}:{article.key}".encode(), digest_size=4).digest()
    return "tune" if digest[0] % 2 == 0 else "report"


# --- page plans -----------------------------------------------------------------------------

# Noise kinds (gold: in no story).
TITLE_REPEAT, SHORT_LINK, BULLET, BYLINE, CAPTION, TEASER, CARD, LABEL = (
    "title repeat",
    "short link",
    "summary bullet",
    "byline",
    "caption",
    "teaser",
    "card",
    "label",
)


@dataclass(slots=True)
class Line:
    """One block of a page plan: its text, its role, and how HTML renders it."""

    text: str
    role: str  # "title", "body", "crosshead", "list" (body list item) or a noise kind
    tag: str = "p"  # p, h1, h2, h3, li, a, figcaption, byline, marker, ...
    href: str | None = None


@dataclass(slots=True)
class StoryPlan:
    title: str | None
    lines: list[Line]  # the title block, the body and its furniture, in page order


@dataclass(slots=True)
class Page:
    name: str
    kind: str  # single, mixed, teasers
    stories: list[StoryPlan]
    before: list[Line] = field(default_factory=list)  # noise above the first story
    between: list[list[Line]] = field(default_factory=list)  # noise after story k
    after: list[Line] = field(default_factory=list)
    shape: str = "siblings"


_FIRST = (
    "Maria",
    "James",
    "Aisha",
    "Tomas",
    "Priya",
    "Daniel",
    "Elena",
    "Kwame",
    "Sofia",
    "Oliver",
    "Hannah",
    "Mateo",
    "Yuki",
    "Lena",
    "Omar",
    "Grace",
    "Ivan",
    "Nadia",
)
_LAST = (
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Castillo",
    "Brennan",
    "Haddad",
    "Novak",
    "Tanaka",
    "Fischer",
    "Mensah",
    "Russo",
    "Kowalski",
    "Duarte",
    "Whitfield",
    "Sato",
    "Berger",
)
_SPEC_BANK = (
    (
        "Display: 6.1-inch OLED",
        "Battery: 4,500 mAh",
        "Weight: 187 g",
        "Storage: 128 GB or 256 GB",
        "Price: from $699",
    ),
    (
        "2 cups plain flour",
        "1 teaspoon baking soda",
        "200 g unsalted butter, softened",
        "3 large eggs",
        "A pinch of sea salt",
    ),
    (
        "Engine: 2.0-litre turbo petrol",
        "Power: 245 hp",
        "0-100 km/h: 6.4 seconds",
        "Range: 540 km",
        "Boot space: 470 litres",
    ),
    (
        "Monday: 9am to 5pm",
        "Tuesday: closed",
        "Wednesday to Friday: 10am to 6pm",
        "Weekends: by appointment",
    ),
)
_LIST_INTRO = ("Here are the details:", "What you need:", "The key figures:", "At a glance:")
_MARKERS = (
    "Read next",
    "Related stories",
    "More from this section",
    "You may also like",
    "Most read",
    "Recommended for you",
    "Related",
)
_CAPTION_CREDITS = (
    "(Photo: AFP)",
    "(Image: Getty)",
    "Photo: Reuters",
    "(Picture: AP)",
    "Photograph: Supplied",
)


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\"\u201c])", text)
    return [p for p in parts if len(p.split()) >= 8]


def _respell(text: str, rng: random.Random) -> str:
    swaps = (
        ("defense", "defence"),
        ("U.S.", "US"),
        (" US ", " U.S. "),
        ("percent", "per cent"),
        ("center", "centre"),
        ("organization", "organisation"),
    )
    for a, b in swaps:
        if a in text and rng.random() < 0.7:
            text = text.replace(a, b)
    return text


def _bullet_from(article_lines: Sequence[str], rng: random.Random, short: bool) -> str | None:
    """A summary bullet restating one sentence of the story (respelt, period dropped)."""
    pool = [s for p in article_lines for s in _sentences(p)]
    if not pool:
        return None
    sentence = rng.choice(pool).rstrip(".")
    words = sentence.split()
    if short:
        words = words[: rng.randint(5, 7)]
        words[-1] = words[-1].rstrip(".,;:")
    elif len(words) > 30:
        words = words[:30]
    return _respell(" ".join(words), rng)


_CROSSHEADS = (
    "What happens next",
    "The background",
    "Why it matters",
    "A long road ahead",
    "What they said",
    "The numbers",
    "Looking ahead",
    "How it started",
    "The reaction",
)


def _crosshead(paragraph: str, rng: random.Random) -> str:
    """A crosshead: a stock one, or 2-6 words of the paragraph it heads from a capitalised
    word on (a name, a place), without a final stop."""
    words = [w.strip(".,;:\"'()\u201c\u201d") for w in paragraph.split()]
    starts = [k for k, w in enumerate(words[1:], 1) if w[:1].isupper()]
    if not starts or rng.random() < 0.3:
        return rng.choice(_CROSSHEADS)
    start = rng.choice(starts)
    head = " ".join(w for w in words[start : start + rng.randint(2, 6)] if w)
    return head[:1].upper() + head[1:]


def _caption(paragraphs: Sequence[str], rng: random.Random) -> str:
    words = rng.choice(paragraphs[:3]).split()
    start = rng.randint(0, max(0, len(words) - 14))
    return " ".join(words[start : start + rng.randint(8, 14)]).rstrip(".,;:")


def _byline(rng: random.Random) -> str:
    name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    return rng.choice(
        (
            f"By {name}",
            f"Posted by {name}",
            f"By {name} | {rng.randint(2, 9)} min read",
            f"Written by {name}",
            f"By {name}, Reuters",
            f"{name} | {rng.randint(2, 9)} min read",
            f"Posted by {name} on March {rng.randint(2, 28)}, 2024",
        )
    )


def _short_link(rng: random.Random) -> str:
    code = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(5))
    return (
        rng.choice(("https://arab.news/", "https://bit.ly/", "https://t.co/", "https://nws.to/"))
        + code
    )


def _title(article: Article, rng: random.Random) -> str:
    title = article.title
    if rng.random() < 0.12 and not title.endswith((".", "?", "!")):
        title += "."
    return title


def _story(
    article: Article,
    rng: random.Random,
    *,
    title_block: str,
    furniture: float,
    max_paragraphs: int,
    used: set[str],
) -> StoryPlan:
    """One story: its title block ('lead': title above the body; 'trail': after it, as the
    seed's story A; 'summary': title, short link, repeat and bullets above the body)."""
    paragraphs = list(article.paragraphs[:max_paragraphs])
    title = _title(article, rng)
    body: list[Line] = []
    for k, p in enumerate(paragraphs):
        if k >= 3 and k < len(paragraphs) - 2 and rng.random() < 0.12 * furniture:
            style = rng.random()
            head = _crosshead(p, rng)
            if head in used or head in paragraphs:
                continue
            used.add(head)
            body.append(Line(f"- {head} -" if style < 0.25 else head, "crosshead", "h3"))
        if k == 2 and rng.random() < 0.12 * furniture:
            intro = rng.choice(_LIST_INTRO)
            body.append(Line(intro, "body"))
            bank = rng.choice(_SPEC_BANK)
            if bank[0] not in used:
                used.add(bank[0])
                body += [Line(item, "list", "li") for item in bank]
        body.append(Line(p, "body"))
    head: list[Line] = []
    bullets = [
        b
        for b in (
            _bullet_from(paragraphs, rng, short=rng.random() < 0.3)
            for _ in range(rng.randint(1, 3))
        )
        if b
    ]
    if title_block == "summary":
        head.append(Line(title, "title", "h2"))
        if rng.random() < 0.7:
            head.append(Line(_short_link(rng), SHORT_LINK, "a"))
        if rng.random() < 0.6:
            head.append(Line(title, TITLE_REPEAT, "h3"))
        head += [Line(f"- {b}", BULLET, "li") for b in bullets]
    elif title_block == "lead":
        head.append(Line(title, "title", "h1"))
    if rng.random() < 0.5 * furniture:
        head.append(Line(_byline(rng), BYLINE, "byline"))
    if rng.random() < 0.3 * furniture and body:
        head.append(
            Line(
                f"{_caption(paragraphs, rng)} {rng.choice(_CAPTION_CREDITS)}", CAPTION, "figcaption"
            )
        )
    if title_block == "trail":
        tail = [Line(title, "title", "h2")]
        if rng.random() < 0.8:
            tail.append(Line(_short_link(rng), SHORT_LINK, "a"))
        if rng.random() < 0.8:
            tail.append(Line(title, TITLE_REPEAT, "h3"))
        tail += [Line(f"- {b}", BULLET, "li") for b in bullets[:2]]
        lines = [x for x in head[1:] if x.role != CAPTION] + body + tail
    else:
        lines = head + body
    return StoryPlan(title if title_block != "none" else None, lines)


def _slug(art: Article) -> str:
    return hashlib.blake2b(art.key.encode(), digest_size=4).hexdigest()


def _teaser_list(others: list[Article], rng: random.Random) -> list[Line]:
    """A "Read next" box: a marker and 2-3 items, each a linked headline with 0-3 bullets or a
    one-line blurb; or a news ticker (linked headline + a lead cut with "...")."""
    out: list[Line] = []
    ticker = rng.random() < 0.3
    if not ticker or rng.random() < 0.5:
        out.append(Line(rng.choice(_MARKERS), LABEL, "marker"))
    for art in others[: rng.randint(2, 3)]:
        out.append(Line(art.title, TEASER, "a", href=f"https://example.com/{_slug(art)}"))
        if ticker:
            lead = " ".join(art.paragraphs[0].split()[: rng.randint(12, 20)]).rstrip(".,;")
            out.append(Line(lead + " ...", TEASER, "p"))
            continue
        style = rng.random()
        if style < 0.4:
            for _ in range(rng.randint(2, 3)):
                b = _bullet_from(art.paragraphs, rng, short=rng.random() < 0.3)
                if b:
                    out.append(Line(f"- {b}", TEASER, "li"))
        elif style < 0.8:
            s = _sentences(art.paragraphs[0]) or [art.paragraphs[0]]
            out.append(Line(" ".join(s[0].split()[:30]), TEASER, "p"))
    return out


def _cards(others: list[Article], rng: random.Random) -> list[Line]:
    """Prev/next post cards and "Continue Reading" labels: they change on every publish."""
    out: list[Line] = []
    if rng.random() < 0.5:
        out.append(Line("Continue Reading", LABEL, "a", href="https://example.com/more"))
    labels = rng.choice(
        (
            ("Previous post", "Next post"),
            ("Previous article", "Next article"),
            ("PREVIOUS", "NEXT"),
            ("Prev", "Next"),
        )
    )
    for label, art in zip(labels, others[:2], strict=False):
        out.append(Line(label, LABEL, "card"))
        out.append(Line(art.title, CARD, "a", href=f"https://example.com/p/{_slug(art)}"))
    return out


def plan_page(n: int, pool: list[Article], rng: random.Random) -> Page:
    kind = rng.choices(("single", "mixed", "teasers"), weights=(3, 5, 2))[0]
    n_stories = 1 if kind != "mixed" else rng.choice((2, 2, 3))
    picks = rng.sample(pool, n_stories + 6)
    arts, others = picks[:n_stories], picks[n_stories:]
    furniture = rng.choice((0.5, 1.0, 1.5))
    stories: list[StoryPlan] = []
    used: set[str] = set()
    for k, art in enumerate(arts):
        if k == 0:
            block = rng.choices(("lead", "trail", "summary"), weights=(5, 2, 1))[0]
            if n_stories == 1 and block == "trail":
                block = "lead"
        else:
            # infinite scroll sometimes loses an appended story's headline
            block = rng.choices(("lead", "summary", "none"), weights=(4, 4, 1))[0]
        stories.append(
            _story(
                art,
                rng,
                title_block=block,
                furniture=furniture,
                max_paragraphs=rng.choice((6, 10, 14, 20, 40)),
                used=used,  # crossheads and lists are not repeated across a page
            )
        )
    page = Page(f"{n:04d}", kind, stories, between=[[] for _ in stories])
    if kind == "teasers" or rng.random() < 0.25:
        where = rng.choice(("after", "between", "before"))
        box = _teaser_list(others[:3], rng)
        if where == "between":
            page.between[rng.randrange(len(stories))] += box
        elif where == "before":
            page.before += box
        else:
            page.after += box
    if rng.random() < 0.3:
        page.between[0] = _cards(others[3:5], rng) + page.between[0]
    page.shape = rng.choice(("siblings", "nested", "aside", "scroll", "flat"))
    return page


# --- rendering ------------------------------------------------------------------------------


def render_text(page: Page) -> str:
    """The seed's format: one block per line, bullets as "- ", nothing else marked."""
    lines: list[str] = [x.text for x in page.before]
    for k, s in enumerate(page.stories):
        lines += [x.text for x in s.lines]
        lines += [x.text for x in page.between[k]]
    lines += [x.text for x in page.after]
    return "\n".join(lines) + "\n\n\n"


def _html_line(x: Line) -> str:
    t = html.escape(x.text)
    if x.tag in ("h1", "h2", "h3"):
        return f"<{x.tag}>{t}</{x.tag}>"
    if x.tag == "li":
        return f"<ul><li>{html.escape(x.text[2:] if x.text.startswith('- ') else x.text)}</li></ul>"
    if x.tag == "a":
        href = x.href or x.text
        return f'<p><a href="{html.escape(href)}">{t}</a></p>'
    if x.tag == "figcaption":
        return f'<figure><img src="/i.jpg" alt=""><figcaption>{t}</figcaption></figure>'
    if x.tag == "byline":
        return f'<div class="byline"><span class="author">{t}</span></div>'
    if x.tag == "marker":
        return f"<h3>{t}</h3>"
    if x.tag == "card":
        return f'<span class="nav-label">{t}</span>'
    return f"<p>{t}</p>"


def _story_html(s: StoryPlan) -> str:
    out: list[str] = []
    for x in s.lines:
        if x.role == "crosshead" and x.text.startswith("- "):
            out.append(f"<h3>{html.escape(x.text[2:-2])}</h3>")
        else:
            out.append(_html_line(x))
    return "\n".join(out)


def _box(lines: list[Line], tag: str = "aside", cls: str = "related") -> str:
    if not lines:
        return ""
    return f'<{tag} class="{cls}">' + "\n".join(map(_html_line, lines)) + f"</{tag}>"


def render_html(page: Page) -> str:
    nav = (
        '<header><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>'
        '<li><a href="/business">Business</a></li><li><a href="/sport">Sport</a></li>'
        "</ul></nav></header>"
    )
    foot = '<footer><p>Contact us</p><p><a href="/about">About</a></p></footer>'
    parts: list[str] = []
    shape = page.shape
    between = [_box(b, "div", "post-navigation") for b in page.between]
    if shape == "siblings":
        for k, s in enumerate(page.stories):
            parts.append(f'<article class="post">{_story_html(s)}</article>{between[k]}')
        main = "<main>" + _box(page.before) + "".join(parts) + _box(page.after) + "</main>"
    elif shape == "nested":
        # Appended articles inside the host's own body container.
        host = page.stories[0]
        inner = "".join(
            f"<article>{_story_html(s)}</article>{between[k + 1]}"
            for k, s in enumerate(page.stories[1:])
        )
        main = (
            f'<main>{_box(page.before)}<article class="post"><div class="entry-content">'
            f"{_story_html(host)}{between[0]}{inner}</div></article>"
            f"{_box(page.after)}</main>"
        )
    elif shape == "aside":
        for k, s in enumerate(page.stories):
            parts.append(f"<article>{_story_html(s)}</article>{_box(page.between[k])}")
        main = f"<main>{_box(page.before)}{''.join(parts)}{_box(page.after)}</main>"
    elif shape == "scroll":
        for k, s in enumerate(page.stories):
            parts.append(
                f'<div class="post" data-post-id="{k}"><div class="post-body">'
                f"{_story_html(s)}</div>{between[k]}</div>"
            )
        main = (
            f'<div id="content">{_box(page.before)}<div class="infinite-scroll">'
            f"{''.join(parts)}</div>{_box(page.after)}</div>"
        )
    else:  # flat: one content box, no story markup at all
        body = "\n".join(
            x
            for k, s in enumerate(page.stories)
            for x in (_story_html(s), "\n".join(map(_html_line, page.between[k])))
        )
        main = (
            f'<div id="content">{"".join(map(_html_line, page.before))}{body}'
            f"{''.join(map(_html_line, page.after))}</div>"
        )
    title = html.escape(page.stories[0].title or "")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title} | The Daily"
        f"</title></head><body>{nav}{main}{foot}</body></html>"
    )


# --- the set --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DevPage:
    name: str
    split: str  # tune / report
    kind: str
    shape: str
    html: str
    text: str
    stories: tuple[tuple[str | None, tuple[str, ...]], ...]  # (title, body paragraphs)
    noise: tuple[tuple[str, str], ...]  # (role, text): must be in no story


def build_devset(seed: int = 14, pages_per_split: int = 200) -> list[DevPage]:
    articles = load_articles()
    out: list[DevPage] = []
    for split in ("tune", "report"):
        pool = [a for a in articles if split_of(a, seed) == split]
        rng = random.Random(f"{seed}:{split}")
        for n in range(pages_per_split):
            page = plan_page(n, pool, rng)
            stories = tuple(
                (s.title, tuple(x.text for x in s.lines if x.role in ("body", "crosshead", "list")))
                for s in page.stories
            )
            all_lines = [
                *page.before,
                *(x for s in page.stories for x in s.lines),
                *(x for b in page.between for x in b),
                *page.after,
            ]
            noise = tuple(
                (x.role, x.text)
                for x in all_lines
                if x.role not in ("body", "crosshead", "list", "title")
            )
            out.append(
                DevPage(
                    f"{split}-{page.name}",
                    split,
                    page.kind,
                    page.shape,
                    render_html(page),
                    render_text(page),
                    stories,
                    noise,
                )
            )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write pages into")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--pages", type=int, default=200, help="pages per split")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    pages = build_devset(args.seed, args.pages)
    for p in pages:
        (args.out / f"{p.name}.html").write_text(p.html, encoding="utf-8")
        (args.out / f"{p.name}.txt").write_text(p.text, encoding="utf-8")
        gold = {
            "kind": p.kind,
            "shape": p.shape,
            "stories": [{"title": t, "paragraphs": list(b)} for t, b in p.stories],
            "noise": [{"role": r, "text": t} for r, t in p.noise],
        }
        (args.out / f"{p.name}.json").write_text(json.dumps(gold, indent=1), encoding="utf-8")
    print(f"{len(pages)} pages in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
