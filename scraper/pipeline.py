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
from scraper.models import Alert, Block, Config, FetchResult, Settings, Watch
from scraper.store import CheckRecord, Store, WatchState, content_hash, open_store

__all__ = [
    "CheckResult",
    "RunResult",
    "check_and_announce",
    "check_watch",
    "deliver_pending",
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


async def check_watch(
    client: HttpClient, store: Store, watch: Watch, settings: Settings,
    *, fetcher: Fetcher = fetch_page,
) -> CheckResult:
    """Fetch, extract, compare and store one watch; returns the alerts it stored."""
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
        if latest is None or _blocks_hash(blocks) != latest.blocks_hash:
            old_texts = _texts(await store.blocks(latest)) if latest else None
            status, page_alerts = _page_alerts(watch, page.title, blocks, old_texts, now)
            alerts.extend(page_alerts)
            record = replace(record, html=fetch.text, blocks=blocks,
                           changed=status in ("new", "changed"))
    record = replace(record, alerts=alerts)
    await store.record_check(record)
    return CheckResult(watch.name, watch.url, status, None, tuple(alerts))


def _page_alerts(
    watch: Watch, title: str | None, blocks: Sequence[dict[str, object]],
    old_texts: list[str] | None, now: str,
) -> tuple[CheckStatus, list[Alert]]:
    new_texts = _texts(blocks)
    if old_texts is None:
        return "new", [make_alert(
            ev.PAGE_NEW, watch=watch.name, url=watch.url, ts=now, title=title,
            blocks=len(new_texts),
        )]
    diff = diff_texts(strip_ignored(old_texts, watch.ignore),
                      strip_ignored(new_texts, watch.ignore))
    if diff.empty:
        return "unchanged", []  # stored as a new version, but nothing to announce
    return "changed", [make_alert(
        ev.PAGE_CHANGED, watch=watch.name, url=watch.url, ts=now, title=title,
        added=diff.added, removed=diff.removed, changed=diff.changed, diff=diff.unified,
    )]


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
    *, fetcher: Fetcher = fetch_page,
) -> CheckResult:
    """check_watch, then append its alerts to the log and mark them written."""
    result = await check_watch(client, store, watch, settings, fetcher=fetcher)
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

            async def one(watch: Watch) -> None:
                async with limit:
                    result = await check_and_announce(client, store, alert_log, watch,
                                                      settings, fetcher=fetcher)
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
