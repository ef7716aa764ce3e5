"""
The service clients (L{juego.clients}).

Deferred clients: against real servers over iosim, on a L{MemoryReactorClock} whose
connection attempts the test completes or refuses, so that timeouts, reconnection and
backoff are stepped without sleeping. Blocking clients: against a real server on a
loopback port, run by the reactor while the client works in a thread.
"""

from __future__ import annotations

import os
import socket

from twisted.internet import reactor as globalReactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.internet.threads import deferToThread
from twisted.test.iosim import ConnectionCompleter
from twisted.trial.unittest import SynchronousTestCase, TestCase

from juego.clients import (
    DEFAULT_TIMEOUT,
    MAX_BACKOFF,
    DistributedServiceClient,
    DistServiceClient,
    ReplyRefused,
    ScoreClient,
    ScoreServiceClient,
    ServiceUnavailable,
    backoffDelay,
)
from juego.model import UserStats
from juego.scores import GroupCommitWriter, ScoreService
from juego.stats import DistFactory, StatsService
from juego.wire import WireFactory
from tests.support import Boom, sqliteURL, synchronousStore

SECRET = b"s3cret-for-tests"
PORT = 7000
ENDPOINT = f"tcp:host=127.0.0.1:port={PORT}"


class World:
    """
    A server factory "listening" on a L{MemoryReactorClock}, and the iosim pumps of the
    connections the test lets through.
    """

    def __init__(self, case: SynchronousTestCase, factory=None, serverSecret=None) -> None:
        self.case = case
        self.reactor = MemoryReactorClock()
        self.store = synchronousStore(case, sqliteURL(case))
        if factory is None:
            self.service = StatsService(self.store)
            factory = DistFactory(self.service, serverSecret, self.reactor)
        self.factory = factory
        self.completer = ConnectionCompleter(self.reactor)
        self.pumps: list = []
        self.up()

    def user(self, nombre: str = "ana"):
        return self.case.successResultOf(
            self.store.users.create(nombre, f"{nombre}@example.com", "hash")
        )

    def up(self) -> None:
        self.reactor.listenTCP(PORT, self.factory)

    def down(self) -> None:
        """
        The service stops: no more listening, every connection closed.
        """
        self.reactor.tcpServers.clear()
        for pump in self.pumps:
            pump.serverIO.loseConnection()
        self.flush()

    def attempts(self) -> int:
        self._dropCancelled()
        return len(self.reactor.tcpClients)

    def _dropCancelled(self) -> None:
        for i in reversed(range(len(self.reactor.connectors))):
            if self.reactor.connectors[i].stoppedConnecting:
                del self.reactor.connectors[i]
                del self.reactor.tcpClients[i]

    def complete(self) -> int:
        """
        Let every pending connection attempt through (or refuse it while down).
        """
        done = 0
        while self.attempts():
            if self.reactor.tcpServers:
                self.pumps.append(self.completer.succeedOnce())
            else:
                self.completer.failOnce()
            done += 1
            self.flush()
        return done

    def flush(self) -> None:
        for _ in range(100):
            moved = [pump.flush() for pump in self.pumps]
            self.reactor.advance(0)
            if not any(moved):
                return

    def advance(self, seconds: float) -> None:
        self.reactor.advance(seconds)
        self.flush()


def assertWaiting(case, client, reactor=None) -> None:
    """
    Every connection of C{client} waits for its next attempt: none up or under way, and
    a retry scheduled for each.
    """
    reactor = reactor or case.world.reactor
    case.assertFalse(any(link.ready or link.connecting for link in client._links))
    retries = [c for c in reactor.getDelayedCalls() if "_reconnect" in repr(c.func)]
    case.assertEqual(len(retries), len(client._links))


class BackoffTests(SynchronousTestCase):
    def test_exponentialCappedWithJitter(self):
        highs = [backoffDelay(n, rand=lambda: 1.0) for n in range(1, 13)]
        lows = [backoffDelay(n, rand=lambda: 0.0) for n in range(1, 13)]
        self.assertEqual(highs[:4], [0.1, 0.2, 0.4, 0.8])
        self.assertEqual(highs[-1], MAX_BACKOFF)
        self.assertTrue(all(b >= a for a, b in zip(highs, highs[1:], strict=False)))
        self.assertEqual([low * 2 for low in lows], highs)
        self.assertLessEqual(backoffDelay(10**6), MAX_BACKOFF)


class DistClientTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.world = World(self)
        self.client = DistServiceClient(self.world.reactor, ENDPOINT)
        self.client.start()

    def connected(self):
        self.assertEqual(self.world.complete(), 2)  # the pool
        self.assertTrue(self.client.available)

    def test_calls(self):
        u = self.world.user()
        self.connected()
        d = self.client.get_user_stats(u.id)
        self.world.flush()
        reply = self.successResultOf(d)
        self.assertEqual((reply["success"], reply["stats"]["nombre"]), (True, "ana"))
        d = self.client.add_notification(u.id, "¡Nuevo récord!", notif_type="success")
        self.world.flush()
        notification = self.successResultOf(d)["notification"]
        self.assertEqual(notification["type"], "success")
        d = self.client.get_notifications(u.id, limit=5, unread_only=True)
        self.world.flush()
        self.assertEqual(self.successResultOf(d)["notifications"], [notification])
        d = self.client.mark_notifications_read(u.id, ids=[notification["id"]])
        self.world.flush()
        self.assertEqual(self.successResultOf(d)["marcadas"], 1)
        d = self.client.get_global_stats()
        self.world.flush()
        self.assertEqual(self.successResultOf(d)["stats"]["total_usuarios"], 1)
        d = self.client.ping()
        self.world.flush()
        self.assertEqual(self.successResultOf(d)["message"], "pong")

    def test_failureRepliesAreReplies(self):
        self.connected()
        d = self.client.get_user_stats(999)
        self.world.flush()
        self.assertEqual(self.successResultOf(d)["code"], "not_found")

    def test_pickleReply(self):
        u = self.world.user()
        self.connected()
        d = self.client.get_user_stats(u.id, format="pickle_base64")
        self.world.flush()
        stats = self.successResultOf(d)["stats"]
        self.assertIsInstance(stats, UserStats)
        self.assertEqual(stats.user_id, u.id)

    def test_pipelinedOverThePool(self):
        u = self.world.user()
        self.connected()
        calls = [self.client.add_notification(u.id, f"n{i}") for i in range(10)]
        inFlight = [link.protocol.inFlight for link in self.client._links]
        self.assertEqual(inFlight, [5, 5])  # spread over both connections, not yet answered
        self.world.flush()
        ids = [self.successResultOf(d)["notification"]["id"] for d in calls]
        self.assertEqual(len(set(ids)), 10)

    def test_callsWaitForTheFirstConnection(self):
        d = self.client.get_global_stats()
        self.assertNoResult(d)
        self.world.complete()
        self.assertTrue(self.successResultOf(d)["success"])

    def test_downFailsAtOnce(self):
        self.world.down()
        waiting = self.client.get_global_stats()
        self.world.complete()  # both attempts refused
        error = self.failureResultOf(waiting, ServiceUnavailable).value
        self.assertEqual(error.code, "unavailable")
        self.assertIn("no disponible", error.message)
        # While every connection waits to retry, a call fails at once.
        self.failureResultOf(self.client.get_user_stats(1), ServiceUnavailable)

    def test_connectAttemptTimesOut(self):
        d = self.client.get_global_stats()  # the attempts never complete (blackhole)
        self.world.reactor.advance(DEFAULT_TIMEOUT - 0.01)
        self.assertNoResult(d)
        self.world.reactor.advance(0.01)
        self.failureResultOf(d, ServiceUnavailable)
        assertWaiting(self, self.client)

    def test_callTimesOut(self):
        self.connected()
        u = self.world.user()
        link = min(self.client._links, key=lambda link: link.protocol.inFlight)
        # The service stops answering on that connection (the reply is lost).
        link.protocol.transport.write = lambda data: None
        d = self.client.get_user_stats(u.id)
        self.world.advance(DEFAULT_TIMEOUT - 0.01)
        self.assertNoResult(d)
        self.world.advance(0.01)
        error = self.failureResultOf(d, ServiceUnavailable).value
        self.assertIn("no respondió", error.message)
        # That connection was dropped and is made again; the pool carries on.
        self.world.advance(MAX_BACKOFF)
        self.world.complete()
        self.assertTrue(all(link.ready for link in self.client._links))
        d = self.client.get_user_stats(u.id)
        self.world.flush()
        self.assertTrue(self.successResultOf(d)["success"])

    def test_reconnectsWithBackoff(self):
        self.client.stop()
        self.client = DistServiceClient(self.world.reactor, ENDPOINT, poolSize=1)
        self.client.start()
        self.world.complete()
        self.world.down()
        assertWaiting(self, self.client)
        # Refused attempts, each retried later than the one before, never beyond 5 s.
        delays = []
        for _ in range(10):
            retry = min(call.getTime() for call in self.world.reactor.getDelayedCalls())
            delays.append(retry - self.world.reactor.seconds())
            self.world.reactor.advance(retry - self.world.reactor.seconds())
            self.assertEqual(self.world.attempts(), 1)
            self.world.complete()
        self.assertLessEqual(max(delays), MAX_BACKOFF)
        self.assertLess(delays[0], 0.2)
        self.assertGreaterEqual(max(delays), MAX_BACKOFF / 2)
        # The service is back: within one backoff step the pool is ready again.
        self.world.up()
        self.world.advance(MAX_BACKOFF)
        self.world.complete()
        self.assertTrue(self.client.available)
        d = self.client.ping()
        self.world.flush()
        self.assertEqual(self.successResultOf(d)["message"], "pong")

    def test_lostConnectionFailsItsCalls(self):
        self.connected()
        self.world.user()
        d = self.client.get_global_stats()
        for pump in self.world.pumps:
            pump.serverIO.loseConnection()
            pump.flush()
        self.failureResultOf(d, ServiceUnavailable)

    def test_cancel(self):
        d = self.client.get_global_stats()
        d.cancel()
        self.failureResultOf(d)
        self.world.complete()  # the cancelled call is not sent
        self.assertEqual([link.protocol.inFlight for link in self.client._links], [0, 0])

    def test_stop(self):
        queued = self.client.get_global_stats()  # waiting for a connection
        self.successResultOf(self.client.stop())
        self.failureResultOf(queued, ServiceUnavailable)
        self.assertEqual(self.world.attempts(), 0)

    def test_stopWhenConnected(self):
        self.connected()
        inFlight = self.client.get_global_stats()
        stopped = self.client.stop()
        self.assertNoResult(stopped)
        self.world.flush()
        self.successResultOf(stopped)
        self.assertTrue(self.successResultOf(inFlight)["success"])  # answered before the close
        self.failureResultOf(self.client.ping(), ServiceUnavailable)
        self.assertFalse(any(link.running or link.ready for link in self.client._links))
        self.assertEqual(self.world.reactor.getDelayedCalls(), [])

    def test_stopAbortsAConnectionThatWillNotClose(self):
        self.connected()
        aborted = []
        for link in self.client._links:
            transport = link.protocol.transport
            transport.loseConnection = lambda: None  # the polite close never completes
            realAbort = transport.abortConnection
            transport.abortConnection = lambda real=realAbort: (aborted.append(1), real())
        stopped = self.client.stop()
        self.world.flush()
        self.assertNoResult(stopped)
        self.world.advance(DEFAULT_TIMEOUT)
        self.assertEqual(len(aborted), 2)
        self.successResultOf(stopped)

    def test_stopWhileConnecting(self):
        stopped = self.client.stop()
        self.successResultOf(stopped)
        self.assertEqual(self.world.attempts(), 0)
        self.assertEqual(self.world.reactor.getDelayedCalls(), [])

    def test_stopWhileWaiting(self):
        self.world.down()
        self.world.complete()
        self.successResultOf(self.client.stop())
        self.assertEqual(self.world.reactor.getDelayedCalls(), [])


