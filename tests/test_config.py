from __future__ import annotations

from pathlib import Path

import pytest

from scraper.config import load_config, parse_duration, parse_size
from scraper.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400),
     ("500ms", 0.5), (45, 45)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15", "15 minutes", "0s", "-5m", "m", "", True, "1x"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_sizes():
    assert parse_size("10MB") == 10_000_000
    assert parse_size("512KiB") == 512 * 1024
    with pytest.raises(ValueError):
        parse_size("lots")


def test_bundled_configs_load():
    demo = load_config(REPO / "config" / "demo.toml")
    assert len(demo.watches) >= 3
    assert all(w.url.startswith("file:///") for w in demo.watches)
    assert Path(demo.settings.database).is_absolute() or demo.settings.database.startswith(
        str(REPO.name)) or "state" in demo.settings.database
    example = load_config(REPO / "config" / "scraper.toml")
    assert any(not w.enabled for w in example.watches)
    assert all(w.url.startswith("https://") for w in example.watches)


def test_defaults_and_overrides(write_config, tmp_path):
    config = load_config(write_config(
        [{"name": "a", "url": "https://example.org/a", "interval": "2h",
          "include": ["article"], "exclude": [".ad"], "headers": {"X-Test": "1"}}],
        interval="15m", timeout="10s", concurrency=3,
    ))
    watch = config.watches[0]
    assert watch.interval == 7200 and watch.timeout == 10
    assert watch.include == ("article",) and watch.exclude == (".ad",)
    assert watch.headers == (("X-Test", "1"),)
    assert config.settings.concurrency == 3
    assert config.settings.failure_threshold == 3
    assert config.settings.max_body == 10_000_000


def test_default_paths_follow_systemd(monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    monkeypatch.setenv("LOGS_DIRECTORY", str(tmp_path / "logs"))
    path = tmp_path / "c.toml"
    path.write_text('[[watch]]\nname = "a"\nurl = "https://example.org/"\n')
    settings = load_config(path).settings
    assert settings.database == str(tmp_path / "state" / "scraper.db")
    assert settings.alert_log == str(tmp_path / "logs" / "alerts.jsonl")


def _error(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def test_unknown_key_names_file_watch_key_and_line(tmp_path):
    error = _error(tmp_path, (
        '[[watch]]\nname = "ok"\nurl = "https://example.org/"\n\n'
        '[[watch]]\nname = "typo"\nurl = "https://example.org/b"\nintervall = "5m"\n'
    ))
    message = str(error)
    assert str(tmp_path / "bad.toml") in message
    assert error.watch == "typo" and error.key == "intervall" and error.line == 8
    assert "did you mean 'interval'" in message
    assert ":8:" in message


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ('url = "ftp://example.org/"', "url", "not an http(s) URL"),
        ('url = "https://"', "url", "no host"),
        ('url = "https://example.org/"\ninterval = "soon"', "interval", "not a duration"),
        ('url = "https://example.org/"\ninterval = 0', "interval", "longer than zero"),
        ('url = "https://example.org/"\ninclude = ["div["]', "include", "CSS selector"),
        ('url = "https://example.org/"\nenabled = "yes"', "enabled", "true or false"),
        ('url = "https://example.org/"\nignore = ["(unclosed"]', "ignore", "regular expression"),
        ('url = "file:///etc/hosts"', "url", "allow_file_urls"),
        ('url = "https://me:secret@example.org/"', "url", "put them in headers"),
    ],
)
def test_bad_watch_values(tmp_path, body, key, fragment):
    error = _error(tmp_path, f'[[watch]]\nname = "w"\n{body}\n')
    assert error.key == key
    assert error.watch == "w"
    assert fragment in str(error)
    assert error.line is not None


def test_duplicate_names(tmp_path):
    error = _error(tmp_path, (
        '[[watch]]\nname = "w"\nurl = "https://example.org/"\n'
        '[[watch]]\nname = "w"\nurl = "https://example.org/2"\n'
    ))
    assert "duplicate watch name" in str(error)
    assert error.line == 5


def test_bad_settings(tmp_path):
    error = _error(tmp_path, '[settings]\nconcurrency = "many"\n')
    assert error.key == "concurrency" and error.line == 2
    error = _error(tmp_path, '[settings]\ntimout = "5s"\n')
    assert "did you mean 'timeout'" in str(error)


def test_missing_file_and_bad_toml_and_encoding(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    assert "invalid TOML" in str(_error(tmp_path, "[[watch]\nname="))
    path = tmp_path / "latin.toml"
    path.write_bytes(b'[[watch]]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_config(path)
    assert info.value.line == 2


def test_missing_url(tmp_path):
    error = _error(tmp_path, '[[watch]]\nname = "w"\n')
    assert error.key == "url" and "missing" in str(error)


def test_relative_file_url_resolves_against_config(tmp_path):
    (tmp_path / "pages").mkdir()
    error_free = tmp_path / "c.toml"
    error_free.write_text(
        '[settings]\nallow_file_urls = true\ndatabase = "db/s.db"\n'
        '[[watch]]\nname = "p"\nurl = "file:pages/a.html"\n'
    )
    config = load_config(error_free)
    assert config.watches[0].url == (tmp_path / "pages" / "a.html").as_uri()
    assert config.settings.database == str(tmp_path / "db" / "s.db")
