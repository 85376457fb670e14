"""Property tests of the config loader: any TOML document, and any text at all, either
loads as a Config whose every value is in range or is refused with one ConfigError line;
never another exception, never a traceback from ``scrape check``.

The documents are built from hypothesis strategies and rendered to TOML here (no TOML
writer is a dependency). Most use the loader's real keys with values drawn from a mix of
good ones, the values that used to crash it (inf, nan, 1e308, 2**63, false for 0,
Unicode digits, control characters) and random data, so that both the loading and the
refusing paths are exercised, not only "unknown key".
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scraper.cli import main
from scraper.config import (
    DURATION_RANGES,
    MAX_NAME,
    SIZE_RANGES,
    WHOLE_RANGES,
    load_config,
)
from scraper.errors import ConfigError
from scraper.models import Config

# --- a tiny TOML writer --------------------------------------------------------------


def toml_string(text: str) -> str:
    """A TOML basic string: escapes for quotes, backslashes and every control character."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.date):  # datetime too: a TOML local date(-time)
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_string(k)} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(value)


def _header(key: str) -> str:
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) \
        else toml_string(key)


def render(document: dict[str, object], *, sections: bool) -> str:
    """``document`` as TOML: [settings] / [[watch]] sections, or all inline tables."""
    if not sections:
        return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in document.items())
    lines: list[str] = []
    for key, value in document.items():
        if isinstance(value, dict) and key == "settings":
            lines.append(f"[{_header(key)}]")
            lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(t, dict) for t in value):
            for table in value:
                lines.append(f"[[{_header(key)}]]")
                lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items()]
        else:
            lines.insert(0, f"{toml_string(key)} = {toml_value(value)}")  # before any table
    return "\n".join(lines) + "\n"


# --- values ----------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "", " ", "0", "0s", "15m", "1h30m", "500ms", "100ms", "365d", "366d", "-5m",
    "99999999999999999999d", "1" * 400 + "s", "١٥m", "１５m", "१५m", "10MB", "512KiB",
    "１０MB", "9" * 400 + "GB", "0.5B", "1TiB", "a\nb", "a\x00b", "a\x7fb", "café",
    "a\u202eb", "a\u2028b", "\x1b[2J", "x" * 300, "http://127.0.0.1:9/", "http://[::1]:9/",
    "http://127.0.0.1:99999/", "http://127.0.0.1:0/", "http://exa mple.org/",
    "http://bücher.example/", "http://%41.org/", "http://999.1.1.1/", "http://[::1/",
    "https://u:p@127.0.0.1/", "file:page.html", "file:///etc/hosts", "ftp://x/",
    "div[", "article", "(unclosed", "a{99999999999}", "(" * 600 + ")" * 600, "\\d+",
    "webhook", "apprise", "story.changed", "page.new", "Front", "FRONT", "ｆｒｏｎｔ",
]
HOSTILE_NUMBERS = [
    0, 1, -1, 2, 100, 1000, 1001, 1_000_000, 2**31, 2**63 - 1, 2**63, 2**64, 10**30,
    -(2**63), 0.0, -0.0, 0.1, 0.5, 1.0, 1.5, 600.0, 3600.0, 1e308, -1e308, 5e-324,
    math.inf, -math.inf, math.nan, True, False,
]

scalars = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.sampled_from(HOSTILE_NUMBERS),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.text(max_size=30),
    st.dates(),
    st.datetimes(),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)

# Values a key takes in a config that loads: so the accepting path is tried as often.
GOOD = {
    "database": st.just("s.db"), "alert_log": st.just("a.jsonl"),
    "user_agent": st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                          min_size=1, max_size=40),
    "interval": st.sampled_from(["100ms", "15m", "1h30m", "365d", 60, 0.5]),
    "timeout": st.sampled_from(["1ms", "30s", "1h", 5]),
    "shutdown_timeout": st.sampled_from(["10s", "1h"]),
    "debounce": st.sampled_from([0, "0s", "10m", "30d"]),
    "host_delay": st.sampled_from([0, 0.5, 600]),
    "jitter": st.floats(0, 1),
    "max_body": st.sampled_from(["10MB", "1GiB", 1]),
    "alert_log_max_size": st.sampled_from([0, "50MB", "1TiB"]),
    "enabled": st.booleans(), "robots": st.booleans(), "allow_file_urls": st.booleans(),
    "include": st.sampled_from([["main"], "article", [".body p"]]),
    "exclude": st.sampled_from([[".ad"], []]),
    "ignore": st.sampled_from([["\\d+ comments"], []]),
    "follow": st.booleans(),
    "follow_for": st.sampled_from(["1m", "3d", "365d"]),
    "follow_match": st.sampled_from([["/\\d{4}/"], []]),
    "headers": st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
        max_size=2),
    "url": st.sampled_from(["http://127.0.0.1:9/a", "https://[::1]:8443/b",
                            "http://bücher.example/", "http://localhost/c"]),
    "kind": st.just("webhook"),
    "events": st.sampled_from([["story.changed"], []]),
    "retries": st.integers(0, 100),
}
GOOD.update({key: st.integers(low, high) for key, (low, high) in WHOLE_RANGES.items()
             if key not in GOOD})

