"""
A value the web process may reuse for a moment: C{GET /api/stats/global} asks juego-dist
at most once per L{GLOBAL_STATS_TTL} however many players ask (the contract: stats reflect a
confirmed save within 1 s, caches included).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

T = TypeVar("T")

#: Seconds juego-web reuses the global stats (well inside the contract's 1 s).
GLOBAL_STATS_TTL = 0.25


class Recent(Generic[T]):
    """
    The result of C{fetch()}, kept for C{ttl} seconds (counted from when the fetch
    began). Callers that come while a fetch runs wait for that one fetch; a failure is
    passed to them and not kept. L{forget} drops the value at once (after a change made
    here), and later callers do not join a fetch that began before it.
    """

    def __init__(self, fetch: Callable[[], Awaitable[T]], clock: IReactorTime, ttl: float) -> None:
        self._fetch = fetch
        self._clock = clock
        self._ttl = ttl
        self._value: T | None = None
        self._expires = float("-inf")
        self._waiters: list[Deferred[T]] | None = None
        self._generation = 0

    def get(self) -> Deferred[T]:
        now = self._clock.seconds()
        if now < self._expires:
            return succeed(self._value)  # type: ignore[arg-type]
        waiter: Deferred[T] = Deferred()
        if self._waiters is not None:
            self._waiters.append(waiter)
            return waiter
        waiters = self._waiters = [waiter]
        ensureDeferred(self._fetch()).addBoth(self._fetched, waiters, self._generation, now)  # type: ignore[arg-type]
        return waiter

    def forget(self) -> None:
        self._generation += 1
        self._value, self._expires, self._waiters = None, float("-inf"), None

    def _fetched(
        self, result: Any, waiters: list[Deferred[T]], generation: int, started: float
    ) -> None:
        if self._waiters is waiters:
            self._waiters = None
        if not isinstance(result, Failure) and generation == self._generation:
            self._value, self._expires = result, started + self._ttl
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)
