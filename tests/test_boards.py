"""
The boards in the store (L{juego.store.boards}), on SQLite and PostgreSQL, with a fixed
"now": UTC day and ISO week boundaries, the language filter, the daily challenge, the
results that never count (held, voided, invalid, discarded, practice), ties, and a player's
neighbours (C{around}).
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from twisted.trial.unittest import SynchronousTestCase

from juego.store import schema as s
from juego.store.boards import DIA, DIARIO, SEMANA, SIEMPRE, Board
from juego.store.partidas import ANULADA, APROBADA, EN_REVISION, INVALIDA, PUBLICA
from juego.store.scores import SaveRequest
from tests.support import PostgresMixin, SQLiteMixin, synchronousStore

#: Wednesday 2 December 2026 (ISO week 49 runs from Monday 30 November to Sunday 6 December).
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
TODAY = datetime(2026, 12, 2, tzinfo=UTC)
MONDAY = datetime(2026, 11, 30, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def addResult(
    case: SynchronousTestCase,
    store: Any,
    partidaID: str,
    userID: int,
    puntaje: int,
    cerrada: datetime,
    idioma: str = "es",
    estado: str = PUBLICA,
    modo: str = "normal",
    emitida: datetime | None = None,
) -> None:
    """
    A closed partida; a ranked one is also saved as a score (as juego-tcp would).
    """
    with store.engine.begin() as conn:
        conn.execute(
            insert(s.partidas).values(
                id=partidaID,
                user_id=userID,
                idioma=idioma,
                seed=1,
                emitida=emitida or cerrada - timedelta(minutes=1),
                cerrada=cerrada,
                estado=estado,
                puntaje=puntaje,
                modo=modo,
            )
        )
    if estado in (PUBLICA, APROBADA):
        save = SaveRequest(userID, puntaje, partidaID)
        case.successResultOf(store.scores.saveBatch([save], cerrada))


class BoardsMixin:
    def setUp(self: Any) -> None:
        self.store = synchronousStore(self, self.databaseURL())
        self.ids = itertools.count(1)
        self.users = [self.user(f"Jugador {i}") for i in range(8)]

    def user(self: Any, nombre: str) -> int:
        email = nombre.lower().replace(" ", ".") + "@example.com"
        created = self.store.users.create(nombre, email, "x", now=NOW)
        return self.successResultOf(created).id

    def play(self: Any, userID: int, puntaje: int, cerrada: datetime, **kw: Any) -> str:
        partidaID = f"00000000-0000-4000-8000-{next(self.ids):012d}"
        addResult(self, self.store, partidaID, userID, puntaje, cerrada, **kw)
        return partidaID

    def board(
        self: Any, board: Board, limit: int = 10, now: datetime = NOW
    ) -> list[tuple[int, ...]]:
        rows = self.successResultOf(self.store.boards.board(board, limit, now))
        self.assertEqual([r.posicion for r in rows], list(range(1, len(rows) + 1)))
        return [(r.user_id, r.puntaje_maximo) for r in rows]

    def test_dayBoundaries(self: Any) -> None:
        """
        Today's board holds the results of the current UTC day only: one a second before
        midnight is yesterday's; each player's best within the day counts.
        """
        a, b, c = self.users[:3]
        self.play(a, 900, TODAY - SECOND)
        self.play(a, 100, TODAY)
        self.play(a, 150, NOW)
        self.play(b, 120, TODAY + timedelta(hours=9))
        self.play(c, 999, TODAY + timedelta(days=1))  # tomorrow (a clock ahead): not yet
        self.assertEqual(self.board(Board(DIA)), [(a, 150), (b, 120)])
        yesterday = self.board(Board(DIA), now=TODAY - SECOND)
        self.assertEqual(yesterday, [(a, 900)])
        self.assertEqual(self.board(Board(SIEMPRE))[0], (c, 999))

    def test_isoWeekBoundaries(self: Any) -> None:
        """
        The week runs from Monday 00:00 UTC to Sunday 23:59:59 UTC.
        """
        a, b, c, d = self.users[:4]
        self.play(a, 500, MONDAY - SECOND)  # Sunday night: last week
        self.play(b, 200, MONDAY)
        self.play(c, 300, MONDAY + timedelta(days=7) - SECOND)  # Sunday night: this week
        self.play(d, 400, MONDAY + timedelta(days=7))  # next Monday
        self.assertEqual(self.board(Board(SEMANA)), [(c, 300), (b, 200)])
        self.assertEqual(self.board(Board(SEMANA), now=MONDAY - SECOND), [(a, 500)])
        self.assertEqual(self.board(Board(SEMANA), now=MONDAY + timedelta(days=7)), [(d, 400)])
        # A year boundary: ISO week 53 of 2026 starts on Monday 28 December.
        self.assertEqual(
            Board(SEMANA).window(datetime(2027, 1, 3, 23, tzinfo=UTC))[0],
            datetime(2026, 12, 28, tzinfo=UTC),
        )

    def test_languageFilter(self: Any) -> None:
        a, b = self.users[:2]
        self.play(a, 300, NOW - timedelta(days=40), idioma="en")
        self.play(a, 100, NOW, idioma="es")
        self.play(b, 200, NOW, idioma="es")
        self.play(b, 50, NOW, idioma="en")
        self.assertEqual(self.board(Board(SIEMPRE, "es")), [(b, 200), (a, 100)])
        self.assertEqual(self.board(Board(SIEMPRE, "en")), [(a, 300), (b, 50)])
        self.assertEqual(self.board(Board(DIA, "en")), [(b, 50)])
        self.assertEqual(self.board(Board(SIEMPRE)), [(a, 300), (b, 200)])

    def test_onlyPublicResultsCount(self: Any) -> None:
        """
        Held, voided, invalid and discarded results and practice games are on no board; an
        approved one is.
        """
        a, b, c, d, e, f = self.users[:6]
        self.play(a, 100, NOW)
        self.play(b, 900, NOW, estado=EN_REVISION)
        self.play(c, 800, NOW, estado=ANULADA)
        self.play(d, 700, NOW, estado=INVALIDA)
        self.play(e, 600, NOW, estado="descartada")
        self.play(f, 500, NOW, modo="practica")
        self.play(b, 50, NOW, estado=APROBADA)
        for board in (Board(DIA), Board(SEMANA), Board(SIEMPRE, "es"), Board(modo=DIARIO)):
            expected = [] if board.modo else [(a, 100), (b, 50)]
            self.assertEqual(self.board(board), expected, board)
        # The classic board counts what juego-tcp stored: here the practice game's score
        # (saved by this test); the held, voided and invalid ones were never sent.
        self.assertEqual(self.board(Board()), [(f, 500), (a, 100), (b, 50)])

    def test_voidedResultLeavesTheBoard(self: Any) -> None:
        a, b = self.users[:2]
        best = self.play(a, 300, NOW)
        self.play(a, 100, NOW)
        self.play(b, 200, NOW)
        self.assertEqual(self.board(Board(DIA)), [(a, 300), (b, 200)])
        with self.store.engine.begin() as conn:
            conn.execute(s.partidas.update().where(s.partidas.c.id == best).values(estado=ANULADA))
        self.assertEqual(self.board(Board(DIA)), [(b, 200), (a, 100)])

    def test_tiesAndLimit(self: Any) -> None:
        """
        Equal bests: the one reached first goes first, then the lower id.
        """
        a, b, c = self.users[:3]
        self.play(c, 100, NOW - timedelta(minutes=5))
        self.play(a, 100, NOW)
        self.play(b, 100, NOW)
        self.play(b, 100, NOW - timedelta(minutes=10))  # b reached 100 first
        self.assertEqual(self.board(Board(DIA)), [(b, 100), (c, 100), (a, 100)])
        self.assertEqual(self.board(Board(DIA), limit=2), [(b, 100), (c, 100)])

    def test_dailyChallenge(self: Any) -> None:
        """
        The daily board: today's daily games only (by the day they were issued), whatever
        the period asked; a daily game also counts in the period boards.
        """
        a, b, c, d = self.users[:4]
        self.play(a, 100, NOW, modo=DIARIO)
        self.play(b, 900, NOW)  # an ordinary game
        self.play(c, 800, NOW - timedelta(days=1), modo=DIARIO)  # yesterday's challenge
        # Yesterday's challenge, issued before midnight and finished after it.
        self.play(d, 700, TODAY + SECOND, modo=DIARIO, emitida=TODAY - SECOND)
        self.play(a, 50, NOW, idioma="en", modo=DIARIO)
        self.assertEqual(self.board(Board(DIA, modo=DIARIO)), [(a, 100)])
        self.assertEqual(self.board(Board(modo=DIARIO)), [(a, 100)])
        self.assertEqual(self.board(Board(DIA, "en", DIARIO)), [(a, 50)])
        self.assertEqual(self.board(Board(DIA)), [(b, 900), (d, 700), (a, 100)])

    def test_partidaIDs(self: Any) -> None:
        """
        Every row names the partida of its result; on the classic board, the first ranked
        partida with that score (none for a score saved without one).
        """
        a, b, c = self.users[:3]
        first = self.play(a, 300, NOW - timedelta(days=3))
        again = self.play(a, 300, NOW)
        other = self.play(b, 200, NOW)
        self.successResultOf(self.store.scores.saveBatch([SaveRequest(c, 100)], NOW))
        rows = self.successResultOf(self.store.boards.board(Board(), 10, NOW))
        self.assertEqual([r.partida_id for r in rows], [first, other, None])
        rows = self.successResultOf(self.store.boards.board(Board(DIA), 10, NOW))
        self.assertEqual([r.partida_id for r in rows], [again, other])

    def around(self: Any, board: Board, userID: int) -> tuple[int | None, list[tuple[int, int]]]:
        position, rows = self.successResultOf(self.store.boards.around(board, userID, NOW))
        return position, [(r.posicion, r.user_id) for r in rows]

    def test_around(self: Any) -> None:
        """
        A player's position and the rows from two above to two below, on the classic board
        and a period board alike; none for a player without a result in the window.
        """
        players = self.users[:7]
        for i, userID in enumerate(players):
            self.play(userID, 700 - 100 * i, NOW)
        self.play(self.users[7], 999, NOW - timedelta(days=10))
        for board in (Board(DIA), Board(SEMANA, "es")):
            self.assertEqual(
                self.around(board, players[3]), (4, [(p, players[p - 1]) for p in range(2, 7)])
            )
            self.assertEqual(
                self.around(board, players[0]), (1, [(p, players[p - 1]) for p in range(1, 4)])
            )
            self.assertEqual(
                self.around(board, players[6]), (7, [(p, players[p - 1]) for p in range(5, 8)])
            )
            self.assertEqual(self.around(board, self.users[7]), (None, []))
        classic = Board()
        everyone = [self.users[7]] + players
        self.assertEqual(
            self.around(classic, players[3]), (5, [(p, everyone[p - 1]) for p in range(3, 8)])
        )
        self.assertEqual(
            self.around(classic, self.users[7]), (1, [(p, everyone[p - 1]) for p in range(1, 4)])
        )
        nobody = self.user("Sin partidas")
        self.assertEqual(self.around(classic, nobody), (None, []))
        self.assertEqual(self.around(classic, 9999), (None, []))
        self.assertEqual(self.around(Board(modo=DIARIO), players[0]), (None, []))

    def test_aroundAgreesWithTheBoard(self: Any) -> None:
        """
        For every player, on every kind of board, C{around} is the board's own rows from
        two above to two below them: ties at one best (reached at the same instant
        too) included.
        """
        rng = random.Random(12)
        players = self.users + [self.user(f"Extra {i}") for i in range(6)]
        for userID in players:
            for _ in range(rng.randint(1, 3)):
                when = NOW - timedelta(minutes=rng.choice([0, 0, 5, 30]))
                self.play(userID, rng.choice([100, 200, 200, 300]), when)
        for board in (Board(), Board(DIA), Board(SIEMPRE, "es")):
            rows = self.successResultOf(self.store.boards.board(board, 100, NOW))
            self.assertEqual(len(rows), len(players))
            for i, row in enumerate(rows):
                position, around = self.successResultOf(
                    self.store.boards.around(board, row.user_id, NOW)
                )
                self.assertEqual(position, i + 1)
                self.assertEqual(around, rows[max(0, i - 2) : i + 3], (board, i))


class SQLiteBoardsTests(SQLiteMixin, BoardsMixin, SynchronousTestCase):
    pass


class PostgresBoardsTests(PostgresMixin, BoardsMixin, SynchronousTestCase):
    pass
