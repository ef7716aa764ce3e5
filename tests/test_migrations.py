"""
Players' data outlives releases: a database made by the previous release, with data in it,
is upgraded to this release's schema and keeps every row, on SQLite and on PostgreSQL.

The previous release's schema is revision C{PREVIOUS} (the head of the last release that
landed). Its rows are written with tables reflected from the database at that revision, so
the test does not depend on today's L{juego.store.schema}: a migration that drops or
rewrites a column that existed then fails here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, MetaData, select
from twisted.trial.unittest import SynchronousTestCase

from juego.store import Store
from juego.store.boards import DIA, SIEMPRE, Board
from juego.store.migrate import currentRevision, headRevision, upgrade
from juego.store.pool import (
    DBThreadPool,
    SynchronousReactorThreads,
    SynchronousThreadPool,
    makeEngine,
)
from juego.store.scores import ClosedPartida, SaveRequest

from .support import PostgresMixin, SQLiteMixin

#: The schema revision of the previous release (what a running install has today).
PREVIOUS = "0002"

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def previousReleaseRows() -> dict[str, list[dict[str, Any]]]:
    """
    The rows a running install of the previous release holds: two players, one of them an
    admin, scores with their aggregates, sessions, a closed and an open partida, a
    notification, a pending outbox row and a login failure.
    """
    day = (T0.date() - datetime(1970, 1, 1).date()).days
    return {
        "users": [
            {
                "id": 1,
                "nombre": "<b>Ana</b>",
                "email": "ana@example.com",
                "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                "es_admin": False,
                "bio": "hola",
                "fecha_registro": T0,
            },
            {
                "id": 2,
                "nombre": "Root",
                "email": "root@example.com",
                "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                "es_admin": True,
                "bio": "",
                "fecha_registro": T0,
            },
        ],
        "sessions": [
            {"token_hash": "a" * 64, "user_id": 1, "creada": T0, "expira": T0 + timedelta(days=30)},
        ],
        "partidas": [
            {
                "id": "00000000-0000-4000-8000-000000000001",
                "user_id": 1,
                "idioma": "es",
                "seed": 12345,
                "emitida": T0,
                "cerrada": T0 + timedelta(minutes=2),
                "estado": "guardada",
                "puntaje": 120,
                "wpm": 61.5,
                "precision": 0.97,
                "motivo": None,
                "duracion_ms": 95_000,
            },
            {
                "id": "00000000-0000-4000-8000-000000000002",
                "user_id": 1,
                "idioma": "en",
                "seed": 678,
                "emitida": T0 + timedelta(minutes=5),
                "cerrada": None,
                "estado": "abierta",
                "puntaje": None,
                "wpm": None,
                "precision": None,
                "motivo": None,
                "duracion_ms": None,
            },
        ],
        "scores": [
            {
                "id": 1,
                "user_id": 1,
                "puntaje": 80,
                "fecha": T0 - timedelta(days=1),
                "clave": None,
                "nuevo_record": True,
                "puntaje_maximo": 80,
            },
            {
                "id": 2,
                "user_id": 1,
                "puntaje": 120,
                "fecha": T0 + timedelta(minutes=2),
                "clave": "00000000-0000-4000-8000-000000000001",
                "nuevo_record": True,
                "puntaje_maximo": 120,
            },
        ],
        "user_aggregates": [
            {
                "user_id": 1,
                "puntaje_maximo": 120,
                "fecha_maximo": T0 + timedelta(minutes=2),
                "partidas_jugadas": 2,
                "puntaje_total": 200,
                "fecha_ultimo_juego": T0 + timedelta(minutes=2),
                "dia_ultimo_juego": day,
            },
        ],
        "best_counts": [{"puntaje": 120, "jugadores": 1}],
        "activity_days": [{"dia": day, "jugadores": 1}],
        "notifications": [
            {
                "id": 1,
                "user_id": 1,
                "message": "¡Nuevo récord personal: 120 puntos!",
                "type": "success",
                "timestamp": T0 + timedelta(minutes=2),
                "leida": False,
                "clave": "record:00000000-0000-4000-8000-000000000001",
            },
        ],
        "outbox": [
            {
                "id": 1,
                "kind": "add_notification",
                "payload": '{"user_id": 2, "message": "hola", "type": "info"}',
                "creado": T0,
                "intentos": 3,
                "proximo": T0 + timedelta(seconds=8),
            },
        ],
        "login_failures": [
            {"id": 1, "clave": "cuenta:root@example.com", "fecha": T0},
        ],
    }


#: Values a migration rewrites on purpose: table -> column -> old value -> new value.
#: Everything else must come through unchanged.
REWRITES: dict[str, dict[str, dict[Any, Any]]] = {
    # 0004: saved results are the published ones of the integrity pipeline.
    "partidas": {"estado": {"guardada": "publica"}},
}


#: Tables whose rows a migration moves into another shape on purpose: the old table and
#: the rows the new one must hold instead.
MOVED: dict[str, tuple[str, list[dict[str, Any]]]] = {
    # 0003: one row per failed login becomes one counter per key (the throttle reserves
    # attempts on it before a password is checked).
    "login_failures": (
        "login_throttle",
        [{"clave": "cuenta:root@example.com", "intentos": 1, "desde": T0}],
    ),
}


def _expected(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rewrites = REWRITES.get(table, {})
    return [
        {c: rewrites.get(c, {}).get(v, v) if isinstance(v, str) else v for c, v in row.items()}
        for row in rows
    ]


def _reflect(engine: Engine) -> MetaData:
    metadata = MetaData()
    metadata.reflect(engine)
    return metadata


def _comparable(value: Any) -> Any:
    # SQLite hands back naive datetimes for timezone-aware columns.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class MigrationUpgradeMixin:
    backend: str

    def databaseURL(self) -> str:
        raise NotImplementedError

    def previousReleaseDatabase(self: Any) -> Engine:
        engine = makeEngine(self.databaseURL())
        self.addCleanup(engine.dispose)
        upgrade(engine, PREVIOUS)
        self.assertEqual(currentRevision(engine), PREVIOUS)
        tables = _reflect(engine).tables
        rows = previousReleaseRows()
        with engine.begin() as conn:
            for name, values in rows.items():
                conn.execute(tables[name].insert(), values)
            conn.execute(
                tables["totals"]
                .update()
                .values(usuarios=2, jugadores=1, suma_mejores=120, partidas=2)
            )
        return engine

    def test_everyRowKept(self: Any) -> None:
        """
        After the upgrade every row of the previous release is there, with the value it had
        in every column that existed then.
        """
        engine = self.previousReleaseDatabase()
        upgrade(engine)
        self.assertEqual(currentRevision(engine), headRevision())
        tables = _reflect(engine).tables
        with engine.connect() as conn:
            for name, expected in previousReleaseRows().items():
                if name in MOVED:
                    name, expected = MOVED[name]
                table = tables[name]
                columns = list(expected[0])
                found = [
                    {c: _comparable(v) for c, v in row._mapping.items()}
                    for row in conn.execute(
                        select(*(table.c[c] for c in columns)).order_by(table.c[columns[0]])
                    )
                ]
                self.assertEqual(found, _expected(name, expected), f"rows of {name!r} changed")

    def test_storeReadsUpgradedData(self: Any) -> None:
        """
        This release's code reads the upgraded data: the players, their stats, the ranking,
        the notifications and the sessions' users.
        """
        engine = self.previousReleaseDatabase()
        upgrade(engine)
        store = Store(DBThreadPool(engine, SynchronousReactorThreads(), SynchronousThreadPool()))
        found = self.successResultOf(store.users.byEmail("ana@example.com"))
        self.assertIsNotNone(found)
        user, _ = found
        self.assertEqual((user.id, user.nombre), (1, "<b>Ana</b>"))
        # Preferences (0007): every existing account follows the device's
        # theme and has chosen no language, and can change them.
        self.assertEqual((user.tema, user.idioma), ("sistema", None))
        changed = self.successResultOf(store.users.updateProfile(2, tema="oscuro", idioma="en"))
        self.assertEqual((changed.tema, changed.idioma, changed.nombre), ("oscuro", "en", "Root"))
        ana = self.successResultOf(store.users.get(1))
        self.assertEqual((ana.tema, ana.idioma, ana.bio), ("sistema", None, "hola"))
        stats = self.successResultOf(store.stats.userStats(1))
        self.assertEqual(
            (stats.puntaje_maximo, stats.partidas_jugadas, stats.posicion_ranking), (120, 2, 1)
        )
        ranking = self.successResultOf(store.stats.ranking(10))
        self.assertEqual([(r.user_id, r.puntaje_maximo) for r in ranking], [(1, 120)])
        # The partidas saved before are ordinary (modo normal) games on the boards.
        saved = "00000000-0000-4000-8000-000000000001"
        for board in (Board(), Board(SIEMPRE, "es"), Board(DIA)):
            rows = self.successResultOf(store.boards.board(board, 10, T0))
            self.assertEqual(
                [(r.user_id, r.puntaje_maximo, r.partida_id) for r in rows], [(1, 120, saved)]
            )
        overall = self.successResultOf(store.stats.globalStats(T0))
        self.assertEqual((overall.total_usuarios, overall.partidas_totales), (2, 2))
        notifications = self.successResultOf(store.notifications.list(1))
        self.assertEqual(
            [n.message for n in notifications], ["¡Nuevo récord personal: 120 puntos!"]
        )
        # 0008: the race results, empty at first, written and read with the old players.
        self.assertEqual(self.successResultOf(store.races.ofPlayer(1)), [])
        self.successResultOf(store.races.record("carrera-1", "sala", 1, 1, 2, T0))
        self.assertEqual(
            [r["posicion"] for r in self.successResultOf(store.races.ofPlayer(1))], [1]
        )
        winners = self.successResultOf(store.races.winners(None))
        self.assertEqual(winners, [{"user_id": 1, "nombre": "<b>Ana</b>", "victorias": 1}])

    def test_upgradeTwice(self: Any) -> None:
        """
        Upgrading an up-to-date database is a no-op (services starting together).
        """
        engine = self.previousReleaseDatabase()
        upgrade(engine)
        upgrade(engine)
        self.assertEqual(currentRevision(engine), headRevision())


class SQLiteMigrationTests(SQLiteMixin, MigrationUpgradeMixin, SynchronousTestCase):
    pass


class PostgresMigrationTests(PostgresMixin, MigrationUpgradeMixin, SynchronousTestCase):
    pass


#: The schema revision of the last release that landed (before one writer on the save
#: path): what an install runs while this release rolls out.
LAST_RELEASE = "0009"

OPEN = "00000000-0000-4000-8000-0000000000a1"
DAILY = "00000000-0000-4000-8000-0000000000a2"
QUEUED = "00000000-0000-4000-8000-0000000000a3"


def lastReleaseRows() -> dict[str, list[dict[str, Any]]]:
    """
    What an install of the last release holds mid-play: a player with a partida issued
    (open, a UUID), a daily challenge's partida issued with its attempt, and a result
    juego-web closed and queued for juego-tcp while juego-tcp was down.
    """
    partida = {"user_id": 1, "idioma": "es", "seed": 99, "emitida": T0, "modo": "normal"}
    return {
        "users": [
            {
                "id": 1,
                "nombre": "Ana",
                "email": "ana@example.com",
                "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                "es_admin": False,
                "bio": "",
                "fecha_registro": T0,
            }
        ],
        "partidas": [
            {**partida, "id": OPEN, "estado": "abierta", "cerrada": None},
            {**partida, "id": DAILY, "estado": "abierta", "cerrada": None, "modo": "diario"},
            {
                **partida,
                "id": QUEUED,
                "estado": "publica",
                "cerrada": T0 + timedelta(minutes=1),
                "puntaje": 40,
                "wpm": 50.0,
                "precision": 1.0,
                "duracion_ms": 5000,
            },
        ],
        "desafios_diarios": [
            {"user_id": 1, "dia": "2026-11-20", "idioma": "es", "partida_id": DAILY, "emitida": T0}
        ],
        "outbox": [
            {
                "id": 1,
                "kind": "save_score",
                "payload": json.dumps({"user_id": 1, "puntaje": 40, "partida_id": QUEUED}),
                "creado": T0,
                "intentos": 2,
                "proximo": T0,
            }
        ],
    }


class LastReleaseUpgradeMixin:
    """
    A database of the last release, mid-play, upgraded: the partidas it issued (rows, not
    tokens) are closed by this release's juego-tcp, and what its juego-web queued is
    handed over as before.
    """

    def databaseURL(self) -> str:
        raise NotImplementedError

    def upgraded(self: Any) -> Store:
        engine = makeEngine(self.databaseURL())
        self.addCleanup(engine.dispose)
        upgrade(engine, LAST_RELEASE)
        tables = _reflect(engine).tables
        with engine.begin() as conn:
            for name, rows in lastReleaseRows().items():
                for row in rows:  # one by one: the rows do not all have the same columns
                    conn.execute(tables[name].insert(), row)
        upgrade(engine)
        self.assertEqual(currentRevision(engine), headRevision())
        return Store(DBThreadPool(engine, SynchronousReactorThreads(), SynchronousThreadPool()))

    def test_rowsKept(self: Any) -> None:
        store = self.upgraded()
        with store.engine.connect() as conn:
            tables = _reflect(store.engine).tables
            for name, rows in lastReleaseRows().items():
                table = tables[name]
                columns = sorted({c for row in rows for c in row})
                key = list(table.primary_key.columns)
                expected = sorted(
                    ({c: row.get(c) for c in columns} for row in rows),
                    key=lambda row: tuple(row[c.name] for c in key),
                )
                found = [
                    {c: _comparable(v) for c, v in row._mapping.items()}
                    for row in conn.execute(select(*(table.c[c] for c in columns)).order_by(*key))
                ]
                self.assertEqual(found, expected, f"rows of {name!r} changed")
        self.assertEqual(self.successResultOf(store.scores.outbox.pending()), [])

    def test_openPartidasClosedByThisRelease(self: Any) -> None:
        """
        The open and the daily partida issued by the last release are closed by this
        release's juego-tcp with their scores (a record queues its notification); the
        queued result is stored when its hand-over comes, like any.
        """
        store = self.upgraded()
        closing = [
            SaveRequest(
                1,
                puntaje,
                partidaID,
                ClosedPartida(partidaID, "es", 99, T0, modo, 60.0, 0.98, 4000, "[]"),
            )
            for partidaID, puntaje, modo in ((OPEN, 70, "normal"), (DAILY, 90, "diario"))
        ]
        results = self.successResultOf(
            store.scores.saveBatch([*closing, SaveRequest(1, 40, QUEUED)], T0)
        )
        self.assertEqual([r.puntaje_maximo for r in results], [70, 90, 90])
        for partidaID in (OPEN, DAILY):
            partida = self.successResultOf(store.partidas.get(partidaID))
            self.assertEqual(partida.cerrada, T0)
            self.assertEqual(partida.modo, "normal" if partidaID == OPEN else "diario")
        # The daily one is on the day's daily board.
        daily = self.successResultOf(store.boards.board(Board(DIA, modo="diario"), 10, T0))
        self.assertEqual([(r.partida_id, r.puntaje_maximo) for r in daily], [(DAILY, 90)])
        notices = self.successResultOf(store.scores.outbox.pending())
        self.assertEqual(
            [n.payload["idempotency_key"] for n in notices], [f"record:{OPEN}", f"record:{DAILY}"]
        )


class SQLiteLastReleaseTests(SQLiteMixin, LastReleaseUpgradeMixin, SynchronousTestCase):
    pass


class PostgresLastReleaseTests(PostgresMixin, LastReleaseUpgradeMixin, SynchronousTestCase):
    pass
