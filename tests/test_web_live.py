"""
Live notifications: the hub's fan-out to players' sockets and the socket endpoint's
checks (the upgrade itself is exercised by the browser test).
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from juego.web.live import GOING_AWAY, NotificationHub
from tests.websupport import WebTestCase


class FakeTransport:
    def __init__(self):
        self.sent = []
        self.closed = None

    def sendTextMessage(self, text):
        self.sent.append(json.loads(text))

    def loseConnection(self, code=1000):
        self.closed = code


class FakeDist:
    def __init__(self):
        self.subscribers = []
        self.stopped = 0

    def subscribe(self, onNotification):
        self.subscribers.append(onNotification)
        dist = self

        class Subscription:
            def stop(self):
                dist.stopped += 1

        return Subscription()


class HubTests(SynchronousTestCase):
    def setUp(self):
        self.dist = FakeDist()
        self.hub = NotificationHub(self.dist, maxPerUser=2)
        self.hub.start()

    def open(self, userID):
        factory = self.hub.resourceFor(userID).factory
        socket = factory.buildProtocol(None)
        transport = FakeTransport()
        socket.negotiationStarted(transport)
        socket.negotiationFinished()
        return socket, transport

    def test_fanOutToTheRightPlayer(self):
        _, a1 = self.open(1)
        _, a2 = self.open(1)
        _, b = self.open(2)
        [push] = self.dist.subscribers
        notification = {"id": 5, "user_id": 1, "message": "<b>hola</b>", "type": "info"}
        push(notification)
        expected = [{"event": "notification", "notification": notification}]
        self.assertEqual((a1.sent, a2.sent, b.sent), (expected, expected, []))
        push({"id": 6, "user_id": 3, "message": "x"})
        self.assertEqual(len(a1.sent), 1)

    def test_closedSocketsForgotten(self):
        socket, transport = self.open(1)
        socket.connectionLost(None)
        self.assertEqual(self.hub.count(1), 0)
        self.dist.subscribers[0]({"id": 1, "user_id": 1, "message": "x"})
        self.assertEqual(transport.sent, [])

    def test_oldestClosedPastTheCap(self):
        _, first = self.open(1)
        self.open(1)
        self.open(1)
        self.assertEqual(first.closed, GOING_AWAY)
        self.assertEqual(self.hub.count(1), 2)

    def test_disconnectAndStop(self):
        _, a = self.open(1)
        _, b = self.open(2)
        self.hub.disconnect(1)
        self.assertEqual((a.closed, b.closed), (GOING_AWAY, None))
        self.hub.stop()
        self.assertEqual((b.closed, self.dist.stopped), (GOING_AWAY, 1))


class EndpointTests(WebTestCase):
    HEADERS = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }

    def test_needsSession(self):
        reply = self.client().get("/api/notificaciones/ws", headers=self.HEADERS)
        self.assertEqual((reply.status, reply.json["code"]), (401, "no_autenticado"))

    def test_foreignOrigin(self):
        client, _ = self.signUp()
        reply = client.get(
            "/api/notificaciones/ws", headers={**self.HEADERS, "Origin": "http://evil.example"}
        )
        self.assertEqual((reply.status, reply.json["code"]), (403, "csrf"))

    def test_notAnUpgrade(self):
        client, _ = self.signUp()
        reply = client.get("/api/notificaciones/ws")
        self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))

    def test_appPushesSavedRecords(self):
        self.app.hub.start()
        client, user = self.signUp()
        socket = self.app.hub.resourceFor(user["id"]).factory.buildProtocol(None)
        transport = FakeTransport()
        socket.negotiationStarted(transport)
        socket.negotiationFinished()
        _, reply = self.play(client, 4)
        [event] = transport.sent
        self.assertEqual(event["notification"]["message"], reply.json["message"])
        self.app.hub.stop()
