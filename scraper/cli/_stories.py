"""``scrape stories``: the story inspector."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from scraper.cli import EXIT_FAILED, EXIT_USAGE, main
from scraper.config import DEFAULT_USER_AGENT
from scraper.extract import extract_page, text_to_page
from scraper.fetch import decode_body, fetch_page, make_client
from scraper.models import ExtractedPage, Settings, Validators, Watch
from scraper.stories import render_split_json, render_split_text, split_stories


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


def load_page(source: str) -> ExtractedPage:
    """A URL, an HTML file or a plain-text dump (one block per line) as an ExtractedPage."""
    if source.startswith(("http://", "https://")):
        return extract_page(asyncio.run(_fetch_url(source)), url=source)
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        click.echo(f"error: {source}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)
    text, _ = decode_body(data, None)
    if path.suffix.lower() in (".html", ".htm") or _looks_like_html(text):
        return extract_page(text, url=path.resolve().as_uri())
    return text_to_page(text)


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
    split = split_stories(load_page(source))
    if as_json:
        click.echo(json.dumps(render_split_json(source, split), ensure_ascii=False, indent=2))
    else:
        click.echo(render_split_text(source, split))
