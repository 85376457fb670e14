"""Mistakes people make in a watch list, through the real ``scrape --once`` command.

tests/test_config.py checks load_config's errors one by one; here each mistake is a file
given to the real program, which must exit 2 before fetching anything, with one message
that names the file, the line or key, and says how to fix it. Every URL is on 127.0.0.1,
so a mistake that slipped through would fetch nothing from outside.
"""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug import Response

from scraper.cli import main
from tests.conftest import article_html, read_alerts
from tests.faults.conftest import run_scrape
from tests.test_daemon import Daemon

URL = "http://127.0.0.1:9/news"  # the discard port: nothing answers there


@dataclass(frozen=True)
class Case:
    text: str | bytes
    line: int | None  # the line the message must name, when there is one to name
    says: tuple[str, ...]  # fragments: the key and how to fix it


def watch(*extra: str, name: str = "front") -> str:
    return "\n".join(["[[watch]]", f'name = "{name}"', f'url = "{URL}"', *extra]) + "\n"


CASES: dict[str, Case] = {
    "typo-in-a-settings-key": Case(
        "[settings]\nconcurency = 4\n" + watch(), 2,
        ("'concurency'", "did you mean 'concurrency'")),
    "typo-in-a-watch-key": Case(
        watch('timout = "30s"'), 4, ("'timout'", "did you mean 'timeout'")),
    "string-where-a-number-goes": Case(
        '[settings]\nconcurrency = "16"\n' + watch(), 2,
        ("'concurrency'", "expected a whole number", "'16'")),
    "number-of-snapshots-as-text": Case(
        '[settings]\nkeep_snapshots = "many"\n' + watch(), 2,
        ("'keep_snapshots'", "expected a whole number")),
    "interval-of-zero": Case(
        watch("interval = 0"), 4, ("'interval'", "longer than zero")),
    "interval-of-0s": Case(
        watch('interval = "0s"'), 4, ("'interval'", "longer than zero")),
    "interval-in-words": Case(
        watch('interval = "15 minutes"'), 4, ("'interval'", "write e.g. '30s', '15m'")),
    "negative-timeout": Case(
        watch('timeout = "-5s"'), 4, ("'timeout'", "write e.g.")),
    "size-in-words": Case(
        '[settings]\nmax_body = "ten megabytes"\n' + watch(), 2,
        ("'max_body'", "write e.g. '10MB'")),
    "two-watches-with-one-name": Case(
        watch() + watch(), 5, ("duplicate watch name", "names must be unique")),
    "invalid-css-selector": Case(
        watch('include = ["div["]'), 4, ("'include'", "invalid CSS selector 'div['")),
    "invalid-css-in-exclude": Case(
        watch('exclude = [".ad >"]'), 4, ("'exclude'", "invalid CSS selector")),
    "invalid-regex": Case(
        watch('ignore = ["(unclosed"]'), 4, ("'ignore'", "not a valid regular expression")),
    "yes-for-a-boolean": Case(
        watch('enabled = "yes"'), 4, ("'enabled'", "expected true or false")),
    "headers-as-a-list": Case(
        watch('headers = ["Authorization: Bearer x"]'), 4,
        ("'headers'", 'e.g. { "Accept-Language" = "en" }')),
    "header-name-with-a-space": Case(
        watch('headers = { "Accept Language" = "en" }'), 4,
        ("'headers'", "not a valid header name")),
    "url-without-a-scheme": Case(
        '[[watch]]\nname = "front"\nurl = "example.org/news"\n', 3,
        ("'url'", "not an http(s) URL")),
    "missing-url": Case(
        '[[watch]]\nname = "front"\n', 2, ("'url'", "missing required key")),
    "name-as-a-number": Case(
        f'[[watch]]\nname = 5\nurl = "{URL}"\n', 2, ("'name'", "expected a non-empty string")),
    "single-bracket-watch-table": Case(
        f'[watch]\nname = "front"\nurl = "{URL}"\n', None, ("write each watch as a [[watch]]",)),
    "plural-watches-table": Case(
        f'[[watches]]\nname = "front"\nurl = "{URL}"\n', None,
        ("'watches'", "did you mean 'watch'")),
    "unclosed-string": Case(
        f'[[watch]]\nname = "front\nurl = "{URL}"\n', None, ("invalid TOML", "line 2")),
    "key-given-twice": Case(
        watch('interval = "5m"', 'interval = "6m"'), None, ("invalid TOML", "line 5")),
    "latin-1-file": Case(
        b'[[watch]]\nname = "caf\xe9"\nurl = "http://127.0.0.1:9/"\n', 2,
        ("not UTF-8", "save the file as UTF-8")),
    "file-url-not-allowed": Case(
        '[[watch]]\nname = "front"\nurl = "file:///etc/passwd"\n', 3,
        ("'url'", "set allow_file_urls = true")),
    # Issue 12 part 4: values and text the loader used to accept, then crash or hang on.
    "host-delay-of-inf": Case(
        "[settings]\nhost_delay = inf\n" + watch(), 2,
        ("'host_delay'", "from 0 to 600", "got inf")),
    "host-delay-of-nan": Case(
        "[settings]\nhost_delay = nan\n" + watch(), 2, ("'host_delay'", "got nan")),
    "negative-host-delay": Case(
        "[settings]\nhost_delay = -1\n" + watch(), 2, ("'host_delay'", "got -1")),
    "interval-of-inf": Case(
        "[settings]\ninterval = inf\n" + watch(), 2,
        ("'interval'", "out of range: write from 100ms to 365d")),
    "interval-of-nan": Case(watch("interval = nan"), 4, ("'interval'", "got nan")),
    "interval-of-1e308": Case(watch("interval = 1e308"), 4, ("'interval'", "out of range")),
    "interval-of-20-digit-days": Case(
        watch('interval = "99999999999999999999d"'), 4, ("'interval'", "out of range")),
    "interval-over-a-year": Case(watch('interval = "366d"'), 4, ("'interval'", "to 365d")),
    "timeout-of-inf": Case(watch("timeout = inf"), 4, ("'timeout'", "from 1ms to 1h")),
    "jitter-of-nan": Case(
        "[settings]\njitter = nan\n" + watch(), 2, ("'jitter'", "from 0 to 1", "got nan")),
    "keep-snapshots-of-2-to-the-63": Case(
        "[settings]\nkeep_snapshots = 9223372036854775808\n" + watch(), 2,
        ("'keep_snapshots'", "from 1 to 1,000,000")),
    "a-5000-digit-number": Case(
        "[settings]\nconcurrency = " + "9" * 5000 + "\n" + watch(), None,
        ("invalid TOML", "a number too long to read")),
    "false-for-zero": Case(
        "[settings]\nalert_log_max_size = false\n" + watch(), 2,
        ("'alert_log_max_size'", "not a boolean")),
    "false-for-zero-debounce": Case(
        watch("debounce = false"), 4, ("'debounce'", "not a boolean")),
    "true-for-one": Case(
        "[settings]\nconcurrency = true\n" + watch(), 2,
        ("'concurrency'", "expected a whole number", "got True")),
    "arabic-indic-digits-in-a-duration": Case(
        watch('interval = "١٥m"'), 4, ("'interval'", "is not a duration")),
    "fullwidth-digits-in-a-size": Case(
        '[settings]\nmax_body = "１０MB"\n' + watch(), 2, ("'max_body'", "is not a size")),
    "user-agent-with-a-newline": Case(
        '[settings]\nuser_agent = "bot\\nX-Injected: 1"\n' + watch(), 2,
        ("'user_agent'", "control character (U+000A)", "printable ASCII only")),
    "user-agent-with-a-nul": Case(
        '[settings]\nuser_agent = "bot\\u0000"\n' + watch(), 2,
        ("'user_agent'", "control character (U+0000)")),
    "user-agent-not-ascii": Case(
        '[settings]\nuser_agent = "robot café"\n' + watch(), 2,
        ("'user_agent'", "non-ASCII character (U+00E9")),
    "header-value-with-a-nul": Case(
        watch('headers = { "X-Token" = "a\\u0000b" }'), 4,
        ("'headers'", "header 'X-Token'", "control character (U+0000)")),
    "header-value-with-a-del": Case(
        watch('headers = { "X-Token" = "a\\u007Fb" }'), 4,
        ("'headers'", "control character (U+007F)")),
    "header-value-not-ascii": Case(
        watch('headers = { "X-Name" = "Zoë" }'), 4, ("'headers'", "non-ASCII character")),
    "header-name-not-a-token": Case(
        watch('headers = { "X:Name" = "1" }'), 4, ("'headers'", "not a valid header name")),
    "500-nested-arrays": Case(
        "x = " + "[" * 500 + "]" * 500 + "\n" + watch(), None,
        ("invalid TOML", "nested too deeply")),
    "names-differing-in-case": Case(
        watch() + watch(name="FRONT"), 5,
        ("duplicate watch name", "'front', but for case or Unicode form")),
    "names-differing-in-unicode-form": Case(
        watch() + watch(name="ｆｒｏｎｔ"), 5, ("duplicate watch name", "Unicode form")),
    "name-with-a-newline": Case(
        watch(name="front\\npage"), 2, ("'name'", "control character (U+000A)")),
    "name-with-an-escape-sequence": Case(
        watch(name="front\\u001b[2J"), 2, ("'name'", "control character (U+001B)")),
    "name-with-a-bidi-override": Case(
        watch(name="front\u202egnp"), 2, ("'name'", "unprintable character (U+202E")),
    "port-out-of-range": Case(
        '[[watch]]\nname = "front"\nurl = "http://127.0.0.1:99999/news"\n', 3,
        ("'url'", "has port '99999'", "from 1 to 65535")),
    "space-in-the-host": Case(
        '[[watch]]\nname = "front"\nurl = "http://127.0.0 .1/news"\n', 3,
        ("'url'", "'127.0.0 .1' is not a valid host name")),
}


