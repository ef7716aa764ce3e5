"""
Notifications across juego-dist nodes over Redis pub/sub.

Each node pushes a notification it stored to its own C{subscribe} connections at once (as
without Redis), and publishes it on C{<prefix>notifications} with its node id. Every node
subscribes to that channel and pushes what other nodes published to its own connections;
what it published itself comes back too and is skipped, so each subscriber gets each
notification once, whichever node stored it.

Session drops (C{drop_sessions}, L{juego.web.sessioncache}) travel on the same channel as
C{{"nodo": ..., "sesiones": {"user_id": ..., "sesiones": [...]}}}, and reach every node's
web subscribers the same way.

Pub/sub is fire-and-forget: while Redis is away other nodes' subscribers miss the push
(the notification is in the database, and C{get_notifications} has it); local pushes go on.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure

from juego.cache.link import UNAVAILABLE, RedisLink
from juego.model import Notification, to_json

#: What a node does with another node's notification: C{(user_id, notification as JSON)}.
Deliver = Callable[[int, dict[str, Any]], None]
#: What a node does with another node's session drop: C{(user_id or None, token hashes)}.
DeliverSessions = Callable[[int | None, list[str]], object]


class NotificationBus:
    """
    @ivar node: this node's id (random per process), sent with what it publishes.
    @ivar deliver: called with every notification another node published.
    @ivar deliverSessions: called with every session drop another node published.
    """

    log = Logger()

    def __init__(
        self, link: RedisLink, subscriber: RedisLink, prefix: str, node: str | None = None
    ) -> None:
        self.link = link
        self.subscriber = subscriber
        self.channel = prefix + "notifications"
        self.node = node or secrets.token_hex(8)
        self.deliver: Deliver | None = None
        self.deliverSessions: DeliverSessions | None = None
        self._badMessages = 0
        subscriber.onUp(self._subscribe)

    def publish(self, notification: Notification) -> None:
        """
        Tell the other nodes (best-effort: never raises, never waits).
        """
        self._publish({"nodo": self.node, "notification": to_json(notification)})

    def publishSessions(self, userID: int | None, hashes: list[str]) -> None:
        """
        Tell the other nodes to push a session drop (best-effort, like L{publish}).
        """
        self._publish({"nodo": self.node, "sesiones": {"user_id": userID, "sesiones": hashes}})

    def _publish(self, event: dict[str, Any]) -> None:
        message = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        self.link.call("publish", self.channel, message).addErrback(self._publishFailed)

    def _publishFailed(self, failure: Failure) -> None:
        if not failure.check(*UNAVAILABLE):
            self.log.warn(
                "could not publish a notification to the other nodes: {error}",
                error=failure.getErrorMessage(),
            )

    def _subscribe(self, protocol: Any) -> None:
        protocol.onMessage = self._received

        def failed(failure: Failure) -> None:
            # The connection is gone: we subscribe again when it is back.
            if not failure.check(*UNAVAILABLE):
                self.log.warn(
                    "could not subscribe to {channel}: {error}",
                    channel=self.channel,
                    error=failure.getErrorMessage(),
                )
                protocol.transport.loseConnection()

        protocol.subscribe(self.channel).addErrback(failed)

    def _received(self, channel: Any, message: Any) -> None:
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        try:
            event = json.loads(message)
            node = event["nodo"]
            if isinstance(event, dict) and "sesiones" in event:
                self._receivedSessions(node, event["sesiones"])
                return
            notification = event["notification"]
            if not isinstance(notification, dict):
                raise TypeError("not a notification")
            userID = notification["user_id"]
            if not isinstance(userID, int):
                raise TypeError("not a user id")
        except Exception:
            self._malformed()
            return
        if node == self.node or self.deliver is None:
            return
        try:
            self.deliver(userID, notification)
        except Exception:
            self.log.failure("pushing another node's notification failed")

    def _receivedSessions(self, node: Any, drop: Any) -> None:
        userID = drop.get("user_id") if isinstance(drop, dict) else None
        hashes = drop.get("sesiones") if isinstance(drop, dict) else None
        if (
            (userID is not None and (isinstance(userID, bool) or not isinstance(userID, int)))
            or not isinstance(hashes, list)
            or not all(isinstance(h, str) for h in hashes)
        ):
            self._malformed()
            return
        if node == self.node or self.deliverSessions is None:
            return
        try:
            self.deliverSessions(userID, hashes)
        except Exception:
            self.log.failure("pushing another node's session drop failed")

    def _malformed(self) -> None:
        self._badMessages += 1
        if self._badMessages == 1:
            self.log.warn("ignoring a malformed message on {channel}", channel=self.channel)
