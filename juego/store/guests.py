"""
Partidas played without an account (guests), and their claim.

A guest is a browser: its guest cookie's SHA-256 owns its partidas. A verified result
(C{publica}, or held: C{en_revision}) waits here; when an account signs up or logs in from
that browser within the partida's lifetime, L{GuestsStore.claim} copies each such result
into C{partidas} under that account and queues a public one for juego-tcp as a released
held result is queued (L{juego.store.partidas.PartidasStore.release}), in one transaction
and once: a row claimed is marked, and the partida's id is the key of its copy and of its
score.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs
from sqlalchemy import Connection, delete, insert, select, update
from twisted.internet.defer import Deferred

from juego.model import _aware, _aware_required
from juego.store import schema as s
from juego.store.partidas import EN_REVISION, PUBLICA, Verified, _enqueue
from juego.store.pool import DBThreadPool

ABIERTA = "abierta"
#: The states of a guest's result that an account may claim.
CLAIMABLE = (PUBLICA, EN_REVISION)

PayloadMaker = Callable[[int, int, str], dict[str, Any]]


@attrs.frozen
class GuestPartida:
    id: str
    #: The SHA-256 (hex) of the guest cookie that owns it.
    invitado: str
    idioma: str
    seed: int
    modo: str
    emitida: datetime = attrs.field(converter=_aware_required)
    cerrada: datetime | None = attrs.field(default=None, converter=_aware)


@attrs.frozen
class Claimed:
    """
    A guest's result now saved to an account: its partida id, and for a public one the
    outbox row and payload that hand it to juego-tcp (C{None} for a held one).
    """

    partida_id: str
    estado: str
    outbox_id: int | None
    payload: dict[str, Any] | None


class GuestsStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def create(self, partida: GuestPartida) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(
                insert(s.partidas_invitado).values(
                    id=partida.id,
                    invitado=partida.invitado,
                    idioma=partida.idioma,
                    seed=partida.seed,
                    modo=partida.modo,
                    emitida=partida.emitida,
                    estado=ABIERTA,
                )
            )

        return self._pool.write(work)

    def get(self, partidaID: str) -> Deferred[GuestPartida | None]:
        def work(conn: Connection) -> GuestPartida | None:
            g = s.partidas_invitado
            row = conn.execute(
                select(
                    g.c.id, g.c.invitado, g.c.idioma, g.c.seed, g.c.modo, g.c.emitida, g.c.cerrada
                ).where(g.c.id == partidaID)
            ).first()
            return None if row is None else GuestPartida(**row._mapping)

        return self._pool.read(work)

    def close(
        self,
        partidaID: str,
        now: datetime,
        estado: str,
        result: Verified | None = None,
        motivo: str | None = None,
        regla: str | None = None,
    ) -> Deferred[bool]:
        """
        Close an open guest partida in C{estado}, with its verified C{result} if it has
        one; C{False} if it was closed already.
        """
        values: dict[str, Any] = {
            "cerrada": now,
            "estado": estado,
            "motivo": motivo,
            "regla": regla,
        }
        if result is not None:
            values.update(result.values())

        def work(conn: Connection) -> bool:
            g = s.partidas_invitado
            return (
                conn.execute(
                    update(g).where(g.c.id == partidaID, g.c.cerrada.is_(None)).values(values)
                ).rowcount
                == 1
            )

        return self._pool.write(work)

    def claim(
        self,
        invitado: str,
        userID: int,
        since: datetime,
        now: datetime,
        kind: str,
        makePayload: PayloadMaker,
        proximo: datetime,
    ) -> Deferred[list[Claimed]]:
        """
        Save to account C{userID} the guest C{invitado}'s verified results of partidas
        issued since C{since} and not claimed yet: each becomes the account's partida
        (same id, state, figures and evidence), and a public one is queued for juego-tcp
        (C{kind}, C{makePayload}) in the same transaction. None when there is nothing
        (left) to claim.
        """

        def work(conn: Connection) -> list[Claimed]:
            g = s.partidas_invitado
            rows = conn.execute(
                select(g)
                .where(
                    g.c.invitado == invitado,
                    g.c.reclamada_por.is_(None),
                    g.c.estado.in_(CLAIMABLE),
                    g.c.emitida >= since,
                )
                .order_by(g.c.cerrada, g.c.id)
            ).all()
            claimed = []
            for row in rows:
                won = conn.execute(
                    update(g)
                    .where(g.c.id == row.id, g.c.reclamada_por.is_(None))
                    .values(reclamada_por=userID, reclamada=now)
                ).rowcount
                if not won:
                    continue
                conn.execute(
                    insert(s.partidas).values(
                        id=row.id,
                        user_id=userID,
                        idioma=row.idioma,
                        seed=row.seed,
                        modo=row.modo,
                        emitida=row.emitida,
                        cerrada=row.cerrada,
                        estado=row.estado,
                        puntaje=row.puntaje,
                        wpm=row.wpm,
                        precision=row.precision,
                        duracion_ms=row.duracion_ms,
                        motivo=row.motivo,
                        regla=row.regla,
                        eventos=row.eventos,
                    )
                )
                if row.estado == PUBLICA:
                    payload = makePayload(userID, row.puntaje, row.id)
                    outboxID = _enqueue(conn, kind, payload, now, proximo)
                    claimed.append(Claimed(row.id, row.estado, outboxID, payload))
                else:
                    claimed.append(Claimed(row.id, row.estado, None, None))
            return claimed

        return self._pool.write(work)

    def purgeStale(self, before: datetime) -> Deferred[None]:
        """
        Drop guest partidas issued before C{before}: their claim lapsed long ago.
        """

        def work(conn: Connection) -> None:
            g = s.partidas_invitado
            conn.execute(delete(g).where(g.c.emitida < before))

        return self._pool.write(work)
