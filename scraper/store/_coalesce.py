"""Concurrent lookups of many keys answered by one query."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Keys in one query: bounds the SQL variables of an IN (...) list.
MAX_KEYS = 500


def fail_all(futures: Iterable[asyncio.Future[Any]], exc: BaseException) -> None:
    """Hand one failure to every waiter still waiting (a cancellation as a cancellation)."""
    for future in futures:
        if not future.done():
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)


class Coalescer(Generic[K, V]):
    """``await get(key)`` from many tasks at once; ``lookup(keys)`` runs once for all the
    keys asked while the previous lookup was running (one aiosqlite round trip instead
    of one per caller: each round trip is two thread hand-offs). A key ``lookup`` does
    not return gets ``missing``."""

    def __init__(self, lookup: Callable[[Sequence[K]], Awaitable[dict[K, V]]],
                 missing: V) -> None:
        self._lookup = lookup
        self._missing = missing
        self._waiting: dict[K, list[asyncio.Future[V]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._waiting:
            keys = list(self._waiting)[:MAX_KEYS]
            futures = {key: self._waiting.pop(key) for key in keys}
            try:
                found = await self._lookup(keys)
            except BaseException as exc:
                fail_all((f for waiters in futures.values() for f in waiters), exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for key, waiters in futures.items():
                for future in waiters:
                    if not future.done():
                        future.set_result(found.get(key, self._missing))
