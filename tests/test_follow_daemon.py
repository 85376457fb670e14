"""`scrape run` following a site: articles found by a front are checked on their own
cadence by the daemon, and an edit is announced."""

from __future__ import annotations

import re

from tests.conftest import read_alerts
from tests.test_daemon import start_daemon, wait_until  # noqa: F401 (a fixture)
from tests.test_follow import Site


def test_daemon_checks_followed_articles_and_announces_an_edit(
    server, write_config, start_daemon  # noqa: F811
):
    site = Site()
    server.expect_request(re.compile(r"/.*")).respond_with_handler(site)
    site.add("ferry-strike", "Ferry crews vote to strike", feed=False)
    config = write_config(
        [{"name": "front", "url": server.url_for("/world/"), "interval": "1s",
          "follow": True}], jitter=0, host_delay=0)
    alert_log = config.parent / "alerts.jsonl"
    article = "/world/2026/12/01/ferry-strike.html"

    daemon = start_daemon(config)
    wait_until(lambda: site.requests.count(article) >= 2)  # fresh: at the front's pace
    found = [a for a in read_alerts(alert_log) if a["event"] == "article.found"]
    assert len(found) == 1 and found[0]["watch"] == "front"

    title, paragraphs = site.articles["ferry-strike"]
    site.articles["ferry-strike"] = (title, [*paragraphs[:2], "Talks resume on Monday."])

    def edits() -> list[dict[str, object]]:
        return [a for a in read_alerts(alert_log) if a["event"] == "story.changed"
                and a["watch"] == found[0]["name"]]

    wait_until(edits)
    assert "Talks resume on Monday." in str(edits()[0]["diff"])
    assert daemon.stop() == 0
    assert [a["event"] for a in read_alerts(alert_log)].count("article.found") == 1