SETTINGS_KEYS = ["database", "alert_log", "user_agent", "concurrency", "per_host", "interval",
                 "timeout", "max_body", "failure_threshold", "keep_snapshots",
                 "allow_file_urls", "jitter", "host_delay", "shutdown_timeout",
                 "compare_versions", "alert_log_max_size", "alert_log_backups"]
WATCH_KEYS = ["interval", "timeout", "include", "exclude", "headers", "enabled", "robots",
              "ignore", "debounce", "follow", "follow_for", "follow_match", "follow_max"]
NOTIFY_KEYS = ["name", "kind", "events", "headers", "timeout", "retries"]


def value_for(key: str) -> st.SearchStrategy[object]:
    good = GOOD.get(key)
    return values if good is None else st.one_of(good, good, values)


@st.composite
def table(draw: st.DrawFn, keys: list[str], **fixed: st.SearchStrategy[object]
          ) -> dict[str, object]:
    """A table of some of ``keys`` with good values, then (often) one mistake in it:
    a hostile or random value for one key, or a key nobody knows."""
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
    result = {k: draw(v) for k, v in fixed.items()}
    result.update({k: draw(GOOD.get(k, values)) for k in chosen})
    mistake = draw(st.sampled_from(["none", "none", "value", "value", "key"]))
    if mistake == "value":
        result[draw(st.sampled_from([*fixed, *keys]))] = draw(st.one_of(scalars, values))
    elif mistake == "key":
        result[draw(st.text(max_size=10))] = draw(values)
    return result


names = st.one_of(st.sampled_from(["front", "Front", "ｆｒｏｎｔ", "world", "a b", "été"]),
                  st.text(max_size=12))
watch_table = table(WATCH_KEYS, name=names, url=GOOD["url"])
notify_table = table(NOTIFY_KEYS, url=GOOD["url"])
documents = st.fixed_dictionaries(
    {"settings": table(SETTINGS_KEYS), "watch": st.lists(watch_table, max_size=3)},
    optional={"notify": st.lists(notify_table, max_size=2)},
)
anything = st.dictionaries(st.text(max_size=10), values, max_size=4)


def deep(depth: int, kind: str) -> str:
    """A document nested ``depth`` levels: arrays, inline tables, or dotted keys (which
    tomllib nests without recursing) under a real key."""
    if kind == "array":
        return "a = " + "[" * depth + "]" * depth + "\n"
    if kind == "dotted":
        return "[settings]\nhost_delay." + ".".join(["a"] * depth) + " = 1\n"
    return "a = " + "{ b = " * depth + "1" + " }" * depth + "\n"


TEXTS = st.one_of(
    st.tuples(documents, st.booleans()).map(lambda t: render(t[0], sections=t[1])),
    st.tuples(documents, st.booleans()).map(lambda t: render(t[0], sections=t[1])),
    st.tuples(anything, st.booleans()).map(lambda t: render(t[0], sections=t[1])),
    st.tuples(st.integers(0, 3000), st.sampled_from(["array", "table", "dotted"])).map(
        lambda t: deep(*t)),
    st.text(max_size=200),  # raw text, mostly not TOML at all
)


# --- what a loaded Config must hold -------------------------------------------------


def _printable_ascii(text: str, *, tab: bool = False) -> bool:
    return all(" " <= c <= "~" or (tab and c == "\t") for c in text)


