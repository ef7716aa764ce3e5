"""
Plain value types shared by every part of juego.

Frozen attrs classes: they cross from the database thread pool to the reactor thread, go
into pickles for peers (see L{juego.serialization}), and map to the wire's JSON through
L{to_json}. Nothing here imports Twisted or SQLAlchemy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

__all__ = [
    "User",
    "Score",
    "SaveResult",
    "UserStats",
    "GlobalStats",
    "Notification",
    "Partida",
    "GameRecord",
    "NOTIFICATION_TYPES",
    "to_json",
    "isoformat",
    "utcnow",
]

NOTIFICATION_TYPES = ("info", "success", "warning", "error")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """
    Normalise a datetime to an aware UTC one (SQLite hands back naive values).
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _aware_required(value: datetime) -> datetime:
    result = _aware(value)
    assert result is not None
    return result


@attrs.frozen
class User:
    id: int
    nombre: str
    email: str
    es_admin: bool = False
    fecha_registro: datetime = attrs.field(factory=utcnow, converter=_aware_required)
    bio: str = ""
    #: The site's theme: "claro", "oscuro" or "sistema" (the device's).
    tema: str = "sistema"
    #: The game's language last chosen ("es", "en"), or None.
    idioma: str | None = None


@attrs.frozen
class Score:
    id: int
    user_id: int
    puntaje: int
    fecha: datetime = attrs.field(converter=_aware_required)


@attrs.frozen
class SaveResult:
    """
    The outcome of one C{save_score}: what the wire answers.
    """

    score_id: int
    nuevo_record: bool
    puntaje_maximo: int


@attrs.frozen
class UserStats:
    user_id: int
    nombre: str
    email: str
    puntaje_maximo: int
    partidas_jugadas: int
    puntaje_promedio: float
    fecha_ultimo_juego: datetime | None = attrs.field(converter=_aware)
    posicion_ranking: int | None


@attrs.frozen
class GlobalStats:
    total_usuarios: int
    usuarios_activos: int
    puntaje_promedio: float
    puntaje_maximo_global: int
    partidas_totales: int


@attrs.frozen
class Notification:
    id: int
    user_id: int
    message: str
    type: str
    timestamp: datetime = attrs.field(converter=_aware_required)
    leida: bool = False


@attrs.frozen
class Partida:
    """
    A game issued to a player: the words are drawn from C{seed}, kept by the server.
    """

    id: str
    user_id: int
    idioma: str
    seed: int
    emitida: datetime = attrs.field(converter=_aware_required)
    cerrada: datetime | None = attrs.field(default=None, converter=_aware)
    #: normal, diario or practica (L{juego.web.modes}).
    modo: str = "normal"


@attrs.frozen
class GameRecord:
    """
    One played game as the profile shows it.
    """

    id: str
    fecha: datetime = attrs.field(converter=_aware_required)
    puntaje: int
    wpm: float
    precision: float
    idioma: str
    #: publica, en_revision (held: shown to its player only), aprobada or anulada.
    estado: str = "publica"


_PLAIN = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """
    Map model objects (and containers of them) to JSON-safe values, as the wire shows them:
    datetimes become ISO 8601 strings in UTC.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return isoformat(_aware(value))
    if attrs.has(kind):
        return {f.name: to_json(getattr(value, f.name)) for f in attrs.fields(kind)}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value
