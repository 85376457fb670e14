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


# --- ranges: every number finite and bounded (issue 12 part 4) ---------------------------

WATCH = '[[watch]]\nname = "w"\nurl = "https://example.org/"\n'


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("host_delay", "inf", "from 0 to 600, got inf"),
        ("host_delay", "nan", "got nan"),
        ("host_delay", "-0.5", "got -0.5"),
        ("host_delay", "601", "got 601"),
        ("host_delay", "true", "got True"),
        ("interval", "inf", "out of range: write from 100ms to 365d"),
        ("interval", "-inf", "longer than zero"),
        ("interval", "nan", "got nan"),
        ("interval", "1e308", "out of range"),
        ("interval", "10" + "0" * 400, "out of range"),  # too big for a float
        ("interval", '"99999999999999999999d"', "out of range"),
        ("interval", '"366d"', "to 365d"),
        ("interval", '"50ms"', "from 100ms"),
        ("timeout", '"2h"', "from 1ms to 1h"),
        ("timeout", '"0.1ms"', "from 1ms"),
        ("shutdown_timeout", "inf", "to 1h"),
        ("jitter", "nan", "from 0 to 1, got nan"),
        ("jitter", "1.5", "got 1.5"),
        ("jitter", "-0.1", "got -0.1"),
        ("jitter", "false", "got False"),
        ("keep_snapshots", "9223372036854775808", "from 1 to 1,000,000"),
        ("keep_snapshots", "1000001", "from 1 to 1,000,000"),
        ("keep_snapshots", "0", "from 1"),
        ("keep_snapshots", "5.0", "got 5.0"),
        ("concurrency", "1001", "from 1 to 1,000"),
        ("concurrency", "true", "got True"),
        ("failure_threshold", "false", "got False"),
        ("compare_versions", "-1", "got -1"),
        ("alert_log_backups", "101", "from 1 to 100"),
        ("max_body", '"2GiB"', "out of range: write from 1B to 1GiB"),
        ("max_body", '"' + "9" * 400 + 'MB"', "out of range"),
        ("max_body", "true", "not a boolean"),
        ("alert_log_max_size", "false", "not a boolean"),
        ("alert_log_max_size", '"10B"', "from 1KB"),
        ("alert_log_max_size", '"2TiB"', "to 1TiB"),
    ],
)
def test_settings_numbers_have_finite_ranges(tmp_path, key, value, fragment):
    error = _error(tmp_path, f"[settings]\n{key} = {value}\n" + WATCH)
    assert error.key == key and error.line == 2
    assert fragment in error.message, error.message


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ("interval = inf", "interval", "out of range"),
        ("interval = nan", "interval", "got nan"),
        ("timeout = 1e308", "timeout", "out of range"),
        ("debounce = false", "debounce", "not a boolean"),
        ("debounce = true", "debounce", "not a boolean"),
        ('debounce = "31d"', "debounce", "to 30d"),
        ("debounce = -1", "debounce", "longer than zero"),
        ("debounce = nan", "debounce", "got nan"),
    ],
)
def test_watch_numbers_have_finite_ranges(tmp_path, body, key, fragment):
    error = _error(tmp_path, WATCH + body + "\n")
    assert error.key == key and error.watch == "w" and error.line == 4
    assert fragment in error.message, error.message


def test_values_at_the_edges_of_the_ranges_load(tmp_path):
    path = tmp_path / "edges.toml"
    path.write_text(
        '[settings]\ninterval = "365d"\ntimeout = "1ms"\nhost_delay = 600\njitter = 1\n'
        'keep_snapshots = 1000000\nmax_body = "1GiB"\nalert_log_max_size = "1TiB"\n'
        "alert_log_backups = 100\n"
        + WATCH + 'debounce = "30d"\n'
        + '[[watch]]\nname = "v"\nurl = "https://example.org/v"\ninterval = "100ms"\n'
        'debounce = "0s"\n'
        + '[[notify]]\nurl = "https://example.org/hook"\nretries = 0\n'
    )
    config = load_config(path)
    s = config.settings
    assert (s.interval, s.timeout, s.host_delay, s.jitter) == (365 * 86400, 0.001, 600, 1)
    assert (s.keep_snapshots, s.max_body, s.alert_log_max_size) == (
        1_000_000, 1024**3, 1024**4)
    assert [(w.interval, w.debounce) for w in config.watches] == [
        (365 * 86400, 30 * 86400), (0.1, 0)]
    assert config.notify[0].retries == 0


