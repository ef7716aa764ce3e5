"""
Partidas and the web outbox (owned by juego-web).

A partida is issued open, and closed once: C{guardada} with its verified result, or
C{invalida} with the broken rule. Closing a saved game and queueing its score for
juego-tcp happen in one transaction, so that an accepted score is never lost.

The outbox holds work for the other services (C{save_score}, C{add_notification}) until
they confirm it. A row is I{claimed} by moving its C{proximo} into the future: whoever
moved it owns it until then, so several web processes can drain one outbox.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
from sqlalchemy import Connection, Update, bindparam, delete, func, insert, select, update
from twisted.internet.defer import Deferred

from juego.model import GameRecord, Partida
from juego.store import schema as s
from juego.store.pool import DBThreadPool

ABIERTA = "abierta"
GUARDADA = "guardada"
INVALIDA = "invalida"


@attrs.frozen
class Verified:
    """
    The verified result a saved partida keeps.
    """

    puntaje: int
    wpm: float
    precision: float
    duracion_ms: int


@attrs.frozen
class OutboxItem:
    id: int
    kind: str
    payload: dict[str, Any]
    intentos: int


# The statements of the verified-score path, built once: building a statement costs
# SQLAlchemy more than running it.
_PARTIDA = select(s.partidas).where(s.partidas.c.id == bindparam("partida"))
_ENQUEUE = insert(s.outbox).returning(s.outbox.c.id)
_DONE = delete(s.outbox).where(s.outbox.c.id == bindparam("outbox"))


def _partida(row: Any) -> Partida:
    return Partida(
        id=row.id,
        user_id=row.user_id,
        idioma=row.idioma,
        seed=row.seed,
        emitida=row.emitida,
        cerrada=row.cerrada,
    )


def _enqueue(
    conn: Connection, kind: str, payload: dict[str, Any], now: datetime, proximo: datetime
) -> int:
    return conn.execute(
        _ENQUEUE,
        {
            "kind": kind,
            "payload": json.dumps(payload, ensure_ascii=False),
            "creado": now,
            "intentos": 0,
            "proximo": proximo,
        },
    ).scalar_one()


def _close(conn: Connection, partidaID: str, values: dict[str, Any]) -> bool:
    result = conn.execute(_closeStatement(tuple(sorted(values))), {"partida": partidaID, **values})
    return result.rowcount == 1


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

    # Partidas

    def create(self, partida: Partida) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(
                insert(s.partidas).values(
                    id=partida.id,
                    user_id=partida.user_id,
                    idioma=partida.idioma,
                    seed=partida.seed,
                    emitida=partida.emitida,
                    estado=ABIERTA,
                )
            )

        return self._pool.write(work)

    def get(self, partidaID: str) -> Deferred[Partida | None]:
        def work(conn: Connection) -> Partida | None:
            row = conn.execute(_PARTIDA, {"partida": partidaID}).first()
            return None if row is None else _partida(row)

        return self._pool.read(work)

    def closeInvalid(self, partidaID: str, now: datetime, motivo: str) -> Deferred[bool]:
        """
        Close an open partida as invalid; C{False} if it was closed already.
        """
        values = {"cerrada": now, "estado": INVALIDA, "motivo": motivo}
        return self._pool.write(_close, partidaID, values)

    def closeSaved(
        self,
        partidaID: str,
        now: datetime,
        result: Verified,
        kind: str,
        payload: dict[str, Any],
        proximo: datetime,
    ) -> Deferred[int | None]:
        """
        Close an open partida with its verified result and queue C{payload} in the outbox,
        in one transaction. The outbox row's id, or C{None} (and nothing written) if the
        partida was closed already.
        """
        values = {
            "cerrada": now,
            "estado": GUARDADA,
            "puntaje": result.puntaje,
            "wpm": result.wpm,
            "precision": result.precision,
            "duracion_ms": result.duracion_ms,
        }

        def work(conn: Connection) -> int | None:
            if not _close(conn, partidaID, values):
                return None
            return _enqueue(conn, kind, payload, now, proximo)

        return self._pool.write(work)

    def games(self, userID: int, limit: int = 20) -> Deferred[list[GameRecord]]:
        """
        A player's last saved games, newest first.
        """

        def work(conn: Connection) -> list[GameRecord]:
            p = s.partidas
            rows = conn.execute(
                select(p.c.id, p.c.cerrada, p.c.puntaje, p.c.wpm, p.c.precision, p.c.idioma)
                .where(p.c.user_id == userID, p.c.estado == GUARDADA)
                .order_by(p.c.cerrada.desc(), p.c.id)
                .limit(limit)
            )
            return [
                GameRecord(r.id, r.cerrada, r.puntaje, r.wpm or 0.0, r.precision or 0.0, r.idioma)
                for r in rows
            ]

        return self._pool.read(work)

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
        return self._pool.write(_enqueue, kind, payload, now, proximo)

    def claimDue(
        self, now: datetime, leaseUntil: datetime, limit: int = 50
    ) -> Deferred[list[OutboxItem]]:
        """
        Claim up to C{limit} rows due by C{now} (first queued first) until C{leaseUntil}.
        """

        def work(conn: Connection) -> list[OutboxItem]:
            o = s.outbox
            rows = conn.execute(
                select(o.c.id, o.c.kind, o.c.payload, o.c.intentos, o.c.proximo)
                .where(o.c.proximo <= now)
                .order_by(o.c.id)
                .limit(limit)
            ).all()
            claimed = []
            for row in rows:
                won = conn.execute(
                    update(o)
                    .where(o.c.id == row.id, o.c.proximo == row.proximo)
                    .values(proximo=leaseUntil)
                ).rowcount
                if won:
                    claimed.append(
                        OutboxItem(row.id, row.kind, json.loads(row.payload), row.intentos)
                    )
            return claimed

        return self._pool.write(work)

    def complete(
        self,
        outboxID: int,
        followUp: tuple[str, dict[str, Any]] | None = None,
        now: datetime | None = None,
        proximo: datetime | None = None,
    ) -> Deferred[int | None]:
        """
        The service confirmed this row: delete it and, in the same transaction, queue
        C{followUp} (due at C{proximo}). The follow-up's id, if any.
        """

        def work(conn: Connection) -> int | None:
            conn.execute(_DONE, {"outbox": outboxID})
            if followUp is None:
                return None
            assert now is not None and proximo is not None
            kind, payload = followUp
            return _enqueue(conn, kind, payload, now, proximo)

        return self._pool.write(work)

    def retryLater(self, outboxID: int, intentos: int, proximo: datetime) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(
                update(s.outbox)
                .where(s.outbox.c.id == outboxID)
                .values(intentos=intentos, proximo=proximo)
            )

        return self._pool.write(work)

    def outboxDepth(self) -> Deferred[int]:
        """
        How many rows wait in the outbox (for the C{juego_outbox_depth} gauge).
        """

        def work(conn: Connection) -> int:
            return conn.execute(select(func.count()).select_from(s.outbox)).scalar_one()

        return self._pool.read(work)

    def pending(self, kinds: Sequence[str] | None = None) -> Deferred[list[OutboxItem]]:
        """
        Every row in the outbox (for tests and operators).
        """

        def work(conn: Connection) -> list[OutboxItem]:
            o = s.outbox
            query = select(o.c.id, o.c.kind, o.c.payload, o.c.intentos).order_by(o.c.id)
            if kinds is not None:
                query = query.where(o.c.kind.in_(list(kinds)))
            return [
                OutboxItem(r.id, r.kind, json.loads(r.payload), r.intentos)
                for r in conn.execute(query)
            ]

        return self._pool.read(work)
