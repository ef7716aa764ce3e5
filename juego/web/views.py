"""
How the API shows model objects.
"""

from __future__ import annotations

from typing import Any

from juego.model import GameRecord, User, isoformat
from juego.store.stats import RankingEntry
from juego.store.users import UserSummary


def userJSON(user: User) -> dict[str, Any]:
    """
    SPEC's C{user}: C{{id, nombre, email, es_admin, fecha_registro}}.
    """
    return {
        "id": user.id,
        "nombre": user.nombre,
        "email": user.email,
        "es_admin": user.es_admin,
        "fecha_registro": isoformat(user.fecha_registro),
    }


def gameJSON(game: GameRecord) -> dict[str, Any]:
    return {
        "id": game.id,
        "fecha": isoformat(game.fecha),
        "puntaje": game.puntaje,
        "wpm": game.wpm,
        "precision": game.precision,
        "idioma": game.idioma,
    }


def rankingJSON(entry: RankingEntry) -> dict[str, Any]:
    return {
        "posicion": entry.posicion,
        "user_id": entry.user_id,
        "nombre": entry.nombre,
        "puntaje_maximo": entry.puntaje_maximo,
    }


def summaryJSON(summary: UserSummary) -> dict[str, Any]:
    return {
        **userJSON(summary.user),
        "puntaje_maximo": summary.puntaje_maximo,
        "partidas_jugadas": summary.partidas_jugadas,
    }