def test_zero_means_off_only_where_documented(tmp_path):
    path = tmp_path / "zero.toml"
    path.write_text("[settings]\nalert_log_max_size = 0\nhost_delay = 0\njitter = 0\n"
                    + WATCH + "debounce = 0\n")
    config = load_config(path)
    assert config.settings.alert_log_max_size == 0 and config.watches[0].debounce == 0
    assert "longer than zero" in str(_error(tmp_path, WATCH + "timeout = 0\n"))


def test_notify_numbers_have_ranges(tmp_path):
    hook = WATCH + '[[notify]]\nname = "hook"\nurl = "https://example.org/hook"\n'
    for body, fragment in [("retries = false", "got False"), ("retries = 101", "to 100"),
                           ("timeout = inf", "to 1h"), ("timeout = nan", "got nan")]:
        error = _error(tmp_path, hook + body + "\n")
        assert error.key == body.split()[0] and error.line == 7
        assert fragment in error.message and "notify 'hook'" in error.message


@pytest.mark.parametrize(
    "text",
    ["١٥m", "１５m", "१५m", "٥s", "1٥m", "15\u00a0m"],  # Arabic-Indic, fullwidth, Devanagari
)
def test_durations_take_ascii_digits_only(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["１０MB", "١٠MB", "10\u00a0MB", "10 ＭB"])
def test_sizes_take_ascii_digits_only(text):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e308, 10**400, "1" * 400 + "d"])
def test_parse_duration_is_finite_by_itself(value):
    """The reader's --since uses it too: no overflow in datetime arithmetic after it."""
    with pytest.raises(ValueError):
        parse_duration(value)


# --- alphabets: text fields that HTTP or a terminal cannot carry -----------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (r'"bot\nX-Evil: 1"', "control character (U+000A)"),
        (r'"bot\rx"', "control character (U+000D)"),
        (r'"bot\u0000"', "control character (U+0000)"),
        (r'"bot\u007F"', "control character (U+007F)"),
        (r'"bot\tx"', "control character (U+0009)"),
        ('"robot café"', "non-ASCII character (U+00E9 LATIN SMALL LETTER E WITH ACUTE)"),
        ('"bot\u0085x"', "non-ASCII character (U+0085"),
        ('"' + "a" * 8193 + '"', "too long"),
    ],
)
def test_user_agent_is_printable_ascii(tmp_path, value, fragment):
    error = _error(tmp_path, f"[settings]\nuser_agent = {value}\n" + WATCH)
    assert error.key == "user_agent" and error.line == 2
    assert fragment in error.message, error.message


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        (r'{ "X-A" = "a\u0000b" }', "control character (U+0000)"),
        (r'{ "X-A" = "a\u007Fb" }', "control character (U+007F)"),
        (r'{ "X-A" = "a\u001Bb" }', "control character (U+001B)"),
        (r'{ "X-A" = "a\nb" }', "line break"),
        ('{ "X-A" = "Zoë" }', "non-ASCII character (U+00EB"),
        ('{ "X A" = "1" }', "not a valid header name"),
        ('{ "X:A" = "1" }', "not a valid header name"),
        ('{ "Ä" = "1" }', "not a valid header name"),
        ('{ "X-١" = "1" }', "not a valid header name"),
        ('{ "" = "1" }', "not a valid header name"),
    ],
)
def test_header_names_are_tokens_and_values_printable_ascii(tmp_path, headers, fragment):
    error = _error(tmp_path, WATCH + f"headers = {headers}\n")
    assert error.key == "headers" and error.line == 4
    assert fragment in error.message, error.message


