"""Load and check a TOML watch list: ``load_config(path) -> Config``.

Every mistake raises ConfigError naming the file, the watch, the key and (where it can
be found) the line, so ``scrape check`` and every other command report it the same way.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from scraper.errors import ConfigError
from scraper.models import Config, Notify, Settings, Watch

__all__ = ["default_paths", "load_config", "parse_duration", "parse_size"]

DEFAULT_USER_AGENT = "scraper/0.1 (+https://github.com/; news page change monitor)"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}


def parse_duration(value: object) -> float:
    """'30s', '15m', '2h', '1d', '1h30m', '500ms' (or a number of seconds) -> seconds > 0."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s', '15m' or '2h', not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration; write e.g. '30s', '15m', '2h' or '1d'")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError(f"expected a duration such as '15m', got {type(value).__name__}")
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def parse_size(value: object) -> int:
    """'10MB', '512KiB' or a number of bytes -> bytes > 0."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as '10MB', not a boolean")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a size; write e.g. '10MB' or '512KiB'")
        size = int(float(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()])
    else:
        raise ValueError(f"expected a size such as '10MB', got {type(value).__name__}")
    if size <= 0:
        raise ValueError(f"{value!r} must be larger than zero")
    return size


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
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return value


def _non_negative(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"expected a number of at least 0, got {value!r}")
    return float(value)


def _fraction(value: object) -> float:
    number = _non_negative(value)
    if number > 1:
        raise ValueError(f"expected a share between 0 and 1, got {value!r}")
    return number


def _string_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
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
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
    return patterns


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError('expected a table of strings, e.g. { "Accept-Language" = "en" }')
    for name, header_value in value.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ValueError(f"{name!r} is not a valid header name")
        if "\n" in header_value or "\r" in header_value:
            raise ValueError(f"the value of header {name!r} has a line break")
    return tuple(value.items())


def _url(value: object, *, allow_file: bool, base: Path) -> str:
    url = _string(value)
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"{url!r} has no host name")
        if parts.username or parts.password:
            # A URL is shown everywhere (alerts, progress, status): a password in it
            # would be written to all of them.
            raise ValueError("credentials in the URL would be written to the logs; put "
                             'them in headers = { Authorization = "Basic ..." } instead')
        return url
    if parts.scheme == "file":
        if not allow_file:
            raise ValueError(
                f"{url!r} is a file:// URL; set allow_file_urls = true in [settings] to allow it"
            )
        # "file:pages/a.html" is relative to the config file, so a bundled demo works
        # from any checkout; "file:///abs/path" is taken as it is.
        if not parts.netloc and not parts.path.startswith("/"):
            return (base / parts.path).resolve().as_uri()
        return url
    raise ValueError(f"{url!r} is not an http(s) URL")


# --- parsing tables --------------------------------------------------------------------

_SETTINGS_KEYS: dict[str, Callable[[Any], Any]] = {
    "database": _string,
    "alert_log": _string,
    "user_agent": _string,
    "concurrency": _positive_int,
    "per_host": _positive_int,
    "interval": parse_duration,
    "timeout": parse_duration,
    "max_body": parse_size,
    "failure_threshold": _positive_int,
    "keep_snapshots": _positive_int,
    "allow_file_urls": _bool,
    "jitter": _fraction,
    "host_delay": _non_negative,
    "shutdown_timeout": parse_duration,
    "compare_versions": _positive_int,
    "alert_log_max_size": lambda v: 0 if v == 0 else parse_size(v),
    "alert_log_backups": _positive_int,
}

_WATCH_KEYS = {
    "name", "url", "interval", "timeout", "include", "exclude", "headers", "enabled",
    "robots", "ignore", "debounce",
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
    label = name if isinstance(name, str) else f"#{index + 1}"

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
        "name": _string,
        "url": lambda v: _url(v, allow_file=settings.allow_file_urls, base=source.path.parent),
        "interval": parse_duration,
        "timeout": parse_duration,
        "include": _selectors,
        "exclude": _selectors,
        "headers": _headers,
        "enabled": _bool,
        "robots": _bool,
        "ignore": _regexes,
        "debounce": lambda v: 0.0 if v == 0 else parse_duration(v),
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
            raise ValueError(f"unknown event {event!r}; events: {', '.join(EVENTS)}")
    return events


def _parse_notify(raw: object, index: int, watch_names: set[str], source: _Source) -> Notify:
    if not isinstance(raw, dict):
        raise ConfigError(f"[[notify]] number {index + 1} must be a table", path=source.path)
    label = raw.get("name") if isinstance(raw.get("name"), str) else f"#{index + 1}"

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
            raise ValueError(f"expected \"webhook\" or \"apprise\", got {value!r}")
        return str(value)

    def watches(value: object) -> tuple[str, ...]:
        names = _string_list(value)
        unknown = [n for n in names if n not in watch_names]
        if unknown:
            raise ValueError(f"no watch named {', '.join(map(repr, unknown))}")
        return names

    checks: dict[str, Callable[[Any], Any]] = {
        "name": _string, "url": _string, "kind": kind, "events": _events,
        "watches": watches, "headers": _headers, "timeout": parse_duration,
        "retries": lambda v: 0 if v == 0 else _positive_int(v),
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
    seen: dict[str, int] = {}
    for index, table in enumerate(watch_tables):
        watch = _parse_watch(table, index, settings, source)
        if watch.name in seen:
            raise ConfigError(
                f"duplicate watch name (also watch number {seen[watch.name] + 1}); "
                "names must be unique because history is kept by name",
                path=file, watch=watch.name, key="name",
                line=source.line_of("name", "watch", index),
            )
        seen[watch.name] = index
        watches.append(watch)
    notify_tables = raw.get("notify", [])
    if not isinstance(notify_tables, list):
        raise ConfigError("write each target as a [[notify]] table", path=file, key="notify")
    notify: list[Notify] = []
    for index, table in enumerate(notify_tables):
        target = _parse_notify(table, index, set(seen), source)
        if any(other.name == target.name for other in notify):
            raise ConfigError(
                f"duplicate [[notify]] name {target.name!r}; give each target its own name",
                path=file, key="name", line=source.line_of("name", "notify", index),
            )
        notify.append(target)
    return Config(path=str(file), settings=settings, watches=tuple(watches),
                  notify=tuple(notify))
