"""
Live notifications: one subscription to juego-dist per web process, fanned out to the
players' open WebSockets (C{GET /api/notificaciones/ws}) as
C{{"event": "notification", "notification": {...}}}. Polling C{GET /api/notificaciones}
keeps working for clients without a socket.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.websocket import WebSocketResource, WebSocketTransport

from juego.clients.protocols import DistService
from juego.web.sessioncache import SessionCache

log = Logger()

#: Open sockets one player may have (tabs, devices); past it the oldest is closed.
MAX_PER_USER = 8
GOING_AWAY = 1001


class _Socket:
    """
    One player's WebSocket: it only listens.
    """

    transport: WebSocketTransport | None = None

    def __init__(self, hub: NotificationHub, userID: int) -> None:
        self.hub = hub
        self.userID = userID

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        self.hub._add(self)

    def pongReceived(self, payload: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        pass

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        pass

    def connectionLost(self, reason: Failure) -> None:
        self.hub._remove(self)

    def send(self, text: str) -> None:
        if self.transport is not None:
            self.transport.sendTextMessage(text)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection(GOING_AWAY)


class _Factory:
    def __init__(self, hub: NotificationHub, userID: int) -> None:
        self._hub = hub
        self._userID = userID

    def buildProtocol(self, request: IRequest) -> _Socket:
        return _Socket(self._hub, self._userID)


class NotificationHub:
    """
    @param dist: a juego-dist client with C{subscribe(onNotification)}.
    @param sessions: the process's session cache, if any: the same subscription carries
        its drops (L{juego.web.sessioncache}), and it is emptied each time the feed is
        (re)subscribed, since drops may have been missed meanwhile.
    """

    def __init__(
        self,
        dist: DistService,
        maxPerUser: int = MAX_PER_USER,
        sessions: SessionCache | None = None,
    ) -> None:
        self._dist = dist
        self._max = maxPerUser
        self._sessions = sessions
        self._sockets: dict[int, list[_Socket]] = {}
        self._subscription: Any = None

    def start(self) -> None:
        if self._subscription is None:
            sessions = self._sessions
            if sessions is None:
                self._subscription = self._dist.subscribe(self.deliver)
            else:
                self._subscription = self._dist.subscribe(
                    self.deliver, onSubscribed=sessions.clear, onSessions=sessions.received
                )

    def stop(self) -> Any:
        subscription, self._subscription = self._subscription, None
        self.closeSockets()
        return subscription.stop() if subscription is not None else None

    def closeSockets(self) -> None:
        """
        Close every open socket with 1001 (going away): the page reconnects, to another
        node when this one is stopping, and catches up by polling.
        """
        for sockets in list(self._sockets.values()):
            for socket in list(sockets):
                socket.close()

    def resourceFor(self, userID: int) -> WebSocketResource:
        """
        The resource that upgrades this request to a socket for C{userID}.
        """
        return WebSocketResource(_Factory(self, userID))

    def count(self, userID: int) -> int:
        return len(self._sockets.get(userID, ()))

    def openSockets(self) -> int:
        """
        Open sockets, every player's (read by the metrics exposition, in a thread).
        """
        return sum(len(sockets) for sockets in list(self._sockets.values()))

    def deliver(self, notification: dict[str, Any]) -> None:
        sockets = self._sockets.get(notification.get("user_id"), [])  # type: ignore[arg-type]
        if not sockets:
            return
        text = json.dumps(
            {"event": "notification", "notification": notification}, ensure_ascii=False
        )
        for socket in list(sockets):
            try:
                socket.send(text)
            except Exception:
                log.failure("could not push a notification to a socket")

    def disconnect(self, userID: int) -> None:
        for socket in list(self._sockets.get(userID, ())):
            socket.close()

    def _add(self, socket: _Socket) -> None:
        sockets = self._sockets.setdefault(socket.userID, [])
        sockets.append(socket)
        while len(sockets) > self._max:
            sockets.pop(0).close()

    def _remove(self, socket: _Socket) -> None:
        sockets = self._sockets.get(socket.userID)
        if sockets is not None and socket in sockets:
            sockets.remove(socket)
            if not sockets:
                del self._sockets[socket.userID]