def test_header_values_keep_tabs_and_lose_outer_whitespace(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text(WATCH + r'headers = { "X-A" = " a\tb " }' + "\n")
    assert load_config(path).watches[0].headers == (("X-A", "a\tb"),)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        (r"front\npage", "control character (U+000A)"),
        (r"front\u001b[2J", "control character (U+001B)"),
        (r"front\u0000", "control character (U+0000)"),
        (r"a\tb", "control character (U+0009)"),
        ("front\u0085page", "control character (U+0085"),
        ("front\u2028page", "unprintable character (U+2028 LINE SEPARATOR)"),
        ("front\u202e", "unprintable character (U+202E"),
        ("front\u200b", "unprintable character (U+200B"),
        ("x" * 201, "too long (at most 200)"),
    ],
)
def test_watch_names_are_printable(tmp_path, name, fragment):
    error = _error(tmp_path, f'[[watch]]\nname = "{name}"\nurl = "https://example.org/"\n')
    assert error.key == "name" and error.line == 2
    assert fragment in error.message, error.message


@pytest.mark.parametrize(
    ("first", "second"),
    [("front", "Front"), ("front", "FRONT"), ("front", "ｆｒｏｎｔ"), ("Straße", "STRASSE"),
     ("café", "cafe\u0301"), ("ﬁle", "file")],  # NFC vs NFD; a ligature
)
def test_names_alike_but_for_case_or_unicode_form_are_duplicates(tmp_path, first, second):
    error = _error(tmp_path, (
        f'[[watch]]\nname = "{first}"\nurl = "https://example.org/"\n'
        f'[[watch]]\nname = "{second}"\nurl = "https://example.org/2"\n'
    ))
    assert "duplicate watch name" in error.message
    assert f"{first!r}, but for case or Unicode form" in error.message
    assert error.line == 5 and error.watch == second


def test_names_with_spaces_punctuation_and_letters_of_any_script_load(tmp_path):
    path = tmp_path / "names.toml"
    names = ["BBC front page", "Le Monde: à la une", "Αθήνα", "東京新聞", "naïve-café_2"]
    path.write_text("".join(f'[[watch]]\nname = "{n}"\nurl = "https://example.org/{i}"\n'
                            for i, n in enumerate(names)), encoding="utf-8")
    assert [w.name for w in load_config(path).watches] == names


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://example.org:99999/", "has port '99999'; a port is a number from 1 to 65535"),
        ("http://example.org:0/", "has port '0'"),
        ("http://example.org:٨٠/", "has port '٨٠'"),
        ("http://example.org:8x/", "has port '8x'"),
        ("http://[::1]:70000/", "has port '70000'"),
        ("http://exa mple.org/", "'exa mple.org' is not a valid host name"),
        ("http://ex%41mple.org/", "is not a valid host name"),
        ("http://ex_a!.org/", "is not a valid host name"),
        ("http://a..b/", "is not a valid host name"),
        ("http://-a.org/", "is not a valid host name"),
        ("http://" + "a" * 64 + ".org/", "is not a valid host name"),
        ("http://999.0.0.1/", "is not an IPv4 address"),
        ("http://[::g]/", "is not a valid URL"),
        ("http://[::1/", "Invalid IPv6 URL"),
        (r"http://example.org/a\nb", "control character (U+000A)"),
        (r"http://exa\tmple.org/", "control character (U+0009)"),
    ],
)
def test_urls_that_cannot_be_fetched_are_refused_at_load(tmp_path, url, fragment):
    error = _error(tmp_path, f'[[watch]]\nname = "w"\nurl = "{url}"\n')
    assert error.key == "url" and error.line == 3
    assert fragment in error.message, error.message


@pytest.mark.parametrize(
    "url",
    ["http://example.org:8080/a b", "https://[::1]:8443/", "http://127.0.0.1/",
     "http://bücher.example/", "http://xn--bcher-kva.example/", "http://localhost:1/",
     "https://EXAMPLE.org./news", "http://under_score.example/"],
)
def test_urls_that_can_be_fetched_load(tmp_path, url):
    path = tmp_path / "u.toml"
    path.write_text(f'[[watch]]\nname = "w"\nurl = "{url}"\n', encoding="utf-8")
    assert load_config(path).watches[0].url == url


def test_paths_refuse_control_characters(tmp_path):
    error = _error(tmp_path, '[settings]\ndatabase = "s\\u0000.db"\n' + WATCH)
    assert error.key == "database" and "control character (U+0000)" in error.message


