"""Is a verified result something a human produced?  The second stage of the pipeline.

Integrity runs as a pipeline: the rules (:mod:`juego.game.verifier`: timings a game allows)
-> plausibility (this module: the keystroke evidence) -> certification (the image test,
for speeds above the player's certified one) -> the boards.  :func:`judge` takes the
verified events and says what happens to the result:

- ``publicar``: ranked at once;
- ``retener`` with a ``motivo``: stored and shown to its player, absent from every public
  board and stat, until an admin approves it (``revision``) or the player passes the
  certification test at that speed (``certificacion``);
- ``rechazar``: refused outright (422 ``resultado_invalido``), the partida closed.

The numbers (named constants in :mod:`juego.game.rules`, cited on /como-funciona):

**Speed.**  ``wpm`` is the game's: (typed letters / 5) per minute of play, with the
reaction to every new word and the missed words' time included.  The fastest sustained
typing on record is about 150 wpm for close to an hour and peaks a little above 200 wpm
on known text (Barbara Blackburn's 150 wpm sustained, 212 peak; Stella Pajunas' 216 in
1946); only sprints of a few seconds on a memorised sentence go faster.  So above
``WPM_RECHAZO`` = 250 a whole game is beyond every human record: refused.  Above
``WPM_REVISION`` = 200 it is a world-class result that an admin looks at before it is
ranked.  Above ``WPM_CERTIFICACION`` = 100 (a fast, trained typist; most people type
40-70) the result is held while it is more than ``MARGEN_CERTIFICACION`` = 1.25 times the
player's certified speed (100 wpm until they certify one), so an uncertified player is
held above 125 wpm until they pass the image test.  The speed rules need
``MIN_CARACTERES_VELOCIDAD`` = 50 typed letters: over a word or two the "speed" is mostly
the reaction time, and such a game scores a few dozen points at most.

**Rhythm.**  A person's inter-keystroke intervals vary a lot: they depend on the pair of
letters, the hands, the fingers, hesitations.  Large keystroke studies put the spread of
a typist's intervals close to their mean (a coefficient of variation, std / mean, of about
0.4 to 0.8; even the fastest typists stay well above 0.3).  A script that spaces its
events evenly has a CV of 0; one that adds +/-20 % uniform jitter, 0.12.  The intervals
measured are those between consecutive input events inside a word (the first one of a
word is a reaction to a new word, not rhythm); with at least ``MIN_INTERVALOS`` = 30 of
them, a CV below ``CV_MINIMO`` = 0.2 is held for review.  The plain CV is pulled up by a few
outliers (a script at a constant 110 ms whose browser delivered two events 3 ms apart and
one 240 ms late measured 0.22), so the same limit applies to a robust CV too: 1.4826 x the
median absolute deviation / the median, which those outliers barely move (0.02 there).
For a person it is about the log-normal sigma of their intervals (0.35 and up); for a
script with +/-20 % uniform jitter, 0.15.  The realistic streams the tests generate
(log-normal intervals, sigma 0.35-0.6, typing slips and corrections, 60-110 wpm) never
come near either.

**Pasting.**  Typing a word takes one input event per letter; a word of
``PEGADO_LETRAS`` = 4 letters or more that arrives in a single input event was pasted,
autocompleted or injected.  A phone keyboard's autocompletion does it now and then, so
it takes ``PEGADO_MAXIMO`` = 30 % of the typed words of that length or more to hold a
result for review.

What this cannot catch: a script that synthesises human-looking keystrokes (varied
intervals, a plausible speed) passes these checks; speeds beyond the player's certified
one still need the certification test, and an admin can void any result.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import attrs

from .rules import (
    CV_MINIMO,
    MARGEN_CERTIFICACION,
    MIN_CARACTERES_VELOCIDAD,
    MIN_INTERVALOS,
    PEGADO_LETRAS,
    PEGADO_MAXIMO,
    VELOCIDAD_CERTIFICADA_POR_DEFECTO,
    WPM_CERTIFICACION,
    WPM_RECHAZO,
    WPM_REVISION,
    longitud,
)
from .verifier import Evento, Resultado

__all__ = [
    "CERTIFICACION",
    "PUBLICAR",
    "RECHAZAR",
    "RETENER",
    "REVISION",
    "Decision",
    "coeficienteVariacion",
    "intervalos",
    "judge",
    "pegadas",
]

PUBLICAR = "publicar"
RETENER = "retener"
RECHAZAR = "rechazar"

#: Why a result is held: an admin must look at it, or the player must certify the speed.
REVISION = "revision"
CERTIFICACION = "certificacion"


@attrs.frozen
class Decision:
    """What happens to a verified result.

    ``regla`` is a short Spanish text naming the rule that decided (None to publish).
    """

    accion: str
    motivo: str | None = None
    regla: str | None = None


def intervalos(eventos: Sequence[Evento]) -> list[int]:
    """The intervals (ms) between consecutive input events inside each word."""
    result: list[int] = []
    for evento in eventos:
        teclas = evento.teclas
        result.extend(map(operator.sub, teclas[1:], teclas))
    return result


def coeficienteVariacion(valores: Sequence[int]) -> float:
    """std / mean of ``valores`` (population std); 0 when the mean is 0 or none."""
    if not valores:
        return 0.0
    n, total = len(valores), sum(valores)
    if total <= 0:
        return 0.0
    # In integers (exact): n² x variance = n x sum of squares - total², and mean = total / n.
    return math.sqrt(n * sum(map(operator.mul, valores, valores)) - total * total) / total


def coeficienteVariacionRobusto(valores: Sequence[int]) -> float:
    """1.4826 x median absolute deviation / median: the CV of a normal spread, measured
    so that a few outliers do not move it; 0 when the median is 0 or there are none."""
    if not valores:
        return 0.0
    mediana = _median(sorted(valores))
    if mediana <= 0:
        return 0.0
    mad = _median(sorted(abs(v - mediana) for v in valores))
    return 1.4826 * mad / mediana


def _median(ordered: Sequence[float]) -> float:
    """The median of an ordered, non-empty sequence (as C{statistics.median})."""
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def pegadas(palabras: Sequence[str], eventos: Sequence[Evento]) -> tuple[int, int]:
    """Among the typed words of at least ``PEGADO_LETRAS`` letters: how many arrived in a
    single input event, and how many there are."""
    single = considered = 0
    for palabra, evento in zip(palabras, eventos, strict=False):
        if evento.ok and longitud(palabra) >= PEGADO_LETRAS:
            considered += 1
            single += len(evento.teclas) == 1
    return single, considered


def judge(
    palabras: Sequence[str], resultado: Resultado, certificada: float | None = None
) -> Decision:
    """Publish, hold or refuse the verified ``resultado`` of a partida of ``palabras``.

    ``certificada`` is the player's certified speed (None: not certified, counts as
    ``VELOCIDAD_CERTIFICADA_POR_DEFECTO``).  The first rule that applies decides, most
    severe first: refuse, hold for review, hold for certification.
    """
    wpm = resultado.wpm
    speedCounts = resultado.caracteres >= MIN_CARACTERES_VELOCIDAD
    if speedCounts and wpm > WPM_RECHAZO:
        return Decision(
            RECHAZAR,
            regla=f"velocidad de {wpm:g} ppm, por encima de cualquier récord humano "
            f"(más de {WPM_RECHAZO} ppm)",
        )

    gaps = intervalos(resultado.eventos)
    if len(gaps) >= MIN_INTERVALOS:
        cv = min(coeficienteVariacion(gaps), coeficienteVariacionRobusto(gaps))
        if cv < CV_MINIMO:
            return Decision(
                RETENER,
                REVISION,
                f"pulsaciones a intervalos casi regulares (variación {cv:.2f} < {CV_MINIMO:g} "
                f"en {len(gaps)} intervalos)",
            )
    single, considered = pegadas(palabras, resultado.eventos)
    if considered and single / considered >= PEGADO_MAXIMO:
        return Decision(
            RETENER,
            REVISION,
            f"{single} de {considered} palabras de {PEGADO_LETRAS} o más letras llegaron de "
            f"una vez, sin teclearse (pegadas o autocompletadas)",
        )
    if speedCounts and wpm > WPM_REVISION:
        return Decision(
            RETENER,
            REVISION,
            f"velocidad de {wpm:g} ppm, más de {WPM_REVISION} ppm: la revisa un administrador",
        )

    base = VELOCIDAD_CERTIFICADA_POR_DEFECTO if certificada is None else certificada
    if speedCounts and wpm > WPM_CERTIFICACION and wpm > MARGEN_CERTIFICACION * base:
        return Decision(
            RETENER,
            CERTIFICACION,
            f"velocidad de {wpm:g} ppm, más de un {round((MARGEN_CERTIFICACION - 1) * 100)} % "
            f"por encima de tu velocidad certificada ({base:g} ppm): supera la prueba de "
            f"certificación para publicarla",
        )
    return Decision(PUBLICAR)
