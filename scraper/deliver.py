"""Deliver alerts beyond the log: webhooks (a JSON POST) and Apprise URLs (an extra).

Deliveries are an outbox per target: the pipeline queues them in the same transaction
as the alerts, and ``deliver_due`` sends what is due, recording each attempt. A failure
is retried with exponential backoff and jitter until the target's ``retries`` run out,
then recorded as given up. Delivery runs beside fetching, never in its way: a slow or
failing webhook delays nothing but its own retries. A delivery cut off mid-request (the
process stopped) is sent again later: delivery is at least once, the log exactly once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Mapping

import structlog

from scraper.alerts import utc_now
from scraper.fetch import HttpClient, HttpError
from scraper.models import Notify
from scraper.store import Store

__all__ = ["BACKOFF_BASE", "deliver_due", "delivery_loop", "send"]

log = structlog.get_logger("scraper.deliver")

BACKOFF_BASE = 5.0  # seconds before the first retry; doubles per attempt
BACKOFF_MAX = 3600.0
PARALLEL = 8  # deliveries in flight at once


def backoff(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed attempts: exponential, with jitter."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return delay * random.uniform(0.8, 1.2)


def _title(alert: Mapping[str, object]) -> str:
    title = alert.get("title")
    suffix = f": {title}" if title else ""
    return f"[{alert.get('event')}] {alert.get('watch')}{suffix}"


async def _send_webhook(client: HttpClient, target: Notify, line: str) -> str | None:
    headers = {"Content-Type": "application/json", **dict(target.headers)}
    try:
        response = await client.post(target.url, content=line.encode("utf-8"),
                                     headers=headers, timeout=target.timeout)
    except HttpError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


async def _send_apprise(target: Notify, line: str) -> str | None:
    try:
        import apprise  # optional: pip install 'scraper[apprise]'
    except ImportError:
        return "Apprise is not installed: pip install 'scraper[apprise]'"
    alert = json.loads(line)
    body = str(alert.get("diff") or alert.get("lead") or alert.get("error") or alert["url"])
    sender = apprise.Apprise()
    if not sender.add(target.url):
        return "Apprise does not understand this URL"
    try:
        async with asyncio.timeout(target.timeout):
            ok = await sender.async_notify(body=body, title=_title(alert))
    except TimeoutError:
        return f"no answer within {target.timeout:g} s"
    return None if ok else "Apprise could not deliver (see its log)"


async def send(client: HttpClient, target: Notify, line: str) -> str | None:
    """Send one alert line to one target; None when delivered, else why not."""
    if target.kind == "apprise":
        return await _send_apprise(target, line)
    return await _send_webhook(client, target, line)


async def deliver_due(
    store: Store, client: HttpClient, targets: Mapping[str, Notify]
) -> None:
    """Send every delivery due now; record each outcome."""
    due = await store.due_deliveries(time.time())
    limit = asyncio.Semaphore(PARALLEL)

    async def one(delivery_id: int, name: str, line: str, attempts: int) -> None:
        target = targets.get(name)
        if target is None:
            error: str | None = f"target {name!r} is no longer in the config"
        else:
            async with limit:
                error = await send(client, target, line)
        when = utc_now()
        if error is None:
            await store.record_delivery(delivery_id, when=when)
            return
        tried = attempts + 1
        if target is not None and tried <= target.retries:
            await store.record_delivery(delivery_id, when=when, error=error,
                                        retry_at=time.time() + backoff(tried))
            log.warning("delivery.failed", target=name, attempts=tried, error=error)
        else:
            await store.record_delivery(delivery_id, when=when, error=error)
            log.error("delivery.gave_up", target=name, attempts=tried, error=error)

    async with asyncio.TaskGroup() as group:
        for row in due:
            group.create_task(one(*row))


async def delivery_loop(
    store: Store, client: HttpClient, targets: Mapping[str, Notify],
    wake: asyncio.Event, stop: asyncio.Event,
) -> None:
    """Deliver until ``stop`` is set: at once when ``wake`` is set (new alerts), else
    when the next retry is due (at most a minute's sleep)."""
    while not stop.is_set():
        # Cleared before looking, so alerts stored while we look wake the next round.
        wake.clear()
        await deliver_due(store, client, targets)
        next_at = await store.next_delivery_at()
        delay = 60.0 if next_at is None else min(max(next_at - time.time(), 0.05), 60.0)
        waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
