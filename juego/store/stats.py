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
from juego.store.scores import Best, dayNumber

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
    found = _unrankedUserStats(conn, userID)
    if found is None:
        return None
    stats, reached = found
    if reached is None:
        return stats
    return attrs.evolve(
        stats, posicion_ranking=_position(conn, userID, stats.puntaje_maximo, reached)
    )


def _unrankedUserStats(conn: Connection, userID: int) -> tuple[UserStats, datetime | None] | None:
    """
    A player's stats without their position, and when they first reached their best
    (L{None} before their first game): what the position is computed from.
    """
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
    reached = row.fecha_maximo if games else None
    stats = UserStats(
        user_id=row.id,
        nombre=row.nombre,
        email=row.email,
        puntaje_maximo=row.puntaje_maximo or 0,
        partidas_jugadas=games,
        puntaje_promedio=round(row.puntaje_total / games, 2) if games else 0.0,
        fecha_ultimo_juego=row.fecha_ultimo_juego,
        posicion_ranking=None,
    )
    return stats, reached


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


def _bests(conn: Connection, afterUserID: int, limit: int) -> list[Best]:
    agg = s.user_aggregates
    rows = conn.execute(
        select(agg.c.user_id, agg.c.puntaje_maximo, agg.c.fecha_maximo)
        .where(agg.c.user_id > afterUserID, agg.c.fecha_maximo.is_not(None))
        .order_by(agg.c.user_id)
        .limit(limit)
    )
    return [Best(r.user_id, r.puntaje_maximo, r.fecha_maximo) for r in rows]


class StatsStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def userStats(self, userID: int) -> Deferred[UserStats | None]:
        return self._pool.read(_userStats, userID)

    def unrankedUserStats(self, userID: int) -> Deferred[tuple[UserStats, datetime | None] | None]:
        """
        L{userStats} without the position, and when the best was first reached (for a
        cached ranking, L{juego.cache.ranking}).
        """
        return self._pool.read(_unrankedUserStats, userID)

    def position(self, userID: int, best: int, reached: datetime) -> Deferred[int]:
        """
        The ranking position of a player with this best, first reached then.
        """
        return self._pool.read(_position, userID, best, reached)

    def bests(self, afterUserID: int = 0, limit: int = 1000) -> Deferred[list[Best]]:
        """
        The bests of the players with an id above C{afterUserID}, by id, at most
        C{limit} (to rebuild a cached ranking chunk by chunk).
        """
        return self._pool.read(_bests, afterUserID, limit)

    def globalStats(self, now: datetime | None = None) -> Deferred[GlobalStats]:
        return self._pool.read(_globalStats, now or utcnow())

    def ranking(self, limit: int = 10, offset: int = 0) -> Deferred[list[RankingEntry]]:
        return self._pool.read(_ranking, limit, offset)
