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
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from juego.metrics import Metrics
from juego.store.users import checkGuessable
from juego.web.errors import Overloaded, retryAfter

#: Hashes that may wait for a thread, per lane and per thread, beyond which a request is
#: refused (on two cores: one thread for strangers, so sixteen waiting is about three
#: seconds of work).
QUEUE_PER_THREAD = 8
#: Seconds a refused request is told to wait.
RETRY_AFTER = 1


class Ticket:
    """
    A place in the hashing queue, taken when a request arrives (before any of its other
    work) and used by its hash, or given back.
    """

    def __init__(self, pool: HashingPool | None, priority: bool) -> None:
        self._pool = pool
        self.priority = priority
        self.done = pool is None

    def use(self) -> None:
        if not self.done:
            self.done = True
            assert self._pool is not None
            self._pool._pending[self.priority] -= 1

    def release(self) -> None:
        """
        Give the place back, if the request did not hash after all.
        """
        self.use()


class Runner(Protocol):
    """
    Runs a blocking function (elsewhere) and returns a Deferred of its result.
    """

    def __call__(
        self, f: Callable[..., Any], *a: Any, priority: bool = False, ticket: Ticket | None = None
    ) -> Deferred[Any]:
        """
        Run C{f(*a)}; C{priority} work goes before the rest; C{ticket} is its place,
        taken earlier.
        """


def defaultThreads() -> int:
    """
    One hashing thread per core (argon2-cffi's hash is single-threaded in practice), and
    at least two, so that one can be kept for known browsers.
    """
    return max(2, os.cpu_count() or 1)


class HashingPool:
    """
    A small thread pool for password hashing, with a bounded queue in two lanes.

    A request takes its place (a L{Ticket}) when it arrives, before it costs any database
    work, so that a burst is sorted into "will hash" and "503 now" at once. Strangers'
    work may use all threads but C{reserved} (one by default), plus C{queue} places
    waiting; browsers known to the account (the C{priority} lane) may use every thread,
    have as many places of their own, and are served first: so a known browser never
    waits behind a stranger's hash, however many strangers. The queue is kept here, on
    the reactor thread, and work reaches the L{ThreadPool} only when one of its threads is
    free; so the pool's own queue stays empty and this one's bound is exact. Started and
    stopped with the web service.
    """

    def __init__(
        self,
        reactor: IReactorFromThreads,
        threads: int | None = None,
        queue: int | None = None,
        threadpool: Any = None,
        metrics: Metrics | None = None,
        reserved: int | None = None,
    ) -> None:
        self._reactor = reactor
        self.threads = threads or defaultThreads()
        #: Threads strangers' work may not use (a pool of their own, not niced).
        self.reserved = min(1, self.threads - 1) if reserved is None else reserved
        self.queueLimit = QUEUE_PER_THREAD * self.threads if queue is None else queue
        #: Threads per pool: False, everyone's (niced, L{NICENESS}); True, known browsers'.
        self._sizes = {False: self.threads - self.reserved, True: self.reserved}
        if threadpool is None:
            shared = ThreadPool(minthreads=0, maxthreads=self._sizes[False], name="juego-argon2")
            known = shared
            if self.reserved:
                known = ThreadPool(
                    minthreads=0, maxthreads=self.reserved, name="juego-argon2-conocidos"
                )
            self._pools = {False: shared, True: known}
        else:
            self._pools = {False: threadpool, True: threadpool}
        self._metrics = metrics
        #: Threads at work, per pool.
        self._busy = {False: 0, True: 0}
        #: Work on a thread, per lane.
        self._running = {True: 0, False: 0}
        #: Tickets taken and not yet used, per lane.
        self._pending = {True: 0, False: 0}
        self._lanes: dict[bool, deque[tuple[Deferred[Any], Callable[..., Any], tuple[Any, ...]]]]
        self._lanes = {True: deque(), False: deque()}

    def _threadpools(self) -> list[Any]:
        return list({id(p): p for p in self._pools.values()}.values())

    def start(self) -> None:
        for pool in self._threadpools():
            if not pool.started:
                pool.start()

    def stop(self) -> None:
        for pool in self._threadpools():
            if pool.started:
                pool.stop()

    def waiting(self) -> int:
        return len(self._lanes[True]) + len(self._lanes[False])

    def _where(self, priority: bool) -> bool | None:
        """
        The pool work of C{priority}'s lane can start on now (C{True}: the known
        browsers'), if any.
        """
        if priority and self._busy[True] < self._sizes[True]:
            return True
        if self._busy[False] < self._sizes[False]:
            return False
        return None

    def admit(self, priority: bool = False) -> Ticket:
        """
        A place in C{priority}'s lane, or L{Overloaded} (503, C{Retry-After}) if it is full.
        """
        capacity = self.threads if priority else self._sizes[False]
        load = self._running[priority] + len(self._lanes[priority]) + self._pending[priority]
        if load >= capacity + self.queueLimit:
            if self._metrics is not None:
                self._metrics.passwordRefused.inc()
            raise Overloaded(headers=retryAfter(RETRY_AFTER))
        self._pending[priority] += 1
        return Ticket(self, priority)

    def __call__(
        self, f: Callable[..., Any], *a: Any, priority: bool = False, ticket: Ticket | None = None
    ) -> Deferred[Any]:
        """
        Run C{f(*a)} on a hashing thread, in C{ticket}'s place (without one, take one now:
        fail at once with L{Overloaded} if C{priority}'s lane is full).
        """
        if ticket is None or ticket.done:
            try:
                ticket = self.admit(priority)
            except Overloaded as e:
                return fail(e)
        ticket.use()
        where = self._where(ticket.priority)
        if where is not None:
            return self._start(ticket.priority, where, f, a)
        d: Deferred[Any] = Deferred()
        self._lanes[ticket.priority].append((d, f, a))
        return d

    def _start(
        self, priority: bool, pool: bool, f: Callable[..., Any], a: tuple[Any, ...]
    ) -> Deferred[Any]:
        self._running[priority] += 1
        self._busy[pool] += 1
        nice = not pool or self._pools[True] is self._pools[False]
        d = deferToThreadPool(self._reactor, self._pools[pool], _yielding, nice, f, *a)
        d.addBoth(self._finished, priority, pool)
        return d

    def _finished(self, result: Any, priority: bool, pool: bool) -> Any:
        self._running[priority] -= 1
        self._busy[pool] -= 1
        for lane in (True, False):
            while self._lanes[lane]:
                where = self._where(lane)
                if where is None:
                    break
                waiter, f, a = self._lanes[lane].popleft()
                self._start(lane, where, f, a).chainDeferred(waiter)
        return result