# The mistakes of the list run as real processes; the rest run the same click
# command in-process (CliRunner), because each process is mostly 0.5 s of start-up.
AS_PROCESS = ("typo-in-a-watch-key", "string-where-a-number-goes", "interval-of-zero",
              "two-watches-with-one-name", "invalid-css-selector", "latin-1-file",
              "host-delay-of-inf", "user-agent-with-a-newline", "500-nested-arrays")


@dataclass(frozen=True)
class Outcome:
    path: Path
    code: int
    stdout: str
    stderr: str


def _write_case(folder: Path, name: str) -> Path:
    folder.mkdir()
    path = folder / "scraper.toml"
    text = CASES[name].text
    data = text if isinstance(text, bytes) else text.encode()
    if data.startswith(b"[settings]\n"):
        # Our own paths, so a case that passed could not touch the user's database.
        settings = f'database = "{folder}/s.db"\nalert_log = "{folder}/a.jsonl"\n'
        data = data.replace(b"[settings]\n", b"[settings]\n" + settings.encode(), 1)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("bad-config")
    paths = {name: _write_case(base / name, name) for name in CASES}

    def in_process(name: str) -> Outcome:
        folder = str(paths[name].parent)  # default database there, were one created
        result = CliRunner(env={"STATE_DIRECTORY": folder}).invoke(
            main, ["--once", "--config", str(paths[name])])
        return Outcome(paths[name], result.exit_code, result.stdout, result.stderr)

    def as_process(name: str) -> Outcome:
        folder = paths[name].parent
        result = run_scrape("--once", "--config", str(paths[name]), cwd=folder,
                            env={"STATE_DIRECTORY": str(folder)})
        return Outcome(paths[name], result.returncode, result.stdout, result.stderr)

    found = {name: in_process(name) for name in CASES if name not in AS_PROCESS}
    with ThreadPoolExecutor(max_workers=3) as pool:
        found.update(zip(AS_PROCESS, pool.map(as_process, AS_PROCESS), strict=True))
    return found


