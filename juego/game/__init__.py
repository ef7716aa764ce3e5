"""The game "escritura rápida": rules, word lists, drawing and result verification.

Pure Python (stdlib + attrs): nothing here imports Twisted, so it can be used and tested
anywhere, including by scripts and other services.
"""

from .partida import draw_words, new_seed
from .rules import (
    REGLAS,
    limite_ms,
    longitud,
    minimo_humano_ms,
    ms_por_letra,
    nivel,
    puntos,
    reglas,
)
from .verifier import MAX_EVENTOS, InvalidResult, MalformedEvents, Resultado, verify
from .words import IDIOMAS, load_words

__all__ = [
    "IDIOMAS",
    "MAX_EVENTOS",
    "REGLAS",
    "InvalidResult",
    "MalformedEvents",
    "Resultado",
    "draw_words",
    "limite_ms",
    "load_words",
    "longitud",
    "minimo_humano_ms",
    "ms_por_letra",
    "new_seed",
    "nivel",
    "puntos",
    "reglas",
    "verify",
]
