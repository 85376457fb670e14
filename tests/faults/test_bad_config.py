"""Mistakes people make in a watch list, through the real ``scrape --once`` command.

tests/test_config.py checks load_config's errors one by one; here each mistake is a file
given to the real program, which must exit 2 before fetching anything, with one message
that names the file, the line or key, and says how to fix it. Every URL is on 127.0.0.1,
so a mistake that slipped through would fetch nothing from outside.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.cli import main
from tests.faults.conftest import run_scrape

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
}


# The mistakes of the list run as real processes; the rest run the same click
# command in-process (CliRunner), because each process is mostly 0.5 s of start-up.
AS_PROCESS = ("typo-in-a-watch-key", "string-where-a-number-goes", "interval-of-zero",
              "two-watches-with-one-name", "invalid-css-selector", "latin-1-file")


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
