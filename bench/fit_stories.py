"""Fit the story-boundary scorer's weights on the development set's tune split.

    .venv/bin/python bench/fit_stories.py            # fit and print the weights
    .venv/bin/python bench/fit_stories.py --write    # ... and write scraper/stories/_weights.py

Every candidate boundary (``scraper.stories._decode``) of every tune page (HTML and text
dumps, plus the template corpus and the seed) becomes one example: its features, with the
context features measured between its true neighbouring cuts (the segments the decoder
weighs it with when the rest of the page is right), and label 1 when the gold stories on its
two sides differ. A logistic regression (L2, Newton's method: no dependency) is fitted
separately for text dumps and for pages with markup. Only the tune split is read.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import stories as bench  # noqa: E402  (bench/stories.py)

from scraper.stories._decode import (  # noqa: E402
    FEATURES,
    LOCAL,
    Candidate,
    Problem,
    context_values,
    name_counts,
)
from scraper.stories._dedup import dedup  # noqa: E402
from scraper.stories._page import Page  # noqa: E402
from scraper.stories._segment import prepare  # noqa: E402
from scraper.stories._text import cosine  # noqa: E402

WEIGHTS_FILE = ROOT / "scraper" / "stories" / "_weights.py"
L2 = 0.3


def examples(case: bench.Case) -> tuple[bool, list[tuple[list[float], int]]]:
    """(plain page?, [(features, label)]) for one page's candidates."""
    kept, drops = dedup(case.page.blocks)
    prep = prepare(kept, drops, case.page.articles)
    if prep is None:
        return False, []
    owner: dict[str, int] = {}
    for g, story in enumerate(case.gold):
        for p in story.paragraphs:
            owner.setdefault(bench.norm(p), g)
            owner.setdefault(bench._unbullet(p), g)
    page, flow, problem = prep.page, prep.flow, prep.problem
    label_of = [owner.get(bench.norm(page.blocks[i].text)) for i in flow]
    n = len(flow)

    def side(k: int, step: int) -> int | None:
        j = k - 1 if step < 0 else k
        while 0 <= j < n:
            if label_of[j] is not None and not page.headline[flow[j]]:
                return label_of[j]
            j += step
        return None

    labels = {}
    for c in problem.candidates:
        left, right = side(c.k, -1), side(c.k, +1)
        if left is not None and right is not None:
            labels[c.k] = int(left != right)
    true_cuts = sorted([0, n, *(k for k, v in labels.items() if v)]
                       + [c.k for c in problem.candidates if c.hard])
    out = []
    every = sorted({0, n, *(c.k for c in problem.candidates)})
    for c in problem.candidates:
        if c.hard or c.k not in labels:
            continue
        # Two contexts: the true neighbouring cuts (how the right answer weighs it), and
        # the neighbouring candidates (how a decoder weighs it amid wrong cuts).
        for cuts in (true_cuts, every):
            lo = max(t for t in cuts if t < c.k)
            hi = min(t for t in cuts if t > c.k)
            out.append((_vector(page, flow, problem, c, lo, hi), labels[c.k]))
    return page.plain, out


def _vector(page: Page, flow: list[int], problem: Problem, c: Candidate, lo: int,
            hi: int) -> list[float]:
    """Candidate c's features with the segments flow[lo:c.k] and flow[c.k:hi] beside it."""
    left_vec: Counter[str] = Counter()
    right_vec: Counter[str] = Counter()
    left_names: Counter[str] = Counter()
    right_names: Counter[str] = Counter()
    for k in range(lo, c.k):
        left_vec.update(page.terms[flow[k]])
        left_names.update(name_counts(page.blocks[flow[k]].text))
    for k in range(c.k, hi):
        right_vec.update(page.terms[flow[k]])
        right_names.update(name_counts(page.blocks[flow[k]].text))
    prose = problem.prose
    ctx = context_values(cosine(left_vec, right_vec), prose[c.k] - prose[lo],
                         prose[hi] - prose[c.k], c.local[LOCAL.index("no_headline")],
                         cosine(left_names, right_names))
    return [*c.local, *ctx]


def fit(data: Sequence[tuple[list[float], int]], l2: float = L2) -> list[float]:
    """L2-regularised logistic regression by Newton's method (the bias is not penalised)."""
    d = len(FEATURES)
    w = [0.0] * d
    for _ in range(30):
        grad = [0.0] * d
        hess = [[0.0] * d for _ in range(d)]
        for x, y in data:
            z = sum(wi * xi for wi, xi in zip(w, x, strict=True))
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
            g = p - y
            h = p * (1 - p)
            for i in range(d):
                if x[i]:
                    grad[i] += g * x[i]
                    hx = h * x[i]
                    row = hess[i]
                    for j in range(d):
                        if x[j]:
                            row[j] += hx * x[j]
        for i in range(1, d):
            grad[i] += l2 * w[i]
            hess[i][i] += l2
        hess[0][0] += 1e-6
        step = _solve(hess, grad)
        w = [wi - si for wi, si in zip(w, step, strict=True)]
        if max(abs(s) for s in step) < 1e-6:
            break
    return w


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a is small and positive definite)."""
    n = len(b)
    m = [[*row[:], b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        if abs(m[col][col]) < 1e-12:
            continue
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            if f:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        if abs(m[r][r]) < 1e-12:
            continue
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def accuracy(data: Sequence[tuple[list[float], int]], w: Sequence[float]) -> float:
    right = sum((sum(a * b for a, b in zip(w, x, strict=True)) > 0) == bool(y) for x, y in data)
    return right / len(data) if data else float("nan")


def _format(name: str, w: Sequence[float]) -> str:
    lines = [f"{name} = ("]
    for f, v in zip(FEATURES, w, strict=True):
        lines.append(f"    {v:+.3f},  # {f}")
    lines.append(")")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write " + str(WEIGHTS_FILE))
    parser.add_argument("--devset", type=int, default=400, metavar="N",
                        help="tune pages to fit on (more draws of the same tune articles)")
    parser.add_argument("--devset-seed", type=int, default=14)
    parser.add_argument("--l2", type=float, default=L2)
    args = parser.parse_args(argv)
    sets = bench.devset_cases(args.devset_seed, args.devset)
    cases = [*sets["tune-html"], *sets["tune-text"], *bench.load_corpus()]
    if bench.SEED_FILE.is_file():
        cases.append(bench.load_seed())
    data: dict[bool, list[tuple[list[float], int]]] = {True: [], False: []}
    for case in cases:
        plain, got = examples(case)
        data[plain] += got
    weights = {}
    for plain, rows in data.items():
        name = "WEIGHTS_PLAIN" if plain else "WEIGHTS_MARKUP"
        w = fit(rows, args.l2)
        weights[name] = w
        pos = sum(y for _, y in rows)
        print(f"{name}: {len(rows)} candidates ({pos} boundaries), "
              f"training accuracy {accuracy(rows, w):.3f}")
        for f, v in zip(FEATURES, w, strict=True):
            print(f"  {f:<16} {v:+8.3f}")
    if args.write:
        text = (
            '"""Weights of the boundary scorer, one per _decode.FEATURES entry: written by\n'
            "`.venv/bin/python bench/fit_stories.py --write` (logistic regression on the tune\n"
            'split of the development set). Do not edit by hand."""\n\n'
            + _format("WEIGHTS_PLAIN", weights["WEIGHTS_PLAIN"]) + "\n"
            + _format("WEIGHTS_MARKUP", weights["WEIGHTS_MARKUP"]) + "\n"
        )
        WEIGHTS_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {WEIGHTS_FILE}")
    assert len(LOCAL) < len(FEATURES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
