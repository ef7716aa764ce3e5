"""
The store, one suite run against SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from twisted.trial.unittest import SynchronousTestCase

from juego.model import SaveResult
from juego.store import schema as s
from juego.store.scores import SaveRequest, UserNotFound
from juego.store.users import EmailInUse
from tests.support import PostgresMixin, SQLiteMixin, synchronousStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class StoreTestsMixin:
    def setUp(self) -> None:
        self.store = synchronousStore(self, self.databaseURL())

    def user(self, nombre="ana", email=None):
        email = email or f"{nombre}@example.com"
        return self.successResultOf(self.store.users.create(nombre, email, "hash"))

    def save(self, userID, puntaje, clave=None, now=T0):
        [result] = self.successResultOf(
            self.store.scores.saveBatch([SaveRequest(userID, puntaje, clave)], now=now)
        )
        return result

    def test_createAndFetchUser(self):
        user = self.user("<b>Ana</b>", "Ana@Example.COM ")
        self.assertEqual(user.email, "ana@example.com")
        fetched = self.successResultOf(self.store.users.get(user.id))
        self.assertEqual(fetched, user)
        self.assertEqual(fetched.fecha_registro.tzinfo, UTC)
        found = self.successResultOf(self.store.users.byEmail("ANA@example.com"))
        self.assertEqual(found, (user, "hash"))

    def test_duplicateEmail(self):
        self.user("ana")
        self.failureResultOf(self.store.users.create("otra", "ANA@example.com", "h"), EmailInUse)
        stats = self.successResultOf(self.store.stats.globalStats(T0))
        self.assertEqual(stats.total_usuarios, 1)

    def test_saveFirstAndRecord(self):
        u = self.user()
        first = self.save(u.id, 100)
        self.assertEqual((first.nuevo_record, first.puntaje_maximo), (True, 100))
        lower = self.save(u.id, 50)
        self.assertEqual((lower.nuevo_record, lower.puntaje_maximo), (False, 100))
        higher = self.save(u.id, 150)
        self.assertEqual((higher.nuevo_record, higher.puntaje_maximo), (True, 150))
        self.assertEqual(len({first.score_id, lower.score_id, higher.score_id}), 3)
        stats = self.successResultOf(self.store.stats.userStats(u.id))
        self.assertEqual(stats.puntaje_maximo, 150)
        self.assertEqual(stats.partidas_jugadas, 3)
        self.assertEqual(stats.puntaje_promedio, 100.0)
        self.assertEqual(stats.fecha_ultimo_juego, T0)
        self.assertEqual(stats.posicion_ranking, 1)

    def test_unknownUser(self):
        u = self.user()
        results = self.successResultOf(
            self.store.scores.saveBatch([SaveRequest(999, 5), SaveRequest(u.id, 7)])
        )
        self.assertIsInstance(results[0], UserNotFound)
        self.assertIsInstance(results[1], SaveResult)
        self.assertEqual(self.successResultOf(self.store.stats.userStats(u.id)).partidas_jugadas, 1)
        self.assertIsNone(self.successResultOf(self.store.stats.userStats(999)))

    def test_idempotentSave(self):
        u = self.user()
        first = self.save(u.id, 80, clave="partida-1")
        again = self.save(u.id, 80, clave="partida-1")
        self.assertEqual(first, again)
        [a, b] = self.successResultOf(
            self.store.scores.saveBatch(
                [SaveRequest(u.id, 90, "partida-2"), SaveRequest(u.id, 90, "partida-2")]
            )
        )
        self.assertEqual(a, b)
        stats = self.successResultOf(self.store.stats.userStats(u.id))
        self.assertEqual(stats.partidas_jugadas, 2)
        g = self.successResultOf(self.store.stats.globalStats(T0))
        self.assertEqual(g.partidas_totales, 2)

    def test_batchForOneUserKeepsEveryRecord(self):
        u = self.user()
        results = self.successResultOf(
            self.store.scores.saveBatch([SaveRequest(u.id, p) for p in (10, 30, 20, 40)])
        )
        self.assertEqual([r.nuevo_record for r in results], [True, True, False, True])
        self.assertEqual([r.puntaje_maximo for r in results], [10, 30, 30, 40])
        stats = self.successResultOf(self.store.stats.userStats(u.id))
        self.assertEqual((stats.partidas_jugadas, stats.puntaje_maximo), (4, 40))
        with self.store.engine.connect() as conn:
            count = conn.execute(select(s.scores.c.id).where(s.scores.c.user_id == u.id)).all()
        self.assertEqual(len(count), 4)

    def test_rankingPositionsAndTies(self):
        a, b, c, d = (self.user(n) for n in "abcd")
        self.assertIsNone(self.successResultOf(self.store.stats.userStats(d.id)).posicion_ranking)
        self.save(b.id, 100, now=T0)
        self.save(a.id, 100, now=T0 + timedelta(seconds=1))  # same best, reached later
        self.save(c.id, 300, now=T0 + timedelta(seconds=2))
        positions = {
            u.nombre: self.successResultOf(self.store.stats.userStats(u.id)).posicion_ranking
            for u in (a, b, c, d)
        }
        self.assertEqual(positions, {"c": 1, "b": 2, "a": 3, "d": None})
        ranking = self.successResultOf(self.store.stats.ranking(10))
        self.assertEqual(
            [(r.posicion, r.nombre, r.puntaje_maximo) for r in ranking],
            [(1, "c", 300), (2, "b", 100), (3, "a", 100)],
        )
        # a beats its own best: moves above b
        self.save(a.id, 200, now=T0 + timedelta(seconds=3))
        self.assertEqual(self.successResultOf(self.store.stats.userStats(a.id)).posicion_ranking, 2)
        self.assertEqual(self.successResultOf(self.store.stats.userStats(b.id)).posicion_ranking, 3)

    def test_globalStats(self):
        empty = self.successResultOf(self.store.stats.globalStats(T0))
        self.assertEqual(
            (
                empty.total_usuarios,
                empty.usuarios_activos,
                empty.puntaje_promedio,
                empty.puntaje_maximo_global,
                empty.partidas_totales,
            ),
            (0, 0, 0.0, 0, 0),
        )
        a, b, _ = self.user("a"), self.user("b"), self.user("c")
        self.save(a.id, 100, now=T0 - timedelta(days=10))
        self.save(a.id, 50, now=T0 - timedelta(days=9))
        self.save(b.id, 300, now=T0)
        g = self.successResultOf(self.store.stats.globalStats(T0))
        self.assertEqual(g.total_usuarios, 3)
        self.assertEqual(g.usuarios_activos, 1)
        self.assertEqual(g.puntaje_promedio, 200.0)  # mean of the players' bests
        self.assertEqual(g.puntaje_maximo_global, 300)
        self.assertEqual(g.partidas_totales, 3)
        self.save(a.id, 10, now=T0)
        g = self.successResultOf(self.store.stats.globalStats(T0))
        self.assertEqual(g.usuarios_activos, 2)

    def test_resetAndDelete(self):
        a, b = self.user("a"), self.user("b")
        self.save(a.id, 500)
        self.save(b.id, 100)
        self.successResultOf(self.store.scores.resetUser(a.id))
        sa = self.successResultOf(self.store.stats.userStats(a.id))
        self.assertEqual(
            (sa.puntaje_maximo, sa.partidas_jugadas, sa.posicion_ranking), (0, 0, None)
        )
        self.assertEqual(self.successResultOf(self.store.stats.userStats(b.id)).posicion_ranking, 1)
        g = self.successResultOf(self.store.stats.globalStats(T0))
        self.assertEqual(
            (g.puntaje_maximo_global, g.partidas_totales, g.puntaje_promedio), (100, 1, 100.0)
        )
        self.assertTrue(self.successResultOf(self.store.scores.deleteUser(b.id)))
        self.assertFalse(self.successResultOf(self.store.scores.deleteUser(b.id)))
        g = self.successResultOf(self.store.stats.globalStats(T0))
        self.assertEqual(
            (g.total_usuarios, g.puntaje_maximo_global, g.partidas_totales, g.usuarios_activos),
            (1, 0, 0, 0),
        )
        self.assertIsNone(self.successResultOf(self.store.users.get(b.id)))

    def test_recentScores(self):
        u = self.user()
        for p in range(25):
            self.save(u.id, p)
        recent = self.successResultOf(self.store.scores.recent(u.id))
        self.assertEqual([r.puntaje for r in recent], list(range(24, 4, -1)))


class SQLiteStoreTests(SQLiteMixin, StoreTestsMixin, SynchronousTestCase):
    pass


class PostgresStoreTests(PostgresMixin, StoreTestsMixin, SynchronousTestCase):
    pass
