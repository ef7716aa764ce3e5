"""
Password hashing with argon2id, off the reactor thread, on threads of its own.

Hashing is the most expensive thing a request can ask for (about 170 ms of one core), so
it is bounded: L{HashingPool} runs at most one hash per thread (about one thread per
core) and keeps a short queue behind them; a request that finds the queue full is
answered 503 with C{Retry-After} at once (L{Overloaded}) instead of waiting. Nothing else
runs on these threads, and hashing never runs on the reactor's or the database's, so
other requests never wait behind it. Browsers known to the account (a valid device
cookie, L{juego.web.devices}) have a queue of their own that is served first, so that a
flood of strangers' guesses cannot keep an account's owner from logging in.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from juego.metrics import Metrics
from juego.web.errors import Overloaded, retryAfter

#: Hashes waiting for a thread, per lane and per thread, beyond which a request is refused.
QUEUE_PER_THREAD = 2
#: Seconds a refused request is told to wait.
RETRY_AFTER = 1


class Runner(Protocol):
    """
    Runs a blocking function (elsewhere) and returns a Deferred of its result.
    """

    def __call__(self, f: Callable[..., Any], *a: Any, priority: bool = False) -> Deferred[Any]:
        """
        Run C{f(*a)}; C{priority} work goes before the rest.
        """


def defaultThreads() -> int:
    """
    One hashing thread per core (argon2-cffi's hash is single-threaded in practice).
    """
    return max(1, os.cpu_count() or 1)


class HashingPool:
    """
    A small thread pool for password hashing, with a bounded queue in two lanes.

    The queue is kept here, on the reactor thread, and work reaches the L{ThreadPool} only
    when one of its threads is free; so the pool's own queue stays empty and this one's
    bound is exact. Started and stopped with the web service.
    """

    def __init__(
        self,
        reactor: IReactorFromThreads,
        threads: int | None = None,
        queue: int | None = None,
        threadpool: Any = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._reactor = reactor
        self.threads = threads or defaultThreads()
        self.queueLimit = QUEUE_PER_THREAD * self.threads if queue is None else queue
        if threadpool is None:
            threadpool = ThreadPool(minthreads=0, maxthreads=self.threads, name="juego-argon2")
        self.threadpool = threadpool
        self._metrics = metrics
        self._running = 0
        self._lanes: dict[bool, deque[tuple[Deferred[Any], Callable[..., Any], tuple[Any, ...]]]]
        self._lanes = {True: deque(), False: deque()}

    def start(self) -> None:
        if not self.threadpool.started:
            self.threadpool.start()

    def stop(self) -> None:
        if self.threadpool.started:
            self.threadpool.stop()

    def waiting(self) -> int:
        return len(self._lanes[True]) + len(self._lanes[False])

    def __call__(self, f: Callable[..., Any], *a: Any, priority: bool = False) -> Deferred[Any]:
        """
        Run C{f(*a)} on a hashing thread; fail at once with L{Overloaded} if C{priority}'s
        lane is full.
        """
        if self._running < self.threads:
            return self._start(f, a)
        lane = self._lanes[priority]
        if len(lane) >= self.queueLimit:
            if self._metrics is not None:
                self._metrics.passwordRefused.inc()
            return fail(Overloaded(headers=retryAfter(RETRY_AFTER)))
        d: Deferred[Any] = Deferred()
        lane.append((d, f, a))
        return d

    def _start(self, f: Callable[..., Any], a: tuple[Any, ...]) -> Deferred[Any]:
        self._running += 1
        d = deferToThreadPool(self._reactor, self.threadpool, f, *a)
        d.addBoth(self._finished)
        return d

    def _finished(self, result: Any) -> Any:
        self._running -= 1
        for priority in (True, False):
            if self._lanes[priority]:
                waiter, f, a = self._lanes[priority].popleft()
                self._start(f, a).chainDeferred(waiter)
                break
        return result


def _synchronous(f: Callable[..., Any], *a: Any, priority: bool = False) -> Deferred[Any]:
    return maybeDeferred(f, *a)


class Passwords:
    """
    Hashes and checks passwords (argon2id, argon2-cffi's recommended parameters unless a
    hasher is given); the work runs through C{run}, normally a L{HashingPool}.
    """

    def __init__(
        self, run: Runner, hasher: PasswordHasher | None = None, metrics: Metrics | None = None
    ) -> None:
        self._run = run
        self._hasher = hasher or PasswordHasher()
        self._metrics = metrics
        #: Password checks and hashes actually run (what the throttle lets through).
        self.verifications = 0
        self.hashes = 0
        # Checked against when the account does not exist, so that a login costs the
        # same whether or not the email is known.
        self._dummy = self._hasher.hash("juego: no such account")

    @classmethod
    def inPool(
        cls, pool: HashingPool, hasher: PasswordHasher | None = None, metrics: Metrics | None = None
    ) -> Passwords:
        return cls(pool, hasher, metrics)

    @classmethod
    def synchronous(cls, hasher: PasswordHasher | None = None) -> Passwords:
        """
        Hash in the calling thread (for tests and command-line tools).
        """
        return cls(_synchronous, hasher)

    def _count(self, kind: str) -> None:
        if kind == "verify":
            self.verifications += 1
        else:
            self.hashes += 1
        if self._metrics is not None:
            self._metrics.passwordWork.labels(kind).inc()

    def hash(self, password: str, priority: bool = False) -> Deferred[str]:
        def work() -> str:
            self._count("hash")
            return self._hasher.hash(password)

        return self._run(work, priority=priority)

    def verify(
        self, passwordHash: str | None, password: str, priority: bool = False
    ) -> Deferred[bool]:
        """
        Whether C{password} matches C{passwordHash}; with no hash, spend the same time
        and answer C{False}. Fails with L{Overloaded} when hashing is saturated.
        """

        def check() -> bool:
            self._count("verify")
            try:
                return bool(self._hasher.verify(passwordHash or self._dummy, password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        d = self._run(check, priority=priority)
        if passwordHash is None:
            return d.addCallback(lambda _: False)
        return d

    def needsRehash(self, passwordHash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(passwordHash)
        except InvalidHashError:
            return True


__all__ = ["HashingPool", "Overloaded", "Passwords"]
