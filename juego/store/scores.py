"""
Scores and the aggregates kept beside them (see L{juego.store.schema}).

Every change to a player's best or games goes through here, so that the histograms
(C{best_counts}, C{activity_days}) and C{totals} always agree with C{user_aggregates}.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import attrs
from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from juego.model import SaveResult, Score, utcnow
from juego.store import schema as s
from juego.store.pool import DBThreadPool, databaseUnavailable, oneLine

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


@attrs.frozen
class Best:
    """
    A player's best and when it was first reached: their place in the ranking.
    """

    user_id: int
    puntaje_maximo: int
    fecha_maximo: datetime


class RankingListener(Protocol):
    """
    Told, after each commit, how the ranking changed (a cache of it, L{juego.cache}, keeps
    up). Called in the reactor thread; it must not raise or block.
    """

    def bestsChanged(self, bests: Sequence[Best]) -> None:
        """
        These players have a new best (or their first one).
        """

    def playersRemoved(self, userIDs: Sequence[int], bests: Sequence[Best]) -> None:
        """
        These players no longer have a best (reset or deleted); C{bests} are the ones
        they had.
        """


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
        _bump(conn, s.best_counts, "puntaje", self.bests)
        _bump(conn, s.activity_days, "dia", self.days)
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


def _bump(conn: Connection, table: s.Table, keyName: str, deltas: Counter[int]) -> None:
    """
    Add C{deltas} (key → change) to a histogram's C{jugadores} with one upsert that
    visits the keys in order, increases and decreases alike; empty buckets go.

    One pass in key order is what keeps score nodes from deadlocking: with the increases
    and the decreases applied in two passes, a batch raising bucket 20 and lowering 10
    and another raising 10 and lowering 20 would each lock the bucket the other needs.
    """
    keyColumn = table.c[keyName]
    changes = [{"k": k, "d": d} for k, d in sorted(deltas.items()) if d != 0]
    if not changes:
        return
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(table).values({keyName: bindparam("k"), "jugadores": bindparam("d")})
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[keyColumn],
            set_={"jugadores": table.c.jugadores + stmt.excluded.jugadores},
        ),
        changes,
    )
    lowered = [row["k"] for row in changes if row["d"] < 0]
    if lowered:
        # Only rows this transaction has locked already (it just changed them).
        conn.execute(delete(table).where(keyColumn.in_(lowered), table.c.jugadores <= 0))


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
    conn.execute(dialect.insert(s.user_aggregates).values(user_id=userID).on_conflict_do_nothing())
    return True


@attrs.define
class _Player:
    """
    A player's aggregates as the batch changes them, in memory until written back.
    """

    best: int
    games: int
    day: int | None
    bestChanged: bool = False
    touched: bool = False
    total: int = 0


def _loadPlayers(conn: Connection, userIDs: set[int]) -> dict[int, _Player]:
    """
    The aggregates of every user the batch names who exists (rows are made for users
    without one).
    """
    agg = s.user_aggregates
    ids = sorted(userIDs)
    rows = conn.execute(
        select(
            agg.c.user_id, agg.c.puntaje_maximo, agg.c.partidas_jugadas, agg.c.dia_ultimo_juego
        ).where(agg.c.user_id.in_(ids))
    ).all()
    players = {
        r.user_id: _Player(r.puntaje_maximo, r.partidas_jugadas, r.dia_ultimo_juego) for r in rows
    }
    missing = [i for i in ids if i not in players]
    if missing:
        for userID in conn.execute(select(s.users.c.id).where(s.users.c.id.in_(missing))).scalars():
            if _ensureAggregates(conn, userID):
                players[userID] = _Player(0, 0, None)
    return players


def _saveBatch(
    conn: Connection,
    requests: Sequence[SaveRequest],
    now: datetime,
    changed: list[Best] | None = None,
) -> list[SaveResult | UserNotFound]:
    """
    Store a batch set-wise: one query for the earlier saves with the same keys, one for
    the aggregates, one multi-row insert of the scores, one executemany of the aggregate
    updates, then the shared counters. The players whose best changed are added to
    C{changed}.
    """
    keys = {r.clave for r in requests if r.clave is not None}
    earlier: dict[str, SaveResult] = {}
    if keys:
        for row in conn.execute(
            select(
                s.scores.c.clave, s.scores.c.id, s.scores.c.nuevo_record, s.scores.c.puntaje_maximo
            ).where(s.scores.c.clave.in_(sorted(keys)))
        ):
            earlier[row.clave] = SaveResult(row.id, bool(row.nuevo_record), row.puntaje_maximo)

    _lockAggregates(conn, [r.user_id for r in requests])
    players = _loadPlayers(conn, {r.user_id for r in requests if r.clave not in earlier})
    today = dayNumber(now)
    deltas = _Deltas()
    # Each request's answer: a result, a missing user, or the index of its new score row.
    answers: list[SaveResult | UserNotFound | tuple[int, bool, int]] = []
    rows: list[dict[str, object]] = []
    pendingKeys: dict[str, int] = {}

    for request in requests:
        if request.clave is not None and request.clave in earlier:
            answers.append(earlier[request.clave])
            continue
        if request.clave is not None and request.clave in pendingKeys:
            answers.append(answers[pendingKeys[request.clave]])
            continue
        player = players.get(request.user_id)
        if player is None:
            answers.append(UserNotFound(request.user_id))
            continue
        firstGame = player.games == 0
        nuevoRecord = request.puntaje > player.best
        best = max(request.puntaje, player.best)
        if firstGame:
            deltas.jugadores += 1
            deltas.bests[best] += 1
            deltas.sumaMejores += best
        elif nuevoRecord:
            deltas.bests[player.best] -= 1
            deltas.bests[best] += 1
            deltas.sumaMejores += best - player.best
        if player.day != today:
            if player.day is not None:
                deltas.days[player.day] -= 1
            deltas.days[today] += 1
        deltas.partidas += 1
        player.bestChanged |= firstGame or nuevoRecord
        player.best, player.games, player.day = best, player.games + 1, today
        player.total += request.puntaje
        player.touched = True
        if request.clave is not None:
            pendingKeys[request.clave] = len(answers)
        answers.append((len(rows), nuevoRecord, best))
        rows.append(
            {
                "user_id": request.user_id,
                "puntaje": request.puntaje,
                "fecha": now,
                "clave": request.clave,
                "nuevo_record": nuevoRecord,
                "puntaje_maximo": best,
            }
        )

    scoreIDs: list[int] = []
    if rows:
        scoreIDs = _insertScores(conn, rows)
        _writePlayers(conn, players, now, today)
    deltas.apply(conn)
    if changed is not None:
        changed.extend(
            Best(userID, p.best, now) for userID, p in sorted(players.items()) if p.bestChanged
        )

    results: list[SaveResult | UserNotFound] = []
    for answer in answers:
        if isinstance(answer, tuple):
            index, nuevoRecord, best = answer
            results.append(SaveResult(scoreIDs[index], nuevoRecord, best))
        else:
            results.append(answer)
    return results


def _insertScores(conn: Connection, rows: list[dict[str, object]]) -> list[int]:
    """
    Insert the batch's score rows; their ids, in order.

    PostgreSQL returns them from one multi-row C{INSERT ... RETURNING}. SQLite cannot
    correlate C{RETURNING} rows with parameters, which would make SQLAlchemy insert row by
    row; but the batch holds SQLite's write lock (C{BEGIN IMMEDIATE}) and C{scores.id} is
    a plain rowid, so the new ids are the consecutive numbers after the largest one.
    """
    if conn.dialect.name != "sqlite":
        return list(
            conn.execute(
                insert(s.scores).returning(s.scores.c.id, sort_by_parameter_order=True), rows
            ).scalars()
        )
    conn.execute(insert(s.scores), rows)
    last = conn.execute(select(func.max(s.scores.c.id))).scalar_one()
    return list(range(last - len(rows) + 1, last + 1))


def _writePlayers(conn: Connection, players: dict[int, _Player], now: datetime, today: int) -> None:
    agg = s.user_aggregates
    common = {
        "partidas_jugadas": bindparam("p_games"),
        "puntaje_total": agg.c.puntaje_total + bindparam("p_total"),
        "fecha_ultimo_juego": bindparam("p_last"),
        "dia_ultimo_juego": bindparam("p_day"),
    }
    for bestChanged in (False, True):
        values = dict(common)
        if bestChanged:
            values["puntaje_maximo"] = bindparam("p_best")
            values["fecha_maximo"] = bindparam("p_last")
        params = [
            {
                "p_id": userID,
                "p_games": p.games,
                "p_total": p.total,
                "p_last": now,
                "p_day": today,
                "p_best": p.best,
            }
            for userID, p in sorted(players.items())
            if p.touched and p.bestChanged == bestChanged
        ]
        if params:
            conn.execute(
                update(agg).where(agg.c.user_id == bindparam("p_id")).values(values), params
            )


def _removePlayer(conn: Connection, userID: int, deltas: _Deltas) -> Best | None:
    """
    Take a player's games out of every counter and empty their aggregates; the best they
    had, if any.
    """
    agg = s.user_aggregates
    row = conn.execute(select(agg).where(agg.c.user_id == userID)).first()
    if row is None or row.partidas_jugadas == 0:
        return None
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
    if row.fecha_maximo is None:
        return None
    return Best(userID, row.puntaje_maximo, row.fecha_maximo)


class ScoresStore:
    """
    @ivar listener: told of every change to the ranking after its commit (optional).
    """

    log = Logger()

    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool
        self.listener: RankingListener | None = None

    def _tell(
        self, changed: Sequence[Best], removed: Sequence[int] = (), old: Sequence[Best] = ()
    ) -> None:
        """
        Pass a committed change on to the listener; its failure never fails the write.
        """
        listener = self.listener
        if listener is None:
            return
        try:
            if removed:
                listener.playersRemoved(removed, old)
            if changed:
                listener.bestsChanged(changed)
        except Exception:
            self.log.failure("the ranking listener failed")

    def saveBatch(
        self, requests: Sequence[SaveRequest], now: datetime | None = None
    ) -> Deferred[list[SaveResult | UserNotFound]]:
        """
        Store several saves in one transaction (group commit). Each answer is a
        L{SaveResult}, or a L{UserNotFound} for a save naming no user (which does not
        spoil the others). The whole batch is retried on a conflict.
        """

        changed: list[Best] = []

        def work(conn: Connection) -> list[SaveResult | UserNotFound]:
            del changed[:]  # a retried batch starts again
            return _saveBatch(conn, requests, now or utcnow(), changed)

        def committed(results: list[SaveResult | UserNotFound]) -> list[SaveResult | UserNotFound]:
            self._tell(changed)
            return results

        return self._retrying(work).addCallback(committed)

    def _retrying(self, work):
        attempts = 0

        def retry(failure):
            nonlocal attempts
            failure.trap(IntegrityError, DBAPIError)
            attempts += 1
            if databaseUnavailable(failure.value):
                # What an operator sees of a database outage here: a line per attempt.
                self.log.warn(
                    "a batch of saves failed (attempt {n} of {of}), database unavailable: {error}",
                    n=attempts,
                    of=BATCH_ATTEMPTS,
                    error=oneLine(failure.value),
                )
            if attempts >= BATCH_ATTEMPTS:
                return failure
            return self._pool.write(work).addErrback(retry)

        return self._pool.write(work).addErrback(retry)

    def resetUser(self, userID: int) -> Deferred[None]:
        """
        Forget a player's scores (an admin's reset), keeping the account.
        """

        def work(conn: Connection) -> Best | None:
            deltas = _Deltas()
            _lockAggregates(conn, [userID])
            old = _removePlayer(conn, userID, deltas)
            conn.execute(delete(s.scores).where(s.scores.c.user_id == userID))
            deltas.apply(conn)
            return old

        def committed(old: Best | None) -> None:
            self._tell((), [userID], [old] if old else [])

        return self._pool.write(work).addCallback(committed)

    def deleteUser(self, userID: int) -> Deferred[bool]:
        """
        Delete an account with its scores, sessions, partidas, notifications and
        aggregates, keeping every counter right. C{False} if there was no such user.
        """

        old: list[Best] = []

        def work(conn: Connection) -> bool:
            deltas = _Deltas()
            _lockAggregates(conn, [userID])
            del old[:]
            best = _removePlayer(conn, userID, deltas)
            if best is not None:
                old.append(best)
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

        def committed(gone: bool) -> bool:
            self._tell((), [userID], old)
            return gone

        return self._pool.write(work).addCallback(committed)

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
