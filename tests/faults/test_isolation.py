"""Isolation: 200 watches fetched at once, each page its own; nothing crosses between them.

changedetection.io has an open bug where one watch's content lands in another's diff.
Here every page carries a ``desk-NNN`` token, responses come back in a shuffled order
(random delays), and afterwards every stored snapshot, story and alert is read back and
must name its own watch's token and no other.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scraper.config import load_config
from scraper.extract import extract_page
from scraper.pipeline import run_once
from scraper.stories import NEAR_DISTANCE, fingerprint_text, hamming, split_stories
from tests.conftest import article_html, toml_value
from tests.faults.conftest import (
    Handler,
    Newsroom,
    RawRequest,
    RawServer,
    check_alert_log,
    check_change_chains,
    check_database,
    response_head,
    run_scrape,
    words,
)

TOKEN = re.compile(r"desk-\d{3}")


@dataclass
class Run:
    newsroom: Newsroom
    folder: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """200 new pages, then all 200 edited: two ``scrape --once`` runs, shared by the tests."""
    folder = tmp_path_factory.mktemp("isolation")
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    try:
        newsroom = Newsroom(start, 200, delay=0.1, seed=200)
        # One host serves all 200 here: lift the per-host politeness meant for real sites.
        settings = {"database": str(folder / "scraper.db"),
                    "alert_log": str(folder / "alerts.jsonl"),
                    "concurrency": 64, "per_host": 64, "host_delay": 0}
        lines = ["[settings]", *(f"{k} = {toml_value(v)}" for k, v in settings.items())]
        for watch in newsroom.watches():
            lines += ["[[watch]]", *(f"{k} = {toml_value(v)}" for k, v in watch.items())]
        config = folder / "scraper.toml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        first = run_scrape("--once", "--config", str(config))
        for i in range(newsroom.count):
            newsroom.bump(i)
        second = run_scrape("--once", "--config", str(config))
        yield Run(newsroom, folder, first, second)
    finally:
        for server in servers:
            server.stop()


@pytest.mark.slow
def test_two_hundred_watches_keep_their_own_content(two_runs):
    newsroom, folder = two_runs.newsroom, two_runs.folder
    assert two_runs.first.returncode == 0, two_runs.first.stderr
    assert "200 new, 0 changed, 0 unchanged, 0 failed" in two_runs.first.stdout
    assert two_runs.second.returncode == 0, two_runs.second.stderr
    assert "0 new, 200 changed, 0 unchanged, 0 failed" in two_runs.second.stdout

    db = check_database(folder / "scraper.db")
    try:
        snapshots = db.execute(
            "SELECT w.name, h.data, b.data FROM snapshots s JOIN watches w ON w.id = s.watch_id "
            "JOIN contents h ON h.hash = s.html_hash JOIN contents b ON b.hash = s.blocks_hash"
        ).fetchall()
        assert len(snapshots) == 400
        for name, html, blocks in snapshots:
            assert set(TOKEN.findall(zlib.decompress(html).decode())) == {name}
            assert set(TOKEN.findall(zlib.decompress(blocks).decode())) == {name}
        stories = db.execute(
            "SELECT w.name, ss.title, c.data FROM snapshot_stories ss "
            "JOIN snapshots s ON s.id = ss.snapshot_id JOIN watches w ON w.id = s.watch_id "
            "JOIN contents c ON c.hash = ss.text_hash"
        ).fetchall()
        assert len(stories) == 400
        owners: dict[str, set[str]] = {}
        for name, story_id in db.execute(
            "SELECT w.name, ss.story_id FROM snapshot_stories ss "
            "JOIN snapshots s ON s.id = ss.snapshot_id JOIN watches w ON w.id = s.watch_id"
        ):
            owners.setdefault(story_id, set()).add(name)
        assert len(owners) == 200  # one story a page, never merged with another page's
        assert all(len(names) == 1 for names in owners.values())
        for name, title in db.execute(
            "SELECT w.name, st.title FROM stories st JOIN watches w ON w.id = st.first_watch_id"
        ):
            assert TOKEN.findall(title or "") == [name]
        for name, title, text in stories:
            paragraphs = " ".join(json.loads(zlib.decompress(text)))
            assert set(TOKEN.findall(f"{title} {paragraphs}")) == {name}
        alerts = check_alert_log(folder / "alerts.jsonl", db)
        assert len(alerts) == 400
        for alert in alerts:
            # The whole line (title, diff, story list) names its own watch only.
            assert set(TOKEN.findall(json.dumps(alert))) == {alert["watch"]}, alert
        check_change_chains(alerts, newsroom, db)
    finally:
        db.close()


def _unrelated_pair_within_near_distance() -> tuple[list[str], list[str]] | None:
    """Two stories with no word in common whose SimHashes are NEAR_DISTANCE bits or less
    apart, as the real extractor and splitter fingerprint them; None if none turns up.

    Random 64-bit SimHashes are that close with chance 3.5e-6 a pair, so among 3,000
    random texts (4.5 million pairs) there are a dozen or so."""
    candidates = []
    for i in range(3000):
        rng = random.Random(f"unrelated-{i}")
        candidates.append([words(rng, 20) for _ in range(4)])
    hashes = [fingerprint_text(paragraphs).simhash for paragraphs in candidates]
    for a, hash_a in enumerate(hashes):
        for b in range(a + 1, len(hashes)):
            if hamming(hash_a, hashes[b]) > NEAR_DISTANCE:
                continue
            first, second = candidates[a], candidates[b]
            if set(" ".join(first).split()) & set(" ".join(second).split()):
                continue  # sharing a word: not plainly unrelated
            stories = [split_stories(extract_page(article_html(f"Story {n}", texts))).stories
                       for n, texts in enumerate((first, second))]
            if hamming(stories[0][0].fingerprint.simhash,
                       stories[1][0].fingerprint.simhash) <= NEAR_DISTANCE:
                return first, second
    return None


async def test_an_unrelated_story_is_never_taken_for_another_watchs(raw_server, write_config):
    # A new story is looked up against every stored one (StoryIndex.find); random
    # SimHashes within NEAR_DISTANCE (14 bits) of each other turn up once there are
    # 100,000 stories, so near alone must not make two stories one.
    pair = _unrelated_pair_within_near_distance()
    if pair is None:
        pytest.skip(f"no two unrelated texts within {NEAR_DISTANCE} bits: nothing to test")
    first, second = pair
    pages = {"/alpha": article_html("Harbour dredging contract signed", first),
             "/beta": article_html("Library opening hours extended", PARAS_FILLER)}

    async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        body = pages[request.target].encode()
        writer.write(response_head(content_type="text/html", content_length=len(body)) + body)
        await writer.drain()

    server = raw_server(handler)
    config = load_config(write_config([{"name": "alpha", "url": server.url("/alpha")},
                                       {"name": "beta", "url": server.url("/beta")}]))
    await run_once(config)
    pages["/beta"] = article_html("Council approves new bus lanes", second)
    run = await run_once(config)
    beta = next(r for r in run.results if r.watch == "beta")
    events = [(a.event, a.fields.get("first_watch")) for a in beta.alerts]
    assert ("story.new", None) in events, events
    assert not any(event == "story.duplicate" for event, _ in events), events


PARAS_FILLER = [
    "The central library will stay open until nine on weekdays from next month.",
    "Staff said evening visits had doubled since the reading room was refurbished.",
]
