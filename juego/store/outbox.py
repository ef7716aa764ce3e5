"""
Outboxes: work for another service, kept in the database until that service confirms it.

Two tables have this shape: juego-web's C{outbox} (scores juego-tcp could not take at
once, results released later, and their notifications) and juego-tcp's C{score_outbox}
(the record notifications its group commit queues for juego-dist). A row is I{claimed} by
moving its C{proximo} into the future: whoever moved it owns it until then, so several
processes can drain one outbox.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update
from twisted.internet.defer import Deferred

from juego.store import schema as s
from juego.store.pool import DBThreadPool

SAVE_SCORE = "save_score"
ADD_NOTIFICATION = "add_notification"

#: How long a request or a drain pass owns a row it is sending.
CLAIM = timedelta(seconds=5)


def recordMessage(puntaje: int) -> str:
    return f"¡Nuevo récord personal: {puntaje} puntos!"


def recordNotification(userID: int, puntaje: int, partidaID: str) -> tuple[str, dict[str, Any]]:
    """
    The outbox work that tells a player about a new personal best, keyed by the partida
    so that a retried delivery is stored (and pushed) once.
    """
    return ADD_NOTIFICATION, {
        "user_id": userID,
        "message": recordMessage(puntaje),
        "type": "success",
        "idempotency_key": f"record:{partidaID}",
    }


@attrs.frozen
class OutboxItem:
    id: int
    kind: str
    payload: dict[str, Any]
    intentos: int


def enqueue(
    conn: Connection,
    table: Table,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    proximo: datetime,
) -> int:
    """
    Queue C{payload} in C{table} (in the caller's transaction); its row id.
    """
    return conn.execute(
        _ENQUEUE[table.name],
        {
            "kind": kind,
            "payload": json.dumps(payload, ensure_ascii=False),
            "creado": now,
            "intentos": 0,
            "proximo": proximo,
        },
    ).scalar_one()


#: Each outbox table's insert, built once (building a statement costs more than running it).
_ENQUEUE = {table.name: insert(table).returning(table.c.id) for table in s.OUTBOXES}


class OutboxStore:
    """
    One outbox table.
    """

    def __init__(self, pool: DBThreadPool, table: Table) -> None:
        self._pool = pool
        self.table = table
        assert table.name in _ENQUEUE, table.name
        self._done = delete(table).where(table.c.id == bindparam("outbox"))

    def enqueue(
        self, kind: str, payload: dict[str, Any], now: datetime, proximo: datetime
    ) -> Deferred[int]:
        return self._pool.write(enqueue, self.table, kind, payload, now, proximo)

    def claimDue(
        self, now: datetime, leaseUntil: datetime, limit: int = 50
    ) -> Deferred[list[OutboxItem]]:
        """
        Claim up to C{limit} rows due by C{now} (first queued first) until C{leaseUntil}.
        A look first, in a read: an empty outbox (the usual case) costs no write
        transaction, so an idle drain loop takes no write lock.
        """
        o = self.table
        due = select(o.c.id, o.c.kind, o.c.payload, o.c.intentos, o.c.proximo).where(
            o.c.proximo <= now
        )

        def look(conn: Connection) -> bool:
            return conn.execute(due.with_only_columns(o.c.id).limit(1)).first() is not None

        def claim(conn: Connection) -> list[OutboxItem]:
            rows = conn.execute(due.order_by(o.c.id).limit(limit)).all()
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

        def claimIfAny(found: bool) -> Deferred[list[OutboxItem]] | list[OutboxItem]:
            return self._pool.write(claim) if found else []

        return self._pool.read(look).addCallback(claimIfAny)

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
            conn.execute(self._done, {"outbox": outboxID})
            if followUp is None:
                return None
            assert now is not None and proximo is not None
            kind, payload = followUp
            return enqueue(conn, self.table, kind, payload, now, proximo)

        return self._pool.write(work)

    def completeMany(self, outboxIDs: Sequence[int]) -> Deferred[None]:
        """
        The service confirmed these rows: delete them, in one transaction.
        """

        def work(conn: Connection) -> None:
            conn.execute(self._done, [{"outbox": i} for i in outboxIDs])

        return self._pool.write(work)

    def retryLater(self, outboxID: int, intentos: int, proximo: datetime) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(
                update(self.table)
                .where(self.table.c.id == outboxID)
                .values(intentos=intentos, proximo=proximo)
            )

        return self._pool.write(work)

    def depth(self) -> Deferred[int]:
        """
        How many rows wait (for the outbox gauges).
        """

        def work(conn: Connection) -> int:
            return conn.execute(select(func.count()).select_from(self.table)).scalar_one()

        return self._pool.read(work)

    def pending(self, kinds: Sequence[str] | None = None) -> Deferred[list[OutboxItem]]:
        """
        Every row (for tests and operators).
        """
        o = self.table

        def work(conn: Connection) -> list[OutboxItem]:
            query = select(o.c.id, o.c.kind, o.c.payload, o.c.intentos).order_by(o.c.id)
            if kinds is not None:
                query = query.where(o.c.kind.in_(list(kinds)))
            return [
                OutboxItem(r.id, r.kind, json.loads(r.payload), r.intentos)
                for r in conn.execute(query)
            ]

        return self._pool.read(work)
