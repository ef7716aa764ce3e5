"""
Reading a request's JSON body and its fields.

A body is UTF-8 JSON (RFC 8259) of at most L{MAX_BODY} bytes and L{MAX_DEPTH} levels of
nesting. Anything else is refused with 400 C{invalid_json} before it reaches a handler:
invalid UTF-8, NaN and Infinity (not JSON; they would come back out as invalid JSON),
numbers that overflow a 64-bit integer or a float, and text with NUL or lone surrogates
(neither can be stored or encoded: PostgreSQL refuses NUL, UTF-8 has no surrogates). The
nesting is checked before parsing, so a body of C{[} × 60,000 costs a scan, not the
parser's recursion (which ends in a C{RecursionError}).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from twisted.web.iweb import IRequest

from juego.web.errors import InvalidJSON, InvalidRequest, TooLarge

#: The largest body accepted (a full game's events take about 10 KB).
MAX_BODY = 64 * 1024
#: The deepest nesting accepted (the deepest real body, guardar_puntaje's, has 4 levels).
MAX_DEPTH = 32
#: The largest integer magnitude accepted: what a 64-bit signed column holds.
MAX_INT = 2**63 - 1

#: A JSON string, as the parser reads one (a quote ends it unless escaped).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Every byte but brackets and quotes (deleted with C{bytes.translate}).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_OPEN_ARRAY, _OPEN_OBJECT = b"[{"
#: Digits kept as C{0}, exponent marks and signs as C{e}, anything else a space: the
#: shapes of a number that may overflow (19+ digits, or an exponent of 3+ digits, signed
#: or not) are then found with plain substring searches (a regular expression is ten
#: times slower here).
_NUMBER_SHAPE = bytes(
    ord("0") if b in b"0123456789" else ord("e") if b in b"eE+-" else ord(" ") for b in range(256)
)
_BIG_NUMBER_SHAPES = (b"0" * 19, b"e000")
#: An escape that may decode to NUL or a surrogate: the parsed strings are checked.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
#: Characters no string may hold.
_FORBIDDEN_CHARACTER = re.compile("[\x00\ud800-\udfff]")


def _refuseConstant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _boundedInt(digits: str) -> int:
    value = int(digits)
    if abs(value) > MAX_INT:
        raise ValueError("integer out of range")
    return value


def _finiteFloat(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):
        raise ValueError("float out of range")
    return value


#: The parser for ordinary bodies (C's fast path for numbers), and the one for bodies
#: with a number that may overflow (a Python check per number).
_DECODER = json.JSONDecoder(parse_constant=_refuseConstant)
_BOUNDED_DECODER = json.JSONDecoder(
    parse_constant=_refuseConstant, parse_int=_boundedInt, parse_float=_finiteFloat
)


def _deeperThan(structure: bytes, limit: int) -> bool:
    """
    Whether the brackets C{structure} nest more than C{limit} deep (stops as soon as
    they do, so C{[} × 60,000 costs C{limit} steps).
    """
    depth = 0
    for bracket in structure:
        if bracket == _OPEN_ARRAY or bracket == _OPEN_OBJECT:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def tooDeep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """
    Whether the JSON C{raw} (valid UTF-8, whose multi-byte characters never contain an
    ASCII byte) nests arrays and objects more than C{limit} deep.

    Brackets inside strings do not count. Only well-formed text is compared with the
    parser's view: on malformed text the parser stops at the first fault, before any
    bracket this scan might have misread.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    if b"\\" in raw:
        # An escaped quote does not end its string: find the strings properly (rare).
        structure = _STRING.sub(b"", raw).translate(None, _NOT_STRUCTURE)
    else:
        # Without escapes, quotes pair up in order. Keep brackets and quotes only (C code
        # throughout): strings without brackets are then empty quote pairs; with no quote
        # left after removing those, what remains is exactly the nesting. Otherwise
        # every other piece between quotes is a string's brackets.
        structure = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
        if b'"' in structure:
            structure = b"".join(structure.split(b'"')[::2])
    # Empty leaves (C{[]}, C{{}}) go first: each replace removes at most one level, so
    # what is left nests at most two levels less. A guardar_puntaje body (hundreds of
    # C{{"teclas": [...]}}) comes down to a handful of brackets; only a body that may be
    # too deep is walked in full.
    collapsed = structure.replace(b"[]", b"").replace(b"{}", b"")
    if not _deeperThan(collapsed, limit - 2):
        return False
    return _deeperThan(structure, limit)


def _hasForbiddenText(value: Any) -> bool:
    # Depth is bounded by MAX_DEPTH: recursion is safe here.
    if isinstance(value, str):
        return _FORBIDDEN_CHARACTER.search(value) is not None
    if isinstance(value, list):
        return any(_hasForbiddenText(v) for v in value)
    if isinstance(value, dict):
        return any(_hasForbiddenText(k) or _hasForbiddenText(v) for k, v in value.items())
    return False


def parseJSON(raw: bytes) -> Any:
    """
    The value of the UTF-8 JSON document C{raw}; L{InvalidJSON} for anything this module's
    docstring refuses. Never raises anything else.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJSON("El cuerpo de la petición no es texto UTF-8 válido.") from None
    if tooDeep(raw):
        raise InvalidJSON(
            f"El cuerpo de la petición anida más de {MAX_DEPTH} niveles de listas u objetos."
        )
    shape = raw.translate(_NUMBER_SHAPE)
    big = any(pattern in shape for pattern in _BIG_NUMBER_SHAPES)
    decoder = _BOUNDED_DECODER if big else _DECODER
    try:
        value = decoder.decode(text)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, the refused constants and out-of-range
        # numbers (int's own digit limit included); RecursionError cannot happen below
        # MAX_DEPTH, but a parse must never become a 500.
        raise InvalidJSON() from None
    if _SUSPECT_ESCAPE.search(text) and _hasForbiddenText(value):
        raise InvalidJSON("El cuerpo de la petición contiene caracteres no permitidos.")
    return value


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
    value = parseJSON(raw)
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
