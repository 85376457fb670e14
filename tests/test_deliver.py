"""Delivery beyond the log: webhooks on a local server, retries, Apprise."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from werkzeug import Request, Response

from scraper import deliver
from scraper.config import load_config
from scraper.pipeline import run_once
from scraper.store import open_store
from tests.conftest import article_html, read_alerts, toml_value

PARAS = ["The parish council agreed to light the market square until midnight.",
         "Traders had asked for longer lighting during the winter market weeks."]


class Hook:
    """A webhook endpoint that records bodies and can fail or stall."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.bodies: list[dict[str, object]] = []
        self.times: list[float] = []

    def __call__(self, request: Request) -> Response:
        self.times.append(time.monotonic())
        time.sleep(self.delay)
        self.bodies.append(json.loads(request.get_data()))
        return Response("", status=self.status)


def setup(server, write_config, hook: Hook, *, extra_watches=(), settings=None,
          **notify: object):
    server.expect_request("/page").respond_with_data(
        article_html("Market lights", PARAS), content_type="text/html")
    server.expect_request("/hook", method="POST").respond_with_handler(hook)
    path = write_config([{"name": "market", "url": server.url_for("/page")},
                         *extra_watches], **(settings or {}))
    target = {"name": "hook", "url": server.url_for("/hook"), **notify}
    lines = ["", "[[notify]]"] + [f"{k} = {toml_value(v)}" for k, v in target.items()]
    path.write_text(path.read_text() + "\n".join(lines) + "\n")
    return load_config(path)


async def test_webhook_receives_the_alert_json(server, write_config):
    hook = Hook()
    config = setup(server, write_config, hook, events=["page.new"])
    await run_once(config)
    assert len(hook.bodies) == 1
    logged = read_alerts(Path(config.settings.alert_log))
    assert hook.bodies[0] == logged[0]  # the same object as the log line
    assert hook.bodies[0]["event"] == "page.new"
    async with open_store(config.settings.database) as store:
        rows = await store.deliveries()
    assert [(r[1], r[2], r[4] is not None) for r in rows] == [("hook", 1, True)]


async def test_event_filter_skips_other_events(server, write_config):
    hook = Hook()
    config = setup(server, write_config, hook, events=["story.changed"])
    await run_once(config)
    assert hook.bodies == []


async def test_failing_webhook_is_retried_and_does_not_hold_fetching(
    server, write_config, monkeypatch
):
    hook = Hook(status=500, delay=0.3)
    config = setup(server, write_config, hook, retries=3, timeout="5s")
    monkeypatch.setattr(deliver, "BACKOFF_BASE", 0.0)  # retry at once, for the test
    started = time.monotonic()
    run = await run_once(config)
    assert run.results[0].status == "new"
    assert time.monotonic() - started < 5
    async with open_store(config.settings.database) as store:
        first = await store.deliveries()
    assert first[0][2] >= 1 and first[0][3] == "HTTP 500" and first[0][4] is None
    hook.status, hook.delay = 200, 0.0
    await run_once(config)  # the next run retries what is due
    async with open_store(config.settings.database) as store:
        rows = await store.deliveries()
    assert rows[0][4] is not None  # delivered at last
    assert rows[0][2] == len(hook.bodies)
    assert len({b["alert_id"] for b in hook.bodies}) == 1  # the same alert each time


async def test_fetching_goes_on_while_a_webhook_stalls(server, write_config):
    fetched: list[float] = []

    def page(request: Request) -> Response:
        fetched.append(time.monotonic())
        return Response(article_html("Second", PARAS), content_type="text/html")

    server.expect_request("/second").respond_with_handler(page)
    hook = Hook(delay=1.5)
    # One fetch at a time: the second starts while the first alert is being delivered.
    config = setup(server, write_config, hook, timeout="3s",
                   extra_watches=[{"name": "second", "url": server.url_for("/second")}],
                   settings={"concurrency": 1})
    await run_once(config)
    assert hook.times and fetched
    assert fetched[0] < hook.times[0] + 1.0  # not held up by the 1.5 s webhook


async def test_gives_up_after_retries(server, write_config, monkeypatch):
    hook = Hook(status=404)
    config = setup(server, write_config, hook, retries=1)
    monkeypatch.setattr(deliver, "BACKOFF_BASE", 0.0)
    await run_once(config)
    await run_once(config)
    await run_once(config)
    async with open_store(config.settings.database) as store:
        rows = await store.deliveries()
    assert rows[0][2] == 2 and rows[0][5] is not None  # two attempts, then given up
    assert len(hook.bodies) == 2


async def test_apprise_json_url_to_a_local_server(server, write_config):
    pytest.importorskip("apprise")
    hook = Hook()
    server.expect_request("/apprise", method="POST").respond_with_handler(hook)
    address = server.url_for("/apprise").removeprefix("http://")
    config = setup(server, write_config, Hook(), kind="apprise", url=f"json://{address}")
    await run_once(config)
    assert len(hook.bodies) == 1
    assert "market" in str(hook.bodies[0].get("title"))
