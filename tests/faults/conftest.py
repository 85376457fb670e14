"""Fault fixtures: a raw TCP server on 127.0.0.1 that misbehaves on purpose, and the real
``scrape`` command run as a process.

The raw server runs its own event loop in a thread, so it serves both async tests (which
own another loop) and tests that wait on a subprocess. Each connection is handed to a
handler coroutine after the request head is read; the handler writes whatever bytes it
likes (a reset, a drip, a bomb) to the socket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, article_html


@dataclass
class RawRequest:
    method: str
    target: str
    headers: dict[str, str]  # names lower-cased


Handler = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    """An HTTP/1.1-ish server that gives the handler the socket, not a response API."""

    handler: Handler
    requests: list[RawRequest] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("raw server did not start")

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:  # keep-alive: one handler call per request on this connection
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                request = RawRequest(method, target, headers)
                self.requests.append(request)
                await self.handler(request, writer)
                if writer.is_closing():
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Handler], RawServer]]:
    """raw_server(handler) -> a started RawServer; every one is stopped after the test."""
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        server = RawServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def response_head(status: int = 200, reason: str = "OK", **headers: str | int) -> bytes:
    """Status line and headers; keyword names use '_' for '-' (content_type=...)."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST, not FIN: SO_LINGER with a zero timeout."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def scrape_command() -> list[str]:
    """The installed ``scrape`` script beside this interpreter, else ``python -m scraper``."""
    script = Path(sys.executable).parent / "scrape"
    return [str(script)] if script.exists() else [sys.executable, "-m", "scraper"]


def run_scrape(*args: str, cwd: Path | None = None, timeout: float = 120,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*scrape_command(), *args], capture_output=True, text=True, cwd=cwd or REPO,
        timeout=timeout, check=False, env={**os.environ, **(env or {})},
    )


def has_command(name: str) -> bool:
    """Whether ``scrape NAME`` exists (another engineer may not have landed it yet)."""
    result = run_scrape(name, "--help", timeout=60)
    return result.returncode == 0


# --- a newsroom: many watches whose pages change on demand ---------------------------------

_SYLLABLES = ("ka", "lo", "mi", "ter", "van", "su", "ret", "pol", "dia", "nek", "or", "bel",
              "tas", "gru", "fen", "ip", "sor", "la", "mun", "dre", "zo", "wil", "ca", "net")


def words(rng: random.Random, count: int) -> str:
    return " ".join("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
                    for _ in range(count))


UPDATE_LINE = re.compile(r"^([-+])Update (\d+) for desk-(\d+)\b", re.M)


