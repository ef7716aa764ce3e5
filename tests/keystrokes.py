"""
Generated keystroke streams for the tests: a person typing at a given speed (log-normal
intervals, reaction to each new word, slips and their corrections) and scripts (regular
intervals, pasted words).  Every stream keeps the game's rules: typed words within
C{[30 ms x len, limite]}, missed words at their deadline, three lives.
"""

from __future__ import annotations

import math
import random
from typing import Any

from juego.game import limite_ms, longitud, minimo_humano_ms
from juego.game.rules import VIDAS

#: A person's reaction to a new word (ms): the first keystroke of a word comes this long
#: after it is shown, give or take (log-normal).
REACCION_MS = 260.0
REACCION_SIGMA = 0.3
#: Each mistyped key costs two more input events (the slip and its correction).
ERROR_RATE = 0.03


def _lognormal(rng: random.Random, mean: float, sigma: float) -> float:
    """A log-normal draw with this mean (not median) and shape."""
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def humanEvents(
    words: list[str],
    wpm: float,
    rng: random.Random,
    sigma: float = 0.45,
    n: int | None = None,
    errorRate: float = ERROR_RATE,
    reaction: float = REACCION_MS,
) -> list[dict[str, Any]]:
    """
    A person typing C{words} (the first C{n}) at about C{wpm}: the game's wpm comes out
    close to it as long as the words' limits allow that speed (a slow typist misses the
    long words of the late levels and may lose the game there).
    """
    words = words if n is None else words[:n]
    letters = sum(longitud(w) for w in words) or 1
    # Mean interval between keys so that, with one reaction per word, the game's speed is
    # about wpm: letters * 12000 / wpm ms in all.
    total = letters * 12_000 / wpm
    keys = max(1, letters - len(words))
    # Each slip adds about 3.5 intervals of keys and corrections.
    interval = max(20.0, (total - len(words) * reaction) / keys / (1 + 3.5 * errorRate))
    events: list[dict[str, Any]] = []
    t = 0
    lives = VIDAS
    for i, word in enumerate(words):
        teclas: list[int] = []
        now = _lognormal(rng, reaction, REACCION_SIGMA)
        errores = 0
        for k in range(longitud(word)):
            if k:
                now += _lognormal(rng, interval, sigma)
            if rng.random() < errorRate:
                # A slip, seen, then deleted: two more input events.
                teclas.append(round(now))
                now += _lognormal(rng, interval * 1.5, sigma)
                teclas.append(round(now))
                now += _lognormal(rng, interval, sigma)
                errores += 1
            teclas.append(round(now))
        d = max(teclas[-1], minimo_humano_ms(word))
        limite = limite_ms(i, word)
        if d <= limite:
            t += d
            events.append({"t": t, "ok": True, "errores": errores, "teclas": teclas})
            continue
        t += limite
        events.append(
            {"t": t, "ok": False, "errores": errores, "teclas": [x for x in teclas if x <= limite]}
        )
        lives -= 1
        if lives == 0:
            break
    return events


def playedEvents(words: list[str], n: int, wpm: float = 70, seed: int = 0) -> list[dict[str, Any]]:
    """
    The first C{n} words typed, without a slip, by a person at about C{wpm}: a
    deterministic stream (for a given C{seed}) that every check publishes at once.
    """
    rng = random.Random(seed)
    interval = max(20.0, 12_000 / wpm - REACCION_MS / 5)
    events: list[dict[str, Any]] = []
    t = 0
    for i, word in enumerate(words[:n]):
        now = _lognormal(rng, REACCION_MS, REACCION_SIGMA)
        teclas = [round(now)]
        for _ in range(longitud(word) - 1):
            now += _lognormal(rng, interval, 0.45)
            teclas.append(round(now))
        d = min(max(teclas[-1], minimo_humano_ms(word)), limite_ms(i, word))
        teclas = [min(x, d) for x in teclas]
        t += d
        events.append({"t": t, "ok": True, "errores": 0, "teclas": teclas})
    return events


#: A brisk human pace (ms a letter, about 100 wpm), for tests that play against the real
#: clock: as many words as real time allows, all published at once.
PASO_HUMANO_MS = 120


def pacedWord(
    word: str, rng: random.Random, msPerLetter: int = PASO_HUMANO_MS
) -> tuple[int, list[int]]:
    """
    A word typed in exactly C{msPerLetter} ms a letter (so a test can tell how many fit
    in a time budget), its keys at irregular moments within that time: its C{d} and
    C{teclas}.
    """
    letters = longitud(word)
    d = max(msPerLetter * letters, minimo_humano_ms(word))
    teclas = sorted(rng.randint(1, d - 1) for _ in range(letters - 1)) + [d]
    return d, teclas


def missedEvent(t: int, teclas: list[int] | None = None, errores: int = 0) -> dict[str, Any]:
    """
    A missed word's event at C{t} (its deadline), with the keys typed before it.
    """
    return {"t": t, "ok": False, "errores": errores, "teclas": teclas or []}


def regularEvents(
    words: list[str],
    msPerLetter: float,
    n: int | None = None,
    pasted: bool = False,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> list[dict[str, Any]]:
    """
    A script: one input event every C{msPerLetter} ms (the first one after the same
    interval), each interval off by up to C{jitter} (a fraction, uniform) if asked; or,
    with C{pasted}, each word in a single input event at that pace.
    """
    rng = rng or random.Random(0)
    words = words if n is None else words[:n]
    events: list[dict[str, Any]] = []
    t = 0
    for i, word in enumerate(words):
        letters = longitud(word)
        d = min(max(round(msPerLetter * letters), minimo_humano_ms(word)), limite_ms(i, word))
        if pasted:
            teclas = [d]
        else:
            now = 0.0
            teclas = []
            for _ in range(letters):
                now += msPerLetter * (1 + rng.uniform(-jitter, jitter))
                teclas.append(round(now))
            d = min(max(teclas[-1], minimo_humano_ms(word)), limite_ms(i, word))
            teclas = [min(x, d) for x in teclas]
        t += d
        events.append({"t": t, "ok": True, "errores": 0, "teclas": teclas})
    return events


def duration(events: list[dict[str, Any]]) -> int:
    return events[-1]["t"] if events else 0
