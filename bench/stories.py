"""Benchmark the story splitter: labelled corpus, the seed dump, and composed real pages.

    .venv/bin/python bench/stories.py                 # corpus + seed + 40 composed pages
    .venv/bin/python bench/stories.py --compose 0     # skip the composed pages
    .venv/bin/python bench/stories.py --splitter baseline --json out.json

Every page is extracted (HTML with ``scraper.extract.extract_page``, text dumps with
``text_to_page``) and split with ``scraper.stories.split_stories``; each figure is printed
beside the trivial baseline (one story holding every block) and the target.

Metrics, per set of pages:
- count accuracy: share of pages with the right number of stories;
- mixed precision / recall: "mixed" = more than one story;
- paragraph assignment: predicted stories are matched one-to-one to gold stories by paragraph
  overlap; a gold paragraph is right when it occurs (whitespace-normalised) in the predicted
  story matched to its gold story. Only paragraphs the extractor produced at all count (the
  rest is extraction's loss, shown as "coverage");
- Pk and WindowDiff over the gold paragraph sequence, k = half the mean gold segment length
  of the page (lower is better; a paragraph the splitter lost inherits its neighbour's story);
- paragraph precision: share of predicted paragraphs that are gold body paragraphs (leaked
  titles, bylines, summaries and teasers lower it); title accuracy over gold titles.

The scoring functions (`pk`, `window_diff`, `score_cases`, `score_corpus`, ...) are importable.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import re
import statistics
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # `python bench/stories.py` puts bench/ on the path, not the repository root.
    sys.path.insert(0, str(ROOT))

from selectolax.lexbor import LexborHTMLParser, LexborNode  # noqa: E402

from scraper.extract import extract_page, text_to_page  # noqa: E402
from scraper.models import ExtractedPage, Fingerprint, Story, StorySplit  # noqa: E402

CORPUS_DIR = ROOT / "fixtures" / "stories"
SHARED = ROOT.parent / "shared"
SEED_FILE = SHARED / "seeds" / "000_bcce254d7bf22341.txt"
ARTICLES_DIR = SHARED / "benchmarks" / "article-extraction"

TARGETS = {
    "count_accuracy": 0.97,
    "mixed_precision": 0.95,
    "mixed_recall": 0.95,
    "assignment": 0.98,
}

Splitter = Callable[[ExtractedPage], StorySplit]


# --- cases ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoldStory:
    title: str | None
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Case:
    """One page to split, with its ground truth."""

    name: str
    page: ExtractedPage
    gold: tuple[GoldStory, ...]
    size: int  # bytes of the source (HTML or text), for the timing buckets
    teasers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # Lines that must end up in no story (title repeats, short links, summary bullets,
    # bylines, captions, teasers, prev/next cards), as (kind, text).
    noise: tuple[tuple[str, str], ...] = ()


_SPACE = re.compile(r"\s+")


def norm(text: str) -> str:
    """Whitespace-collapsed NFKC text: how gold and predicted paragraphs are compared."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def _gold(stories: Iterable[dict[str, Any]]) -> tuple[GoldStory, ...]:
    return tuple(GoldStory(s.get("title"), tuple(s["paragraphs"])) for s in stories)


def load_corpus(directory: Path = CORPUS_DIR) -> list[Case]:
    cases = []
    for gold_path in sorted(directory.glob("*.json")):
        sources = [
            p
            for p in (gold_path.with_suffix(".html"), gold_path.with_suffix(".txt"))
            if p.is_file()
        ]
        if not sources:
            continue
        source = sources[0]
        raw = source.read_text(encoding="utf-8")
        page = extract_page(raw) if source.suffix == ".html" else text_to_page(raw)
        gold = json.loads(gold_path.read_text(encoding="utf-8"))
        cases.append(
            Case(
                name=gold_path.stem,
                page=page,
                gold=_gold(gold["stories"]),
                size=len(raw.encode()),
                teasers=tuple(gold.get("teasers", ())),
                tags=tuple(gold.get("tags", ())),
            )
        )
    return cases


