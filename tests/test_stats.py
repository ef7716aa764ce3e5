"""
juego-dist's service (L{juego.stats}) over iosim and StringTransport, on a real (SQLite)
store.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from types import SimpleNamespace

from twisted.internet import reactor as globalReactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase, TestCase

from juego.model import GlobalStats, Notification, UserStats
from juego.serialization import encode_wire_pickle
from juego.stats import (
    MAX_QUEUED_EVENTS,
    DistFactory,
    EventOutlet,
    StatsService,
)
from juego.store.scores import SaveRequest
from juego.tap import SequentialMultiService, StoreService
from juego.tap import dist as distTap
from juego.wire.client import LineClientProtocol, decodeReply
from juego.wire.protocol import IDLE_TIMEOUT
from tests.support import Boom, PostgresMixin, SQLiteMixin, sqliteURL, synchronousStore

SECRET = b"s3cret-for-tests"

USER_STATS_FIELDS = {
    "user_id",
    "nombre",
    "email",
    "puntaje_maximo",
    "partidas_jugadas",
    "puntaje_promedio",
    "fecha_ultimo_juego",
    "posicion_ranking",
}
GLOBAL_STATS_FIELDS = {
    "total_usuarios",
    "usuarios_activos",
    "puntaje_promedio",
    "puntaje_maximo_global",
    "partidas_totales",
}
NOTIFICATION_FIELDS = {"id", "user_id", "message", "type", "timestamp", "leida"}


class Harness:
    """
    A juego-dist service on a fresh SQLite store; connections over iosim or
    StringTransport.
    """

    def __init__(
        self, case: SynchronousTestCase, secret: bytes | None = None, url: str | None = None
    ) -> None:
        self.case = case
        self.store = synchronousStore(case, url or sqliteURL(case))
        self.clock = Clock()
        self.service = StatsService(self.store)
        self.factory = DistFactory(self.service, secret, self.clock)
        self.secret = secret

    def user(self, nombre: str = "ana"):
        return self.case.successResultOf(
            self.store.users.create(nombre, f"{nombre}@example.com", "hash")
        )

    def connect(self, authenticate: bool = True):
        client, server, pump = connectedServerAndClient(
            lambda: self.factory.buildProtocol(None), LineClientProtocol
        )
        if authenticate and self.secret is not None:
            done = Deferred.fromCoroutine(client.authenticate(self.secret))
            pump.flush()
            self.case.successResultOf(done)
        return Peer(self.case, client, server, pump)

    def stringConnection(self):
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport


class Peer:
    def __init__(self, case, client, server, pump) -> None:
        self.case = case
        self.client = client
        self.server = server
        self.pump = pump
        self.events: list[dict] = []
        client.onEvent = self.events.append

    def ask(self, action: str, **fields):
        d = self.client.request(action, **fields)
        self.pump.flush()
        return self.case.successResultOf(d)


def askLine(protocol, transport, **fields):
    protocol.dataReceived(json.dumps(fields).encode() + b"\n")
    lines = transport.value().split(b"\n")
    transport.clear()
    return [json.loads(line) for line in lines[:-1]]


class StatsTestsMixin:
    """
    Every action over the real store: run on SQLite and on PostgreSQL.
    """

    def setUp(self) -> None:
        self.h = Harness(self, url=self.databaseURL())
        self.peer = self.h.connect()

    def test_ping(self):
        self.assertEqual(self.peer.ask("ping"), {"success": True, "message": "pong"})

    def test_userStatsFields(self):
        u = self.h.user()
        reply = self.peer.ask("get_user_stats", user_id=u.id)
        self.assertTrue(reply["success"])
        self.assertEqual(set(reply["stats"]), USER_STATS_FIELDS)
        self.assertEqual(
            reply["stats"],
            {
                "user_id": u.id,
                "nombre": "ana",
                "email": "ana@example.com",
                "puntaje_maximo": 0,
                "partidas_jugadas": 0,
                "puntaje_promedio": 0.0,
                "fecha_ultimo_juego": None,
                "posicion_ranking": None,
            },
        )

    def test_statsReflectSaveAtOnce(self):
        a, b = self.h.user("a"), self.h.user("b")
        when = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
        self.successResultOf(
            self.h.store.scores.saveBatch([SaveRequest(a.id, 120), SaveRequest(b.id, 300)], when)
        )
        stats = self.peer.ask("get_user_stats", user_id=a.id)["stats"]
        self.assertEqual(stats["puntaje_maximo"], 120)
        self.assertEqual(stats["partidas_jugadas"], 1)
        self.assertEqual(stats["posicion_ranking"], 2)
        self.assertEqual(stats["fecha_ultimo_juego"], "2026-11-02T09:30:00+00:00")
        self.successResultOf(self.h.store.scores.saveBatch([SaveRequest(a.id, 500)]))
        self.assertEqual(
            self.peer.ask("get_user_stats", user_id=a.id)["stats"]["posicion_ranking"], 1
        )

    def test_globalStatsFields(self):
        self.h.user("a")
        reply = self.peer.ask("get_global_stats")
        self.assertEqual(set(reply["stats"]), GLOBAL_STATS_FIELDS)
        self.assertEqual(reply["stats"]["total_usuarios"], 1)
        self.assertEqual(reply["stats"]["puntaje_promedio"], 0)

    def test_unknownUser(self):
        for action, fields in [
            ("get_user_stats", {}),
            ("add_notification", {"message": "hola"}),
            ("get_notifications", {}),
            ("mark_notifications_read", {}),
        ]:
            reply = self.peer.ask(action, user_id=4242, **fields)
            self.assertEqual(reply["code"], "not_found", action)
            self.assertIn("4242", reply["error"])

    def test_invalidFields(self):
        u = self.h.user()
        cases = [
            ("get_user_stats", {}),
            ("get_user_stats", {"user_id": "1"}),
            ("get_user_stats", {"user_id": True}),
            ("get_user_stats", {"user_id": -1}),
            ("add_notification", {"user_id": u.id}),
            ("add_notification", {"user_id": u.id, "message": ""}),
            ("add_notification", {"user_id": u.id, "message": "   "}),
            ("add_notification", {"user_id": u.id, "message": "x" * 501}),
            ("add_notification", {"user_id": u.id, "message": 5}),
            ("add_notification", {"user_id": u.id, "message": "a", "type": "spam"}),
            ("get_notifications", {"user_id": u.id, "limit": 0}),
            ("get_notifications", {"user_id": u.id, "limit": 101}),
            ("get_notifications", {"user_id": u.id, "limit": "5"}),
            ("get_notifications", {"user_id": u.id, "unread_only": "yes"}),
            ("mark_notifications_read", {"user_id": u.id, "ids": [1, "2"]}),
            ("mark_notifications_read", {"user_id": u.id, "ids": 3}),
            ("mark_notifications_read", {"user_id": u.id, "ids": [True]}),
        ]
        for action, fields in cases:
            reply = self.peer.ask(action, **fields)
            self.assertEqual(reply.get("code"), "invalid_request", (action, fields, reply))
            self.assertIsInstance(reply["error"], str)
        self.assertEqual(self.successResultOf(self.h.store.notifications.list(u.id)), [])

    def test_addNotification(self):
        u = self.h.user()
        reply = self.peer.ask("add_notification", user_id=u.id, message="x" * 500, type="warning")
        self.assertTrue(reply["success"])
        n = reply["notification"]
        self.assertEqual(set(n), NOTIFICATION_FIELDS)
        self.assertEqual((n["user_id"], n["type"], n["leida"]), (u.id, "warning", False))
        stamp = datetime.fromisoformat(n["timestamp"])
        self.assertEqual(stamp.utcoffset().total_seconds(), 0)
        default = self.peer.ask("add_notification", user_id=u.id, message="hola")
        self.assertEqual(default["notification"]["type"], "info")

    def test_getNotifications(self):
        u = self.h.user()
        for i in range(4):
            self.peer.ask("add_notification", user_id=u.id, message=f"n{i}", type="success")
        reply = self.peer.ask("get_notifications", user_id=u.id)
        self.assertEqual([n["message"] for n in reply["notifications"]], ["n3", "n2", "n1", "n0"])
        for n in reply["notifications"]:
            self.assertEqual(set(n), NOTIFICATION_FIELDS)
        limited = self.peer.ask("get_notifications", user_id=u.id, limit=2)
        self.assertEqual([n["message"] for n in limited["notifications"]], ["n3", "n2"])

    def test_markRead(self):
        u = self.h.user()
        ids = [
            self.peer.ask("add_notification", user_id=u.id, message=f"n{i}")["notification"]["id"]
            for i in range(3)
        ]
        marked = self.peer.ask("mark_notifications_read", user_id=u.id, ids=[ids[0]])
        self.assertEqual(marked, {"success": True, "marcadas": 1})
        unread = self.peer.ask("get_notifications", user_id=u.id, unread_only=True)
        self.assertEqual([n["id"] for n in unread["notifications"]], [ids[2], ids[1]])
        self.assertEqual(self.peer.ask("mark_notifications_read", user_id=u.id)["marcadas"], 2)
        everything = self.peer.ask("get_notifications", user_id=u.id)["notifications"]
        self.assertTrue(all(n["leida"] for n in everything))

    def test_pickleReplies(self):
        u = self.h.user()
        self.successResultOf(self.h.store.scores.saveBatch([SaveRequest(u.id, 77)]))
        reply = self.peer.ask("get_user_stats", user_id=u.id, format="pickle_base64")
        self.assertEqual(reply["format"], "pickle_base64")
        self.assertNotIn("sig", reply)  # no secret: unsigned
        stats = decodeReply(reply, None)["stats"]
        self.assertIsInstance(stats, UserStats)
        self.assertEqual(stats.puntaje_maximo, 77)
        self.assertEqual(stats.fecha_ultimo_juego.tzinfo, UTC)
        g = decodeReply(self.peer.ask("get_global_stats", format="pickle_base64"), None)
        self.assertIsInstance(g["stats"], GlobalStats)
        added = decodeReply(
            self.peer.ask("add_notification", user_id=u.id, message="m", format="pickle_base64"),
            None,
        )
        self.assertIsInstance(added["notification"], Notification)
        listed = decodeReply(
            self.peer.ask("get_notifications", user_id=u.id, format="pickle_base64"), None
        )
        self.assertEqual(listed["notifications"], [added["notification"]])
        # A failure reply stays JSON.
        missing = self.peer.ask("get_user_stats", user_id=999, format="pickle_base64")
        self.assertEqual(missing["code"], "not_found")

    def test_pickleRequestWithoutSecretRefused(self):
        u = self.h.user()
        data, _ = encode_wire_pickle({"user_id": u.id, "message": "p"}, None)
        reply = self.peer.ask("add_notification", pickle=data)
        self.assertEqual(reply["code"], "unauthorized")
        self.assertEqual(self.successResultOf(self.h.store.notifications.list(u.id)), [])


class SQLiteStatsTests(SQLiteMixin, StatsTestsMixin, SynchronousTestCase):
    pass


class PostgresStatsTests(PostgresMixin, StatsTestsMixin, SynchronousTestCase):
    pass


class SecretTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(self, secret=SECRET)

    def test_authRequired(self):
        u = self.h.user()
        peer = self.h.connect(authenticate=False)
        self.assertEqual(peer.ask("ping")["message"], "pong")
        for action in ("get_user_stats", "add_notification", "subscribe", "unsubscribe"):
            reply = peer.ask(action, user_id=u.id, message="x")
            self.assertEqual(reply["code"], "unauthorized", action)
        self.assertEqual(len(self.h.service.subscribers), 0)

    def test_signedPickleReply(self):
        u = self.h.user()
        peer = self.h.connect()
        reply = peer.ask("get_user_stats", user_id=u.id, format="pickle_base64")
        self.assertIn("sig", reply)
        self.assertEqual(decodeReply(reply, SECRET)["stats"].user_id, u.id)

    def test_signedPickleRequest(self):
        u = self.h.user()
        peer = self.h.connect()
        data, sig = encode_wire_pickle({"user_id": u.id, "message": "firmado"}, SECRET)
        reply = peer.ask("add_notification", pickle=data, sig=sig)
        self.assertTrue(reply["success"], reply)
        self.assertEqual(reply["notification"]["message"], "firmado")

    def test_hostilePickleRequestsRefused(self):
        u = self.h.user()
        peer = self.h.connect()
        marker = os.path.abspath(self.mktemp())
        fields = {"user_id": u.id, "message": "malo"}
        wrongData, wrongSig = encode_wire_pickle(fields, b"not-the-secret")
        unsignedData, _ = encode_wire_pickle(fields, None)
        boomData, boomSig = encode_wire_pickle({**fields, "type": Boom(marker)}, SECRET)
        for extra in (
            {"pickle": wrongData, "sig": wrongSig},
            {"pickle": unsignedData},
            {"pickle": unsignedData, "sig": "00" * 32},
            {"pickle": boomData, "sig": boomSig},
        ):
            reply = peer.ask("add_notification", **extra)
            self.assertFalse(reply["success"])
            self.assertIn(reply["code"], ("unauthorized", "invalid_request"))
        self.assertFalse(os.path.exists(marker))
        self.assertEqual(self.successResultOf(self.h.store.notifications.list(u.id)), [])
        self.flushLoggedErrors()


class SubscribeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(self, secret=SECRET)
        self.user = self.h.user()

    def test_everySubscriberGetsEveryEvent(self):
        first, second, writer = self.h.connect(), self.h.connect(), self.h.connect()
        self.assertEqual(first.ask("subscribe"), {"success": True, "suscrito": True})
        self.assertEqual(second.ask("subscribe")["suscrito"], True)
        self.assertEqual(len(self.h.service.subscribers), 2)
        added = [
            writer.ask("add_notification", user_id=self.user.id, message=f"m{i}", type="success")
            for i in range(3)
        ]
        first.pump.flush()
        second.pump.flush()
        expected = [{"event": "notification", "notification": a["notification"]} for a in added]
        self.assertEqual(first.events, expected)
        self.assertEqual(second.events, expected)
        self.assertEqual(writer.events, [])  # not subscribed

    def test_idempotentAddPublishesOnce(self):
        subscriber, writer = self.h.connect(), self.h.connect()
        subscriber.ask("subscribe")
        first = writer.ask(
            "add_notification", user_id=self.user.id, message="r", idempotency_key="p1"
        )
        again = writer.ask(
            "add_notification", user_id=self.user.id, message="r", idempotency_key="p1"
        )
        self.assertEqual(first, again)
        subscriber.pump.flush()
        self.assertEqual(len(subscriber.events), 1)
        self.assertEqual(
            writer.ask("add_notification", user_id=self.user.id, message="r", idempotency_key=7)[
                "code"
            ],
            "invalid_request",
        )

    def test_subscriberMayAlsoAsk(self):
        peer = self.h.connect()
        peer.ask("subscribe")
        reply = peer.ask("add_notification", user_id=self.user.id, message="propia")
        self.assertEqual(
            peer.events, [{"event": "notification", "notification": reply["notification"]}]
        )

    def test_filterByUser(self):
        other = self.h.user("otro")
        mine = self.h.connect()
        mine.ask("subscribe", user_id=self.user.id)
        writer = self.h.connect()
        writer.ask("add_notification", user_id=other.id, message="ajena")
        writer.ask("add_notification", user_id=self.user.id, message="mía")
        mine.pump.flush()
        self.assertEqual([e["notification"]["message"] for e in mine.events], ["mía"])

    def test_unsubscribe(self):
        peer = self.h.connect()
        peer.ask("subscribe")
        self.assertEqual(peer.ask("unsubscribe"), {"success": True, "suscrito": False})
        peer.ask("add_notification", user_id=self.user.id, message="x")
        self.assertEqual(peer.events, [])
        self.assertEqual(len(self.h.service.subscribers), 0)

    def test_disconnectUnregisters(self):
        peer = self.h.connect()
        peer.ask("subscribe")
        peer.client.transport.loseConnection()
        peer.pump.flush()
        self.assertEqual(len(self.h.service.subscribers), 0)
        writer = self.h.connect()
        self.assertTrue(
            writer.ask("add_notification", user_id=self.user.id, message="x")["success"]
        )

    def test_subscriberNeverIdlesOut(self):
        idle, subscribed = self.h.connect(), self.h.connect()
        subscribed.ask("subscribe")
        idle.ask("ping")
        self.h.clock.advance(IDLE_TIMEOUT + 1)
        self.assertTrue(idle.server.transport.disconnecting)
        self.assertFalse(subscribed.server.transport.disconnecting)

    def test_stopClosesSubscribers(self):
        peer = self.h.connect()
        peer.ask("subscribe")
        stopped = self.h.service.stop(self.h.clock)
        peer.pump.flush()
        self.successResultOf(stopped)
        self.assertTrue(peer.client.closed)
        self.assertEqual(len(self.h.service.subscribers), 0)

    def test_stopAbortsSubscribersThatDoNotClose(self):
        protocol, transport = self.h.stringConnection()
        protocol.authenticated = True
        askLine(protocol, transport, action="subscribe")
        stopped = self.h.service.stop(self.h.clock)
        self.assertNoResult(stopped)  # StringTransport never reports the close
        self.h.clock.advance(2)
        self.assertTrue(transport.disconnected)  # aborted
        protocol.connectionLost(None)
        self.successResultOf(stopped)


class SlowSubscriberTests(SynchronousTestCase):
    """
    A subscriber whose transport never drains: the transport pauses its producer (as a
    TCP transport does once its buffer passes 64 KiB) and never resumes it.
    """

    def setUp(self) -> None:
        self.h = Harness(self)
        self.user = self.h.user()
        self.writer = self.h.connect()

    def subscribe(self):
        protocol, transport = self.h.stringConnection()
        [reply] = askLine(protocol, transport, action="subscribe")
        self.assertTrue(reply["success"])
        self.assertIsInstance(transport.producer, EventOutlet)
        self.assertTrue(transport.streaming)
        return protocol, transport

    def add(self, n: int = 1):
        for i in range(n):
            self.writer.ask("add_notification", user_id=self.user.id, message=f"m{i}")

    def test_eventsWaitWhilePausedThenFlowInOrder(self):
        protocol, transport = self.subscribe()
        transport.producer.pauseProducing()
        self.add(5)
        self.assertEqual(transport.value(), b"")
        self.assertEqual(transport.producer.queued, 5)
        transport.producer.resumeProducing()
        events = [json.loads(line) for line in transport.value().splitlines()]
        self.assertEqual(
            [e["notification"]["message"] for e in events], [f"m{i}" for i in range(5)]
        )
        self.assertFalse(transport.disconnecting)

    def test_slowSubscriberDropped(self):
        protocol, transport = self.subscribe()
        healthy = self.h.connect()
        healthy.ask("subscribe")
        transport.producer.pauseProducing()
        self.add(MAX_QUEUED_EVENTS)
        self.assertFalse(transport.disconnecting)
        self.assertIn(protocol, self.h.service.subscribers)
        self.add(1)
        self.assertTrue(transport.disconnected)  # aborted, not politely closed
        self.assertNotIn(protocol, self.h.service.subscribers)
        self.assertIsNone(transport.producer)
        # The service and the other subscriber carry on.
        self.add(1)
        healthy.pump.flush()
        self.assertEqual(len(healthy.events), MAX_QUEUED_EVENTS + 2)

    def test_byteBound(self):
        protocol, transport = self.h.stringConnection()
        outlet = EventOutlet(protocol, maxEvents=1000, maxBytes=1000)
        self.h.service.subscribers.add(protocol, outlet)
        outlet.pauseProducing()
        outlet.send(b"x" * 600 + b"\n")
        self.assertFalse(transport.disconnecting)
        outlet.send(b"y" * 600 + b"\n")
        self.assertTrue(transport.disconnected)
        self.assertEqual(outlet.queued, 0)  # memory released


class RealTransportTests(TestCase):
    """
    The slow-subscriber bound over a real TCP connection: the transport's own buffer
    accounting pauses the outlet, as it does in production.
    """

    @inlineCallbacks
    def test_slowSubscriberDroppedOverTCP(self):
        store = synchronousStore(self, sqliteURL(self))
        service = StatsService(store)
        factory = DistFactory(service, None, globalReactor)
        port = globalReactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        endpoint = TCP4ClientEndpoint(globalReactor, "127.0.0.1", port.getHost().port)
        slow = yield connectProtocol(endpoint, LineClientProtocol())
        healthy = yield connectProtocol(endpoint, LineClientProtocol())
        received = []
        healthy.onEvent = received.append
        for client in (slow, healthy):
            reply = yield client.request("subscribe")
            self.assertTrue(reply["success"])
            self.addCleanup(client.transport.loseConnection)
        slow.transport.pauseProducing()  # never reads again
        self.assertEqual(len(service.subscribers), 2)
        sent = 0
        when = datetime(2026, 11, 1, tzinfo=UTC)
        while len(service.subscribers) == 2 and sent < 200_000:
            for _ in range(100):
                sent += 1
                service.publish(Notification(sent, 1, "x" * 400, "info", when))
            yield deferLater(globalReactor, 0, lambda: None)
        self.assertEqual(len(service.subscribers), 1)
        # Dropped long before the kernel's and the transport's buffers could hold it all,
        # while the subscriber that reads got every event.
        self.assertLess(sent, 200_000)
        while len(received) < sent:
            yield deferLater(globalReactor, 0.01, lambda: None)
        self.assertEqual([e["notification"]["id"] for e in received], list(range(1, sent + 1)))


class StopOrderTests(SynchronousTestCase):
    def test_stopOrder(self):
        """
        juego-dist stopping: the listener closes, the subscribers are let go, the other
        connections send the replies they owe and close, then the store goes.
        """
        order: list[str] = []
        self.patch(DistFactory, "drainConnections", lambda factory: order.append("drain"))
        self.patch(StatsService, "stop", lambda service, clock: order.append("subscribers"))
        store = SimpleNamespace(start=lambda: None, stop=lambda: order.append("store"))
        reactor = MemoryReactorClock()
        parent = SequentialMultiService()
        StoreService(store).setServiceParent(parent)  # type: ignore[arg-type]
        distTap.addTo(parent, store, "tcp:0:interface=127.0.0.1", None, reactor)  # type: ignore[arg-type]
        parent.startService()
        self.assertEqual(len(reactor.tcpServers), 1)
        self.successResultOf(parent.stopService())
        self.assertEqual(order, ["subscribers", "drain", "store"])
