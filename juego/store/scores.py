"""
Scores and the aggregates kept beside them (see L{juego.store.schema}).

Every change to a player's best or games goes through here, so that the histograms
(C{best_counts}, C{activity_days}) and C{totals} always agree with C{user_aggregates}.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import attrs
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from twisted.internet.defer import Deferred

from juego.model import SaveResult, Score, utcnow
from juego.store import schema as s
from juego.store.pool import DBThreadPool

#: How often a batch that hit a conflict (a racing idempotency key or a deadlock between
#: score nodes on PostgreSQL) is tried again before it fails.
BATCH_ATTEMPTS = 3


@attrs.frozen
class SaveRequest:
    user_id: int
    puntaje: int
    #: Idempotency key: a second save with the same key is stored once and answers as
    #: the first did.
    clave: str | None = None


class UserNotFound(Exception):
    """
    The save names a user who does not exist.
    """


def dayNumber(when: datetime) -> int:
    return (when.astimezone(UTC).date() - datetime(1970, 1, 1).date()).days


@attrs.define
class _Deltas:
    """
    Changes to the shared counters, applied once at the end of a batch in key order (a
    fixed lock order, so concurrent score nodes cannot deadlock on them).
    """

    bests: Counter[int] = attrs.field(factory=Counter)
    days: Counter[int] = attrs.field(factory=Counter)
    jugadores: int = 0
    sumaMejores: int = 0
    partidas: int = 0

    def apply(self, conn: Connection) -> None:
        for key in sorted(self.bests):
            _bump(conn, s.best_counts, "puntaje", key, self.bests[key])
        for key in sorted(self.days):
            _bump(conn, s.activity_days, "dia", key, self.days[key])
        if self.jugadores or self.sumaMejores or self.partidas:
            conn.execute(
                update(s.totals)
                .where(s.totals.c.id == 1)
                .values(
                    jugadores=s.totals.c.jugadores + self.jugadores,
                    suma_mejores=s.totals.c.suma_mejores + self.sumaMejores,
                    partidas=s.totals.c.partidas + self.partidas,
                )
            )


def _bump(conn: Connection, table: s.Table, keyName: str, key: int, delta: int) -> None:
    if delta == 0:
        return
    key_col = table.c[keyName]
    if delta > 0:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        stmt = dialect.insert(table).values({keyName: key, "jugadores": delta})
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[key_col],
                set_={"jugadores": table.c.jugadores + delta},
            )
        )
    else:
        conn.execute(
            update(table).where(key_col == key).values(jugadores=table.c.jugadores + delta)
        )
        conn.execute(delete(table).where(key_col == key, table.c.jugadores <= 0))


def _lockAggregates(conn: Connection, userIDs: Sequence[int]) -> None:
    """
    Make sure each user's aggregates row exists and lock the rows in id order.
    """
    ids = sorted(set(userIDs))
    if conn.dialect.name == "sqlite":
        # The whole database is locked already (BEGIN IMMEDIATE).
        return
    conn.execute(
        select(s.user_aggregates.c.user_id)
        .where(s.user_aggregates.c.user_id.in_(ids))
        .order_by(s.user_aggregates.c.user_id)
        .with_for_update()
    ).all()


def _ensureAggregates(conn: Connection, userID: int) -> bool:
    """
    Create an empty aggregates row for a user who has none; C{False} if there is no such
    user.
    """
    exists = conn.execute(select(s.users.c.id).where(s.users.c.id == userID)).first()
    if exists is None:
        return False
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    conn.execute(
        dialect.insert(s.user_aggregates).values(user_id=userID).on_conflict_do_nothing()
    )
    return True


def _saveOne(
    conn: Connection, request: SaveRequest, now: datetime, deltas: _Deltas
) -> SaveResult | UserNotFound:
    if request.clave is not None:
        previous = conn.execute(
            select(s.scores.c.id, s.scores.c.nuevo_record, s.scores.c.puntaje_maximo).where(
                s.scores.c.clave == request.clave
            )
        ).first()
        if previous is not None:
            return SaveResult(previous.id, bool(previous.nuevo_record), previous.puntaje_maximo)

    agg = s.user_aggregates
    row = conn.execute(select(agg).where(agg.c.user_id == request.user_id)).first()
    if row is None:
        if not _ensureAggregates(conn, request.user_id):
            return UserNotFound(request.user_id)
        row = conn.execute(select(agg).where(agg.c.user_id == request.user_id)).first()
        assert row is not None

    firstGame = row.partidas_jugadas == 0
    nuevoRecord = request.puntaje > row.puntaje_maximo
    best = max(request.puntaje, row.puntaje_maximo)
    today = dayNumber(now)

    values: dict[str, object] = {
        "partidas_jugadas": agg.c.partidas_jugadas + 1,
        "puntaje_total": agg.c.puntaje_total + request.puntaje,
        "fecha_ultimo_juego": now,
        "dia_ultimo_juego": today,
    }
    if firstGame or nuevoRecord:
        values["puntaje_maximo"] = best
        values["fecha_maximo"] = now
    conn.execute(update(agg).where(agg.c.user_id == request.user_id).values(values))

    if firstGame:
        deltas.jugadores += 1
        deltas.bests[best] += 1
        deltas.sumaMejores += best
    elif nuevoRecord:
        deltas.bests[row.puntaje_maximo] -= 1
        deltas.bests[best] += 1
        deltas.sumaMejores += best - row.puntaje_maximo
    if row.dia_ultimo_juego != today:
        if row.dia_ultimo_juego is not None:
            deltas.days[row.dia_ultimo_juego] -= 1
        deltas.days[today] += 1
    deltas.partidas += 1

    scoreID = conn.execute(
        insert(s.scores)
        .values(
            user_id=request.user_id,
            puntaje=request.puntaje,
            fecha=now,
            clave=request.clave,
            nuevo_record=nuevoRecord,
            puntaje_maximo=best,
        )
        .returning(s.scores.c.id)
    ).scalar_one()
    return SaveResult(scoreID, nuevoRecord, best)


def _removePlayer(conn: Connection, userID: int, deltas: _Deltas) -> None:
    """
    Take a player's games out of every counter and empty their aggregates.
    """
    agg = s.user_aggregates
    row = conn.execute(select(agg).where(agg.c.user_id == userID)).first()
    if row is None or row.partidas_jugadas == 0:
        return
    deltas.jugadores -= 1
    deltas.bests[row.puntaje_maximo] -= 1
    deltas.sumaMejores -= row.puntaje_maximo
    deltas.partidas -= row.partidas_jugadas
    if row.dia_ultimo_juego is not None:
        deltas.days[row.dia_ultimo_juego] -= 1
    conn.execute(
        update(agg)
        .where(agg.c.user_id == userID)
        .values(
            puntaje_maximo=0,
            fecha_maximo=None,
            partidas_jugadas=0,
            puntaje_total=0,
            fecha_ultimo_juego=None,
            dia_ultimo_juego=None,
        )
    )


class ScoresStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def saveBatch(
        self, requests: Sequence[SaveRequest], now: datetime | None = None
    ) -> Deferred[list[SaveResult | UserNotFound]]:
        """
        Store several saves in one transaction (group commit). Each answer is a
        L{SaveResult}, or a L{UserNotFound} for a save naming no user (which does not
        spoil the others). The whole batch is retried on a conflict.
        """

        def work(conn: Connection) -> list[SaveResult | UserNotFound]:
            when = now or utcnow()
            deltas = _Deltas()
            _lockAggregates(conn, [r.user_id for r in requests])
            results = [_saveOne(conn, r, when, deltas) for r in requests]
            deltas.apply(conn)
            return results

        return self._retrying(work)

    def _retrying(self, work):  # type: ignore[no-untyped-def]
        attempts = 0

        def retry(failure):  # type: ignore[no-untyped-def]
            nonlocal attempts
            failure.trap(IntegrityError, DBAPIError)
            attempts += 1
            if attempts >= BATCH_ATTEMPTS:
                return failure
            return self._pool.write(work).addErrback(retry)

        return self._pool.write(work).addErrback(retry)

    def resetUser(self, userID: int) -> Deferred[None]:
        """
        Forget a player's scores (an admin's reset), keeping the account.
        """

        def work(conn: Connection) -> None:
            deltas = _Deltas()
            _lockAggregates(conn, [userID])
            _removePlayer(conn, userID, deltas)
            conn.execute(delete(s.scores).where(s.scores.c.user_id == userID))
            deltas.apply(conn)

        return self._pool.write(work)

    def deleteUser(self, userID: int) -> Deferred[bool]:
        """
        Delete an account with its scores, sessions, partidas, notifications and
        aggregates, keeping every counter right. C{False} if there was no such user.
        """

        def work(conn: Connection) -> bool:
            deltas = _Deltas()
            _lockAggregates(conn, [userID])
            _removePlayer(conn, userID, deltas)
            deltas.apply(conn)
            for table in (
                s.scores,
                s.sessions,
                s.partidas,
                s.notifications,
                s.user_aggregates,
            ):
                conn.execute(delete(table).where(table.c.user_id == userID))
            gone = conn.execute(delete(s.users).where(s.users.c.id == userID)).rowcount
            if gone:
                conn.execute(
                    update(s.totals)
                    .where(s.totals.c.id == 1)
                    .values(usuarios=s.totals.c.usuarios - 1)
                )
            return bool(gone)

        return self._pool.write(work)

    def recent(self, userID: int, limit: int = 20) -> Deferred[list[Score]]:
        def work(conn: Connection) -> list[Score]:
            rows = conn.execute(
                select(s.scores)
                .where(s.scores.c.user_id == userID)
                .order_by(s.scores.c.id.desc())
                .limit(limit)
            )
            return [Score(r.id, r.user_id, r.puntaje, r.fecha) for r in rows]

        return self._pool.read(work)
