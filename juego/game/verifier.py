"""Server-side check of a finished partida: the client's ``eventos`` against the rules.

The client never reports its score.  It reports, for every word that ended, when it ended
and whether it was typed; :func:`verify` checks those events against the rules of the SPEC
("The game: escritura rápida") and recomputes the score from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

import attrs

from .rules import (
    MARGEN_FALLO_MS,
    MARGEN_RELOJ_MS,
    VIDAS,
    limite_ms,
    longitud,
    minimo_humano_ms,
    nivel,
    puntos,
)

__all__ = ["MAX_EVENTOS", "InvalidResult", "MalformedEvents", "Resultado", "verify"]

#: Hard cap on the number of events accepted, whatever the number of words.
MAX_EVENTOS = 10_000


class MalformedEvents(ValueError):
    """``eventos`` does not have the shape of an events list (a bad request, not cheating)."""


class InvalidResult(ValueError):
    """Well-formed events that break a rule of the game.

    ``rule`` is a short Spanish text naming the broken rule, fit to show to the player.
    """

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


@attrs.frozen
class Resultado:
    """The verified outcome of a partida."""

    puntaje: int  # sum over typed words of len x nivel
    palabras_ok: int
    palabras_falladas: int
    errores: int  # mistyped keystrokes, all words
    caracteres: int  # code points of the typed words
    duracion_ms: int  # t of the last event (0 when none)
    wpm: float  # (caracteres / 5) per minute of duracion_ms, 1 decimal
    precision: float  # caracteres / (caracteres + errores), 3 decimals
    nivel: int  # level of the last word that ended (1 when none)
    vidas_restantes: int


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_shape(palabras: Sequence[str], eventos: object) -> list[tuple[int, bool, int]]:
    if not isinstance(eventos, list):
        raise MalformedEvents("«eventos» debe ser una lista")
    if len(eventos) > MAX_EVENTOS:
        raise MalformedEvents(f"«eventos» tiene más de {MAX_EVENTOS} entradas")
    if len(eventos) > len(palabras):
        raise MalformedEvents(
            f"«eventos» tiene {len(eventos)} entradas y la partida solo {len(palabras)} palabras"
        )
    parsed: list[tuple[int, bool, int]] = []
    for n, evento in enumerate(eventos, start=1):
        if not isinstance(evento, dict):
            raise MalformedEvents(f"evento {n}: debe ser un objeto")
        t = evento.get("t")
        ok = evento.get("ok")
        errores = evento.get("errores")
        if not _is_int(t):
            raise MalformedEvents(f"evento {n}: «t» debe ser un entero (ms)")
        if t < 0:
            raise MalformedEvents(f"evento {n}: «t» no puede ser negativo")
        if not isinstance(ok, bool):
            raise MalformedEvents(f"evento {n}: «ok» debe ser true o false")
        if not _is_int(errores) or errores < 0:
            raise MalformedEvents(f"evento {n}: «errores» debe ser un entero mayor o igual que 0")
        parsed.append((t, ok, errores))
    return parsed


def verify(palabras: Sequence[str], eventos: object, elapsed_ms: int) -> Resultado:
    """Check ``eventos`` for a partida of ``palabras`` and recompute its result.

    ``elapsed_ms`` is the real time since the partida was issued, by the server's clock.
    Raises :class:`MalformedEvents` when ``eventos`` is not a well-formed events list, and
    :class:`InvalidResult` (naming the first broken rule) when it breaks a rule.
    """
    parsed = _check_shape(palabras, eventos)

    puntaje = caracteres = errores_total = ok_count = missed = 0
    vidas = VIDAS
    t_prev = 0
    fin: int | None = None  # 1-based number of the word that lost the last life
    for i, (t, ok, errores) in enumerate(parsed):
        n = i + 1
        palabra = palabras[i]
        if fin is not None:
            raise InvalidResult(
                f"palabra {n}: hay eventos después de perder la última vida "
                f"(la partida terminó en la palabra {fin})"
            )
        d = t - t_prev
        if d < 0:
            raise InvalidResult(
                f"palabra {n} («{palabra}»): termina antes que la anterior "
                f"(t = {t} ms < {t_prev} ms)"
            )
        limite = limite_ms(i, palabra)
        if ok:
            minimo = minimo_humano_ms(palabra)
            if d < minimo:
                raise InvalidResult(
                    f"palabra {n} («{palabra}»): tecleada más rápido que un humano "
                    f"({d} ms < {minimo} ms)"
                )
            if d > limite:
                raise InvalidResult(
                    f"palabra {n} («{palabra}»): acertada después de su tiempo límite "
                    f"({d} ms > {limite} ms)"
                )
            ok_count += 1
            puntaje += puntos(i, palabra)
            caracteres += longitud(palabra)
        else:
            if d < limite - MARGEN_FALLO_MS:
                raise InvalidResult(
                    f"palabra {n} («{palabra}»): fallada antes de agotar su tiempo límite "
                    f"({d} ms < {limite - MARGEN_FALLO_MS} ms)"
                )
            missed += 1
            vidas -= 1
            if vidas == 0:
                fin = n
        errores_total += errores
        t_prev = t

    duracion = parsed[-1][0] if parsed else 0
    if duracion > elapsed_ms + MARGEN_RELOJ_MS:
        raise InvalidResult(
            f"el último evento (t = {duracion} ms) es posterior al tiempo real de la partida "
            f"({elapsed_ms} ms + {MARGEN_RELOJ_MS} ms de margen)"
        )

    wpm = round((caracteres / 5) / (duracion / 60_000), 1) if duracion > 0 else 0.0
    teclas = caracteres + errores_total
    precision = round(caracteres / teclas, 3) if teclas > 0 else 1.0
    return Resultado(
        puntaje=puntaje,
        palabras_ok=ok_count,
        palabras_falladas=missed,
        errores=errores_total,
        caracteres=caracteres,
        duracion_ms=duracion,
        wpm=wpm,
        precision=precision,
        nivel=nivel(len(parsed) - 1) if parsed else 1,
        vidas_restantes=vidas,
    )