#: The hashing threads' niceness (Linux): the reactor and the database threads always get
#: the CPU first, so that hashing uses what they leave and never slows other requests.
NICENESS = 10
_niced: set[int] = set()


def _yielding(nice: bool, f: Callable[..., Any], *a: Any) -> Any:
    """
    Run C{f(*a)} in a hashing thread, first making the thread nice if C{nice} (once per
    thread; the known browsers' threads are left alone, so that their owners' logins do
    not wait on a busy machine).

    argon2 holds a core for ~170 ms per hash; without this, on a small machine two
    hashing threads took most of the CPU from the reactor thread (measured: a busy loop on
    the main thread ran 5 times slower beside two hashing threads; with them at niceness
    10, barely slower).
    """
    thread = threading.get_native_id()
    if nice and thread not in _niced:
        _niced.add(thread)
        try:
            os.setpriority(os.PRIO_PROCESS, thread, NICENESS)
        except (AttributeError, OSError):
            pass  # not Linux, or not allowed: hashing stays bounded by the queue anyway
    return f(*a)


def _synchronous(
    f: Callable[..., Any], *a: Any, priority: bool = False, ticket: Ticket | None = None
) -> Deferred[Any]:
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

    def admit(self, priority: bool = False) -> Ticket:
        """
        A place for one hash or check, taken now (L{HashingPool.admit}): raise
        L{Overloaded} if hashing is saturated, before the request costs anything more.
        """
        if isinstance(self._run, HashingPool):
            return self._run.admit(priority)
        return Ticket(None, priority)

    def _count(self, kind: str) -> None:
        if kind == "verify":
            self.verifications += 1
        else:
            self.hashes += 1
        if self._metrics is not None:
            self._metrics.passwordWork.labels(kind).inc()

    def hash(
        self, password: str, priority: bool = False, ticket: Ticket | None = None
    ) -> Deferred[str]:
        def work() -> str:
            self._count("hash")
            return self._hasher.hash(password)

        return self._run(work, priority=priority, ticket=ticket)

    def hashNew(
        self, password: str, userInputs: Sequence[str], ticket: Ticket | None = None
    ) -> Deferred[str]:
        """
        Hash a new password, after refusing it (L{InvalidField}, with the reason) if it is
        common or guessable: the estimate costs CPU too, so it runs on the hashing thread,
        not the reactor's.
        """

        def work() -> str:
            checkGuessable(password, userInputs)
            self._count("hash")
            return self._hasher.hash(password)

        return self._run(work, ticket=ticket)

    def verify(
        self,
        passwordHash: str | None,
        password: str,
        priority: bool = False,
        ticket: Ticket | None = None,
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

        d = self._run(check, priority=priority, ticket=ticket)
        if passwordHash is None:
            return d.addCallback(lambda _: False)
        return d

    def needsRehash(self, passwordHash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(passwordHash)
        except InvalidHashError:
            return True


__all__ = ["HashingPool", "Overloaded", "Passwords", "Ticket"]