def check_config(config: Config) -> None:
    """Every value of a Config that loaded is in its documented range and alphabet."""
    s = config.settings
    for key, (low, high) in WHOLE_RANGES.items():
        if hasattr(s, key):
            value = getattr(s, key)
            assert type(value) is int and low <= value <= high, (key, value)
    for key in ("interval", "timeout", "shutdown_timeout", "host_delay"):
        low, high = DURATION_RANGES[key]
        assert low <= getattr(s, key) <= high, (key, getattr(s, key))
    assert math.isfinite(s.jitter) and 0 <= s.jitter <= 1
    assert SIZE_RANGES["max_body"][0] <= s.max_body <= SIZE_RANGES["max_body"][1]
    assert s.alert_log_max_size == 0 or (
        SIZE_RANGES["alert_log_max_size"][0] <= s.alert_log_max_size
        <= SIZE_RANGES["alert_log_max_size"][1])
    assert _printable_ascii(s.user_agent) and s.user_agent
    assert all(unicodedata.category(c) != "Cc" for c in s.database + s.alert_log)
    keys = set()
    for watch in config.watches:
        assert watch.name and len(watch.name) <= MAX_NAME
        assert all(unicodedata.category(c)[0] not in "C" for c in watch.name), watch.name
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", watch.name)
                                       .casefold())
        assert folded not in keys, watch.name  # no two names alike but for case or form
        keys.add(folded)
        for key in ("interval", "timeout"):
            low, high = DURATION_RANGES[key]
            assert low <= getattr(watch, key) <= high, (key, getattr(watch, key))
        assert watch.debounce == 0 or (
            DURATION_RANGES["debounce"][0] <= watch.debounce <= DURATION_RANGES["debounce"][1])
        low, high = DURATION_RANGES["follow_for"]
        assert low <= watch.follow_for <= high
        assert WHOLE_RANGES["follow_max"][0] <= watch.follow_max <= WHOLE_RANGES["follow_max"][1]
        assert all(_printable_ascii(v, tab=True) for _, v in watch.headers)
        assert all(unicodedata.category(c) != "Cc" for c in watch.url)
    for target in config.notify:
        assert 0 <= target.retries <= WHOLE_RANGES["retries"][1]
        assert math.isfinite(target.timeout) and target.timeout > 0


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config-property")


def _load_or_refuse(path: Path) -> Config | ConfigError:
    try:
        config = load_config(path)
    except ConfigError as error:
        message = str(error)
        assert message.startswith(str(path)), message  # the file, first
        assert len(message.splitlines()) == 1, message  # one line, however odd the input
        return error
    check_config(config)
    return config


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=TEXTS)
@example(text=deep(500, "array"))  # the case: 500 nested arrays
@example(text=deep(1000, "table"))
@example(text=deep(3000, "dotted"))  # once a RecursionError in repr() of the value
@example(text="[settings]\nhost_delay = inf\n")
@example(text="[settings]\nkeep_snapshots = 9223372036854775808\n")
@example(text='[settings]\ninterval = "99999999999999999999d"\n')
@example(text="[settings]\nconcurrency = " + "9" * 5000 + "\n")
def test_any_text_loads_or_is_refused_cleanly(folder: Path, text: str) -> None:
    path = folder / "scraper.toml"
    path.write_text(text, encoding="utf-8")
    _load_or_refuse(path)  # any other exception fails the test, with the example


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=200),
                      st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_any_bytes_load_or_are_refused_cleanly(folder: Path, data: bytes) -> None:
    path = folder / "scraper.toml"
    path.write_bytes(data)
    _load_or_refuse(path)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=TEXTS)
@example(text=deep(500, "array"))
@example(text=deep(991, "array"))  # loaded by load_config, too deep under click: once
def test_scrape_check_exits_0_or_2_without_a_traceback(folder: Path, text: str) -> None:
    path = folder / "check.toml"
    path.write_text(text, encoding="utf-8")
    expected = _load_or_refuse(path)
    result = CliRunner(env={"STATE_DIRECTORY": str(folder)}).invoke(
        main, ["check", "--config", str(path)])
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    if isinstance(expected, ConfigError):
        assert result.exit_code == 2, output
        assert result.stderr == f"error: {expected}\n"  # the loader's message, as it is
        assert result.stdout == ""
    else:
        assert result.exit_code == 0, output
        assert result.stdout.startswith(f"{path}: ok, {len(expected.watches)} watches\n")
        # One line a watch, whatever its name: no name breaks the listing's lines.
        assert len(result.stdout.splitlines()) == 3 + len(expected.watches)