def load_seed(path: Path = SEED_FILE) -> Case:
    """The seed dump, with its ground truth defined by rule (no text copied from it).

    Story A is lines 1-15 (the body before A's title on line 16); story B runs from the
    line starting "CARACAS:" to the end; B's title is the last line above it that is not
    a bullet (the bullets between are B's restating summary).
    """
    raw = path.read_text(encoding="utf-8")
    lines = [norm(line) for line in raw.splitlines()]
    start_b = next(i for i, line in enumerate(lines) if line.startswith("CARACAS:"))
    title_b = next(
        lines[i] for i in range(start_b - 1, 15, -1) if lines[i] and not lines[i].startswith("- ")
    )
    gold = (
        GoldStory(lines[15], tuple(lines[0:15])),
        GoldStory(title_b, tuple(line for line in lines[start_b:] if line)),
    )
    return Case("seed", text_to_page(raw), gold, size=len(raw.encode()), tags=("seed",))


# --- composed pages: infinite scroll built from the article-extraction benchmark ------------


def _content_node(tree: LexborHTMLParser, lines: Sequence[str]) -> LexborNode | None:
    """The element holding the article body: best coverage of the gold lines, then smallest.

    An <article> (or articleBody) that covers nearly as much is preferred, as infinite
    scroll appends whole <article> elements.
    """
    probes = [norm(line) for line in lines if len(line.split()) >= 6][:40]
    if not probes:
        return None
    scored: list[tuple[float, int, LexborNode]] = []
    for node in tree.css("article, main, [itemprop=articleBody], section, div"):
        text = norm(node.text(separator=" "))
        if len(text) < 200:
            continue
        cover = sum(p in text for p in probes) / len(probes)
        if cover > 0:
            scored.append((cover, len(text), node))
    if not scored:
        return None
    best = max(c for c, _, _ in scored)
    if best < 0.6:
        return None
    near = [s for s in scored if s[0] >= best - 0.1]
    semantic = [
        s
        for s in near
        if s[2].tag == "article" or (s[2].attributes.get("itemprop") or "") == "articleBody"
    ]
    pool = semantic or [s for s in near if s[0] == best]
    return min(pool, key=lambda s: s[1])[2]


def compose_cases(
    n: int,
    directory: Path = ARTICLES_DIR,
    seed: int = 7,
    keep: Callable[[str], bool] | None = None,
) -> list[Case]:
    """n mixed pages: page B's article element inserted right after page A's.

    Ground truth: two stories, A's and B's articleBody lines. Pages whose body cannot be
    located in the HTML are skipped. Nothing is written to disk. `keep` selects the page
    ids to use (a split of the development set).
    """
    truth_path = directory / "ground-truth.json"
    if n <= 0 or not truth_path.is_file():
        return []
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    ids = sorted(i for i in truth if (directory / "html" / f"{i}.html.gz").is_file()
                 and (keep is None or keep(i)))
    order = ids[:]
    random.Random(seed).shuffle(order)
    # Each page once as A and once as B per round, so no page dominates the set.
    pairs = [
        (order[i], order[(i + step) % len(order)])
        for step in range(1, len(order))
        for i in range(len(order))
    ]
    cases: list[Case] = []
    for a, b in pairs:
        if len(cases) >= n:
            break
        lines_a = [x.strip() for x in truth[a]["articleBody"].split("\n") if x.strip()]
        lines_b = [x.strip() for x in truth[b]["articleBody"].split("\n") if x.strip()]
        tree_a = LexborHTMLParser(_read_gz(directory / "html" / f"{a}.html.gz"))
        tree_b = LexborHTMLParser(_read_gz(directory / "html" / f"{b}.html.gz"))
        node_a, node_b = _content_node(tree_a, lines_a), _content_node(tree_b, lines_b)
        if node_a is None or node_b is None:
            continue
        marker = "\u2063COMPOSE\u2063"
        node_a.insert_after(marker)
        html = (tree_a.html or "").replace(marker, node_b.html or "", 1)
        cases.append(
            Case(
                name=f"{a[:8]}+{b[:8]}",
                page=extract_page(html),
                gold=(GoldStory(None, tuple(lines_a)), GoldStory(None, tuple(lines_b))),
                size=len(html.encode()),
                tags=("composed",),
            )
        )
    return cases


# --- the development set: real articles in many page shapes (bench/_story_devset.py) --------


def _unbullet(text: str) -> str:
    """'- Crosshead -' -> 'Crosshead' and '- bullet' -> 'bullet': how HTML renders them."""
    text = norm(text)
    if text.startswith("- "):
        text = text[2:]
    if text.endswith(" -"):
        text = text[:-2]
    return text


