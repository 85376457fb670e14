"""Hostile and broken servers: every one is a real socket on 127.0.0.1.

Each case checks what a user would see (the check's status and error) and that nothing
already stored is lost: a fault is a failed fetch, never an empty snapshot that announces
every story as removed.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from scraper.config import load_config
from scraper.models import Config
from scraper.pipeline import CheckResult, run_once
from scraper.store import open_store
from tests.conftest import article_html, read_alerts
from tests.faults.conftest import (
    Handler,
    RawRequest,
    RawServer,
    reset,
    response_head,
    scrape_command,
)

PARAS = [
    "The harbour authority confirmed on Monday that the old swing bridge will close.",
    "Engineers found corrosion in the main span during the spring inspection.",
    "A temporary ferry will carry cyclists and pedestrians from the first of June.",
]
GOOD = article_html("Harbour bridge to close for repairs", PARAS).encode()
DATA = Path(__file__).parent / "data"


class Scenario:
    """One watch on a raw server: serve ``GOOD`` first, then the fault under test."""

    def __init__(self, raw_server: Callable[..., RawServer], write_config: Callable[..., Path],
                 fault: Handler, **settings: object) -> None:
        self.faulty = False
        self.fault = fault

        async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
            if not self.faulty:
                writer.write(response_head(content_type="text/html; charset=utf-8",
                                           content_length=len(GOOD)) + GOOD)
                await writer.drain()
                return
            await fault(request, writer)

        self.server = raw_server(handler)
        watch: dict[str, object] = {"name": "bridge", "url": self.server.url("/news/bridge")}
        if "timeout" in settings:
            watch["timeout"] = settings.pop("timeout")
        self.config: Config = load_config(write_config([watch], **settings))
        self.log = Path(self.config.settings.alert_log)

    async def run(self) -> tuple[CheckResult, float]:
        started = time.perf_counter()
        run = await run_once(self.config)
        return run.results[0], time.perf_counter() - started

    async def good_then_fault(self) -> tuple[CheckResult, float]:
        first, _ = await self.run()
        assert first.status == "new"
        self.faulty = True
        return await self.run()

    async def assert_nothing_lost(self) -> None:
        """One snapshot (the good one), only page.new announced, the fault recorded."""
        assert [a["event"] for a in read_alerts(self.log)] == ["page.new"]
        async with open_store(self.config.settings.database) as store:
            watch_id = await store.watch_id("bridge")
            assert watch_id is not None
            snapshots = await store.snapshots(watch_id)
            assert len(snapshots) == 1
            blocks = await store.blocks(snapshots[0])
            assert any(PARAS[1] in str(b["text"]) for b in blocks)
            fetches = await store.fetches(watch_id)
            assert [f.outcome for f in fetches] == ["failed", "ok"]


async def test_connection_reset_mid_body(raw_server, write_config):
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_length=len(GOOD)))
        writer.write(GOOD[: len(GOOD) // 2])
        await writer.drain()
        await asyncio.sleep(0.1)
        reset(writer)

    scenario = Scenario(raw_server, write_config, fault)
    result, elapsed = await scenario.good_then_fault()
    assert result.status == "failed"
    half, whole = len(GOOD) // 2, len(GOOD)
    assert result.error == f"connection reset mid-body (received {half} of {whole} bytes)"
    assert elapsed < 5
    await scenario.assert_nothing_lost()


async def test_connection_reset_mid_chunked_body(raw_server, write_config):
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", transfer_encoding="chunked"))
        half = GOOD[: len(GOOD) // 2]
        writer.write(b"%x\r\n%s\r\n" % (len(half), half))
        await writer.drain()
        await asyncio.sleep(0.1)
        reset(writer)

    scenario = Scenario(raw_server, write_config, fault)
    result, _ = await scenario.good_then_fault()
    assert result.status == "failed"
    assert result.error == "connection reset mid-body"
    await scenario.assert_nothing_lost()


async def test_server_accepts_and_never_answers(raw_server, write_config):
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)  # cancelled when the test stops the server

    scenario = Scenario(raw_server, write_config, fault, timeout="1s")
    result, elapsed = await scenario.good_then_fault()
    assert result.status == "failed"
    assert result.error == "timed out after 1 s"
    assert elapsed < 3
    await scenario.assert_nothing_lost()


async def test_body_dripping_one_byte_a_second_hits_the_total_deadline(raw_server,
                                                                         write_config):
    # A byte every second never trips a 1.5 s read timeout: only the total deadline can.
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_length=len(GOOD)))
        for byte in GOOD:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1)

    scenario = Scenario(raw_server, write_config, fault, timeout="1500ms")
    result, elapsed = await scenario.good_then_fault()
    assert result.status == "failed"
    assert result.error == "timed out after 1.5 s"
    assert 1.4 < elapsed < 4
    await scenario.assert_nothing_lost()


async def test_status_line_dripping_hits_the_total_deadline(raw_server, write_config):
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        for byte in response_head(content_type="text/html", content_length=len(GOOD)):
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1)

    scenario = Scenario(raw_server, write_config, fault, timeout="1500ms")
    result, elapsed = await scenario.good_then_fault()
    assert result.status == "failed"
    assert result.error == "timed out after 1.5 s"
    assert elapsed < 4


@pytest.mark.parametrize("framing", ["chunked", "close-delimited"])
async def test_endless_body_is_refused_at_the_cap(raw_server, write_config, framing):
    piece = b"<p>" + b"endless news " * 5000 + b"</p>\n"

    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if framing == "chunked":
            writer.write(response_head(content_type="text/html", transfer_encoding="chunked"))
        else:
            writer.write(response_head(content_type="text/html", connection="close"))
        while True:  # until the client hangs up (drain raises) or the server stops
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece
            writer.write(data)
            await writer.drain()

    scenario = Scenario(raw_server, write_config, fault, max_body="1MB", timeout="20s")
    result, elapsed = await scenario.good_then_fault()
    assert result.status == "failed"
    assert "cap" in (result.error or "")
    assert elapsed < 10
    await scenario.assert_nothing_lost()


# --- compression bombs ---------------------------------------------------------------------


def gzip_bomb(decoded: int, block: int = 1 << 20) -> bytes:
    """A real gzip stream of ``decoded`` zero bytes in about decoded/1000 bytes.

    After a full flush deflate starts afresh, so every later block compresses to the same
    bytes: compress two, repeat the second, and write the trailer (CRC, size) ourselves.
    """
    zeros = b"\0" * block
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    count = decoded // block
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    final_block = b"\x03\x00"  # an empty final block with fixed Huffman codes
    trailer = crc.to_bytes(4, "little") + (count * block % (1 << 32)).to_bytes(4, "little")
    return first + again * (count - 1) + final_block + trailer


def test_gzip_bomb_helper_makes_a_real_bomb():
    bomb = gzip_bomb(8 << 20)
    assert len(bomb) < 20_000
    assert gzip.decompress(bomb) == b"\0" * (8 << 20)


def brotli_bomb() -> bytes:
    """4 GiB of zeros as 3 KB of brotli, made once with the reference encoder:

        c = brotli.Compressor(quality=5, lgwin=24)
        b"".join(c.process(b"\\0" * (1 << 24)) for _ in range(256)) + c.finish()

    Stored rather than made here: we never decode br, so the tests need no brotli package.
    """
    return (DATA / "zeros-4GiB.br").read_bytes()


def _serve_bomb(body: bytes, encoding: str) -> Handler:
    async def serve(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_encoding=encoding,
                                   content_length=len(body)))
        for start in range(0, len(body), 65536):
            writer.write(body[start:start + 65536])
            await writer.drain()

    return serve


# Runs the real CLI and, at exit, writes the process's peak RSS (VmHWM: the high-water
# mark of this program's own memory since exec; getrusage's ru_maxrss would also count
# the copy of the forking pytest process) to the file named by $PEAK_RSS_FILE.
_MEASURED_CLI = """
import atexit, os, re
def peak():
    status = open("/proc/self/status").read()
    open(os.environ["PEAK_RSS_FILE"], "w").write(re.search(r"VmHWM:\\s+(\\d+)", status)[1])
