"""
Scores and the aggregates kept beside them (see L{juego.store.schema}).

Every change to a player's best or games goes through here, so that the histograms
(C{best_counts}, C{activity_days}) and C{totals} always agree with C{user_aggregates}.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

import attrs
from sqlalchemy import (
    Connection,
    Dialect,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql.compiler import SQLCompiler
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from juego.logging import REQUEST_ID_FIELD
from juego.model import SaveResult, Score, utcnow
from juego.store import schema as s
from juego.store.outbox import CLAIM, OutboxStore, enqueue, recordNotification
from juego.store.partidas import CLOSED_COLUMNS, PUBLICA, RANKED, closeOpen
from juego.store.pool import DBThreadPool, databaseUnavailable, oneLine

#: How often a batch that hit a conflict (a racing idempotency key or a deadlock between
#: score nodes on PostgreSQL) is tried again before it fails.
BATCH_ATTEMPTS = 3


@attrs.frozen
class ClosedPartida:
    """
    The partida a verified save closes, in the transaction that stores its score (the
    one-writer save path, docs/ARCHITECTURE.md): juego-web verified it, juego-tcp writes it.
    """

    id: str
    idioma: str
    seed: int
    emitida: datetime
    modo: str
    wpm: float
    precision: float
    duracion_ms: int
    #: The verified events with their keystrokes, as JSON text (stored as it came).
    eventos: str


@attrs.frozen
class SaveRequest:
    user_id: int
    puntaje: int
    #: Idempotency key: a second save with the same key is stored once and answers as
    #: the first did.
    clave: str | None = None
    #: The partida this save closes (its id is the key); a new record then queues its
    #: notification in juego-tcp's outbox, in the same transaction.
    partida: ClosedPartida | None = None
    #: The first hand-over of this result: a partida closed already, or a key stored
    #: already, is L{PartidaClosed} (a second submission), not answered by the key.
    primera: bool = False
    #: The id of the request that made this save, carried by its record notification.
    rid: str | None = None


@attrs.frozen
class Notice:
    """
    A record notification the batch queued in C{score_outbox}: the row, and the work.
    """

    id: int
    payload: dict[str, Any]


class PartidaClosed(Exception):
    """
    The save's partida was closed otherwise (held, invalid, discarded): no score.
    """


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

    def invalidate(self) -> object:
        """
        A best went down (a voided result): the cached ranking can no longer be patched
        (it only raises bests), so it is marked incomplete and rebuilt.
        """


class UserNotFound(Exception):
    """
    The save names a user who does not exist.
    """


#: What a save answers.
SaveAnswer = SaveResult | UserNotFound | PartidaClosed


def dayNumber(when: datetime) -> int:
    return (when.astimezone(UTC).date() - datetime(1970, 1, 1).date()).days


#: How a statement's list parameter is written: C{col IN (...)} with SQLAlchemy's
#: expanding parameter, or, for the DB-API path on SQLite, C{col IN (SELECT value FROM
#: json_each(?))} with the list as one JSON parameter (so the SQL never changes).
InList = Callable[[Any, str], Any]


def _expanding(column: Any, name: str) -> Any:
    return column.in_(bindparam(name, expanding=True))


def _jsonEach(column: Any, name: str) -> Any:
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(name))))


class _Fast:
    """
    A statement of the batch, built once. On SQLite it is compiled once and run on the
    DB-API cursor, its parameters given as the driver takes them: SQLAlchemy spends about
    50 µs on each statement it runs, and builds and processes every row's parameters in
    Python for an C{executemany}, which together were most of a batch's cost
    (docs/PERFORMANCE.md). The values need no processing (integers, booleans, text, and
    datetimes converted once per batch with L{_bindValue}); list parameters (C{lists})
    are given as lists. On PostgreSQL, selects go through SQLAlchemy and many-row writes
    through C{exec_driver_sql}.
    """

    def __init__(self, build: Callable[[InList], Any], lists: Sequence[str] = ()) -> None:
        self._statement = build(_expanding)
        self._sqlite = build(_jsonEach) if lists else self._statement
        self._lists = tuple(lists)
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def _sql(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            statement = self._sqlite if dialect.name == "sqlite" else self._statement
            done = cast(SQLCompiler, statement.compile(dialect=dialect))
            # Every parameter must come from the caller: a literal in the statement
            # would be a bound value SQLAlchemy fills in, which this path does not.
            fixed = [name for name, bind in done.binds.items() if bind.value is not None]
            assert not fixed, f"literal values in a _Fast statement: {fixed}"
            order = tuple(done.positiontup or ()) if dialect.positional else None
            compiled = self._compiled[dialect.name] = (str(done), order)
        return compiled

    def many(self, conn: Connection, rows: Sequence[Mapping[str, object]]) -> None:
        """
        Run it once per row (C{executemany}).
        """
        sql, order = self._sql(conn.dialect)
        if order is None:
            conn.exec_driver_sql(sql, list(rows))
            return
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, [tuple(row[name] for name in order) for row in rows])
        finally:
            cursor.close()

    def all(self, conn: Connection, params: Mapping[str, object] | None = None) -> list[Any]:
        """
        Run it once; its rows (tuples).
        """
        return self._once(conn, params, True)

    def once(self, conn: Connection, params: Mapping[str, object] | None = None) -> None:
        """
        Run it once, for its effect.
        """
        self._once(conn, params, False)

    def _once(self, conn: Connection, params: Mapping[str, object] | None, rows: bool) -> list[Any]:
        if conn.dialect.name != "sqlite":
            result = conn.execute(self._statement, dict(params or {}))
            return list(result.all()) if rows else []
        sql, order = self._sql(conn.dialect)
        values = dict(params or {})
        for name in self._lists:
            values[name] = json.dumps(values[name])
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, tuple(values[name] for name in order or ()))
            return list(cursor.fetchall()) if rows else []
        finally:
            cursor.close()


_processors: dict[tuple[str, str], Callable[[Any], Any] | None] = {}


def _bindValue(dialect: Dialect, column: Any, value: object) -> object:
    """
    C{value} for C{column} as SQLAlchemy would hand it to the driver (for L{_Fast}).
    """
    key = (dialect.name, f"{column.table.name}.{column.name}")
    if key not in _processors:
        _processors[key] = column.type.dialect_impl(dialect).bind_processor(dialect)
    processor = _processors[key]
    return value if processor is None else processor(value)


# The batch's statements, built once.
_agg = s.user_aggregates
_EARLIER = _Fast(
    lambda inList: select(
        s.scores.c.clave, s.scores.c.id, s.scores.c.nuevo_record, s.scores.c.puntaje_maximo
    ).where(inList(s.scores.c.clave, "claves")),
    ["claves"],
)
_LOCK_AGGREGATES = (
    select(_agg.c.user_id)
    .where(_agg.c.user_id.in_(bindparam("ids", expanding=True)))
    .order_by(_agg.c.user_id)
    .with_for_update()
)
_AGGREGATES = _Fast(
    lambda inList: select(
        _agg.c.user_id, _agg.c.puntaje_maximo, _agg.c.partidas_jugadas, _agg.c.dia_ultimo_juego
    ).where(inList(_agg.c.user_id, "ids")),
    ["ids"],
)
_USERS = _Fast(lambda inList: select(s.users.c.id).where(inList(s.users.c.id, "ids")), ["ids"])
_SCORE_COLUMNS = ("user_id", "puntaje", "fecha", "clave", "nuevo_record", "puntaje_maximo")
_INSERT_SCORES = insert(s.scores).values({name: bindparam(name) for name in _SCORE_COLUMNS})
_INSERT_SCORES_MANY = _Fast(lambda _: _INSERT_SCORES)
_INSERT_SCORES_RETURNING = _INSERT_SCORES.returning(s.scores.c.id, sort_by_parameter_order=True)
_LAST_SCORE = _Fast(lambda _: select(func.max(s.scores.c.id)))
_PARTIDAS = _Fast(
    lambda inList: (
        select(s.partidas.c.id, s.partidas.c.cerrada, s.partidas.c.estado)
        .where(inList(s.partidas.c.id, "ids"))
        .with_for_update()
    ),
    ["ids"],
)
_INSERT_PARTIDAS = _Fast(
    lambda _: insert(s.partidas).values({name: bindparam(name) for name in CLOSED_COLUMNS})
)
_PLAYER_VALUES = {
    "partidas_jugadas": bindparam("p_games"),
    "puntaje_total": _agg.c.puntaje_total + bindparam("p_total"),
    "fecha_ultimo_juego": bindparam("p_last"),
    "dia_ultimo_juego": bindparam("p_day"),
}


def _updatePlayers(bestChanged: bool) -> _Fast:
    values = dict(_PLAYER_VALUES)
    if bestChanged:
        values.update(puntaje_maximo=bindparam("p_best"), fecha_maximo=bindparam("p_last"))
    return _Fast(lambda _: update(_agg).where(_agg.c.user_id == bindparam("p_id")).values(values))


#: Updates of the players whose best did not change (C{False}) and of those whose did.
_UPDATE_PLAYERS = {bestChanged: _updatePlayers(bestChanged) for bestChanged in (False, True)}
_TOTALS = _Fast(
    lambda _: (
        update(s.totals)
        .where(s.totals.c.id == literal_column("1"))
        .values(
            jugadores=s.totals.c.jugadores + bindparam("d_jugadores"),
            suma_mejores=s.totals.c.suma_mejores + bindparam("d_suma"),
            partidas=s.totals.c.partidas + bindparam("d_partidas"),
        )
    )
)


def _upsert(dialect: Any, table: s.Table, keyName: str) -> _Fast:
    stmt = dialect.insert(table).values({keyName: bindparam("k"), "jugadores": bindparam("d")})
    return _Fast(
        lambda _: stmt.on_conflict_do_update(
            index_elements=[table.c[keyName]],
            set_={"jugadores": table.c.jugadores + stmt.excluded.jugadores},
        )
    )


def _dropEmpty(table: s.Table, keyName: str) -> _Fast:
    return _Fast(
        lambda inList: delete(table).where(
            inList(table.c[keyName], "keys"), table.c.jugadores <= literal_column("0")
        ),
        ["keys"],
    )


#: The histograms' upserts and deletions of emptied buckets, by dialect and table.
_BUMPS = {
    (dialect.__name__.rsplit(".", 1)[-1], table.name, keyName): (
        _upsert(dialect, table, keyName),
        _dropEmpty(table, keyName),
    )
    for dialect in (sqlite, postgresql)
    for table, keyName in ((s.best_counts, "puntaje"), (s.activity_days, "dia"))
}


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
            _TOTALS.many(
                conn,
                [
                    {
                        "d_jugadores": self.jugadores,
                        "d_suma": self.sumaMejores,
                        "d_partidas": self.partidas,
                    }
                ],
            )


def _bump(conn: Connection, table: s.Table, keyName: str, deltas: Counter[int]) -> None:
    """
    Add C{deltas} (key → change) to a histogram's C{jugadores} with one upsert that
    visits the keys in order, increases and decreases alike; empty buckets go.

    One pass in key order is what keeps score nodes from deadlocking: with the increases
    and the decreases applied in two passes, a batch raising bucket 20 and lowering 10
    and another raising 10 and lowering 20 would each lock the bucket the other needs.
    """
    changes = [{"k": k, "d": d} for k, d in sorted(deltas.items()) if d != 0]
    if not changes:
        return
    dialect = "sqlite" if conn.dialect.name == "sqlite" else "postgresql"
    upsert, dropEmpty = _BUMPS[(dialect, table.name, keyName)]
    upsert.many(conn, changes)
    lowered = [row["k"] for row in changes if row["d"] < 0]
    if lowered:
        # Only rows this transaction has locked already (it just changed them).
        dropEmpty.once(conn, {"keys": lowered})


def _lockAggregates(conn: Connection, userIDs: Sequence[int]) -> None:
    """
    Make sure each user's aggregates row exists and lock the rows in id order.
    """
    if conn.dialect.name == "sqlite":
        # The whole database is locked already (BEGIN IMMEDIATE).
        return
    conn.execute(_LOCK_AGGREGATES, {"ids": sorted(set(userIDs))}).all()


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
    ids = sorted(userIDs)
    players = {
        userID: _Player(best, games, day)
        for userID, best, games, day in _AGGREGATES.all(conn, {"ids": ids})
    }
    missing = [i for i in ids if i not in players]
    if missing:
        for (userID,) in _USERS.all(conn, {"ids": missing}):
            if _ensureAggregates(conn, userID):
                players[userID] = _Player(0, 0, None)
    return players


@attrs.frozen
class _Prepared:
    """
    What a batch needs that does not depend on the database: worked out before its write
    transaction begins, so that the lock is held only for the database's work.
    """

    keys: list[str]
    userIDs: list[int]
    today: int
    #: The batch's time as the driver takes it (L{_bindValue}).
    fecha: object
    #: The rows of the partidas the batch closes, should they have none yet, by id.
    partidas: dict[str, dict[str, object]]


def _prepare(requests: Sequence[SaveRequest], now: datetime, dialect: Dialect) -> _Prepared:
    cerrada = _bindValue(dialect, s.partidas.c.cerrada, now)
    partidas = {
        r.partida.id: _partidaRow(r, cerrada, dialect) for r in requests if r.partida is not None
    }
    return _Prepared(
        sorted({r.clave for r in requests if r.clave is not None}),
        sorted({r.user_id for r in requests}),
        dayNumber(now),
        _bindValue(dialect, s.scores.c.fecha, now),
        partidas,
    )


def _partidaRow(request: SaveRequest, cerrada: object, dialect: Dialect) -> dict[str, object]:
    """
    A closed partida's row as the driver takes it (for L{_INSERT_PARTIDAS}).
    """
    partida = request.partida
    assert partida is not None
    return {
        "id": partida.id,
        "user_id": request.user_id,
        "idioma": partida.idioma,
        "seed": partida.seed,
        "emitida": _bindValue(dialect, s.partidas.c.emitida, partida.emitida),
        "modo": partida.modo,
        "cerrada": cerrada,
        "estado": PUBLICA,
        "puntaje": request.puntaje,
        "wpm": partida.wpm,
        "precision": partida.precision,
        "duracion_ms": partida.duracion_ms,
        "motivo": None,
        "regla": None,
        "eventos": partida.eventos,
    }


def _closeValues(request: SaveRequest, now: datetime) -> dict[str, Any]:
    """
    What closing an open partida row sets (a partida written at issue: a daily
    challenge's, a race's).
    """
    partida = request.partida
    assert partida is not None
    return {
        "cerrada": now,
        "estado": PUBLICA,
        "puntaje": request.puntaje,
        "wpm": partida.wpm,
        "precision": partida.precision,
        "duracion_ms": partida.duracion_ms,
        "eventos": partida.eventos,
    }


def _saveBatch(
    conn: Connection,
    requests: Sequence[SaveRequest],
    now: datetime,
    changed: list[Best] | None = None,
    prepared: _Prepared | None = None,
    notices: list[Notice] | None = None,
) -> list[SaveResult | UserNotFound | PartidaClosed]:
    """
    Store a batch set-wise: one query for the earlier saves with the same keys, one for
    the aggregates, one multi-row insert of the scores, one executemany of the aggregate
    updates, then the shared counters. The players whose best changed are added to
    C{changed}. C{prepared} is L{_prepare}'s, made before the transaction.

    A save that closes a partida (L{SaveRequest.partida}) writes it closed (or closes
    its open row), and a new record queues its notification in C{score_outbox}, added to
    C{notices}; a partida closed otherwise answers L{PartidaClosed}.
    """
    if prepared is None:
        prepared = _prepare(requests, now, conn.dialect)
    earlier: dict[str, SaveResult] = {}
    if prepared.keys:
        for clave, scoreID, nuevo, maximo in _EARLIER.all(conn, {"claves": prepared.keys}):
            earlier[clave] = SaveResult(scoreID, bool(nuevo), maximo)
    closing = [i for i in prepared.partidas if i not in earlier]
    partidas: dict[str, tuple[object, str]] = {}
    if closing:
        partidas = {
            i: (cerrada, estado) for i, cerrada, estado in _PARTIDAS.all(conn, {"ids": closing})
        }

    _lockAggregates(conn, prepared.userIDs)
    players = _loadPlayers(conn, {r.user_id for r in requests if r.clave not in earlier})
    today, fecha = prepared.today, prepared.fecha
    deltas = _Deltas()
    # Each request's answer: a result, a missing user, or the index of its new score row.
    answers: list[SaveResult | UserNotFound | PartidaClosed | tuple[int, bool, int]] = []
    rows: list[dict[str, object]] = []
    newPartidas: list[dict[str, object]] = []
    openPartidas: list[SaveRequest] = []
    records: list[SaveRequest] = []
    pendingKeys: dict[str, int] = {}

    for request in requests:
        if request.clave is not None and request.clave in earlier:
            answers.append(
                PartidaClosed(request.clave) if request.primera else earlier[request.clave]
            )
            continue
        if request.clave is not None and request.clave in pendingKeys:
            answers.append(
                PartidaClosed(request.clave)
                if request.primera
                else answers[pendingKeys[request.clave]]
            )
            continue
        player = players.get(request.user_id)
        if player is None:
            answers.append(UserNotFound(request.user_id))
            continue
        if request.partida is not None:
            found = partidas.get(request.partida.id)
            if found is None:
                newPartidas.append(prepared.partidas[request.partida.id])
            elif found[0] is None:
                openPartidas.append(request)
            elif request.primera or found[1] not in RANKED:
                answers.append(PartidaClosed(request.partida.id))
                continue
            # else closed with this result by juego-web, which could not reach juego-tcp
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
        if nuevoRecord and request.partida is not None:
            records.append(request)
        rows.append(
            {
                "user_id": request.user_id,
                "puntaje": request.puntaje,
                "fecha": fecha,
                "clave": request.clave,
                "nuevo_record": nuevoRecord,
                "puntaje_maximo": best,
            }
        )

    scoreIDs: list[int] = []
    if rows:
        scoreIDs = _insertScores(conn, rows)
        _writePlayers(conn, players, fecha, today)
    if newPartidas:
        _INSERT_PARTIDAS.many(conn, newPartidas)
    for request in openPartidas:
        assert request.partida is not None
        closeOpen(conn, request.partida.id, _closeValues(request, now))
    for request in records:
        assert request.partida is not None
        kind, payload = recordNotification(request.user_id, request.puntaje, request.partida.id)
        if request.rid is not None:
            payload[REQUEST_ID_FIELD] = request.rid
        noticeID = enqueue(conn, s.score_outbox, kind, payload, now, now + CLAIM)
        if notices is not None:
            notices.append(Notice(noticeID, payload))
    deltas.apply(conn)
    if changed is not None:
        changed.extend(
            Best(userID, p.best, now) for userID, p in sorted(players.items()) if p.bestChanged
        )

    results: list[SaveResult | UserNotFound | PartidaClosed] = []
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
        return list(conn.execute(_INSERT_SCORES_RETURNING, rows).scalars())
    _INSERT_SCORES_MANY.many(conn, rows)
    [(last,)] = _LAST_SCORE.all(conn)
    return list(range(last - len(rows) + 1, last + 1))


def _writePlayers(conn: Connection, players: dict[int, _Player], fecha: object, today: int) -> None:
    """
    Write back the aggregates of the players the batch touched (C{fecha}: the batch's
    time, as the driver takes it).
    """
    for bestChanged in (False, True):
        params = [
            {
                "p_id": userID,
                "p_games": p.games,
                "p_total": p.total,
                "p_last": fecha,
                "p_day": today,
                "p_best": p.best,
            }
            for userID, p in sorted(players.items())
            if p.touched and p.bestChanged == bestChanged
        ]
        if params:
            _UPDATE_PLAYERS[bestChanged].many(conn, params)


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


T = TypeVar("T")


@attrs.frozen
class _Removal:
    """
    What removing one score did to its player's place in the ranking.
    """

    userID: int | None = None
    #: The player has no game left (as after a reset), and the best they had, if any.
    emptied: bool = False
    old: Best | None = None
    #: The player's best (or when it was reached) changed: the cache must be rebuilt.
    lowered: bool = False


def _removeScore(conn: Connection, clave: str, deltas: _Deltas) -> _Removal:
    """
    Take one score (by its idempotency key) out of the scores and of every aggregate,
    histogram and total, as if it had never been saved.
    """
    row = conn.execute(
        select(s.scores.c.id, s.scores.c.user_id, s.scores.c.puntaje).where(
            s.scores.c.clave == clave
        )
    ).first()
    if row is None:
        return _Removal()
    userID = row.user_id
    _lockAggregates(conn, [userID])
    agg = s.user_aggregates
    before = conn.execute(select(agg).where(agg.c.user_id == userID)).one()
    if before.partidas_jugadas <= 1:
        old = _removePlayer(conn, userID, deltas)
        conn.execute(delete(s.scores).where(s.scores.c.id == row.id))
        return _Removal(userID, emptied=True, old=old)
    conn.execute(delete(s.scores).where(s.scores.c.id == row.id))
    sc = s.scores
    best, last = conn.execute(
        select(func.max(sc.c.puntaje), func.max(sc.c.fecha)).where(sc.c.user_id == userID)
    ).one()
    reached = conn.execute(
        select(func.min(sc.c.fecha)).where(sc.c.user_id == userID, sc.c.puntaje == best)
    ).scalar_one()
    day = dayNumber(last)
    if best != before.puntaje_maximo:
        deltas.bests[before.puntaje_maximo] -= 1
        deltas.bests[best] += 1
        deltas.sumaMejores += best - before.puntaje_maximo
    if day != before.dia_ultimo_juego:
        if before.dia_ultimo_juego is not None:
            deltas.days[before.dia_ultimo_juego] -= 1
        deltas.days[day] += 1
    deltas.partidas -= 1
    conn.execute(
        update(agg)
        .where(agg.c.user_id == userID)
        .values(
            puntaje_maximo=best,
            fecha_maximo=reached,
            partidas_jugadas=before.partidas_jugadas - 1,
            puntaje_total=agg.c.puntaje_total - row.puntaje,
            fecha_ultimo_juego=last,
            dia_ultimo_juego=day,
        )
    )
    lowered = best != before.puntaje_maximo or reached != before.fecha_maximo
    return _Removal(userID, lowered=lowered)


class ScoresStore:
    """
    @ivar listener: told of every change to the ranking after its commit (optional).
    """

    log = Logger()

    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool
        self.listener: RankingListener | None = None
        #: Told, after each commit, of the record notifications it queued (juego-tcp's
        #: L{juego.scores.RecordNotices}). Called in the reactor thread; must not block.
        self.onNotices: Callable[[Sequence[Notice]], None] | None = None
        #: juego-tcp's outbox, where a batch queues its record notifications.
        self.outbox = OutboxStore(pool, s.score_outbox)

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
    ) -> Deferred[list[SaveResult | UserNotFound | PartidaClosed]]:
        """
        Store several saves in one transaction (group commit). Each answer is a
        L{SaveResult}, or a L{UserNotFound} for a save naming no user, or a
        L{PartidaClosed} for one whose partida was closed otherwise (neither spoils the
        others). The whole batch is retried on a conflict. The record notifications it
        queued go to L{onNotices} after the commit.
        """

        changed: list[Best] = []
        notices: list[Notice] = []
        # The batch's time is when it reaches the store (a retry keeps it).
        when = now or utcnow()
        prepared = _prepare(requests, when, self._pool.engine.dialect)

        def work(conn: Connection) -> list[SaveResult | UserNotFound | PartidaClosed]:
            del changed[:], notices[:]  # a retried batch starts again
            return _saveBatch(conn, requests, when, changed, prepared, notices)

        def committed(
            results: list[SaveResult | UserNotFound | PartidaClosed],
        ) -> list[SaveResult | UserNotFound | PartidaClosed]:
            self._tell(changed)
            if notices and self.onNotices is not None:
                try:
                    self.onNotices(list(notices))
                except Exception:
                    self.log.failure("handing over the queued record notifications failed")
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

    def removeScore(
        self, clave: str, within: Callable[[Connection], T] | None = None
    ) -> Deferred[T | None]:
        """
        Remove the score saved with idempotency key C{clave} (an admin voided it) and
        correct every aggregate, histogram and total in one transaction, which also runs
        C{within} first (its result is the answer; it may raise to undo everything).
        Nothing to remove is fine: the result may never have been saved.
        """

        def work(conn: Connection) -> tuple[T | None, _Removal]:
            answer = within(conn) if within is not None else None
            deltas = _Deltas()
            removal = _removeScore(conn, clave, deltas)
            deltas.apply(conn)
            return answer, removal

        def committed(outcome: tuple[T | None, _Removal]) -> T | None:
            answer, removal = outcome
            listener = self.listener
            if removal.emptied and removal.userID is not None:
                self._tell((), [removal.userID], [removal.old] if removal.old else [])
            elif removal.lowered and listener is not None:
                try:
                    listener.invalidate()
                except Exception:
                    self.log.failure("the ranking listener failed")
            return answer

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
