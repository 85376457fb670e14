"""Changes are computed per story: an appended article, a rotated teaser list or the
same story on two watched pages are reported as what they are, not as edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.config import load_config
from scraper.pipeline import run_once
from scraper.store import open_store
from tests.conftest import read_alerts

FERRY = (
    "Ferry crews on the island route will strike for 48 hours from Friday",
    [
        "Ferry crews on the island route will walk out for 48 hours from Friday morning "
        "after talks over rosters broke down late on Wednesday, their union said.",
        "The operator said it would run a reduced timetable using managers and agency "
        "staff, but warned passengers to expect cancellations on the early sailings.",
        "Island businesses said the strike could not have come at a worse time, with the "
        "food festival due to bring several thousand visitors across this weekend.",
        "The union says crews have worked more than two hundred hours of unpaid overtime "
        "since the summer because the company has failed to fill vacancies.",
        "Talks are due to resume on Monday at the offices of the conciliation service.",
    ],
)
LIBRARY = (
    "Library extension wins national architecture award",
    [
        "The timber extension to the town library has won the national award for public "
        "buildings, beating a concert hall and two hospital wings on the shortlist.",
        "Judges praised the reading room's tall north windows and the way the new wing "
        "steps down towards the river path instead of towering over it.",
        "The extension was paid for by a community fundraising drive that took six years "
        "and a grant from the heritage lottery fund.",
        "Visitor numbers have risen by a third since it opened in the spring, the "
        "librarian told the council's culture committee last month.",
    ],
)


def article(story: tuple[str, list[str]], container: bool = True) -> str:
    title, paragraphs = story
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    inner = f"<h1>{title}</h1><p class='byline'>By Staff Reporter</p>{body}"
    return f"<article>{inner}</article>" if container else inner


def page(*parts: str, teasers: list[str] | None = None) -> str:
    related = ""
    if teasers:
        items = "".join(f"<li><a href='/t{i}'>{t}</a></li>" for i, t in enumerate(teasers))
        related = f"<aside class='related'><h2>Related</h2><ul>{items}</ul></aside>"
    return (
        "<!DOCTYPE html><html><head><title>Island Times</title></head><body>"
        "<nav><a href='/'>Home</a></nav><main>" + "".join(parts) + related +
        "</main><footer><p>Island Times</p></footer></body></html>"
    )


class Pages:
    def __init__(self, server, **pages: str) -> None:
        self.pages = dict(pages)
        for name in pages:
            server.expect_request(f"/{name}").respond_with_handler(self.handler(name))

    def handler(self, name: str):
        from werkzeug import Response

        return lambda request: Response(self.pages[name], content_type="text/html")


def events(path: Path) -> list[str]:
    return [a["event"] for a in read_alerts(path)]


async def test_first_snapshot_is_one_page_new_listing_its_stories(server, write_config):
    Pages(server, p=page(article(FERRY), article(LIBRARY)))
    config = load_config(write_config([{"name": "p", "url": server.url_for("/p")}]))
    await run_once(config)
    alerts = read_alerts(Path(config.settings.alert_log))
    assert [a["event"] for a in alerts] == ["page.new"]
    assert alerts[0]["mixed"] is True
    assert [s["title"] for s in alerts[0]["stories"]] == [FERRY[0], LIBRARY[0]]


async def test_appended_next_article_is_a_new_story_not_an_edit(server, write_config):
    pages = Pages(server, p=page(article(FERRY)))
    config = load_config(write_config([{"name": "p", "url": server.url_for("/p")}]))
    log = Path(config.settings.alert_log)
    await run_once(config)
    pages.pages["p"] = page(article(FERRY), article(LIBRARY))  # infinite scroll appends
    await run_once(config)
    alerts = read_alerts(log)
    assert [a["event"] for a in alerts] == ["page.new", "story.new", "page.mixed"]
    assert alerts[1]["title"] == LIBRARY[0]
    assert [s["title"] for s in alerts[2]["stories"]] == [FERRY[0], LIBRARY[0]]
    # and when the appended article goes away again, it is removed, the ferry story untouched
    pages.pages["p"] = page(article(FERRY))
    await run_once(config)
    alerts = read_alerts(log)
    assert [a["event"] for a in alerts][3:] == ["story.removed"]
    assert alerts[3]["story_id"] == alerts[1]["story_id"]


async def test_rotated_teaser_list_is_not_announced(server, write_config):
    pages = Pages(server, p=page(article(FERRY), teasers=["Harbour dredging starts",
                                                           "Bus timetable changes"]))
    config = load_config(write_config([{"name": "p", "url": server.url_for("/p")}]))
    await run_once(config)
    pages.pages["p"] = page(article(FERRY), teasers=["Sea wall repairs approved",
                                                      "New GP surgery opens"])
    run = await run_once(config)
    assert events(Path(config.settings.alert_log)) == ["page.new"]
    assert run.results[0].status == "unchanged"


async def test_one_sentence_edit_keeps_the_story_id(server, write_config):
    pages = Pages(server, p=page(article(FERRY)))
    config = load_config(write_config([{"name": "p", "url": server.url_for("/p")}]))
    await run_once(config)
    edited = list(FERRY[1])
    edited[4] = "Talks are now due to resume on Tuesday at the conciliation service."
    pages.pages["p"] = page(article((FERRY[0], edited)))
    await run_once(config)
    alerts = read_alerts(Path(config.settings.alert_log))
    assert [a["event"] for a in alerts] == ["page.new", "story.changed"]
    assert alerts[1]["story_id"] == alerts[0]["stories"][0]["story_id"]
    assert "+Talks are now due to resume on Tuesday" in alerts[1]["diff"]
    assert "Ferry crews on the island route will walk out" not in alerts[1]["diff"]


async def test_same_story_on_two_watches_is_one_new_and_one_duplicate(server, write_config):
    pages = Pages(server, a=page(article(LIBRARY)), b=page("<p>Nothing here yet.</p>"))
    config = load_config(write_config([
        {"name": "a", "url": server.url_for("/a")},
        {"name": "b", "url": server.url_for("/b")},
    ]))
    log = Path(config.settings.alert_log)
    await run_once(config)
    pages.pages["a"] = page(article(LIBRARY), article(FERRY))
    await run_once(config)
    pages.pages["b"] = page(article(FERRY, container=False))
    await run_once(config)
    ferry = [a for a in read_alerts(log) if a.get("title") == FERRY[0]]
    assert [(a["event"], a["watch"]) for a in ferry] == [("story.new", "a"),
                                                          ("story.duplicate", "b")]
    assert ferry[0]["story_id"] == ferry[1]["story_id"]
    assert ferry[1]["first_watch"] == "a"


async def test_section_front_without_stories_reports_page_changed(server, write_config):
    front = "<h2><a href='/1'>{0}</a></h2><p>{1}</p>"
    pages = Pages(server, f=page(front.format("Ferry strike called", "Crews walk out.")))
    config = load_config(write_config([{"name": "f", "url": server.url_for("/f")}]))
    await run_once(config)
    pages.pages["f"] = page(front.format("Library wins award", "Judges praise windows."))
    await run_once(config)
    alerts = read_alerts(Path(config.settings.alert_log))
    assert [a["event"] for a in alerts] == ["page.new", "page.changed"]
    assert "+Library wins award" in alerts[1]["diff"]


async def test_stories_are_stored_with_snapshots(server, write_config):
    Pages(server, p=page(article(FERRY), article(LIBRARY)))
    config = load_config(write_config([{"name": "p", "url": server.url_for("/p")}]))
    await run_once(config)
    async with open_store(config.settings.database) as store:
        watch_id = await store.watch_id("p")
        assert watch_id is not None
        snapshot = await store.latest_snapshot(watch_id)
        assert snapshot is not None and snapshot.story_count == 2
        stored = await store.snapshot_stories(snapshot.id)
        assert [s.title for s in stored] == [FERRY[0], LIBRARY[0]]
        assert stored[0].paragraphs == tuple(FERRY[1])
        assert len(await store.known_stories()) == 2


async def test_an_error_page_with_status_200_is_a_failed_fetch(server, write_config):
    error = page("<h1>Sorry, something went wrong</h1><p>Please try again later.</p>")
    pages = Pages(server, p=page(article(FERRY)))
    config = load_config(write_config([{"name": "p", "url": server.url_for("/p")}],
                                      failure_threshold=2))
    await run_once(config)
    pages.pages["p"] = error
    first = await run_once(config)
    assert first.results[0].status == "failed"
    assert "error page" in (first.results[0].error or "")
    await run_once(config)
    pages.pages["p"] = page(article(FERRY))  # the article is back, unchanged
    await run_once(config)
    alerts = read_alerts(Path(config.settings.alert_log))
    assert [a["event"] for a in alerts] == ["page.new", "fetch.failed", "fetch.recovered"]
    assert "none of the page's 1 stories is left" in alerts[1]["error"]



async def test_stories_of_a_check_that_was_not_stored_stay_unknown(server, write_config,
                                                                   monkeypatch):
    # A check whose write fails (a full disk, say) must not leave its new stories in the
    # run's index: the next check would take them for seen and never announce them.
    from scraper.errors import StoreError
    from scraper.fetch import make_client
    from scraper.identity import StoryIndex
    from scraper.pipeline import check_watch
    from scraper.store import Store

    Pages(server, island=page(article(FERRY)))
    config = load_config(write_config([{"name": "island",
                                        "url": server.url_for("/island")}]))
    index = StoryIndex()

    async def full_disk(self, record):
        raise StoreError("database or disk is full", path=self.path)

    async with open_store(config.settings.database) as store, \
            make_client(config.settings) as client:
        monkeypatch.setattr(Store, "record_check", full_disk)
        with pytest.raises(StoreError):
            await check_watch(client, store, config.watches[0], config.settings, index=index)
        assert len(index) == 0
        monkeypatch.undo()
        result = await check_watch(client, store, config.watches[0], config.settings,
                                   index=index)
    assert result.status == "new" and len(index) == 1
    assert [a.event for a in result.alerts] == ["page.new"]
