"""Polite fetching: ``make_polite_fetcher(settings) -> Fetcher``, a drop-in for fetch_page.

The daemon and ``--once`` runs pass it as ``fetcher=``. One request goes through these
steps, in order:

1. ``file:`` (any non-http) URLs go straight to fetch_page: no robots.txt, no host limits.
2. A slot of the host: at most ``settings.per_host`` requests in flight to one host.
3. robots.txt of the URL's origin, fetched once and cached for ``ROBOTS_TTL`` (unless the
   watch says ``robots = false``). A disallowed URL is never requested: the result is
   ``FetchResult(outcome="blocked")`` and the pipeline announces ``fetch.blocked``.
4. The host's pace: ``settings.host_delay`` seconds between the starts of two requests to
   one host, raised by the site's ``Crawl-delay``; a ``Retry-After`` (429/503) holds every
   request to the host until then.
5. A global slot: at most ``settings.concurrency`` requests in flight in all.
6. fetch_page. Transient failures (no response, timeouts, 5xx) are retried ``retries``
   times with exponential backoff and jitter; a 4xx never is (a 429 only after its
   ``Retry-After``).

robots.txt statuses, after Google's convention (developers.google.com/search/docs/
crawling-indexing/robots/robots_txt#http-status-codes) and RFC 9309:
- 2xx: obeyed. A 2xx we cannot use (empty, not text) counts as "no rules".
- 4xx (but 429): no robots.txt, everything is allowed.
- 5xx, 429, no answer: the site may be in trouble. Unlike Google, which stops for 12 h
  even when it has a copy, we keep obeying the last usable answer if we ever had one (its
  rules, or "no robots.txt"; kept in the database, of any age): a monitor should not go
  blind because robots.txt blipped, and a site down as a whole then shows as the page's
  own failure. Without one:
  - no answer at all (connection refused or reset, name not resolved, TLS handshake
    failed, timed out): the site cannot be reached, so the check is a failed fetch with
    that cause (``fetch.failed`` after ``failure_threshold``); the page is not asked for.
  - 5xx or 429 (or no usable answer, as a refused redirect): nothing is fetched ("disallow
    all", ``outcome="blocked"``) and robots.txt is asked again every ``ROBOTS_RETRY``.
  Either way for at most ``ROBOTS_UNREACHABLE_LIMIT`` (12 h, Google's figure) from the
  start of the outage, then as if there were no robots.txt, so a host whose robots.txt is
  broken for good is not blocked forever. The start of the outage is kept in the
  RobotsCache (the database), so ``--once`` runs, one process each, reach the limit too.

The fetcher is a closure over a little state (host slots, last request times, the robots
cache); it never holds a slot across a cancellation, so a daemon can cancel checks at
shutdown and the fetcher still works afterwards.

Redirects are followed inside fetch_page; robots.txt of a redirect's target is not
consulted (the watch's own URL is what we were told to fetch).
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import urlsplit

import structlog
from protego import Protego

from scraper.fetch import Fetcher, HttpClient, fetch_page
from scraper.models import FetchResult, Settings, Validators, Watch

__all__ = [
    "MAX_CRAWL_DELAY",
    "MAX_RETRY_AFTER",
    "ROBOTS_RETRY",
    "ROBOTS_TTL",
    "ROBOTS_UNREACHABLE_LIMIT",
    "RobotsCache",
    "is_transient",
    "make_polite_fetcher",
    "robots_token",
]

log = structlog.get_logger("scraper.polite")

ROBOTS_TTL = 3600.0  # a good robots.txt is re-read after an hour
ROBOTS_RETRY = 600.0  # an unavailable one is asked again after ten minutes
ROBOTS_UNREACHABLE_LIMIT = 12 * 3600.0  # ... and no longer blocks after twelve hours
ROBOTS_TIMEOUT = 10.0  # total deadline of one robots.txt fetch
MAX_CRAWL_DELAY = 600.0  # a Crawl-delay above this is taken as this
MAX_RETRY_AFTER = 120.0  # longer Retry-After: give up this check instead of waiting

# Failures without an HTTP status that no retry can fix (fetch.py's messages).
_PERMANENT = ("refused redirect", "more than", "unsupported URL scheme", "invalid URL",
              "LocalProtocolError")

Sleep = Callable[[float], Awaitable[None]]


class RobotsCache(Protocol):
    """Where robots.txt answers outlive the process (the store), so a --once run every
    few minutes does not ask every site for robots.txt every time. Only usable answers
    (a file, or a 4xx meaning none) are kept; ``body`` None means "no robots.txt"."""

    async def load(self, origin: str) -> tuple[float, str | None] | None:
        """(unix time fetched, body) of the last usable answer, if any."""

    async def save(self, origin: str, fetched_at: float, body: str | None) -> None:
        """A usable answer; it ends an outage."""

    async def outage(self, origin: str) -> float | None:
        """Unix time robots.txt of ``origin`` became unavailable (5xx, 429, no answer),
        if it has not answered since."""

    async def save_outage(self, origin: str, since: float) -> None: ...


def robots_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against: 'scraper/0.1 (...)' -> 'scraper'."""
    match = re.match(r"[A-Za-z0-9_-]+", user_agent.strip())
    return match[0] if match else user_agent


