"""
The boards' query parameters and replies: C{GET /api/ranking} and C{GET /api/ranking/yo}
(docs/API.md), read from L{juego.store.boards}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest

from juego.game import IDIOMAS
from juego.store import Store
from juego.store.boards import DIA, DIARIO, PERIODOS, SIEMPRE, Board, BoardRow
from juego.web.body import queryInt
from juego.web.clock import utcnow
from juego.web.errors import InvalidRequest

RANKING_DEFAULT, RANKING_MAX = 10, 100
#: Rows shown above and below the player by C{/api/ranking/yo}.
AROUND = 2


def _queryText(request: IRequest, name: str) -> str | None:
    """
    A query argument given at most once (L{None} when absent; an empty one is a value,
    which no board parameter takes).
    """
    values = request.args.get(name.encode("ascii")) if request.args else None
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest(f"«{name}» solo puede aparecer una vez.")
    return values[0].decode("utf-8", "replace").strip()


def boardOf(request: IRequest) -> Board:
    """
    The board the query names (C{periodo}, C{idioma}, C{modo}); 400 for any other value.
    """
    periodo = _queryText(request, "periodo")
    idioma = _queryText(request, "idioma")
    modo = _queryText(request, "modo")
    if periodo is not None and periodo not in PERIODOS:
        raise InvalidRequest("«periodo» debe ser dia, semana o siempre.")
    if idioma is not None and idioma not in IDIOMAS:
        raise InvalidRequest(f"«idioma» debe ser uno de: {', '.join(IDIOMAS)}.")
    if modo is not None and modo != DIARIO:
        raise InvalidRequest("«modo» solo puede ser diario (el tablero del desafío de hoy).")
    if modo == DIARIO:
        if periodo not in (None, DIA):
            raise InvalidRequest(
                "El desafío diario solo tiene tablero del día: usa periodo=dia o quita «periodo»."
            )
        periodo = DIA
    return Board(periodo or SIEMPRE, idioma, modo)


def rowJSON(row: BoardRow) -> dict[str, Any]:
    """
    A board row: C{{posicion, user_id, nombre, puntaje_maximo}}, and C{partida_id} when
    the result's partida is known.
    """
    found: dict[str, Any] = {
        "posicion": row.posicion,
        "user_id": row.user_id,
        "nombre": row.nombre,
        "puntaje_maximo": row.puntaje_maximo,
    }
    if row.partida_id is not None:
        found["partida_id"] = row.partida_id
    return found


class Boards:
    def __init__(self, store: Store, clock: IReactorTime) -> None:
        self._store = store
        self._clock = clock

    async def top(self, request: IRequest) -> list[dict[str, Any]]:
        board = boardOf(request)
        limit = queryInt(request, "limit", RANKING_DEFAULT, 1, RANKING_MAX)
        rows = await self._store.boards.board(board, limit, utcnow(self._clock))
        return [rowJSON(r) for r in rows]

    async def around(
        self, request: IRequest, userID: int
    ) -> tuple[int | None, list[dict[str, Any]]]:
        board = boardOf(request)
        # Accepted (the same parameters as the board) but unused: the rows are the
        # player's neighbours.
        queryInt(request, "limit", RANKING_DEFAULT, 1, RANKING_MAX)
        position, rows = await self._store.boards.around(board, userID, utcnow(self._clock), AROUND)
        return position, [rowJSON(r) for r in rows]
