"""Noise control: flip-backs (compare_versions), ignore regexes, per-watch debounce."""

from __future__ import annotations

import asyncio
from pathlib import Path

from scraper.config import load_config
from scraper.pipeline import run_once
from tests.conftest import read_alerts
from tests.test_pipeline_stories import FERRY, Pages, article, page


def edited(last: str) -> tuple[str, list[str]]:
    return FERRY[0], [*FERRY[1][:-1], last]


V1 = "Talks are due to resume on Monday at the offices of the conciliation service."
V2 = "Talks will now resume on Wednesday, the conciliation service said."
V3 = "Talks will now resume on Thursday, the conciliation service said."
V4 = "Talks will now resume on Friday morning, the conciliation service said."


async def test_flip_back_within_compare_versions_is_one_alert(server, write_config):
    pages = Pages(server, p=page(article(FERRY)))
    config = load_config(write_config([{"name": "p", "url": server.url_for("/p")}],
                                      compare_versions=2))
    await run_once(config)                       # A
    pages.pages["p"] = page(article(edited(V2)))
    await run_once(config)                       # B: announced
    pages.pages["p"] = page(article(FERRY))
    run = await run_once(config)                 # A again: a flip back, not announced
    events = [a["event"] for a in read_alerts(Path(config.settings.alert_log))]
    assert events == ["page.new", "story.changed"]
    assert run.results[0].status == "unchanged"


async def test_flip_back_is_announced_with_default_compare_versions(server, write_config):
    pages = Pages(server, p=page(article(FERRY)))
    config = load_config(write_config([{"name": "p", "url": server.url_for("/p")}]))
    await run_once(config)
    pages.pages["p"] = page(article(edited(V2)))
    await run_once(config)
    pages.pages["p"] = page(article(FERRY))
    await run_once(config)
    events = [a["event"] for a in read_alerts(Path(config.settings.alert_log))]
    assert events == ["page.new", "story.changed", "story.changed"]


async def test_ignore_regex_suppresses_timestamp_only_change(server, write_config):
    def stamped(time: str) -> str:
        title, paragraphs = FERRY
        return page(article((title, [f"Updated at {time} GMT", *paragraphs])))

    pages = Pages(server, p=stamped("09:14"))
    config = load_config(write_config([{
        "name": "p", "url": server.url_for("/p"), "ignore": [r"Updated at \d\d:\d\d GMT"],
    }]))
    await run_once(config)
    pages.pages["p"] = stamped("10:02")
    await run_once(config)
    assert [a["event"] for a in read_alerts(Path(config.settings.alert_log))] == ["page.new"]


async def test_debounce_gives_one_net_change(server, write_config):
    pages = Pages(server, p=page(article(FERRY)))
    config = load_config(write_config([{
        "name": "p", "url": server.url_for("/p"), "debounce": "1s",
    }]))
    log = Path(config.settings.alert_log)
    await run_once(config)
    for version in (V2, V3, V4):  # three edits within the debounce window
        pages.pages["p"] = page(article(edited(version)))
        await run_once(config)
    assert [a["event"] for a in read_alerts(log)] == ["page.new"]
    await asyncio.sleep(1.1)
    await run_once(config)  # nothing new on the page: the held change is announced now
    alerts = read_alerts(log)
    assert [a["event"] for a in alerts] == ["page.new", "story.changed"]
    diff = alerts[1]["diff"]
    assert f"-{V1}" in diff and f"+{V4}" in diff  # the net diff: first to last
    assert V2 not in diff and V3 not in diff
    assert alerts[1]["story_id"] == alerts[0]["stories"][0]["story_id"]
    await run_once(config)
    assert len(read_alerts(log)) == 2  # announced once
