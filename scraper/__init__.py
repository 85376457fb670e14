"""scraper: a change monitor for news and article pages, story by story.

The stages, each usable on its own::

    from scraper import load_config, extract_page, split_stories, run_once

    config = load_config("config/demo.toml")
    split = split_stories(extract_page(html))      # pure: no network, no event loop
    result = asyncio.run(run_once(config))         # fetch, compare, store, announce
"""

from scraper.config import load_config
from scraper.diff import diff_texts
from scraper.errors import AlertLogError, ConfigError, ScraperError, StoreError
from scraper.extract import extract_page, text_to_page
from scraper.models import Block, ExtractedPage, Story, StorySplit, Watch
from scraper.pipeline import check_watch, run_once
from scraper.store import open_store
from scraper.stories import split_stories

__all__ = [
    "AlertLogError",
    "Block",
    "ConfigError",
    "ExtractedPage",
    "ScraperError",
    "StoreError",
    "Story",
    "StorySplit",
    "Watch",
    "check_watch",
    "diff_texts",
    "extract_page",
    "load_config",
    "open_store",
    "run_once",
    "split_stories",
    "text_to_page",
]
