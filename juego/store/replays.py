"""
Replays: a verified game as its replay needs it (the player, the figures, the seed its words
are drawn from and the events with their keystrokes), read in one query.

Who may see it is the web layer's call (L{juego.web.replays}); this only reads.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import attrs
from sqlalchemy import Connection, bindparam, select
from twisted.internet.defer import Deferred

from juego.store import schema as s
from juego.store.pool import DBThreadPool

_p, _u = s.partidas, s.users
_REPLAY = (
    select(
        _p.c.id,
        _p.c.user_id,
        _u.c.nombre,
        _p.c.idioma,
        _p.c.seed,
        _p.c.estado,
        _p.c.puntaje,
        _p.c.wpm,
        _p.c.precision,
        _p.c.duracion_ms,
        _p.c.cerrada,
        _p.c.eventos,
        _p.c.modo,
    )
    .select_from(_p.join(_u, _u.c.id == _p.c.user_id))
    .where(_p.c.id == bindparam("partida"), _p.c.eventos.is_not(None))
)


@attrs.frozen
class StoredReplay:
    """
    A closed partida that kept its verified events.
    """

    partida_id: str
    user_id: int
    nombre: str
    idioma: str
    seed: int
    #: The partida's state (L{juego.store.partidas}): publica, aprobada, en_revision, anulada.
    estado: str
    puntaje: int
    wpm: float
    precision: float
    duracion_ms: int
    cerrada: datetime | None
    #: The verified events as stored: C{{t, ok, errores, teclas}} each.
    eventos: list[dict[str, Any]]
    #: normal, diario (the daily challenge) or practica (counts nowhere).
    modo: str = "normal"


class ReplaysStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def get(self, partidaID: str) -> Deferred[StoredReplay | None]:
        """
        The replay of a verified game, or C{None}: no such partida, or one that kept no
        events (open, invalid, discarded).
        """

        def work(conn: Connection) -> StoredReplay | None:
            row = conn.execute(_REPLAY, {"partida": partidaID}).first()
            if row is None:
                return None
            return StoredReplay(
                partida_id=row.id,
                user_id=row.user_id,
                nombre=row.nombre,
                idioma=row.idioma,
                seed=row.seed,
                estado=row.estado,
                puntaje=row.puntaje or 0,
                wpm=row.wpm or 0.0,
                precision=row.precision or 0.0,
                duracion_ms=row.duracion_ms or 0,
                cerrada=row.cerrada,
                eventos=json.loads(row.eventos),
                modo=row.modo,
            )

        return self._pool.read(work)
