"""
Rate limits for the API's writes that a client could repeat in a loop (new partidas,
results, profile edits, logouts, marking notifications read, sign-ups): a token bucket
per key (a player, or a client address), answered 429 C{demasiadas_peticiones} with
C{Retry-After} when empty.

The buckets live in memory, per web node, on purpose: checking one costs no database
write, so the limit adds nothing to the cost of the request it guards. With several
nodes behind a balancer a client gets each node's allowance (the limits are set so that
even that is harmless); what must hold across nodes (password guessing, sign-ups) is
counted in the database instead (L{juego.web.throttle}). Time is the reactor's clock
(L{IReactorTime}), so tests step a C{Clock}.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from twisted.internet.interfaces import IReactorTime

from juego.web.errors import TooManyRequests, retryAfter

#: Keys a limiter remembers at most; past it the least recently used are forgotten
#: (a forgotten key starts again with a full bucket).
MAX_KEYS = 100_000


class RateLimiter:
    """
    A token bucket per key: C{burst} requests at once, then one every C{every} seconds.
    """

    def __init__(
        self, clock: IReactorTime, burst: int, every: float, maxKeys: int = MAX_KEYS
    ) -> None:
        self._clock = clock
        self.burst = burst
        self.every = every
        self._maxKeys = maxKeys
        #: key -> (tokens, when they were counted), least recently used first.
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def take(self, key: Hashable) -> None:
        """
        Spend one request of C{key}'s, or raise L{TooManyRequests} saying when the next
        one will be there.
        """
        now = self._clock.seconds()
        tokens, then = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - then) / self.every)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise TooManyRequests(headers=retryAfter((1.0 - tokens) * self.every))
        self._buckets[key] = (tokens - 1.0, now)
        while len(self._buckets) > self._maxKeys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimits:
    """
    The API's limiters (one web node's), by what they guard.
    """

    def __init__(self, clock: IReactorTime, scale: float = 1.0) -> None:
        """
        @param scale: a factor on every burst and rate (C{JUEGO_RATE_LIMITS}).
        """

        def limiter(burst: int, every: float) -> RateLimiter:
            return RateLimiter(clock, max(1, round(burst * scale)), every / scale)

        #: New partidas, per player: a game lasts a minute or so.
        self.partidas = limiter(burst=10, every=3.0)
        #: Results, per player: one per partida.
        self.resultados = limiter(burst=10, every=3.0)
        #: Profile edits and logouts, per player.
        self.cuenta = limiter(burst=10, every=6.0)
        #: Marking notifications read, per player.
        self.notificaciones = limiter(burst=30, every=1.0)
        #: Sign-ups, per client address, before the database's count (which holds across
        #: nodes) is even asked: a flood stops here without a write.
        self.registro = limiter(burst=10, every=60.0)