class Newsroom:
    """``count`` article pages on a raw server, ``/desk/<i>``; ``bump(i)`` edits page i.

    Every page is its own story: its words come from a generator seeded with its number,
    and each carries a ``desk-NNN`` token, so text found under the wrong watch shows. The
    edit rewrites one line, ``Update <version> for desk-NNN``, so an alert's diff says
    which versions it goes between.
    """

    def __init__(self, start: Callable[[Handler], RawServer], count: int, *,
                 delay: float = 0.0, seed: int = 0, padding: int = 0) -> None:
        self.count = count
        self.delay = delay
        self.padding = padding  # bytes of incompressible comment per page: fills disks
        self.versions = [1] * count
        self._rng = random.Random(seed)
        self._texts = []
        for i in range(count):
            rng = random.Random(f"desk-{i}")
            self._texts.append((words(rng, 3).title(), [words(rng, 16) for _ in range(3)]))
        self.server = start(self._handle)

    def token(self, i: int) -> str:
        return f"desk-{i:03d}"

    def url(self, i: int) -> str:
        return self.server.url(f"/desk/{i}")

    def html(self, i: int) -> bytes:
        title, paragraphs = self._texts[i]
        token = self.token(i)
        lines = [f"{paragraphs[0]} ({token}).",
                 f"Update {self.versions[i]} for {token}: {paragraphs[1]}.",
                 f"{paragraphs[2]} ({token})."]
        html = article_html(f"{title} {token}", lines).encode()
        if self.padding:
            noise = random.Random(f"{i}-{self.versions[i]}").randbytes(self.padding * 3 // 4)
            html = html.replace(b"</body>", b"<!-- " + base64.b64encode(noise) + b" --></body>")
        return html

    def bump(self, i: int) -> None:
        self.versions[i] += 1

    def watches(self, **extra: object) -> list[dict[str, object]]:
        return [{"name": self.token(i), "url": self.url(i), **extra} for i in range(self.count)]

    async def _handle(self, request: RawRequest, writer: asyncio.StreamWriter) -> None:
        try:
            i = int(request.target.rsplit("/", 1)[1])
            body = self.html(i)
        except (IndexError, ValueError):
            writer.write(response_head(404, "Not Found", content_length=0))
            return
        if self.delay:
            await asyncio.sleep(self._rng.uniform(self.delay / 2, self.delay))
        writer.write(response_head(content_type="text/html; charset=utf-8",
                                   content_length=len(body)) + body)
        await writer.drain()


def check_database(path: Path) -> sqlite3.Connection:
    """integrity_check is ok and every snapshot's contents exist and decompress."""
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    rows = db.execute(
        "SELECT s.id, h.data, b.data FROM snapshots s "
        "LEFT JOIN contents h ON h.hash = s.html_hash "
        "LEFT JOIN contents b ON b.hash = s.blocks_hash"
    ).fetchall()
    for snapshot_id, html, blocks in rows:
        assert html is not None and blocks is not None, f"snapshot {snapshot_id} half-written"
        zlib.decompress(html).decode("utf-8")
        assert isinstance(json.loads(zlib.decompress(blocks)), list)
    for (text,) in db.execute(
        "SELECT c.data FROM snapshot_stories ss LEFT JOIN contents c ON c.hash = ss.text_hash"
    ):
        assert text is not None, "a snapshot's story text is missing"
        json.loads(zlib.decompress(text))
    return db


def check_alert_log(log: Path, db: sqlite3.Connection) -> list[dict[str, object]]:
    """Whole JSON lines, each alert_id once, and exactly the alerts the database holds."""
    alerts = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    ids = [str(a["alert_id"]) for a in alerts]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"announced twice: {sorted(duplicates)[:5]}"
    stored = {row[0] for row in db.execute("SELECT alert_id FROM alerts")}
    assert set(ids) == stored, "the log and the database disagree on what was announced"
    pending = db.execute("SELECT COUNT(*) FROM alerts WHERE emitted_at IS NULL").fetchone()[0]
    assert pending == 0
    return alerts


def first_versions(db: sqlite3.Connection) -> dict[str, int]:
    """Watch name -> the version its first stored snapshot shows."""
    versions = {}
    for name, html in db.execute(
        "SELECT w.name, c.data FROM watches w JOIN snapshots s ON s.id = "
        "(SELECT MIN(id) FROM snapshots WHERE watch_id = w.id) JOIN contents c "
        "ON c.hash = s.html_hash"
    ):
        match = re.search(r"Update (\d+) for desk-", zlib.decompress(html).decode())
        assert match, name
        versions[name] = int(match[1])
    return versions


def check_change_chains(alerts: list[dict[str, object]], newsroom: Newsroom,
                        db: sqlite3.Connection) -> None:
    """Per watch: page.new once, then story.changed alerts whose versions chain without a
    gap or a repeat (v1 -> v3, v3 -> v4, ...) from the first snapshot's version up to the
    version served last: every change announced, none twice."""
    by_watch: dict[str, list[dict[str, object]]] = {}
    for alert in alerts:
        by_watch.setdefault(str(alert["watch"]), []).append(alert)
    firsts = first_versions(db)
    for i in range(newsroom.count):
        token = newsroom.token(i)
        events = by_watch.get(token, [])
        assert [a["event"] for a in events[:1]] == ["page.new"], (token, events[:1])
        assert [a["event"] for a in events].count("page.new") == 1, token
        version = firsts[token]
        for alert in events[1:]:
            assert alert["event"] == "story.changed", (token, alert["event"])
            marks = {sign: (int(v), int(d)) for sign, v, d in
                     UPDATE_LINE.findall(str(alert["diff"]))}
            (old, old_desk), (new, new_desk) = marks["-"], marks["+"]
            assert old_desk == new_desk == i, f"{token} announced desk {old_desk}/{new_desk}"
            assert old == version, f"{token}: v{version} then a change from v{old}"
            assert new > old
            version = new
        assert version == newsroom.versions[i], f"{token}: last change not announced"


@pytest.fixture
def write_config(write_config: Callable[..., Path]) -> Callable[..., Path]:
    """tests/conftest.py's write_config, without politeness unless a test asks for it.

    Each fault test aims at one stage; robots.txt requests and one request a second per
    host (the defaults since fetching became polite) would only slow these tests and send
    requests the servers here count. test_hostile_servers covers a hostile robots.txt.
    """

    def write(watches: list[dict[str, object]], **settings: object) -> Path:
        settings.setdefault("host_delay", 0)
        settings.setdefault("per_host", 64)
        return write_config([{"robots": False, **watch} for watch in watches], **settings)

    return write


def log_events(path: Path, name: str) -> list[dict[str, object]]:
    """The JSON log records of one event in a process's log file (other lines skipped)."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == name:
                found.append(record)
    return found


def wait_for(condition: Callable[[], object], what: str = "", timeout: float = 90.0) -> None:
    """Poll until ``condition()`` holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or condition} after {timeout:g} s")
        time.sleep(0.05)
