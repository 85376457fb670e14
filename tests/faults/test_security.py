"""Security: configured secrets stay secret, files are private, config never reaches a shell.

All through the real ``scrape`` command against servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from scraper.fetch import fetch_page, make_client
from scraper.models import Settings, Validators, Watch
from tests.conftest import article_html
from tests.faults.conftest import (
    RawRequest,
    check_alert_log,
    check_database,
    has_command,
    response_head,
    run_scrape,
    scrape_command,
)

PAGE = article_html("Council papers published", [
    "The council published the papers for next week's budget meeting on Friday.",
    "They show a shortfall in the roads budget that officers want to close by March.",
]).encode()


def _secrets() -> dict[str, str]:
    token = uuid.uuid4().hex
    return {
        "Authorization": f"Bearer auth-{token}",
        "Cookie": f"session=cookie-{token}; theme=dark",
        "X-Api-Key": f"key-{token}",
    }


def _secret_values(headers: dict[str, str]) -> list[bytes]:
    # The distinctive part of each value: what a leak would carry, whole or in part.
    return [value.split("-", 1)[1].split(";")[0].encode() for value in headers.values()]


def _files_holding(directory: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {n.decode()}" for n in needles if n in data]
    return found


def test_secrets_in_headers_never_reach_logs_alerts_or_the_database(raw_server,
                                                                     write_config,
                                                                     tmp_path):
    headers = _secrets()
    state = {"status": 401}

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        if state["status"] == 401:
            body = b"<p>Unauthorized</p>"
            writer.write(response_head(401, "Unauthorized", content_type="text/html",
                                       www_authenticate='Bearer realm="news"',
                                       content_length=len(body)) + body)
        else:
            writer.write(response_head(content_type="text/html",
                                       content_length=len(PAGE)) + PAGE)
        await writer.drain()

    server = raw_server(handler)
    state_dir = tmp_path / "state"
    config = write_config(
        [{"name": "council", "url": server.url("/papers"), "headers": headers}],
        database=str(state_dir / "scraper.db"), alert_log=str(state_dir / "alerts.jsonl"),
        failure_threshold=1,
    )
    outputs = []
    # A failure (fetch.failed), a recovery (fetch.recovered, page.new), the check command.
    for status in (401, 200):
        state["status"] = status
        result = run_scrape("--once", "--config", str(config))
        outputs += [result.stdout, result.stderr]
    result = run_scrape("check", "--config", str(config))
    outputs += [result.stdout, result.stderr]
    # The secrets were really sent: a test that sent none would prove nothing.
    sent = server.requests[0].headers
    assert sent["authorization"] == headers["Authorization"]
    assert sent["cookie"] == headers["Cookie"] and sent["x-api-key"] == headers["X-Api-Key"]

    needles = _secret_values(headers)
    for output in outputs:
        for needle in needles:
            assert needle.decode() not in output, output
    assert _files_holding(state_dir, needles) == []
    db = check_database(state_dir / "scraper.db")
    try:
        events = [a["event"] for a in check_alert_log(state_dir / "alerts.jsonl", db)]
    finally:
        db.close()
    assert events == ["fetch.failed", "fetch.recovered", "page.new"]


@pytest.mark.slow
def test_secrets_stay_out_of_the_daemon_log(raw_server, write_config, tmp_path):
    if not has_command("run"):
        pytest.skip("`scrape run` (the daemon) does not exist yet")
    headers = _secrets()

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_length=len(PAGE)) + PAGE)
        await writer.drain()

    server = raw_server(handler)
    config = write_config([{"name": "council", "url": server.url("/papers"),
                            "headers": headers, "interval": "1s"}],
                          host_delay=0, shutdown_timeout="2s")
    daemon = subprocess.Popen([*scrape_command(), "run", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = daemon.communicate(timeout=2.5)
    except subprocess.TimeoutExpired:
        daemon.terminate()
        stdout, stderr = daemon.communicate(timeout=30)
    assert len(server.requests) >= 1 and "council" in stdout + stderr
    for needle in _secret_values(headers):
        assert needle.decode() not in stdout + stderr
    leaks = _files_holding(tmp_path, _secret_values(headers))
    assert [leak for leak in leaks if not leak.startswith(f"{config.name}:")] == []


async def test_credentials_are_not_sent_to_another_origin_on_redirect(raw_server):
    headers = _secrets()

    async def elsewhere(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_length=len(PAGE)) + PAGE)
        await writer.drain()

    other = raw_server(elsewhere)

    async def origin(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        # /same redirects within the origin, /away to another port: another origin.
        target = "/final" if request.target == "/same" else other.url("/landing")
        if request.target == "/final":
            writer.write(response_head(content_type="text/html", content_length=len(PAGE))
                         + PAGE)
        else:
            writer.write(response_head(302, "Found", location=target, content_length=0))
        await writer.drain()

    home = raw_server(origin)
    settings = Settings(database="", alert_log="", user_agent="scraper-test/1")
    async with make_client(settings) as client:
        for path in ("/same", "/away"):
            watch = Watch(name="w", url=home.url(path), interval=60, timeout=5,
                          headers=tuple(headers.items()))
            result = await fetch_page(client, watch, Validators(), settings)
            assert result.outcome == "ok", result.error
    final = next(r for r in home.requests if r.target == "/final")
    assert final.headers["authorization"] == headers["Authorization"]  # same origin: kept
    assert len(other.requests) == 1
    landed = other.requests[0].headers
    assert "authorization" not in landed and "cookie" not in landed
    assert landed["x-api-key"] == headers["X-Api-Key"]  # not a known credential header


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir() if p.is_file()}


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_database_and_log_files_are_private(raw_server, write_config, tmp_path, umask):
    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_length=len(PAGE)) + PAGE)
        await writer.drain()

    server = raw_server(handler)
    state_dir = tmp_path / "state"
    config = write_config([{"name": "council", "url": server.url("/papers")}],
                          database=str(state_dir / "scraper.db"),
                          alert_log=str(state_dir / "alerts.jsonl"))
    result = subprocess.run([*scrape_command(), "--once", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, check=False,
                            preexec_fn=lambda: os.umask(umask))  # a careless umask too
    assert result.returncode == 0, result.stderr
    modes = _modes(state_dir)
    assert modes["scraper.db"] == 0o600
    assert modes["alerts.jsonl"] == 0o640
    for name, mode in modes.items():
        # -wal, -shm, a lock file, rotated logs: never readable by others, never writable
        # by the group.
        assert mode & 0o027 == 0, f"{name} is {oct(mode)}"
        if name.startswith("scraper.db"):
            assert mode & 0o077 == 0, f"{name} is {oct(mode)}"


@pytest.mark.parametrize("field", ["url", "header", "name"])
def test_config_values_never_reach_a_shell(raw_server, write_config, tmp_path, field):
    marker = tmp_path / f"pwned-{field}"
    backtick = tmp_path / f"pwned-{field}-backtick"
    injections = [f"$(touch {marker})", f"`touch {backtick}`", f"; touch {marker};",
                  f"| touch {marker}"]

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type="text/html", content_length=len(PAGE)) + PAGE)
        await writer.drain()

    server = raw_server(handler)
    watches = []
    for n, text in enumerate(injections):
        watch: dict[str, object] = {"name": f"w{n}", "url": server.url(f"/p{n}")}
        if field == "url":
            watch["url"] = server.url(f"/p{n}?q={text}")
        elif field == "header":
            watch["headers"] = {"X-Note": text}
        else:
            watch["name"] = f"w{n} {text}"
        watches.append(watch)
    config = write_config(watches)
    result = run_scrape("--once", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(server.requests) == len(injections)  # fetched as plain data
    assert not marker.exists() and not backtick.exists()
    assert not list(tmp_path.rglob("pwned*"))
    if field == "header":
        assert {r.headers["x-note"] for r in server.requests} == set(injections)
