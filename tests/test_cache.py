"""
The optional Redis (L{juego.cache}) against a real Redis server: the cached ranking gives
the contract's positions (ties included) and heals from the database; notifications cross
juego-dist nodes exactly once; with Redis down everything answers from the database.

Skipped without a Redis server, unless C{JUEGO_REQUIRE_REDIS} is set (CI): see
L{tests.redissupport}.
"""

from __future__ import annotations

import secrets
import socket
from datetime import UTC, datetime, timedelta

import attrs
from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.python import usage
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase, TestCase

from juego import config
from juego.cache import Cache
from juego.cache.link import RedisLink, RedisSettings, RedisUnavailable
from juego.cache.ranking import RankingCache, member, stamp
from juego.model import Notification
from juego.stats import DistFactory, StatsService
from juego.store.scores import Best, SaveRequest
from juego.tap import cacheOf
from juego.tap import dist as distTap
from juego.tap import tcp as tcpTap
from juego.wire.client import LineClientProtocol
from tests.redissupport import redisSettings, sleep, waitFor
from tests.support import PostgresMixin, SQLiteMixin, sqliteURL, synchronousStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def pumped(pump) -> bool:
    """
    Move whatever waits on an iosim connection; true (for use in conditions).
    """
    pump.flush()
    return True


