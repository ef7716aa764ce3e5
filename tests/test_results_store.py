"""
Held results in the store: partida states, releasing them, certified speeds, and voiding
a ranked result with every aggregate corrected (on SQLite and PostgreSQL).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from twisted.trial.unittest import SynchronousTestCase

from juego.model import Partida
from juego.store import schema as s
from juego.store.migrate import upgrade
from juego.store.partidas import (
    ANULADA,
    APROBADA,
    EN_REVISION,
    PUBLICA,
    DeliveryInFlight,
    NotVoidable,
    Verified,
)
from juego.store.pool import makeEngine
from juego.store.scores import Best, SaveRequest, dayNumber
from tests.support import PostgresMixin, SQLiteMixin, synchronousStore

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class RecordingListener:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def bestsChanged(self, bests: Any) -> None:
        self.calls.append(("changed", list(bests)))

    def playersRemoved(self, userIDs: Any, bests: Any) -> None:
        self.calls.append(("removed", (list(userIDs), list(bests))))

    def invalidate(self) -> None:
        self.calls.append(("invalidate", None))


def payload(userID: int, puntaje: int, partidaID: str) -> dict[str, Any]:
    return {"user_id": userID, "puntaje": puntaje, "partida_id": partidaID}


class ResultsStoreMixin:
    def setUp(self: Any) -> None:
        self.store = synchronousStore(self, self.databaseURL())
        self.listener = RecordingListener()
        self.store.scores.listener = self.listener
        self.users = [self.user(f"p{i}") for i in range(4)]

    def result(self: Any, d: Any) -> Any:
        return self.successResultOf(d)

    def user(self: Any, nombre: str) -> int:
        return self.result(self.store.users.create(nombre, f"{nombre}@example.com", "x", now=T0)).id

    def save(self: Any, userID: int, puntaje: int, clave: str, when: datetime) -> None:
        self.result(self.store.scores.saveBatch([SaveRequest(userID, puntaje, clave)], when))

    def assertConsistent(self: Any) -> None:
        """
        Every aggregate, histogram and total agrees with the scores left.
        """
        with self.store.engine.connect() as conn:
            scores = conn.execute(
                select(s.scores.c.user_id, s.scores.c.puntaje, s.scores.c.fecha)
            ).all()
            aggregates = {r.user_id: r for r in conn.execute(select(s.user_aggregates)).all()}
            bests = dict(
                conn.execute(select(s.best_counts.c.puntaje, s.best_counts.c.jugadores)).all()
            )
            days = dict(
                conn.execute(select(s.activity_days.c.dia, s.activity_days.c.jugadores)).all()
            )
            totals = conn.execute(select(s.totals)).one()
        mine: dict[int, list[Any]] = {}
        for row in scores:
            mine.setdefault(row.user_id, []).append(row)
        for userID, row in aggregates.items():
            played = mine.get(userID, [])
            if not played:
                self.assertEqual((row.partidas_jugadas, row.puntaje_maximo), (0, 0))
                self.assertIsNone(row.fecha_ultimo_juego)
                continue
            best = max(p.puntaje for p in played)
            self.assertEqual(row.puntaje_maximo, best, userID)
            self.assertEqual(row.fecha_maximo, min(p.fecha for p in played if p.puntaje == best))
            self.assertEqual(row.partidas_jugadas, len(played))
            self.assertEqual(row.puntaje_total, sum(p.puntaje for p in played))
            last = max(p.fecha for p in played)
            self.assertEqual(
                (row.fecha_ultimo_juego, row.dia_ultimo_juego), (last, dayNumber(last))
            )
        playerBests = [max(p.puntaje for p in played) for played in mine.values()]
        self.assertEqual(bests, dict(Counter(playerBests)))
        self.assertEqual(
            days, dict(Counter(dayNumber(max(p.fecha for p in v)) for v in mine.values()))
        )
        self.assertEqual(
            (totals.jugadores, totals.suma_mejores, totals.partidas),
            (len(mine), sum(playerBests), len(scores)),
        )

    # Voiding a saved score

    def test_voidOnlyGame(self: Any) -> None:
        a = self.users[0]
        self.save(a, 40, "g1", T0)
        self.listener.calls.clear()
        self.assertIsNone(self.result(self.store.scores.removeScore("g1")))
        self.assertConsistent()
        self.assertEqual(self.listener.calls, [("removed", ([a], [Best(a, 40, T0)]))])
        stats = self.result(self.store.stats.globalStats(T0))
        self.assertEqual((stats.partidas_totales, stats.puntaje_maximo_global), (0, 0))
        self.assertEqual(self.result(self.store.stats.ranking(10)), [])

    def test_voidBest(self: Any) -> None:
        a, b = self.users[:2]
        self.save(a, 30, "a1", T0)
        self.save(a, 90, "a2", T0 + timedelta(days=1))
        self.save(a, 50, "a3", T0 + timedelta(days=2))
        self.save(b, 60, "b1", T0)
        self.listener.calls.clear()
        self.result(self.store.scores.removeScore("a2"))
        self.assertConsistent()
        self.assertEqual(self.listener.calls, [("invalidate", None)])
        ranking = self.result(self.store.stats.ranking(10))
        self.assertEqual([(e.user_id, e.puntaje_maximo) for e in ranking], [(b, 60), (a, 50)])
        stats = self.result(self.store.stats.globalStats(T0 + timedelta(days=2)))
        self.assertEqual((stats.partidas_totales, stats.puntaje_maximo_global), (3, 60))
        self.assertEqual(stats.puntaje_promedio, 55)

    def test_voidLastGame(self: Any) -> None:
        """
        Not the best, but the last game: the last day moves back.
        """
        a = self.users[0]
        self.save(a, 90, "a1", T0)
        self.save(a, 10, "a2", T0 + timedelta(days=3))
        self.listener.calls.clear()
        self.result(self.store.scores.removeScore("a2"))
        self.assertConsistent()
        self.assertEqual(self.listener.calls, [])

    def test_voidTiedBest(self: Any) -> None:
        """
        The first of two equal bests goes: the best was reached later.
        """
        a, b = self.users[:2]
        self.save(a, 70, "a1", T0)
        self.save(b, 70, "b1", T0 + timedelta(hours=1))
        self.save(a, 70, "a2", T0 + timedelta(hours=2))
        self.assertEqual([e.user_id for e in self.result(self.store.stats.ranking(10))], [a, b])
        self.listener.calls.clear()
        self.result(self.store.scores.removeScore("a1"))
        self.assertConsistent()
        self.assertEqual(self.listener.calls, [("invalidate", None)])
        self.assertEqual([e.user_id for e in self.result(self.store.stats.ranking(10))], [b, a])

    def test_voidUnknownKey(self: Any) -> None:
        self.save(self.users[0], 10, "a1", T0)
        self.result(self.store.scores.removeScore("nunca-guardada"))
        self.assertConsistent()

    def test_voidRandomly(self: Any) -> None:
        """
        Many saves over several days, then voids in any order: always consistent.
        """
        rng = random.Random(7)
        keys = []
        # Saves come in time order (each is stamped when juego-tcp commits it).
        moments = sorted(T0 + timedelta(hours=rng.randint(0, 24 * 6)) for _ in range(40))
        for n, when in enumerate(moments):
            key = f"k{n}"
            self.save(rng.choice(self.users), rng.randint(0, 120), key, when)
            keys.append(key)
        self.assertConsistent()
        rng.shuffle(keys)
        for key in keys:
            self.result(self.store.scores.removeScore(key))
            self.assertConsistent()

    def test_withinUndoneOnFailure(self: Any) -> None:
        a = self.users[0]
        self.save(a, 10, "a1", T0)

        def refuse(conn: Any) -> None:
            raise NotVoidable("publica")

        self.failureResultOf(self.store.scores.removeScore("a1", within=refuse), NotVoidable)
        self.assertEqual(self.result(self.store.stats.userStats(a)).partidas_jugadas, 1)
        self.assertConsistent()

    # Partidas: held, released, voided

    def partida(self: Any, userID: int, n: int) -> str:
        partidaID = f"00000000-0000-0000-0000-{n:012d}"
        self.result(self.store.partidas.create(Partida(partidaID, userID, "es", n, T0)))
        return partidaID

    def opened(self: Any, partidaID: str) -> Partida:
        partida = self.result(self.store.partidas.get(partidaID))
        assert partida is not None
        return partida

    def verified(self: Any, puntaje: int, wpm: float) -> Verified:
        eventos = [{"t": 900, "ok": True, "errores": 0, "teclas": [300, 600, 900]}]
        return Verified(puntaje, wpm, 1.0, 900, eventos)

    def estado(self: Any, partidaID: str) -> str:
        with self.store.engine.connect() as conn:
            return conn.execute(
                select(s.partidas.c.estado).where(s.partidas.c.id == partidaID)
            ).scalar_one()

    def test_heldAndReleased(self: Any) -> None:
        a, b = self.users[:2]
        p1, p2, p3, p4 = (self.partida(u, n) for n, u in enumerate((a, a, a, b), start=1))

        def held(partidaID: str, *rest: Any) -> Any:
            return self.store.partidas.closeHeld(self.opened(partidaID), *rest)

        self.assertTrue(self.result(held(p1, T0, self.verified(50, 140.0), "certificacion", "r1")))
        self.assertTrue(self.result(held(p2, T0, self.verified(60, 170.0), "certificacion", "r2")))
        self.assertTrue(self.result(held(p3, T0, self.verified(70, 210.0), "revision", "r3")))
        self.assertTrue(self.result(held(p4, T0, self.verified(80, 150.0), "certificacion", "r4")))
        self.assertFalse(self.result(held(p1, T0, self.verified(50, 140.0), "revision", "x")))
        queue = self.result(self.store.partidas.held())
        self.assertEqual([h.partida_id for h in queue], [p1, p2, p3, p4])
        self.assertEqual(queue[0].nombre, "p0")
        self.assertEqual(
            [h.partida_id for h in self.result(self.store.partidas.held(a, "certificacion"))],
            [p1, p2],
        )
        # Held games are the player's (with their state) and nobody else's.
        self.assertEqual(
            [g.estado for g in self.result(self.store.partidas.games(a))], [EN_REVISION] * 3
        )
        self.assertEqual(self.result(self.store.stats.ranking(10)), [])

        released = self.result(
            self.store.partidas.release(
                "save_score", payload, T0, T0, userID=a, upToWpm=150.0, motivo="certificacion"
            )
        )
        self.assertEqual([r[0] for r in released], [p1])
        self.assertEqual(released[0][2], payload(a, 50, p1))
        self.assertEqual(self.estado(p1), APROBADA)
        [row] = self.result(self.store.partidas.pending())
        self.assertEqual((row.id, row.payload), (released[0][1], payload(a, 50, p1)))
        # Released once.
        again = self.store.partidas.release("save_score", payload, T0, T0, partidaID=p1)
        self.assertEqual(self.result(again), [])
        self.assertEqual(self.result(self.store.partidas.eventos(p1)), self.verified(1, 1).eventos)

    def test_voidHeldAndPublished(self: Any) -> None:
        a = self.users[0]
        held, public, pending, claimed, invalid = (self.partida(a, n) for n in range(1, 6))
        self.result(
            self.store.partidas.closeHeld(
                self.opened(held), T0, self.verified(5, 150.0), "revision", "r"
            )
        )
        for partidaID, puntaje in ((public, 30), (pending, 40), (claimed, 50)):
            self.result(
                self.store.partidas.closeSaved(
                    self.opened(partidaID),
                    T0,
                    self.verified(puntaje, 80.0),
                    "save_score",
                    payload(a, puntaje, partidaID),
                    T0 if partidaID != claimed else T0 + timedelta(seconds=5),
                )
            )
        self.save(a, 30, public, T0)
        self.assertEqual(self.estado(public), PUBLICA)
        work = self.store.partidas.voidWork("save_score", T0 + timedelta(seconds=1))

        def void(partidaID: str) -> Any:
            return self.store.scores.removeScore(partidaID, within=lambda c: work(c, partidaID))

        self.assertEqual(self.result(void(held)), EN_REVISION)
        self.assertEqual(self.result(void(public)), PUBLICA)
        self.assertEqual(self.result(self.store.stats.userStats(a)).partidas_jugadas, 0)
        # Not delivered yet: its pending delivery goes with it.
        self.assertEqual(self.result(void(pending)), PUBLICA)
        self.assertEqual(
            [r.payload["partida_id"] for r in self.result(self.store.partidas.pending())], [claimed]
        )
        # Being delivered right now: refused, nothing changed.
        self.failureResultOf(void(claimed), DeliveryInFlight)
        self.assertEqual(self.estado(claimed), PUBLICA)
        for partidaID in (held, public, pending):
            self.assertEqual(self.estado(partidaID), ANULADA)
            self.failureResultOf(void(partidaID), NotVoidable)
        self.failureResultOf(void(invalid), NotVoidable)  # still open
        self.failureResultOf(void("no-existe"), NotVoidable)
        self.assertConsistent()

    def test_certifiedSpeed(self: Any) -> None:
        a = self.users[0]
        self.assertIsNone(self.result(self.store.users.certifiedWpm(a)))
        self.assertEqual(self.result(self.store.users.certify(a, 130.5)), 130.5)
        self.assertEqual(self.result(self.store.users.certify(a, 110.0)), 130.5)  # keeps the max
        self.assertEqual(self.result(self.store.users.certify(a, 160.0)), 160.0)
        self.assertEqual(self.result(self.store.users.certifiedWpm(a)), 160.0)
        self.assertIsNone(self.result(self.store.users.certify(9999, 100.0)))
        self.assertIsNone(self.result(self.store.users.certifiedWpm(9999)))


class SQLiteResultsStoreTests(SQLiteMixin, ResultsStoreMixin, SynchronousTestCase):
    pass


class PostgresResultsStoreTests(PostgresMixin, ResultsStoreMixin, SynchronousTestCase):
    pass


class MigrationMixin:
    """
    Revision 0004 keeps every existing row: saved partidas become public results.
    """

    def test_existingRowsKept(self: Any) -> None:
        engine = makeEngine(self.databaseURL())
        self.addCleanup(engine.dispose)
        upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (nombre, email, password_hash, es_admin, bio, "
                    "fecha_registro) VALUES ('Ana', 'ana@example.com', 'h', false, '', :f)"
                ),
                {"f": T0.replace(tzinfo=None)},
            )
            userID = conn.execute(text("SELECT id FROM users")).scalar_one()
            for n, estado in enumerate(("guardada", "invalida", "abierta")):
                conn.execute(
                    text(
                        "INSERT INTO partidas (id, user_id, idioma, seed, emitida, estado, "
                        "puntaje) VALUES (:id, :u, 'es', 1, :f, :e, :p)"
                    ),
                    {"id": f"p{n}", "u": userID, "f": T0.replace(tzinfo=None), "e": estado, "p": n},
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = dict(conn.execute(select(s.partidas.c.id, s.partidas.c.estado)).all())
            certified = conn.execute(select(s.users.c.velocidad_certificada)).scalar_one()
            eventos = conn.execute(select(s.partidas.c.eventos)).scalars().all()
        self.assertEqual(rows, {"p0": PUBLICA, "p1": "invalida", "p2": "abierta"})
        self.assertIsNone(certified)
        self.assertEqual(eventos, [None, None, None])


class SQLiteMigrationTests(SQLiteMixin, MigrationMixin, SynchronousTestCase):
    pass


class PostgresMigrationTests(PostgresMixin, MigrationMixin, SynchronousTestCase):
    pass
