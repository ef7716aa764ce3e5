"""
How the API shows model objects.
"""

from __future__ import annotations

from typing import Any

from juego.model import GameRecord, User, isoformat, to_json
from juego.store.partidas import HeldResult
from juego.store.users import UserSummary


def userJSON(user: User) -> dict[str, Any]:
    """
    The API's C{user}: C{{id, nombre, email, es_admin, fecha_registro}}.
    """
    return {
        "id": user.id,
        "nombre": user.nombre,
        "email": user.email,
        "es_admin": user.es_admin,
        "fecha_registro": isoformat(user.fecha_registro),
    }


def preferencesJSON(user: User) -> dict[str, Any]:
    """
    The player's remembered choices: C{{tema, idioma}} (C{idioma} null: never chosen).
    """
    return {"tema": user.tema, "idioma": user.idioma}


def gameJSON(game: GameRecord) -> dict[str, Any]:
    """
    A played game as the profile shows it: every field, the date in ISO 8601.
    """
    return to_json(game)


def summaryJSON(summary: UserSummary) -> dict[str, Any]:
    return {
        **userJSON(summary.user),
        "puntaje_maximo": summary.puntaje_maximo,
        "partidas_jugadas": summary.partidas_jugadas,
    }


def heldJSON(held: HeldResult) -> dict[str, Any]:
    """
    A held result as the admin's review queue shows it (the name is text, never markup).
    """
    return to_json(held)
