"""
The session → user cache of juego-web (L{juego.web.sessioncache}): it spares the database
a read per request, holds nothing longer than its bound, and forgets a session or a user on
every web node as soon as one node ends or changes it, through juego-dist's push.

The cross-node tests run two web applications over one database, each with a real
L{DistServiceClient} talking the line protocol to one real juego-dist (iosim on a
L{MemoryReactorClock}, the world of L{tests.test_clients}); the clock is stepped, never
slept on.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from juego.clients import MAX_BACKOFF, DistServiceClient
from juego.model import User
from juego.stats import DistFactory, StatsService
from juego.store import Store
from juego.store.accounts import SessionInfo
from juego.web.app import Application
from juego.web.hosts import AllowedHosts
from juego.web.sessioncache import MAX_STALENESS, SessionCache
from juego.web.sessions import REFRESH, TTL, tokenHash
from juego.wire.client import LineClientProtocol
from tests.support import sqliteURL, synchronousStore
from tests.test_clients import ENDPOINT, SECRET, World
from tests.websupport import (
    HOST,
    PASSWORD,
    T0,
    Client,
    FakeScores,
    WebTestCase,
    cheapPasswords,
)

ANA = User(1, "Ana", "ana@example.com", fecha_registro=T0)
BEA = User(2, "Bea", "bea@example.com", fecha_registro=T0)


def info(user: User = ANA, days: int = 30) -> SessionInfo:
    return SessionInfo(user, T0 + timedelta(days=days))


def sessionCookie(header: str | None) -> str:
    """
    The C{Cookie} header that sends back the session a C{Set-Cookie} header set.
    """
    match = re.search(r"juego_sesion=([A-Za-z0-9_-]{43})", header or "")
    assert match is not None, header
    return f"juego_sesion={match.group(1)}"


def h(n: int) -> str:
    return f"{n:064x}"


class CacheTests(SynchronousTestCase):
    """
    The cache alone, on a Clock.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.cache = SessionCache(self.clock, maxEntries=3)

    def test_hitWithinTheBound(self):
        self.cache.put(h(1), info(), self.cache.epoch)
        self.clock.advance(MAX_STALENESS - 0.01)
        self.assertEqual(self.cache.get(h(1), T0), info())
        self.assertEqual((self.cache.hits, self.cache.misses), (1, 0))

    def test_staleAtTheBound(self):
        self.cache.put(h(1), info(), self.cache.epoch)
        self.clock.advance(MAX_STALENESS)
        self.assertIsNone(self.cache.get(h(1), T0))
        self.assertEqual(len(self.cache), 0)
        self.assertEqual((self.cache.hits, self.cache.misses), (0, 1))

    def test_expiredSessionNotServed(self):
        self.cache.put(h(1), info(days=1), self.cache.epoch)
        self.assertIsNone(self.cache.get(h(1), T0 + timedelta(days=1)))

    def test_leastRecentlyUsedGoesFirst(self):
        for n in (1, 2, 3):
            self.cache.put(h(n), info(), self.cache.epoch)
        self.assertIsNotNone(self.cache.get(h(1), T0))  # 2 is now the oldest used
        self.cache.put(h(4), info(BEA), self.cache.epoch)
        self.assertEqual(len(self.cache), 3)
        self.assertIsNone(self.cache.get(h(2), T0))
        for n in (1, 3, 4):
            self.assertIsNotNone(self.cache.get(h(n), T0))

    def test_dropByTokenAndByUser(self):
        self.cache.put(h(1), info(), self.cache.epoch)
        self.cache.put(h(2), info(), self.cache.epoch)
        self.cache.put(h(3), info(BEA), self.cache.epoch)
        self.cache.dropLocal(tokens=[h(3)])
        self.assertIsNone(self.cache.get(h(3), T0))
        self.cache.dropLocal(ANA.id)
        self.assertEqual(len(self.cache), 0)
        self.assertEqual(self.cache._byUser, {})

    def test_lookupUnderWayDuringADropIsNotCached(self):
        """
        A read that began before a drop may carry what the drop removed: not kept.
        """
        epoch = self.cache.epoch
        self.cache.received({"event": "sesiones", "user_id": ANA.id, "sesiones": []})
        self.cache.put(h(1), info(), epoch)
        self.assertIsNone(self.cache.get(h(1), T0))
        self.cache.put(h(1), info(), self.cache.epoch)
        self.assertIsNotNone(self.cache.get(h(1), T0))

    def test_malformedPushIgnored(self):
        self.cache.put(h(1), info(), self.cache.epoch)
        self.cache.received({"event": "sesiones", "user_id": "1", "sesiones": "nada"})
        self.cache.received({"event": "sesiones", "user_id": True, "sesiones": [1, None]})
        self.assertIsNotNone(self.cache.get(h(1), T0))

    def test_dropWithoutDistIsLocal(self):
        self.cache.put(h(1), info(), self.cache.epoch)
        self.successResultOf(Deferred.fromCoroutine(self.cache.drop(tokens=[h(1)])))
        self.assertEqual(len(self.cache), 0)

    def test_dropSplitsLongLists(self):
        sent: list[dict[str, Any]] = []

        class Dist:
            def drop_sessions(self, **fields: Any) -> Deferred[dict[str, Any]]:
                sent.append(fields)
                return succeed({"success": True})

        cache = SessionCache(self.clock, Dist())  # type: ignore[arg-type]
        tokens = [h(n) for n in range(150)]
        self.successResultOf(Deferred.fromCoroutine(cache.drop(7, tokens)))
        self.assertEqual(
            sent, [{"user_id": 7, "sesiones": tokens[:100]}, {"sesiones": tokens[100:]}]
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_slowDistDoesNotHoldTheRequest(self):
        """
        A drop waits at most a second for juego-dist; the caller goes on without it.
        """

        class Dist:
            def drop_sessions(self, **fields: Any) -> Deferred[dict[str, Any]]:
                return Deferred()

        cache = SessionCache(self.clock, Dist())  # type: ignore[arg-type]
        d = Deferred.fromCoroutine(cache.drop(1))
        self.assertNoResult(d)
        self.clock.advance(1)
        self.successResultOf(d)


class CountingStore:
    """
    Count a store's session reads and expiry writes.
    """

    def __init__(self, store: Store) -> None:
        self.reads = 0
        self.extends = 0
        accounts = store.accounts
        session, extend = accounts.session, accounts.extendSession

        def countedSession(*a: Any) -> Any:
            self.reads += 1
            return session(*a)

        def countedExtend(*a: Any) -> Any:
            self.extends += 1
            return extend(*a)

        accounts.session = countedSession  # type: ignore[method-assign]
        accounts.extendSession = countedExtend  # type: ignore[method-assign]


class OneNodeTests(WebTestCase):
    """
    One web node: hits, the bound, the daily expiry refresh.
    """

    def setUp(self) -> None:
        super().setUp()
        self.app.hub.start()
        self.counts = CountingStore(self.store)

    def test_secondRequestWithinTheBoundReadsNothing(self):
        client, _ = self.signUp()
        self.clock.advance(MAX_STALENESS)  # the entry made at sign-up is stale now
        self.assertEqual(client.get("/api/yo").status, 200)
        self.assertEqual(self.counts.reads, 1)
        self.clock.advance(MAX_STALENESS - 0.5)
        self.assertEqual(client.get("/api/yo").status, 200)
        self.assertEqual(client.get("/api/perfil").status, 200)
        self.assertEqual(self.counts.reads, 1)
        self.clock.advance(0.5)
        self.assertEqual(client.get("/api/yo").status, 200)
        self.assertEqual(self.counts.reads, 2)

    def test_expiryStillMovesOnceADay(self):
        client, _ = self.signUp()
        self.clock.advance(REFRESH.total_seconds() + 1)
        reply = client.get("/api/yo")
        self.assertEqual(reply.status, 200)
        self.assertIn(f"Max-Age={int(TTL.total_seconds())}", reply.header("set-cookie") or "")
        self.assertEqual((self.counts.reads, self.counts.extends), (1, 1))
        # Served from the cache now: the moved expiry is what it holds, so no second write.
        self.clock.advance(1)
        self.assertIsNone(client.get("/api/yo").header("set-cookie"))
        self.clock.advance(MAX_STALENESS)
        self.assertIsNone(client.get("/api/yo").header("set-cookie"))
        self.assertEqual((self.counts.reads, self.counts.extends), (2, 1))
        # The database has the moved expiry too: the session outlives its first 30 days.
        self.clock.advance((TTL - timedelta(days=1)).total_seconds())
        self.assertEqual(client.get("/api/yo").status, 200)

    def test_logoutDropsAtOnce(self):
        client = self.client()
        reply = client.post(
            "/api/registro",
            {"nombre": "Ana", "email": "ana@example.com", "password": PASSWORD},
        )
        cookie = sessionCookie(reply.header("set-cookie"))
        other = self.client()  # the same cookie, from another tab's request
        self.assertEqual(other.get("/api/yo", headers={"Cookie": cookie}).status, 200)
        self.assertEqual(client.post("/api/logout").status, 200)
        self.assertEqual(other.get("/api/yo", headers={"Cookie": cookie}).status, 401)
        hashed = tokenHash(cookie.split("=", 1)[1].encode("ascii"))
        self.assertEqual(
            self.dist.drops, [{"event": "sesiones", "user_id": None, "sesiones": [hashed]}]
        )

    def test_adminGrantSeenWithinTheBound(self):
        """
        C{juego-admin create-admin} writes the database alone (no juego-dist): the web
        node sees the new admin once its entry is stale.
        """
        client, user = self.signUp()
        self.successResultOf(self.store.users.setAdmin(user["id"]))
        self.assertFalse(client.get("/api/yo").json["user"]["es_admin"])
        self.clock.advance(MAX_STALENESS)
        self.assertTrue(client.get("/api/yo").json["user"]["es_admin"])


class WorldPump:
    """
    What L{Client} advances between reads: the iosim connections to juego-dist.
    """

    def __init__(self, world: World) -> None:
        self.world = world

    def advance(self, seconds: float) -> None:
        self.world.advance(seconds)


class TwoNodesTests(SynchronousTestCase):
    """
    Two web nodes over one database and one real juego-dist.
    """

    def setUp(self) -> None:
        self.world = World(self, serverSecret=SECRET)
        self.world.reactor.advance(T0.timestamp())
        self.url = self.world.store.pool.engine.url.render_as_string(hide_password=False)
        self.nodes: list[tuple[Application, CountingStore, DistServiceClient]] = []
        for _ in range(2):
            store = synchronousStore(self, self.url)
            dist = DistServiceClient(self.world.reactor, ENDPOINT, secret=SECRET)
            app = Application.build(
                store,
                FakeScores(store, dist, self.world.reactor),
                dist,
                self.world.reactor,
                cheapPasswords(),
                hosts=AllowedHosts([HOST]),
                rateLimits=0.0,
            )
            self.addCleanup(app.close)
            dist.start()
            app.hub.start()
            self.nodes.append((app, CountingStore(store), dist))
        self.world.complete()
        for _, _, dist in self.nodes:
            self.assertTrue(dist.available)
        self.assertEqual(len(self.world.service.subscribers), 2)
        self.pump = WorldPump(self.world)

    def browser(self, node: int) -> Client:
        return Client(self, self.nodes[node][0].resource(), self.pump)  # type: ignore[arg-type]

    def signUp(self, node: int, nombre: str) -> tuple[Client, dict[str, Any], str]:
        client = self.browser(node)
        reply = client.post(
            "/api/registro",
            {"nombre": nombre, "email": f"{nombre.lower()}@example.com", "password": PASSWORD},
        )
        self.assertEqual(reply.status, 201, reply.body)
        return client, reply.json["user"], sessionCookie(reply.header("set-cookie"))

    def yo(self, node: int, cookie: str) -> int:
        """
        C{GET /api/yo} on C{node} with C{cookie}, as the same browser reaching another
        node behind the load balancer would send it.
        """
        return self.browser(node).get("/api/yo", headers={"Cookie": cookie}).status

    def cachedOnB(self, cookie: str) -> None:
        """
        The session is in node B's cache: a second request there reads nothing.
        """
        counts = self.nodes[1][1]
        self.assertEqual(self.yo(1, cookie), 200)
        reads = counts.reads
        self.assertEqual(self.yo(1, cookie), 200)
        self.assertEqual(counts.reads, reads)

    def test_logoutOnAEndsTheSessionOnB(self):
        a, _, cookie = self.signUp(0, "Ana")
        self.cachedOnB(cookie)
        began = self.world.reactor.seconds()
        self.assertEqual(a.post("/api/logout").status, 200)
        self.assertEqual(self.yo(1, cookie), 401)
        self.assertEqual(self.yo(0, cookie), 401)
        self.assertLess(self.world.reactor.seconds() - began, 0.1)  # not the bound's doing

    def test_deletedUserEndsOnB(self):
        admin, adminUser, _ = self.signUp(0, "Jefa")
        self.successResultOf(self.world.store.users.setAdmin(adminUser["id"]))
        self.world.advance(MAX_STALENESS)  # node A sees the new admin
        _, victim, cookie = self.signUp(0, "Bea")
        self.cachedOnB(cookie)
        began = self.world.reactor.seconds()
        reply = admin.post(f"/api/admin/eliminar_usuario/{victim['id']}", {"password": PASSWORD})
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(self.yo(1, cookie), 401)
        self.assertLess(self.world.reactor.seconds() - began, 0.1)

    def test_profileChangeOnASeenOnB(self):
        a, _, cookie = self.signUp(0, "Ana")
        self.cachedOnB(cookie)
        self.assertEqual(a.post("/api/perfil", {"nombre": "Anita"}).status, 200)
        reply = self.browser(1).get("/api/yo", headers={"Cookie": cookie})
        self.assertEqual(reply.json["user"]["nombre"], "Anita")

    def test_loginReplacingASessionEndsTheOldOneOnB(self):
        a, _, cookie = self.signUp(0, "Ana")
        self.cachedOnB(cookie)
        reply = a.post("/api/login", {"email": "ana@example.com", "password": PASSWORD})
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(self.yo(1, cookie), 401)

    def test_distDownTheBoundHolds(self):
        """
        With juego-dist down nothing is pushed: node B serves the session it cached until
        its entry is stale, and not a moment longer. When the feed is back, B starts
        afresh (it may have missed drops meanwhile).
        """
        a, _, cookie = self.signUp(0, "Ana")
        _, _, other = self.signUp(0, "Bea")
        self.cachedOnB(cookie)
        self.cachedOnB(other)
        cachedAt = self.world.reactor.seconds()
        self.world.down()
        self.assertFalse(self.nodes[0][2].available)
        began = self.world.reactor.seconds()
        self.assertEqual(a.post("/api/logout").status, 200)
        self.assertEqual(self.world.reactor.seconds(), began)  # the logout did not wait
        self.assertEqual(self.yo(0, cookie), 401)
        self.assertEqual(self.yo(1, cookie), 200)  # stale by less than the bound
        self.world.advance(cachedAt + MAX_STALENESS - self.world.reactor.seconds())
        self.assertEqual(self.yo(1, cookie), 401)
        # Back: node B subscribes again and empties its cache (the entry is still there,
        # stale, until a lookup or the feed's return removes it).
        cache = self.nodes[1][0].api.auth.sessions.cache
        self.cachedOnB(other)
        self.world.advance(MAX_BACKOFF)
        self.world.complete()
        self.assertEqual(len(cache), 1)
        self.world.up()
        self.world.advance(MAX_BACKOFF)
        self.world.complete()
        self.assertEqual(len(self.world.service.subscribers), 2)
        self.assertEqual(len(cache), 0)
        self.cachedOnB(other)


class DropSessionsActionTests(SynchronousTestCase):
    """
    juego-dist's C{drop_sessions}, on the wire.
    """

    def setUp(self) -> None:
        self.service = StatsService(synchronousStore(self, sqliteURL(self)))
        self.factory = DistFactory(self.service, None, Clock())

    def connect(self) -> tuple[LineClientProtocol, Any, list[dict[str, Any]]]:
        client, _, pump = connectedServerAndClient(
            lambda: self.factory.buildProtocol(None), LineClientProtocol
        )
        events: list[dict[str, Any]] = []
        client.onEvent = events.append
        return client, pump, events

    def ask(self, peer: Any, action: str, **fields: Any) -> dict[str, Any]:
        client, pump, _ = peer
        d = client.request(action, **fields)
        pump.flush()
        reply: dict[str, Any] = self.successResultOf(d)
        return reply

    def test_pushedToWholeFeedSubscribersOnly(self):
        web, player, writer = self.connect(), self.connect(), self.connect()
        self.ask(web, "subscribe")
        self.ask(player, "subscribe", user_id=3)
        reply = self.ask(writer, "drop_sessions", user_id=3, sesiones=[h(1)])
        self.assertEqual(reply, {"success": True, "avisados": 1})
        self.ask(writer, "drop_sessions", sesiones=[h(2)])
        web[1].flush()
        player[1].flush()
        self.assertEqual(
            web[2],
            [
                {"event": "sesiones", "user_id": 3, "sesiones": [h(1)]},
                {"event": "sesiones", "user_id": None, "sesiones": [h(2)]},
            ],
        )
        self.assertEqual(player[2], [])  # a player's feed carries notifications only

    def test_badRequestsRefused(self):
        writer = self.connect()
        for fields in (
            {},
            {"sesiones": []},
            {"sesiones": "abc"},
            {"sesiones": ["no-es-un-hash"]},
            {"sesiones": ["AB" * 32]},
            {"sesiones": [h(n) for n in range(101)]},
            {"user_id": -1},
            {"user_id": "1"},
        ):
            reply = self.ask(writer, "drop_sessions", **fields)
            self.assertEqual((reply["success"], reply["code"]), (False, "invalid_request"), fields)
