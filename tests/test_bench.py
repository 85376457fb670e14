"""Smoke runs of the benchmarks (bench/) at N = 50: they run and print their figure lines.

Speeds are not asserted (CI machines are shared and noisy); what is asserted is that every
page was fetched and the page server behaved (200s, then 304s, then 10 % edited).
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.append(str(BENCH))  # for _pages; appended: bench/ must shadow nothing

from _pages import PageServer, etag_for, host_for, make_page, url_for  # noqa: E402

pytestmark = pytest.mark.slow


def run_bench(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_pages_are_deterministic_article_pages_of_about_55_kb() -> None:
    sizes = [len(make_page(1, i).encode()) for i in range(20)]
    assert 45_000 < sum(sizes) / len(sizes) < 65_000
    assert make_page(1, 3) == make_page(1, 3)
    assert make_page(1, 3) != make_page(1, 3, version=1)  # an edit changes the page
    assert make_page(1, 3) != make_page(2, 3)
    assert make_page(1, 9).count("<article") == 2  # every tenth page: an appended article
    assert make_page(1, 8).count("<article") == 1
    assert host_for(0) == "127.0.1.1" and host_for(250) == "127.0.2.1"
    assert url_for(251, 8080) == "http://127.0.2.2:8080/news/251/story.html"


@pytest.fixture(scope="module")
def server() -> Iterator[PageServer]:
    with PageServer(12, seed=1) as running:
        yield running


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), b""


def test_page_server_answers_conditional_requests_and_edits(server: PageServer) -> None:
    server.reset()
    status, headers, body = _get(server.url(5))  # on its own address, 127.0.1.6
    assert status == 200 and headers["ETag"] == etag_for(5, 0)
    assert body.decode() == make_page(1, 5, count=12)
    assert _get(server.url(5), **{"If-None-Match": headers["ETag"]})[0] == 304
    assert _get(server.url(5), **{"If-Modified-Since": headers["Last-Modified"]})[0] == 304
    status, gz_headers, _ = _get(server.url(5), **{"Accept-Encoding": "gzip"})
    assert gz_headers.get("Content-Encoding") == "gzip"
    edited = server.edit(0.5, round_=1)
    assert len(edited) == 6
    status, after, _ = _get(server.url(edited[0]), **{"If-None-Match": etag_for(edited[0], 0)})
    assert status == 200 and after["ETag"] == etag_for(edited[0], 1)
    server.validators(False)
    try:
        assert "ETag" not in _get(server.url(5))[1]
    finally:
        server.validators(True)
    assert _get(url_for(0, server.port).replace("/news/0/story.html", "/robots.txt"))[0] == 200
    server.reset()


def test_throughput_smoke() -> None:
    # host_delay = 0: robots.txt then the page at once (the default 1 s pause per host
    # would only make the smoke run slower; the figures are not asserted).
    out = run_bench("bench/throughput.py", "-n", "50", "--no-urlwatch",
                    "--setting", "host_delay=0")
    for run, ok, not_modified in (("run 1", 50, 0), ("run 2", 0, 50), ("run 3", 5, 45)):
        line = next(line for line in out.splitlines() if line.startswith(run))
        assert re.search(r"ours\s+50 pages .* pages/s .* peak RSS +[\d.]+ MB", line), line
        assert f"server: {ok} x 200, {not_modified} x 304" in line, line
    assert "ours: 50 new, 0 changed, 0 unchanged, 0 failed" in out
    assert "ours: 0 new, 0 changed, 50 unchanged, 0 failed" in out
    assert "0 failed" in out.split("ours: 0 new, 5 changed")[1].splitlines()[0]
    assert re.search(r"peak RSS of scrape --once over 50 pages: [\d.]+ MB; with its worker "
                     r"processes \(PSS, polled\): [\d.]+ MB", out), out


def test_floor_smoke() -> None:
    out = run_bench("bench/floor.py", "-n", "50", "--repeat", "1")
    for mode, served in (("new", "50 x 200, 0 x 304, 50 robots.txt"),
                         ("304", "0 x 200, 50 x 304, 0 robots.txt")):
        for client in ("aiohttp", "httpx+aiohttp", "httpx"):
            line = next(line for line in out.splitlines()
                        if line.startswith(f"floor {mode:>3}  {client} "))
            assert re.search(r"[\d.]+ pages/s", line), line
            assert f"server, per run: {served})" in line, line


def test_scale_smoke() -> None:
    out = run_bench("bench/scale.py", "--pages", "50", "--snapshots", "3", "--watches", "50",
                    "--interval", "2", "--duration", "4", "--setting", "host_delay=0")
    assert re.search(r"database after the first run of 50 pages: [\d.]+ MB", out), out
    assert re.search(r"bytes per unchanged fetch: [-\d,]+ \(304\), [-\d,]+ \(200", out), out
    assert "contents" in out
    assert re.search(r"daemon start-up \(50 watches\): [\d.]+ s to daemon.started", out), out
    assert re.search(r"daemon RSS after the run: [\d.]+ MB, .* with its worker processes "
                     r"\(PSS\) [\d.]+ MB", out), out
    assert re.search(r"daemon CPU \(with its worker processes\): .* ms per fetched page",
                     out), out
    assert re.search(r"daemon checks: \d+ done of \d+ due", out), out
