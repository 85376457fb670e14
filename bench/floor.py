"""The floor under throughput.py: how fast a bare HTTP client alone goes, as a whole process.

    .venv/bin/python bench/floor.py                 # N = 1000
    .venv/bin/python bench/floor.py -n 200 --repeat 1

Same pages, same server and same loopback addresses as throughput.py. Each client is a
fresh Python process (start-up and its own imports included, as in throughput.py) that
does only the HTTP part of a run and nothing else: no parsing, no database, no alerts.

    new    GET /robots.txt, then GET the page (gzip) and inflate it, as run 1 asks
    304    a conditional GET of each page with its ETag, as run 2 asks

Clients, each with at most 16 requests in flight (our default; every page is on a host of
its own, so no per-host limit applies):

    aiohttp          aiohttp's ClientSession alone
    httpx+aiohttp    httpx.AsyncClient over the httpx-aiohttp transport (what we use)
    httpx            httpx.AsyncClient with its own transport

It prints pages/s per client and mode (the best of ``--repeat`` runs). What a client
reaches here bounds what any tool built on it can reach on this machine: throughput.py's
targets are ratios to urlwatch, so compare them with these figures before optimising the
pipeline behind the client.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pages import PageServer, _venv_python, etag_for

CONCURRENCY = 16

# The client, run with ``python -c``: argv = mode, then one "url|etag" per page.
_CLIENT = r'''
import asyncio, sys, zlib
MODE, KIND, ITEMS = sys.argv[1], sys.argv[2], [a.split("|") for a in sys.argv[3:]]
CONCURRENCY = {concurrency}
HEADERS = {"Accept-Encoding": "gzip"}

def origin(url):
    return url[: url.index("/", len("http://"))]

async def main():
    if KIND == "aiohttp":
        import aiohttp
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONCURRENCY),
            auto_decompress=False)
        async def get(url, headers):
            async with session.get(url, headers=headers) as r:
                return r.status, r.headers.get("Content-Encoding", ""), await r.read()
    else:
        import httpx
        limits = httpx.Limits(max_connections=CONCURRENCY)
        if KIND == "httpx+aiohttp":
            from httpx_aiohttp import AiohttpTransport
            session = httpx.AsyncClient(transport=AiohttpTransport(limits=limits))
        else:
            session = httpx.AsyncClient(limits=limits)
        async def get(url, headers):
            async with session.stream("GET", url, headers=headers) as r:
                body = b"".join([chunk async for chunk in r.aiter_raw()])
                return r.status_code, r.headers.get("Content-Encoding", ""), body
    slots = asyncio.Semaphore(CONCURRENCY)
    statuses = []
    async def one(url, etag):
        async with slots:
            if MODE == "new":
                await get(origin(url) + "/robots.txt", HEADERS)
                status, encoding, body = await get(url, HEADERS)
                if encoding == "gzip":
                    body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
                assert len(body) > 10000, (url, status)
            else:
                status, _, _ = await get(url, {**HEADERS, "If-None-Match": etag})
            statuses.append(status)
    await asyncio.gather(*(one(url, etag) for url, etag in ITEMS))
    await session.close() if KIND == "aiohttp" else await session.aclose()
    expected = 200 if MODE == "new" else 304
    assert statuses.count(expected) == len(ITEMS), set(statuses)

asyncio.run(main())
'''

CLIENTS = ("aiohttp", "httpx+aiohttp", "httpx")
MODES = ("new", "304")


def run_client(kind: str, mode: str, items: Sequence[str]) -> float:
    """Wall seconds of one whole client process."""
    started = time.perf_counter()
    code = _CLIENT.replace("{concurrency}", str(CONCURRENCY))
    subprocess.run([_venv_python(), "-c", code, mode, kind, *items], check=True)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--pages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with PageServer(args.pages, args.seed) as server:
        print(f"{args.pages} pages on {args.pages} loopback addresses (ready in "
              f"{time.perf_counter() - started:.1f} s); {os.cpu_count()} cores; "
              f"{CONCURRENCY} in flight", flush=True)
        items = [f"{server.url(i)}|{etag_for(i, 0)}" for i in range(args.pages)]
        for mode in MODES:
            for kind in CLIENTS:
                before = server.stats()
                best = min(run_client(kind, mode, items) for _ in range(args.repeat))
                after = server.stats()
                served = {key: int(after[key] - before[key]) // args.repeat
                          for key in ("ok", "not_modified", "robots")}
                print(f"floor {mode:>3}  {kind:<14} {args.pages / best:8.1f} pages/s  "
                      f"(best of {args.repeat}: {best:.2f} s; server, per run: "
                      f"{served['ok']} x 200, {served['not_modified']} x 304, "
                      f"{served['robots']} robots.txt)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
