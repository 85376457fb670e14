"""The ``scrape`` command. Thin: each command parses options, calls one library
function and turns our errors into a clean message and an exit code:
0 ok, 1 some watch failed (the rest still stored), 2 usage or config error.

The group and ``--once`` live here; other commands live in sibling modules, one per
area, imported at the bottom so they register on ``main``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import platformdirs

from scraper.config import load_config
from scraper.errors import ConfigError, ScraperError
from scraper.models import Config
from scraper.pipeline import CheckResult, RunResult, run_once
from scraper.reader import printable

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def default_config_path() -> Path:
    """--config, else $SCRAPER_CONFIG, else ./scraper.toml, else the per-user config."""
    env = os.environ.get("SCRAPER_CONFIG")
    if env:
        return Path(env)
    local = Path("scraper.toml")
    if local.exists():
        return local
    return platformdirs.user_config_path("scraper") / "scraper.toml"


def _load(config_path: str | None) -> Config:
    path = Path(config_path) if config_path else default_config_path()
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _select(config: Config, names: Sequence[str]) -> list:
    if not names:
        return [w for w in config.watches if w.enabled]
    known = {w.name for w in config.watches}
    unknown = [n for n in names if n not in known]
    if unknown:
        click.echo(f"error: {config.path}: no watch named {', '.join(map(repr, unknown))}; "
                   f"known: {', '.join(sorted(known)) or '(none)'}", err=True)
        sys.exit(EXIT_USAGE)
    return [config.watch(n) for n in names]


class _Progress:
    """On a terminal: one live line (done/total, failures). Piped: one plain line a watch."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.live = sys.stderr.isatty()

    def __call__(self, result: CheckResult) -> None:
        self.done += 1
        self.total = max(self.total, self.done)  # a followed watch's articles come after
        self.failed += result.status == "failed"
        if self.live:
            sys.stderr.write(f"\r\033[Kchecked {self.done}/{self.total}"
                             + (f", {self.failed} failed" if self.failed else ""))
            sys.stderr.flush()
        else:
            # Tab-separated fields; an error carries what a server said, so each field
            # is escaped on its own.
            fields = [result.status, result.watch, result.url]
            if result.error:
                fields.append(result.error)
            click.echo("\t".join(printable(f) for f in fields))

    def finish(self, run: RunResult) -> None:
        if self.live:
            sys.stderr.write("\r\033[K")
        summary = (f"{run.count('new')} new, {run.count('changed')} changed, "
                   f"{run.count('unchanged')} unchanged, {run.count('failed')} failed")
        if run.count("blocked"):
            summary += f", {run.count('blocked')} blocked by robots.txt"
        click.echo(summary)
        for result in run.results:
            if result.status in ("failed", "blocked"):
                click.echo(printable(
                    f"  {result.status}: {result.watch} {result.url}: {result.error}"))


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH",
              help="Watch list (TOML). Default: $SCRAPER_CONFIG, ./scraper.toml, or the "
                   "per-user config file.")
@click.option("--once", is_flag=True, help="Check every enabled watch once, then exit.")
@click.option("--watch", "watch_names", multiple=True, metavar="NAME",
              help="With --once: check only this watch (repeatable).")
@click.version_option(package_name="scraper")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, once: bool,
         watch_names: tuple[str, ...]) -> None:
    """Monitor news and article pages for changes, story by story.

    \b
    Examples:
      scrape --once --config config/demo.toml     check every watch once
      scrape --once --watch bbc-front             check one watch
      scrape check --config config/scraper.toml   validate a watch list
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    if ctx.invoked_subcommand is not None:
        return
    if not once:
        click.echo(ctx.get_help())
        ctx.exit(EXIT_OK)
    config = _load(config_path)
    watches = _select(config, watch_names)
    if not watches:
        click.echo(f"{config.path}: no enabled watches; add a [[watch]] table "
                   "(see config/scraper.toml)", err=True)
    progress = _Progress(len(watches))
    try:
        run = asyncio.run(run_once(config, watches, on_result=progress))
    except ScraperError as exc:
        click.echo(f"\nerror: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    progress.finish(run)
    sys.exit(EXIT_FAILED if run.failed else EXIT_OK)


@main.command()
@click.option("--config", "config_path", metavar="PATH", help="Watch list to check.")
@click.pass_context
def check(ctx: click.Context, config_path: str | None) -> None:
    """Validate a watch list and print its watches; exit 2 on a mistake.

    \b
    Example:
      scrape check --config config/scraper.toml
    """
    config = _load(config_path or ctx.obj.get("config_path"))
    settings = config.settings
    click.echo(f"{config.path}: ok, {len(config.watches)} watches")
    click.echo(f"  database:  {settings.database}")
    click.echo(f"  alert log: {settings.alert_log}")
    for watch in config.watches:
        state = "" if watch.enabled else " (disabled)"
        click.echo(f"  {watch.name}: {watch.url} every {watch.interval:g} s{state}")


# Registered last: these modules import ``main`` from here.
from scraper.cli import _daemon  # noqa: E402, F401, I001 (one line per module)
from scraper.cli import _stories  # noqa: E402, F401
from scraper.cli import _alerts  # noqa: E402, F401
