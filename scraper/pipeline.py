"""Check watches: the one place that chains the stages, read top-down.

    config -> fetch -> extract -> stories -> diff -> store -> alerts

``check_watch`` runs one watch through every stage; ``run_once`` checks many at once
(bounded concurrency, one shared HTTP client, one store) and returns what happened.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

import structlog

from scraper import alerts as ev
from scraper.alerts import AlertLog, make_alert, utc_now
from scraper.diff import diff_texts, strip_ignored
from scraper.extract import extract_page
from scraper.fetch import Fetcher, HttpClient, fetch_page, make_client
from scraper.identity import KnownStory, PreviousStory, StoryIndex, match_stories
from scraper.models import Alert, Block, Config, FetchResult, Settings, StorySplit, Watch
from scraper.store import (
    CheckRecord,
    Store,
    StoryRecord,
    WatchState,
    content_hash,
    open_store,
)
from scraper.stories import split_stories

__all__ = [
    "CheckResult",
    "RunResult",
    "check_and_announce",
    "check_watch",
    "compare_snapshot",
    "deliver_pending",
    "load_story_index",
    "run_once",
]

log = structlog.get_logger("scraper.pipeline")

CheckStatus = Literal["new", "changed", "unchanged", "failed", "blocked"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    watch: str
    url: str
    status: CheckStatus
    error: str | None = None
    alerts: tuple[Alert, ...] = ()


@dataclass(frozen=True, slots=True)
class RunResult:
    results: tuple[CheckResult, ...]

    def count(self, status: CheckStatus) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status == "failed")


def _block_dict(block: Block) -> dict[str, object]:
    data = asdict(block)
    # Defaults add nothing to a stored snapshot but bytes.
    return {k: v for k, v in data.items() if v not in ("", 0, None) or k == "position"}


def _blocks_hash(blocks: Sequence[dict[str, object]]) -> str:
    text = json.dumps(list(blocks), ensure_ascii=False, separators=(",", ":"))
    return content_hash(text.encode("utf-8"))


def _texts(blocks: Sequence[dict[str, object]]) -> list[str]:
    return [str(b["text"]) for b in blocks]


async def _on_failure(
    store: Store, watch: Watch, settings: Settings, state: WatchState, fetch: FetchResult,
    now: str,
) -> CheckResult:
    failures = state.consecutive_failures + 1
    alerts: list[Alert] = []
    # One blip is not an alert: announce once, when the streak reaches the threshold.
    if failures == settings.failure_threshold:
        alerts.append(make_alert(
            ev.FETCH_FAILED, watch=watch.name, url=watch.url, ts=now, error=fetch.error,
            status=fetch.status, failures=failures,
        ))
    await store.record_check(CheckRecord(
        watch_name=watch.name, url=watch.url, interval=watch.interval, checked_at=now,
        fetch=fetch, consecutive_failures=failures, alerts=alerts,
        keep_snapshots=settings.keep_snapshots,
    ))
    return CheckResult(watch.name, watch.url, "failed", fetch.error, tuple(alerts))


async def _on_blocked(
    store: Store, watch: Watch, settings: Settings, state: WatchState, fetch: FetchResult,
    now: str,
) -> CheckResult:
    alerts: list[Alert] = []
    if state.last_outcome != "blocked":  # announce the start of a block, not every check
        alerts.append(make_alert(
            ev.FETCH_BLOCKED, watch=watch.name, url=watch.url, ts=now, reason=fetch.error,
        ))
    await store.record_check(CheckRecord(
        watch_name=watch.name, url=watch.url, interval=watch.interval, checked_at=now,
        fetch=fetch, consecutive_failures=state.consecutive_failures, alerts=alerts,
        keep_snapshots=settings.keep_snapshots,
    ))
    return CheckResult(watch.name, watch.url, "blocked", fetch.error, tuple(alerts))


async def load_story_index(store: Store) -> StoryIndex:
    """Every stored story, for telling new stories from ones seen on other watches."""
    return StoryIndex([KnownStory(*row) for row in await store.known_stories()])


async def check_watch(
    client: HttpClient, store: Store, watch: Watch, settings: Settings,
    *, fetcher: Fetcher = fetch_page, index: StoryIndex | None = None,
) -> CheckResult:
    """Fetch, extract, split, compare and store one watch; returns the alerts it stored.

    ``index`` is shared by every check of a run (load it once with load_story_index);
    without one, it is loaded here.
    """
    state = await store.watch_state(watch.name)
    fetch = await fetcher(client, watch, state.validators, settings)
    now = utc_now()
    if fetch.outcome == "failed":
        return await _on_failure(store, watch, settings, state, fetch, now)
    if fetch.outcome == "blocked":
        return await _on_blocked(store, watch, settings, state, fetch, now)

    alerts: list[Alert] = []
    if state.consecutive_failures >= settings.failure_threshold:
        alerts.append(make_alert(
            ev.FETCH_RECOVERED, watch=watch.name, url=watch.url, ts=now,
            failures=state.consecutive_failures,
        ))
    record = CheckRecord(
        watch_name=watch.name, url=watch.url, interval=watch.interval, checked_at=now,
        fetch=fetch, consecutive_failures=0, keep_snapshots=settings.keep_snapshots,
    )
    status: CheckStatus = "unchanged"
    if fetch.outcome == "ok" and fetch.text is not None:
        page = extract_page(fetch.text, url=fetch.final_url or watch.url,
                            include=watch.include, exclude=watch.exclude)
        blocks = [_block_dict(b) for b in page.blocks]
        latest = state.latest
        # Same extracted text as the latest snapshot: nothing to split, store or announce.
        if latest is None or _blocks_hash(blocks) != latest.blocks_hash:
            previous = None
            if latest is not None:
                previous = Previous(
                    texts=_texts(await store.blocks(latest)),
                    stories=await store.snapshot_stories(latest.id),
                )
            if index is None:
                index = await load_story_index(store)
            comparison = compare_snapshot(
                watch, page.title, _texts(blocks), split_stories(page), previous, index, now,
            )
            alerts.extend(comparison.alerts)
            status = comparison.status
            record = replace(
                record, html=fetch.text, blocks=blocks, stories=comparison.stories,
                new_story_ids=comparison.new_story_ids, changed=status != "unchanged",
            )
    record = replace(record, alerts=alerts)
    await store.record_check(record)
    return CheckResult(watch.name, watch.url, status, None, tuple(alerts))


@dataclass(frozen=True, slots=True)
class Previous:
    """The latest stored snapshot of a watch: its block texts and its stories."""

    texts: list[str]
    stories: Sequence[StoryRecord]


@dataclass(frozen=True, slots=True)
class Comparison:
    status: CheckStatus
    alerts: tuple[Alert, ...]
    stories: tuple[StoryRecord, ...]  # the new snapshot's stories, with their ids
    new_story_ids: tuple[str, ...]  # ids first seen anywhere in this check


def _story_lines(
    title: str | None, paragraphs: Sequence[str], ignore: Sequence[str]
) -> tuple[str, ...]:
    # The headline is the first line, so a changed headline is a changed story.
    head = (f"# {title}",) if title else ()
    return head + strip_ignored(paragraphs, ignore)


def _lead(paragraphs: Sequence[str], limit: int = 280) -> str:
    text = paragraphs[0] if paragraphs else ""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def compare_snapshot(
    watch: Watch,
    page_title: str | None,
    texts: list[str],
    split: StorySplit,
    previous: Previous | None,
    index: StoryIndex,
    now: str,
) -> Comparison:
    """Decide what a new snapshot announces. Pure: no I/O; updates ``index`` in place.

    - first snapshot: one page.new line listing its stories (recorded, not announced
      one by one);
    - later: per story (matched by fingerprint to the previous snapshot): story.changed
      with that story's diff, story.new (first seen anywhere), story.duplicate (first
      seen on another watch), story.removed; page.mixed when a page starts carrying
      more than one story; page.changed only for pages without stories (section fronts);
    - text outside stories (teasers, dropped repeats) changing alone announces nothing.
    """
    def alert(event: str, **fields: object) -> Alert:
        return make_alert(event, watch=watch.name, url=watch.url, ts=now, **fields)

    old_stories = list(previous.stories) if previous else []
    matches = match_stories(
        [PreviousStory(s.story_id, s.title, s.exact, s.simhash) for s in old_stories],
        split.stories,
    )
    alerts: list[Alert] = []
    records: list[StoryRecord] = []
    new_ids: list[str] = []
    for match, story in zip(matches, split.stories, strict=True):
        fingerprint = story.fingerprint
        if match.old_index is not None:
            old = old_stories[match.old_index]
            story_id = old.story_id
            if old.exact != fingerprint.exact or old.title != story.title:
                diff = diff_texts(_story_lines(old.title, old.paragraphs, watch.ignore),
                                  _story_lines(story.title, story.paragraphs, watch.ignore))
                if not diff.empty:
                    alerts.append(alert(
                        ev.STORY_CHANGED, story_id=story_id, title=story.title,
                        added=diff.added, removed=diff.removed, changed=diff.changed,
                        diff=diff.unified,
                    ))
        else:
            known = index.find(fingerprint.exact, fingerprint.simhash)
            if known is not None:
                story_id = known.story_id
                if previous is not None and known.first_watch != watch.name:
                    alerts.append(alert(
                        ev.STORY_DUPLICATE, story_id=story_id, title=story.title,
                        first_watch=known.first_watch,
                    ))
            else:
                story_id = story.id
                new_ids.append(story_id)
                index.add(KnownStory(story_id, fingerprint.simhash, fingerprint.exact,
                                     watch.name))
                if previous is not None:
                    alerts.append(alert(
                        ev.STORY_NEW, story_id=story_id, title=story.title,
                        paragraphs=len(story.paragraphs), lead=_lead(story.paragraphs),
                    ))
        records.append(StoryRecord(story_id, story.title, fingerprint.exact,
                                   fingerprint.simhash, story.paragraphs))

    if previous is None:
        alerts.append(alert(
            ev.PAGE_NEW, title=page_title, blocks=len(texts), mixed=split.mixed,
            stories=[{"story_id": r.story_id, "title": r.title,
                      "paragraphs": len(r.paragraphs)} for r in records],
        ))
        return Comparison("new", tuple(alerts), tuple(records), tuple(new_ids))

    matched = {m.old_index for m in matches if m.old_index is not None}
    for j, old in enumerate(old_stories):
        if j not in matched:
            alerts.append(alert(ev.STORY_REMOVED, story_id=old.story_id, title=old.title))
    if split.mixed and len(old_stories) <= 1:
        alerts.append(alert(
            ev.PAGE_MIXED, title=page_title,
            stories=[{"story_id": r.story_id, "title": r.title} for r in records],
        ))
    if not records and not old_stories:
        diff = diff_texts(strip_ignored(previous.texts, watch.ignore),
                          strip_ignored(texts, watch.ignore))
        if not diff.empty:
            alerts.append(alert(
                ev.PAGE_CHANGED, title=page_title, added=diff.added, removed=diff.removed,
                changed=diff.changed, diff=diff.unified,
            ))
    status: CheckStatus = "changed" if alerts else "unchanged"
    return Comparison(status, tuple(alerts), tuple(records), tuple(new_ids))


async def deliver_pending(store: Store, alert_log: AlertLog) -> int:
    """Append alerts stored but not yet written (a run killed between the two steps)."""
    pending = await store.pending_alerts()
    if not pending:
        return 0
    already = alert_log.ids_in_tail({alert_id for alert_id, _ in pending})
    alert_log.write_lines(line for alert_id, line in pending if alert_id not in already)
    await store.mark_emitted([alert_id for alert_id, _ in pending], utc_now())
    return len(pending) - len(already)


async def check_and_announce(
    client: HttpClient, store: Store, alert_log: AlertLog, watch: Watch, settings: Settings,
    *, fetcher: Fetcher = fetch_page, index: StoryIndex | None = None,
) -> CheckResult:
    """check_watch, then append its alerts to the log and mark them written."""
    result = await check_watch(client, store, watch, settings, fetcher=fetcher, index=index)
    if result.alerts:
        alert_log.write(result.alerts)
        await store.mark_emitted([a.alert_id for a in result.alerts], utc_now())
    return result


async def run_once(
    config: Config,
    watches: Sequence[Watch] | None = None,
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    fetcher: Fetcher = fetch_page,
) -> RunResult:
    """Check ``watches`` (default: every enabled watch) once, concurrently."""
    settings = config.settings
    todo = [w for w in config.watches if w.enabled] if watches is None else list(watches)
    limit = asyncio.Semaphore(settings.concurrency)
    alert_log = AlertLog(settings.alert_log)
    results: list[CheckResult] = []
    try:
        async with open_store(settings.database) as store, make_client(settings) as client:
            await deliver_pending(store, alert_log)
            index = await load_story_index(store)

            async def one(watch: Watch) -> None:
                async with limit:
                    result = await check_and_announce(client, store, alert_log, watch,
                                                      settings, fetcher=fetcher, index=index)
                results.append(result)
                if on_result is not None:
                    on_result(result)

            async with asyncio.TaskGroup() as group:
                for watch in todo:
                    group.create_task(one(watch))
    finally:
        alert_log.close()
    order = {w.name: i for i, w in enumerate(todo)}
    return RunResult(tuple(sorted(results, key=lambda r: order[r.watch])))
