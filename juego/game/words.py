"""The word lists, shipped as package data in ``juego/game/words/<idioma>.txt``."""

from __future__ import annotations

import functools
import unicodedata
from importlib.resources import files

__all__ = ["IDIOMAS", "load_words"]

#: Languages a partida may be played in; the first one is the default.
IDIOMAS: tuple[str, ...] = ("es", "en")


def load_words(idioma: str) -> tuple[str, ...]:
    """The word list of ``idioma``, most frequent first.

    Found relative to the package (works from a source checkout, an install or a zip),
    never relative to the working directory.  Raises ``ValueError`` for an unknown idioma.
    """
    if idioma not in IDIOMAS:
        raise ValueError(f"idioma desconocido: {idioma!r} (válidos: {', '.join(IDIOMAS)})")
    return _load(idioma)


@functools.cache
def _load(idioma: str) -> tuple[str, ...]:
    resource = files("juego.game") / "words" / f"{idioma}.txt"
    text = resource.read_text(encoding="utf-8")
    words = tuple(
        unicodedata.normalize("NFC", line.strip()) for line in text.splitlines() if line.strip()
    )
    if not words:
        raise RuntimeError(f"word list {idioma!r} is empty")
    return words
