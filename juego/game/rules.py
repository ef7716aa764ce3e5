"""The rules of "escritura rápida": constants and the per-word formulas.

Everything here is the single source of truth: the server sends ``REGLAS`` to the client
with every partida, and the verifier uses the same functions to check a result.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "CV_MINIMO",
    "MARGEN_CERTIFICACION",
    "MARGEN_FALLO_MS",
    "MARGEN_RELOJ_MS",
    "MS_BASE",
    "MS_HUMANO_POR_LETRA",
    "MS_MINIMO_POR_LETRA",
    "MIN_CARACTERES_VELOCIDAD",
    "MIN_INTERVALOS",
    "MS_POR_LETRA",
    "PALABRAS_POR_NIVEL",
    "PALABRAS_POR_PARTIDA",
    "PASO_NIVEL",
    "PEGADO_LETRAS",
    "PEGADO_MAXIMO",
    "REGLAS",
    "VELOCIDAD_CERTIFICADA_POR_DEFECTO",
    "VIDAS",
    "WPM_CERTIFICACION",
    "WPM_RECHAZO",
    "WPM_REVISION",
    "limite_ms",
    "longitud",
    "minimo_humano_ms",
    "ms_por_letra",
    "nivel",
    "puntos",
    "reglas",
]

MS_BASE = 1000
MS_POR_LETRA = 450
PASO_NIVEL = 50
MS_MINIMO_POR_LETRA = 100
PALABRAS_POR_NIVEL = 10
MS_HUMANO_POR_LETRA = 30
VIDAS = 3
PALABRAS_POR_PARTIDA = 200

# Tolerances of the verifier (not sent to the client: they are not game rules).
MARGEN_FALLO_MS = 50  # a missed word may end this much before its deadline
MARGEN_RELOJ_MS = 2000  # the last event may be this much later than the server's clock

# Plausibility of a verified result (see juego.game.plausibility, which explains the numbers;
# /como-funciona cites them).  Speeds are the game's wpm: (letters / 5) per minute of play.
WPM_RECHAZO = 250  # refused: beyond every human record over a whole game
WPM_REVISION = 200  # held for an admin's review
WPM_CERTIFICACION = 100  # above this, held unless within MARGEN_CERTIFICACION of certified
MARGEN_CERTIFICACION = 1.25  # held when wpm > this x the player's certified speed
VELOCIDAD_CERTIFICADA_POR_DEFECTO = 100.0  # an uncertified player's certified speed
MIN_CARACTERES_VELOCIDAD = 50  # the speed rules need this many typed letters of evidence
CV_MINIMO = 0.2  # held when the keystroke intervals vary less than this (std / mean) ...
MIN_INTERVALOS = 30  # ... measured over at least this many intervals
PEGADO_LETRAS = 4  # typed words of at least this many letters ...
PEGADO_MAXIMO = 0.30  # ... held when this share or more arrived in a single input event

#: The constants sent to the client in ``partida["reglas"]``.  Treat as read-only; use
#: :func:`reglas` to get a copy that may be modified or serialised freely.
REGLAS: dict[str, int] = {
    "ms_base": MS_BASE,
    "ms_por_letra": MS_POR_LETRA,
    "paso_nivel": PASO_NIVEL,
    "ms_minimo_por_letra": MS_MINIMO_POR_LETRA,
    "palabras_por_nivel": PALABRAS_POR_NIVEL,
    "ms_humano_por_letra": MS_HUMANO_POR_LETRA,
    "vidas": VIDAS,
    "palabras_por_partida": PALABRAS_POR_PARTIDA,
}


def reglas() -> dict[str, int]:
    """A fresh copy of :data:`REGLAS` (for a partida's JSON)."""
    return dict(REGLAS)


def longitud(palabra: str) -> int:
    """A word's length: its number of code points once NFC-normalised."""
    return len(unicodedata.normalize("NFC", palabra))


def nivel(i: int) -> int:
    """The level of word ``i`` (0-based, missed words included): 1 for words 0-9, ..."""
    if i < 0:
        raise ValueError(f"word index must be >= 0, got {i}")
    return 1 + i // PALABRAS_POR_NIVEL


def ms_por_letra(i: int) -> int:
    """Milliseconds granted per letter to word ``i``."""
    return max(MS_MINIMO_POR_LETRA, MS_POR_LETRA - PASO_NIVEL * (nivel(i) - 1))


def limite_ms(i: int, palabra: str) -> int:
    """The time limit (ms) of word ``i`` when it is ``palabra``."""
    return MS_BASE + longitud(palabra) * ms_por_letra(i)


def minimo_humano_ms(palabra: str) -> int:
    """The least time (ms) in which a human can type ``palabra``."""
    return MS_HUMANO_POR_LETRA * longitud(palabra)


def puntos(i: int, palabra: str) -> int:
    """Points for typing word ``i`` (``palabra``) within its limit."""
    return longitud(palabra) * nivel(i)
