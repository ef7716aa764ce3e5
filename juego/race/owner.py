"""
How a web node reaches the rooms' owner: C{call(action, **fields)} fires with the reply
dict (C{success} false with C{code} and C{error} for a refusal), and C{listen(onEvent)}
hears every room's snapshot.

L{DistOwner}: the rooms live in juego-dist (every web node shares them); actions go over
the juego-dist client's pool, and the snapshots come over one dedicated feed connection
(C{race_subscribe}), subscribed again whenever it comes back. L{LocalOwner}: the rooms live
in this process (a lone web process, and the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from juego.clients.common import ServiceUnavailable
from juego.clients.deferred import Subscription
from juego.race.rooms import RaceError
from juego.race.service import RACE_EVENT, RaceActions, recorder

log = Logger()

OnEvent = Callable[[dict[str, Any]], None]


class LocalOwner:
    """
    The rooms in this process.
    """

    def __init__(self, clock: IReactorTime, store: Any = None, **kw: Any) -> None:
        self._listeners: list[OnEvent] = []
        self.actions = RaceActions.on(clock, self._publish, record=recorder(store, clock), **kw)
        #: Called after the feed (re)connects (never, here: it cannot go).
        self.onFeed: Callable[[], None] | None = None

    def _publish(self, snapshot: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(snapshot)
            except Exception:
                log.failure("a race listener failed")

    def listen(self, onEvent: OnEvent) -> None:
        self._listeners.append(onEvent)

    def call(self, action: str, **fields: Any) -> Deferred[dict[str, Any]]:
        try:
            return defer.succeed(self.actions.handle(action, fields))
        except RaceError as e:
            return defer.succeed({"success": False, "code": e.code, "error": e.message})

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.actions.rooms.closeAll()


class DistOwner:
    """
    The rooms in juego-dist, through C{client} (a L{juego.clients.DistServiceClient}).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._listeners: list[OnEvent] = []
        self._feed: Any = None
        self.onFeed: Callable[[], None] | None = None

    def listen(self, onEvent: OnEvent) -> None:
        self._listeners.append(onEvent)

    def call(self, action: str, **fields: Any) -> Deferred[dict[str, Any]]:
        """
        Over the feed's own connection while it is up (one ordered, unbuffered path to
        the owner: no Nagle delay, no queueing behind other calls), else the pool.
        """
        protocol = self._feed.protocol if self._feed is not None else None
        if protocol is None:
            result: Deferred[dict[str, Any]] = self.client.call(action, **fields)
            return result
        sent: Deferred[dict[str, Any]] = protocol.request(action, **fields)
        sent.addTimeout(self.client.timeout, self.client.reactor)
        return sent

    def _event(self, message: dict[str, Any]) -> None:
        snapshot = message.get("sala")
        if message.get("event") != RACE_EVENT or not isinstance(snapshot, dict):
            return
        for listener in list(self._listeners):
            try:
                listener(snapshot)
            except Exception:
                log.failure("a race listener failed")

    def _subscribed(self) -> None:
        if self.onFeed is not None:
            self.onFeed()

    def start(self) -> None:
        if self._feed is None:
            self._feed = RaceFeed(self.client, self._event, self._subscribed)
            self.client._subscriptions.add(self._feed)
            self._feed.start()

    def stop(self) -> Any:
        feed, self._feed = self._feed, None
        return feed.stop() if feed is not None else None


class RaceFeed(Subscription):
    """
    A dedicated connection to juego-dist that asked for every room's events.
    """

    def __init__(self, client: Any, onEvent: OnEvent, onSubscribed: Callable[[], None]) -> None:
        super().__init__(client, lambda _: None, None, onSubscribed)
        self._onEvent = onEvent

    @property
    def protocol(self) -> Any:
        """
        The feed's connection while subscribed, else L{None}.
        """
        return self._link.protocol if self._link.ready else None

    def prepare(self, protocol: Any) -> Deferred[Any]:
        protocol.onEvent = self._onEvent
        noDelay = getattr(protocol.transport, "setTcpNoDelay", None)
        if noDelay is not None:
            noDelay(True)  # progress is a stream of small messages: no Nagle delay

        def check(reply: dict[str, Any]) -> None:
            if not reply.get("success"):
                raise ServiceUnavailable(f"Suscripción rechazada: {reply.get('error')}")

        return protocol.request("race_subscribe").addCallback(check)

    def linkLost(self, link: Any) -> None:
        log.info("race feed lost; subscribing again")
