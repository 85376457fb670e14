"""Load and check a TOML watch list: ``load_config(path) -> Config``.

Every mistake raises ConfigError naming the file, the watch, the key and (where it can
be found) the line, so ``scrape check`` and every other command report it the same way.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import idna  # httpx's own dependency, for the host names it will send
import platformdirs

from scraper.errors import ConfigError
from scraper.models import Config, Notify, Settings, Watch

__all__ = ["default_paths", "load_config", "parse_duration", "parse_size"]

DEFAULT_USER_AGENT = "scraper/0.1 (+https://github.com/; news page change monitor)"

# ASCII digits only: \d would also take Arabic-Indic or fullwidth digits, which float()
# reads, so "١٥m" would silently mean 15 minutes.
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) *(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}

# The ranges of the numbers a watch list may hold. Each is finite: a value past them is
# a typo (or a torture test), and inf, nan or 1e308 seconds crash or hang whatever
# schedules, sleeps or stores it. The README's key tables list the same ranges.
MILLISECOND, MINUTE, HOUR, DAY = 0.001, 60.0, 3600.0, 86400.0
YEAR = 365 * DAY
DURATION_RANGES: dict[str, tuple[float, float]] = {
    "interval": (0.1, YEAR),  # 100 ms: the tests' quickest daemon; a year: the slowest
    "timeout": (MILLISECOND, HOUR),
    "shutdown_timeout": (MILLISECOND, HOUR),
    "debounce": (MILLISECOND, 30 * DAY),  # or 0: off
    "follow_for": (MINUTE, YEAR),  # how long a followed article is tracked
    # polite.MAX_CRAWL_DELAY: a robots.txt Crawl-delay is capped at the same 10 minutes.
    "host_delay": (0.0, 10 * MINUTE),
}
WHOLE_RANGES: dict[str, tuple[int, int]] = {
    "concurrency": (1, 1000),
    "per_host": (1, 1000),
    "failure_threshold": (1, 1000),
    "keep_snapshots": (1, 1_000_000),
    "compare_versions": (1, 1000),
    "alert_log_backups": (1, 100),
    "follow_max": (1, 100_000),  # articles one followed watch tracks at once
    "retries": (0, 100),  # a [[notify]] target's; 2**100 backoff steps would overflow
}
SIZE_RANGES: dict[str, tuple[int, int]] = {
    "max_body": (1, 1024**3),  # a body is held in memory whole: 1 GiB at most
    "alert_log_max_size": (1000, 1024**4),  # or 0: never rotate in-process
}
MAX_NESTING = 50  # levels of arrays and tables: a watch list needs 4 (watch, table, headers)
MAX_NAME = 200  # characters of a watch or [[notify]] name: it is a column of every table
MAX_HEADER_VALUE = 8192  # characters (ASCII: bytes); servers refuse longer header lines

# Characters a name, path or URL must not hold: controls (newline, tab, escape, NUL,
# DEL, C1) and format characters (bidi overrides, zero-width joiners) break or spoof the
# tables that print them; line and paragraph separators break lines; surrogates and
# unassigned or private-use code points cannot be shown.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: a header name
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def _show(value: object, limit: int = 60) -> str:
    """repr() of a value for a message, clipped: one line, however long the value."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "... (clipped)"


