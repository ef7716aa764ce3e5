"""
Optional Redis (C{JUEGO_REDIS_URL} or C{--redis URL}): a shared cache of the ranking
(L{juego.cache.ranking}) and pub/sub between juego-dist nodes (L{juego.cache.bus}).

The database stays the source of truth: Redis may be lost, flushed or unreachable at any
time, everything then works from the database as it does without Redis, and the cache is
rebuilt from it when Redis is back. See docs/OPERATIONS.md ("Redis (optional)").
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService

from juego.cache.bus import NotificationBus
from juego.cache.link import Health, RedisLink, RedisSettings, SubscriberProtocol
from juego.cache.ranking import RankingCache
from juego.store import Store

#: Seconds between two pings on the pub/sub connection (a dead one is noticed and
#: replaced within this plus the reply timeout).
SUBSCRIBER_PING = 10.0

__all__ = ["Cache", "NotificationBus", "RankingCache", "RedisLink", "RedisSettings"]


class Cache(MultiService):
    """
    A process's Redis parts, run for as long as the service runs.

    Every process that changes bests (juego-tcp's saves, juego-web's admin resets and
    deletions) keeps the ranking set up to date; juego-dist also reads it, rebuilds it,
    and carries notifications between nodes.

    @ivar ranking: the L{RankingCache}, also the store's ranking listener.
    @ivar bus: the L{NotificationBus} (juego-dist only, else L{None}).
    """

    def __init__(
        self, settings: RedisSettings, store: Store, reactor: Any, dist: bool = False
    ) -> None:
        super().__init__()
        self.settings = settings
        self.health = Health(settings.where)
        self.link = RedisLink(settings, reactor, self.health)
        self.link.setServiceParent(self)
        self.ranking = RankingCache(self.link, store.stats, settings.prefix, reactor, rebuilds=dist)
        store.scores.listener = self.ranking
        self.bus: NotificationBus | None = None
        if dist:
            subscriber = RedisLink(
                settings,
                reactor,
                self.health,
                name="redis pub/sub",
                protocolClass=SubscriberProtocol,
                pingInterval=SUBSCRIBER_PING,
            )
            subscriber.setServiceParent(self)
            self.bus = NotificationBus(self.link, subscriber, settings.prefix)

    @classmethod
    def fromURL(cls, url: str, store: Store, reactor: Any, dist: bool = False) -> Cache:
        return cls(RedisSettings.fromURL(url), store, reactor, dist)

    def stopService(self) -> Any:
        self.ranking.stop()
        return super().stopService()
