"""
The game modes' own data: the daily challenge's attempts (one per player, UTC day and
language, written when the partida is issued) and the closing of practice games, which
keep their verified result for their player's eyes only (no score, no stat, no board).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from juego.model import Partida
from juego.store import schema as s
from juego.store.partidas import Verified, _close, insertPartida
from juego.store.pool import DBThreadPool

#: A practice game's closed state: never ranked, never shown among the player's games.
PRACTICA = "practica"


class AlreadyPlayed(Exception):
    """
    The player has had today's daily challenge in that language already.
    """


class ModesStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def issueDaily(self, partida: Partida, dia: str) -> Deferred[None]:
        """
        Record the player's attempt at the daily challenge of C{dia} (ISO UTC day) in the
        partida's language and write the partida, in one transaction; L{AlreadyPlayed}
        (and nothing written) if that attempt exists.
        """

        def work(conn: Connection) -> None:
            conn.execute(
                insert(s.desafios_diarios).values(
                    user_id=partida.user_id,
                    dia=dia,
                    idioma=partida.idioma,
                    partida_id=partida.id,
                    emitida=partida.emitida,
                )
            )
            insertPartida(conn, partida)

        def translate(failure: Failure) -> None:
            failure.trap(IntegrityError)
            raise AlreadyPlayed(partida.user_id, dia, partida.idioma)

        return self._pool.write(work).addErrback(translate)

    def dailyPlayed(self, userID: int, dia: str) -> Deferred[list[str]]:
        """
        The languages in which the player has had the daily challenge of C{dia}.
        """

        def work(conn: Connection) -> list[str]:
            d = s.desafios_diarios
            rows = conn.execute(
                select(d.c.idioma).where(d.c.user_id == userID, d.c.dia == dia).order_by(d.c.idioma)
            )
            return [row.idioma for row in rows]

        return self._pool.read(work)

    def closePractice(self, partida: Partida, now: datetime, result: Verified) -> Deferred[bool]:
        """
        Close an open practice partida with its verified result; C{False} if it was
        closed already.
        """
        values: dict[str, Any] = {"cerrada": now, "estado": PRACTICA, **result.values()}
        return self._pool.write(_close, partida, values)
