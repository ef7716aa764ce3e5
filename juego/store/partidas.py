"""
Partidas and the web outbox (owned by juego-web).

A partida is issued open, and closed once with its verified result (and the keystrokes,
the evidence): C{publica}, its score queued for juego-tcp in the same transaction, so that
an accepted score is never lost; or C{en_revision}, held (L{juego.game.plausibility}) and
sent nowhere until an admin approves it or the player certifies that speed (then
C{aprobada} and queued like a public one); or C{invalida} with the broken rule. An admin
may void a held or ranked result: C{anulada} (see L{juego.store.scores.ScoresStore.removeScore}).

The outbox holds work for the other services (C{save_score}, C{add_notification}) until
they confirm it. A row is I{claimed} by moving its C{proximo} into the future: whoever
moved it owns it until then, so several web processes can drain one outbox.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs
from sqlalchemy import Connection, Insert, Update, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from twisted.internet.defer import Deferred

from juego.model import GameRecord, Partida
from juego.store import schema as s
from juego.store.outbox import OutboxItem, OutboxStore, enqueue
from juego.store.pool import DBThreadPool

ABIERTA = "abierta"
PUBLICA = "publica"
EN_REVISION = "en_revision"
APROBADA = "aprobada"
ANULADA = "anulada"
INVALIDA = "invalida"
#: Stopped before any word ended: closed, and counted nowhere.
DESCARTADA = "descartada"

#: The states whose score is (or is on its way to be) in juego-tcp's aggregates.
RANKED = (PUBLICA, APROBADA)
#: The states a player sees in their own history.
SHOWN = (PUBLICA, EN_REVISION, APROBADA, ANULADA)

#: Builds the outbox payload that hands a result to juego-tcp:
#: C{(user_id, puntaje, partida_id) -> payload}.
PayloadMaker = Callable[[int, int, str], dict[str, Any]]


@attrs.frozen
class Verified:
    """
    The verified result a saved partida keeps.
    """

    puntaje: int
    wpm: float
    precision: float
    duracion_ms: int
    #: The verified events with their keystrokes (JSON-ready), kept for replays.
    eventos: list[dict[str, Any]] | None = None

    def values(self) -> dict[str, Any]:
        return {
            "puntaje": self.puntaje,
            "wpm": self.wpm,
            "precision": self.precision,
            "duracion_ms": self.duracion_ms,
            "eventos": None
            if self.eventos is None
            else json.dumps(self.eventos, separators=(",", ":")),
        }


@attrs.frozen
class HeldResult:
    """
    A result held for review or certification, as the admin queue (and the certification
    test) see it.
    """

    partida_id: str
    user_id: int
    nombre: str
    idioma: str
    puntaje: int
    wpm: float
    precision: float
    motivo: str
    regla: str | None
    cerrada: datetime


class NotVoidable(Exception):
    """
    The partida is not a held or ranked result (open, invalid, voided already).
    """


class DeliveryInFlight(Exception):
    """
    The result is being handed to juego-tcp right now: void it once that is over.
    """


# The statements of the verified-score path, built once: building a statement costs
# SQLAlchemy more than running it.
_PARTIDA = select(s.partidas).where(s.partidas.c.id == bindparam("partida"))
_ESTADO = select(s.partidas.c.estado).where(s.partidas.c.id == bindparam("partida"))


def _partida(row: Any) -> Partida:
    return Partida(
        id=row.id,
        user_id=row.user_id,
        idioma=row.idioma,
        seed=row.seed,
        emitida=row.emitida,
        cerrada=row.cerrada,
        modo=row.modo,
    )


def _enqueue(
    conn: Connection, kind: str, payload: dict[str, Any], now: datetime, proximo: datetime
) -> int:
    return enqueue(conn, s.outbox, kind, payload, now, proximo)


def insertPartida(conn: Connection, partida: Partida) -> None:
    """
    Write a newly issued partida (open).
    """
    conn.execute(
        insert(s.partidas).values(
            id=partida.id,
            user_id=partida.user_id,
            idioma=partida.idioma,
            seed=partida.seed,
            emitida=partida.emitida,
            estado=ABIERTA,
            modo=partida.modo,
        )
    )


def _close(conn: Connection, partida: Partida, values: dict[str, Any]) -> bool:
    """
    Close C{partida} with C{values}: its open row (one written at issue: a daily
    challenge's, a race's), or, for a partida issued as a token, a new row written closed.
    C{False}, and nothing written, if it was closed already.
    """
    if closeOpen(conn, partida.id, values):
        return True
    params = {**_identity(partida), **values}
    # all(), not first(): on SQLite a RETURNING statement must run to its end.
    return bool(conn.execute(_insertClosed(conn.dialect.name), params).all())


def closeOpen(conn: Connection, partidaID: str, values: dict[str, Any]) -> bool:
    """
    Close the open row of a partida with C{values}; C{False} if it has none.
    """
    params = {"partida": partidaID, **values}
    return conn.execute(_closeStatement(tuple(sorted(values))), params).rowcount == 1


def _identity(partida: Partida) -> dict[str, Any]:
    """
    The columns a partida has from its issue.
    """
    return {
        "id": partida.id,
        "user_id": partida.user_id,
        "idioma": partida.idioma,
        "seed": partida.seed,
        "emitida": partida.emitida,
        "modo": partida.modo,
    }


#: Every column a closed partida may have.
CLOSED_COLUMNS = (
    "id", "user_id", "idioma", "seed", "emitida", "modo", "cerrada", "estado", "puntaje",
    "wpm", "precision", "duracion_ms", "motivo", "regla", "eventos",
)  # fmt: skip


@functools.cache
def _insertClosed(dialect: str) -> Insert:
    """
    Write a closed partida that has no row yet; nothing if it has one (closed by then).
    """
    insertion = (sqlite if dialect == "sqlite" else postgresql).insert(s.partidas)
    values: dict[str, Any] = {name: bindparam(name, required=False) for name in CLOSED_COLUMNS}
    # RETURNING tells whether a row was written (the rowcount of an upsert is not
    # reliable on every driver).
    return (
        insertion.values(values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(s.partidas.c.id)
    )


@functools.cache
def _closeStatement(columns: tuple[str, ...]) -> Update:
    """
    Close an open partida, setting C{columns}: one statement per set of columns.
    """
    return (
        update(s.partidas)
        .where(s.partidas.c.id == bindparam("partida"), s.partidas.c.cerrada.is_(None))
        .values({column: bindparam(column) for column in columns})
    )


class PartidasStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool
        #: juego-web's outbox (L{juego.store.outbox}).
        self.outbox = OutboxStore(pool, s.outbox)

    # Partidas

    def create(self, partida: Partida) -> Deferred[None]:
        return self._pool.write(insertPartida, partida)

    def get(self, partidaID: str) -> Deferred[Partida | None]:
        def work(conn: Connection) -> Partida | None:
            row = conn.execute(_PARTIDA, {"partida": partidaID}).first()
            return None if row is None else _partida(row)

        return self._pool.read(work)

    def closeInvalid(self, partida: Partida, now: datetime, motivo: str) -> Deferred[bool]:
        """
        Close an open partida as invalid; C{False} if it was closed already.
        """
        values = {"cerrada": now, "estado": INVALIDA, "motivo": motivo}
        return self._pool.write(_close, partida, values)

    def closeDiscarded(self, partida: Partida, now: datetime) -> Deferred[bool]:
        """
        Close an open partida that ended before any word did: it counts nowhere (no score,
        no stat, not in the player's games). C{False} if it was closed already.
        """
        return self._pool.write(_close, partida, {"cerrada": now, "estado": DESCARTADA})

    def closeSaved(
        self,
        partida: Partida,
        now: datetime,
        result: Verified,
        kind: str,
        payload: dict[str, Any],
        proximo: datetime,
    ) -> Deferred[int | None]:
        """
        Close an open partida with its verified result and queue C{payload} (its hand-over
        to juego-tcp) in the outbox, in one transaction: what juego-web does when juego-tcp
        cannot take the result at once. A partida juego-tcp closed already with this
        result (its answer was lost on the way) is queued all the same: juego-tcp answers
        the second hand-over by its key. The outbox row's id, or C{None} (and nothing
        written) if the partida was closed otherwise.
        """
        values = {"cerrada": now, "estado": PUBLICA, **result.values()}

        def work(conn: Connection) -> int | None:
            if not _close(conn, partida, values):
                estado = conn.execute(_ESTADO, {"partida": partida.id}).scalar_one_or_none()
                if estado != PUBLICA:
                    return None
            return _enqueue(conn, kind, payload, now, proximo)

        return self._pool.write(work)

    def closeHeld(
        self, partida: Partida, now: datetime, result: Verified, motivo: str, regla: str | None
    ) -> Deferred[bool]:
        """
        Close an open partida with a verified result held for review or certification
        (nothing is queued: it goes nowhere until released); C{False} if it was closed
        already.
        """
        values = {
            "cerrada": now,
            "estado": EN_REVISION,
            "motivo": motivo,
            "regla": regla,
            **result.values(),
        }
        return self._pool.write(_close, partida, values)

    def games(self, userID: int, limit: int = 20) -> Deferred[list[GameRecord]]:
        """
        A player's last verified games (held and voided ones included, with their state),
        newest first.
        """

        def work(conn: Connection) -> list[GameRecord]:
            p = s.partidas
            rows = conn.execute(
                select(
                    p.c.id, p.c.cerrada, p.c.puntaje, p.c.wpm, p.c.precision, p.c.idioma, p.c.estado
                )
                .where(p.c.user_id == userID, p.c.estado.in_(SHOWN))
                .order_by(p.c.cerrada.desc(), p.c.id)
                .limit(limit)
            )
            return [
                GameRecord(
                    r.id,
                    r.cerrada,
                    r.puntaje,
                    r.wpm or 0.0,
                    r.precision or 0.0,
                    r.idioma,
                    r.estado,
                )
                for r in rows
            ]

        return self._pool.read(work)

    def eventos(self, partidaID: str) -> Deferred[list[dict[str, Any]] | None]:
        """
        The verified events (keystrokes included) a closed partida keeps, for replays.
        """

        def work(conn: Connection) -> list[dict[str, Any]] | None:
            raw = conn.execute(
                select(s.partidas.c.eventos).where(s.partidas.c.id == partidaID)
            ).scalar_one_or_none()
            return None if raw is None else json.loads(raw)

        return self._pool.read(work)

    # Held results

    def held(
        self, userID: int | None = None, motivo: str | None = None, limit: int = 500
    ) -> Deferred[list[HeldResult]]:
        """
        Results held (C{en_revision}), oldest first: a player's (or everybody's), for one
        C{motivo} (C{revision}, C{certificacion}) or any.
        """

        def work(conn: Connection) -> list[HeldResult]:
            p, u = s.partidas, s.users
            query = (
                select(
                    p.c.id,
                    p.c.user_id,
                    u.c.nombre,
                    p.c.idioma,
                    p.c.puntaje,
                    p.c.wpm,
                    p.c.precision,
                    p.c.motivo,
                    p.c.regla,
                    p.c.cerrada,
                )
                .select_from(p.join(u, u.c.id == p.c.user_id))
                .where(p.c.estado == EN_REVISION)
                .order_by(p.c.cerrada, p.c.id)
                .limit(limit)
            )
            if userID is not None:
                query = query.where(p.c.user_id == userID)
            if motivo is not None:
                query = query.where(p.c.motivo == motivo)
            return [
                HeldResult(
                    r.id,
                    r.user_id,
                    r.nombre,
                    r.idioma,
                    r.puntaje,
                    r.wpm or 0.0,
                    r.precision or 0.0,
                    r.motivo,
                    r.regla,
                    r.cerrada,
                )
                for r in conn.execute(query)
            ]

        return self._pool.read(work)

    def release(
        self,
        kind: str,
        makePayload: PayloadMaker,
        now: datetime,
        proximo: datetime,
        partidaID: str | None = None,
        userID: int | None = None,
        upToWpm: float | None = None,
        motivo: str | None = None,
    ) -> Deferred[list[tuple[str, int, dict[str, Any]]]]:
        """
        Release held results (C{aprobada}) and queue each for juego-tcp as a public one
        is, in one transaction: one partida (an admin's approval), or a player's held for
        C{motivo} up to C{upToWpm} (a passed certification test). Each released partida's
        id, outbox row id and payload; none when nothing matched (released already, say).
        """

        def work(conn: Connection) -> list[tuple[str, int, dict[str, Any]]]:
            p = s.partidas
            query = select(p.c.id, p.c.user_id, p.c.puntaje).where(p.c.estado == EN_REVISION)
            if partidaID is not None:
                query = query.where(p.c.id == partidaID)
            if userID is not None:
                query = query.where(p.c.user_id == userID)
            if upToWpm is not None:
                query = query.where(p.c.wpm <= upToWpm)
            if motivo is not None:
                query = query.where(p.c.motivo == motivo)
            released = []
            for row in conn.execute(query.order_by(p.c.cerrada, p.c.id)).all():
                won = conn.execute(
                    update(p)
                    .where(p.c.id == row.id, p.c.estado == EN_REVISION)
                    .values(estado=APROBADA)
                ).rowcount
                if not won:
                    continue
                payload = makePayload(row.user_id, row.puntaje, row.id)
                released.append((row.id, _enqueue(conn, kind, payload, now, proximo), payload))
            return released

        return self._pool.write(work)

    def voidWork(self, kind: str, now: datetime) -> Callable[[Connection, str], str]:
        """
        The partidas' half of voiding a result, to run in the transaction that removes its
        score (L{juego.store.scores.ScoresStore.removeScore}): mark it C{anulada} and drop
        its score's pending delivery. Answers the state it had; raises L{NotVoidable}, or
        L{DeliveryInFlight} while a delivery of it is under way.
        """

        def work(conn: Connection, partidaID: str) -> str:
            p, o = s.partidas, s.outbox
            # Locked (PostgreSQL; SQLite's whole database is) so that an approval racing
            # this void waits for it, then finds the partida no longer held.
            estado = conn.execute(
                select(p.c.estado).where(p.c.id == partidaID).with_for_update()
            ).scalar_one_or_none()
            if estado not in (EN_REVISION, *RANKED):
                raise NotVoidable(estado)
            if estado in RANKED:
                for row in conn.execute(
                    select(o.c.id, o.c.payload, o.c.proximo).where(o.c.kind == kind)
                ).all():
                    if json.loads(row.payload).get("partida_id") != partidaID:
                        continue
                    if row.proximo > now:
                        raise DeliveryInFlight(partidaID)
                    # A drain pass that claimed the row since it was read moved its
                    # proximo: then it is being delivered, and nothing is voided.
                    dropped = conn.execute(
                        delete(o).where(o.c.id == row.id, o.c.proximo == row.proximo)
                    ).rowcount
                    if not dropped:
                        raise DeliveryInFlight(partidaID)
            conn.execute(update(p).where(p.c.id == partidaID).values(estado=ANULADA))
            return estado

        return work

    def forgetGames(self, userID: int) -> Deferred[None]:
        """
        Drop a player's closed partidas (their scores were reset).
        """

        def work(conn: Connection) -> None:
            conn.execute(
                delete(s.partidas).where(
                    s.partidas.c.user_id == userID, s.partidas.c.cerrada.is_not(None)
                )
            )

        return self._pool.write(work)

    def purgeStale(self, before: datetime) -> Deferred[None]:
        """
        Drop partidas issued before C{before} and never played.
        """

        def work(conn: Connection) -> None:
            conn.execute(
                delete(s.partidas).where(
                    s.partidas.c.cerrada.is_(None), s.partidas.c.emitida < before
                )
            )

        return self._pool.write(work)

    # Outbox

    def enqueue(
        self, kind: str, payload: dict[str, Any], now: datetime, proximo: datetime
    ) -> Deferred[int]:
        return self.outbox.enqueue(kind, payload, now, proximo)

    def claimDue(
        self, now: datetime, leaseUntil: datetime, limit: int = 50
    ) -> Deferred[list[OutboxItem]]:
        return self.outbox.claimDue(now, leaseUntil, limit)

    def complete(
        self,
        outboxID: int,
        followUp: tuple[str, dict[str, Any]] | None = None,
        now: datetime | None = None,
        proximo: datetime | None = None,
    ) -> Deferred[int | None]:
        return self.outbox.complete(outboxID, followUp, now, proximo)

    def retryLater(self, outboxID: int, intentos: int, proximo: datetime) -> Deferred[None]:
        return self.outbox.retryLater(outboxID, intentos, proximo)

    def outboxDepth(self) -> Deferred[int]:
        """
        How many rows wait in the outbox (for the C{juego_outbox_depth} gauge).
        """
        return self.outbox.depth()

    def pending(self, kinds: Sequence[str] | None = None) -> Deferred[list[OutboxItem]]:
        return self.outbox.pending(kinds)
