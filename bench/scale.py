"""Scale: the daemon with many watches, and the database after many snapshots.

    .venv/bin/python bench/scale.py                       # both parts, full size
    .venv/bin/python bench/scale.py --part storage        # database size only
    .venv/bin/python bench/scale.py --part daemon --watches 10000 --interval 60 --duration 240
    .venv/bin/python bench/scale.py --watches 50 --duration 6 --interval 2 \\
        --pages 50 --snapshots 5                           # the smoke test's sizes

Daemon part (``scrape run``): W watches (one page per loopback address, bench/_pages.py
server), intervals scaled down: by default every watch is due each 60 s and the run lasts
240 s, i.e. an hour of 15-minute intervals at 15x speed. Printed: start-up time (process
start to the ``daemon.started`` log line, and to the first page request the server sees),
RSS after the run (and its peak; and the PSS of the daemon with its worker processes),
CPU time per fetched page (worker processes included), checks done against checks due,
and shutdown time after SIGTERM.

Storage part (``scrape --once`` again and again): P pages, one run on fresh state, then S
runs each after the server edited a share of the pages (10 %), then one run with nothing
changed (all 304) and one with nothing changed but no validators (every page a full 200
of the same bytes). Printed: database size after each phase, bytes per changed page,
bytes per unchanged fetch (304, and 200 of an unchanged body: content-addressed storage
should make both close to a fetch row), and the rows and bytes per table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pages import (
    VENV_BIN,
    PageServer,
    compile_product,
    process_tree,
    run_measured,
    tree_pss_mb,
)
from throughput import write_config

TARGET_DAEMON_RSS_MB = 250.0
TARGET_STARTUP_S = 3.0
SCRAPE = str(VENV_BIN / "scrape")


# --- helpers ----------------------------------------------------------------------------------


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a live process, in kB (empty once it is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _tree_cpu(pid: int) -> float:
    return sum(_proc_cpu(p) for p in process_tree(pid))


def _served(stats: dict[str, float]) -> int:
    """Page requests the server answered (200s and 304s; robots.txt aside)."""
    return int(stats["ok"] + stats["not_modified"])


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.2f} MB"


# --- the daemon -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DaemonFigures:
    watches: int
    startup_log_s: float | None  # to the daemon.started line
    first_request_s: float | None  # to the first request (robots.txt too) the server sees
    first_page_s: float | None  # to the first page request the server sees
    rss_mb: float
    peak_rss_mb: float
    cpu_s: float
    pages_fetched: int
    robots_fetched: int
    checks_done: int
    checks_due: int
    shutdown_s: float
    tree_rss_mb: float = 0.0  # PSS of the daemon and its worker processes, at the end
    tree_peak_mb: float = 0.0  # the highest such sum seen while polling


def run_daemon(watches: int, interval: float, duration: float, change: float,
               seed: int, work: Path, *, quiet: bool = False,
               extra_settings: str = "") -> DaemonFigures:
    started = time.perf_counter()
    with PageServer(watches, seed) as server:
        print(f"daemon: {watches} watches on {watches} loopback addresses, every "
              f"{interval:g} s for {duration:g} s (server ready in "
              f"{time.perf_counter() - started:.1f} s)", flush=True)
        config = work / "daemon.toml"
        write_config(config, [server.url(i) for i in range(watches)],
                     interval=f"{interval:g}s", extra_settings=extra_settings)
        log_path = work / "daemon.log"
        before = server.stats()
        with open(log_path, "wb") as log:
            t0 = time.perf_counter()
            proc = subprocess.Popen([SCRAPE, "run", "--config", str(config)],
                                    stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            startup_log_s = first_request_s = first_page_s = None
            last_change = t0
            rounds = 0
            tree_peak_mb = tree_rss = 0.0
            next_tree = t0
            next_print = t0 + max(duration / 8, 1.0)
            while True:
                now = time.perf_counter()
                if now - t0 >= duration or proc.poll() is not None:
                    break
                if startup_log_s is None and b"daemon.started" in log_path.read_bytes()[:65536]:
                    startup_log_s = now - t0
                if first_page_s is None:
                    stats = server.stats()
                    if first_request_s is None and stats["requests"] > before["requests"]:
                        first_request_s = now - t0
                    if _served(stats) > _served(before):
                        first_page_s = now - t0
                if change and now - last_change >= interval:
                    rounds += 1
                    server.edit(change, round_=rounds)
                    last_change = now
                if now >= next_tree:  # once a second: walking /proc costs CPU too
                    tree_rss = tree_pss_mb(proc.pid)
                    tree_peak_mb = max(tree_peak_mb, tree_rss)
                    next_tree = now + 1.0
                if not quiet and now >= next_print:
                    stats = server.stats()
                    rss = _proc_status(proc.pid).get("VmRSS", 0) / 1024
                    served = _served(stats) - _served(before)
                    robots = int(stats["robots"] - before["robots"])
                    print(f"  t = {now - t0:6.1f} s  RSS {rss:6.1f} MB (with workers, PSS "
                          f"{tree_rss:6.1f} MB)  pages served {served} (+ {robots} "
                          f"robots.txt)  cpu {_tree_cpu(proc.pid):.1f} s", flush=True)
                    next_print = now + max(duration / 8, 1.0)
                time.sleep(0.05)
            status = _proc_status(proc.pid)
            tree_rss = tree_pss_mb(proc.pid)
            tree_peak_mb = max(tree_peak_mb, tree_rss)
            cpu = _tree_cpu(proc.pid)
            after = server.stats()
            t_stop = time.perf_counter()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            shutdown_s = time.perf_counter() - t_stop
    checks = 0
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"check.done"' in line or "check.done" in line:
            checks += 1
    if startup_log_s is None and "daemon.started" in log_path.read_text(errors="replace"):
        startup_log_s = float("nan")  # seen only after the loop: later than the polls
    pages = _served(after) - _served(before)
    if proc.returncode not in (0, -signal.SIGTERM):
        print(f"daemon: exit status {proc.returncode}; the end of its log:")
        print("\n".join(log_path.read_text(errors="replace").splitlines()[-10:]))
    due = watches * math.ceil(duration / interval)  # cycles started within the run
    return DaemonFigures(
        watches=watches, startup_log_s=startup_log_s, first_request_s=first_request_s,
        first_page_s=first_page_s, robots_fetched=int(after["robots"] - before["robots"]),
        rss_mb=status.get("VmRSS", 0) / 1024, peak_rss_mb=status.get("VmHWM", 0) / 1024,
        cpu_s=cpu, pages_fetched=pages, checks_done=checks, checks_due=due,
        shutdown_s=shutdown_s, tree_rss_mb=tree_rss, tree_peak_mb=tree_peak_mb,
    )


def print_daemon(fig: DaemonFigures) -> None:
    def secs(value: float | None) -> str:
        return "never" if value is None else f"{value:.2f} s"

    startup = fig.startup_log_s
    print(f"daemon start-up ({fig.watches} watches): {secs(startup)} to daemon.started, "
          f"{secs(fig.first_request_s)} to the first request, {secs(fig.first_page_s)} to the "
          f"first page request (target <= "
          f"{TARGET_STARTUP_S:g} s: "
          + ("met" if startup is not None and startup <= TARGET_STARTUP_S else "NOT MET") + ")")
    worst = max(fig.peak_rss_mb, fig.tree_peak_mb)
    print(f"daemon RSS after the run: {fig.rss_mb:.1f} MB, peak {fig.peak_rss_mb:.1f} MB; "
          f"with its worker processes (PSS) {fig.tree_rss_mb:.1f} MB, highest seen "
          f"{fig.tree_peak_mb:.1f} MB (target <= {TARGET_DAEMON_RSS_MB:g} MB: "
          + ("met" if worst <= TARGET_DAEMON_RSS_MB else "NOT MET") + ")")
    per_page = 1000 * fig.cpu_s / fig.pages_fetched if fig.pages_fetched else float("nan")
    print(f"daemon CPU (with its worker processes): {fig.cpu_s:.1f} s for "
          f"{fig.pages_fetched} page fetches = "
          f"{per_page:.2f} ms per fetched page (and {fig.robots_fetched} robots.txt fetches)")
    print(f"daemon checks: {fig.checks_done} done of {fig.checks_due} due "
          f"({100 * fig.checks_done / max(fig.checks_due, 1):.0f} %); shutdown after SIGTERM "
          f"{fig.shutdown_s:.2f} s")


# --- storage ----------------------------------------------------------------------------------


def db_bytes(path: Path) -> int:
    """Bytes the database uses (pages in use), WAL included; the file may hold free pages."""
    total = 0
    if path.exists():
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
        db.close()
        total = (pages - free) * page_size
    return total


def file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def table_sizes(path: Path) -> list[tuple[str, int, int]]:
    """(table, rows, bytes) per table, bytes from dbstat when SQLite has it."""
    out: list[tuple[str, int, int]] = []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        names = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        sizes: dict[str, int] = {}
        try:
            for name, size in db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
                sizes[name] = size
        except sqlite3.Error:
            pass
        for name in names:
            rows = db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
            out.append((name, rows, sizes.get(name, 0)))
        indexes = sum(size for name, size in sizes.items() if name not in names)
        if indexes:
            out.append(("(indexes)", 0, indexes))
    db.close()
    return sorted(out, key=lambda t: -t[2])


@dataclass(frozen=True, slots=True)
class StorageFigures:
    pages: int
    snapshots: int
    change: float
    after_first: int
    after_changes: int
    changed_pages: int
    per_304: float
    per_unchanged_200: float
    per_changed: float
    file_size: int
    tables: list[tuple[str, int, int]]
    wall: float


def run_storage(pages: int, snapshots: int, change: float, seed: int, work: Path,
                *, quiet: bool = False, extra_settings: str = "") -> StorageFigures:
    started = time.perf_counter()
    with PageServer(pages, seed) as server:
        print(f"storage: {pages} pages, {snapshots} runs with {100 * change:g} % edited before "
              f"each (server ready in {time.perf_counter() - started:.1f} s)", flush=True)
        config = work / "storage.toml"
        write_config(config, [server.url(i) for i in range(pages)],
                     extra_settings=extra_settings)
        db = work / "scraper.db"

        def once(label: str) -> int:
            run = run_measured([SCRAPE, "--once", "--config", str(config)], cwd=work)
            if run.returncode != 0:
                print(f"  {label}: scrape --once exited {run.returncode}")
            return db_bytes(db)

        t0 = time.perf_counter()
        after_first = once("first run")
        if not quiet:
            print(f"  after the first run (all new): {_mb(after_first)} "
                  f"({after_first / pages:,.0f} bytes per page)", flush=True)
        size = after_first
        changed = 0
        step = max(snapshots // 10, 1)
        for n in range(1, snapshots + 1):
            changed += len(server.edit(change, round_=n))
            size = once(f"run {n}")
            if not quiet and (n % step == 0 or n == snapshots):
                print(f"  after {n:3d} runs with {100 * change:g} % edited: {_mb(size)}  "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
        after_changes = size
        size_304 = once("all 304")
        server.validators(False)
        size_200 = once("unchanged 200s")
        server.validators(True)
        wall = time.perf_counter() - t0
        tables = table_sizes(db)
    per_304 = (size_304 - after_changes) / pages
    per_200 = (size_200 - size_304) / pages
    unchanged_fetches = snapshots * pages - changed
    growth = after_changes - after_first
    per_changed = (growth - unchanged_fetches * per_304) / changed if changed else 0.0
    return StorageFigures(
        pages=pages, snapshots=snapshots, change=change, after_first=after_first,
        after_changes=after_changes, changed_pages=changed, per_304=per_304,
        per_unchanged_200=per_200, per_changed=per_changed, file_size=file_bytes(db),
        tables=tables, wall=wall,
    )


def print_storage(fig: StorageFigures) -> None:
    print(f"database after the first run of {fig.pages} pages: {_mb(fig.after_first)} "
          f"({fig.after_first / fig.pages:,.0f} bytes per new page)")
    print(f"database after {fig.snapshots} more runs, {100 * fig.change:g} % edited before "
          f"each ({fig.changed_pages} changed pages): {_mb(fig.after_changes)} "
          f"(file {_mb(fig.file_size)}); {fig.per_changed:,.0f} bytes per changed page")
    print(f"bytes per unchanged fetch: {fig.per_304:,.0f} (304), {fig.per_unchanged_200:,.0f} "
          f"(200 with the same body, no validators); a page is "
          f"{fig.after_first / fig.pages:,.0f} bytes stored")
    print("tables (rows, bytes):")
    for name, rows, size in fig.tables:
        print(f"  {name:20} {rows:9,d} rows  {_mb(size):>10}")
    print(f"storage part took {fig.wall:.0f} s")


# --- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("all", "daemon", "storage"), default="all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--watches", type=int, default=10_000, help="daemon: watches")
    parser.add_argument("--interval", type=float, default=60.0,
                        help="daemon: every watch's interval, seconds")
    parser.add_argument("--duration", type=float, default=240.0,
                        help="daemon: how long it runs, seconds")
    parser.add_argument("--daemon-change", type=float, default=0.02,
                        help="daemon: share of pages edited each interval")
    parser.add_argument("--pages", type=int, default=1000, help="storage: pages")
    parser.add_argument("--snapshots", type=int, default=100, help="storage: runs with edits")
    parser.add_argument("--change", type=float, default=0.1,
                        help="storage: share of pages edited before each run")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=TOML",
                        help="extra [settings] line of the configs, e.g. host_delay=0 "
                             "(repeatable)")
    parser.add_argument("--keep", metavar="DIR", default=None, help="work in DIR and keep it")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write figures here")
    args = parser.parse_args(argv)
    compile_product()

    extra = "\n".join(f"{k.strip()} = {v.strip()}" for k, _, v in
                      (item.partition("=") for item in args.setting))
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        if args.part in ("all", "storage"):
            work = base / "storage"
            work.mkdir(parents=True, exist_ok=False)
            storage = run_storage(args.pages, args.snapshots, args.change, args.seed, work,
                                  extra_settings=extra)
            print_storage(storage)
            figures["storage"] = {k: getattr(storage, k) for k in storage.__slots__}
        if args.part in ("all", "daemon"):
            work = base / "daemon"
            work.mkdir(parents=True, exist_ok=False)
            daemon = run_daemon(args.watches, args.interval, args.duration,
                                args.daemon_change, args.seed, work, extra_settings=extra)
            print_daemon(daemon)
            figures["daemon"] = {k: getattr(daemon, k) for k in daemon.__slots__}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