# --- TOML the parser cannot take -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x = " + "[" * 500 + "]" * 500 + "\n", "nested too deeply"),
        ("x = " + "{ a = " * 500 + "1" + " }" * 500 + "\n", "nested too deeply"),
        ("[settings]\nconcurrency = " + "9" * 5000 + "\n", "a number too long to read"),
    ],
)
def test_toml_too_deep_or_too_long_is_a_clean_error(tmp_path, text, fragment):
    error = _error(tmp_path, text)
    assert error.message == f"invalid TOML: {fragment}" or fragment in error.message
    assert str(error).startswith(str(tmp_path / "bad.toml"))


@pytest.mark.parametrize("pattern", ["a{99999999999}", "(" * 1000 + ")" * 1000])
def test_regexes_too_large_or_deep_are_refused(tmp_path, pattern):
    error = _error(tmp_path, WATCH + f"ignore = ['{pattern}']\n")
    assert error.key == "ignore" and "too large or nested too deeply" in error.message


def test_long_values_are_clipped_in_messages(tmp_path):
    error = _error(tmp_path, '[settings]\ninterval = "' + "x" * 100_000 + '"\n')
    assert len(str(error)) < 300 and "(clipped)" in str(error)


def test_readme_lists_the_ranges_the_loader_checks():
    """The README's key tables say each range; they must say the loader's."""
    from scraper.config import DURATION_RANGES, WHOLE_RANGES

    cells: dict[str, set[str]] = {}
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        row = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(row) == 4 and row[0].startswith("`") and row[0].endswith("`"):
            cells.setdefault(row[0].strip("`"), set()).add(row[2])
    for key, (low, high) in WHOLE_RANGES.items():
        if key in cells:
            assert cells[key] == {f"{low:,} to {high:,}"}, key
    assert cells["interval"] == {"`100ms` to `365d`"}
    assert DURATION_RANGES["interval"] == (0.1, 365 * 86400)
    assert cells["timeout"] == {"`1ms` to `1h`"} and DURATION_RANGES["timeout"] == (0.001, 3600)
    assert cells["debounce"] == {"0, or `1ms` to `30d`"}
    assert DURATION_RANGES["debounce"] == (0.001, 30 * 86400)
    assert cells["host_delay"] == {"0 to 600 (seconds, the cap of a `Crawl-delay` too)"}
    from scraper.polite import MAX_CRAWL_DELAY

    assert DURATION_RANGES["host_delay"] == (0, MAX_CRAWL_DELAY)
    assert set(WHOLE_RANGES) - {"retries"} <= set(cells)  # every count is in a table


def test_relative_file_url_into_a_symlink_loop_is_a_clean_error(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    error = _error(tmp_path, '[settings]\nallow_file_urls = true\n'
                             '[[watch]]\nname = "p"\nurl = "file:loop/a.html"\n')
    assert error.key == "url" and "cannot resolve the path" in error.message


def test_nesting_has_one_limit_whatever_the_caller_or_the_syntax(tmp_path):
    """Dotted keys nest without recursion in tomllib (then repr() of the value recursed
    too deep); arrays recurse, to a depth that depended on the caller's stack."""
    dotted = _error(tmp_path, "[settings]\nhost_delay." + ".".join(["a"] * 3000) + " = 1\n")
    assert "nested too deeply (over 50 levels)" in dotted.message
    # The document is level 1, so 49 brackets make 50 levels: the limit, still read.
    at_limit = _error(tmp_path, "x = " + "[" * 49 + "]" * 49 + "\n")
    assert "unknown key" in at_limit.message
    over = _error(tmp_path, "x = " + "[" * 50 + "]" * 50 + "\n")
    assert "nested too deeply" in over.message


@pytest.mark.parametrize("host", ["☃.net", "⌘.ws", "a.\u0301b.example"])
def test_international_host_names_are_judged_as_httpx_sends_them(tmp_path, host):
    """IDNA 2008, the idna package httpx encodes with: what it refuses is refused at load."""
    error = _error(tmp_path, f'[[watch]]\nname = "w"\nurl = "http://{host}/"\n')
    assert error.key == "url" and "is not a valid host name" in error.message
