"""The long-running service behind ``scrape run``: ``await serve(config)``.

Read top-down, as uvicorn's server is: start-up, main loop, shutdown.

- Start-up: signal handlers, the database, one HTTP client, the polite fetcher, the
  story index; the alert writer starts (it first appends what a killed run stored but
  did not write); the [[notify]] delivery loop starts beside the checks; then one
  APScheduler job per enabled watch (in memory, rebuilt from the config and the
  database at every start: a watch checked five minutes ago with a 15-minute interval
  is next due in ten).
  READY=1 to systemd.
- Main loop: sleep until a signal. SIGHUP reloads the watch list (added watches start,
  removed ones stop, changed ones are rescheduled, history is kept by name); a config
  with a mistake is logged, naming file and key, and the old one keeps running.
- Shutdown (SIGTERM, SIGINT): scheduling stops, checks in flight and the delivery loop
  get ``settings.shutdown_timeout`` seconds to finish, the rest are cancelled (and named
  in the log; a cut-off delivery is sent again at the next start), the alert writer
  appends what they stored, then the alert log and the database are closed; exit
  status 0.

Alerts: a check stores its alerts and sets ``alerts_stored``; one writer task appends
what is stored and unwritten, oldest first, in batches (``deliver_pending``). A log that
cannot be written is tried again with backoff while the checks go on, so what it held
back lands in the running service, in order.

Scheduling: APScheduler 3's AsyncIOScheduler on this event loop. Each job has jitter
(``settings.jitter`` of its interval) so many watches do not fire on one second,
``coalesce`` plus a misfire grace so a suspended laptop or a slow check gives one late
run, not a burst, and ``max_instances=1`` so one watch never runs twice at once. The
scheduler's asyncio executor cancels running jobs when it shuts down, so a job only
waits for its check, which runs in a task of our own; shutdown drains those first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scraper import sdnotify
from scraper.alerts import AlertLog, format_ts, parse_ts
from scraper.analyse import Analyser, describe_error
from scraper.config import load_config
from scraper.deliver import delivery_loop
from scraper.errors import ConfigError, ScraperError
from scraper.fetch import Fetcher, HttpClient, make_client
from scraper.following import due_children
from scraper.identity import StoryIndex
from scraper.models import Config, Notify, Settings, Watch
from scraper.pipeline import (
    check_watch,
    deliver_pending,
    load_story_index,
    record_failure,
)
from scraper.polite import make_polite_fetcher
from scraper.store import Store, WatchStatus, open_store

__all__ = ["FIXED_AT_START", "WatchReport", "serve", "watch_reports"]

log = structlog.get_logger("scraper.daemon")

# Settings bound to what start-up opened; a reload that changes them is told to restart.
FIXED_AT_START = ("database", "alert_log", "alert_log_max_size", "alert_log_backups",
                  "user_agent", "concurrency", "per_host")
STATUS_EVERY = 5.0  # seconds between STATUS= lines to systemd
# An alert log that cannot be written is tried again after 1 s, then twice as long each
# time, at most this far apart.
LOG_RETRY_FIRST = 1.0
LOG_RETRY_MAX = 30.0
LOG_FLUSH_TIMEOUT = 10.0  # at shutdown, for the last append (what is left waits)
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass(frozen=True, slots=True)
class _Deps:
    """What every check uses; opened at start-up, closed at shutdown."""

    client: HttpClient
    store: Store
    alert_log: AlertLog
    fetcher: Fetcher
    index: StoryIndex  # every story seen; the checks add to it in place
    wake: asyncio.Event  # set when a check stored alerts: the delivery loop sends them
    alerts_stored: asyncio.Event  # set likewise: the alert writer appends them
    # Checks in progress at once. Without it, 10,000 watches due together were all fetched
    # and parsed before the first was stored: 1.3 GB, measured (bench/scale.py).
    slots: asyncio.Semaphore
    analyser: Analyser  # where pages are parsed: a worker process for large watch lists


@dataclass(slots=True)
class _State:
    """The little that changes while the service runs; touched only on the event loop."""

    config: Config
    targets: dict[str, Notify] = field(default_factory=dict)  # [[notify]], updated in place
    failing: set[str] = field(default_factory=set)
    checks: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # in flight, by watch
    jobs: set[asyncio.Task[None]] = field(default_factory=set)  # scheduler jobs awaiting them
    # The enabled watches by name, for the jobs: a scan of the watch list per job was
    # quadratic, ~0.13 ms a check at 10,000 watches (a list built and scanned per job).
    watches: dict[str, Watch] = field(default_factory=dict)
    stopping: bool = False  # shutdown began: no new checks (a followed watch's articles)

    def __post_init__(self) -> None:
        self.use(self.config)

    def use(self, config: Config) -> None:
        self.config = config
        self.watches = {w.name: w for w in _enabled(config)}


async def serve(config: Config) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads ``config.path``."""
    settings = config.settings
    loop = asyncio.get_running_loop()
    # APScheduler logs through stdlib logging; its skips are reported below, via events.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    alert_log = AlertLog(settings.alert_log, max_size=settings.alert_log_max_size,
                         backups=settings.alert_log_backups)
    with _signal_queue(loop) as signals:
        try:
            async with open_store(settings.database) as store, \
                    make_client(settings) as client, \
                    Analyser.for_run(len(_enabled(config))) as analyser:
                # --- start-up -------------------------------------------------------
                deps = _Deps(client, store, alert_log,
                             make_polite_fetcher(settings, robots_cache=store),
                             await load_story_index(store), asyncio.Event(),
                             asyncio.Event(), asyncio.Semaphore(settings.concurrency),
                             analyser)
                state = _State(config=config, targets={t.name: t for t in config.notify})
                stop_writing = asyncio.Event()
                writer = asyncio.create_task(
                    _write_alerts(store, alert_log, deps.alerts_stored, stop_writing))
                history = await _last_checks(store)
                state.failing = {name for name, (_, failures) in history.items() if failures}
                scheduler = AsyncIOScheduler(timezone=UTC)
                scheduler.add_listener(_on_skipped, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
                for watch in _enabled(config):
                    _schedule(scheduler, deps, state, watch, history.get(watch.name))
                # Started last: a start-up failure above leaves no task behind.
                stop_delivery = asyncio.Event()
                deliverer = asyncio.create_task(
                    delivery_loop(store, client, state.targets, deps.wake, stop_delivery))
                deliverer.add_done_callback(_log_crash)
                scheduler.start()
                log.info("daemon.started", config=config.path, watches=len(_enabled(config)),
                         database=settings.database, alert_log=settings.alert_log)
                sdnotify.ready(_status_line(state, scheduler))
                heartbeat = asyncio.create_task(_heartbeat(state, scheduler))

                # --- main loop: sleep until a signal ----------------------------------
                while (signum := await signals.get()) == signal.SIGHUP:
                    try:
                        await _reload(scheduler, deps, state)
                    except Exception:  # a reload must never take the service down
                        log.exception("config.reload_failed", kept="the running config")
                        sdnotify.ready(_status_line(state, scheduler))
                log.info("daemon.stopping", signal=signal.Signals(signum).name)

                # --- shutdown ---------------------------------------------------------
                sdnotify.stopping()
                state.stopping = True
                scheduler.pause()  # no new checks; running ones are drained below
                stop_delivery.set()  # it ends after the round it is in
                await _drain(state, deliverer, state.config.settings.shutdown_timeout)
                stop_writing.set()  # one last round, for what the drained checks stored
                await _finish_writing(writer)
                scheduler.shutdown(wait=False)
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
        finally:
            alert_log.close()
    log.info("daemon.stopped")


# --- signals ---------------------------------------------------------------------------


@contextlib.contextmanager
def _signal_queue(loop: asyncio.AbstractEventLoop) -> Iterator[asyncio.Queue[int]]:
    """SIGTERM, SIGINT and SIGHUP arrive as items of a queue; handlers restored on exit."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    previous = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    for sig in HANDLED_SIGNALS:
        loop.add_signal_handler(sig, queue.put_nowait, sig)
    try:
        yield queue
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)


# --- scheduling ------------------------------------------------------------------------


def _enabled(config: Config) -> list[Watch]:
    return [w for w in config.watches if w.enabled]


async def _last_checks(store: Store) -> dict[str, tuple[datetime | None, int]]:
    """Watch name -> (time of its last check, consecutive failures), from the database."""
    return {
        s.name: (parse_ts(s.last_checked_at), s.consecutive_failures)
        for s in await store.statuses()
    }


def _schedule(
    scheduler: AsyncIOScheduler, deps: _Deps, state: _State, watch: Watch,
    history: tuple[datetime | None, int] | None,
) -> None:
    """Add (or replace) the job of ``watch``: first due one interval after its last check."""
    now = datetime.now(UTC)
    last = history[0] if history else None
    first = max(now, last + timedelta(seconds=watch.interval)) if last else now
    spread = watch.interval * state.config.settings.jitter
    scheduler.add_job(
        _run_job, IntervalTrigger(seconds=watch.interval, start_date=first,
                                  jitter=spread or None, timezone=UTC),
        args=(deps, state, watch.name), id=watch.name, name=watch.name,
        # Passed explicitly: a start_date a moment in the past would otherwise make the
        # trigger skip to the next interval. The jitter spreads a cold start too.
        next_run_time=first + timedelta(seconds=random.uniform(0, spread)),
        max_instances=1, coalesce=True,
        misfire_grace_time=max(1, round(watch.interval)),
        replace_existing=True,
    )


def _on_skipped(event: JobEvent) -> None:
    reason = "still running" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"
    log.info("check.skipped", watch=event.job_id, reason=reason)


async def _run_job(deps: _Deps, state: _State, name: str) -> None:
    """The scheduler's job: start the check in a task of ours and wait for it.

    Only the job is the scheduler's to cancel, never the check, so shutdown can drain.
    """
    watch = state.watches.get(name)
    if watch is None:
        return
    job = asyncio.current_task()
    assert job is not None
    state.jobs.add(job)
    check = None
    try:
        # The slot is taken here, before the check's task exists: when thousands of
        # watches fall due together, each waits as one task, not two. The check gives it
        # back when it ends, however it ends (even cancelled before it began).
        await deps.slots.acquire()
        check = asyncio.create_task(_check(deps, state, watch), name=f"check {name}")
        check.add_done_callback(lambda _: deps.slots.release())
        state.checks[name] = check
        await asyncio.wait({check})
    finally:
        state.jobs.discard(job)
        if check is not None and state.checks.get(name) is check:
            del state.checks[name]


async def _check(deps: _Deps, state: _State, watch: Watch) -> None:
    """One check, in a slot its job took."""
    started = time.perf_counter()
    try:
        result = await check_watch(
            deps.client, deps.store, watch, state.config.settings,
            fetcher=deps.fetcher, index=deps.index, notify=state.config.notify,
            analyser=deps.analyser,
        )
    except ScraperError as exc:  # the database is unwritable, say: log, keep serving
        state.failing.add(watch.name)
        log.error("check.error", watch=watch.name, error=str(exc))
        return
    except Exception as exc:
        # check_watch stores a page's own failures; this is a bug past it. Stored as the
        # watch's failed check all the same, so status and the threshold see it.
        state.failing.add(watch.name)
        log.exception("check.crashed", watch=watch.name)
        with contextlib.suppress(ScraperError):
            failed = await record_failure(deps.store, watch, state.config.settings,
                                          f"check failed: {describe_error(exc)}",
                                          notify=state.config.notify)
            if failed.alerts:  # the writer task appends them, as any stored alert
                deps.alerts_stored.set()
                deps.wake.set()
        return
    if result.status == "failed":
        state.failing.add(watch.name)
    else:
        state.failing.discard(watch.name)
    if result.alerts:
        deps.alerts_stored.set()
        deps.wake.set()
    log.info("check.done", watch=watch.name, status=result.status, error=result.error,
             alerts=[a.event for a in result.alerts],
             seconds=round(time.perf_counter() - started, 3))
    if watch.follow:
        await _start_articles(deps, state, watch)


async def _start_articles(deps: _Deps, state: _State, parent: Watch) -> None:
    """After a followed watch's check: start the checks of its articles now due.

    An article is due `next_check_delay` after its last check (the parent's interval
    while fresh, doubling to 6 h), so the parent's own job is its clock; those past
    ``follow_for`` are retired (logged at debug level as ``article.retired``).
    Each article's check takes its own slot, in a task of its own, drained at shutdown.
    """
    try:
        due = await due_children(deps.store, state.config, datetime.now(UTC),
                                 names=[parent.name])
    except ScraperError as exc:
        log.error("follow.error", watch=parent.name, error=str(exc))
        return
    for child in due:
        if state.stopping or child.name in state.checks:
            continue
        task = asyncio.create_task(_article_check(deps, state, child),
                                   name=f"check {child.name}")
        state.checks[child.name] = task
        task.add_done_callback(
            lambda t, n=child.name: state.checks.pop(n) if state.checks.get(n) is t else None)


async def _article_check(deps: _Deps, state: _State, child: Watch) -> None:
    async with deps.slots:
        if not state.stopping:
            await _check(deps, state, child)


# --- reload ----------------------------------------------------------------------------


async def _reload(scheduler: AsyncIOScheduler, deps: _Deps, state: _State) -> None:
    """Apply the config file again (``state.use`` it); on a mistake keep the running
    one and say why."""
    current = state.config
    sdnotify.reloading()
    try:
        new = load_config(Path(current.path))
    except ConfigError as exc:
        log.error("config.invalid", error=str(exc), file=exc.path, watch=exc.watch,
                  key=exc.key, line=exc.line, kept="the running config")
        sdnotify.ready(_status_line(state, scheduler))
        return
    new = replace(new, settings=_keep_fixed(current.settings, new.settings, new.path))
    old = {w.name: w for w in _enabled(current)}
    want = {w.name: w for w in _enabled(new)}
    removed = sorted(old.keys() - want.keys())
    added = sorted(want.keys() - old.keys())
    changed = sorted(n for n in old.keys() & want.keys() if old[n] != want[n])
    for name in removed:
        scheduler.remove_job(name)  # a check in flight finishes; history stays stored
        state.failing.discard(name)
    state.use(new)  # jobs read their watch and settings from here
    state.targets.clear()  # the delivery loop holds this very dict
    state.targets.update((t.name, t) for t in new.notify)
    jitter_changed = new.settings.jitter != current.settings.jitter
    history = await _last_checks(deps.store)
    added_set, changed_set = set(added), set(changed)  # lists are for the log line
    for name in sorted(want):
        if name in added_set or jitter_changed or (
            name in changed_set and old[name].interval != want[name].interval
        ):
            _schedule(scheduler, deps, state, want[name], history.get(name))
    log.info("config.reloaded", file=new.path, added=added, removed=removed, changed=changed,
             watches=len(want))
    sdnotify.ready(_status_line(state, scheduler))


def _keep_fixed(old: Settings, new: Settings, path: str) -> Settings:
    differ = [key for key in FIXED_AT_START if getattr(old, key) != getattr(new, key)]
    if differ:
        log.warning("config.restart_needed", file=path, keys=differ,
                    detail="these settings apply at the next start; the old values stay")
    return replace(new, **{key: getattr(old, key) for key in FIXED_AT_START})


# --- shutdown --------------------------------------------------------------------------


async def _drain(state: _State, deliverer: asyncio.Task[None], timeout: float) -> None:
    """Let checks in flight and the delivery loop finish within ``timeout`` s; cancel
    the rest, naming them."""
    tasks = {**state.checks, "(delivery)": deliverer}
    if state.checks:
        log.info("shutdown.draining", checks=sorted(state.checks), timeout=timeout)
    _, pending = await asyncio.wait(tasks.values(), timeout=timeout)
    if pending:
        names = sorted(name for name, task in tasks.items() if task in pending)
        log.warning("shutdown.cancelled", checks=names,
                    detail=f"not finished within {timeout:g} s")
        for task in pending:
            task.cancel()
        # Cancelled tasks only roll back a transaction or close a response: brief.
        await asyncio.wait(pending, timeout=5)
    if state.jobs:
        # The scheduler's jobs return as soon as their check has.
        await asyncio.wait(set(state.jobs), timeout=5)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("delivery.crashed", error=repr(task.exception()),
                  detail="alerts are still logged; deliveries wait for a restart")


# --- the alert writer ------------------------------------------------------------------


async def _write_alerts(store: Store, alert_log: AlertLog, stored: asyncio.Event,
                        stop: asyncio.Event) -> None:
    """Append what the checks store (``stored`` is set), until ``stop``, then one last
    round. Each round is one ``deliver_pending`` step: every unwritten alert, oldest
    first, one lock and one fsync. While the log cannot be written (a full disk, a
    read-only directory), rounds come after LOG_RETRY_FIRST s, then twice as far
    apart up to LOG_RETRY_MAX, and the checks go on storing meanwhile."""
    retry: float | None = None
    while True:
        stored.clear()  # before looking: alerts stored while we write wake the next round
        last = stop.is_set()
        try:
            written = await deliver_pending(store, alert_log)
        except Exception as exc:  # the writer must outlive any failure: it retries
            retry = LOG_RETRY_FIRST if retry is None else min(2 * retry, LOG_RETRY_MAX)
            log.error("alert_log.unwritable", error=str(exc) or repr(exc),
                      retry_in_s=None if last else retry)
        else:
            if retry is not None:
                log.info("alert_log.writable", written=written)
            retry = None
        if last:
            return
        # While failing, only the clock brings the next try: not each new alert.
        await _first_set(stop, None if retry else stored, timeout=retry)


async def _first_set(*events: asyncio.Event | None, timeout: float | None) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events if e is not None]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _finish_writing(writer: asyncio.Task[None]) -> None:
    """The writer's last round, bounded: a log lock held long by another process must
    not hold up the stop; what is not written waits in the database for the next start."""
    _, pending = await asyncio.wait({writer}, timeout=LOG_FLUSH_TIMEOUT)
    if pending:
        log.warning("shutdown.cancelled", checks=["(alert log)"],
                    detail=f"not finished within {LOG_FLUSH_TIMEOUT:g} s")
        writer.cancel()
        await asyncio.wait({writer}, timeout=5)


# --- systemd status --------------------------------------------------------------------


def _status_line(state: _State, scheduler: AsyncIOScheduler) -> str:
    """'42 watches, 3 failing, next run in 12 s' for ``systemctl status``."""
    names = {w.name for w in _enabled(state.config)}
    text = f"{len(names)} watches, {len(state.failing & names)} failing"
    times = [job.next_run_time for job in scheduler.get_jobs() if job.next_run_time]
    if times:
        seconds = max(0.0, (min(times) - datetime.now(UTC)).total_seconds())
        text += f", next run in {seconds:.0f} s"
    return text


async def _heartbeat(state: _State, scheduler: AsyncIOScheduler) -> None:
    """WATCHDOG=1 every half of $WATCHDOG_USEC and a STATUS= line every few seconds."""
    if not sdnotify.enabled():
        return  # not under systemd: nobody to tell
    period = sdnotify.watchdog_period()
    tick = min(period or STATUS_EVERY, STATUS_EVERY)
    last_status = time.monotonic()
    while True:
        await asyncio.sleep(tick)
        if period is not None and scheduler.running:
            sdnotify.watchdog()
        if time.monotonic() - last_status >= STATUS_EVERY:
            sdnotify.status(_status_line(state, scheduler))
            last_status = time.monotonic()


# --- status report (``scrape status``) ---------------------------------------------------

STALE_AFTER = 3  # intervals without a success


@dataclass(frozen=True, slots=True)
class WatchReport:
    """One watch as ``scrape status`` shows it: the config's view joined with history."""

    name: str
    url: str
    interval: float | None
    in_config: bool  # False: only in the database (removed from the watch list)
    enabled: bool
    last_checked_at: str | None
    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None
    consecutive_failures: int
    next_due_at: str | None  # last check + interval; None: never checked (due at start)
    story_count: int
    snapshot_count: int
    stale: bool  # enabled, checked, and no success in STALE_AFTER intervals
    # A followed watch's articles still tracked: how many, when the oldest and the
    # newest were found (their own watches are not listed as rows).
    followed_count: int = 0
    followed_oldest: str | None = None
    followed_newest: str | None = None


async def watch_reports(config: Config, now: datetime | None = None) -> list[WatchReport]:
    """Every watch of ``config`` and of its database, config order first."""
    now = now or datetime.now(UTC)
    database = Path(config.settings.database)
    statuses = {}
    followed: dict[str, list[str]] = {}  # parent -> found_at of its tracked articles
    if database.exists():  # a status query must not create an empty database
        async with open_store(database) as store:
            statuses = {s.name: s for s in await store.statuses()}
            for row in await store.followed():
                statuses.pop(row.name, None)  # listed under its parent, not as a row
                if row.retired_at is None:
                    followed.setdefault(row.parent, []).append(row.found_at)
    reports = []
    for watch in config.watches:
        s = statuses.pop(watch.name, None)
        report = _report(watch.name, watch.url, watch.interval, True, watch.enabled, s, now)
        found = followed.get(watch.name)
        if found:
            report = replace(report, followed_count=len(found), followed_oldest=min(found),
                             followed_newest=max(found))
        reports.append(report)
    for s in statuses.values():
        reports.append(_report(s.name, s.url, s.interval, False, False, s, now))
    return reports


def _report(
    name: str, url: str, interval: float | None, in_config: bool, enabled: bool,
    s: WatchStatus | None, now: datetime,
) -> WatchReport:
    checked = parse_ts(s.last_checked_at) if s else None
    success = parse_ts(s.last_success_at) if s else None
    failures = s.consecutive_failures if s else 0
    stale = False
    if enabled and checked is not None and interval:
        limit = timedelta(seconds=STALE_AFTER * interval)
        stale = now - success > limit if success else (
            failures >= STALE_AFTER or now - checked > limit
        )
    due = checked + timedelta(seconds=interval) if checked and interval and enabled else None
    return WatchReport(
        name=name, url=url, interval=interval, in_config=in_config, enabled=enabled,
        last_checked_at=s.last_checked_at if s else None,
        last_success_at=s.last_success_at if s else None,
        last_error=s.last_error if s else None,
        last_error_at=s.last_error_at if s else None,
        consecutive_failures=failures,
        next_due_at=format_ts(due) if due else None,
        story_count=s.story_count if s else 0,
        snapshot_count=s.snapshot_count if s else 0,
        stale=stale,
    )