def devset_cases(seed: int = 14, pages: int = 200) -> dict[str, list[Case]]:
    """The development set as four sets: {tune,report} x {html,text}. The HTML sets also
    hold pages composed from the real HTML of two article-extraction pages of the split
    (page B's article inserted after page A's: compose_cases), one for every five."""
    from _story_devset import Article, build_devset, split_of  # bench/ is on sys.path

    out: dict[str, list[Case]] = {}
    for p in build_devset(seed, pages):
        for fmt in ("html", "text"):
            raw = p.html if fmt == "html" else p.text
            page = extract_page(raw) if fmt == "html" else text_to_page(raw)
            fix = _unbullet if fmt == "html" else norm
            gold = tuple(GoldStory(t, tuple(fix(x) for x in body)) for t, body in p.stories)
            out.setdefault(f"{p.split}-{fmt}", []).append(
                Case(
                    name=f"{p.name}.{fmt}",
                    page=page,
                    gold=gold,
                    size=len(raw.encode()),
                    tags=(p.kind, p.shape if fmt == "html" else "dump"),
                    noise=p.noise,
                )
            )
    for split in ("tune", "report"):
        def keep(i: str, split: str = split) -> bool:
            return split_of(Article(f"{ARTICLES_DIR.name}/{i}", "", ()), seed) == split

        for case in compose_cases(pages // 5, seed=seed, keep=keep):
            out[f"{split}-html"].append(
                Case(case.name, case.page, case.gold, case.size, tags=("composed", "real html"))
            )
    return out


def _read_gz(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")


# --- splitters ------------------------------------------------------------------------------


def baseline_split(page: ExtractedPage) -> StorySplit:
    """The trivial baseline: one story per page holding every block."""
    story = Story(
        title=page.title,
        paragraphs=tuple(b.text for b in page.blocks),
        fingerprint=Fingerprint(exact="", simhash=0),
    )
    return StorySplit(stories=(story,))


def load_splitter() -> Splitter | None:
    """`scraper.stories.split_stories` when importable (it may not exist yet)."""
    try:
        from scraper.stories import split_stories
    except ImportError:
        return None
    return split_stories


# --- metrics --------------------------------------------------------------------------------


def _boundaries(labels: Sequence[int]) -> list[int]:
    return [int(labels[i] != labels[i + 1]) for i in range(len(labels) - 1)]


def pk(ref: Sequence[int], hyp: Sequence[int], k: int) -> float | None:
    """Beeferman's Pk: share of windows of width k whose ends are together in one and apart
    in the other segmentation. ref/hyp label each item with its segment; None if n <= k."""
    n = len(ref)
    if n <= k:
        return None
    rb, hb = _boundaries(ref), _boundaries(hyp)
    errors = sum((sum(rb[i : i + k]) == 0) != (sum(hb[i : i + k]) == 0) for i in range(n - k))
    return errors / (n - k)


def window_diff(ref: Sequence[int], hyp: Sequence[int], k: int) -> float | None:
    """Pevzner & Hearst's WindowDiff: share of windows where the boundary counts differ."""
    n = len(ref)
    if n <= k:
        return None
    rb, hb = _boundaries(ref), _boundaries(hyp)
    errors = sum(sum(rb[i : i + k]) != sum(hb[i : i + k]) for i in range(n - k))
    return errors / (n - k)


def half_mean_segment(ref: Sequence[int]) -> int:
    segments = 1 + sum(_boundaries(ref))
    return max(1, round(len(ref) / segments / 2))


def match_stories(overlap: Sequence[Sequence[int]]) -> dict[int, int]:
    """Gold index -> predicted index, one-to-one, maximising the total overlap.

    Exhaustive for small pages (at most 7 on the smaller side); greedy beyond that.
    """
    n_gold = len(overlap)
    n_pred = len(overlap[0]) if overlap else 0
    if not n_gold or not n_pred:
        return {}
    if min(n_gold, n_pred) <= 7 and max(n_gold, n_pred) <= 9:
        best: tuple[int, dict[int, int]] = (-1, {})
        if n_gold <= n_pred:
            for perm in itertools.permutations(range(n_pred), n_gold):
                total = sum(overlap[g][p] for g, p in enumerate(perm))
                if total > best[0]:
                    best = (total, dict(enumerate(perm)))
        else:
            for perm in itertools.permutations(range(n_gold), n_pred):
                total = sum(overlap[g][p] for p, g in enumerate(perm))
                if total > best[0]:
                    best = (total, {g: p for p, g in enumerate(perm)})
        return {g: p for g, p in best[1].items() if overlap[g][p] > 0}
    cells = sorted(
        ((overlap[g][p], g, p) for g in range(n_gold) for p in range(n_pred)), reverse=True
    )
    out: dict[int, int] = {}
    for value, g, p in cells:
        if value > 0 and g not in out and p not in out.values():
            out[g] = p
    return out


@dataclass(slots=True)
class CaseScore:
    name: str
    gold_count: int
    pred_count: int
    gold_extracted: int  # gold stories with at least one paragraph the extractor produced
    paragraphs: int  # gold paragraphs
    found: int  # ... that the extractor produced
    right: int  # ... found and assigned to the right story
    pred_paragraphs: int
    pred_gold: int  # predicted paragraphs that are gold paragraphs
    titles: int  # gold titles (non-null)
    titles_right: int
    pk: float | None
    wd: float | None
    teasers: int = 0
    teasers_kept_out: int = 0  # gold teaser headlines in no story
    noise: int = 0  # noise lines on the page (Case.noise)
    noise_leaked: tuple[str, ...] = ()  # the kinds of those found as a story paragraph
    error: str | None = None
    tags: tuple[str, ...] = field(default=())


def score_case(case: Case, split: StorySplit) -> CaseScore:
    gold = [[norm(p) for p in g.paragraphs] for g in case.gold]
    pred = [[norm(p) for p in s.paragraphs] for s in split.stories]
    joined = ["\n".join(p) for p in pred]
    available = "\n".join(norm(b.text) for b in case.page.blocks)
    found = [[p in available for p in g] for g in gold]

    def holds(p_index: int, paragraph: str) -> bool:
        return paragraph in joined[p_index]

    overlap = [
        [
            sum(1 for para, ok in zip(g, f, strict=True) if ok and holds(p, para))
            for p in range(len(pred))
        ]
        for g, f in zip(gold, found, strict=True)
    ]
    matched = match_stories(overlap) if pred else {}
    right = sum(overlap[g][p] for g, p in matched.items())

    # Label the gold sequence for Pk/WindowDiff: the predicted story holding each paragraph
    # (its matched story first, when a paragraph is in several).
    ref: list[int] = []
    hyp: list[int] = []
    fresh = len(pred)
    for g, paragraphs in enumerate(gold):
        for para in paragraphs:
            ref.append(g)
            owners = [p for p in range(len(pred)) if holds(p, para)]
            if matched.get(g) in owners:
                hyp.append(matched[g])
            elif owners:
                hyp.append(owners[0])
            elif hyp:
                hyp.append(hyp[-1])  # lost paragraph: no boundary of its own
            else:
                hyp.append(fresh)
    k = half_mean_segment(ref) if ref else 1

    gold_set = {p for g in gold for p in g}
    pred_flat = [p for s in pred for p in s]
    titles = [(i, norm(g.title)) for i, g in enumerate(case.gold) if g.title]
    titles_right = sum(
        1 for i, t in titles if i in matched and norm(split.stories[matched[i]].title or "") == t
    )
    teasers = [norm(t) for t in case.teasers]
    in_stories = "\n".join(joined + [norm(s.title or "") for s in split.stories])
    predicted = {_unbullet(p) for s in pred for p in s}
    gold_lines = {_unbullet(p) for g in gold for p in g}
    leaked = tuple(
        kind for kind, text in case.noise
        if _unbullet(text) in predicted and _unbullet(text) not in gold_lines
    )
    return CaseScore(
        name=case.name,
        gold_count=len(gold),
        pred_count=len(pred),
        gold_extracted=sum(any(f) for f in found),
        paragraphs=sum(map(len, gold)),
        found=sum(map(sum, found)),
        right=right,
        pred_paragraphs=len(pred_flat),
        pred_gold=sum(p in gold_set for p in pred_flat),
        titles=len(titles),
        titles_right=titles_right,
        pk=pk(ref, hyp, k),
        wd=window_diff(ref, hyp, k),
        teasers=len(teasers),
        teasers_kept_out=sum(t not in in_stories for t in teasers),
        noise=len(case.noise),
        noise_leaked=leaked,
        tags=case.tags,
    )


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _mean(values: Iterable[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.fmean(got) if got else None


def aggregate(scores: Sequence[CaseScore]) -> dict[str, Any]:
    tp = sum(s.gold_count > 1 and s.pred_count > 1 for s in scores)
    fp = sum(s.gold_count <= 1 and s.pred_count > 1 for s in scores)
    fn = sum(s.gold_count > 1 and s.pred_count <= 1 for s in scores)
    mixed = [s for s in scores if s.gold_count > 1]
    return {
        "pages": len(scores),
        "count_accuracy": _ratio(sum(s.gold_count == s.pred_count for s in scores), len(scores)),
        # The same against the stories that survived extraction: the splitter's own share.
        "count_accuracy_extracted": _ratio(
            sum(s.gold_extracted == s.pred_count for s in scores), len(scores)
        ),
        "mixed_precision": _ratio(tp, tp + fp),
        "mixed_recall": _ratio(tp, tp + fn),
        "assignment": _ratio(sum(s.right for s in scores), sum(s.found for s in scores)),
        "coverage": _ratio(sum(s.found for s in scores), sum(s.paragraphs for s in scores)),
        "pk": _mean(s.pk for s in scores),
        "wd": _mean(s.wd for s in scores),
        "pk_mixed": _mean(s.pk for s in mixed),
        "wd_mixed": _mean(s.wd for s in mixed),
        "paragraph_precision": _ratio(
            sum(s.pred_gold for s in scores), sum(s.pred_paragraphs for s in scores)
        ),
        "title_accuracy": _ratio(
            sum(s.titles_right for s in scores), sum(s.titles for s in scores)
        ),
        "teasers_kept_out": _ratio(
            sum(s.teasers_kept_out for s in scores), sum(s.teasers for s in scores)
        ),
        "noise_leak": _ratio(sum(len(s.noise_leaked) for s in scores),
                             sum(s.noise for s in scores)),
        # Title repeats, short links and summary bullets left inside a story (target: 0).
        "summary_leaks": sum(
            k in ("title repeat", "short link", "summary bullet")
            for s in scores for k in s.noise_leaked
        ),
        "errors": sum(s.error is not None for s in scores),
    }


@dataclass(slots=True)
class Run:
    scores: list[CaseScore]
    times_ms: list[float]  # split_stories per page split without error, best of `repeat`
    sizes: list[int]  # the size of each of those pages
    cold_ms: list[float] = field(default_factory=list)  # the first split, caches emptied


def clear_caches() -> None:
    """Empty the splitter's per-text caches, so that a timing is a first sight of a page."""
    try:
        from scraper.stories import _text
    except ImportError:
        return
    for value in vars(_text).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


def run_cases(cases: Sequence[Case], splitter: Splitter, repeat: int = 1) -> Run:
    scores, times, sizes, cold = [], [], [], []
    for case in cases:
        best = float("inf")
        split: StorySplit | None = None
        error = None
        for n in range(max(1, repeat)):
            if n == 0 and repeat > 1:
                clear_caches()
            start = time.perf_counter()
            try:
                split = splitter(case.page)
            except Exception as exc:  # a crash on one page must not hide the others
                error = f"{type(exc).__name__}: {exc}"
                break
            took = time.perf_counter() - start
            if n == 0 and repeat > 1:
                cold.append(took * 1000)
            best = min(best, took)
        if split is None:
            score = score_case(case, StorySplit(stories=()))
            score.error = error
        else:
            score = score_case(case, split)
            times.append(best * 1000)
            sizes.append(case.size)
        scores.append(score)
    return Run(scores, times, sizes, cold)


def score_cases(cases: Sequence[Case], splitter: Splitter | None = None) -> dict[str, Any]:
    """Aggregate metrics of `splitter` (default: the baseline) over the cases."""
    return aggregate(run_cases(cases, splitter or baseline_split).scores)


def score_corpus(directory: Path = CORPUS_DIR, splitter: Splitter | None = None) -> dict[str, Any]:
    """Aggregate metrics over the labelled corpus in `directory`."""
    return score_cases(load_corpus(directory), splitter)


# --- report ---------------------------------------------------------------------------------


def _fmt(value: float | None, width: int = 7) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}.3f}"


COLUMNS = [
    ("count", "count_accuracy"),
    ("count*", "count_accuracy_extracted"),
    ("mixP", "mixed_precision"),
    ("mixR", "mixed_recall"),
    ("assign", "assignment"),
    ("cover", "coverage"),
    ("Pk", "pk"),
    ("WD", "wd"),
    ("Pk-mix", "pk_mixed"),
    ("WD-mix", "wd_mixed"),
    ("p-prec", "paragraph_precision"),
    ("title", "title_accuracy"),
    ("teaser", "teasers_kept_out"),
    ("leak", "noise_leak"),
]


def print_table(rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    head = f"{'set':<12} {'splitter':<9} {'pages':>5} " + " ".join(
        f"{name:>7}" for name, _ in COLUMNS
    )
    print(head)
    print("-" * len(head))
    target = " ".join(
        f"{'>=' + format(TARGETS[key], '.2f'):>7}" if key in TARGETS else f"{'':>7}"
        for _, key in COLUMNS
    )
    print(f"{'target':<12} {'':<9} {'':>5} {target}")
    for set_name, who, metrics in rows:
        cells = " ".join(_fmt(metrics[key]) for _, key in COLUMNS)
        print(f"{set_name:<12} {who:<9} {metrics['pages']:>5} {cells}")


def _timing(runs: dict[str, Run]) -> None:
    print("\nsplit_stories time per page (ms, best of 3):")
    all_times: list[float] = []
    all_sizes: list[int] = []
    all_cold: list[float] = []
    for name, run in runs.items():
        if run.times_ms:
            print(
                f"  {name:<10} mean {statistics.fmean(run.times_ms):7.2f}  "
                f"median {statistics.median(run.times_ms):7.2f}  "
                f"max {max(run.times_ms):7.2f}  (pages {len(run.times_ms)}, "
                f"mean size {statistics.fmean(run.sizes) / 1024:.0f} KB)"
            )
        all_times += run.times_ms
        all_sizes += run.sizes
        all_cold += run.cold_ms if len(run.cold_ms) == len(run.times_ms) else run.times_ms
    near = [t for t, s in zip(all_times, all_sizes, strict=True) if 45_000 <= s <= 75_000]
    near_cold = [t for t, s in zip(all_cold, all_sizes, strict=True) if 45_000 <= s <= 75_000]
    if near:
        print(
            f"  pages of 45-75 KB: mean {statistics.fmean(near):.2f} ms over {len(near)} pages"
            f" (first split, caches emptied: mean {statistics.fmean(near_cold):.2f} ms)"
        )
    else:
        print("  pages of 45-75 KB: none in this run (use --compose)")


def _breakdown(scores: Sequence[CaseScore], name: str = "corpus") -> None:
    tags = sorted({t for s in scores for t in s.tags})
    if not tags:
        return
    print(f"\n{name + ' by tag (splitter):':<28} pages  count  assign  p-prec")
    for tag in tags:
        group = [s for s in scores if tag in s.tags]
        m = aggregate(group)
        print(
            f"  {tag:<24} {len(group):>5} {_fmt(m['count_accuracy'])} "
            f"{_fmt(m['assignment'])} {_fmt(m['paragraph_precision'])}"
        )


def _failures(scores: Sequence[CaseScore], limit: int = 20) -> None:
    bad = [s for s in scores if s.error or s.gold_count != s.pred_count or s.right < s.found]
    if not bad:
        return
    print(f"\npages the splitter gets wrong ({len(bad)}; first {min(limit, len(bad))}):")
    for s in bad[:limit]:
        note = f"  ERROR {s.error}" if s.error else ""
        if s.gold_extracted < s.gold_count:
            note += f"  (extraction lost {s.gold_count - s.gold_extracted} of the stories)"
        print(
            f"  {s.name:<58} stories {s.pred_count}/{s.gold_count}  "
            f"assigned {s.right}/{s.found} (of {s.paragraphs}){note}"
        )


def show(case: Case, splitter: Splitter) -> None:
    """Print one page's split beside its gold: G marks gold paragraphs, * the wrong story."""
    split = splitter(case.page)
    owner = {norm(p): i for i, g in enumerate(case.gold) for p in g.paragraphs}
    score = score_case(case, split)
    print(
        f"{case.name}: stories {score.pred_count}/{score.gold_count}, "
        f"assigned {score.right}/{score.found}"
    )
    for i, story in enumerate(split.stories):
        print(f"  story {i + 1}: {story.title!r}")
        for para in story.paragraphs:
            gold = owner.get(norm(para))
            mark = "-" if gold is None else f"G{gold + 1}"
            print(f"    {mark:<3} {para[:100]}")
    for drop in split.dropped:
        mark = "G!" if norm(drop.text) in owner else "  "
        print(f"  dropped {mark} [{drop.reason}] {drop.text[:80]}")
    for teaser in split.teasers:
        print(f"  teaser  {teaser[:80]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR)
    parser.add_argument(
        "--compose",
        type=int,
        default=40,
        metavar="N",
        help="compose N mixed pages from the article benchmark (0: none)",
    )
    parser.add_argument(
        "--splitter",
        choices=("auto", "baseline"),
        default="auto",
        help="auto: scraper.stories.split_stories when importable",
    )
    parser.add_argument(
        "--devset",
        type=int,
        default=200,
        metavar="N",
        help="N pages per split of the development set (bench/_story_devset.py; 0: none)",
    )
    parser.add_argument("--devset-seed", type=int, default=14, metavar="SEED")
    parser.add_argument(
        "--only", metavar="SET", help="score only the sets whose name contains SET (e.g. tune)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--quiet", action="store_true", help="only the summary table")
    parser.add_argument("--show", metavar="NAME", help="print one corpus page's split and exit")
    args = parser.parse_args(argv)
    if args.show:
        cases = [
            c
            for c in [*load_corpus(args.corpus), *([load_seed()] if SEED_FILE.is_file() else [])]
            if args.show in c.name
        ]
        for case in cases:
            show(case, (load_splitter() if args.splitter == "auto" else None) or baseline_split)
        return 0 if cases else 1

    splitter = load_splitter() if args.splitter == "auto" else None
    who = "splitter" if splitter else "baseline"
    if splitter is None and args.splitter == "auto":
        print("scraper.stories.split_stories is not importable: scoring the baseline only\n")

    sets: dict[str, list[Case]] = {"corpus": load_corpus(args.corpus)}
    if SEED_FILE.is_file():
        sets["seed"] = [load_seed()]
    composed = compose_cases(args.compose)
    if composed:
        sets["composed"] = composed
    if args.devset > 0:
        sets.update(devset_cases(args.devset_seed, args.devset))
    if args.only:
        sets = {k: v for k, v in sets.items() if args.only in k}

    rows: list[tuple[str, str, dict[str, Any]]] = []
    runs: dict[str, Run] = {}
    report: dict[str, Any] = {}
    for name, cases in sets.items():
        base = aggregate(run_cases(cases, baseline_split).scores)
        report[name] = {"baseline": base}
        if splitter is not None:
            runs[name] = run_cases(cases, splitter, repeat=3)
            got = aggregate(runs[name].scores)
            report[name]["splitter"] = got
            rows.append((name, who, got))
        rows.append((name, "baseline", base))
    print_table(rows)
    print(
        "higher is better except Pk/WD. assign: only over the gold paragraphs the extractor "
        "produced (their share: cover);\ncount*: count accuracy against the gold stories "
        "that kept a paragraph through extraction."
    )
    leaks = {k: r for k, r in report.items() if "splitter" in r}
    if leaks:
        print(
            "summary leaks (title repeats, short links, summary bullets left in a story): "
            + ", ".join(f"{k} {r['splitter']['summary_leaks']}" for k, r in leaks.items())
        )
    if splitter is not None:
        _timing(runs)
        if not args.quiet:
            for name in runs:
                if name.startswith(("tune", "report")):
                    _breakdown(runs[name].scores, name)
            if "corpus" in runs:
                _breakdown(runs["corpus"].scores)
                _failures(runs["corpus"].scores)
            if "seed" in runs:
                s = runs["seed"].scores[0]
                print(
                    f"\nseed: stories {s.pred_count}/{s.gold_count}, "
                    f"assigned {s.right}/{s.found}, titles {s.titles_right}/{s.titles}"
                )
            if "composed" in runs:
                _failures(runs["composed"].scores, limit=10)
            for name in runs:
                if name.startswith("tune"):
                    _failures(runs[name].scores, limit=15)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
