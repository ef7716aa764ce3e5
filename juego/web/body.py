"""
Reading a request's JSON body and its fields.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.iweb import IRequest

from juego.web.errors import InvalidRequest, TooLarge

#: The largest body accepted (a full game's events take about 10 KB).
MAX_BODY = 64 * 1024


def readJSON(request: IRequest) -> dict[str, Any]:
    """
    The request's body as a JSON object; an empty body is C{{}}.
    """
    length = request.getHeader(b"content-length")
    if length is not None and length.strip().isdigit() and int(length) > MAX_BODY:
        raise TooLarge()
    content = request.content
    if content is None:
        return {}
    content.seek(0)
    raw = content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise TooLarge()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("El cuerpo de la petición no es JSON válido.") from None
    if not isinstance(value, dict):
        raise InvalidRequest("El cuerpo de la petición debe ser un objeto JSON.")
    return value


def requireString(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidRequest(f"Falta el campo «{name}» (texto).")
    return value


def queryInt(request: IRequest, name: str, default: int, minimum: int, maximum: int) -> int:
    """
    An integer query argument: C{default} when absent, clamped to C{maximum}; 400 when
    it is not an integer or is below C{minimum}.
    """
    values = request.args.get(name.encode("ascii")) if request.args else None
    if not values:
        return default
    raw = values[0].decode("ascii", "replace").strip()
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"«{name}» debe ser un número entero.") from None
    if value < minimum:
        raise InvalidRequest(f"«{name}» debe ser al menos {minimum}.")
    return min(value, maximum)
