"""``scrape alerts``, ``scrape history``, ``scrape diff``: reading what the monitor wrote.

Exit codes: 0 (also when there is nothing yet: no log, no database), 1 when nothing at
all could be read, 2 for a usage mistake (a bad --since, an unknown event, watch or
snapshot number).

What pages and servers said (titles, texts, errors) is printed through ``printable``, and
``--json`` lines through ``json_safe``: a page cannot drive the reader's terminal.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from scraper.alerts import json_safe
from scraper.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, _load, main
from scraper.diff import diff_texts
from scraper.errors import ScraperError
from scraper.reader import (
    CAUGHT_UP,
    AlertFilter,
    LogLine,
    Malformed,
    Unreadable,
    check_event_patterns,
    follow_log,
    format_alert,
    format_diff_lines,
    format_time,
    load_comparison,
    load_history,
    log_files,
    parse_since,
    parse_ts,
    printable,
    read_log,
    word_diff,
)
from scraper.store import open_store

_COLOR = {"auto": None, "always": True, "never": False}

config_option = click.option(
    "--config", "config_path", metavar="PATH",
    help="Watch list whose [settings] name the alert log and database.")
color_option = click.option(
    "--color", type=click.Choice(list(_COLOR)), default="auto", show_default=True,
    help="Colour the output: auto colours only on a terminal.")


def _usage_error(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


@contextmanager
def _quiet_broken_pipe() -> Iterator[None]:
    """`scrape alerts | head` closes the pipe early: that is not an error."""
    try:
        yield
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)


# --- scrape alerts --------------------------------------------------------------------


@main.command()
@config_option
@click.option("--log", "log_path", metavar="PATH",
              help="Read this alert log instead of the one the config names.")
@click.option("--since", metavar="WHEN",
              help="Only alerts since then: 30m, 2h, 1d, or a date or time "
                   "(2026-11-26, 2026-11-26T08:00, 2026-11-26T08:00Z; local time "
                   "unless a zone is given).")
@click.option("--watch", "watches", multiple=True, metavar="NAME",
              help="Only alerts of this watch (repeatable).")
@click.option("--event", "events", multiple=True, metavar="EVENT",
              help="Only this event (repeatable); a pattern such as 'story.*' takes a "
                   "family.")
@click.option("--story", metavar="ID", help="Only alerts about this story (id or its start).")
@click.option("--grep", metavar="TEXT",
              help="Only alerts with TEXT (any case) in the title, the diff or the line.")
@click.option("-n", "--last", type=click.IntRange(min=0), metavar="N",
              help="Only the last N matching alerts. With --follow: 10 unless --since "
                   "is given.")
@click.option("-f", "--follow", is_flag=True,
              help="Keep reading as alerts arrive (across log rotation); Ctrl-C stops.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the matching lines unchanged (JSON lines, for jq).")
@click.option("--diff", "show_diff", is_flag=True,
              help="Show each change's diff under its summary.")
@click.option("--utc", is_flag=True, help="Show times in UTC, not local time.")
@color_option
@click.pass_context
def alerts(ctx: click.Context, config_path: str | None, log_path: str | None,
           since: str | None, watches: tuple[str, ...], events: tuple[str, ...],
           story: str | None, grep: str | None, last: int | None, follow: bool,
           as_json: bool, show_diff: bool, utc: bool, color: str) -> None:
    """Read the alert log (and its rotated files), filtered, as text or JSON lines.

    Reads alerts.jsonl.N ... .1 (gzipped or not), then alerts.jsonl, oldest first. A
    malformed line is reported on stderr as PATH:LINE and skipped. With no log yet it
    says so and exits 0.

    \b
    Examples:
      scrape alerts --since 2h --event 'story.*' --diff
      scrape alerts --watch courier-front --grep bridge
      scrape alerts --follow
      scrape alerts --json --since 1d | jq -r 'select(.event == "story.changed") | .title'
    """
    if log_path is not None:
        log = Path(log_path)
    else:
        log = Path(_load(config_path or ctx.obj.get("config_path")).settings.alert_log)
    try:
        selected = AlertFilter(
            since=parse_since(since) if since else None, watches=watches,
            events=check_event_patterns(events), story=story, grep=grep,
        )
    except ValueError as exc:
        _usage_error(str(exc))
    echo_color = _COLOR[color]

    def show(line: LogLine) -> None:
        if as_json:
            click.echo(json_safe(line.raw))  # the same JSON value, escaped where unsafe
            return
        click.echo(format_alert(line.alert, line.ts, utc=utc, diff=show_diff),
                   color=echo_color)
        if show_diff:
            click.echo()

    with _quiet_broken_pipe():
        if follow:
            backlog = last if last is not None else (None if since else 10)
            _follow(log, selected, show, backlog)
        else:
            sys.exit(_read(log, selected, show, last))


def _read(log: Path, selected: AlertFilter, show: Callable[[LogLine], None],
          last: int | None) -> int:
    if not log_files(log):
        if log.exists():
            click.echo(f"error: {log} is not a file", err=True)
            return EXIT_FAILED
        click.echo(f"no alerts yet: {log} does not exist", err=True)
        return EXIT_OK
    kept: deque[LogLine] | None = deque(maxlen=last) if last is not None else None
    lines = unreadable = 0
    for entry in read_log(log):
        if isinstance(entry, Unreadable | Malformed):
            click.echo(str(entry), err=True)
            unreadable += isinstance(entry, Unreadable)
            lines += isinstance(entry, Malformed)
            continue
        lines += 1
        if not selected.matches(entry):
            continue
        if kept is None:
            show(entry)
        else:
            kept.append(entry)
    for entry in kept or ():
        show(entry)
    return EXIT_FAILED if unreadable and not lines else EXIT_OK


def _follow(log: Path, selected: AlertFilter, show: Callable[[LogLine], None],
            backlog: int | None) -> None:
    if not log_files(log):
        click.echo(f"waiting for {log} to appear ...", err=True)
    history: deque[LogLine] | None = deque(maxlen=backlog)
    stop = threading.Event()
    try:
        for entry in follow_log(log, stop=stop):
            if entry is CAUGHT_UP:
                for line in history or ():
                    show(line)
                history = None  # from now on, each line as it comes
                sys.stdout.flush()
            elif isinstance(entry, Unreadable | Malformed):
                click.echo(str(entry), err=True)
            elif isinstance(entry, LogLine) and selected.matches(entry):
                if history is None:
                    show(entry)
                    sys.stdout.flush()
                else:
                    history.append(entry)
    except KeyboardInterrupt:
        stop.set()


# --- scrape history / scrape diff -----------------------------------------------------


def _database(ctx: click.Context, config_path: str | None, db_path: str | None) -> Path:
    if db_path is not None:
        return Path(db_path)
    return Path(_load(config_path or ctx.obj.get("config_path")).settings.database)


def _run(database: Path, work: Callable[[Any], Any]) -> Any:
    """Run ``work(store)``; a missing database is "nothing yet" (and is not created)."""
    if not database.is_file():
        click.echo(f"no history yet: {database} does not exist", err=True)
        sys.exit(EXIT_OK)

    async def run() -> Any:
        async with open_store(database) as store:
            return await work(store)

    try:
        return asyncio.run(run())
    except LookupError as exc:
        _usage_error(str(exc.args[0]))
    except ScraperError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def _when(ts: str, utc: bool) -> str:
    parsed = parse_ts(ts)
    return format_time(parsed, utc=utc) if parsed else printable(ts)


db_option = click.option("--db", "db_path", metavar="PATH",
                         help="Read this database instead of the one the config names.")


@main.command()
@click.argument("watch")
@config_option
@db_option
@click.option("--fetches", default=10, show_default=True, type=click.IntRange(min=0),
              help="How many of the last fetches to list.")
@click.option("--utc", is_flag=True, help="Show times in UTC, not local time.")
@color_option
@click.pass_context
def history(ctx: click.Context, watch: str, config_path: str | None, db_path: str | None,
            fetches: int, utc: bool, color: str) -> None:
    """List a watch's stored snapshots, newest first and numbered, and its last fetches.

    The numbers are what `scrape diff --from N --to M` takes: 1 is the newest.

    \b
    Example:
      scrape history courier-front --fetches 5
    """
    found = _run(_database(ctx, config_path, db_path),
                 lambda store: load_history(store, watch, fetches=fetches))
    echo_color = _COLOR[color]
    click.echo(click.style(printable(found.watch), bold=True) + "  " + printable(found.url),
               color=echo_color)
    click.echo(f"{len(found.snapshots)} snapshots, newest first "
               "(scrape diff --from N --to M compares two):")
    click.echo(click.style("     #  taken                 page size  stories", dim=True),
               color=echo_color)
    for number, snap in enumerate(found.snapshots, start=1):
        click.echo(f"  {number:>4}  {_when(snap.taken_at, utc):<20}  "
                   f"{_size(snap.html_size):>9}  {snap.story_count:>7}")
    if found.fetches:
        click.echo(f"last {len(found.fetches)} fetches:")
    for row in found.fetches:
        outcome = click.style(f"{printable(row.outcome):<12}",
                              fg="red" if row.outcome in ("failed", "blocked") else None)
        status = str(row.status) if row.status is not None else "-"
        line = (f"  {_when(row.fetched_at, utc):<20}  {outcome}  {status:>3}  "
                f"{_size(row.bytes):>9}  {row.duration_ms:>7.0f} ms")
        if row.error:
            line += "  " + printable(row.error)
        click.echo(line, color=echo_color)


@main.command(name="diff")
@click.argument("watch")
@click.option("--story", metavar="ID",
              help="Compare this story's text (id or its start), not the whole page.")
@click.option("--from", "old", type=click.IntRange(min=1), metavar="N",
              help="The older snapshot, numbered as in `scrape history` (1 = newest).")
@click.option("--to", "new", type=click.IntRange(min=1), metavar="M",
              help="The newer snapshot (default 1, the newest).")
@click.option("--word", is_flag=True, help="Mark changed words inside changed blocks.")
@click.option("-U", "--context", default=1, show_default=True, type=click.IntRange(min=0),
              help="Unchanged blocks shown around each change.")
@config_option
@db_option
@color_option
@click.pass_context
def diff_command(ctx: click.Context, watch: str, story: str | None, old: int | None,
                 new: int | None, word: bool, context: int, config_path: str | None,
                 db_path: str | None, color: str) -> None:
    """Diff two stored snapshots of a watch, recomputed from the stored text.

    Default: the last two snapshots; with --story, that story's last change. Page diffs
    compare the extracted blocks (one a line); --story compares the story's headline
    and paragraphs. The watch's ignore patterns are not applied: this is the stored text.

    \b
    Examples:
      scrape diff courier-front
      scrape diff courier-front --from 3 --to 1 --word
      scrape diff courier-bridge --story 3fa2b1c4
    """
    comparison = _run(_database(ctx, config_path, db_path),
                      lambda store: load_comparison(store, watch, story=story, old=old,
                                                    new=new))
    echo_color = _COLOR[color]
    if comparison.note:
        click.echo(f"note: {printable(comparison.note)}", err=True)
    old_label, new_label = printable(comparison.old_label), printable(comparison.new_label)
    if word:
        # Escaped before the diff marks its words: the marks are ours, the text is not.
        body = word_diff([printable(b) for b in comparison.old],
                         [printable(b) for b in comparison.new], context=context)
    else:
        unified = diff_texts(comparison.old, comparison.new, context=context).unified
        body = format_diff_lines(unified)
    if not body:
        click.echo(f"no differences between {old_label} and {new_label}")
        return
    with _quiet_broken_pipe():
        click.echo(click.style(f"--- {old_label}", bold=True), color=echo_color)
        click.echo(click.style(f"+++ {new_label}", bold=True), color=echo_color)
        for line in body:
            click.echo(line, color=echo_color)