@pytest.mark.parametrize("name", list(CASES))
def test_config_mistake_is_named_with_its_fix(outcomes, name):
    outcome = outcomes[name]
    case = CASES[name]
    assert outcome.code == 2, outcome.stdout + outcome.stderr
    message = outcome.stderr.strip()
    assert message.startswith(f"error: {outcome.path}"), message  # the file, first
    assert "Traceback" not in message
    assert len(message.splitlines()) == 1, message  # one message, not a cascade
    if case.line is not None:
        # Settings cases gained two lines (our database paths) above the mistake.
        shifted = case.line + 2 if case.text[:10] in ("[settings]", b"[settings]") else case.line
        assert message.startswith(f"error: {outcome.path}:{shifted}:"), message
    for fragment in case.says:
        assert fragment in message, message
    assert outcome.stdout == ""  # nothing checked, nothing fetched
    assert not list(outcome.path.parent.glob("*.db"))  # no database was even created


@pytest.mark.parametrize("name", list(CASES))
def test_scrape_check_reports_the_same_mistake(outcomes, name):
    """``scrape check`` runs the loader --once runs: the same exit code, the same line."""
    outcome = outcomes[name]
    result = CliRunner(env={"STATE_DIRECTORY": str(outcome.path.parent)}).invoke(
        main, ["check", "--config", str(outcome.path)])
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr == outcome.stderr, (result.stderr, outcome.stderr)
    assert result.stdout == ""


