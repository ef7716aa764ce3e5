"""
The game modes' store (L{juego.store.modes}, L{juego.store.guests}) on SQLite and
PostgreSQL: one daily attempt per player, day and language; a guest's result claimed
once, by its own guest only, within its lifetime.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from twisted.trial.unittest import SynchronousTestCase

from juego.model import Partida
from juego.store import schema as s
from juego.store.guests import GuestPartida
from juego.store.modes import AlreadyPlayed
from juego.store.partidas import Verified

from .support import PostgresMixin, SQLiteMixin, synchronousStore

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def payload(userID: int, puntaje: int, partidaID: str) -> dict[str, Any]:
    return {"user_id": userID, "puntaje": puntaje, "partida_id": partidaID}


class ModesStoreMixin:
    def setUp(self: Any) -> None:
        self.store = synchronousStore(self, self.databaseURL())
        self.ana = self.successResultOf(self.store.users.create("Ana", "ana@example.com", "h")).id
        self.bea = self.successResultOf(self.store.users.create("Bea", "bea@example.com", "h")).id

    def daily(self: Any, partidaID: str, userID: int, idioma: str = "es") -> Any:
        partida = Partida(partidaID, userID, idioma, 7, T0, modo="diario")
        return self.store.modes.issueDaily(partida, "2026-11-30")

    def test_oneDailyAttempt(self: Any) -> None:
        self.successResultOf(self.daily("p1", self.ana))
        self.failureResultOf(self.daily("p2", self.ana), AlreadyPlayed)
        # Nothing of the refused attempt was written.
        self.assertIsNone(self.successResultOf(self.store.partidas.get("p2")))
        self.successResultOf(self.daily("p3", self.ana, "en"))
        self.successResultOf(self.daily("p4", self.bea))
        played = self.successResultOf(self.store.modes.dailyPlayed(self.ana, "2026-11-30"))
        self.assertEqual(played, ["en", "es"])
        self.assertEqual(self.successResultOf(self.store.partidas.get("p1")).modo, "diario")

    def guestResult(self: Any, partidaID: str, invitado: str, estado: str = "publica") -> None:
        partida = GuestPartida(partidaID, invitado, "es", 7, "normal", T0)
        self.successResultOf(self.store.guests.create(partida))
        closed = self.store.guests.close(
            partidaID, T0 + timedelta(minutes=2), estado, Verified(40, 55.0, 0.98, 60_000, [])
        )
        self.assertTrue(self.successResultOf(closed))

    def claim(self: Any, invitado: str, userID: int, now: datetime = T0) -> Any:
        return self.successResultOf(
            self.store.guests.claim(
                invitado, userID, now - timedelta(hours=1), now, "save_score", payload, now
            )
        )

    def test_claimOnce(self: Any) -> None:
        self.guestResult("g1", "a" * 64)
        self.guestResult("g2", "a" * 64, "en_revision")
        self.guestResult("g3", "b" * 64)
        claimed = self.claim("a" * 64, self.ana, T0 + timedelta(minutes=5))
        self.assertEqual(
            [(c.partida_id, c.estado, c.payload) for c in claimed],
            [("g1", "publica", payload(self.ana, 40, "g1")), ("g2", "en_revision", None)],
        )
        self.assertEqual(self.claim("a" * 64, self.bea, T0 + timedelta(minutes=6)), [])
        with self.store.engine.connect() as conn:
            owners = conn.execute(
                select(s.partidas.c.id, s.partidas.c.user_id).order_by(s.partidas.c.id)
            ).all()
            queued = conn.execute(select(func.count()).select_from(s.outbox)).scalar_one()
        self.assertEqual([tuple(r) for r in owners], [("g1", self.ana), ("g2", self.ana)])
        self.assertEqual(queued, 1)
        # An open (or closed twice) guest partida: nothing to claim, close refused.
        self.assertFalse(self.successResultOf(self.store.guests.close("g1", T0, "publica", None)))

    def test_claimLapses(self: Any) -> None:
        self.guestResult("g1", "a" * 64)
        self.assertEqual(self.claim("a" * 64, self.ana, T0 + timedelta(hours=1, seconds=1)), [])


class SQLiteModesStoreTests(SQLiteMixin, ModesStoreMixin, SynchronousTestCase):
    pass


class PostgresModesStoreTests(PostgresMixin, ModesStoreMixin, SynchronousTestCase):
    pass
