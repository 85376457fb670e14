"""A site that is down: refused, its name not resolving, TLS spoken to a plain-HTTP port,
accepting and never answering, resetting mid-body. Each case starts with a new watch on a
site that is down (so robots.txt is what cannot be fetched), under ``scrape --once`` and
under the daemon (``scrape run``): a failed check with its cause, never "blocked"; exit 1;
``fetch.failed`` at the threshold (2 here), ``fetch.recovered`` once the site is back;
``scrape status`` counting it failing, then not.

Every site is a real socket on 127.0.0.1. Names under ``.invalid`` are answered by
tests/faults/_resolver.py, never by the system resolver, so no packet leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.cli import main
from tests.conftest import REPO, article_html, read_alerts
from tests.faults import _resolver
from tests.faults.conftest import reset, response_head

PAGE = article_html("Harbour bridge to close for repairs", [
    "The harbour authority confirmed on Monday that the old swing bridge will close.",
    "Engineers found corrosion in the main span during the spring inspection.",
]).encode()
HOST = "news.example.invalid"
CASES = ["refused", "dns", "tls", "timeout", "reset"]
LABELS = {
    "refused": "connection refused (127.0.0.1:{port})",
    "dns": f"name not resolved ({HOST})",
    "tls": "TLS handshake failed (127.0.0.1:{port}: wrong version number)",
    "timeout": "timed out after 0.5 s",
    "reset": "connection reset mid-body (received {half} of {whole} bytes)",
}
ROBOTS = " (asking for robots.txt)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """A web site on one port of 127.0.0.1, in a thread of its own: ``up()`` serves the
    page (robots.txt: 404), ``down(kind)`` breaks it the way a real site breaks."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls  # when up, the site speaks TLS with this
        self.port = free_port()
        self.fault: str | None = None
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None
        self._ssl: ssl.SSLContext | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def up(self) -> None:
        self._listen(self.tls)
        self.fault = None

    def down(self, kind: str) -> None:
        """refused: nothing listens. never: accepts and never answers. reset: the body
        stops half way with a RST. plain: plain HTTP where TLS is expected."""
        if kind == "refused":
            self._run(self._close())
        else:
            self._listen(None)
        self.fault = kind

    def stop(self) -> None:
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self, coro) -> None:  # type: ignore[no-untyped-def]
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def _listen(self, tls: ssl.SSLContext | None) -> None:
        if self._server is None or self._ssl is not tls:
            self._run(self._close())
            self._ssl = tls
            self._run(self._start(tls))

    async def _start(self, tls: ssl.SSLContext | None) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  ssl=tls, reuse_address=True)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()  # their connections are aborted as they end
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.fault == "plain":  # a TLS ClientHello, answered as nginx on :80 does
                await reader.read(1024)
                writer.write(response_head(400, "Bad Request", content_length=0))
                await writer.drain()
                return
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode("latin-1")
                self.requests.append(target)
                if self.fault == "never":
                    await asyncio.sleep(3600)  # until the site is stopped
                if self.fault == "reset":
                    writer.write(response_head(content_type="text/plain",
                                               content_length=len(PAGE)) + PAGE[:len(PAGE) // 2])
                    await writer.drain()
                    await asyncio.sleep(0.05)
                    reset(writer)
                    return
                if target == "/robots.txt":
                    writer.write(response_head(404, "Not Found", content_length=0))
                else:
                    writer.write(response_head(content_type="text/html; charset=utf-8",
                                               content_length=len(PAGE)) + PAGE)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError,
                ssl.SSLError, IndexError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the client trusts it via SSL_CERT_FILE)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class DeadSite:
    """One case: the site, the watch's URL, the environment a scrape process needs, and
    what the error says."""

    def __init__(self, case: str, tmp_path: Path, tls_files: tuple[Path, Path] | None) -> None:
        self.case = case
        tls = None
        self.env = {"SCRAPER_TEST_HOSTS": str(tmp_path / "hosts")}
        if case == "tls":
            assert tls_files is not None
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(*tls_files)
            self.env["SSL_CERT_FILE"] = str(tls_files[0])
        self.site = Site(tls)
        self.hosts = Path(self.env["SCRAPER_TEST_HOSTS"])
        self.hosts.write_text("", encoding="utf-8")
        host = HOST if case == "dns" else "127.0.0.1"
        scheme = "https" if case == "tls" else "http"
        self.url = f"{scheme}://{host}:{self.site.port}/news/bridge"
        self.label = LABELS[case].format(port=self.site.port, half=len(PAGE) // 2,
                                         whole=len(PAGE))

    def up(self) -> None:
        self.site.up()
        self.hosts.write_text(f"{HOST} 127.0.0.1\n", encoding="utf-8")

    def down(self) -> None:
        if self.case == "dns":
            self.site.up()
            self.hosts.write_text("", encoding="utf-8")  # the name is gone
        else:
            self.site.down({"tls": "plain", "timeout": "never"}.get(self.case, self.case))

    def names_asked(self) -> list[str]:
        asked = self.hosts.with_name(self.hosts.name + ".asked")
        return asked.read_text(encoding="utf-8").split() if asked.exists() else []


@pytest.fixture
def dead_site(tmp_path: Path,
              request: pytest.FixtureRequest) -> Iterator[Callable[[str], DeadSite]]:
    made: list[DeadSite] = []

    def make(case: str) -> DeadSite:
        files = request.getfixturevalue("tls_files") if case == "tls" else None
        made.append(DeadSite(case, tmp_path, files))
        return made[-1]

    yield make
    for case in made:
        case.site.stop()


def site_config(write_config: Callable[..., Path], case: DeadSite, **watch: object) -> Path:
    return write_config([{"name": "bridge", "url": case.url, "robots": True, **watch}],
                        failure_threshold=2, timeout="500ms")


def status_of(config: Path) -> tuple[dict[str, object], str]:
    """(the watch's report in ``scrape status --json``, the table's last line)."""
    runner = CliRunner()
    table = runner.invoke(main, ["status", "--config", str(config)])
    as_json = runner.invoke(main, ["status", "--config", str(config), "--json"])
    [report] = json.loads(as_json.output)
    return report, table.output.splitlines()[-1]


def fetch_alerts(log: Path) -> list[tuple[str, object]]:
    return [(str(a["event"]), a.get("error") or a.get("failures"))
            for a in read_alerts(log) if str(a["event"]).startswith("fetch.")]


# --- scrape --once --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_dead_site_under_once(case, dead_site, write_config, monkeypatch):
    site = dead_site(case)
    for name, value in site.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(socket, "getaddrinfo", _resolver.make_getaddrinfo(site.hosts))
    config = site_config(write_config, site)
    log = config.parent / "alerts.jsonl"
    runner = CliRunner()

    def once() -> tuple[int, str]:
        result = runner.invoke(main, ["--once", "--config", str(config)])
        lines = [line for line in result.output.splitlines() if line.startswith(
            ("new\t", "unchanged\t", "failed\t", "blocked\t"))]
        assert len(lines) == 1, result.output
        return result.exit_code, lines[0]

    site.down()
    code, line = once()
    assert code == 1 and line == f"failed\tbridge\t{site.url}\t{site.label}{ROBOTS}"
    assert fetch_alerts(log) == []  # one failure is not an alert
    code, line = once()
    assert code == 1 and line.startswith("failed\t")
    assert fetch_alerts(log) == [("fetch.failed", site.label + ROBOTS)]
    report, summary = status_of(config)
    assert report["consecutive_failures"] == 2 and report["last_error"] == site.label + ROBOTS
    assert summary.startswith("1 watches, 1 failing")
    assert site.site.requests.count("/news/bridge") == 0  # the page is not asked for

    site.up()
    code, line = once()
    assert code == 0 and line.startswith("new\t")
    assert fetch_alerts(log)[1:] == [("fetch.recovered", 2)]
    report, summary = status_of(config)
    assert report["consecutive_failures"] == 0 and summary.startswith("1 watches, 0 failing")

    # Down again, with robots.txt known (the 404, an hour fresh): the page's own failure.
    site.down()
    code, line = once()
    assert code == 1 and line == f"failed\tbridge\t{site.url}\t{site.label}"
    assert "fetch.blocked" not in [a["event"] for a in read_alerts(log)]
    if case == "dns":
        assert set(site.names_asked()) == {HOST}  # answered by the stand-in resolver


# --- scrape run (the daemon) -----------------------------------------------------------------

# The real CLI with the stand-in resolver installed first.
_DAEMON = """
import os, sys
sys.path.insert(0, os.getcwd())
from tests.faults._resolver import install
install(os.environ["SCRAPER_TEST_HOSTS"])
from scraper.cli import main
main(prog_name="scrape")
"""


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("case", CASES)
def test_dead_site_under_the_daemon(case, dead_site, write_config, tmp_path):
    site = dead_site(case)
    config = site_config(write_config, site, interval="300ms")
    config.write_text(config.read_text(encoding="utf-8").replace(
        "[settings]", "[settings]\njitter = 0", 1), encoding="utf-8")
    log = config.parent / "alerts.jsonl"
    site.down()
    daemon_log = tmp_path / "daemon.log"
    with daemon_log.open("wb") as stderr:
        daemon = subprocess.Popen(
            [sys.executable, "-c", _DAEMON, "run", "--config", str(config)], cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=stderr,
            env={**os.environ, **site.env, "NOTIFY_SOCKET": ""})
        try:
            wait_until(lambda: fetch_alerts(log), "fetch.failed")
            assert fetch_alerts(log) == [("fetch.failed", site.label + ROBOTS)]
            report, summary = status_of(config)
            assert report["consecutive_failures"] >= 2
            assert report["last_error"] == site.label + ROBOTS
            assert summary.startswith("1 watches, 1 failing")

            site.up()
            wait_until(lambda: len(fetch_alerts(log)) >= 2, "fetch.recovered")
            events = fetch_alerts(log)
            assert events[0] == ("fetch.failed", site.label + ROBOTS)
            assert events[1][0] == "fetch.recovered" and int(str(events[1][1])) >= 2
            assert len(events) == 2
            wait_until(lambda: status_of(config)[0]["consecutive_failures"] == 0, "status")
            assert status_of(config)[1].startswith("1 watches, 0 failing")
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(20)
    assert code == 0
    lines = [json.loads(line) for line in daemon_log.read_text(encoding="utf-8").splitlines()
             if line.startswith("{")]
    checks = [line for line in lines if line.get("event") == "check.done"]
    assert {c["status"] for c in checks} >= {"failed", "new"}
    assert not [c for c in checks if c["status"] == "blocked"]
    # (A check caught by the switch back to "up" may fail otherwise, so "in", not "==".)
    assert site.label + ROBOTS in {c["error"] for c in checks if c["status"] == "failed"}
    if case == "dns":
        assert set(site.names_asked()) == {HOST}
