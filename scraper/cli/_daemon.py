"""``scrape run`` (the service) and ``scrape status`` (how its watches are doing)."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

import click

from scraper.alerts import configure_logging, json_safe
from scraper.cli import EXIT_FAILED, EXIT_OK, _load, main
from scraper.daemon import WatchReport, serve, watch_reports
from scraper.errors import ScraperError
from scraper.reader import printable


@main.command()
@click.option("--config", "config_path", metavar="PATH", help="Watch list (TOML).")
@click.pass_context
def run(ctx: click.Context, config_path: str | None) -> None:
    """Run as a service: check every enabled watch at its own interval until stopped.

    Politeness as in --once, plus robots.txt, per-host pacing and retries. SIGHUP reloads
    the watch list (a broken one is logged and the old one kept); SIGTERM or Ctrl-C
    stops after the checks in flight finish (at most settings.shutdown_timeout). Logs go
    to stderr (JSON lines when not a terminal); alerts to the alert log. Under systemd
    (Type=notify) it reports readiness, status and watchdog pings.

    \b
    Example:
      scrape run --config /etc/scraper/scraper.toml
      systemctl reload scraper        # same as: kill -HUP <pid>
    """
    config = _load(config_path or ctx.obj.get("config_path"))
    configure_logging()
    try:
        asyncio.run(serve(config))
    except ScraperError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_OK)


@main.command()
@click.option("--config", "config_path", metavar="PATH", help="Watch list (TOML).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object a watch.")
@click.pass_context
def status(ctx: click.Context, config_path: str | None, as_json: bool) -> None:
    """Show each watch's last success, last error, failures, next due time and stories.

    Read from the database, so it works whether or not the service runs. A watch with
    no success in 3 intervals is stale: marked "!" (red on a terminal), and the exit
    status is 1 if any is.

    \b
    Examples:
      scrape status --config /etc/scraper/scraper.toml
      scrape status --json | jq '.[] | select(.stale) | .name'
    """
    config = _load(config_path or ctx.obj.get("config_path"))
    try:
        reports = asyncio.run(watch_reports(config))
    except ScraperError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json_safe(json.dumps([asdict(r) for r in reports], ensure_ascii=False,
                                        indent=2)))
    else:
        _print_table(reports, datetime.now(UTC))
    sys.exit(EXIT_FAILED if any(r.stale for r in reports) else EXIT_OK)


def _print_table(reports: list[WatchReport], now: datetime) -> None:
    if not reports:
        click.echo("no watches")
        return
    headers = ("", "WATCH", "LAST SUCCESS", "FAILS", "NEXT DUE", "STORIES", "LAST ERROR")
    rows = [_row(r, now) for r in reports]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers[:-1])]

    def line(cells: tuple[str, ...]) -> str:
        padded = [c.rjust(w) if i in (3, 5) else c.ljust(w)
                  for i, (c, w) in enumerate(zip(cells, widths, strict=False))]
        return "  ".join([*padded, cells[-1]]).rstrip()

    click.echo(line(headers))
    for report, row in zip(reports, rows, strict=True):
        # click drops the colour when stdout is not a terminal; the "!" stays.
        click.echo(click.style(line(row), fg="red") if report.stale else line(row))
    stale = sum(r.stale for r in reports)
    failing = sum(r.consecutive_failures > 0 for r in reports)
    click.echo(f"{len(reports)} watches, {failing} failing, {stale} stale")
    for r in reports:
        if r.followed_count and r.followed_oldest and r.followed_newest:
            noun = "article" if r.followed_count == 1 else "articles"
            click.echo(f"  {r.name}: following {r.followed_count} {noun}, newest found "
                       f"{_span((now - _when(r.followed_newest)).total_seconds())} ago, "
                       f"oldest {_span((now - _when(r.followed_oldest)).total_seconds())} ago")


def _row(r: WatchReport, now: datetime) -> tuple[str, ...]:
    if not r.in_config:
        due = "not in config"
    elif not r.enabled:
        due = "disabled"
    elif r.next_due_at is None:
        due = "at start"
    else:
        left = (_when(r.next_due_at) - now).total_seconds()
        due = f"in {_span(left)}" if left >= 0 else f"overdue {_span(-left)}"
    if r.last_success_at:
        success = f"{_span((now - _when(r.last_success_at)).total_seconds())} ago"
    else:
        success = "never" if r.last_checked_at else "not checked"
    error = ""
    if r.last_error and r.consecutive_failures:
        error = r.last_error
        if r.last_error_at:
            error += f" ({_span((now - _when(r.last_error_at)).total_seconds())} ago)"
    # Names and errors are shown escaped: an error quotes what a server said.
    return ("!" if r.stale else "", printable(r.name), success, str(r.consecutive_failures),
            due, str(r.story_count), printable(error))


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)  # written by us: always valid, always UTC


def _span(seconds: float) -> str:
    """45s, 12m, 3h5m, 2d4h."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours == 0:
        return f"{minutes}m"
    if days == 0:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
