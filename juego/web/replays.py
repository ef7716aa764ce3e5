"""
Replays (C{/repeticion/<partida_id>} and C{GET /api/repeticion/<partida_id>}): a verified
game re-typed from its stored keystrokes.

Who sees a replay: anybody, for a result on the public boards (as L{juego.store.boards}
counts them: ranked, C{publica} or C{aprobada}, and not a practice game); its own player,
for any verified result of theirs (held, voided and practice ones too). Everything else -- another player's held or voided result, an invalid or discarded
partida, one never played, an id that does not exist -- is the same 404, so that a replay's
existence is never revealed to whoever may not see it.

The reply carries each event with its word (drawn again from the partida's kept seed) and
C{d}, the time the word was on screen, so that a page needs nothing else to replay it.
"""

from __future__ import annotations

import re
from typing import Any

from juego.game import draw_words
from juego.model import User, isoformat
from juego.store import Store
from juego.store.boards import PRACTICA
from juego.store.partidas import RANKED
from juego.store.replays import StoredReplay
from juego.web.errors import InvalidRequest, NotFoundError

#: A partida id as the server issues them (a UUID), with room for other id schemes.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

NOT_FOUND = "No existe esa repetición."


def checkPartidaID(partidaID: object) -> str:
    """
    A well-formed partida id, or 400.
    """
    if not isinstance(partidaID, str) or not _ID.fullmatch(partidaID):
        raise InvalidRequest("El identificador de la partida no es válido.")
    return partidaID


def visible(replay: StoredReplay, viewer: User | None) -> bool:
    """
    May C{viewer} (C{None}: nobody signed in) see C{replay}?
    """
    if replay.estado in RANKED and replay.modo != PRACTICA:
        return True
    return viewer is not None and viewer.id == replay.user_id


def replayEvents(replay: StoredReplay) -> list[dict[str, Any]]:
    """
    The stored events, each with its word and C{d} (ms on screen): C{{palabra, ok,
    errores, t, d, teclas}}.
    """
    palabras = draw_words(replay.seed, replay.idioma)
    eventos = []
    previo = 0
    for palabra, evento in zip(palabras, replay.eventos, strict=False):
        t = int(evento["t"])
        eventos.append(
            {
                "palabra": palabra,
                "ok": bool(evento["ok"]),
                "errores": int(evento["errores"]),
                "t": t,
                "d": t - previo,
                "teclas": [int(tecla) for tecla in evento.get("teclas", [])],
            }
        )
        previo = t
    return eventos


def replayJSON(replay: StoredReplay, viewer: User | None) -> dict[str, Any]:
    return {
        "partida_id": replay.partida_id,
        "jugador": {"id": replay.user_id, "nombre": replay.nombre},
        "propia": viewer is not None and viewer.id == replay.user_id,
        "estado": replay.estado,
        "idioma": replay.idioma,
        "puntaje": replay.puntaje,
        "wpm": replay.wpm,
        "precision": replay.precision,
        "duracion_ms": replay.duracion_ms,
        "fecha": isoformat(replay.cerrada),
        "eventos": replayEvents(replay),
    }


class Replays:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def find(self, viewer: User | None, partidaID: object) -> StoredReplay:
        """
        The replay C{viewer} asks for: 400 for a malformed id, 404 for one they may not
        see (or that does not exist: the same answer).
        """
        replay = await self._store.replays.get(checkPartidaID(partidaID))
        if replay is None or not visible(replay, viewer):
            raise NotFoundError(NOT_FOUND)
        return replay

    async def reply(self, viewer: User | None, partidaID: object) -> dict[str, Any]:
        return replayJSON(await self.find(viewer, partidaID), viewer)