def test_daemon_refuses_a_hostile_value_at_start(tmp_path):
    """``scrape run`` with host_delay = inf once spun at 100% CPU and then ignored SIGTERM:
    now it exits 2 at start, with the loader's message, before opening anything."""
    path = tmp_path / "scraper.toml"
    path.write_text(f'[settings]\ndatabase = "{tmp_path}/s.db"\nhost_delay = inf\n'
                    + watch())
    result = run_scrape("run", "--config", str(path), cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (f"error: {path}:3: key 'host_delay': expected a number "
                                     "of seconds from 0 to 600, got inf")
    assert not (tmp_path / "s.db").exists()


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.toml"
    result = run_scrape("--once", "--config", str(missing), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {missing}: file not found (pass --config PATH)"


def test_config_path_is_a_directory(tmp_path):
    result = run_scrape("--once", "--config", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {tmp_path}: cannot read")


def test_config_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "scraper.toml"
    path.write_bytes(b"\xef\xbb\xbf" + watch(f'interval = "5m"\n[settings]\ndatabase = '
                                             f'"{tmp_path}/s.db"').encode())
    result = run_scrape("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # Notepad's BOM is read past
    assert "ok, 1 watches" in result.stdout


# --- the edges of the ranges run ------------------------------------------------------

HIGHEST = {  # every [settings] number at the top of its range (README, "Watch lists")
    "interval": "365d", "timeout": "1h", "shutdown_timeout": "1h", "jitter": 1,
    "host_delay": 600, "keep_snapshots": 1_000_000, "failure_threshold": 1000,
    "compare_versions": 1000, "alert_log_backups": 100, "alert_log_max_size": "1TiB",
    "max_body": "1GiB", "concurrency": 1000, "per_host": 1000,
}
LOWEST = {
    "interval": "100ms", "jitter": 0, "host_delay": 0, "keep_snapshots": 1,
    "failure_threshold": 1, "compare_versions": 1, "alert_log_backups": 1,
    "alert_log_max_size": 1000, "concurrency": 1, "per_host": 1,
}


def test_the_highest_values_run_once_in_status_and_in_the_daemon(server, write_config,
                                                                 tmp_path):
    """What used to crash run and status (a 1e308 s interval, 2^63 snapshots) is refused;
    the largest values still allowed run in --once, status and the daemon."""
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    server.expect_request("/bridge").respond_with_data(
        article_html("Bridge reopens", ["Tolls return in the spring, the council said."]),
        content_type="text/html")
    config = write_config([{"name": "bridge", "url": server.url_for("/bridge"),
                            "debounce": "30d", "timeout": "1h"}], **HIGHEST)

    once = run_scrape("--once", "--config", str(config), cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    assert "1 new, 0 changed" in once.stdout
    assert [a["event"] for a in read_alerts(tmp_path / "alerts.jsonl")] == ["page.new"]

    status = run_scrape("status", "--config", str(config), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "bridge" in status.stdout and "in 364d" in status.stdout  # due in a year

    daemon = Daemon(config, tmp_path / "daemon")
    try:
        daemon.notify.expect("READY=1")  # scheduled a year out, with a year of jitter
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0
    finally:
        daemon.close()
    assert "Traceback" not in daemon.log.read_text(encoding="utf-8")


def test_the_lowest_values_run_once(server, write_config, tmp_path):
    page = {"html": article_html("Bridge reopens", ["Tolls return in the spring."])}
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    server.expect_request("/bridge").respond_with_handler(
        lambda request: Response(page["html"], mimetype="text/html"))
    config = write_config([{"name": "bridge", "url": server.url_for("/bridge"),
                            "debounce": 0}], **LOWEST)
    first = run_scrape("--once", "--config", str(config), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    page["html"] = article_html("Bridge reopens", ["Tolls return in the autumn."])
    second = run_scrape("--once", "--config", str(config), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 new, 1 changed" in second.stdout
    logs = [tmp_path / "alerts.jsonl.1", tmp_path / "alerts.jsonl"]  # rotated at 1000 B
    events = [a["event"] for log in logs for a in read_alerts(log)]
    assert events[0] == "page.new" and len(events) >= 2, events
