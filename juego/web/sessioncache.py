"""
A web process's cache of session → user, so that a request with a session cookie does not
read the database every time.

An entry is the session as last read (its user and expiry), kept under the token's SHA-256
for at most L{MAX_STALENESS} seconds of the reactor's clock; after that the next request
reads the database again. At most L{MAX_ENTRIES} entries are kept, the least recently used
going first.

Whatever ends a session or changes what a L{User} carries drops the affected entries on
every web node: L{SessionCache.drop} drops them here at once, and asks juego-dist
(C{drop_sessions}) to push the drop to every subscribed web node (C{{"event": "sesiones",
...}}, through Redis to the subscribers of the other juego-dist nodes too), whose hub
hands it to L{SessionCache.received}. When juego-dist cannot be reached, or a push is lost,
the bound is the guarantee: no node serves a session or a user from its cache more than
L{MAX_STALENESS} seconds after the change. A node whose feed from juego-dist comes back
empties its cache (L{SessionCache.clear}), since it may have missed drops meanwhile.

A lookup that was under way while a drop arrived is not cached (L{SessionCache.epoch}), so
a drop is never undone by a read that began before it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from juego.clients.protocols import DistService
from juego.store.accounts import SessionInfo

#: Seconds an entry is served from the cache before the database is read again: the most
#: a node may lag behind a logout, a deletion or an account change when the push from
#: juego-dist does not reach it.
MAX_STALENESS = 5.0
#: Entries kept per web process (the least recently used are dropped beyond it).
MAX_ENTRIES = 10_000
#: Most token hashes one C{drop_sessions} carries (juego-dist refuses more:
#: L{juego.stats.MAX_SESSION_HASHES}).
MAX_TOKENS = 100
#: Seconds a drop waits for juego-dist's answer before the request goes on without it.
DROP_TIMEOUT = 1.0

log = Logger()


@attrs.define
class _Entry:
    info: SessionInfo
    cachedAt: float


class SessionCache:
    """
    @param clock: the reactor's clock (entries age on it).
    @param dist: juego-dist's client (C{drop_sessions}), or L{None}: drops stay local.
    @ivar epoch: bumped by every drop; a lookup caches its result only if no drop came
        while it ran.
    @ivar hits: lookups answered from the cache.
    @ivar misses: lookups that read the database.
    """

    def __init__(
        self,
        clock: IReactorTime,
        dist: DistService | None = None,
        maxStaleness: float = MAX_STALENESS,
        maxEntries: int = MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        self._dist = dist
        self.maxStaleness = maxStaleness
        self.maxEntries = maxEntries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._byUser: dict[int, set[str]] = {}
        self.epoch = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    # Lookups

    def get(self, tokenHash: str, now: datetime) -> SessionInfo | None:
        """
        The session under C{tokenHash} if a fresh entry holds it and it has not expired
        at C{now}; else L{None} (a miss: the caller reads the database).
        """
        entry = self._entries.get(tokenHash)
        if entry is not None:
            if (
                self._clock.seconds() - entry.cachedAt < self.maxStaleness
                and entry.info.expira > now
            ):
                self._entries.move_to_end(tokenHash)
                self.hits += 1
                return entry.info
            self._forget(tokenHash)
        self.misses += 1
        return None

    def put(self, tokenHash: str, info: SessionInfo, epoch: int) -> None:
        """
        Keep C{info}, read by a lookup that began at C{epoch}, unless a drop came since.
        """
        if epoch != self.epoch:
            return
        self._forget(tokenHash)
        self._entries[tokenHash] = _Entry(info, self._clock.seconds())
        self._byUser.setdefault(info.user.id, set()).add(tokenHash)
        while len(self._entries) > self.maxEntries:
            oldest = next(iter(self._entries))
            self._forget(oldest)

    def extended(self, tokenHash: str, expira: datetime) -> None:
        """
        The session's expiry moved forward (its age in the cache stays).
        """
        entry = self._entries.get(tokenHash)
        if entry is not None:
            entry.info = attrs.evolve(entry.info, expira=expira)

    # Drops

    def dropLocal(self, userID: int | None = None, tokens: Iterable[str] = ()) -> None:
        """
        Forget every entry of C{userID} and those under C{tokens}, on this node only.
        """
        self.epoch += 1
        for tokenHash in list(tokens):
            self._forget(tokenHash)
        if userID is not None:
            for tokenHash in list(self._byUser.get(userID, ())):
                self._forget(tokenHash)

    def clear(self) -> None:
        """
        Forget everything (the feed of drops came back: some may have been missed).
        """
        self.epoch += 1
        self._entries.clear()
        self._byUser.clear()

    async def drop(self, userID: int | None = None, tokens: Iterable[str] = ()) -> None:
        """
        Forget C{userID}'s sessions and those under C{tokens} here, and ask juego-dist to
        make every other web node forget them. Never fails: when juego-dist is down (or
        slow, past L{DROP_TIMEOUT}), the other nodes' entries lapse within the bound.
        """
        tokens = list(tokens)
        self.dropLocal(userID, tokens)
        if self._dist is None or getattr(self._dist, "available", True) is False:
            return
        fields: dict[str, Any] = {}
        if userID is not None:
            fields["user_id"] = userID
        for start in range(0, max(len(tokens), 1), MAX_TOKENS):
            chunk = tokens[start : start + MAX_TOKENS]
            if chunk:
                fields["sesiones"] = chunk
            elif userID is None:
                return
            call = self._dist.drop_sessions(**fields)
            timer = self._clock.callLater(DROP_TIMEOUT, call.cancel)
            try:
                reply = await call
            except Exception as e:
                log.info(
                    "juego-dist did not pass on a session drop ({error}): other nodes "
                    "forget it within {bound} s",
                    error=e,
                    bound=self.maxStaleness,
                )
                return
            finally:
                if timer.active():
                    timer.cancel()
            if not reply.get("success"):
                log.warn("juego-dist refused a session drop: {error}", error=reply.get("error"))
                return
            fields.pop("user_id", None)

    def received(self, event: dict[str, Any]) -> None:
        """
        A drop pushed by juego-dist (another node's, or this node's own coming back).
        """
        userID = event.get("user_id")
        tokens = event.get("sesiones")
        if userID is not None and (isinstance(userID, bool) or not isinstance(userID, int)):
            userID = None
        if not isinstance(tokens, list):
            tokens = []
        self.dropLocal(userID, [t for t in tokens if isinstance(t, str)])

    def _forget(self, tokenHash: str) -> None:
        entry = self._entries.pop(tokenHash, None)
        if entry is None:
            return
        userID = entry.info.user.id
        hashes = self._byUser.get(userID)
        if hashes is not None:
            hashes.discard(tokenHash)
            if not hashes:
                del self._byUser[userID]