def is_transient(result: FetchResult) -> bool:
    """Would the same request, asked again soon, likely succeed?"""
    if result.outcome != "failed":
        return False
    if result.status is None:  # no response at all: connect error, reset, timeout
        return not (result.error or "").startswith(_PERMANENT)
    if result.status == 429:
        return result.retry_after is not None  # only when the server says when
    return result.status >= 500


@dataclass(frozen=True, slots=True)
class _Robots:
    """What we know of one origin's robots.txt."""

    rules: Protego | None  # None: no rules, everything allowed
    expires: float  # monotonic time to ask again
    answered_at: float = -math.inf  # monotonic time of the answer
    blocked: str | None = None  # set: nothing is allowed, and this is why
    failure: FetchResult | None = None  # set: the site gave no answer; the check fails so

    @property
    def usable(self) -> bool:
        """An answer to obey (rules or none), not an outage without a copy."""
        return self.blocked is None and self.failure is None


@dataclass(slots=True)
class _Host:
    """Pacing state of one host. Mutable on purpose: it is the fetcher's memory, touched
    only on the event loop, between awaits."""

    slots: asyncio.Semaphore
    last_start: float = -math.inf  # monotonic start of the latest request
    not_before: float = 0.0  # Retry-After: no request before this monotonic time
    crawl_delay: float = 0.0
    robots: dict[str, _Robots] = field(default_factory=dict)  # by origin
    robots_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def make_polite_fetcher(
    settings: Settings,
    *,
    retries: int = 2,
    backoff: float = 1.0,
    fetch: Fetcher = fetch_page,
    sleep: Sleep = asyncio.sleep,
    robots_cache: RobotsCache | None = None,
) -> Fetcher:
    """A Fetcher (same signature as fetch_page) that is polite to the hosts it visits.

    ``settings.per_host`` and ``settings.concurrency`` size the slots once, here;
    ``host_delay`` and ``user_agent`` are read from the settings of each call, so a
    reloaded config applies. ``retries``: extra attempts after a transient failure,
    waiting ``backoff`` s, then twice that, ... (each with jitter).
    """
    hosts: dict[str, _Host] = {}
    in_flight = asyncio.Semaphore(settings.concurrency)
    cache: RobotsCache = robots_cache if robots_cache is not None else _MemoryRobots()

    def host_of(hostname: str) -> _Host:
        if hostname not in hosts:
            hosts[hostname] = _Host(slots=asyncio.Semaphore(settings.per_host))
        return hosts[hostname]

    async def polite_fetch(
        client: HttpClient, watch: Watch, validators: Validators, call_settings: Settings,
    ) -> FetchResult:
        parts = urlsplit(watch.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return await fetch(client, watch, validators, call_settings)
        host = host_of(parts.hostname.lower())
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        attempt = 0
        while True:
            started = time.monotonic()
            async with host.slots:
                robots = None
                if watch.robots:
                    robots = await _robots_for(client, host, origin, call_settings, in_flight,
                                               fetch, cache, started)
                    refusal = _refusal(robots, watch.url, call_settings.user_agent)
                    if refusal is not None:
                        log.info("fetch.blocked", watch=watch.name, url=watch.url,
                                 reason=refusal)
                        return FetchResult(url=watch.url, outcome="blocked", error=refusal)
                wait = host.not_before - time.monotonic()
                if robots is not None and robots.failure is not None:
                    # The site did not answer for robots.txt: the page is not asked for,
                    # and the check fails with that cause (retried like a page's).
                    result = replace(robots.failure, url=watch.url)
                elif wait > MAX_RETRY_AFTER:
                    return FetchResult(
                        url=watch.url, outcome="failed",
                        error=f"not requested: {parts.hostname} asked us (Retry-After) to "
                        f"wait {wait:.0f} s more",
                    )
                else:
                    await _take_turn(host, call_settings.host_delay, in_flight)
                    try:
                        result = await fetch(client, watch, validators, call_settings)
                    finally:
                        in_flight.release()
                if result.retry_after is not None:
                    host.not_before = max(host.not_before,
                                          time.monotonic() + result.retry_after)
            if attempt >= retries or not is_transient(result):
                return result
            if result.retry_after is not None and result.retry_after > MAX_RETRY_AFTER:
                return result
            attempt += 1
            # Retry-After, when given, is the wait (enforced by host.not_before in
            # _take_turn); otherwise exponential backoff with "equal jitter": at least
            # half of the step, so retries of many watches do not line up.
            step = backoff * 2 ** (attempt - 1)
            pause = 0.0 if result.retry_after is not None else random.uniform(step / 2, step)
            log.info("fetch.retry", watch=watch.name, url=watch.url, attempt=attempt,
                     error=result.error, status=result.status,
                     wait=round(result.retry_after or pause, 2))
            await sleep(pause)

    return polite_fetch


async def _take_turn(
    host: _Host, host_delay: float, in_flight: asyncio.Semaphore, *, pace: bool = True
) -> None:
    """Return holding a global slot at a moment the host's pace allows a request.

    The pace is checked again after the global slot is won, and the slot is given back
    while waiting, so a paced host never sits on global slots. ``pace=False``: the
    request waits for its turn but does not start the host's next delay.
    """
    while True:
        delay = max(host_delay, host.crawl_delay)
        wait = max(host.last_start + delay, host.not_before) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
            continue
        await in_flight.acquire()
        delay = max(host_delay, host.crawl_delay)
        if max(host.last_start + delay, host.not_before) <= time.monotonic():
            if pace:
                host.last_start = time.monotonic()
            return
        in_flight.release()


def _refusal(robots: _Robots, url: str, user_agent: str) -> str | None:
    """Why robots.txt forbids ``url``, or None if it does not."""
    if robots.blocked is not None:
        return robots.blocked
    token = robots_token(user_agent)
    if robots.rules is not None and not robots.rules.can_fetch(url, token):
        path = urlsplit(url).path or "/"
        return f"robots.txt disallows {path} for {token!r}"
    return None


async def _robots_for(
    client: HttpClient, host: _Host, origin: str, settings: Settings,
    in_flight: asyncio.Semaphore, fetch: Fetcher, cache: RobotsCache, started: float,
) -> _Robots:
    """What robots.txt of ``origin`` says, for a check (attempt) that began at ``started``."""
    # One fetch per origin at a time: the other watches of the host wait for its answer.
    async with host.robots_lock:
        cached = host.robots.get(origin)
        # An answer is shared until it expires, and a failure only with the checks that
        # had begun before it came: a later check asks again, so a site that comes back
        # is seen at once.
        if cached is not None and (cached.expires > time.monotonic()
                                   or cached.answered_at >= started):
            return cached
        robots = None
        copy = cached if cached is not None and cached.usable else None
        if copy is None:
            stored = await cache.load(origin)
            if stored is not None:
                fetched_at, body = stored
                age = time.time() - fetched_at
                rules = Protego.parse(body) if body is not None else None
                copy = _Robots(rules=rules, expires=time.monotonic() + ROBOTS_TTL - age)
                if 0 <= age < ROBOTS_TTL:
                    robots = copy
        if robots is None:
            robots = await _fetch_robots(client, host, origin, settings, in_flight, fetch,
                                         copy, cache)
        host.robots[origin] = robots
        token = robots_token(settings.user_agent)
        delay = robots.rules.crawl_delay(token) if robots.rules is not None else None
        host.crawl_delay = min(float(delay or 0.0), MAX_CRAWL_DELAY)
        return robots


async def _fetch_robots(
    client: HttpClient, host: _Host, origin: str, settings: Settings,
    in_flight: asyncio.Semaphore, fetch: Fetcher, copy: _Robots | None, cache: RobotsCache,
) -> _Robots:
    """Ask for robots.txt. ``copy``: the last usable answer (of any age), if any."""
    url = f"{origin}/robots.txt"
    # A synthetic watch: fetch.py stays the only place that speaks HTTP.
    watch = Watch(name=f"robots.txt of {origin}", url=url, interval=ROBOTS_TTL,
                  timeout=min(settings.timeout, ROBOTS_TIMEOUT))
    # robots.txt does not count toward the host's pace: it is one small file an hour, and
    # counting it would hold the first check of every host for host_delay (16 pages/s
    # over a watch list of many sites, measured).
    await _take_turn(host, settings.host_delay, in_flight, pace=False)
    try:
        result = await fetch(client, watch, Validators(), replace(settings, max_body=500_000))
    finally:
        in_flight.release()
    now = time.monotonic()
    status = result.status
    if result.outcome == "ok" and result.text is not None:
        log.info("robots.fetched", url=url, status=status)
        await cache.save(origin, time.time(), result.text)
        return _Robots(rules=Protego.parse(result.text), expires=now + ROBOTS_TTL,
                       answered_at=now)
    if status is not None and (200 <= status < 400 or (400 <= status < 500 and status != 429)):
        # No usable file (404, 410, 403, an empty 200 ...): no rules.
        log.info("robots.absent", url=url, status=status, error=result.error)
        await cache.save(origin, time.time(), None)
        return _Robots(rules=None, expires=now + ROBOTS_TTL, answered_at=now)
    # 5xx, 429 or no answer: the host may be struggling. The clock of the outage is in
    # the cache (the database), so separate --once runs reach its limit too.
    wall = time.time()
    since = await cache.outage(origin)
    if since is None or since > wall:
        since = wall
        await cache.save_outage(origin, since)
    why = result.error or f"HTTP {status}"
    log.warning("robots.unavailable", url=url, status=status, error=why,
                failing_for=round(wall - since))
    if copy is not None:  # keep obeying the last good copy (its rules, or none)
        return replace(copy, expires=now + ROBOTS_RETRY, answered_at=now)
    if wall - since >= ROBOTS_UNREACHABLE_LIMIT:
        return _Robots(rules=None, expires=now + ROBOTS_RETRY, answered_at=now)
    if result.unreachable or (status is not None and status >= 500):
        # No answer at all, or a server error: the site is down or cut off, which is a
        # failed check with its cause, not a site that forbids us anything. The page is
        # not asked for all the same (RFC 9309 2.3.1.4). A 429 is the site asking us to
        # slow down: that stays a block.
        return _Robots(rules=None, expires=now, answered_at=now, failure=FetchResult(
            url=url, outcome="failed", status=status, error=f"{why} (asking for robots.txt)",
            unreachable=result.unreachable, duration=result.duration,
        ))
    return _Robots(
        rules=None, expires=now + ROBOTS_RETRY, answered_at=now,
        blocked=f"robots.txt unavailable ({why}); nothing is fetched from {origin} until "
        "it answers (as Google does)",
    )


class _MemoryRobots:
    """The RobotsCache of a fetcher given none: this process's memory."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[float, str | None]] = {}
        self.outages: dict[str, float] = {}

    async def load(self, origin: str) -> tuple[float, str | None] | None:
        return self.answers.get(origin)

    async def save(self, origin: str, fetched_at: float, body: str | None) -> None:
        self.answers[origin] = (fetched_at, body)
        self.outages.pop(origin, None)

    async def outage(self, origin: str) -> float | None:
        return self.outages.get(origin)

    async def save_outage(self, origin: str, since: float) -> None:
        self.outages[origin] = since
