"""Score the article extractor beside trafilatura on both shared development sets.

    python bench/extraction.py [--set NAME ...] [--no-trafilatura] [--repeat N] [--worst N]

The sets are `../shared/benchmarks/article-extraction/` and `.../readability-pages/` (their
READMEs give the ground truth and the metric). The metric: `\\w+` tokens, 4-token shingles as
multisets, per-page precision and recall, their means over pages and F1 as the harmonic mean
of the means. A page with an empty prediction has no precision and a recall of 0.

Each set is split in two halves by a stable hash of the page's name: `tune` (look at these
pages, change the extractor for them) and `report` (never looked at page by page: the
held-out check). Figures are printed for both halves and the whole set, ours and
trafilatura's, timed in this one process, page by page in turn (each page's time is the
fastest of `--repeat` runs), so that the milliseconds compare on a shared machine.
`--worst N` lists our N worst pages of the tune halves only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared" / "benchmarks"
DEFAULT_DIR = SHARED / "article-extraction"
if str(REPO_ROOT) not in sys.path:  # so `python bench/extraction.py` finds the package
    sys.path.insert(0, str(REPO_ROOT))

# Kinds that make up an article's body text. Titles, captions, bylines and link lines are
# kept apart by the extractor; the article-extraction ground truth has none of them.
BODY_KINDS = frozenset({"paragraph", "heading", "list_item", "quote", "table"})
# readability-pages' expected text starts with the headline when the page has one inside its
# article (as Readability keeps it), so the headline is counted there; its README's
# reference figure for this project was measured so.
TITLED_KINDS = BODY_KINDS | {"title"}


@dataclass(frozen=True, slots=True)
class BenchSet:
    name: str
    directory: Path
    kinds: frozenset[str]


SETS = {
    "article-extraction": BenchSet("article-extraction", SHARED / "article-extraction",
                                   BODY_KINDS),
    "readability-pages": BenchSet("readability-pages", SHARED / "readability-pages",
                                  TITLED_KINDS),
}
HALVES = ("tune", "report")

_TOKEN = re.compile(r"\w+")

Extractor = Callable[[str], str]


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    """The multiset of n-token shingles; a text shorter than n tokens is one shingle."""
    tokens = _TOKEN.findall(text)
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def page_scores(predicted: str, gold: str) -> tuple[float | None, float]:
    """(precision, recall) of one page; precision is None for an empty prediction."""
    pred, true = shingles(predicted), shingles(gold)
    hit = sum((pred & true).values())
    n_pred, n_true = sum(pred.values()), sum(true.values())
    precision = hit / n_pred if n_pred else None
    recall = hit / n_true if n_true else 0.0
    return precision, recall


def half_of(page_id: str) -> str:
    """The half a page belongs to: a stable hash of its name, about 50/50."""
    return HALVES[hashlib.sha1(page_id.encode()).digest()[0] & 1]


@dataclass(frozen=True, slots=True)
class Score:
    name: str
    pages: int
    precision: float
    recall: float
    ms_mean: float
    ms_median: float
    per_page: tuple[tuple[str, float | None, float], ...]  # (page id, precision, recall)
    times: tuple[float, ...] = ()  # ms per page, in the order of per_page

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def subset(self, ids: set[str]) -> Score:
        """The score over some of the pages only (one half of the set)."""
        rows = [(row, t) for row, t in zip(self.per_page, self.times, strict=True)
                if row[0] in ids]
        return _summarise(self.name, [r for r, _ in rows], [t for _, t in rows])


def _summarise(
    name: str, per_page: list[tuple[str, float | None, float]], times: list[float]
) -> Score:
    precisions = [p for _, p, _ in per_page if p is not None]
    return Score(
        name=name,
        pages=len(per_page),
        precision=statistics.fmean(precisions) if precisions else 0.0,
        recall=statistics.fmean(r for _, _, r in per_page) if per_page else 0.0,
        ms_mean=statistics.fmean(times) if times else 0.0,
        ms_median=statistics.median(times) if times else 0.0,
        per_page=tuple(per_page),
        times=tuple(times),
    )


def load_pages(bench_dir: Path, limit: int | None = None) -> list[tuple[str, str, str]]:
    """(page id, html, gold text) for a set's pages in id order."""
    truth = json.loads((bench_dir / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(truth)[:limit]:
        raw = gzip.decompress((bench_dir / "html" / f"{page_id}.html.gz").read_bytes())
        html = raw.decode("utf-8", errors="replace")
        pages.append((page_id, html, truth[page_id]["articleBody"]))
    return pages


def our_extractor(kinds: frozenset[str] = BODY_KINDS) -> Extractor:
    """Our extractor's text of the given block kinds, one block a line."""
    from scraper.extract import extract_blocks

    def extract(html: str) -> str:
        return "\n".join(b.text for b in extract_blocks(html) if b.kind in kinds)

    return extract


def our_text(html: str) -> str:
    """The body text our extractor predicts for a page (article-extraction's kinds)."""
    return our_extractor()(html)


def trafilatura_text(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def score(name: str, extractor: Extractor, pages: Iterable[tuple[str, str, str]]) -> Score:
    """Run one extractor over the pages, timing only the extraction call."""
    return score_all({name: extractor}, pages)[0]


def score_all(
    extractors: dict[str, Extractor], pages: Iterable[tuple[str, str, str]], repeat: int = 1
) -> list[Score]:
    """Run every extractor over the pages, interleaved page by page so that a busy machine
    slows them alike; each page's time is the fastest of `repeat` runs."""
    rows: dict[str, list[tuple[str, float | None, float]]] = {n: [] for n in extractors}
    times: dict[str, list[float]] = {n: [] for n in extractors}
    for page_id, html, gold in pages:
        for name, extractor in extractors.items():
            fastest = float("inf")
            for _ in range(max(1, repeat)):
                start = time.perf_counter()
                predicted = extractor(html)
                fastest = min(fastest, (time.perf_counter() - start) * 1000)
            times[name].append(fastest)
            precision, recall = page_scores(predicted, gold)
            rows[name].append((page_id, precision, recall))
    return [_summarise(name, rows[name], times[name]) for name in extractors]


def _has_trafilatura() -> bool:
    try:
        import trafilatura as _  # noqa: F401
    except ImportError:
        return False
    return True


def run(
    bench_dir: Path = DEFAULT_DIR,
    *,
    limit: int | None = None,
    trafilatura: bool = True,
    kinds: frozenset[str] = BODY_KINDS,
    repeat: int = 1,
) -> list[Score]:
    """Score our extractor (and trafilatura, when importable and asked for) on one set."""
    pages = load_pages(bench_dir, limit)
    extractors = {"scraper.extract": our_extractor(kinds)}
    if trafilatura and _has_trafilatura():
        extractors["trafilatura.extract"] = trafilatura_text
    for extractor in extractors.values():
        extractor(pages[0][1]) if pages else None  # warm-up: imports, selector compilation
    return score_all(extractors, pages, repeat)


def page_f1(row: tuple[str, float | None, float]) -> float:
    p, r = row[1] or 0.0, row[2]
    return 2 * p * r / (p + r) if p + r else 0.0


def format_table(scores: list[Score], label: str = "") -> str:
    """One line per extractor; with `label`, one table per half and the whole set."""
    head = f"{'half':<7}" if label else ""
    head += f"{'extractor':<22} {'pages':>5} {'F1':>6} {'prec':>6} {'recall':>6} "
    head += f"{'ms mean':>8} {'ms median':>9}"
    lines = [head, "-" * len(head)]
    groups: list[tuple[str, list[Score]]] = [("", scores)]
    if label:
        ids = {row[0] for row in scores[0].per_page} if scores else set()
        groups = [
            (half, [s.subset({i for i in ids if half_of(i) == half}) for s in scores])
            for half in HALVES
        ] + [("all", scores)]
    for half, group in groups:
        for s in group:
            prefix = f"{half:<7}" if label else ""
            lines.append(
                f"{prefix}{s.name:<22} {s.pages:>5} {s.f1:>6.3f} {s.precision:>6.3f} "
                f"{s.recall:>6.3f} {s.ms_mean:>8.2f} {s.ms_median:>9.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="sets", action="append", choices=sorted(SETS),
                        help="a set to score (repeatable; default: both)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="score this one folder instead (article-extraction's kinds)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages")
    parser.add_argument("--no-trafilatura", action="store_true", help="skip trafilatura")
    parser.add_argument("--repeat", type=int, default=3,
                        help="time each page N times and keep the fastest (default 3)")
    parser.add_argument("--worst", type=int, default=0,
                        help="list our N worst pages of each set's tune half (by F1)")
    args = parser.parse_args(argv)
    if args.dir is not None:
        chosen = [BenchSet(args.dir.name, args.dir, BODY_KINDS)]
    else:
        chosen = [SETS[name] for name in (args.sets or sorted(SETS))]
    for bench_set in chosen:
        if not (bench_set.directory / "ground-truth.json").is_file():
            print(f"no benchmark at {bench_set.directory}", file=sys.stderr)
            return 2
    summary: list[str] = []
    for bench_set in chosen:
        scores = run(bench_set.directory, limit=args.limit,
                     trafilatura=not args.no_trafilatura, kinds=bench_set.kinds,
                     repeat=args.repeat)
        print(f"== {bench_set.name} ({bench_set.directory})")
        print(format_table(scores, label="half"))
        if len(scores) == 2:
            ours, theirs = scores
            summary.append(
                f"{bench_set.name}: F1 {ours.f1:.3f} vs {theirs.f1:.3f}, "
                f"{ours.ms_mean:.2f} vs {theirs.ms_mean:.2f} ms/page "
                f"({theirs.ms_mean / ours.ms_mean if ours.ms_mean else 0:.1f}x faster)"
            )
        if args.worst:
            rows = [row for row in scores[0].per_page if half_of(row[0]) == "tune"]
            print(f"\nworst {args.worst} tune pages of {scores[0].name} (precision / recall):")
            for page_id, p, r in sorted(rows, key=page_f1)[: args.worst]:
                print(f"  {page_id[:40]:<40}  P={p if p is None else round(p, 3)}  R={r:.3f}")
        print()
    for line in summary:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
