"""Reading what the monitor wrote: the alert log (``scrape alerts``) and the stored
snapshots (``scrape history``, ``scrape diff``).

    _log.py        the log's files, its lines, filters, --follow   (plain functions)
    _view.py       one alert for a person, coloured on a terminal  (plain functions)
    _snapshots.py  a watch's history; two snapshots' texts; word diff
"""

from scraper.reader._log import (
    CAUGHT_UP,
    AlertFilter,
    CaughtUp,
    Entry,
    LogLine,
    Malformed,
    Unreadable,
    check_event_patterns,
    follow_log,
    log_files,
    parse_line,
    parse_since,
    parse_ts,
    read_file,
    read_log,
)
from scraper.reader._snapshots import (
    Comparison,
    History,
    load_comparison,
    load_history,
    story_lines,
    word_diff,
)
from scraper.reader._view import format_alert, format_diff_lines, format_time, printable

__all__ = [
    "CAUGHT_UP",
    "AlertFilter",
    "CaughtUp",
    "Comparison",
    "Entry",
    "History",
    "LogLine",
    "Malformed",
    "Unreadable",
    "check_event_patterns",
    "follow_log",
    "format_alert",
    "format_diff_lines",
    "format_time",
    "load_comparison",
    "load_history",
    "log_files",
    "parse_line",
    "parse_since",
    "parse_ts",
    "printable",
    "read_file",
    "read_log",
    "story_lines",
    "word_diff",
]
