"""
juego-dist: player and global statistics, and players' notifications, over the line
protocol (L{juego.wire}); connections that C{subscribe} are pushed every new
notification as it is stored.

Stats are read from the aggregates on every request, so they reflect a confirmed save at
once; with Redis (L{juego.cache}) a player's position comes from a shared sorted set kept
up to date after each commit, and notifications reach the subscribers of every node.

C{drop_sessions} (C{user_id} and/or C{sesiones}, a list of session token hashes) pushes
C{{"event": "sesiones", "user_id": ..., "sesiones": [...]}} to every connection subscribed
to the whole feed (the web nodes, of every juego-dist node through Redis): each drops those
sessions from its cache (L{juego.web.sessioncache}).

A subscriber that does not read its events is dropped once
L{MAX_QUEUED_EVENTS} events or L{MAX_QUEUED_BYTES} bytes wait for it, so memory stays
bounded whatever a peer does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from juego.model import NOTIFICATION_TYPES, GlobalStats, Notification, UserStats, to_json
from juego.store import Store
from juego.wire import Request, WireError
from juego.wire.errors import NOT_FOUND, invalid
from juego.wire.protocol import Handler, LineProtocol, Reply, WireFactory, encodeLine

if TYPE_CHECKING:
    from juego.cache.bus import NotificationBus
    from juego.cache.ranking import RankingCache

#: The largest value an integer column holds on every engine.
MAX_INT = 2**31 - 1
#: Longest notification text, in characters.
MAX_MESSAGE = 500
#: Most notifications one C{get_notifications} returns (and what it returns by default).
MAX_LIMIT = 100
#: Most ids one C{mark_notifications_read} names.
MAX_IDS = 1000
#: Events waiting for a subscriber that does not read, beyond which it is dropped.
MAX_QUEUED_EVENTS = 1000
MAX_QUEUED_BYTES = 1024 * 1024
#: Seconds subscribers get to close when the service stops, before they are cut off.
CLOSE_GRACE = 2.0

SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"
NOTIFICATION_EVENT = "notification"
DROP_SESSIONS = "drop_sessions"
SESSIONS_EVENT = "sesiones"
#: Most token hashes one C{drop_sessions} names.
MAX_SESSION_HASHES = 100


def _transport(protocol: LineProtocol) -> Any:
    """
    A connected protocol's transport (a TCP, TLS or UNIX one: it has C{abortConnection}
    and takes a producer).
    """
    return protocol.transport


def _isTokenHash(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def notFound(userID: int) -> WireError:
    return WireError(NOT_FOUND, f"Usuario {userID} no encontrado")


@implementer(IPushProducer)
class EventOutlet:
    """
    The events bound for one subscribed connection.

    Registered as the transport's streaming producer, it hears when the transport's
    buffer is full (C{pauseProducing}) and when it has drained (C{resumeProducing}).
    While paused, events wait here; past the bounds the subscriber is dropped: its
    connection is aborted, which loses what it has not read.

    @ivar userID: only this player's events, or every event when L{None}.
    """

    log = Logger()

    def __init__(
        self,
        protocol: DistProtocol,
        userID: int | None = None,
        maxEvents: int = MAX_QUEUED_EVENTS,
        maxBytes: int = MAX_QUEUED_BYTES,
    ) -> None:
        self.protocol = protocol
        self.userID = userID
        self.maxEvents = maxEvents
        self.maxBytes = maxBytes
        self.paused = False
        self.dropped = False
        self._queue: deque[bytes] = deque()
        self._queuedBytes = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    def send(self, line: bytes) -> None:
        if self.dropped:
            return
        if not self.paused and not self._queue:
            _transport(self.protocol).write(line)
            return
        self._queue.append(line)
        self._queuedBytes += len(line)
        if len(self._queue) > self.maxEvents or self._queuedBytes > self.maxBytes:
            self.drop()

    def drop(self) -> None:
        """
        Give up on a subscriber that does not keep up.
        """
        self.dropped = True
        self._queue.clear()
        self._queuedBytes = 0
        transport = _transport(self.protocol)
        self.log.warn(
            "dropping a slow subscriber ({peer}): its unread events passed the bound",
            peer=transport.getPeer(),
        )
        self.protocol.factory.service.subscribers.discard(self.protocol)
        transport.abortConnection()

    # IPushProducer

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        while self._queue and not self.paused and not self.dropped:
            line = self._queue.popleft()
            self._queuedBytes -= len(line)
            _transport(self.protocol).write(line)

    def stopProducing(self) -> None:
        self.dropped = True
        self._queue.clear()
        self._queuedBytes = 0


class Subscribers:
    """
    The connections that asked for events.
    """

    def __init__(self) -> None:
        self._outlets: dict[DistProtocol, EventOutlet] = {}

    def __len__(self) -> int:
        return len(self._outlets)

    def __contains__(self, protocol: object) -> bool:
        return protocol in self._outlets

    def outlets(self) -> list[EventOutlet]:
        return list(self._outlets.values())

    def add(self, protocol: DistProtocol, outlet: EventOutlet) -> None:
        self.discard(protocol)
        self._outlets[protocol] = outlet
        _transport(protocol).registerProducer(outlet, True)

    def discard(self, protocol: DistProtocol) -> bool:
        outlet = self._outlets.pop(protocol, None)
        if outlet is None:
            return False
        transport: Any = protocol.transport
        if transport is not None and getattr(transport, "producer", outlet) is outlet:
            transport.unregisterProducer()
        return True

    def publish(self, event: Mapping[str, Any], userID: int | None = None) -> int:
        """
        Send C{event} (encoded once) to every subscriber that wants it; how many did.
        """
        line = encodeLine(to_json(dict(event)))
        sent = 0
        for outlet in list(self._outlets.values()):
            if outlet.userID is None or outlet.userID == userID:
                outlet.send(line)
                sent += 1
        return sent

    def publishToWholeFeed(self, event: Mapping[str, Any]) -> int:
        """
        Send C{event} to every subscriber of the whole feed (not those of one player's
        notifications); how many.
        """
        line = encodeLine(to_json(dict(event)))
        outlets = [outlet for outlet in list(self._outlets.values()) if outlet.userID is None]
        for outlet in outlets:
            outlet.send(line)
        return len(outlets)

    def closeAll(self, clock: IReactorTime, grace: float = CLOSE_GRACE) -> Deferred[Any]:
        """
        Disconnect every subscriber (they reconnect elsewhere, or when we are back):
        politely, then, after C{grace} seconds, abruptly for those whose unread
        output keeps their connection open.
        """
        protocols = list(self._outlets)
        for protocol in protocols:
            self.discard(protocol)
            _transport(protocol).loseConnection()
        closed = DeferredList([protocol.whenClosed() for protocol in protocols])
        if not protocols:
            return closed

        def abortRemaining() -> None:
            for protocol in protocols:
                if not protocol.lost:
                    _transport(protocol).abortConnection()

        laggards = clock.callLater(grace, abortRemaining)

        def done(result: object) -> None:
            if laggards.active():
                laggards.cancel()

        return closed.addBoth(done)


class StatsService:
    """
    The actions of juego-dist.
    """

    log = Logger()

    def __init__(
        self,
        store: Store,
        ranking: RankingCache | None = None,
        bus: NotificationBus | None = None,
    ) -> None:
        self.store = store
        self.subscribers = Subscribers()
        #: Optional Redis parts (L{juego.cache}): the ranking cache and the bus between
        #: juego-dist nodes.
        self.ranking = ranking
        self.bus = bus
        if bus is not None:
            bus.deliver = self.pushRemote
            bus.deliverSessions = self.pushSessions

    def handlers(self) -> dict[str, Handler]:
        return {
            "get_user_stats": self.getUserStats,
            "get_global_stats": self.getGlobalStats,
            "add_notification": self.addNotification,
            "get_notifications": self.getNotifications,
            "mark_notifications_read": self.markNotificationsRead,
            DROP_SESSIONS: self.dropSessions,
            SUBSCRIBE: lambda request: self.subscribe(request.connection, request),
            UNSUBSCRIBE: lambda request: self.unsubscribe(request.connection, request),
        }

    def _userID(self, request: Request) -> int:
        return request.int("user_id", minimum=0, maximum=MAX_INT)

    def getUserStats(self, request: Request) -> Deferred[Reply]:
        userID = self._userID(request)

        def answer(stats: UserStats | None) -> Reply:
            if stats is None:
                raise notFound(userID)
            return {"success": True, "stats": stats}

        source = self.ranking or self.store.stats
        return source.userStats(userID).addCallback(answer)

    def getGlobalStats(self, request: Request) -> Deferred[Reply]:
        def answer(stats: GlobalStats) -> Reply:
            return {"success": True, "stats": stats}

        return self.store.stats.globalStats().addCallback(answer)

    def addNotification(self, request: Request) -> Deferred[Reply]:
        userID = self._userID(request)
        message = request.str("message", maxLength=MAX_MESSAGE, minLength=1)
        if not message.strip():
            raise invalid("El campo 'message' no puede estar vacío")
        kind = request.choice("type", NOTIFICATION_TYPES, default="info")
        key = request.str("idempotency_key", default=None, maxLength=64, minLength=1)

        def answer(added: tuple[Notification, bool] | None) -> Reply:
            if added is None:
                raise notFound(userID)
            notification, new = added
            if new:
                self.publish(notification)
            return {"success": True, "notification": notification}

        return self.store.notifications.addOnce(userID, message, kind, key).addCallback(answer)

    def publish(self, notification: Notification) -> None:
        try:
            self.subscribers.publish(
                {"event": NOTIFICATION_EVENT, "notification": notification},
                notification.user_id,
            )
        except Exception:
            # A push that fails must not fail the stored notification's reply.
            self.log.failure("could not push a notification to subscribers")
        if self.bus is not None:
            self.bus.publish(notification)

    def pushRemote(self, userID: int, notification: Mapping[str, Any]) -> None:
        """
        Push a notification another juego-dist node stored (through the bus).
        """
        try:
            self.subscribers.publish(
                {"event": NOTIFICATION_EVENT, "notification": notification}, userID
            )
        except Exception:
            self.log.failure("could not push a notification to subscribers")

    def dropSessions(self, request: Request) -> Reply:
        """
        Tell every subscribed web node (this node's, and the other nodes' through the
        bus) to drop a user's sessions and/or these sessions from its cache.
        """
        userID = request.int("user_id", default=None, minimum=0, maximum=MAX_INT)
        hashes = request.fields.get("sesiones") or []
        if (
            not isinstance(hashes, list)
            or len(hashes) > MAX_SESSION_HASHES
            or not all(isinstance(h, str) and _isTokenHash(h) for h in hashes)
        ):
            raise invalid(
                f"El campo 'sesiones' debe ser una lista de hasta {MAX_SESSION_HASHES} "
                "hashes SHA-256 en hexadecimal"
            )
        if userID is None and not hashes:
            raise invalid("Faltan 'user_id' o 'sesiones'")
        sent = self.pushSessions(userID, hashes)
        if self.bus is not None:
            self.bus.publishSessions(userID, hashes)
        return {"success": True, "avisados": sent}

    def pushSessions(self, userID: int | None, hashes: list[str]) -> int:
        """
        Push a session drop to this node's subscribers of the whole feed.
        """
        try:
            return self.subscribers.publishToWholeFeed(
                {"event": SESSIONS_EVENT, "user_id": userID, "sesiones": hashes}
            )
        except Exception:
            self.log.failure("could not push a session drop to subscribers")
            return 0

    def getNotifications(self, request: Request) -> Deferred[Reply]:
        userID = self._userID(request)
        limit = request.int("limit", default=None, minimum=1, maximum=MAX_LIMIT)
        unreadOnly = request.bool("unread_only", default=False)

        def answer(notifications: list[Notification] | None) -> Reply:
            if notifications is None:
                raise notFound(userID)
            return {"success": True, "notifications": notifications}

        return self.store.notifications.list(userID, limit, unreadOnly).addCallback(answer)

    def markNotificationsRead(self, request: Request) -> Deferred[Reply]:
        userID = self._userID(request)
        ids = request.intList("ids", default=None, maxItems=MAX_IDS)

        def answer(count: int | None) -> Reply:
            if count is None:
                raise notFound(userID)
            return {"success": True, "marcadas": count}

        return self.store.notifications.markRead(userID, ids).addCallback(answer)

    def subscribe(self, protocol: DistProtocol, request: Request) -> Reply:
        """
        From now on, push this connection every new notification (of one player with
        C{user_id}). The connection no longer times out for being idle.
        """
        userID = request.int("user_id", default=None, minimum=0, maximum=MAX_INT)
        self.subscribers.add(protocol, EventOutlet(protocol, userID))
        protocol.setTimeout(None)
        keepAlive = getattr(protocol.transport, "setTcpKeepAlive", None)
        if keepAlive is not None:
            keepAlive(True)
        return {"success": True, "suscrito": True}

    def unsubscribe(self, protocol: DistProtocol, request: Request) -> Reply:
        was = self.subscribers.discard(protocol)
        if was:
            protocol.setTimeout(protocol.factory.idleTimeout)
        return {"success": True, "suscrito": False}

    def stop(self, clock: IReactorTime) -> Deferred[Any]:
        return self.subscribers.closeAll(clock)


class DistProtocol(LineProtocol):
    """
    A juego-dist connection: the shared line protocol, plus C{subscribe} and
    C{unsubscribe}, which act on the connection itself (past the same auth check as
    every other action).
    """

    factory: DistFactory

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.service.subscribers.discard(self)
        super().connectionLost(reason)


class DistFactory(WireFactory):
    """
    Serves juego-dist: a L{StatsService}'s handlers over L{DistProtocol}.
    """

    protocol = DistProtocol

    def __init__(
        self,
        service: StatsService,
        secret: bytes | None = None,
        clock: IReactorTime | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(service.handlers(), secret, clock, **kw)
        self.service = service
