"""
Periodic clean-up of what juego-web keeps: expired sessions, attempt counters whose
window has passed, device cookies unused for a year, and partidas issued long ago and
never played.
"""

from __future__ import annotations

from datetime import timedelta

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from juego.store import Store
from juego.web import devices
from juego.web.clock import utcnow
from juego.web.throttle import LONGEST

log = Logger()

#: Partidas never played are forgotten this long after they were issued (their results
#: stopped being accepted after an hour).
STALE_PARTIDAS = timedelta(days=1)


class Housekeeping:
    def __init__(self, store: Store, clock: IReactorTime) -> None:
        self._store = store
        self._clock = clock

    def run(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._run())

    async def _run(self) -> None:
        now = utcnow(self._clock)
        try:
            await self._store.accounts.purge(now, now - LONGEST, now - devices.TTL)
            await self._store.partidas.purgeStale(now - STALE_PARTIDAS)
            await self._store.guests.purgeStale(now - STALE_PARTIDAS)
        except Exception:
            log.failure("housekeeping failed")
