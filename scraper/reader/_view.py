"""The human view of the alert log: one summary line an alert, its diff on request.

Styled with ``click.style``; ``click.echo(color=None)`` drops the colours when stdout is
not a terminal, so piped output is plain text. Text from pages and servers is shown
through ``printable`` first, on a terminal or not: a title holding an escape sequence
(set the window title, clear the screen) or a bidi override is shown as ``\\x1b]0;...``
or ``\\u202e``, never acted on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import click

from scraper.alerts import TERMINAL_UNSAFE

__all__ = ["format_alert", "format_diff_lines", "format_time", "printable"]

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with what a terminal would act on (C0 and C1 controls, DEL, bidi
    overrides, line separators) written as Python-style escapes: ESC as ``\\x1b``,
    U+202E as ``\\u202e``. With ``newlines``, line breaks are kept (a diff)."""
    if TERMINAL_UNSAFE.search(text) is None:
        return text
    if newlines:
        return "\n".join(TERMINAL_UNSAFE.sub(_escape, line) for line in text.split("\n"))
    return TERMINAL_UNSAFE.sub(_escape, text)


def _printable_values(value: Any, key: str | None = None) -> Any:
    """Every text in an alert made ``printable``; a diff keeps its lines."""
    if isinstance(value, str):
        return printable(value, newlines=key == "diff")
    if isinstance(value, dict):
        return {k: _printable_values(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable_values(v) for v in value]
    return value

_EVENT_COLOURS: dict[str, dict[str, Any]] = {
    "page.new": {"fg": "green"},
    "page.changed": {"fg": "yellow"},
    "page.mixed": {"fg": "magenta"},
    "story.new": {"fg": "green", "bold": True},
    "story.changed": {"fg": "yellow", "bold": True},
    "story.removed": {"fg": "red"},
    "story.duplicate": {"fg": "blue"},
    "fetch.failed": {"fg": "red", "bold": True},
    "fetch.recovered": {"fg": "green"},
    "fetch.blocked": {"fg": "magenta", "bold": True},
}


def format_time(ts: datetime, *, utc: bool = False) -> str:
    if utc:
        return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _plural(n: object, word: str, words: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def _counts(alert: dict[str, Any]) -> str:
    parts = [
        click.style(f"+{alert.get('added', 0)}", fg="green"),
        click.style(f"-{alert.get('removed', 0)}", fg="red"),
        click.style(f"~{alert.get('changed', 0)}", fg="yellow"),
    ]
    return " ".join(parts)


def _summary(alert: dict[str, Any]) -> str:
    """What happened, after the time, event and watch: per event, the useful fields."""
    event = alert["event"]
    title = alert.get("title")
    shown = click.style(str(title), bold=True) if title else click.style("(untitled)", dim=True)
    if event in ("page.changed", "story.changed"):
        return f"{shown}  {_counts(alert)}"
    if event == "page.new":
        stories = alert.get("stories")
        extra = ""
        if isinstance(stories, list):
            extra = f", {_plural(len(stories), 'story', 'stories')}"
        return f"{shown}  ({_plural(alert.get('blocks', '?'), 'block')}{extra})"
    if event == "page.mixed":
        stories = alert.get("stories")
        count = len(stories) if isinstance(stories, list) else "?"
        return f"{shown}  (now {_plural(count, 'story', 'stories')})"
    if event == "story.new":
        return f"{shown}  ({_plural(alert.get('paragraphs', '?'), 'paragraph')})"
    if event == "story.duplicate":
        return f"{shown}  (first seen on {alert.get('first_watch')})"
    if event == "fetch.failed":
        status = alert.get("status")
        error = str(alert.get("error") or "failed")
        if status and str(status) not in error:
            error += f" (HTTP {status})"
        return f"{error}, {_plural(alert.get('failures', '?'), 'time')} in a row"
    if event == "fetch.recovered":
        return f"fetched again after {alert.get('failures', '?')} failures"
    if event == "fetch.blocked":
        return str(alert.get("reason") or "blocked")
    if event == "fetch.redirected":
        return f"now lands on {alert.get('final_url')} (was {alert.get('moved_from')})"
    return shown if title else ""


def format_diff_lines(diff: str) -> list[str]:
    lines = diff.splitlines()
    if len(lines) >= 2 and lines[0].startswith("--- ") and lines[1].startswith("+++ "):
        lines = lines[2:]  # the before/after labels say nothing here
    out = []
    for line in map(printable, lines):
        if line.startswith("@@"):
            out.append(click.style(line, fg="cyan"))
        elif line.startswith("+"):
            out.append(click.style(line, fg="green"))
        elif line.startswith("-"):
            out.append(click.style(line, fg="red"))
        else:
            out.append(line)
    return out


def format_alert(alert: dict[str, Any], ts: datetime, *, utc: bool = False,
                 diff: bool = False) -> str:
    """One alert for a person: time, event, watch, what happened; the diff on request.

    Styled with click.style; ``click.echo`` drops the colours when not on a terminal.
    Every text is ``printable``: the log's lines come from pages and servers.
    """
    alert = _printable_values(alert)
    event = str(alert["event"])
    head = "  ".join([
        click.style(format_time(ts, utc=utc), dim=True),
        click.style(f"{event:<15}", **_EVENT_COLOURS.get(event, {})),
        # Padded so titles line up for the usual short watch names.
        click.style(f"{alert.get('watch', '?')!s:<16}", fg="cyan"),
        _summary(alert),
    ]).rstrip()
    story_id = alert.get("story_id")
    if isinstance(story_id, str):
        head += "  " + click.style(f"[{story_id}]", dim=True)
    if not diff:
        return head
    body: list[str] = []
    if isinstance(alert.get("diff"), str):
        body = format_diff_lines(alert["diff"])
    elif isinstance(alert.get("lead"), str) and alert["lead"]:
        body = [click.style("+" + alert["lead"], fg="green")]
    elif isinstance(alert.get("stories"), list):
        body = [f"  {s.get('title') or '(untitled)'}  [{s.get('story_id')}]"
                for s in alert["stories"] if isinstance(s, dict)]
    return "\n".join([head, *("    " + line for line in body)])
