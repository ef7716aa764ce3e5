"""
One verified result as its shareable page (C{/resultado/<partida_id>}) shows it.

Read only: which results may be shown to whom is decided here, from the partida's state
(L{juego.store.partidas}): a ranked result (public or approved) to anybody; a held or
voided one to its own player only; an open, invalid or discarded partida to nobody.
"""

from __future__ import annotations

from datetime import datetime

import attrs
from sqlalchemy import Connection, select
from twisted.internet.defer import Deferred

from juego.store import schema as s
from juego.store.partidas import RANKED, SHOWN
from juego.store.pool import DBThreadPool


@attrs.frozen
class SharedResult:
    partida_id: str
    user_id: int
    nombre: str
    estado: str
    puntaje: int
    wpm: float
    precision: float
    idioma: str
    fecha: datetime

    @property
    def public(self) -> bool:
        """
        On the public boards: anybody may see it.
        """
        return self.estado in RANKED

    def visibleTo(self, userID: int | None) -> bool:
        """
        Whether the player C{userID} (L{None}: a visitor) may see this result.
        """
        return self.public or (userID is not None and userID == self.user_id)


class ResultsStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def shown(self, partidaID: str) -> Deferred[SharedResult | None]:
        """
        The verified result of a closed partida that some player may see (ranked, held
        or voided), or L{None}: unknown, still open, invalid or discarded.
        """

        def work(conn: Connection) -> SharedResult | None:
            p, u = s.partidas, s.users
            row = conn.execute(
                select(
                    p.c.id,
                    p.c.user_id,
                    u.c.nombre,
                    p.c.estado,
                    p.c.puntaje,
                    p.c.wpm,
                    p.c.precision,
                    p.c.idioma,
                    p.c.cerrada,
                )
                .select_from(p.join(u, u.c.id == p.c.user_id))
                .where(p.c.id == partidaID, p.c.estado.in_(SHOWN), p.c.cerrada.is_not(None))
            ).first()
            if row is None:
                return None
            return SharedResult(
                partida_id=row.id,
                user_id=row.user_id,
                nombre=row.nombre,
                estado=row.estado,
                puntaje=row.puntaje or 0,
                wpm=row.wpm or 0.0,
                precision=row.precision or 0.0,
                idioma=row.idioma,
                fecha=row.cerrada,
            )

        return self._pool.read(work)
