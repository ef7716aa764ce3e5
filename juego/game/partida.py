"""Drawing a partida's words from a seed the server keeps."""

from __future__ import annotations

import random
import secrets

from .rules import PALABRAS_POR_PARTIDA
from .words import load_words

__all__ = ["draw_words", "new_seed"]


def new_seed() -> int:
    """A fresh, unpredictable seed for a partida (fits a signed 64-bit column)."""
    return secrets.randbits(63)


def draw_words(seed: int, idioma: str, n: int = PALABRAS_POR_PARTIDA) -> list[str]:
    """The ``n`` words of the partida with ``seed`` in ``idioma``.

    Deterministic for a given ``(seed, idioma, n)`` (so the server need only keep the seed),
    and a word never follows itself: the words are all distinct when the list is long
    enough, and otherwise only consecutive repeats are avoided. Drawing fewer gives the
    same first words (C{random.sample} picks one at a time from a list this long), so a
    result is checked drawing only the words it played.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    words = load_words(idioma)
    rng = random.Random(seed)
    if n <= len(words):
        return rng.sample(words, n)
    drawn: list[str] = []
    for _ in range(n):
        word = rng.choice(words)
        while drawn and word == drawn[-1]:
            word = rng.choice(words)
        drawn.append(word)
    return drawn
