"""
Race results (L{juego.race}): written by the rooms' owner as each verified result reaches
a room, read by juego-web for the player's races and the board of race wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError
from twisted.internet.defer import Deferred

from juego.store import schema as s
from juego.store.pool import DBThreadPool


class RacesStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def record(
        self,
        partidaID: str,
        sala: str,
        userID: int,
        posicion: int | None,
        corredores: int,
        fecha: datetime,
    ) -> Deferred[bool]:
        """
        A racer's result in a race, once (a second record of one partida is ignored):
        whether it was new.
        """

        def work(conn: Connection) -> bool:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(s.carreras).values(
                            partida_id=partidaID,
                            sala=sala,
                            user_id=userID,
                            posicion=posicion,
                            corredores=corredores,
                            fecha=fecha,
                        )
                    )
            except IntegrityError:
                return False
            return True

        return self._pool.write(work)

    def ofPlayer(self, userID: int, limit: int = 20) -> Deferred[list[dict[str, Any]]]:
        """
        A player's last races, newest first, with the verified result of each.
        """

        def work(conn: Connection) -> list[dict[str, Any]]:
            c, p = s.carreras, s.partidas
            rows = conn.execute(
                select(
                    c.c.partida_id,
                    c.c.sala,
                    c.c.posicion,
                    c.c.corredores,
                    c.c.fecha,
                    p.c.puntaje,
                    p.c.wpm,
                )  # fmt: skip
                .join(p, p.c.id == c.c.partida_id, isouter=True)
                .where(c.c.user_id == userID)
                .order_by(c.c.fecha.desc(), c.c.partida_id)
                .limit(limit)
            )
            return [
                {
                    "partida_id": r.partida_id,
                    "sala": r.sala,
                    "posicion": r.posicion,
                    "corredores": r.corredores,
                    "fecha": r.fecha,
                    "puntaje": r.puntaje,
                    "wpm": r.wpm,
                }
                for r in rows
            ]

        return self._pool.read(work)

    def winners(self, since: datetime | None, limit: int = 10) -> Deferred[list[dict[str, Any]]]:
        """
        The players with the most race wins since C{since} (L{None}: ever): user id,
        name and wins, most first.
        """

        def work(conn: Connection) -> list[dict[str, Any]]:
            c, u = s.carreras, s.users
            wins = func.count().label("victorias")
            query = (
                select(u.c.id, u.c.nombre, wins)
                .join(u, u.c.id == c.c.user_id)
                .where(c.c.posicion == 1)
                .group_by(u.c.id, u.c.nombre)
                .order_by(wins.desc(), u.c.id)
                .limit(limit)
            )
            if since is not None:
                query = query.where(c.c.fecha >= since)
            return [
                {"user_id": r.id, "nombre": r.nombre, "victorias": r.victorias}
                for r in conn.execute(query)
            ]

        return self._pool.read(work)
