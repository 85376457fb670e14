"""The `scrape` command as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from scraper.cli import main
from tests.conftest import REPO, article_html, read_alerts


def scrape(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scraper", *args], capture_output=True, text=True,
        cwd=cwd or REPO, timeout=120, check=False,
    )


def test_once_exit_codes_and_summary(server, write_config):
    server.expect_request("/ok").respond_with_data(
        article_html("Fine", ["A paragraph of real text here."]), content_type="text/html")
    server.expect_request("/gone").respond_with_data("missing", status=404)
    path = write_config([
        {"name": "ok", "url": server.url_for("/ok")},
        {"name": "gone", "url": server.url_for("/gone")},
    ])
    result = scrape("--once", "--config", str(path))
    assert result.returncode == 1, result.stderr
    assert "1 new, 0 changed, 0 unchanged, 1 failed" in result.stdout
    assert "failed: gone" in result.stdout and "HTTP 404" in result.stdout
    # piped output: one plain line a watch
    assert any(line.startswith("new\tok\t") for line in result.stdout.splitlines())

    result = scrape("--once", "--config", str(path), "--watch", "ok")
    assert result.returncode == 0, result.stderr
    assert "0 new, 0 changed, 1 unchanged, 0 failed" in result.stdout


def test_bad_config_exit_2_names_key_and_fetches_nothing(server, write_config, tmp_path):
    server.expect_request("/never").respond_with_data("x")
    path = write_config([{"name": "w", "url": server.url_for("/never"), "intervl": "5m"}])
    result = scrape("--once", "--config", str(path))
    assert result.returncode == 2
    assert "intervl" in result.stderr and str(path) in result.stderr
    assert "did you mean 'interval'" in result.stderr
    assert server.log == []
    assert not (tmp_path / "scraper.db").exists()


def test_unknown_watch_name_is_usage_error(write_config):
    path = write_config([{"name": "w", "url": "https://example.org/"}])
    result = scrape("--once", "--config", str(path), "--watch", "nope")
    assert result.returncode == 2
    assert "no watch named 'nope'" in result.stderr


def test_demo_config_runs_offline(tmp_path):
    # The README's first command: the demo watches bundled pages through file: URLs.
    demo = (REPO / "config" / "demo.toml").read_text()
    config = tmp_path / "demo.toml"
    pages = (REPO / "fixtures" / "demo").as_uri()
    config.write_text(
        demo.replace("file:../fixtures/demo", pages)
        .replace("../state/", str(tmp_path) + "/")
    )
    first = scrape("--once", "--config", str(config))
    assert first.returncode == 0, first.stderr
    alerts = read_alerts(tmp_path / "demo-alerts.jsonl")
    assert len(alerts) >= 3 and {a["event"] for a in alerts} <= {"page.new", "article.found"}
    # The followed front and feed link to seven articles, the same ones in part (the
    # feed's with tracking parameters): each is found once and checked as its own watch.
    found = [a for a in alerts if a["event"] == "article.found"]
    assert len(found) == len({a["url"] for a in found}) == 7
    assert all("utm_" not in a["url"] for a in found)
    checked = {line.split("\t")[1] for line in first.stdout.splitlines() if "\t" in line}
    assert {a["name"] for a in found} <= checked
    second = scrape("--once", "--config", str(config))
    assert second.returncode == 0
    assert len(read_alerts(tmp_path / "demo-alerts.jsonl")) == len(alerts)


def test_check_command(write_config):
    path = write_config([{"name": "w", "url": "https://example.org/"}])
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    assert result.exit_code == 0
    assert "ok, 1 watches" in result.output and "w: https://example.org/" in result.output


def test_every_command_is_documented():
    # As in sqlite-utils: every command has help text with an example.
    for name, command in main.commands.items():
        assert isinstance(command, click.Command)
        assert command.help and "Example" in command.help, name
    assert "Example" in (main.help or "")


def test_an_empty_watch_list_says_so(write_config):
    result = scrape("--once", "--config", str(write_config([])))
    assert result.returncode == 0
    assert "no enabled watches" in result.stderr



def test_once_prints_what_servers_said_escaped(capsys):
    # An error carries a server's text (a reason phrase, a host name): never raw to a tty.
    from scraper.cli import _Progress
    from scraper.pipeline import CheckResult, RunResult

    result = CheckResult("w", "http://127.0.0.1/p", "failed", "HTTP 500 \x1b]0;pwned\x07")
    progress = _Progress(1)
    progress.live = False
    progress(result)
    progress.finish(RunResult((result,)))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert out.count("HTTP 500 \\x1b]0;pwned\\x07") == 2
