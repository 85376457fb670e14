"""``scrape stories``: the story inspector. Its input is anybody's file or page, so it is
analysed within the same bounds as a watched page (scraper.analyse), and a page that
cannot be is a one-line error with exit status 1, never a traceback."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from scraper.analyse import Analyser
from scraper.cli import EXIT_FAILED, EXIT_USAGE, main
from scraper.config import DEFAULT_USER_AGENT
from scraper.errors import PageError
from scraper.fetch import decode_body, fetch_page, make_client
from scraper.models import Settings, StorySplit, Validators, Watch
from scraper.stories import render_split_json, render_split_text

MAX_FILE = Settings(database="", alert_log="", user_agent="").max_body  # bytes, as fetched


async def _fetch_url(url: str) -> str:
    settings = Settings(database="", alert_log="", user_agent=DEFAULT_USER_AGENT)
    watch = Watch(name="stories", url=url, interval=settings.interval,
                  timeout=settings.timeout)
    async with make_client(settings) as client:
        result = await fetch_page(client, watch, Validators(), settings)
    if result.outcome != "ok" or result.text is None:
        click.echo(f"error: {url}: {result.error or result.outcome}", err=True)
        sys.exit(EXIT_FAILED)
    return result.text


def _looks_like_html(text: str) -> bool:
    head = text[:2000].lower()
    return "<html" in head or "<!doctype" in head or "<body" in head or "<p" in head


def _read(source: str) -> tuple[str, bool]:
    """A file's text, and whether it is HTML; a clean exit for one that cannot be read
    or is bigger than a fetched page may be."""
    path = Path(source)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE + 1)
    except OSError as exc:
        click.echo(f"error: {source}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)
    if len(data) > MAX_FILE:
        click.echo(f"error: {source}: larger than the {MAX_FILE:,} byte cap of a page",
                   err=True)
        sys.exit(EXIT_FAILED)
    text, _ = decode_body(data, None)
    return text, path.suffix.lower() in (".html", ".htm") or _looks_like_html(text)


async def split_source(source: str) -> StorySplit:
    """A URL, an HTML file or a plain-text dump (one block per line), split into
    stories within the analyser's bounds (its deadline and memory cap for a big page);
    PageError says why it could not be."""
    async with Analyser(parallel=False) as analyser:
        if source.startswith(("http://", "https://")):
            html, url = await _fetch_url(source), source
        else:
            text, is_html = _read(source)
            if not is_html:
                return (await analyser.analyse_text(text))[1]
            html, url = text, Path(source).resolve().as_uri()
        _, split = await analyser.analyse(html, url, (), (), split=True)
        assert split is not None  # asked for
        return split


@main.command()
@click.argument("source", metavar="PATH_OR_URL")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: {source, mixed, stories, dropped}.")
def stories(source: str, as_json: bool) -> None:
    """Split a page into stories and show what was dropped and why.

    SOURCE is an HTML file, a plain-text dump (one block per line) or a URL.

    \b
    Examples:
      scrape stories fixtures/demo/appended-next-article.html
      scrape stories dump.txt --json | jq '.stories[].title'
    """
    try:
        split = asyncio.run(split_source(source))
    except PageError as exc:
        click.echo(f"error: {source}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(render_split_json(source, split), ensure_ascii=False, indent=2))
    else:
        click.echo(render_split_text(source, split))