atexit.register(peak)
from scraper.cli import main
main(prog_name="scrape")
"""


def _measured_scrape(config: Path) -> tuple[int, int, str]:
    """Run ``scrape --once``; (exit code, peak RSS in KiB, stdout) of that one process."""
    peak_file = config.with_suffix(".peak")
    result = subprocess.run([sys.executable, "-c", _MEASURED_CLI, "--once", "--config",
                             str(config)], capture_output=True, text=True, timeout=120,
                            check=False, env={**os.environ, "PEAK_RSS_FILE": str(peak_file)})
    return result.returncode, int(peak_file.read_text()), result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gzip", "br"])
def test_compression_bomb_refused_and_memory_stays_bounded(raw_server, write_config, kind,
                                                           tmp_path):
    bomb = gzip_bomb(1 << 30) if kind == "gzip" else brotli_bomb()
    assert len(bomb) < 2_000_000  # ~1 MB on the wire for 1 GiB (gzip), 3 KB for 4 GiB (br)
    plain = article_html("Plain page", PARAS * 200).encode()

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if request.target == "/plain":
            writer.write(response_head(content_type="text/html", content_length=len(plain))
                         + plain)
            await writer.drain()
        else:
            await _serve_bomb(bomb, kind)(request, writer)

    server = raw_server(handler)
    # A baseline run (same program, a plain page) so the comparison is RSS growth.
    base_code, base_rss, base_out = _measured_scrape(write_config(
        [{"name": "plain", "url": server.url("/plain")}], max_body="1MB",
        database=str(tmp_path / "base.db")))
    assert base_code == 0, base_out
    code, rss, out = _measured_scrape(write_config(
        [{"name": "bomb", "url": server.url("/bomb")}], max_body="1MB"))
    assert code == 1, out
    line = next(x for x in out.splitlines() if x.startswith("failed\tbomb"))
    if kind == "gzip":
        assert "cap" in line
    else:
        assert "'br'" in line and "not asked for" in line  # refused by name, never decoded
    # Decoded, the bomb would show as GBs of RSS (256 MiB uncapped measured 5 GB); the cap
    # is 1 MB, and the refused run peaks within 0.2 MB of the plain one.
    assert rss - base_rss < 16 * 1024, f"peak RSS grew by {(rss - base_rss) // 1024} MiB"
    for request in server.requests:
        assert "br" not in request.headers.get("accept-encoding", "")


@pytest.mark.parametrize("encoding", ["gzip, gzip", "gzip, br", "compress", "zstd"])
async def test_stacked_or_unasked_encodings_are_refused(raw_server, write_config, encoding):
    # Stacked gzip turns a 1 MB bomb into a few KB; we inflate one layer we asked for only.
    body = gzip.compress(gzip_bomb(64 << 20))
    scenario = Scenario(raw_server, write_config, _serve_bomb(body, encoding))
    result, _ = await scenario.good_then_fault()
    assert result.status == "failed"
    assert repr(encoding) in (result.error or "") and "not asked for" in (result.error or "")
    await scenario.assert_nothing_lost()


async def test_corrupt_gzip_is_a_clear_failure(raw_server, write_config):
    body = gzip.compress(GOOD)
    body = body[:20] + bytes(b ^ 0x5A for b in body[20:60]) + body[60:]
    scenario = Scenario(raw_server, write_config, _serve_bomb(body, "gzip"))
    result, _ = await scenario.good_then_fault()
    assert result.status == "failed"
    assert "corrupt gzip" in (result.error or "")
    await scenario.assert_nothing_lost()


async def test_truncated_gzip_is_not_a_snapshot(raw_server, write_config):
    # A gzip stream cut short (no end block) whose declared length matches what was sent.
    body = gzip.compress(GOOD)[:-40]
    scenario = Scenario(raw_server, write_config, _serve_bomb(body, "gzip"))
    result, _ = await scenario.good_then_fault()
    assert result.status == "failed"
    assert "gzip" in (result.error or "")
    await scenario.assert_nothing_lost()


# --- redirects -----------------------------------------------------------------------------


async def test_redirect_loop_is_cut(raw_server, write_config):
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        target = "/b" if request.target != "/b" else "/a"
        writer.write(response_head(302, "Found", location=target, content_length=0))
        await writer.drain()

    scenario = Scenario(raw_server, write_config, fault)
    result, elapsed = await scenario.good_then_fault()
    assert result.status == "failed"
    assert "more than 5 redirects" in (result.error or "")
    assert len(scenario.server.requests) == 1 + 6  # the good fetch, then 6 hops at most
    assert elapsed < 5
    await scenario.assert_nothing_lost()


async def test_a_moved_page_is_announced_once_and_each_fetch_keeps_its_final_url(
        raw_server, write_config):
    where = {"/news/bridge": None}  # path -> where it redirects to (None: it answers)

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        target = where.get(request.target)
        if target is not None:
            writer.write(response_head(301, "Moved Permanently", location=target,
                                       content_length=0))
        elif request.target in where:
            writer.write(response_head(content_type="text/html", content_length=len(GOOD))
                         + GOOD)
        else:
            writer.write(response_head(404, "Not Found", content_length=0))
        await writer.drain()

    server = raw_server(handler)
    url = server.url("/news/bridge")
    config = load_config(write_config([{"name": "bridge", "url": url}], failure_threshold=1))
    log = Path(config.settings.alert_log)

    assert (await run_once(config)).results[0].status == "new"
    where.update({"/news/bridge": "/2026/bridge", "/2026/bridge": None})
    assert (await run_once(config)).results[0].status == "unchanged"
    assert (await run_once(config)).results[0].status == "unchanged"  # no second alert
    where.update({"/2026/bridge": "/gone"})  # moved again, to a page that is not there
    assert (await run_once(config)).results[0].status == "failed"

    alerts = read_alerts(log)
    assert [a["event"] for a in alerts] == ["page.new", "fetch.redirected", "fetch.failed"]
    assert alerts[1]["moved_from"] == url
    assert alerts[1]["final_url"] == server.url("/2026/bridge")
    assert alerts[2]["final_url"] == server.url("/gone") and alerts[2]["status"] == 404
    db = sqlite3.connect(config.settings.database)
    finals = [row[0] for row in db.execute("SELECT final_url FROM fetches ORDER BY id")]
    assert finals == [url, *[server.url("/2026/bridge")] * 2, server.url("/gone")]
    # The watch remembers where its last good fetch ended, not where the failure did.
    assert db.execute("SELECT final_url FROM watches").fetchall() == [
        (server.url("/2026/bridge"),)]
    db.close()


@pytest.mark.parametrize("location", [
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "file:/etc/passwd",
    "file://localhost/etc/passwd",
    "ftp://127.0.0.1/etc/passwd",
    "gopher://127.0.0.1:70/_GET",
    "javascript:alert(document.cookie)",
    "data:text/html,<p>root:x:0:0:root</p>",
])
async def test_redirect_to_a_non_http_scheme_is_refused(raw_server, write_config, location):
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(302, "Found", location=location, content_length=0))
        await writer.drain()

    # Even with file: URLs allowed for watches, a server may not redirect us into one.
    scenario = Scenario(raw_server, write_config, fault, allow_file_urls=True)
    result, _ = await scenario.good_then_fault()
    assert result.status == "failed"
    assert "refused redirect" in (result.error or "")
    await scenario.assert_nothing_lost()
    database = Path(scenario.config.settings.database)
    for path in (database, database.with_name(database.name + "-wal"), scenario.log):
        if path.exists():
            assert b"root:x:0:0" not in path.read_bytes()


# --- content that is not a page ------------------------------------------------------------


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n"),
    ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)),
    ("image/jpeg; charset=binary", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(64)),
    ("application/octet-stream", bytes(range(256)) * 4),
], ids=["pdf", "png", "jpeg", "octet-stream"])
async def test_non_page_content_type_is_skipped_with_a_clear_error(raw_server, write_config,
                                                                   content_type, body):
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type=content_type, content_length=len(body)) + body)
        await writer.drain()

    scenario = Scenario(raw_server, write_config, fault)
    result, _ = await scenario.good_then_fault()
    assert result.status == "failed"
    main_type = content_type.split(";")[0]
    assert result.error and "not a web page" in result.error and main_type in result.error
    await scenario.assert_nothing_lost()


@pytest.mark.parametrize("body", [
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nstream\n\x00\x01\x02",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
    b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(64),
], ids=["pdf", "png", "zip"])
async def test_binary_body_without_content_type_is_not_parsed_as_a_page(raw_server,
                                                                        write_config, body):
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_length=len(body)) + body)
        await writer.drain()

    scenario = Scenario(raw_server, write_config, fault)
    result, _ = await scenario.good_then_fault()
    assert result.status == "failed"
    assert "not a web page" in (result.error or "")
    await scenario.assert_nothing_lost()


# --- charsets ------------------------------------------------------------------------------


async def _stored_text(config: Config) -> str:
    async with open_store(config.settings.database) as store:
        watch_id = await store.watch_id("bridge")
        assert watch_id is not None
        latest = (await store.snapshots(watch_id))[0]
        return " ".join(str(b["text"]) for b in await store.blocks(latest))


def _page_bytes(paragraphs: list[str], encoding: str, meta: str | None = None) -> bytes:
    head = f"<meta charset='{meta}'>" if meta else ""
    html = (f"<html><head>{head}<title>Café</title></head><body><main><article>"
            "<h1>Café society</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs)
            + "</article></main></body></html>")
    return html.encode(encoding)


WORDS = [
    "«Ελληνικά» on the menu: the café in Thessaloníki serves crème brûlée — “très bien”.",
    "Zürich and Kraków join Malmö in the list of cities with new façades this year.",
    "Straße, smørrebrød and naïve piñatas round out the linguistic tour of the week.",
]


@pytest.mark.parametrize(("declared", "meta", "actual", "words"), [
    # Header says Latin-1, bytes are UTF-8: Latin-1 decodes anything, into mojibake.
    ("iso-8859-1", None, "utf-8", WORDS),
    ("windows-1252", None, "utf-8", WORDS[1:]),
    # <meta> says windows-1252, bytes are UTF-8.
    (None, "windows-1252", "utf-8", WORDS[1:]),
    # Header says UTF-8, bytes are windows-1252 (curly quotes, accents).
    ("utf-8", None, "cp1252", WORDS[1:]),
    # Header names a charset that does not exist.
    ("x-no-such-charset", None, "utf-8", WORDS),
], ids=["latin1-header-utf8-body", "cp1252-header-utf8-body", "cp1252-meta-utf8-body",
        "utf8-header-cp1252-body", "unknown-charset"])
async def test_wrong_declared_charset(raw_server, write_config, declared, meta, actual, words):
    body = _page_bytes(words, actual, meta)
    content_type = f"text/html; charset={declared}" if declared else "text/html"

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type=content_type, content_length=len(body)) + body)
        await writer.drain()

    server = raw_server(handler)
    config = load_config(write_config([{"name": "bridge", "url": server.url("/p")}]))
    run = await run_once(config)
    assert run.results[0].status == "new"
    text = await _stored_text(config)
    for word in ("Zürich", "Kraków", "façades"):
        assert word in text, text
    assert "Ã" not in text and "\ufffd" not in text  # no mojibake, no replacement marks


async def test_invalid_utf8_keeps_the_valid_text(raw_server, write_config):
    # Declared UTF-8, valid but for a few stray bytes: keep the text, mark only the bytes.
    body = _page_bytes(WORDS, "utf-8").replace("Kraków".encode(), b"Krak\xff\xfe")
    body = body.replace("Straße".encode(), b"Stra\xc3")

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html; charset=utf-8",
                                   content_length=len(body)) + body)
        await writer.drain()

    server = raw_server(handler)
    config = load_config(write_config([{"name": "bridge", "url": server.url("/p")}]))
    run = await run_once(config)
    assert run.results[0].status == "new"
    text = await _stored_text(config)
    assert "«Ελληνικά»" in text and "Zürich" in text and "“très bien”" in text
    assert "Krak\ufffd" in text


# --- shapes of page ------------------------------------------------------------------------


@pytest.mark.slow
def test_one_hundred_thousand_nested_divs(raw_server, write_config):
    depth = 100_000
    body = (b"<html><head><title>Deep</title></head><body>" + b"<div>" * depth
            + b"<p>" + PARAS[0].encode() + b"</p>" + b"</div>" * depth + b"</body></html>")

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_length=len(body)) + body)
        await writer.drain()

    server = raw_server(handler)
    config = write_config([{"name": "deep", "url": server.url("/deep")}])
    # A real process: a C-level stack overflow would kill it, not the test run.
    result = subprocess.run([*scrape_command(), "--once", "--config", str(config)],
                            capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 1, result.stderr[-2000:]  # a failed watch, not a crash
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    # Parsing is quadratic in depth, so the page is refused by a linear scan before it is
    # parsed (what the deadline would otherwise catch, 20 s later), and says why.
    assert result.stdout.startswith("failed\tdeep"), result.stdout
    assert "nests deeper than" in result.stdout, result.stdout


async def test_zero_byte_page_is_a_failure_not_an_empty_snapshot(raw_server, write_config):
    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_length=0))
        await writer.drain()

    scenario = Scenario(raw_server, write_config, fault)
    result, _ = await scenario.good_then_fault()
    assert result.status == "failed"
    assert result.error == "empty response body"
    await scenario.assert_nothing_lost()


async def test_whitespace_only_page_is_a_failure(raw_server, write_config):
    body = b" \r\n\t\n" * 50

    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_length=len(body)) + body)
        await writer.drain()

    scenario = Scenario(raw_server, write_config, fault)
    result, _ = await scenario.good_then_fault()
    assert result.status == "failed"
    await scenario.assert_nothing_lost()


ERROR_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'>"
    "<title>Service temporarily unavailable</title></head><body>"
    "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
    "<main><h1>Sorry, something went wrong</h1>"
    "<p>We are having trouble loading this page. Please try again in a few minutes.</p>"
    "</main><footer><p>Copyright the Example Gazette</p></footer></body></html>"
)


async def test_http_200_error_page_is_not_a_silent_story_removal(raw_server, write_config):
    assert len(ERROR_PAGE) < len(GOOD) * 0.75  # "half the size of the usual one"
    page = {"body": ERROR_PAGE.encode()}

    async def fault(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        body = page["body"]
        writer.write(response_head(content_type="text/html; charset=utf-8",
                                   content_length=len(body)) + body)
        await writer.drain()

    scenario = Scenario(raw_server, write_config, fault)
    result, _ = await scenario.good_then_fault()
    # Not taken as the article's new text (which would announce every story removed):
    # a failed fetch that says why, and the good snapshot kept.
    assert result.status == "failed" and "error page" in (result.error or ""), result.error
    await scenario.assert_nothing_lost()


@pytest.mark.slow
async def test_a_page_slow_to_parse_does_not_fail_the_other_watches(raw_server, write_config):
    depth = 40_000
    deep = (b"<html><body>" + b"<div>" * depth + b"<p>" + PARAS[0].encode() + b"</p>"
            + b"</div>" * depth + b"</body></html>")

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        # Every fetch is in flight before the deep page arrives; the others answer later.
        await asyncio.sleep(0.3 if request.target == "/deep" else 0.6)
        body = deep if request.target == "/deep" else GOOD
        writer.write(response_head(content_type="text/html", content_length=len(body)) + body)
        await writer.drain()

    server = raw_server(handler)
    watches: list[dict[str, object]] = [{"name": "deep", "url": server.url("/deep")}]
    watches += [{"name": f"news-{n}", "url": server.url(f"/news/{n}"), "timeout": "1s"}
                for n in range(4)]
    run = await run_once(load_config(write_config(watches)))
    others = {r.watch: r.error or r.status for r in run.results if r.watch != "deep"}
    assert set(others.values()) == {"new"}, others


# --- a hostile robots.txt (fetched before the page, since fetching became polite) ----------


async def _robots_reset(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(response_head(content_type="text/plain", content_length=5000) + b"User-")
    await writer.drain()
    reset(writer)


async def _robots_endless(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(response_head(content_type="text/plain", transfer_encoding="chunked"))
    line = b"Disallow: /private/\n" * 2000
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(line), line))
        await writer.drain()


async def _robots_to_passwd(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(response_head(302, "Found", location="file:///etc/passwd", content_length=0))
    await writer.drain()


@pytest.mark.parametrize(("fault", "status", "error"), [
    (_serve_bomb(gzip_bomb(256 << 20), "gzip"), "new", None),
    (_serve_bomb(b"\x0b" * 64, "br"), "new", None),
    # The site broke the connection: a failed check with that cause, not "blocked".
    (_robots_reset, "failed", "connection reset mid-body (received 5 of 5000 bytes) "
     "(asking for robots.txt)"),
    (_robots_endless, "new", None),
    (_robots_to_passwd, "blocked", "robots.txt unavailable (refused redirect to a file: URL)"),
], ids=["gzip-bomb", "brotli", "reset", "endless", "redirect-to-file"])
async def test_hostile_robots_txt_is_a_clear_outcome(raw_server, write_config, fault, status,
                                                     error):
    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if request.target == "/robots.txt":
            await fault(request, writer)
            return
        writer.write(response_head(content_type="text/html", content_length=len(GOOD)) + GOOD)
        await writer.drain()

    server = raw_server(handler)
    config = load_config(write_config(
        [{"name": "bridge", "url": server.url("/news/bridge"), "robots": True}],
        max_body="1MB"))
    started = time.perf_counter()
    result = (await run_once(config)).results[0]
    assert time.perf_counter() - started < 8
    assert server.requests[0].target == "/robots.txt"  # it was really asked for
    # robots.txt taken as unusable and the page fetched, or the page held back with a
    # reason that names robots.txt: never a crash, never the fault's content.
    assert result.status == status, result
    if error is not None:
        assert (result.error or "").startswith(error), result.error
    if status != "new":
        assert [r.target for r in server.requests] == ["/robots.txt"]
