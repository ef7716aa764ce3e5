"""Server-side check of a finished partida: the client's ``eventos`` against the rules.

The client never reports its score.  It reports, for every word that ended, when it ended
and whether it was typed; :func:`verify` checks those events against the game's rules
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

__all__ = [
    "MAX_ERRORES",
    "MAX_EVENTOS",
    "MAX_MS",
    "MAX_TECLAS",
    "MAX_TECLAS_POR_PALABRA",
    "Evento",
    "InvalidResult",
    "MalformedEvents",
    "Resultado",
    "verify",
]

#: Hard cap on the number of events accepted, whatever the number of words.
MAX_EVENTOS = 10_000
#: Bounds on every number of ``eventos``: far beyond any real game (a partida lives one
#: hour), small enough that no arithmetic on them is costly.  Beyond them: 400.
MAX_MS = 10_000_000
MAX_ERRORES = 10_000
MAX_TECLAS_POR_PALABRA = 1_000
MAX_TECLAS = 20_000


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
class Evento:
    """One well-formed event: a word that ended, with its keystroke times."""

    t: int
    ok: bool
    errores: int
    #: ms since the word was shown of each ``input`` event, non-decreasing.
    teclas: tuple[int, ...]

    def toJSON(self) -> dict[str, object]:
        return {"t": self.t, "ok": self.ok, "errores": self.errores, "teclas": list(self.teclas)}


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
    vidas_restantes: int | None  # None: a game without lives (practice)
    #: The verified events (the evidence for plausibility checks and replays).
    eventos: tuple[Evento, ...] = ()


def eventosJSON(raw: object, eventos: Sequence[Evento]) -> list[dict[str, object]]:
    """The verified C{eventos}, JSON-ready, given the C{raw} events they were read from:
    a raw event that holds exactly the verified fields (what the game sends) is kept as
    it is, without a copy; one with more fields is rebuilt from what was verified."""
    if not isinstance(raw, list) or len(raw) != len(eventos):
        return [evento.toJSON() for evento in eventos]
    return [
        fuente if type(fuente) is dict and len(fuente) == len(_FIELDS) else evento.toJSON()
        for fuente, evento in zip(raw, eventos, strict=True)
    ]


#: The fields of a verified event (L{Evento.toJSON}); a raw event with this many holds
#: exactly these, all checked.
_FIELDS = ("t", "ok", "errores", "teclas")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounded(value: object, maximum: int) -> TypeGuard[int]:
    return _is_int(value) and 0 <= value <= maximum


_ONLY_INT = frozenset({int})


def _check_teclas(n: int, teclas: object, total: int) -> tuple[int, ...]:
    if not isinstance(teclas, list):
        raise MalformedEvents(
            f"evento {n}: falta «teclas» (la lista de tiempos, en ms, de cada pulsación)"
        )
    if len(teclas) > MAX_TECLAS_POR_PALABRA:
        raise MalformedEvents(f"evento {n}: «teclas» tiene más de {MAX_TECLAS_POR_PALABRA} tiempos")
    if total + len(teclas) > MAX_TECLAS:
        raise MalformedEvents(f"«eventos» tiene más de {MAX_TECLAS} teclas en total")
    # The usual case at C speed: plain integers, in order, within the bounds (bool is not
    # int by type); anything else goes through the loop below for the exact message.
    if {*map(type, teclas)} <= _ONLY_INT and (
        not teclas or (0 <= teclas[0] and teclas[-1] <= MAX_MS and teclas == sorted(teclas))
    ):
        return tuple(teclas)
    previa = 0
    for tecla in teclas:
        if not _bounded(tecla, MAX_MS):
            raise MalformedEvents(
                f"evento {n}: cada tiempo de «teclas» debe ser un entero entre 0 y {MAX_MS} (ms)"
            )
        if tecla < previa:
            raise MalformedEvents(f"evento {n}: los tiempos de «teclas» deben ir en orden")
        previa = tecla
    return tuple(teclas)


def _check_shape(palabras: Sequence[str], eventos: object) -> list[Evento]:
    if not isinstance(eventos, list):
        raise MalformedEvents("«eventos» debe ser una lista")
    if len(eventos) > MAX_EVENTOS:
        raise MalformedEvents(f"«eventos» tiene más de {MAX_EVENTOS} entradas")
    if len(eventos) > len(palabras):
        raise MalformedEvents(
            f"«eventos» tiene {len(eventos)} entradas y la partida solo {len(palabras)} palabras"
        )
    parsed: list[Evento] = []
    total = 0
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
        if t > MAX_MS:
            raise MalformedEvents(f"evento {n}: «t» no puede pasar de {MAX_MS} ms")
        if not isinstance(ok, bool):
            raise MalformedEvents(f"evento {n}: «ok» debe ser true o false")
        if not _bounded(errores, MAX_ERRORES):
            raise MalformedEvents(
                f"evento {n}: «errores» debe ser un entero entre 0 y {MAX_ERRORES}"
            )
        teclas = _check_teclas(n, evento.get("teclas"), total)
        if ok and not teclas:
            raise MalformedEvents(
                f"evento {n}: una palabra acertada tiene al menos una tecla en «teclas»"
            )
        total += len(teclas)
        parsed.append(Evento(t, ok, errores, teclas))
    return parsed


def _check_word(i: int, palabra: str, evento: Evento, d: int, t_prev: int) -> None:
    """Raise :class:`InvalidResult` if word ``i`` (on screen for ``d`` ms) breaks a rule.

    Typed: at least the human minimum and at most its time limit; missed: not before its
    time limit ran out (less the margin); either way, no keystroke after the word ended.
    """
    n = i + 1
    if d < 0:
        raise InvalidResult(
            f"palabra {n} («{palabra}»): termina antes que la anterior "
            f"(t = {evento.t} ms < {t_prev} ms)"
        )
    if evento.teclas and evento.teclas[-1] > d:
        raise InvalidResult(
            f"palabra {n} («{palabra}»): hay una tecla ({evento.teclas[-1]} ms) "
            f"posterior al final de la palabra ({d} ms)"
        )
    limite = limite_ms(i, palabra)
    if evento.ok:
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
    elif d < limite - MARGEN_FALLO_MS:
        raise InvalidResult(
            f"palabra {n} («{palabra}»): fallada antes de agotar su tiempo límite "
            f"({d} ms < {limite - MARGEN_FALLO_MS} ms)"
        )


def verify(
    palabras: Sequence[str], eventos: object, elapsed_ms: int, vidas: int | None = VIDAS
) -> Resultado:
    """Check ``eventos`` for a partida of ``palabras`` and recompute its result.

    ``elapsed_ms`` is the real time since the partida was issued, by the server's clock.
    ``vidas`` is the lives the game starts with; ``None``: no lives (practice), a missed
    word never ends the game.
    Raises :class:`MalformedEvents` when ``eventos`` is not a well-formed events list, and
    :class:`InvalidResult` (naming the first broken rule) when it breaks a rule.
    """
    parsed = _check_shape(palabras, eventos)

    puntaje = caracteres = errores_total = ok_count = missed = 0
    t_prev = 0
    fin: int | None = None  # 1-based number of the word that lost the last life
    for i, evento in enumerate(parsed):
        t, ok, errores = evento.t, evento.ok, evento.errores
        n = i + 1
        palabra = palabras[i]
        if fin is not None:
            raise InvalidResult(
                f"palabra {n}: hay eventos después de perder la última vida "
                f"(la partida terminó en la palabra {fin})"
            )
        _check_word(i, palabra, evento, t - t_prev, t_prev)
        if ok:
            ok_count += 1
            puntaje += puntos(i, palabra)
            caracteres += longitud(palabra)
        else:
            missed += 1
            if vidas is not None:
                vidas -= 1
                if vidas == 0:
                    fin = n
        errores_total += errores
        t_prev = t

    duracion = parsed[-1].t if parsed else 0
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
        eventos=tuple(parsed),
    )
