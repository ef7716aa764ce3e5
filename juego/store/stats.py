"""
Statistics and the ranking, read from the aggregates: no query here scans the scores, and
none grows with the number of players beyond the ties at one best.
"""

from __future__ import annotations

from datetime import datetime

import attrs
from sqlalchemy import Connection, and_, func, or_, select
from twisted.internet.defer import Deferred

from juego.model import GlobalStats, UserStats, utcnow
from juego.store import schema as s
from juego.store.pool import DBThreadPool
from juego.store.scores import dayNumber

#: "Active" players played on one of the last this many UTC days (today included).
ACTIVE_DAYS = 7


@attrs.frozen
class RankingEntry:
    posicion: int
    user_id: int
    nombre: str
    puntaje_maximo: int


def _position(conn: Connection, userID: int, best: int, reached: datetime) -> int:
    """
    1 + the players whose best is higher, or equal and reached earlier (or at the same
    instant by a lower id): distinct positions for every player.
    """
    above = conn.execute(
        select(func.coalesce(func.sum(s.best_counts.c.jugadores), 0)).where(
            s.best_counts.c.puntaje > best
        )
    ).scalar_one()
    agg = s.user_aggregates
    tiedEarlier = conn.execute(
        select(func.count())
        .select_from(agg)
        .where(
            agg.c.puntaje_maximo == best,
            or_(
                agg.c.fecha_maximo < reached,
                and_(agg.c.fecha_maximo == reached, agg.c.user_id < userID),
            ),
        )
    ).scalar_one()
    return 1 + int(above) + int(tiedEarlier)


def _userStats(conn: Connection, userID: int) -> UserStats | None:
    agg = s.user_aggregates
    row = conn.execute(
        select(
            s.users.c.id,
            s.users.c.nombre,
            s.users.c.email,
            agg.c.puntaje_maximo,
            agg.c.fecha_maximo,
            agg.c.partidas_jugadas,
            agg.c.puntaje_total,
            agg.c.fecha_ultimo_juego,
        )
        .select_from(s.users.outerjoin(agg, agg.c.user_id == s.users.c.id))
        .where(s.users.c.id == userID)
    ).first()
    if row is None:
        return None
    games = row.partidas_jugadas or 0
    position = None
    if games and row.fecha_maximo is not None:
        position = _position(conn, userID, row.puntaje_maximo, row.fecha_maximo)
    return UserStats(
        user_id=row.id,
        nombre=row.nombre,
        email=row.email,
        puntaje_maximo=row.puntaje_maximo or 0,
        partidas_jugadas=games,
        puntaje_promedio=round(row.puntaje_total / games, 2) if games else 0.0,
        fecha_ultimo_juego=row.fecha_ultimo_juego,
        posicion_ranking=position,
    )


def _globalStats(conn: Connection, now: datetime) -> GlobalStats:
    totals = conn.execute(select(s.totals).where(s.totals.c.id == 1)).one()
    active = conn.execute(
        select(func.coalesce(func.sum(s.activity_days.c.jugadores), 0)).where(
            s.activity_days.c.dia > dayNumber(now) - ACTIVE_DAYS
        )
    ).scalar_one()
    highest = conn.execute(select(func.max(s.best_counts.c.puntaje))).scalar_one()
    players = int(totals.jugadores)
    return GlobalStats(
        total_usuarios=int(totals.usuarios),
        usuarios_activos=int(active),
        puntaje_promedio=round(int(totals.suma_mejores) / players, 2) if players else 0.0,
        puntaje_maximo_global=int(highest or 0),
        partidas_totales=int(totals.partidas),
    )


def _ranking(conn: Connection, limit: int, offset: int) -> list[RankingEntry]:
    agg = s.user_aggregates
    rows = conn.execute(
        select(agg.c.user_id, s.users.c.nombre, agg.c.puntaje_maximo)
        .select_from(agg.join(s.users, s.users.c.id == agg.c.user_id))
        .where(agg.c.fecha_maximo.is_not(None))
        .order_by(agg.c.puntaje_maximo.desc(), agg.c.fecha_maximo, agg.c.user_id)
        .limit(limit)
        .offset(offset)
    )
    return [
        RankingEntry(offset + i + 1, r.user_id, r.nombre, r.puntaje_maximo)
        for i, r in enumerate(rows)
    ]


class StatsStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def userStats(self, userID: int) -> Deferred[UserStats | None]:
        return self._pool.read(_userStats, userID)

    def globalStats(self, now: datetime | None = None) -> Deferred[GlobalStats]:
        return self._pool.read(_globalStats, now or utcnow())

    def ranking(self, limit: int = 10, offset: int = 0) -> Deferred[list[RankingEntry]]:
        return self._pool.read(_ranking, limit, offset)
