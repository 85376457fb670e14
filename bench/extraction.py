"""Score the article extractor on the shared article-extraction benchmark.

    python bench/extraction.py [--dir PATH] [--no-trafilatura] [--worst N]

The metric is the benchmark's (see its README): `\\w+` tokens, 4-token shingles as multisets,
per-page precision and recall, their means over pages and F1 as the harmonic mean of the
means. A page with an empty prediction has no precision and a recall of 0. trafilatura's
figures are printed side by side when it is importable; both run in this one process, so the
timings are comparable.
"""

from __future__ import annotations

import argparse
import gzip
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
DEFAULT_DIR = REPO_ROOT.parent / "shared" / "benchmarks" / "article-extraction"
if str(REPO_ROOT) not in sys.path:  # so `python bench/extraction.py` finds the package
    sys.path.insert(0, str(REPO_ROOT))

# Kinds that make up an article's body text. Titles, captions, bylines and link lines are
# kept apart by the extractor, and the benchmark's ground truth has none of them.
BODY_KINDS = frozenset({"paragraph", "heading", "list_item", "quote", "table"})

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


@dataclass(frozen=True, slots=True)
class Score:
    name: str
    pages: int
    precision: float
    recall: float
    ms_mean: float
    ms_median: float
    per_page: tuple[tuple[str, float | None, float], ...]  # (page id, precision, recall)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_pages(bench_dir: Path, limit: int | None = None) -> list[tuple[str, str, str]]:
    """(page id, html, gold text) for the benchmark's pages in id order."""
    truth = json.loads((bench_dir / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(truth)[:limit]:
        raw = gzip.decompress((bench_dir / "html" / f"{page_id}.html.gz").read_bytes())
        html = raw.decode("utf-8", errors="replace")
        pages.append((page_id, html, truth[page_id]["articleBody"]))
    return pages


def our_text(html: str) -> str:
    """The body text our extractor predicts for a page."""
    from scraper.extract import extract_blocks

    return "\n".join(b.text for b in extract_blocks(html) if b.kind in BODY_KINDS)


def trafilatura_text(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def score(name: str, extractor: Extractor, pages: Iterable[tuple[str, str, str]]) -> Score:
    """Run one extractor over the pages, timing only the extraction call."""
    per_page, times = [], []
    for page_id, html, gold in pages:
        start = time.perf_counter()
        predicted = extractor(html)
        times.append((time.perf_counter() - start) * 1000)
        precision, recall = page_scores(predicted, gold)
        per_page.append((page_id, precision, recall))
    precisions = [p for _, p, _ in per_page if p is not None]
    return Score(
        name=name,
        pages=len(per_page),
        precision=statistics.fmean(precisions) if precisions else 0.0,
        recall=statistics.fmean(r for _, _, r in per_page) if per_page else 0.0,
        ms_mean=statistics.fmean(times) if times else 0.0,
        ms_median=statistics.median(times) if times else 0.0,
        per_page=tuple(per_page),
    )


def run(
    bench_dir: Path = DEFAULT_DIR, *, limit: int | None = None, trafilatura: bool = True
) -> list[Score]:
    """Score our extractor (and trafilatura, when importable and asked for)."""
    pages = load_pages(bench_dir, limit)
    our_text(pages[0][1]) if pages else None  # warm-up: imports, selector compilation
    scores = [score("scraper.extract", our_text, pages)]
    if trafilatura:
        try:
            import trafilatura as _  # noqa: F401
        except ImportError:
            pass
        else:
            trafilatura_text(pages[0][1]) if pages else None
            scores.append(score("trafilatura.extract", trafilatura_text, pages))
    return scores


def format_table(scores: list[Score]) -> str:
    head = f"{'extractor':<22} {'pages':>5} {'F1':>6} {'prec':>6} {'recall':>6} "
    head += f"{'ms mean':>8} {'ms median':>9}"
    lines = [head, "-" * len(head)]
    for s in scores:
        lines.append(
            f"{s.name:<22} {s.pages:>5} {s.f1:>6.3f} {s.precision:>6.3f} {s.recall:>6.3f} "
            f"{s.ms_mean:>8.2f} {s.ms_median:>9.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="benchmark folder")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages")
    parser.add_argument("--no-trafilatura", action="store_true", help="skip trafilatura")
    parser.add_argument("--worst", type=int, default=0, help="list the N worst pages (by F1)")
    args = parser.parse_args(argv)
    if not (args.dir / "ground-truth.json").is_file():
        print(f"no benchmark at {args.dir}", file=sys.stderr)
        return 2
    scores = run(args.dir, limit=args.limit, trafilatura=not args.no_trafilatura)
    print(format_table(scores))
    if args.worst:
        ours = scores[0]

        def page_f1(row: tuple[str, float | None, float]) -> float:
            p, r = row[1] or 0.0, row[2]
            return 2 * p * r / (p + r) if p + r else 0.0

        print(f"\nworst {args.worst} pages of {ours.name} (precision / recall):")
        for page_id, p, r in sorted(ours.per_page, key=page_f1)[: args.worst]:
            print(f"  {page_id[:16]}  P={p if p is None else round(p, 3)}  R={r:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