class AuthTests(SynchronousTestCase):
    def test_handshakeOnEveryConnection(self):
        world = World(self, serverSecret=SECRET)
        u = world.user()
        client = DistServiceClient(world.reactor, ENDPOINT, secret=SECRET)
        client.start()
        world.complete()
        self.assertTrue(client.available)
        self.assertTrue(all(p.serverIO.protocol.authenticated for p in world.pumps))
        d = client.get_user_stats(u.id, format="pickle_base64")
        world.flush()
        self.assertIsInstance(self.successResultOf(d)["stats"], UserStats)

    def test_wrongSecret(self):
        world = World(self, serverSecret=SECRET)
        client = DistServiceClient(world.reactor, ENDPOINT, secret=b"wrong")
        client.start()
        d = client.get_global_stats()
        world.complete()
        error = self.failureResultOf(d, ServiceUnavailable).value
        self.assertIn("Autenticación", error.message)
        self.assertFalse(client.available)
        assertWaiting(self, client, world.reactor)
        self.flushLoggedErrors()

    def test_serviceWithoutSecret(self):
        world = World(self)
        client = DistServiceClient(world.reactor, ENDPOINT, secret=SECRET)
        client.start()
        d = client.ping()
        world.complete()
        self.assertIn("Autenticación", self.failureResultOf(d, ServiceUnavailable).value.message)

    def test_hostileReplyRefused(self):
        marker = os.path.abspath(self.mktemp())
        factory = WireFactory(
            {"boom": lambda request: {"success": True, "x": Boom(marker)}}, SECRET, None
        )
        world = World(self, factory=factory)
        factory.clock = world.reactor
        client = DistServiceClient(world.reactor, ENDPOINT, secret=SECRET)
        client.start()
        world.complete()
        d = client.call("boom", format="pickle_base64")
        world.flush()
        error = self.failureResultOf(d, ReplyRefused).value
        self.assertIsInstance(error, ServiceUnavailable)
        self.assertIn("no permitido", error.message)
        self.assertFalse(os.path.exists(marker))

    def test_handshakeTimesOut(self):
        # A server that accepts and never answers: the attempt gives up after the
        # timeout and closes its connection before the next.
        world = World(self, factory=Factory.forProtocol(Protocol))
        client = DistServiceClient(world.reactor, ENDPOINT, secret=SECRET, poolSize=1)
        client.start()
        world.complete()
        world.advance(1)
        d = client.ping()  # waits for the handshake
        world.advance(DEFAULT_TIMEOUT - 1.01)
        self.assertNoResult(d)
        world.advance(0.01)
        error = self.failureResultOf(d, ServiceUnavailable).value
        self.assertIn("no completó la conexión", error.message)
        self.assertTrue(world.pumps[0].clientIO.disconnected)
        assertWaiting(self, client, world.reactor)

    def test_closedDuringHandshake(self):
        class Rude(Protocol):
            def connectionMade(self):
                self.transport.loseConnection()

        world = World(self, factory=Factory.forProtocol(Rude))
        client = DistServiceClient(world.reactor, ENDPOINT, secret=SECRET, poolSize=1)
        client.start()
        d = client.ping()
        world.complete()
        self.assertIn(
            "cerró la conexión", self.failureResultOf(d, ServiceUnavailable).value.message
        )
        assertWaiting(self, client, world.reactor)


class SubscriptionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.world = World(self, serverSecret=SECRET)
        self.user = self.world.user()
        self.client = DistServiceClient(self.world.reactor, ENDPOINT, secret=SECRET)
        self.client.start()

    def add(self, message: str):
        d = self.client.add_notification(self.user.id, message)
        self.world.flush()
        return self.successResultOf(d)["notification"]

    def test_live(self):
        got, alsoGot, subscribed = [], [], []
        first = self.client.subscribe(got.append, onSubscribed=lambda: subscribed.append(1))
        second = self.client.subscribe(alsoGot.append)
        self.world.complete()
        self.assertTrue(first.subscribed and second.subscribed)
        self.assertEqual(subscribed, [1])
        made = [self.add("uno"), self.add("dos")]
        self.assertEqual(got, made)
        self.assertEqual(alsoGot, made)
        stopped = first.stop()
        self.world.flush()
        self.successResultOf(stopped)
        self.add("tres")
        self.assertEqual(len(got), 2)
        self.assertEqual(len(alsoGot), 3)

    def test_resubscribesAfterRestart(self):
        got, subscribed = [], []
        subscription = self.client.subscribe(got.append, onSubscribed=lambda: subscribed.append(1))
        self.world.complete()
        self.world.down()
        self.assertFalse(subscription.subscribed)
        self.world.advance(MAX_BACKOFF)
        self.world.complete()  # refused while down
        self.world.up()
        self.world.advance(MAX_BACKOFF)
        self.world.complete()
        self.assertTrue(subscription.subscribed)
        self.assertEqual(subscribed, [1, 1])
        self.assertEqual(len(self.world.service.subscribers), 1)
        made = self.add("después del reinicio")
        self.assertEqual(got, [made])

    def test_callbackErrorsDoNotBreakTheFeed(self):
        seen = []

        def flaky(notification):
            seen.append(notification)
            raise RuntimeError("bug in the caller")

        self.client.subscribe(flaky)
        self.world.complete()
        self.add("a")
        self.add("b")
        self.assertEqual(len(seen), 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

    def test_clientStopStopsSubscriptions(self):
        subscription = self.client.subscribe(lambda n: None)
        self.world.complete()
        stopped = self.client.stop()
        self.world.flush()
        self.successResultOf(stopped)
        self.assertFalse(subscription.subscribed)
        self.assertEqual(len(self.world.service.subscribers), 0)


class ScoreClientTests(SynchronousTestCase):
    def test_saveScore(self):
        world = World(self, factory=None)
        writer = GroupCommitWriter(world.store.scores)
        world.reactor.tcpServers.clear()
        world.factory = WireFactory(ScoreService(writer).handlers(), None, world.reactor)
        world.up()
        u = world.user()
        client = ScoreServiceClient(world.reactor, ENDPOINT)
        client.start()
        world.complete()
        d = client.save_score(u.id, 120, idempotency_key="partida-1")
        again = client.save_score(u.id, 120, idempotency_key="partida-1")
        world.flush()
        first = self.successResultOf(d)
        self.assertEqual((first["nuevo_record"], first["puntaje_maximo"]), (True, 120))
        self.assertEqual(self.successResultOf(again)["score_id"], first["score_id"])


class EnvironmentTests(SynchronousTestCase):
    def test_fromEnvironment(self):
        reactor = MemoryReactorClock()
        environ = {
            "DISTRIBUTED_HOST": "10.0.0.7",
            "DISTRIBUTED_PORT": "7100",
            "TCP_PERSIST_PORT": "6100",
            "JUEGO_SERVICE_SECRET": "abc",
        }
        dist = DistServiceClient.fromEnvironment(reactor, environ=environ)
        self.assertEqual(dist.description, "tcp:host=10.0.0.7:port=7100")
        self.assertEqual(dist.secret, b"abc")
        score = ScoreServiceClient.fromEnvironment(
            reactor, secret=None, environ=environ, poolSize=1
        )
        self.assertEqual(score.description, "tcp:host=127.0.0.1:port=6100")
        self.assertIsNone(score.secret)
        self.assertEqual(len(score._links), 1)

    def test_blockingFromEnvironment(self):
        self.patch(os, "environ", {"DISTRIBUTED_PORT": "7200", "JUEGO_SERVICE_SECRET": "xyz"})
        client = DistributedServiceClient()
        self.assertEqual((client.host, client.port, client.secret), ("127.0.0.1", 7200, b"xyz"))
        explicit = ScoreClient(host="::1", port=1234, secret=None, timeout=1.0)
        self.assertEqual((explicit.host, explicit.port, explicit.secret), ("::1", 1234, None))


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BlockingClientTests(TestCase):
    """
    The script clients against a real listening service, driven by the reactor while
    the client blocks in a thread.
    """

    def listen(self, secret=None, factory=None):
        self.store = synchronousStore(self, sqliteURL(self))
        self.service = StatsService(self.store)
        self.factory = factory or DistFactory(self.service, secret, globalReactor)
        self.serverProtocols = []
        build = self.factory.buildProtocol

        def recordingBuild(addr):
            protocol = build(addr)
            self.serverProtocols.append(protocol)
            return protocol

        self.factory.buildProtocol = recordingBuild
        port = globalReactor.listenTCP(0, self.factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port
        return self.successResultOf(self.store.users.create("ana", "ana@example.com", "h"))

    def client(self, cls=DistributedServiceClient, **kw):
        client = cls(host="127.0.0.1", port=self.port, **kw)
        self.addCleanup(client.close)
        return client

    @inlineCallbacks
    def test_seedAPI(self):
        u = self.listen()
        client = self.client(secret=None)
        ok, reply = yield deferToThread(client.get_user_stats, user_id=u.id)
        self.assertTrue(ok)
        self.assertEqual(reply["stats"]["email"], "ana@example.com")
        ok, reply = yield deferToThread(client.get_global_stats)
        self.assertEqual((ok, reply["stats"]["total_usuarios"]), (True, 1))
        ok, reply = yield deferToThread(
            client.add_notification, user_id=u.id, message="¡Hola!", notif_type="success"
        )
        self.assertTrue(ok)
        ok, reply = yield deferToThread(client.get_notifications, user_id=u.id)
        self.assertEqual([n["message"] for n in reply["notifications"]], ["¡Hola!"])
        ok, reply = yield deferToThread(client.mark_notifications_read, user_id=u.id)
        self.assertEqual((ok, reply["marcadas"]), (True, 1))
        ok, reply = yield deferToThread(client.get_user_stats, user_id=999)
        self.assertEqual((ok, reply["code"]), (False, "not_found"))
        ok, reply = yield deferToThread(client.get_user_stats, user_id=u.id, format="pickle_base64")
        self.assertIsInstance(reply["stats"], UserStats)
        ok, reply = yield deferToThread(client.ping)
        self.assertEqual(reply["message"], "pong")

    @inlineCallbacks
    def test_withSecret(self):
        u = self.listen(secret=SECRET)
        good = self.client(secret=SECRET.decode())
        ok, reply = yield deferToThread(good.get_user_stats, user_id=u.id, format="pickle_base64")
        self.assertTrue(ok)
        self.assertEqual(reply["stats"].user_id, u.id)
        open_ = self.client(secret=None)
        ok, reply = yield deferToThread(open_.get_user_stats, user_id=u.id)
        self.assertEqual((ok, reply["code"]), (False, "unauthorized"))
        wrong = self.client(secret=b"wrong")
        ok, reply = yield deferToThread(wrong.get_user_stats, user_id=u.id)
        self.assertEqual((ok, reply["code"]), (False, "unauthorized"))
        self.assertIn("Autenticación", reply["error"])

    @inlineCallbacks
    def test_reconnectsAfterTheServiceClosesIt(self):
        u = self.listen()
        client = self.client(secret=None)
        ok, _ = yield deferToThread(client.get_user_stats, user_id=u.id)
        self.assertTrue(ok)
        [first] = self.serverProtocols
        first.transport.loseConnection()  # as the idle timeout or a restart would
        yield first.whenClosed()
        ok, reply = yield deferToThread(client.get_user_stats, user_id=u.id)
        self.assertTrue(ok, reply)
        self.assertEqual(len(self.serverProtocols), 2)
        ok, reply = yield deferToThread(client.ping)
        self.assertEqual(len(self.serverProtocols), 2)  # kept open between calls

    @inlineCallbacks
    def test_hostileReplyRefused(self):
        marker = os.path.abspath(self.mktemp())
        factory = WireFactory(
            {"boom": lambda request: {"success": True, "x": Boom(marker)}}, None, globalReactor
        )
        self.listen(factory=factory)
        client = self.client(secret=None)
        ok, reply = yield deferToThread(client.request, "boom", format="pickle_base64")
        self.assertEqual((ok, reply["code"]), (False, "invalid_reply"))
        self.assertFalse(os.path.exists(marker))

    def test_down(self):
        self.port = freePort()  # nothing listens there
        client = self.client(secret=None, timeout=1.0)
        ok, reply = client.get_user_stats(user_id=1)
        self.assertFalse(ok)
        self.assertEqual(reply["success"], False)
        self.assertEqual(reply["code"], "unavailable")
        self.assertIn("no disponible", reply["error"])
        ok, reply = self.client(ScoreClient, secret=None).save_score(user_id=1, puntaje=5)
        self.assertEqual((ok, reply["code"]), (False, "unavailable"))

    def test_blackholeTimesOut(self):
        # A listener that never accepts nor answers: the call gives up after its timeout.
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            self.port = server.getsockname()[1]
            client = self.client(secret=None, timeout=0.3)
            ok, reply = client.ping()
        self.assertEqual((ok, reply["code"]), (False, "unavailable"))
        self.assertIn("tiempo", reply["error"])
