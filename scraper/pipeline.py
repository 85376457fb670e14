"""Check watches: the one place that chains the stages, read top-down.

    config -> fetch -> extract -> stories -> diff -> store -> alerts

``check_watch`` runs one watch through every stage; ``run_once`` checks many at once
(bounded concurrency, one shared HTTP client, one store) and returns what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import traceback
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from scraper import alerts as ev
from scraper.alerts import AlertLog, make_alert, utc_now
from scraper.analyse import INLINE, Analyser, describe_error
from scraper.compare import (
    CheckStatus,
    Previous,
    compare_snapshot,
    looks_like_error_page,
)
from scraper.deliver import deliver_due, delivery_loop
from scraper.errors import PageError, ScraperError, StoreError
from scraper.fetch import Fetcher, HttpClient, fetch_page, make_client
from scraper.following import discover_fetched, due_children, store_found
from scraper.identity import KnownStory, StoryIndex
from scraper.models import (
    Alert,
    Block,
    Config,
    ExtractedPage,
    FetchResult,
    Fingerprint,
    Notify,
    Settings,
    Story,
    StorySplit,
    Watch,
)
from scraper.polite import make_polite_fetcher
from scraper.store import (
    CheckRecord,
    StaleState,
    Store,
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
    "deliver_pending",
    "load_story_index",
    "record_failure",
    "run_once",
]

log = structlog.get_logger("scraper.pipeline")



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
    # Defaults add nothing to a stored snapshot but bytes. (Not dataclasses.asdict: its
    # deep copy was a measurable share of a check.)
    data: dict[str, object] = {"kind": block.kind, "text": block.text,
                               "position": block.position}
    if block.container:
        data["container"] = block.container
    if block.level:
        data["level"] = block.level
    if block.href:
        data["href"] = block.href
    return data


def _encode_blocks(blocks: Sequence[dict[str, object]]) -> bytes:
    """The blocks as stored: encoded once, hashed here and stored as they are."""
    return json.dumps(list(blocks), ensure_ascii=False, separators=(",", ":")).encode()


def _texts(blocks: Sequence[dict[str, object]]) -> list[str]:
    return [str(b["text"]) for b in blocks]


async def _on_failure(
    store: Store, watch: Watch, settings: Settings, state: WatchState, fetch: FetchResult,
    now: str, notify: Sequence[Notify],
) -> CheckResult:
    failures = state.consecutive_failures + 1
    alerts: list[Alert] = []
    # One blip is not an alert: announce once, when the streak reaches the threshold.
    if failures == settings.failure_threshold:
        # A failure at the end of redirects names where it happened.
        moved = ({"final_url": fetch.final_url}
                 if fetch.final_url and fetch.final_url != watch.url else {})
        alerts.append(make_alert(
            ev.FETCH_FAILED, watch=watch.name, url=watch.url, ts=now, error=fetch.error,
            status=fetch.status, failures=failures, **moved,
        ))
    await store.record_check(CheckRecord(
        watch_name=watch.name, url=watch.url, interval=watch.interval, checked_at=now,
        fetch=fetch, consecutive_failures=failures, alerts=alerts,
        deliveries=_deliveries(alerts, notify, watch.name), based_on=state.last_fetch_id,
        keep_snapshots=settings.keep_snapshots,
    ))
    return CheckResult(watch.name, watch.url, "failed", fetch.error, tuple(alerts))


async def _on_blocked(
    store: Store, watch: Watch, settings: Settings, state: WatchState, fetch: FetchResult,
    now: str, notify: Sequence[Notify],
) -> CheckResult:
    alerts: list[Alert] = []
    if state.last_outcome != "blocked":  # announce the start of a block, not every check
        alerts.append(make_alert(
            ev.FETCH_BLOCKED, watch=watch.name, url=watch.url, ts=now, reason=fetch.error,
        ))
    await store.record_check(CheckRecord(
        watch_name=watch.name, url=watch.url, interval=watch.interval, checked_at=now,
        fetch=fetch, consecutive_failures=state.consecutive_failures, alerts=alerts,
        deliveries=_deliveries(alerts, notify, watch.name), based_on=state.last_fetch_id,
        keep_snapshots=settings.keep_snapshots,
    ))
    return CheckResult(watch.name, watch.url, "blocked", fetch.error, tuple(alerts))


async def load_story_index(store: Store) -> StoryIndex:
    """Every stored story, for telling new stories from ones seen on other watches."""
    return StoryIndex([KnownStory(*row) for row in await store.known_stories()])


async def check_watch(
    client: HttpClient, store: Store, watch: Watch, settings: Settings,
    *, fetcher: Fetcher = fetch_page, index: StoryIndex | None = None,
    notify: Sequence[Notify] = (), analyser: Analyser = INLINE,
) -> CheckResult:
    """Fetch, extract, split, compare and store one watch; returns the alerts it stored.

    ``index`` is shared by every check of a run (load it once with load_story_index);
    without one, it is loaded here. ``notify``: the [[notify]] targets, whose deliveries
    are queued in the same transaction as the alerts.

    Whatever goes wrong with this one page (a refused or hostile page, an exception in
    any stage) is stored as this watch's failed check, with the reason; only our own
    run-wide errors (StoreError, AlertLogError: a full disk fails every check alike)
    and cancellation propagate.
    """
    state = await store.watch_state(watch.name)
    try:
        fetch = await fetcher(client, watch, state.validators, settings)
    except ScraperError:
        raise
    except Exception as exc:
        fetch = FetchResult(watch.url, "failed",
                            error=f"fetch failed: {describe_error(exc)}{_where(exc)}")
    page, split = None, None
    found = None  # a followed watch's feed or front, read (scraper.following)
    if watch.follow and fetch.outcome == "ok" and fetch.text is not None:
        fetch, found = await discover_fetched(store, watch, fetch)
    if index is None:
        index = await load_story_index(store)
    for _attempt in range(5):
        try:
            # A feed's XML is not a page to diff: a followed feed stores its fetches only.
            if (page is None and fetch.outcome == "ok" and fetch.text is not None
                    and not (found is not None and found.kind == "feed")
                    and not _same_body(fetch.text, state)):
                page, split = await analyser.analyse(fetch.text, fetch.final_url or watch.url,
                                                     watch.include, watch.exclude)
            result = await _record(store, watch, settings, state, fetch, page, split, index,
                                   notify)
            if found is not None and result.status != "failed":
                added = await store_found(
                    store, watch, found, utc_now(),
                    lambda alerts: _deliveries(alerts, notify, watch.name))
                result = replace(result, alerts=(*result.alerts, *added))
            return result
        except StaleState:
            # Another process stored a check of this watch meanwhile (a daemon and a
            # --once run): compare again from what it stored, so a change is announced
            # once. The fetched page is reused.
            state = await store.watch_state(watch.name)
        except PageError as exc:
            return await record_failure(store, watch, settings, str(exc), fetch=fetch,
                                        notify=notify)
        except ScraperError:
            raise
        except Exception as exc:  # a bug met by this page: its failure, not the run's
            return await record_failure(
                store, watch, settings, f"check failed: {describe_error(exc)}{_where(exc)}",
                fetch=fetch, notify=notify)
    raise StoreError(f"watch {watch.name!r} keeps changing under this check; is another "
                     "process checking it in a loop?", path=store.path)


async def record_failure(
    store: Store, watch: Watch, settings: Settings, error: str, *,
    fetch: FetchResult | None = None, notify: Sequence[Notify] = (),
) -> CheckResult:
    """Store a failed check of ``watch`` with ``error`` as its reason: counted toward
    failure_threshold and announced at it, like a failed fetch. ``fetch``: what was
    fetched (its status is kept); its body is not stored."""
    base = fetch or FetchResult(watch.url, "failed")
    failed = replace(base, outcome="failed", error=error, text=None)
    for _attempt in range(5):
        state = await store.watch_state(watch.name)
        try:
            return await _on_failure(store, watch, settings, state, failed, utc_now(),
                                     notify)
        except StaleState:
            continue  # another process stored a check meanwhile: count from it
    raise StoreError(f"watch {watch.name!r} keeps changing under this check; is another "
                     "process checking it in a loop?", path=store.path)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # holds scraper/


def _where(exc: BaseException) -> str:
    """`` (at scraper/compare.py:123)``: the innermost line of ours that raised, so the
    stored reason of a bug points at it (a --once run logs no tracebacks)."""
    ours = os.path.join(_PACKAGE, "scraper") + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(ours)]
    if not frames:
        return ""
    return f" (at {os.path.relpath(frames[-1].filename, _PACKAGE)}:{frames[-1].lineno})"


def _same_body(text: str, state: WatchState) -> bool:
    """The page is byte for byte the latest snapshot's: a 304 the server did not send
    (many news sites send no validators). Parsing it again would find the same blocks."""
    latest = state.latest
    return latest is not None and content_hash(text.encode("utf-8")) == latest.html_hash


async def _record(
    store: Store, watch: Watch, settings: Settings, state: WatchState, fetch: FetchResult,
    page: ExtractedPage | None, split: StorySplit | None, index: StoryIndex,
    notify: Sequence[Notify],
) -> CheckResult:
    """Compare the fetched page with the stored state, and store the check."""
    now = utc_now()
    if fetch.outcome == "failed":
        return await _on_failure(store, watch, settings, state, fetch, now, notify)
    if fetch.outcome == "blocked":
        return await _on_blocked(store, watch, settings, state, fetch, now, notify)

    alerts: list[Alert] = []
    if state.consecutive_failures >= settings.failure_threshold:
        alerts.append(make_alert(
            ev.FETCH_RECOVERED, watch=watch.name, url=watch.url, ts=now,
            failures=state.consecutive_failures,
        ))
    if state.final_url and fetch.final_url and fetch.final_url != state.final_url:
        # The URL now redirects somewhere else than last time (watches.final_url is the
        # end of the latest ok or 304 fetch): a page moved, or a site changed its scheme.
        alerts.append(make_alert(
            ev.FETCH_REDIRECTED, watch=watch.name, url=watch.url, ts=now,
            final_url=fetch.final_url, moved_from=state.final_url,
        ))
    record = CheckRecord(
        watch_name=watch.name, url=watch.url, interval=watch.interval, checked_at=now,
        fetch=fetch, consecutive_failures=0, keep_snapshots=settings.keep_snapshots,
        based_on=state.last_fetch_id,
    )
    status: CheckStatus = "unchanged"
    if page is not None and fetch.text is not None:
        blocks = [_block_dict(b) for b in page.blocks]
        blocks_json = _encode_blocks(blocks)
        blocks_hash = content_hash(blocks_json)
        latest = state.latest
        # Same extracted text as the latest snapshot: nothing to split, store or announce.
        if latest is None or blocks_hash != latest.blocks_hash:
            previous, recent, flip_back = None, {}, False
            if latest is not None and state.watch_id is not None:
                previous = Previous(
                    texts=_texts(await store.blocks(latest)),
                    stories=await store.snapshot_stories(latest.id),
                )
                if settings.compare_versions > 1:
                    # Noise control: a page flipping back to a recent version says nothing.
                    window = await store.snapshots(state.watch_id, limit=settings.compare_versions)
                    flip_back = blocks_hash in {s.blocks_hash for s in window}
                    recent = await store.recent_story_versions(
                        state.watch_id, settings.compare_versions)
            if split is None:
                try:
                    split = split_stories(page)
                except Exception as exc:  # bounded by the page's size: it was parsed here
                    raise PageError(f"analysis failed: {describe_error(exc)}") from exc
            texts = _texts(blocks)
            suspect = looks_like_error_page(previous, texts, split)
            if suspect:
                failed = replace(fetch, outcome="failed", error=suspect)
                return await _on_failure(store, watch, settings, state, failed, now, notify)
            comparison = compare_snapshot(
                watch, page.title, texts, split, previous, index, now, recent=recent,
            )
            # Debounce: store every version now, announce the net change once it settles.
            held = watch.debounce > 0 and previous is not None
            if not (held or flip_back):
                alerts.extend(comparison.alerts)
            status = "unchanged" if flip_back else comparison.status
            record = replace(
                record, html=fetch.text, blocks_json=blocks_json, stories=comparison.stories,
                new_story_ids=comparison.new_story_ids, changed=status != "unchanged",
                announced=not held,
            )
    record = replace(record, alerts=alerts,
                     deliveries=_deliveries(alerts, notify, watch.name))
    try:
        await store.record_check(record)
    except BaseException:
        # Not stored (stale state, a full disk, a cancelled check): not known either,
        # or the next check would take them for seen and never announce them.
        for story_id in record.new_story_ids:
            index.discard(story_id)
        raise
    if watch.debounce > 0:
        alerts.extend(await _release_held(store, watch, settings, index, notify, now))
    return CheckResult(watch.name, watch.url, status, None, tuple(alerts))


def _deliveries(
    alerts: Sequence[Alert], notify: Sequence[Notify], watch_name: str
) -> list[tuple[str, str]]:
    """(alert id, target) for every [[notify]] target that wants the alert."""
    return [
        (alert.alert_id, target.name)
        for alert in alerts
        for target in notify
        if (not target.events or alert.event in target.events)
        and (not target.watches or watch_name in target.watches)
    ]


def _seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


async def _release_held(
    store: Store, watch: Watch, settings: Settings, index: StoryIndex,
    notify: Sequence[Notify], now: str,
) -> list[Alert]:
    """Announce a debounced change once ``watch.debounce`` has passed since it began:
    one set of alerts for the net change from the last announced snapshot."""
    watch_id = await store.watch_id(watch.name)
    held = await store.held_change(watch_id) if watch_id is not None else None
    if held is None:
        return []
    baseline, newest, first_held_at = held
    if _seconds_between(first_held_at, now) < watch.debounce:
        return []
    alerts: list[Alert] = []
    new_story_ids: Sequence[str] = ()
    if newest.blocks_hash != baseline.blocks_hash:  # not a flip back to what was announced
        newest_blocks = await store.blocks(newest)
        texts = _texts(newest_blocks)
        stories = await store.snapshot_stories(newest.id)
        split = StorySplit(tuple(
            Story(r.title, r.paragraphs, Fingerprint(r.exact, r.simhash)) for r in stories
        ))
        previous = Previous(_texts(await store.blocks(baseline)),
                            await store.snapshot_stories(baseline.id))
        fresh = await store.stories_first_seen_since(watch_id, baseline.taken_at)
        title = next((str(b["text"]) for b in newest_blocks if b.get("kind") == "title"),
                     None)
        comparison = compare_snapshot(watch, title, texts, split, previous, index, now,
                                      fresh=fresh)
        alerts = list(comparison.alerts)
        new_story_ids = comparison.new_story_ids
    released = await store.record_release(watch.name, baseline.id, newest.id, alerts,
                                          _deliveries(alerts, notify, watch.name))
    if not released:  # another process announced it first
        for story_id in new_story_ids:
            index.discard(story_id)
        return []
    return alerts


async def deliver_pending(store: Store, alert_log: AlertLog) -> int:
    """Append every alert stored but not yet written, oldest first; returns how many.

    The one way alerts reach the log, for every writer (a run's batches, a daemon's
    loop, a start after a kill -9). "Still unwritten? -> already in the log? -> append
    -> mark written" is one step under the log's lock (an asyncio lock among this
    process's tasks, an flock among processes), so an alert a live process is about to
    write and one a dead process left are both written exactly once, by whoever comes
    first. No transaction is open while the flock is waited for, and the only one while
    it is held is the mark's: the flock and SQLite's lock are never taken in opposite
    orders, so they cannot deadlock.
    """
    if not await store.pending_alerts():
        return 0  # the common case, without taking the lock
    async with _log_turn(alert_log):
        # Read again inside the lock: what another process wrote meanwhile is marked.
        pending = await store.pending_alerts()
        if not pending:
            return 0
        already = alert_log.ids_in_tail({alert_id for alert_id, _ in pending})
        alert_log.write_lines(line for alert_id, line in pending if alert_id not in already)
        await store.mark_emitted([alert_id for alert_id, _ in pending], utc_now())
        alert_log.settle()
    return len(pending) - len(already)


# This process's tasks take turns at a log before the flock: two descriptors of one
# process exclude each other too, and a blocking flock would stall the event loop.
_TURNS: weakref.WeakKeyDictionary[AlertLog, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def _log_turn(alert_log: AlertLog) -> AsyncIterator[None]:
    async with _TURNS.setdefault(alert_log, asyncio.Lock()):
        lock = alert_log.try_lock()
        if lock is None:  # another process's step: wait in a thread, not in the loop
            waiting = asyncio.ensure_future(asyncio.to_thread(alert_log.wait_lock))
            try:
                lock = await asyncio.shield(waiting)
            except asyncio.CancelledError:
                # The thread still gets the lock when the other process lets go: give
                # it back then.
                waiting.add_done_callback(_close_lock)
                raise
        with alert_log.holding(lock):
            yield


def _close_lock(waiting: asyncio.Future[int]) -> None:
    if not waiting.cancelled() and waiting.exception() is None:
        os.close(waiting.result())


async def check_and_announce(
    client: HttpClient, store: Store, alert_log: AlertLog, watch: Watch, settings: Settings,
    *, fetcher: Fetcher = fetch_page, index: StoryIndex | None = None,
    notify: Sequence[Notify] = (), analyser: Analyser = INLINE,
) -> CheckResult:
    """check_watch, then append its alerts to the log and mark them written."""
    result = await check_watch(client, store, watch, settings, fetcher=fetcher, index=index,
                               notify=notify, analyser=analyser)
    if result.alerts:
        await deliver_pending(store, alert_log)  # ours, after any stored before them
    return result


async def run_once(
    config: Config,
    watches: Sequence[Watch] | None = None,
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    fetcher: Fetcher | None = None,
) -> RunResult:
    """Check ``watches`` (default: every enabled watch) once, concurrently.

    ``fetcher`` defaults to the polite one (robots.txt, per-host limits and delays),
    without retries: a --once run keeps each watch within its one total deadline, and
    the failure threshold absorbs a blip.
    """
    settings = config.settings
    todo = [w for w in config.watches if w.enabled] if watches is None else list(watches)
    limit = asyncio.Semaphore(settings.concurrency)
    alert_log = AlertLog(settings.alert_log, max_size=settings.alert_log_max_size,
                         backups=settings.alert_log_backups)
    targets = {t.name: t for t in config.notify}
    results: list[CheckResult] = []
    try:
        async with (
            open_store(settings.database) as store,
            make_client(settings) as client,
            Analyser.for_run(len(todo)) as analyser,
        ):
            await deliver_pending(store, alert_log)
            index = await load_story_index(store)
            if fetcher is None:
                fetcher = make_polite_fetcher(settings, retries=0, robots_cache=store)
            wake, stop = asyncio.Event(), asyncio.Event()
            deliverer = (
                asyncio.create_task(delivery_loop(store, client, targets, wake, stop))
                if targets else None
            )

            announcer = _Announcer(store, alert_log)

            async def one(watch: Watch) -> None:
                async with limit:
                    try:
                        result = await check_watch(client, store, watch, settings,
                                                   fetcher=fetcher, index=index,
                                                   notify=config.notify, analyser=analyser)
                    except ScraperError:
                        raise  # run-wide: a full disk fails every check alike
                    except Exception as exc:  # past check_watch's own net: still this
                        # watch's failure, never a cancelled run
                        result = await record_failure(
                            store, watch, settings,
                            f"check failed: {describe_error(exc)}{_where(exc)}",
                            notify=config.notify)
                results.append(result)
                if result.alerts:
                    await announcer.add(result.alerts)
                    wake.set()
                if on_result is not None:
                    on_result(result)

            try:
                async with asyncio.TaskGroup() as group:
                    for watch in todo:
                        group.create_task(one(watch))
                parents = [w.name for w in todo if w.follow]
                if parents:
                    # Then the articles the followed watches of this run found (today's
                    # too), each due by its decaying cadence, through the same fetcher.
                    children = await due_children(store, config, datetime.now(UTC),
                                                  names=parents)
                    todo.extend(children)
                    async with asyncio.TaskGroup() as group:
                        for watch in children:
                            group.create_task(one(watch))
            except ExceptionGroup as group_error:
                # What the checks stored is announced even so, if the log can take it.
                with contextlib.suppress(ScraperError):
                    await announcer.flush()
                # A full disk fails every task alike: report our first error, plainly.
                ours = group_error.subgroup(ScraperError)
                if ours is None:
                    raise
                raise _first(ours) from group_error
            await announcer.flush()
            if deliverer is not None:
                await _finish_deliveries(deliverer, stop, store, client, targets)
    finally:
        alert_log.close()
    order = {w.name: i for i, w in enumerate(todo)}
    return RunResult(tuple(sorted(results, key=lambda r: order[r.watch])))


class _Announcer:
    """Appends stored alerts to the log in batches: one lock, one fsync and one
    transaction per batch instead of per check (a run of 1,000 new pages spent ~4% on
    them).

    Exactly once still holds: alerts are in the database before they are here, each
    batch is a ``deliver_pending`` step (which writes whatever is unwritten, ours or
    another process's), and a run killed with some unwritten leaves them to the next
    step of any process.
    """

    MAX_DELAY = 0.2  # seconds an alert may wait for its batch
    MAX_BATCH = 256

    def __init__(self, store: Store, alert_log: AlertLog) -> None:
        self.store = store
        self.alert_log = alert_log
        self.waiting = 0  # alerts stored since the last batch
        self.last_flush = asyncio.get_running_loop().time()

    async def add(self, alerts: Sequence[Alert]) -> None:
        self.waiting += len(alerts)
        now = asyncio.get_running_loop().time()
        if self.waiting >= self.MAX_BATCH or now - self.last_flush >= self.MAX_DELAY:
            await self.flush()

    async def flush(self) -> None:
        if not self.waiting:
            return
        self.waiting = 0
        self.last_flush = asyncio.get_running_loop().time()
        await deliver_pending(self.store, self.alert_log)


def _first(group: BaseExceptionGroup[ScraperError]) -> ScraperError:
    error = group.exceptions[0]
    return _first(error) if isinstance(error, BaseExceptionGroup) else error


async def _finish_deliveries(
    deliverer: asyncio.Task[None], stop: asyncio.Event, store: Store, client: HttpClient,
    targets: Mapping[str, Notify],
) -> None:
    """A --once run sends what is due before it exits, within a bounded time; what
    fails stays queued for the next run."""
    budget = min(30.0, max(t.timeout for t in targets.values()) + 1.0)
    stop.set()
    try:
        async with asyncio.timeout(budget):
            await deliverer
            await deliver_due(store, client, targets)
    except TimeoutError:
        log.warning("delivery.cut_short", budget_s=budget)
