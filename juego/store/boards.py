"""
The boards: the ranking by period (UTC day, ISO week, all time), language and mode (the
daily challenge), each player's best result in the window, computed from the data when
asked (no job rebuilds them, and a day's board needs no reset: its window moves).

The all-time board of both languages is the classic ranking, read from the aggregates
(L{juego.store.stats}). Every other board is read from the ranked partidas (C{publica}
or C{aprobada}: held, voided, invalid and discarded games never count, nor practice
games), which know their language, mode and when they were played.

Ties: as in the classic ranking, the earlier result first, then the lower user id; so
positions are distinct.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import attrs
from sqlalchemy import ColumnElement, Connection, and_, func, or_, select
from twisted.internet.defer import Deferred

from juego.store import schema as s
from juego.store.partidas import RANKED
from juego.store.pool import DBThreadPool
from juego.store.stats import RankingEntry, StatsStore, _position, _unrankedUserStats

DIA, SEMANA, SIEMPRE = "dia", "semana", "siempre"
PERIODOS = (DIA, SEMANA, SIEMPRE)
#: The daily challenge's mode (a partida's C{modo}); ordinary games are C{normal}.
DIARIO = "diario"
#: Games of this mode count nowhere.
PRACTICA = "practica"


@attrs.frozen
class Board:
    """
    Which board: C{periodo} (L{PERIODOS}), C{idioma} (L{None}: both) and C{modo}
    (L{None}: every ranked game; L{DIARIO}: the daily challenge's games only).
    """

    periodo: str = SIEMPRE
    idioma: str | None = None
    modo: str | None = None

    @property
    def classic(self) -> bool:
        """
        The all-time board of both languages: the classic ranking, from the aggregates.
        """
        return self.periodo == SIEMPRE and self.idioma is None and self.modo is None

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """
        The board's window around C{now}: from its start (included) to its end
        (excluded), UTC days and ISO weeks (Monday to Sunday); L{None} for all time. The
        daily challenge's board is always today's.
        """
        day = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
        if self.periodo == DIA or self.modo == DIARIO:
            return day, day + timedelta(days=1)
        if self.periodo == SEMANA:
            monday = day - timedelta(days=day.weekday())
            return monday, monday + timedelta(days=7)
        return None, None


@attrs.frozen
class BoardRow:
    posicion: int
    user_id: int
    nombre: str
    puntaje_maximo: int
    #: The partida of that result (for its replay), when known.
    partida_id: str | None = None


def _ranked(board: Board, now: datetime) -> Any:
    """
    Every player's best ranked partida in the board's window, numbered best first: a
    subquery of (user_id, partida_id, puntaje, posicion).
    """
    p = s.partidas
    filters: list[ColumnElement[bool]] = [
        p.c.estado.in_(RANKED),
        p.c.puntaje.is_not(None),
        p.c.user_id.is_not(None),
    ]
    start, end = board.window(now)
    if board.modo == DIARIO:
        # A daily game belongs to the day it was issued (that day's words), even if it
        # ended after midnight; it cannot have closed before it was issued.
        filters += [p.c.modo == DIARIO, p.c.emitida >= start, p.c.emitida < end]
        filters.append(p.c.cerrada >= start)
    else:
        filters.append(p.c.modo != PRACTICA)
        if start is not None:
            filters += [p.c.cerrada >= start, p.c.cerrada < end]
    if board.idioma is not None:
        filters.append(p.c.idioma == board.idioma)
    numbered = (
        select(
            p.c.user_id,
            p.c.id.label("partida_id"),
            p.c.puntaje,
            p.c.cerrada,
            func.row_number()
            .over(partition_by=p.c.user_id, order_by=(p.c.puntaje.desc(), p.c.cerrada, p.c.id))
            .label("n"),
        )
        .where(*filters)
        .subquery("numbered")
    )
    return (
        select(
            numbered.c.user_id,
            numbered.c.partida_id,
            numbered.c.puntaje,
            func.row_number()
            .over(order_by=(numbered.c.puntaje.desc(), numbered.c.cerrada, numbered.c.user_id))
            .label("posicion"),
        )
        .where(numbered.c.n == 1)
        .subquery("ranked")
    )


def _rows(conn: Connection, ranked: Any, *where: Any) -> list[BoardRow]:
    rows = conn.execute(
        select(ranked, s.users.c.nombre)
        .select_from(ranked.join(s.users, s.users.c.id == ranked.c.user_id))
        .where(*where)
        .order_by(ranked.c.posicion)
    )
    return [BoardRow(int(r.posicion), r.user_id, r.nombre, r.puntaje, r.partida_id) for r in rows]


def _classicPartidas(conn: Connection, rows: Sequence[BoardRow]) -> list[BoardRow]:
    """
    The classic ranking's rows with the partida of each best (the earliest ranked one
    with that score), when there is one: the aggregates do not name it.
    """
    if not rows:
        return []
    p = s.partidas
    found = conn.execute(
        select(p.c.user_id, p.c.puntaje, p.c.id)
        .where(
            p.c.estado.in_(RANKED),
            p.c.modo != PRACTICA,
            or_(*(and_(p.c.user_id == r.user_id, p.c.puntaje == r.puntaje_maximo) for r in rows)),
        )
        .order_by(p.c.cerrada.desc(), p.c.id.desc())
    )
    # Latest first, so that the earliest one is the one kept.
    ids = {(f.user_id, f.puntaje): f.id for f in found}
    return [attrs.evolve(r, partida_id=ids.get((r.user_id, r.puntaje_maximo))) for r in rows]


def _classicAround(
    conn: Connection, userID: int, best: int, reached: datetime, position: int, span: int
) -> list[BoardRow]:
    """
    The classic ranking's rows from C{span} above to C{span} below a player at
    C{position}, walked from their place on C{ix_user_aggregates_ranking} (no offset to
    count through: the cost does not grow with the position).
    """
    agg, users = s.user_aggregates, s.users
    order = (agg.c.puntaje_maximo.desc(), agg.c.fecha_maximo, agg.c.user_id)
    backwards = (agg.c.puntaje_maximo, agg.c.fecha_maximo.desc(), agg.c.user_id.desc())
    tiedBefore = or_(
        agg.c.fecha_maximo < reached, and_(agg.c.fecha_maximo == reached, agg.c.user_id < userID)
    )
    tiedAfter = or_(
        agg.c.fecha_maximo > reached, and_(agg.c.fecha_maximo == reached, agg.c.user_id > userID)
    )

    def walk(where: Any, ordering: Any) -> list[Any]:
        return list(
            conn.execute(
                select(agg.c.user_id, users.c.nombre, agg.c.puntaje_maximo)
                .select_from(agg.join(users, users.c.id == agg.c.user_id))
                .where(agg.c.fecha_maximo.is_not(None), *where)
                .order_by(*ordering)
                .limit(span)
            )
        )

    # Each side in two index ranges: the ties at the player's best, then the bests beyond.
    above = walk([agg.c.puntaje_maximo == best, tiedBefore], backwards)
    above += walk([agg.c.puntaje_maximo > best], backwards)
    below = walk([agg.c.puntaje_maximo == best, tiedAfter], order)
    below += walk([agg.c.puntaje_maximo < best], order)
    me = conn.execute(select(users.c.nombre).where(users.c.id == userID)).scalar_one()
    rows = [
        BoardRow(position - i, r.user_id, r.nombre, r.puntaje_maximo)
        for i, r in enumerate(above[:span], 1)
    ][::-1]
    rows.append(BoardRow(position, userID, me, best))
    rows += [
        BoardRow(position + i, r.user_id, r.nombre, r.puntaje_maximo)
        for i, r in enumerate(below[:span], 1)
    ]
    return _classicPartidas(conn, rows)


def _board(conn: Connection, board: Board, limit: int, now: datetime) -> list[BoardRow]:
    ranked = _ranked(board, now)
    return _rows(conn, ranked, ranked.c.posicion <= limit)


def _around(
    conn: Connection, board: Board, userID: int, span: int, now: datetime
) -> tuple[int | None, list[BoardRow]]:
    if board.classic:
        found = _unrankedUserStats(conn, userID)
        if found is None:
            return None, []
        stats, reached = found
        if reached is None:
            return None, []
        position = _position(conn, userID, stats.puntaje_maximo, reached)
        return position, _classicAround(conn, userID, stats.puntaje_maximo, reached, position, span)
    ranked = _ranked(board, now)
    found = conn.execute(
        select(ranked.c.posicion).where(ranked.c.user_id == userID)
    ).scalar_one_or_none()
    if found is None:
        return None, []
    position = int(found)
    return position, _rows(
        conn, ranked, ranked.c.posicion.between(position - span, position + span)
    )


class BoardsStore:
    def __init__(self, pool: DBThreadPool, stats: StatsStore) -> None:
        self._pool = pool
        self._stats = stats

    def board(self, board: Board, limit: int, now: datetime) -> Deferred[list[BoardRow]]:
        """
        The board's first C{limit} rows, best first, as it stands at C{now}.
        """
        if not board.classic:
            return self._pool.read(_board, board, limit, now)

        def named(entries: list[RankingEntry]) -> Deferred[list[BoardRow]]:
            rows = [BoardRow(e.posicion, e.user_id, e.nombre, e.puntaje_maximo) for e in entries]
            return self._pool.read(_classicPartidas, rows)

        return self._stats.ranking(limit).addCallback(named)

    def around(
        self, board: Board, userID: int, now: datetime, span: int = 2
    ) -> Deferred[tuple[int | None, list[BoardRow]]]:
        """
        A player's position on the board and the rows from C{span} above to C{span}
        below it (theirs included); C{(None, [])} when they have no result in it.
        """
        return self._pool.read(_around, board, userID, span, now)