def freePort() -> int:
    """
    A local TCP port nobody listens on (for a Redis that is down).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EncodingTests(SynchronousTestCase):
    def test_memberOrderIsTieOrder(self):
        """
        Bytewise order of members is (date reached, user id) order.
        """
        early, late = T0, T0 + timedelta(microseconds=1)
        members = [member(9, late), member(10, early), member(2, early), member(1, late)]
        self.assertEqual(
            sorted(members), [member(2, early), member(10, early), member(1, late), member(9, late)]
        )
        self.assertEqual(len(stamp(T0)), 20)
        self.assertEqual(stamp(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)), f"{1_000_000:020d}")


class SettingsTests(SynchronousTestCase):
    def test_urls(self):
        s = RedisSettings.fromURL("redis://127.0.0.1:6380/3")
        self.assertEqual(
            (s.host, s.port, s.db, s.tls, s.password), ("127.0.0.1", 6380, 3, False, None)
        )
        s = RedisSettings.fromURL("rediss://user:p%40ss@cache.internal/0?prefix=prod:")
        self.assertEqual(
            (s.host, s.port, s.username, s.password, s.tls, s.prefix),
            ("cache.internal", 6379, "user", "p@ss", True, "prod:"),
        )
        self.assertNotIn("p@ss", repr(s))
        self.assertNotIn("p@ss", s.where)
        s = RedisSettings.fromURL("unix:///run/redis/redis.sock?db=2")
        self.assertEqual((s.path, s.db, s.prefix), ("/run/redis/redis.sock", 2, "juego:"))

    def test_badURLs(self):
        for url in ("http://x", "redis://h:port/0", "redis://h/x", "unix://"):
            self.assertRaises(config.ConfigError, RedisSettings.fromURL, url)

    def test_redisURL(self):
        self.assertIsNone(config.redisURL(None, {}))
        self.assertEqual(config.redisURL(None, {"JUEGO_REDIS_URL": "redis://r"}), "redis://r")
        self.assertEqual(
            config.redisURL("redis://f", {"JUEGO_REDIS_URL": "redis://r"}), "redis://f"
        )
        self.assertIsNone(config.redisURL("none", {"JUEGO_REDIS_URL": "redis://r"}))

    def test_tapOption(self):
        options = distTap.Options()
        options.parseOptions(["--redis", "redis://127.0.0.1:1/0", "-d", sqliteURL(self)])
        self.assertEqual(options["redis"], "redis://127.0.0.1:1/0")
        top = distTap.makeService(options)
        cache = cacheOf(top)
        self.assertIsInstance(cache, Cache)
        self.assertIsNotNone(cache.bus)
        options = tcpTap.Options()
        options.parseOptions(["--redis", "redis://127.0.0.1:1/0", "-d", sqliteURL(self)])
        cache = cacheOf(tcpTap.makeService(options))
        self.assertIsNone(cache.bus)  # juego-tcp only keeps the ranking up to date
        options = tcpTap.Options()
        options.parseOptions(["--redis", "ftp://x", "-d", sqliteURL(self)])
        self.assertRaises(usage.UsageError, tcpTap.makeService, options)

    def test_noRedis(self):
        options = tcpTap.Options()
        options.parseOptions(["-d", sqliteURL(self)])
        self.patch(config.os, "environ", {})
        self.assertIsNone(cacheOf(tcpTap.makeService(options)))


class RankingTestsMixin:
    """
    The cached ranking against the SQL ranking, on each database engine.
    """

    def setUp(self):
        self.settings, self.redis = redisSettings(self)
        self.store = synchronousStore(self, self.databaseURL())
        self.link = RedisLink(self.settings, reactor)
        self.link.startService()
        self.addCleanup(self.link.stopService)
        self.ranking = RankingCache(
            self.link, self.store.stats, self.settings.prefix, reactor, rebuilds=True, chunk=4
        )
        self.addCleanup(self.ranking.stop)
        self.store.scores.listener = self.ranking
        self.users = [
            self.successResultOf(self.store.users.create(f"u{i}", f"u{i}@example.com", "h"))
            for i in range(30)
        ]
        return ensureDeferred(self._ready())

    async def _ready(self):
        await waitFor(reactor, lambda: self.link.up)
        # The link's start triggered a rebuild (of an empty ranking): wait for it.
        await waitFor(reactor, lambda: self.redis.command("EXISTS", self.ranking.ready) == 1)

    def save(self, when, *pairs):
        requests = [SaveRequest(self.users[i].id, puntaje) for i, puntaje in pairs]
        return self.successResultOf(self.store.scores.saveBatch(requests, now=when))

    async def settled(self):
        """
        Wait until Redis has run every command sent so far (one connection: in order).
        """
        await self.link.call("ping")

    def populate(self):
        """
        A population with ties: equal bests reached at the same instant (same batch), at
        different instants, best 0, and records that join an existing tie.
        """
        t1, t2, t3 = T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2, microseconds=7)
        self.save(
            t1,
            (0, 50),
            (1, 50),
            (2, 30),
            (3, 30),
            (4, 30),
            (5, 10),
            (6, 0),
            (7, 0),
            (8, 50),
            (9, 70),
        )
        self.save(
            t2,
            (10, 50),
            (11, 30),
            (12, 30),
            (13, 100),
            (14, 0),
            (15, 10),
            (16, 10),
            (17, 70),
            (18, 70),
            (19, 5),
        )
        self.save(
            t3, (2, 50), (6, 0), (11, 100), (20, 100), (21, 50), (22, 0), (23, 0), (24, 30), (0, 40)
        )
        # Two saves of one player in one batch, the second a record over the first.
        self.save(t3 + timedelta(seconds=1), (25, 20), (25, 60), (26, 60))

    async def assertMatchesSQL(self, cachedFor=None):
        """
        Every player's cached position equals the SQL one (and comes from Redis).
        """
        await self.settled()
        positions = []
        for user in self.users:
            sql = self.successResultOf(self.store.stats.userStats(user.id))
            cached = await self.ranking.userStats(user.id)
            self.assertEqual(cached, sql)
            found = self.successResultOf(self.store.stats.unrankedUserStats(user.id))
            _, reached = found
            if reached is None:
                continue
            fromRedis = await self.ranking.cachedPosition(user.id, reached)
            self.assertEqual(fromRedis, sql.posicion_ranking, user.id)
            positions.append(fromRedis)
        self.assertEqual(sorted(positions), list(range(1, len(positions) + 1)))
        self.assertEqual(self.redis.command("ZCARD", self.ranking.zset), len(positions))

    async def test_liveUpdatesMatchSQL(self):
        self.populate()
        await self.assertMatchesSQL()

    async def test_rebuildAfterFlush(self):
        """
        Redis loses everything: readers use SQL at once, and the set is rebuilt (in
        chunks) from the database.
        """
        self.populate()
        await self.settled()
        self.redis.deletePrefix(self.settings.prefix)
        user = self.users[0]
        reached = self.successResultOf(self.store.stats.unrankedUserStats(user.id))[1]
        self.assertIsNone(await self.ranking.cachedPosition(user.id, reached))
        self.assertEqual(
            await self.ranking.userStats(user.id),
            self.successResultOf(self.store.stats.userStats(user.id)),
        )
        # That read found the marker missing and started a rebuild.
        await waitFor(reactor, lambda: self.redis.command("EXISTS", self.ranking.ready) == 1)
        await self.assertMatchesSQL()

    async def test_rebuildWithLiveUpdates(self):
        """
        Saves committed while a rebuild runs are in the rebuilt set.
        """
        self.populate()
        await self.settled()
        self.redis.command("DEL", self.ranking.ready)
        bests = self.store.stats.bests
        chunks = []

        def readChunk(after, limit):
            chunk = bests(after, limit)
            chunks.append(after)
            if len(chunks) == 2:
                # Records of players in the chunk already read and in chunks to come,
                # and a first game, committed in the middle of the rebuild.
                self.save(T0 + timedelta(seconds=10), (0, 1000), (27, 1000), (20, 99), (28, 0))
            return chunk

        self.patch(self.store.stats, "bests", readChunk)
        rebuilt = self.ranking.rebuild()
        self.save(T0 + timedelta(seconds=9), (5, 99))  # before the first chunk is read
        self.assertTrue(await rebuilt)
        self.assertGreater(len(chunks), 3)
        await self.assertMatchesSQL()

    async def test_resetAndDelete(self):
        self.populate()
        await self.settled()
        reset, deleted = self.users[13], self.users[9]
        old = self.successResultOf(self.store.stats.unrankedUserStats(reset.id))
        self.successResultOf(self.store.scores.resetUser(reset.id))
        self.assertTrue(self.successResultOf(self.store.scores.deleteUser(deleted.id)))
        del self.users[9]
        await self.assertMatchesSQL()
        # A late update from before the reset (it was in flight) does not bring it back.
        stale = Best(reset.id, old[0].puntaje_maximo, old[1])
        self.ranking.bestsChanged([stale])
        await self.assertMatchesSQL()
        # Nor does a rebuild that read the player before the reset.
        self.redis.command("DEL", self.ranking.ready)
        bests = self.store.stats.bests
        self.patch(
            self.store.stats,
            "bests",
            lambda after, limit: bests(after, limit).addCallback(
                lambda chunk: [stale] + chunk if after == 0 else chunk
            ),
        )
        self.assertTrue(await self.ranking.rebuild())
        await self.assertMatchesSQL()
        # A new game after the reset does count.
        self.save(T0 + timedelta(minutes=5), (13, 7))
        await self.assertMatchesSQL()

    async def test_voids(self):
        """
        An admin voids results: a player's only game (removed from the set at once), and
        a best over an earlier one (the set, which only raises bests, is rebuilt).
        """
        self.populate()
        only, lowered = self.users[29], self.users[3]
        later = T0 + timedelta(minutes=1)
        requests = [SaveRequest(only.id, 80, "solo"), SaveRequest(lowered.id, 500, "mejor")]
        self.successResultOf(self.store.scores.saveBatch(requests, now=later))
        await self.assertMatchesSQL()
        self.successResultOf(self.store.scores.removeScore("solo"))
        await self.assertMatchesSQL()
        self.successResultOf(self.store.scores.removeScore("mejor"))
        await self.settled()
        self.assertEqual(self.redis.command("EXISTS", self.ranking.ready), 0)
        # Meanwhile readers get the database's answer, and a rebuild starts.
        self.assertEqual(
            await self.ranking.userStats(lowered.id),
            self.successResultOf(self.store.stats.userStats(lowered.id)),
        )
        await waitFor(reactor, lambda: self.redis.command("EXISTS", self.ranking.ready) == 1)
        await self.assertMatchesSQL()

    async def test_updatesOnlyRaise(self):
        """
        An update that arrives late, after a higher best, changes nothing.
        """
        self.save(T0, (0, 10))
        self.save(T0 + timedelta(seconds=1), (0, 20))
        await self.settled()
        self.ranking.bestsChanged([Best(self.users[0].id, 10, T0)])
        await self.assertMatchesSQL()

    async def test_lostUpdatesInvalidate(self):
        """
        A save while Redis is away cannot reach the set: when Redis is back, this
        process deletes the marker first, readers use SQL, and the set is rebuilt.
        """
        self.populate()
        await self.settled()
        await self.link.stopService()
        self.save(T0 + timedelta(minutes=1), (5, 500))  # the save itself succeeds
        self.assertTrue(self.ranking.dirty)
        self.assertEqual(self.redis.command("EXISTS", self.ranking.ready), 1)  # stale
        user = self.users[5]
        reached = self.successResultOf(self.store.stats.unrankedUserStats(user.id))[1]
        self.assertIsNone(await self.ranking.cachedPosition(user.id, reached))
        self.assertEqual(
            (await self.ranking.userStats(user.id)).posicion_ranking,
            self.successResultOf(self.store.stats.userStats(user.id)).posicion_ranking,
        )
        self.link.startService()
        await waitFor(reactor, lambda: self.link.up)
        self.assertFalse(self.ranking.dirty)
        # The stale marker's deletion went first on the new connection; then the rebuild.
        await self.settled()
        await waitFor(reactor, lambda: self.redis.command("EXISTS", self.ranking.ready) == 1)
        await self.assertMatchesSQL()

    async def test_statsServiceUsesCache(self):
        self.populate()
        await self.settled()
        service = StatsService(self.store, ranking=self.ranking)
        factory = DistFactory(service, None, Clock())
        client, server, pump = connectedServerAndClient(
            lambda: factory.buildProtocol(None), LineClientProtocol
        )
        user = self.users[2]
        d = client.request("get_user_stats", user_id=user.id)
        await waitFor(reactor, lambda: pumped(pump) and d.called)
        reply = await d
        sql = self.successResultOf(self.store.stats.userStats(user.id))
        self.assertEqual(reply["stats"]["posicion_ranking"], sql.posicion_ranking)
        self.assertEqual(reply["stats"]["puntaje_maximo"], 50)


class SQLiteRankingTests(SQLiteMixin, RankingTestsMixin, TestCase):
    pass


class PostgresRankingTests(PostgresMixin, RankingTestsMixin, TestCase):
    pass


class DownTests(TestCase):
    """
    Redis configured but not there: stats, saves and notifications work from the
    database, and the outage is logged once.
    """

    def setUp(self):
        self.settings = RedisSettings(port=freePort(), prefix="juego-test-down:")
        self.store = synchronousStore(self, sqliteURL(self))
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.cache = Cache(self.settings, self.store, reactor, dist=True)
        self.cache.startService()
        self.addCleanup(self.cache.stopService)
        self.user = self.successResultOf(self.store.users.create("ana", "ana@example.com", "h"))

    async def test_statsFromSQL(self):
        # Several connection attempts have failed (backoff from 0.1 s).
        await waitFor(reactor, lambda: self.cache.link.failures >= 2)
        self.assertFalse(self.cache.link.up)
        results = self.successResultOf(
            self.store.scores.saveBatch([SaveRequest(self.user.id, 42)], now=T0)
        )
        self.assertTrue(results[0].nuevo_record)
        self.assertTrue(self.cache.ranking.dirty)
        service = StatsService(self.store, ranking=self.cache.ranking, bus=self.cache.bus)
        stats = await service.ranking.userStats(self.user.id)
        self.assertEqual((stats.puntaje_maximo, stats.posicion_ranking), (42, 1))
        self.assertEqual((await service.store.stats.globalStats(now=T0)).puntaje_maximo_global, 42)
        # A notification still reaches this node's subscribers (and is not lost).
        pushed = []
        self.patch(service.subscribers, "publish", lambda event, userID: pushed.append(event))
        service.publish(Notification(1, self.user.id, "hola", "info", T0))
        self.assertEqual(len(pushed), 1)
        failure = self.failureResultOf(self.cache.link.call("ping"))
        failure.trap(RedisUnavailable)
        warnings = [e for e in self.events if "unavailable" in str(e.get("log_format", ""))]
        self.assertEqual(len(warnings), 1)


class RefusedTests(TestCase):
    """
    A Redis that refuses the password: the link never comes up, the outage is logged once
    with the reason, and the attempts go on with backoff, each connection closed.
    """

    def setUp(self):
        settings, self.redis = redisSettings(self)
        settings = attrs.evolve(settings, password="wrong-" + secrets.token_hex(4))
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.link = RedisLink(settings, reactor)
        self.link.startService()
        self.addCleanup(self.link.stopService)

    def clients(self) -> int:
        listing = self.redis.command("CLIENT", "LIST")
        return listing.count("\n") if isinstance(listing, str) else 0

    async def test_refusedPassword(self):
        before = self.clients()
        await waitFor(reactor, lambda: self.link.failures >= 3)
        self.assertFalse(self.link.up)
        self.failureResultOf(self.link.call("ping")).trap(RedisUnavailable)
        warnings = [e for e in self.events if "unavailable" in str(e.get("log_format", ""))]
        self.assertEqual(len(warnings), 1)
        self.assertIn("could not auth", warnings[0]["why"])
        # Each refused connection was closed, not left open beside the next attempt.
        self.assertLessEqual(self.clients(), before + 1)


class LostConnectionTests(TestCase):
    """
    Redis drops the link's connection: the outage is logged once, the link connects
    again with its backoff, and what waits for it (onUp) is told again.
    """

    def setUp(self):
        settings, self.redis = redisSettings(self)
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.link = RedisLink(settings, reactor)
        self.ups = []
        self.link.onUp(self.ups.append)
        self.link.startService()
        self.addCleanup(self.link.stopService)

    async def test_reconnects(self):
        await waitFor(reactor, lambda: self.link.up)
        name = "juego-test-" + secrets.token_hex(4)
        await self.link.call("execute_command", "CLIENT", "SETNAME", name)
        [line] = [ln for ln in self.redis.command("CLIENT", "LIST").splitlines() if name in ln]
        clientID = line.split()[0].removeprefix("id=")
        self.redis.command("CLIENT", "KILL", "ID", clientID)
        await waitFor(reactor, lambda: len(self.ups) == 2)
        self.assertEqual(await self.link.call("ping"), "PONG")
        lost = [e for e in self.events if "unavailable" in str(e.get("log_format", ""))]
        self.assertEqual(len(lost), 1)
        self.assertIn("connection lost", lost[0]["why"])
        self.assertTrue(any("is back" in str(e.get("log_format", "")) for e in self.events))


class HungRedisTests(TestCase):
    """
    A Redis that accepts connections and never answers: reads give up after the reply
    timeout and fall back to SQL.
    """

    def setUp(self):
        from twisted.internet.protocol import Factory, Protocol

        self.port = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        settings = RedisSettings(port=self.port.getHost().port, prefix="juego-test-hung:")
        self.store = synchronousStore(self, sqliteURL(self))
        self.link = RedisLink(settings, reactor, replyTimeout=0.2)
        self.link.startService()
        self.addCleanup(self.link.stopService)
        self.ranking = RankingCache(self.link, self.store.stats, settings.prefix, reactor)
        self.store.scores.listener = self.ranking
        self.user = self.successResultOf(self.store.users.create("ana", "ana@example.com", "h"))

    async def test_readsFallBack(self):
        await waitFor(reactor, lambda: self.link.up)
        began = reactor.seconds()
        # The save is not held up by its update to Redis, which gets no answer.
        self.successResultOf(self.store.scores.saveBatch([SaveRequest(self.user.id, 9)], now=T0))
        stats = await self.ranking.userStats(self.user.id)
        self.assertEqual(stats.posicion_ranking, 1)
        self.assertLess(reactor.seconds() - began, 2.0)
        self.assertTrue(self.ranking.dirty)  # the save's update got no answer either


class BusTests(TestCase):
    """
    Two juego-dist nodes sharing a database and a Redis.
    """

    def setUp(self):
        self.settings, self.redis = redisSettings(self)
        self.store = synchronousStore(self, sqliteURL(self))
        self.user = self.successResultOf(self.store.users.create("ana", "ana@example.com", "h"))
        self.nodes = []
        for _ in range(2):
            cache = Cache(self.settings, self.store, reactor, dist=True)
            cache.startService()
            self.addCleanup(cache.stopService)
            service = StatsService(self.store, ranking=cache.ranking, bus=cache.bus)
            factory = DistFactory(service, None, Clock())
            self.nodes.append((cache, service, factory))
        channel = self.nodes[0][0].bus.channel
        return ensureDeferred(
            waitFor(
                reactor,
                lambda: self.redis.command("PUBSUB", "NUMSUB", channel)[1] == 2,
            )
        )

    def connect(self, node):
        factory = self.nodes[node][2]
        client, server, pump = connectedServerAndClient(
            lambda: factory.buildProtocol(None), LineClientProtocol
        )
        events = []
        client.onEvent = events.append
        return client, pump, events

    async def ask(self, peer, action, **fields):
        client, pump, _ = peer
        d: Deferred = client.request(action, **fields)
        pump.flush()
        await waitFor(reactor, lambda: pumped(pump) and d.called)
        return await d

    async def test_notificationReachesEveryNodeOnce(self):
        here, there, writer = self.connect(0), self.connect(1), self.connect(0)
        mineThere = self.connect(1)
        for peer, fields in ((here, {}), (there, {}), (mineThere, {"user_id": self.user.id})):
            self.assertTrue((await self.ask(peer, "subscribe", **fields))["suscrito"])
        added = []
        for i in range(3):
            reply = await self.ask(
                writer, "add_notification", user_id=self.user.id, message=f"m{i}", type="success"
            )
            added.append({"event": "notification", "notification": reply["notification"]})

        def flushed(*peers):
            for _, pump, _ in peers:
                pump.flush()
            return True

        await waitFor(reactor, lambda: flushed(here, there, mineThere) and len(there[2]) >= 3)
        # Give a duplicate time to show up: none does.
        await sleep(reactor, 0.3)
        flushed(here, there, mineThere, writer)
        self.assertEqual(here[2], added)  # its own node: once, not again through Redis
        self.assertEqual(there[2], added)  # the other node: once, through Redis
        self.assertEqual(mineThere[2], added)
        self.assertEqual(writer[2], [])  # not subscribed

    async def test_sessionDropsReachEveryNodeOnce(self):
        """
        A C{drop_sessions} sent to one node reaches the web nodes subscribed to the
        other (L{juego.web.sessioncache}), once; a player's own feed does not get it.
        """
        here, there, mineThere, writer = (self.connect(n) for n in (0, 1, 1, 0))
        for peer, fields in ((here, {}), (there, {}), (mineThere, {"user_id": self.user.id})):
            await self.ask(peer, "subscribe", **fields)
        hashes = ["ab" * 32]
        reply = await self.ask(writer, "drop_sessions", user_id=self.user.id, sesiones=hashes)
        self.assertEqual(reply["avisados"], 1)  # node 0's own subscriber; node 1's via Redis
        dropped = {"event": "sesiones", "user_id": self.user.id, "sesiones": hashes}
        await waitFor(reactor, lambda: pumped(there[1]) and len(there[2]) >= 1)
        # A notification sent after it arrives after it: once it is here, a duplicate
        # drop would have been too.
        await self.ask(writer, "add_notification", user_id=self.user.id, message="después")
        await waitFor(reactor, lambda: pumped(there[1]) and len(there[2]) >= 2)
        for _, pump, _ in (here, mineThere):
            pump.flush()
        self.assertEqual(here[2][0], dropped)
        self.assertEqual(there[2][0], dropped)
        self.assertEqual([e["event"] for e in there[2]], ["sesiones", "notification"])
        self.assertEqual([e["event"] for e in here[2]], ["sesiones", "notification"])
        self.assertEqual([e["event"] for e in mineThere[2]], ["notification"])

    async def test_otherUsersFiltered(self):
        other = self.successResultOf(self.store.users.create("otro", "otro@example.com", "h"))
        there, writer = self.connect(1), self.connect(0)
        await self.ask(there, "subscribe", user_id=self.user.id)
        await self.ask(writer, "add_notification", user_id=other.id, message="ajena")
        await self.ask(writer, "add_notification", user_id=self.user.id, message="mía")
        # "ajena" went through Redis before "mía": once "mía" is here, it was seen.
        await waitFor(reactor, lambda: pumped(there[1]) and len(there[2]) >= 1)
        there[1].flush()
        self.assertEqual([e["notification"]["message"] for e in there[2]], ["mía"])

    async def test_malformedMessagesIgnored(self):
        there = self.connect(1)
        await self.ask(there, "subscribe")
        channel = self.nodes[1][0].bus.channel
        self.redis.command("PUBLISH", channel, "not json")
        self.redis.command("PUBLISH", channel, '{"nodo": "x", "notification": {"user_id": "1"}}')
        self.redis.command("PUBLISH", channel, '{"nodo": "x", "sesiones": {"sesiones": "ab"}}')
        self.redis.command("PUBLISH", channel, '{"nodo": "x", "sesiones": {"user_id": true}}')
        writer = self.connect(0)
        await self.ask(writer, "add_notification", user_id=self.user.id, message="ok")
        await waitFor(reactor, lambda: pumped(there[1]) and len(there[2]) >= 1)
        self.assertEqual([e["notification"]["message"] for e in there[2]], ["ok"])

    async def test_rankingSharedBetweenNodes(self):
        """
        A save that one node's listener sent to Redis is ranked by the other node.
        """
        self.store.scores.listener = self.nodes[0][0].ranking
        results = self.successResultOf(
            self.store.scores.saveBatch([SaveRequest(self.user.id, 5)], now=T0)
        )
        self.assertTrue(results[0].nuevo_record)
        ranking = self.nodes[1][0].ranking
        await waitFor(reactor, lambda: self.redis.command("EXISTS", ranking.ready) == 1)
        await self.nodes[0][0].link.call("ping")
        self.assertEqual(await ranking.cachedPosition(self.user.id, T0), 1)
