"""What one hostile page costs to analyse: unbounded (extract + split in one process, as
before the bounds) and through ``Analyser`` (the product's path, with its pre-check,
deadline and memory bound).

    .venv/bin/python bench/hostile_pages.py                 # every page, both ways
    .venv/bin/python bench/hostile_pages.py --only nest-100k --cap 60
    .venv/bin/python bench/hostile_pages.py --only paragraphs-50mb --mode bounded

Each measurement runs in a child process of its own; the figures are its wall time and
the peak RSS of its whole process tree (the child and the analysis worker, sampled every
20 ms from /proc). The unbounded child is stopped at ``--cap`` seconds and given at most
``--cap-memory`` of address space, so this script cannot take the machine either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _words(rng: random.Random, count: int) -> str:
    return " ".join(f"w{rng.randrange(200_000)}" for _ in range(count))


def nested_divs(depth: int) -> str:
    return "<html><body>" + "<div>" * depth + "<p>deep</p></body></html>"


def deep_jsonld(depth: int) -> str:
    return ('<html><head><title>t</title><script type="application/ld+json">'
            + "[" * depth + "]" * depth
            + "</script></head><body><article><h1>Deep JSON-LD</h1><p>A short story "
              "under a deeply nested JSON-LD block.</p></article></body></html>")


def many_paragraphs(size: int) -> str:
    """``size`` characters of distinct paragraphs under headings: a huge live blog."""
    rng = random.Random(size)
    parts: list[str] = []
    total = 0
    while total < size:
        part = (f"<h2>{_words(rng, 6)}</h2>" if len(parts) % 7 == 0
                else f"<p>{_words(rng, 24)}.</p>")
        parts.append(part)
        total += len(part)
    return "<html><body><main>" + "".join(parts) + "</main></body></html>"


def one_article(size: int) -> str:
    """``size`` characters of distinct paragraphs in one <article>, no headings."""
    rng = random.Random(size)
    parts: list[str] = []
    total = 0
    while total < size:
        parts.append(f"<p>{_words(rng, 20)} {len(parts)}.</p>")
        total += len(parts[-1])
    return "<html><body><article>" + "".join(parts) + "</article></body></html>"


def article_pages(count: int) -> str:
    """``count`` of the benchmark's ordinary 55 KB article pages' bodies end to end: a
    big page that is not hostile, which the bounds must let through."""
    from bench._pages import make_page

    bodies = [make_page(7, i).split("<body", 1)[1].split("</body>", 1)[0].split(">", 1)[1]
              for i in range(count)]
    return "<html><body>" + "".join(bodies) + "</body></html>"


PAGES: dict[str, Callable[[], str]] = {
    "jsonld-1000": lambda: deep_jsonld(1000),
    "nest-100k": lambda: nested_divs(100_000),
    "paragraphs-2mb": lambda: many_paragraphs(2_000_000),
    "paragraphs-9mb": lambda: many_paragraphs(9_000_000),
    "one-article-600kb": lambda: one_article(600_000),
    "paragraphs-50mb": lambda: many_paragraphs(50_000_000),
    "articles-2mb": lambda: article_pages(72),
}


def _child(kind: str, mode: str, cap_memory: int) -> None:
    html = PAGES[kind]()
    started = time.perf_counter()
    outcome: dict[str, object] = {"chars": len(html), "tags": html.count("<")}
    if mode == "unbounded":
        resource.setrlimit(resource.RLIMIT_AS, (cap_memory, cap_memory))
        from scraper.extract import extract_page
        from scraper.stories import split_stories
        try:
            page = extract_page(html, url="https://example.org/")
            split = split_stories(page)
            outcome["result"] = f"{len(page.blocks)} blocks, {len(split.stories)} stories"
        except MemoryError:
            outcome["result"] = f"MemoryError at the {cap_memory >> 20} MiB cap"
        except Exception as exc:
            outcome["result"] = f"raised {type(exc).__name__}"
    else:
        from scraper.analyse import Analyser
        from scraper.errors import PageError
        from scraper.stories import split_stories

        async def bounded() -> str:
            async with Analyser(parallel=False) as analyser:
                page, split = await analyser.analyse(html, "https://example.org/", (), ())
            split = split or split_stories(page)
            return f"{len(page.blocks)} blocks, {len(split.stories)} stories"

        try:
            outcome["result"] = asyncio.run(bounded())
        except PageError as exc:
            outcome["result"] = f"failed check: {exc}"
    outcome["seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(outcome), flush=True)


def _tree_rss_kb(root: int) -> int:
    """VmRSS of ``root`` and every descendant, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry)
        children.setdefault(int(fields["PPid"]), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def measure(kind: str, mode: str, cap: float, cap_memory: int) -> str:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, mode, str(cap_memory)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    started, peak = time.monotonic(), 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        if time.monotonic() - started > cap:
            proc.kill()
            proc.wait()
            return f"still running at the {cap:g} s cap, peak {peak >> 10} MB so far"
        time.sleep(0.02)
    out = proc.stdout.read() if proc.stdout else ""
    line = out.strip().splitlines()[-1] if out.strip() else "{}"
    data = json.loads(line)
    return (f"{data.get('seconds')} s, peak {peak >> 10} MB: {data.get('result')} "
            f"({data.get('chars'):,} chars, {data.get('tags'):,} tags)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(PAGES))
    parser.add_argument("--cap", type=float, default=90.0, help="seconds per unbounded run")
    parser.add_argument("--cap-memory", type=int, default=4 << 30,
                        help="address space of an unbounded run, bytes")
    parser.add_argument("--mode", choices=("both", "unbounded", "bounded"), default="both")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    modes = ("unbounded", "bounded") if args.mode == "both" else (args.mode,)
    for kind in args.only or PAGES:
        for mode in modes:
            print(f"{kind:15} {mode:9} {measure(kind, mode, args.cap, args.cap_memory)}",
                  flush=True)


if __name__ == "__main__":
    main()
