"""Following a site: a followed watch's fetch -> new articles -> their own watches.

The glue between `scraper.discover` (pure) and the store: what a followed watch's fetched
body links to, which of those articles are new (by canonical URL, across every parent,
so a site's feed and front add an article once), their ``article.found`` alerts, and the
child watches to check now. `pipeline.check_watch` and `run_once` call it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from scraper import alerts as ev
from scraper.alerts import make_alert, utc_now
from scraper.analyse import describe_error
from scraper.discover import (
    Discovery,
    child_watch_name,
    discover,
    is_retired,
    next_check_delay,
    pick_new_articles,
)
from scraper.models import Alert, Config, FetchResult, Watch
from scraper.store import FollowedRow, Store

__all__ = ["child_watch", "discover_fetched", "due_children", "store_found"]

log = structlog.get_logger("scraper.following")


async def discover_fetched(
    store: Store, watch: Watch, fetch: FetchResult
) -> tuple[FetchResult, Discovery | None]:
    """Read a followed watch's "ok" fetch as a feed or a front.

    A body that cannot be read as what the URL was found to be (a truncated feed, HTML
    at a feed URL, an oversized body) turns the fetch into a failed one with the reason:
    counted and announced like any failed fetch, and every article followed is kept.
    """
    assert fetch.text is not None
    kind = await store.follow_kind(watch.name)
    try:
        # Parsing a feed or a front is CPU-bound: off the event loop.
        found = await asyncio.to_thread(
            discover, fetch.text, fetch.final_url or watch.url, fetch.content_type,
            follow_match=watch.follow_match, kind=kind,  # type: ignore[arg-type]
        )
    except Exception as exc:  # a bug met by this body: this watch's failure
        return replace(fetch, outcome="failed", text=None,
                       error=f"discovery failed: {describe_error(exc)}"), None
    if not found.ok:
        return replace(fetch, outcome="failed", text=None,
                       error=f"cannot read the {found.kind}: {found.error}"), None
    return fetch, found


async def store_found(
    store: Store, watch: Watch, found: Discovery, now: str,
    deliveries_for: Callable[[Sequence[Alert]], list[tuple[str, str]]] | None = None,
) -> list[Alert]:
    """Store the new articles of one discovery and return their ``article.found``
    alerts (already in the store, not yet in the log)."""
    followed = await store.followed()
    known = {row.url for row in followed}
    taken = {row.name for row in followed}
    mine = [row for row in followed if row.parent == watch.name and row.retired_at is None]
    picked = pick_new_articles(found.articles, known, len(mine), watch.follow_max)
    if picked.over_cap:
        log.info("follow.over_cap", watch=watch.name, skipped=len(picked.over_cap),
                 follow_max=watch.follow_max)
    rows: list[tuple[FollowedRow, Alert]] = []
    for article in picked.added:
        name = child_watch_name(watch.name, article.url, taken)
        taken.add(name)
        rows.append((
            FollowedRow(parent=watch.name, name=name, url=article.url, title=article.title,
                        found_at=now),
            make_alert(ev.ARTICLE_FOUND, watch=watch.name, url=article.url, ts=now,
                       title=article.title, name=name, source=article.source),
        ))
    if not rows and await store.follow_kind(watch.name) == found.kind:
        return []
    alerts = [alert for _, alert in rows]
    deliveries = deliveries_for(alerts) if deliveries_for is not None else []
    return await store.add_followed(watch.name, found.kind, rows, deliveries)


def child_watch(parent: Watch, row: FollowedRow) -> Watch:
    """The watch of a followed article: an ordinary page watch with the parent's fetch
    settings and noise control (not its include/exclude: those are for the front)."""
    return Watch(
        name=row.name, url=row.url, interval=parent.interval, timeout=parent.timeout,
        headers=parent.headers, robots=parent.robots, ignore=parent.ignore,
        debounce=parent.debounce, parent=parent.name,
    )


def _age_s(found_at: str, now: datetime) -> float:
    return (now - datetime.fromisoformat(found_at)).total_seconds()


async def due_children(
    store: Store, config: Config, now: datetime, *, names: Sequence[str] | None = None,
) -> list[Watch]:
    """The followed articles of enabled followed watches due for a check at ``now``:
    never checked, or checked `next_check_delay` ago or longer. Articles past their
    parent's ``follow_for`` are retired here (logged, not announced) and not returned.
    ``names``: only these parents."""
    parents = {w.name: w for w in config.watches
               if w.follow and w.enabled and (names is None or w.name in names)}
    if not parents:
        return []
    due: list[Watch] = []
    retired: list[str] = []
    for row in await store.followed():
        parent = parents.get(row.parent)
        if parent is None or row.retired_at is not None:
            continue
        age = _age_s(row.found_at, now)
        if is_retired(age, parent.follow_for):
            retired.append(row.name)
            log.debug("article.retired", watch=row.name, parent=row.parent, url=row.url,
                      age_s=round(age))
            continue
        if row.last_checked_at is not None:
            since = _age_s(row.last_checked_at, now)
            if since < next_check_delay(age, parent.interval):
                continue
        due.append(child_watch(parent, row))
    await store.retire_followed(retired, utc_now())
    return due
