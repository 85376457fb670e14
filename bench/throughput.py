"""Throughput and memory of ``scrape --once``, side by side with urlwatch 2.29.

    .venv/bin/python bench/throughput.py                     # N = 1000, with urlwatch
    .venv/bin/python bench/throughput.py -n 200 --no-urlwatch
    .venv/bin/python bench/throughput.py --profile cprofile   # also: where the time goes
    .venv/bin/python bench/throughput.py --profile py-spy     # every thread (pip install py-spy)

N invented article pages (bench/_pages.py, about 55 KB each) are served by a separate
server process, one page per loopback address (127.0.x.y), with ETag / Last-Modified and
304s. Each tool is timed as a whole process over three runs on a fresh database:

    run 1  every page new (full pipeline: fetch, extract, stories, store, alerts)
    run 2  nothing changed: every fetch is a conditional GET answered 304
    run 3  10 % of the pages edited (new text, ETag and Last-Modified)

Per run it prints wall time, pages/s, CPU time per page, peak RSS of the process (its own
``ru_maxrss`` from wait4; and the highest PSS of it with its worker processes, polled) and
what the server saw (200s, 304s, its CPU), then the ratio ours/urlwatch and the targets.
urlwatch is installed with pip into a throwaway virtualenv under bench/.cache/ (gitignored)
on first use; ``--no-urlwatch`` skips it.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pages import ROOT, VENV_BIN, PageServer, ProcessRun, compile_product, run_measured

CACHE = ROOT / "bench" / ".cache"
URLWATCH_VERSION = "2.29"
URLWATCH_VENV = CACHE / f"urlwatch-{URLWATCH_VERSION}"

RUNS = (("run 1", "all new"), ("run 2", "all 304"), ("run 3", "10% edited"))
TARGETS = {
    "run 1": (2.0, 500.0),  # ours/urlwatch, pages/s
    "run 2": (5.0, 0.0),
}
TARGET_RSS_MB = 150.0


@dataclass(frozen=True, slots=True)
class RunFigures:
    tool: str
    run: str
    what: str
    pages: int
    proc: ProcessRun
    served_ok: int
    served_304: int
    robots: int
    server_cpu: float
    summary: str

    @property
    def rate(self) -> float:
        return self.pages / self.proc.wall if self.proc.wall else 0.0

    def line(self) -> str:
        return (f"{self.run} ({self.what:10}) {self.tool:8} {self.pages:6d} pages "
                f"{self.proc.wall:7.2f} s {self.rate:8.1f} pages/s  "
                f"cpu {1000 * self.proc.cpu / max(self.pages, 1):6.2f} ms/page  "
                f"peak RSS {self.proc.max_rss_mb:6.1f} MB (with workers, PSS "
                f"{self.proc.tree_pss_mb:6.1f} MB)  "
                f"server: {self.served_ok} x 200, {self.served_304} x 304, "
                f"{self.robots} robots.txt, cpu {self.server_cpu:.2f} s"
                + ("" if self.proc.returncode == 0 else f"  EXIT {self.proc.returncode}"))


# --- our scraper ---------------------------------------------------------------------------


def write_config(path: Path, urls: Sequence[str], *, concurrency: int | None = None,
                 extra_settings: str = "", interval: str | None = None) -> None:
    lines = ["[settings]", 'database = "scraper.db"', 'alert_log = "alerts.jsonl"']
    if concurrency is not None:
        lines.append(f"concurrency = {concurrency}")
    if extra_settings:
        lines.append(extra_settings)
    for i, url in enumerate(urls):
        lines += ["", "[[watch]]", f'name = "page-{i:05d}"', f'url = "{url}"']
        if interval is not None:
            lines.append(f'interval = "{interval}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def scrape_argv(config: Path, profile: str | None = None, out: Path | None = None) -> list[str]:
    scrape = str(VENV_BIN / "scrape")
    base = [scrape, "--once", "--config", str(config)]
    if profile == "cprofile":
        assert out is not None
        return [str(VENV_BIN / "python"), "-m", "cProfile", "-o", str(out), *base]
    if profile == "py-spy":
        assert out is not None
        return [py_spy(), "record", "--format", "raw", "--rate", "250", "--threads",
                "--nonblocking", "-o", str(out), "--", str(VENV_BIN / "python"), *base]
    return base


def py_spy() -> str:
    found = shutil.which("py-spy") or (str(VENV_BIN / "py-spy")
                                        if (VENV_BIN / "py-spy").exists() else None)
    if found is None:
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def _summary(output: str) -> str:
    for line in reversed(output.splitlines()):
        if " new, " in line and " failed" in line:
            return line.strip()
    return "(no summary line)"


# --- urlwatch ------------------------------------------------------------------------------


def ensure_urlwatch() -> Path:
    """urlwatch in a throwaway virtualenv under bench/.cache/; returns its executable."""
    exe = URLWATCH_VENV / "bin" / "urlwatch"
    if exe.exists():
        return exe
    print(f"installing urlwatch {URLWATCH_VERSION} into {URLWATCH_VENV} ...", flush=True)
    URLWATCH_VENV.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(URLWATCH_VENV)], check=True)
    subprocess.run([str(URLWATCH_VENV / "bin" / "pip"), "install", "-q",
                    f"urlwatch=={URLWATCH_VERSION}", "html2text"], check=True)
    return exe


def write_urlwatch_jobs(path: Path, urls: Sequence[str]) -> None:
    docs = [f"name: page-{i:05d}\nurl: {url}\nfilter:\n  - html2text\n"
            for i, url in enumerate(urls)]
    path.write_text("---\n".join(docs), encoding="utf-8")


def urlwatch_argv(exe: Path, work: Path) -> list[str]:
    return [str(exe), "--urls", str(work / "urls.yaml"), "--config", str(work / "urlwatch.yaml"),
            "--cache", str(work / "cache.db"), "--hooks", str(work / "hooks.py")]


# --- the three runs ------------------------------------------------------------------------------


def three_runs(
    tool: str, server: PageServer, argv: Callable[[int], list[str]], work: Path,
    change: float, *, env: dict[str, str] | None = None, quiet: bool = False,
) -> list[RunFigures]:
    """Run 1 on fresh state, run 2 unchanged, run 3 after editing ``change`` of the pages."""
    server.reset()
    figures: list[RunFigures] = []
    for n, (run, what) in enumerate(RUNS):
        if n == 2:
            server.edit(change, round_=1)
        before = server.stats()
        proc = run_measured(argv(n), cwd=work, env=env, output=work / f"{tool}-run{n + 1}.out")
        after = server.stats()
        fig = RunFigures(
            tool=tool, run=run, what=what, pages=server.count, proc=proc,
            served_ok=int(after["ok"] - before["ok"]),
            served_304=int(after["not_modified"] - before["not_modified"]),
            robots=int(after["robots"] - before["robots"]),
            server_cpu=after["cpu"] - before["cpu"],
            summary=_summary(proc.output) if tool == "ours" else "",
        )
        figures.append(fig)
        if not quiet:
            print(fig.line(), flush=True)
            if fig.summary:
                print(f"{'':20}ours: {fig.summary}", flush=True)
    return figures


def print_comparison(ours: list[RunFigures], theirs: list[RunFigures] | None) -> None:
    print()
    print("targets (2 cores, N = 1000):")
    for fig in ours:
        ratio_target, rate_target = TARGETS.get(fig.run, (0.0, 0.0))
        parts = [f"{fig.run} ({fig.what}): ours {fig.rate:.1f} pages/s"]
        if theirs is not None:
            other = next(f for f in theirs if f.run == fig.run)
            ratio = fig.rate / other.rate if other.rate else float("inf")
            parts.append(f"urlwatch {other.rate:.1f} pages/s, ours/urlwatch {ratio:.2f}x")
            if ratio_target:
                parts.append(f"target >= {ratio_target:g}x: "
                             + ("met" if ratio >= ratio_target else "NOT MET"))
            parts.append(f"RSS ours {fig.proc.max_rss_mb:.1f} MB / urlwatch "
                         f"{other.proc.max_rss_mb:.1f} MB")
        if rate_target:
            parts.append(f"target >= {rate_target:g} pages/s: "
                         + ("met" if fig.rate >= rate_target else "NOT MET"))
        print("  " + "; ".join(parts))
    peak = max(f.proc.max_rss_mb for f in ours)
    tree = max(f.proc.tree_pss_mb for f in ours)
    worst = max(peak, tree)
    print(f"  peak RSS of scrape --once over {ours[0].pages} pages: {peak:.1f} MB; with its "
          f"worker processes (PSS, polled): {tree:.1f} MB (target <= {TARGET_RSS_MB:g} MB: "
          f"{'met' if worst <= TARGET_RSS_MB else 'NOT MET'})")


# --- profiles -----------------------------------------------------------------------------

# Stage of a frame, by file (matched as a substring of the frame's file path) or function.
_STAGES: tuple[tuple[str, str], ...] = (
    ("scraper/extract/", "extract (scraper.extract + selectolax)"),
    ("selectolax", "extract (scraper.extract + selectolax)"),
    ("scraper/stories/", "split_stories"),
    ("scraper/identity.py", "story matching (identity)"),
    ("scraper/diff.py", "diff"),
    ("scraper/compare.py", "diff"),
    ("scraper/analyse.py", "extract (scraper.extract + selectolax)"),
    ("difflib", "diff"),
    ("scraper/store/", "store (Python side)"),
    ("aiosqlite", "store: aiosqlite / sqlite3"),
    ("sqlite3", "store: aiosqlite / sqlite3"),
    ("scraper/alerts.py", "alerts (build + write)"),
    ("scraper/config.py", "config load"),
    ("tomllib", "config load"),
    ("charset_normalizer", "decode (charset)"),
    ("scraper/fetch.py", "fetch (scraper.fetch)"),
    ("scraper/polite.py", "fetch: politeness / robots.txt"),
    ("protego", "fetch: politeness / robots.txt"),
    ("httpx_aiohttp", "fetch: httpx + aiohttp"),
    ("httpx", "fetch: httpx + aiohttp"),
    ("aiohttp", "fetch: httpx + aiohttp"),
    ("httpcore", "fetch: httpx + aiohttp"),
    ("yarl", "fetch: httpx + aiohttp"),
    ("multidict", "fetch: httpx + aiohttp"),
    ("anyio", "fetch: httpx + aiohttp"),
    ("scraper/pipeline.py", "pipeline (glue)"),
    ("scraper/cli", "cli"),
    ("click", "cli"),
    ("structlog", "logging (structlog)"),
    ("asyncio", "event loop (asyncio)"),
    ("selectors", "event loop (asyncio)"),
    ("<frozen importlib", "imports (start-up)"),
    ("importlib", "imports (start-up)"),
)
# Leaf functions worth naming on their own whatever stage calls them.
_LEAVES: tuple[tuple[str, str], ...] = (
    ("<built-in method zlib.", "zlib"),
    ("zlib", "zlib"),
    ("json/", "JSON"),
    ("<built-in method _json", "JSON"),
    ("hashlib", "hashing (blake2b)"),
    ("_hashlib", "hashing (blake2b)"),
    ("_blake2", "hashing (blake2b)"),
    ("dataclasses", "dataclasses (asdict/replace)"),
    ("<method 'execute' of 'sqlite3", "store: sqlite execute"),
    ("<method 'commit' of 'sqlite3", "store: sqlite commit"),
    ("<method 'fetchall' of 'sqlite3", "store: sqlite execute"),
)


def _stage_of(where: str) -> str | None:
    for needle, stage in _STAGES:
        if needle in where:
            return stage
    return None


def _leaf_of(where: str) -> str | None:
    for needle, name in _LEAVES:
        if needle in where:
            return name
    return None


def _report(title: str, total: float, by: Counter[str], unit: str, top: int = 14) -> None:
    print(f"  {title}:")
    for name, value in by.most_common(top):
        print(f"    {100 * value / total:5.1f} %  {value:8.2f} {unit}  {name}")


def report_cprofile(path: Path, top: int = 25) -> None:
    """Self time by stage (the file a function lives in) and the top functions."""
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in raw.items():
        where = f"{file}:{func}"
        leaf = _leaf_of(where)
        if leaf is not None:
            leaves[leaf] += tt
        if file == "~":  # a built-in: name it (epoll's poll is the loop waiting)
            stage = leaf or ("event loop: epoll poll (waiting)" if "poll" in func
                             else f"built-in: {func[:60]}")
        else:
            stage = _stage_of(file) or leaf or Path(file).name
        stages[stage] += tt
    print(f"  main thread, {total:.2f} s of self time (cProfile; the sqlite thread is not "
          "seen here: use --profile py-spy)")
    _report("self time by stage (where the function lives)", total, stages, "s")
    _report("leaf operations, wherever called", total, leaves, "s", top=8)
    cumulative: dict[str, float] = defaultdict(float)
    for (file, line, func), (_cc, _nc, _tt, ct, _callers) in raw.items():
        if "/scraper/" in file:
            cumulative[f"{func} ({file.split('/scraper/')[-1]}:{line})"] = ct
    print("  scraper functions by cumulative time (overlapping):")
    for name, value in sorted(cumulative.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {100 * value / total:5.1f} %  {value:8.2f} s  {name}")


# py-spy raw lines: "thread (0x7f..);func (file:line);func (file:line) count"
# The innermost of these on a sample's stack names its stage.
_STAGE_FUNCS: tuple[tuple[str, str], ...] = (
    ("_pack (scraper/store/_records.py", "store: zlib compress (_pack)"),
    ("content_hash (scraper/store/_records.py", "store: blake2b (content_hash)"),
    ("extract_page (", "extract_page"),
    ("split_stories (", "split_stories"),
    ("compare_snapshot (", "compare_snapshot (match + diff)"),
    ("_execute (aiosqlite", "store: aiosqlite calls (loop side)"),
    ("execute_fetchall (aiosqlite", "store: aiosqlite calls (loop side)"),
    ("record_check (", "store.record_check (Python side)"),
    ("watch_state (", "store reads (watch_state, blocks, stories)"),
    ("blocks (scraper/store/__init__.py", "store reads (watch_state, blocks, stories)"),
    ("snapshot_stories (", "store reads (watch_state, blocks, stories)"),
    ("load_story_index (", "store reads (story index)"),
    ("mark_emitted (", "store.mark_emitted"),
    ("write_lines (scraper/alerts.py", "alert log write (+ fsync)"),
    ("render_alert (", "alert rendering (JSON)"),
    ("decode_body (", "decode_body (charset)"),
    ("_block_dict (", "pipeline: asdict of blocks"),
    ("_blocks_hash (", "pipeline: blocks hash (JSON + blake2b)"),
    ("fetch_page (", "fetch_page (HTTP request/response)"),
    ("polite_fetch (", "fetch: politeness"),
    ("load_config (", "config load"),
)
_IDLE = ("select (selectors.py", "_connection_worker_thread (aiosqlite/core.py:59)")


def _py_spy_stage(frames: Sequence[str]) -> str:
    for frame in reversed(frames):
        for needle, name in _STAGE_FUNCS:
            if needle in frame:
                return name
    for frame in reversed(frames):
        stage = _stage_of(frame)
        if stage is not None:
            return stage
    return "other"


def report_py_spy(path: Path) -> None:
    """Samples of every thread: main thread by pipeline stage, the sqlite thread apart."""
    threads: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")[1:]  # the first is the thread
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        if any("aiosqlite/core.py" in f and "_connection_worker_thread" in f for f in frames):
            name = ("sqlite thread: waiting for work" if leaf.startswith(_IDLE[1])
                    else "sqlite thread: running SQL")
            threads[name] += count
            continue
        if _IDLE[0] in leaf:
            threads["main thread: in epoll (waiting, or a syscall)"] += count
            continue
        threads["main thread: running Python"] += count
        stages[_py_spy_stage(frames)] += count
        leaves[_leaf_of(leaf) or _stage_of(leaf) or leaf.split(" (")[0]] += count
    if not total:
        print("  (no samples)")
        return
    busy = sum(stages.values())
    print(f"  {total} samples of every thread (py-spy, 250 Hz)")
    _report("by thread", total, threads, "samples")
    _report("main thread running Python, by stage (innermost pipeline function)", busy,
            stages, "samples", top=24)
    _report("main thread running Python, by leaf (the code actually running)", busy, leaves,
            "samples", top=12)


# --- in-process stage timings -------------------------------------------------------------------


def stage_timings(pages: int, seed: int) -> None:
    """Each CPU stage of a new page, timed alone in this process over ``pages`` pages.

    Uses the product's own functions (decode_body, extract_page, split_stories,
    compare_snapshot, render_alert) and the same zlib / JSON / blake2b calls the store
    makes, so the figures say what a page costs per stage with no profiler overhead.
    """
    import dataclasses
    import gzip
    import json
    import zlib

    from _pages import make_page, url_for

    from scraper import alerts as ev
    from scraper.extract import extract_page
    from scraper.fetch import decode_body
    from scraper.identity import StoryIndex
    from scraper.models import Watch
    from scraper.pipeline import compare_snapshot
    from scraper.store import content_hash

    bodies = [gzip.compress(make_page(seed, i, count=pages).encode(), 6) for i in range(pages)]
    timers: Counter[str] = Counter()
    index = StoryIndex()

    def timed(name: str, fn: Callable[[], object]) -> object:
        started = time.perf_counter()
        result = fn()
        timers[name] += time.perf_counter() - started
        return result

    for i, gz in enumerate(bodies):
        url = url_for(i, 80)
        raw: bytes = timed("gunzip (zlib)", lambda gz=gz: zlib.decompressobj(31).decompress(gz))
        text, _ = timed("decode_body", lambda raw=raw: decode_body(raw, "text/html; "
                                                                   "charset=utf-8"))
        page = timed("extract_page", lambda text=text, url=url: extract_page(text, url=url))
        blocks = timed("blocks -> dicts (dataclasses.asdict)", lambda page=page: [
            {k: v for k, v in dataclasses.asdict(b).items() if v not in ("", 0, None)
             or k == "position"} for b in page.blocks])
        blob = timed("blocks JSON + blake2b", lambda blocks=blocks: (
            json.dumps(blocks, ensure_ascii=False, separators=(",", ":")).encode()))
        timed("blocks JSON + blake2b", lambda blob=blob: content_hash(blob))
        split = timed("split_stories", lambda page=page: split_stories_(page))
        watch = Watch(name=f"page-{i:05d}", url=url, interval=900.0, timeout=30.0)
        texts = [str(b["text"]) for b in blocks]
        comparison = timed("compare_snapshot (first)", lambda w=watch, p=page, t=texts, s=split:
                           compare_snapshot(w, p.title, t, s, None, index, "2026-01-01T00:00Z"))
        html = text.encode()
        timed("store: zlib level 6 of page", lambda html=html: zlib.compress(html, 6))
        timed("store: zlib level 6 of blocks", lambda blob=blob: zlib.compress(blob, 6))
        timed("store: stories JSON + zlib 6", lambda c=comparison: [
            zlib.compress(json.dumps(list(r.paragraphs), ensure_ascii=False).encode(), 6)
            for r in c.stories])
        timed("store: blake2b of page", lambda html=html: content_hash(html))
        timed("alert lines (render_alert)", lambda c=comparison: [
            ev.render_alert(a) for a in c.alerts])
        timed("(for comparison) zlib level 1 of page", lambda html=html: zlib.compress(html, 1))
    total = sum(v for k, v in timers.items() if not k.startswith("("))
    print(f"\nstage timings in-process, one core, {pages} new pages "
          f"({1000 * total / pages:.2f} ms/page in all):")
    for name, value in timers.most_common():
        share = "" if name.startswith("(") else f"{100 * value / total:5.1f} %"
        print(f"  {1000 * value / pages:7.3f} ms/page {share:>7}  {name}")


def split_stories_(page: object) -> object:
    from scraper.stories import split_stories

    return split_stories(page)  # type: ignore[arg-type]


# --- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--pages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--change", type=float, default=0.1, help="share edited before run 3")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="[settings] concurrency of our config (default: ours)")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=TOML",
                        help="extra [settings] line of our config, e.g. host_delay=0 "
                             "(repeatable)")
    parser.add_argument("--no-urlwatch", action="store_true", help="measure ours only")
    parser.add_argument("--urlwatch-first", action="store_true",
                        help="run urlwatch's three runs before ours")
    parser.add_argument("--profile", choices=("cprofile", "py-spy"), default=None,
                        help="run ours under a profiler (figures then include its overhead)")
    parser.add_argument("--stages", type=int, metavar="PAGES", default=0,
                        help="also time each CPU stage in-process over PAGES new pages")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="work in DIR and keep it (databases, logs, profiles)")
    args = parser.parse_args(argv)
    compile_product()

    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        exe = None if args.no_urlwatch else ensure_urlwatch()
        started = time.perf_counter()
        with PageServer(args.pages, args.seed) as server:
            print(f"{args.pages} pages on {args.pages} loopback addresses "
                  f"(server pid {server.process.pid if server.process else '?'}, port "
                  f"{server.port}, ready in {time.perf_counter() - started:.1f} s); "
                  f"{os.cpu_count()} cores", flush=True)
            urls = [server.url(i) for i in range(args.pages)]
            ours_dir = base / "ours"
            if ours_dir.exists():
                shutil.rmtree(ours_dir)
            ours_dir.mkdir()
            extra = "\n".join(f"{k.strip()} = {v.strip()}" for k, _, v in
                              (item.partition("=") for item in args.setting))
            write_config(ours_dir / "scraper.toml", urls, concurrency=args.concurrency,
                         extra_settings=extra)
            suffix = "prof" if args.profile == "cprofile" else "txt"
            profiles = [ours_dir / f"profile-run{n + 1}.{suffix}" for n in range(3)]

            def ours_argv(n: int) -> list[str]:
                return scrape_argv(ours_dir / "scraper.toml", args.profile, profiles[n])

            def run_ours() -> list[RunFigures]:
                return three_runs("ours", server, ours_argv, ours_dir, args.change)

            def run_theirs() -> list[RunFigures] | None:
                if exe is None:
                    return None
                work = base / "urlwatch"
                if work.exists():
                    shutil.rmtree(work)
                work.mkdir()
                write_urlwatch_jobs(work / "urls.yaml", urls)
                env = dict(os.environ, HOME=str(work), XDG_CONFIG_HOME=str(work),
                           XDG_CACHE_HOME=str(work))
                # Writes urlwatch's default config before anything is timed.
                subprocess.run([*urlwatch_argv(exe, work), "--list"], env=env, check=True,
                               stdout=subprocess.DEVNULL)
                return three_runs("urlwatch", server, lambda _n: urlwatch_argv(exe, work),
                                  work, args.change, env=env)

            if args.urlwatch_first:
                theirs = run_theirs()
                ours = run_ours()
            else:
                ours = run_ours()
                theirs = run_theirs()
        print_comparison(ours, theirs)
        if args.profile:
            print(f"(profiled with {args.profile}: the speeds above include its overhead"
                  + (", and CPU and RSS are py-spy's own" if args.profile == "py-spy" else "")
                  + ")")
            for n, path in enumerate(profiles):
                run, what = RUNS[n]
                print(f"\nprofile of ours, {run} ({what}), {path}:")
                if not path.exists():
                    print("  (no profile written)")
                elif args.profile == "cprofile":
                    report_cprofile(path)
                else:
                    report_py_spy(path)
    if args.stages:
        stage_timings(args.stages, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
