"""
Realistic games for the save benchmarks: about 30 words typed at 60-100 wpm, jittered,
with the occasional mistyped key (and its backspace), each event carrying its keystrokes
(C{teclas}: integer ms since the word was shown of each C{input} event, non-decreasing,
each within the word's time, the last one completing it).

A game of 30 words lasts about 40 s at these speeds; the server accepts it only if its
partida was issued at least that long before (C{t} ≤ elapsed + 2 s), so the benchmarks
issue their partidas in the past (L{ISSUED_AGO}). C{scale} compresses every time
(keeping each word at or above the human minimum of 30 ms a letter) for a run that
cannot do that.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from juego.game import limite_ms, longitud, minimo_humano_ms, puntos

#: Words in a benchmark game.
WORDS = 30
#: How long before the run the benchmark's partidas are issued: longer than any game,
#: well within a partida's hour.
ISSUED_AGO = timedelta(minutes=10)
#: Chance of a mistyped key at each letter (it costs the key and a backspace).
MISTYPE = 0.03


def keystrokes(
    word: str, wpm: float, rng: random.Random, scale: float = 1.0, limit: int | None = None
) -> tuple[list[int], int]:
    """
    The C{input} events of typing C{word} at about C{wpm} (five letters a word): their
    times in ms since the word was shown, and the mistyped keys. A slow draw is squeezed
    to end within C{limit} (the word's time).
    """
    perKey = 12_000 / wpm
    t = rng.uniform(180, 420)  # reading the word before the first key
    times: list[float] = []
    errores = 0
    for _ in range(longitud(word)):
        if rng.random() < MISTYPE:
            errores += 1
            t += perKey * rng.uniform(0.6, 1.4)
            times.append(t)  # the wrong key
            t += perKey * rng.uniform(1.0, 2.0)
            times.append(t)  # its backspace
        t += perKey * rng.lognormvariate(0, 0.3)
        times.append(t)
    if limit is not None and times[-1] * scale > limit * 0.9:
        scale = limit * 0.9 / times[-1]
    teclas = [round(x * scale) for x in times]
    least = minimo_humano_ms(word) + 5
    if teclas[-1] < least:  # compressed below a human's speed: stretch to the minimum
        stretch = least / max(1, teclas[-1])
        teclas = [round(x * stretch) for x in teclas]
    for i in range(1, len(teclas)):  # rounding never reorders them
        teclas[i] = max(teclas[i], teclas[i - 1])
    return teclas, errores


def game(
    words: Sequence[str], rng: random.Random, n: int = WORDS, scale: float = 1.0
) -> dict[str, Any]:
    """
    A legal game of the first C{n} of a partida's C{words}, all typed in time: its
    C{eventos}, C{puntaje}, keystrokes and duration.
    """
    wpm = rng.uniform(60, 100)
    eventos, t, puntaje, keys = [], 0, 0, 0
    for i, word in enumerate(words[:n]):
        teclas, errores = keystrokes(
            word, wpm * rng.uniform(0.85, 1.15), rng, scale, limite_ms(i, word)
        )
        d = teclas[-1]
        assert minimo_humano_ms(word) <= d <= limite_ms(i, word), (word, d)
        t += d
        eventos.append({"t": t, "ok": True, "errores": errores, "teclas": teclas})
        puntaje += puntos(i, word)
        keys += len(teclas)
    return {"eventos": eventos, "puntaje": puntaje, "teclas": keys, "duracion_ms": t}