def _show_seconds(seconds: float) -> str:
    """900.0 -> '15m', 0.1 -> '100ms', 31536000.0 -> '365d'."""
    if seconds == 0:
        return "0s"
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def _show_size(size: int) -> str:
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2),
                         ("KiB", 1024), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def _finite(value: int | float) -> float:
    """A TOML number as a float; an int too large for a float is inf (then out of range)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def parse_duration(
    value: object, *, minimum: float = 0.0, maximum: float = 100 * YEAR,
    allow_zero: bool = False,
) -> float:
    """'30s', '15m', '2h', '1d', '1h30m', '500ms' (or a number of seconds) -> seconds.

    The result is finite, above zero (or zero, with ``allow_zero``), at least
    ``minimum`` and at most ``maximum``.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s', '15m' or '2h', not a boolean")
    if isinstance(value, int | float):
        seconds = _finite(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(
                f"{_show(value)} is not a duration; write e.g. '30s', '15m', '2h' or '1d'")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError(f"expected a duration such as '15m', got {type(value).__name__}")
    if math.isnan(seconds):
        raise ValueError("expected a duration such as '15m', got nan")
    if seconds == 0 and allow_zero:
        return 0.0
    if seconds <= 0:
        raise ValueError(f"{_show(value)} must be longer than zero")
    if not minimum <= seconds <= maximum:
        raise ValueError(f"{_show(value)} is out of range: write from "
                         f"{_show_seconds(minimum)} to {_show_seconds(maximum)}")
    return seconds


def parse_size(value: object, *, minimum: int = 1, maximum: int = 1024**4) -> int:
    """'10MB', '512KiB' or a number of bytes -> bytes, from ``minimum`` to ``maximum``."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as '10MB', not a boolean")
    if isinstance(value, int):
        size: float = value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError(f"{_show(value)} is not a size; write e.g. '10MB' or '512KiB'")
        # A float for the product: int() of a 5,000-digit string is refused, float()
        # of it is inf, which the range then rejects.
        size = float(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()]
    else:
        raise ValueError(f"expected a size such as '10MB', got {type(value).__name__}")
    if size < 1:
        raise ValueError(f"{_show(value)} must be larger than zero")
    if not minimum <= size <= maximum:
        raise ValueError(f"{_show(value)} is out of range: write from "
                         f"{_show_size(minimum)} to {_show_size(maximum)}")
    return int(size)


def default_paths() -> tuple[Path, Path]:
    """(database, alert log): systemd's directories when it sets them, else per-user dirs."""
    state = os.environ.get("STATE_DIRECTORY")
    logs = os.environ.get("LOGS_DIRECTORY")
    # systemd may pass several directories separated by ':'; the first is ours.
    state_dir = Path(state.split(":")[0]) if state else platformdirs.user_data_path("scraper")
    logs_dir = Path(logs.split(":")[0]) if logs else state_dir
    return state_dir / "scraper.db", logs_dir / "alerts.jsonl"


# --- checking values --------------------------------------------------------------------


def _string(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {_show(value)}")
    return value.strip()


def _char_name(char: str) -> str:
    return f"U+{ord(char):04X}" + (f" {unicodedata.name(char)}" if unicodedata.name(char, "")
                                   else "")


def _printable(value: object) -> str:
    """A non-empty string that prints on one line: a name, a path or a URL.

    Its characters are shown by ``scrape check``, progress lines and status tables.
    """
    text = _string(value)
    for position, char in enumerate(text):
        if unicodedata.category(char) in _UNPRINTABLE:
            kind = "control" if unicodedata.category(char) == "Cc" else "unprintable"
            raise ValueError(
                f"{_show(text)} has a {kind} character ({_char_name(char)}) at position "
                f"{position + 1}; use letters, digits, spaces and punctuation")
    return text


def _name(value: object) -> str:
    """A watch or target name: printable text that fits a table cell on one line."""
    text = _printable(value)
    if len(text) > MAX_NAME:
        raise ValueError(f"a name of {len(text)} characters is too long (at most {MAX_NAME})")
    return text


def _name_key(name: str) -> str:
    """What makes two names the same name: NFKC + casefold ('Front', 'ＦＲＯＮＴ', 'front')."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return unicodedata.normalize("NFKC", folded)


def _ascii_text(value: str, what: str, *, tab: bool) -> str:
    """``value`` when it is printable ASCII (and tabs, if allowed): what HTTP can carry.

    RFC 9110 would also allow Latin-1 bytes (obs-text) in a field, but httpx encodes
    header values as ASCII, so anything else fails every fetch at send time.
    """
    for position, char in enumerate(value):
        if " " <= char <= "~" or (tab and char == "\t"):
            continue
        kind = "non-ASCII" if ord(char) > 0x7F else "control"
        raise ValueError(
            f"{what} has a {kind} character ({_char_name(char)}) at position {position + 1}; "
            "HTTP headers carry printable ASCII only")
    return value


def _user_agent(value: object) -> str:
    text = _string(value)
    if len(text) > MAX_HEADER_VALUE:
        raise ValueError(f"a user agent of {len(text)} characters is too long "
                         f"(at most {MAX_HEADER_VALUE})")
    return _ascii_text(text, "the user agent", tab=False)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_show(value)}")
    return value


def _whole(key: str) -> Callable[[object], int]:
    """A checker of a whole number in ``WHOLE_RANGES[key]`` (never a boolean)."""
    low, high = WHOLE_RANGES[key]

    def check(value: object) -> int:
        # bool is a subclass of int: false must not be taken for 0.
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high:,}, "
                             f"got {_show(value)}")
        return value

    return check


def _duration(key: str, *, zero_is_off: bool = False) -> Callable[[object], float]:
    """A checker of a duration in ``DURATION_RANGES[key]``; 0 (or "0s") may mean off."""
    low, high = DURATION_RANGES[key]

    def check(value: object) -> float:
        return parse_duration(value, minimum=low, maximum=high, allow_zero=zero_is_off)

    return check


def _seconds(key: str) -> Callable[[object], float]:
    """A checker of a plain number of seconds in ``DURATION_RANGES[key]``, 0 allowed."""
    low, high = DURATION_RANGES[key]

    def check(value: object) -> float:
        number = _finite(value) if isinstance(value, int | float) else math.nan
        if isinstance(value, bool) or not low <= number <= high:  # (nan compares false)
            raise ValueError(f"expected a number of seconds from {low:g} to {high:g}, "
                             f"got {_show(value)}")
        return number

    return check


def _size(key: str, *, zero_is_off: bool = False) -> Callable[[object], int]:
    low, high = SIZE_RANGES[key]

    def check(value: object) -> int:
        if zero_is_off and type(value) is int and value == 0:
            return 0
        return parse_size(value, minimum=low, maximum=high)

    return check


def _fraction(value: object) -> float:
    number = _finite(value) if isinstance(value, int | float) else math.nan
    if isinstance(value, bool) or not 0 <= number <= 1:  # (nan compares false)
        raise ValueError(f"expected a share from 0 to 1, got {_show(value)}")
    return number


def _string_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"expected a list of strings, got {_show(value)}")
    return tuple(v.strip() for v in value)


def _selectors(value: object) -> tuple[str, ...]:
    from scraper.extract import validate_selector  # the extractor is the judge of CSS

    selectors = _string_list(value)
    for selector in selectors:
        validate_selector(selector)
    return selectors


def _regexes(value: object) -> tuple[str, ...]:
    patterns = _string_list(value)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"{_show(pattern)} is not a valid regular expression: {exc}") from exc
        except (OverflowError, RecursionError):  # a{99999999999}, or 1,000 nested groups
            raise ValueError(f"{_show(pattern)} is not a valid regular expression: "
                             "too large or nested too deeply") from None
    return patterns


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError('expected a table of strings, e.g. { "Accept-Language" = "en" }')
    pairs: list[tuple[str, str]] = []
    for name, header_value in value.items():
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"{_show(name)} is not a valid header name (letters, digits "
                             "and !#$%&'*+-.^_`|~ only)")
        if "\n" in header_value or "\r" in header_value:
            raise ValueError(f"the value of header {_show(name)} has a line break")
        if len(header_value) > MAX_HEADER_VALUE:
            raise ValueError(f"the value of header {_show(name)} is longer than "
                             f"{MAX_HEADER_VALUE} characters")
        _ascii_text(header_value, f"the value of header {_show(name)}", tab=True)
        # Whitespace around a field value is not part of it (RFC 9110 5.5).
        pairs.append((name, header_value.strip(" \t")))
    return tuple(pairs)


def _check_host(host: str) -> None:
    """Raise ValueError unless ``host`` is a DNS name or an IP address one could reach."""
    if ":" in host:  # an IPv6 literal (urlsplit took off the brackets)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{_show(host)} is not an IPv6 address") from None
        return
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{_show(host)} is not an IPv4 address") from None
        return
    try:
        # Internationalised names go out in their xn-- form, encoded by the idna package
        # as httpx encodes them (IDNA 2008: no '☃', a ZWJ only in context).
        ascii_host = host if host.isascii() else idna.encode(host.lower()).decode("ascii")
    except UnicodeError as exc:  # idna.IDNAError is one
        raise ValueError(f"{_show(host)} is not a valid host name: {exc}") from None
    labels = ascii_host.removesuffix(".").split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{_show(host)} is not a valid host name (letters, digits, '-' "
                         "and '.' only)")


def _check_port(url: str, netloc: str) -> None:
    """Raise ValueError unless the URL's port, if it has one, is 1 to 65535 in ASCII.

    Read here, not with urlsplit's .port, which takes '٨٠' for 80 and says "0-65535".
    """
    host_port = netloc.rpartition("@")[2]
    after_host = host_port.partition("]")[2] if host_port.startswith("[") else host_port
    if ":" not in after_host:
        return
    port = after_host.partition(":")[2]
    if port and not (re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
        raise ValueError(f"{_show(url)} has port {_show(port)}; a port is a number "
                         "from 1 to 65535")


def _url(value: object, *, allow_file: bool, base: Path) -> str:
    url = _printable(value)  # urlsplit would quietly drop a tab or newline in it
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL"
        raise ValueError(f"{_show(url)} is not a valid URL: {exc}") from None
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"{_show(url)} has no host name")
        if parts.username or parts.password:
            # A URL is shown everywhere (alerts, progress, status): a password in it
            # would be written to all of them.
            raise ValueError("credentials in the URL would be written to the logs; put "
                             'them in headers = { Authorization = "Basic ..." } instead')
        _check_port(url, parts.netloc)
        try:
            _check_host(parts.hostname)
        except ValueError as exc:
            raise ValueError(f"{_show(url)}: {exc}") from None
        return url
    if parts.scheme == "file":
        if not allow_file:
            raise ValueError(
                f"{_show(url)} is a file:// URL; set allow_file_urls = true in [settings] "
                "to allow it"
            )
        # "file:pages/a.html" is relative to the config file, so a bundled demo works
        # from any checkout; "file:///abs/path" is taken as it is.
        if not parts.netloc and not parts.path.startswith("/"):
            try:
                return (base / parts.path).resolve().as_uri()
            except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
                raise ValueError(f"{_show(url)}: cannot resolve the path: {exc}") from None
        return url
    raise ValueError(f"{_show(url)} is not an http(s) URL")


# --- parsing tables --------------------------------------------------------------------

_SETTINGS_KEYS: dict[str, Callable[[Any], Any]] = {
    "database": _printable,
    "alert_log": _printable,
    "user_agent": _user_agent,
    "concurrency": _whole("concurrency"),
    "per_host": _whole("per_host"),
    "interval": _duration("interval"),
    "timeout": _duration("timeout"),
    "max_body": _size("max_body"),
    "failure_threshold": _whole("failure_threshold"),
    "keep_snapshots": _whole("keep_snapshots"),
    "allow_file_urls": _bool,
    "jitter": _fraction,
    "host_delay": _seconds("host_delay"),
    "shutdown_timeout": _duration("shutdown_timeout"),
    "compare_versions": _whole("compare_versions"),
    "alert_log_max_size": _size("alert_log_max_size", zero_is_off=True),
    "alert_log_backups": _whole("alert_log_backups"),
}

_WATCH_KEYS = {
    "name", "url", "interval", "timeout", "include", "exclude", "headers", "enabled",
    "robots", "ignore", "debounce", "follow", "follow_for", "follow_match", "follow_max",
}
_NOTIFY_KEYS = {"name", "url", "kind", "events", "watches", "headers", "timeout", "retries"}


class _Source:
    """The file being parsed, to name it and find lines in errors."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, key: str, table: str, index: int = 0) -> int | None:
        """Line of ``key`` in the index-th ``[table]`` / ``[[table]]`` (tomllib has none)."""
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?\s*(#.*)?$")
        key_line = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        seen = -1
        for number, line in enumerate(self.lines, start=1):
            if header.match(line):
                seen += 1
            elif line.lstrip().startswith("["):
                if seen == index:
                    break
            elif seen == index and key_line.match(line):
                return number
        return None

    def error(
        self, message: str, *, table: str, key: str | None, index: int = 0,
        watch: str | None = None,
    ) -> ConfigError:
        line = self.line_of(key, table, index) if key else None
        return ConfigError(message, path=self.path, watch=watch, key=key, line=line)


def _unknown_key_message(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
    return f"unknown key{hint}"


def _parse_settings(raw: object, source: _Source) -> Settings:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("[settings] must be a table", path=source.path, key="settings")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        check = _SETTINGS_KEYS.get(key)
        if check is None:
            message = _unknown_key_message(key, set(_SETTINGS_KEYS))
            raise source.error(message, table="settings", key=key)
        try:
            values[key] = check(value)
        except ValueError as exc:
            raise source.error(str(exc), table="settings", key=key) from None
    database, alert_log = default_paths()
    base = source.path.parent
    # Relative paths in a config are relative to the config file, not to the cwd.
    for key, default in (("database", database), ("alert_log", alert_log)):
        values[key] = (
            os.path.normpath(base / Path(values[key]).expanduser()) if key in values
            else str(default)
        )
    values.setdefault("user_agent", DEFAULT_USER_AGENT)
    return Settings(**values)


def _parse_watch(raw: object, index: int, settings: Settings, source: _Source) -> Watch:
    if not isinstance(raw, dict):
        raise ConfigError(f"[[watch]] number {index + 1} must be a table", path=source.path)
    name = raw.get("name")
    label = name[:MAX_NAME] if isinstance(name, str) else f"#{index + 1}"

    def fail(message: str, key: str) -> ConfigError:
        return source.error(message, table="watch", key=key, index=index, watch=label)

    for key in raw:
        if key not in _WATCH_KEYS:
            raise fail(_unknown_key_message(key, _WATCH_KEYS), key)
    for required in ("name", "url"):
        if required not in raw:
            raise ConfigError(
                f"missing required key {required!r}", path=source.path, watch=label,
                key=required, line=source.line_of("url" if required == "name" else "name",
                                                  "watch", index),
            )
    checks: dict[str, Callable[[Any], Any]] = {
        "name": _name,
        "url": lambda v: _url(v, allow_file=settings.allow_file_urls, base=source.path.parent),
        "interval": _duration("interval"),
        "timeout": _duration("timeout"),
        "include": _selectors,
        "exclude": _selectors,
        "headers": _headers,
        "enabled": _bool,
        "robots": _bool,
        "ignore": _regexes,
        "debounce": _duration("debounce", zero_is_off=True),
        "follow": _bool,
        "follow_for": _duration("follow_for"),
        "follow_match": _regexes,
        "follow_max": _whole("follow_max"),
    }
    values: dict[str, Any] = {"interval": settings.interval, "timeout": settings.timeout}
    for key, value in raw.items():
        try:
            values[key] = checks[key](value)
        except ValueError as exc:
            raise fail(str(exc), key) from None
    return Watch(**values)


def _events(value: object) -> tuple[str, ...]:
    from scraper.alerts import EVENTS

    events = _string_list(value)
    for event in events:
        if event not in EVENTS:
            raise ValueError(f"unknown event {_show(event)}; events: {', '.join(EVENTS)}")
    return events


def _parse_notify(raw: object, index: int, watch_names: set[str], source: _Source) -> Notify:
    if not isinstance(raw, dict):
        raise ConfigError(f"[[notify]] number {index + 1} must be a table", path=source.path)
    name = raw.get("name")
    label = name[:MAX_NAME] if isinstance(name, str) else f"#{index + 1}"

    def fail(message: str, key: str) -> ConfigError:
        error = source.error(message, table="notify", key=key, index=index)
        error.message = f"notify {label!r}: {message}"
        return error

    for key in raw:
        if key not in _NOTIFY_KEYS:
            raise fail(_unknown_key_message(key, _NOTIFY_KEYS), key)
    if "url" not in raw:
        raise fail("missing required key 'url'", "url")

    def kind(value: object) -> str:
        if value not in ("webhook", "apprise"):
            raise ValueError(f"expected \"webhook\" or \"apprise\", got {_show(value)}")
        return str(value)

    def watches(value: object) -> tuple[str, ...]:
        names = _string_list(value)
        unknown = [n for n in names if n not in watch_names]
        if unknown:
            raise ValueError(f"no watch named {', '.join(map(repr, unknown))}")
        return names

    checks: dict[str, Callable[[Any], Any]] = {
        "name": _name, "url": _printable, "kind": kind, "events": _events,
        "watches": watches, "headers": _headers, "timeout": _duration("timeout"),
        "retries": _whole("retries"),
    }
    values: dict[str, Any] = {"name": label}
    for key, value in raw.items():
        try:
            values[key] = checks[key](value)
        except ValueError as exc:
            raise fail(str(exc), key) from None
    if values.get("kind", "webhook") == "webhook":
        try:
            _url(values["url"], allow_file=False, base=source.path.parent)
        except ValueError as exc:
            raise fail(str(exc), "url") from None
    else:
        try:
            import apprise  # noqa: F401
        except ImportError:
            raise fail("kind \"apprise\" needs Apprise: pip install 'scraper[apprise]'",
                       "kind") from None
    return Notify(**values)


_TOO_DEEP = f"invalid TOML: arrays or tables nested too deeply (over {MAX_NESTING} levels)"


def _depth(value: object) -> int:
    """How deeply lists and tables nest in ``value`` (a table of scalars is 1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_NESTING:  # no need to walk further down than the limit
                stack.extend((child, level + 1) for child in children)
    return deepest


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check a watch list; raise ConfigError on the first mistake."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found (pass --config PATH)", path=file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=file) from None
    try:
        # utf-8-sig: editors that save "UTF-8 with BOM" are common on Windows.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            "not UTF-8 text; save the file as UTF-8", path=file, line=line
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=file) from None
    except RecursionError:  # tomllib recurses once per level of [[[...]]] or {a={...}}
        raise ConfigError(_TOO_DEEP, path=file) from None
    except ValueError:  # int() refuses numbers of over 4,300 digits
        raise ConfigError("invalid TOML: a number too long to read", path=file) from None
    # Where tomllib's recursion gives up depends on the caller's stack, and dotted keys
    # (a.b.c...) nest without recursing at all; one fixed limit makes the answer the same
    # from every command, and keeps repr() and the checks below from recursing too deep.
    if _depth(raw) > MAX_NESTING:
        raise ConfigError(_TOO_DEEP, path=file)
    source = _Source(file, text)
    for key in raw:
        if key not in ("settings", "watch", "notify"):
            raise ConfigError(
                _unknown_key_message(key, {"settings", "watch", "notify"}) + " (top level)",
                path=file, key=key,
            )
    settings = _parse_settings(raw.get("settings"), source)
    watch_tables = raw.get("watch", [])
    if not isinstance(watch_tables, list):
        raise ConfigError("write each watch as a [[watch]] table", path=file, key="watch")
    watches: list[Watch] = []
    seen: dict[str, int] = {}  # _name_key(name) -> index
    for index, table in enumerate(watch_tables):
        watch = _parse_watch(table, index, settings, source)
        key = _name_key(watch.name)
        if key in seen:
            other = watches[seen[key]].name
            # 'Front' and 'front' (or 'ｆｒｏｎｔ') look like one watch in every table.
            alike = "" if other == watch.name else f" {other!r}, but for case or Unicode form"
            raise ConfigError(
                f"duplicate watch name (also watch number {seen[key] + 1}{alike}); "
                "names must be unique because history is kept by name",
                path=file, watch=watch.name, key="name",
                line=source.line_of("name", "watch", index),
            )
        seen[key] = index
        watches.append(watch)
    notify_tables = raw.get("notify", [])
    if not isinstance(notify_tables, list):
        raise ConfigError("write each target as a [[notify]] table", path=file, key="notify")
    notify: list[Notify] = []
    for index, table in enumerate(notify_tables):
        target = _parse_notify(table, index, {w.name for w in watches}, source)
        if any(other.name == target.name for other in notify):
            raise ConfigError(
                f"duplicate [[notify]] name {target.name!r}; give each target its own name",
                path=file, key="name", line=source.line_of("name", "notify", index),
            )
        notify.append(target)
    return Config(path=str(file), settings=settings, watches=tuple(watches),
                  notify=tuple(notify))
